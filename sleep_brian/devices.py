"""The one place that knows Brian2's code-generation targets.

Only this module calls ``set_device``, ``device.reinit`` or touches brian2genn / brian2cuda.

=================  ============================  =========================================
name               kind                          status
=================  ============================  =========================================
numpy              runtime, pure Python/numpy     works everywhere; slow; the reference
cython             runtime, compiled per object   first compile of a model takes minutes
cpp_standalone     one C++ program per schedule   fastest on CPU; builds in a fresh folder;
                                                 reruns with new data and seeds (brian2>=2.6)
genn               brian2genn (GPU / GeNN CPU)    one run per build; GeNN 4.x from GENN_PATH;
                                                 brian2 < 2.6 ([genn] extra); GPU when one is
                                                 visible, else GeNN's CPU backend
cuda_standalone    brian2cuda (NVIDIA GPU)        nvcc + brian2cuda ([cuda] extra); compiles
                                                 anywhere (compile_only), runs on a GPU
=================  ============================  =========================================

Use :func:`target` as a context manager around building and running a network::

    with devices.target("cpp_standalone", build_root="runs/") as dev:
        net = ...build the network...
        dev.run(net, duration)
        ...read monitors...

It resets Brian2 to the runtime device on exit, so the next run starts clean.

Given a ``cache_key`` (what the generated code depends on), cpp_standalone and cuda_standalone
build in a persistent, locked folder of :mod:`sleep_brian.build_cache` instead of a fresh one:
a second run with the same key regenerates the code there and ``make`` recompiles only what
changed (nothing, for the same network). ``dev.timings["cache"]`` says ``hit``, ``miss`` or
``off``, and ``recompiled`` how many objects were compiled.

To compile once and run many times (sweeps; :func:`sleep_brian.experiment.run_many`)::

    with devices.target("cpp_standalone") as dev:
        dev.prepare_reuse()             # before any Brian2 object is created
        net = ...build the network (reusable=True)...
        dev.compile(net, duration)
        for values, seed in runs:       # values: {TimedArray: new values}
            dev.run_compiled(values, seed)
            ...read monitors...
            dev.discard_results()
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import platform
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import brian2 as b2

from sleep_brian import build_cache
from sleep_brian.errors import ConfigError, DeviceError

__all__ = [
    "DEVICES",
    "RUNTIME",
    "STANDALONE",
    "Device",
    "target",
    "check_device",
    "available",
    "quiet_codegen_warnings",
    "reuse_supported",
    "SEED_ENV",
    "GENN_BACKEND_ENV",
    "CUDA_CC_ENV",
    "genn_backend",
    "gpu_visible",
    "lowering_for",
    "CACHEABLE",
    "toolchain",
]

logger = logging.getLogger(__name__)

#: Environment variable from which a reusable standalone build reseeds Brian2's generators.
SEED_ENV = "SLEEP_BRIAN_BRIAN_SEED"

# C++ put at the top of ``main`` of a reusable build: reseed every thread's generator exactly as
# ``b2.seed(s)`` would (``seed(s + thread)``), from the environment, so that one binary serves
# every seed. Brian2's run_args cannot set the seed; a variable could, but only after the
# connect step and at the cost of a dummy variable in the model.
_RESEED_CODE = f"""
{{
    const char* _sb_seed = std::getenv("{SEED_ENV}");
    if (_sb_seed != NULL) {{
        const unsigned long _sb_s = std::strtoul(_sb_seed, NULL, 10);
        for (size_t _i = 0; _i < brian::_random_generators.size(); _i++)
            brian::_random_generators[_i].seed(_sb_s + _i);
    }}
}}
"""


def reuse_supported(name: str) -> bool:
    """Whether ``name`` can compile once and run many times with new data and seeds.

    Needs cpp_standalone with ``run_args`` and ``apply_run_args`` (brian2 >= 2.6) and the
    per-thread generators that the reseed code addresses; older Brian2 builds once per run.
    """
    if name != "cpp_standalone":
        return False
    import brian2.devices.cpp_standalone as cpp
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    if not hasattr(CPPStandaloneDevice, "apply_run_args"):
        return False
    try:
        return "_random_generators" in (Path(cpp.__file__).parent / "templates" / "objects.cpp").read_text()
    except OSError:
        return False

RUNTIME = ("numpy", "cython")
STANDALONE = ("cpp_standalone", "genn", "cuda_standalone")
DEVICES = RUNTIME + STANDALONE
#: Targets whose builds the build cache keeps. Not genn: brian2genn regenerates and rebuilds
#: GeNN's whole model on every run.
CACHEABLE = ("cpp_standalone", "cuda_standalone")

#: Environment variable that forces GeNN's backend: ``cpu`` or ``cuda`` (default: ``cuda`` when
#: ``nvidia-smi`` lists a GPU, else ``cpu``).
GENN_BACKEND_ENV = "SLEEP_BRIAN_GENN_BACKEND"

_GENN_HELP = "see the README, section 'GeNN': pip install 'sleep-brian[genn]' and a GeNN 4.x source tree in GENN_PATH"


def _check_genn() -> None:
    """brian2genn importable with a brian2 it supports, and GENN_PATH a GeNN 4.x tree."""
    try:
        import brian2genn  # noqa: F401
    except ImportError as exc:
        raise DeviceError(
            f"device 'genn' needs brian2genn, which is not installed ({exc}); brian2genn 1.7 needs brian2 < 2.6: "
            f"`pip install 'sleep-brian[genn]'` in its own environment ({_GENN_HELP})."
        ) from exc
    genn_path = os.environ.get("GENN_PATH")
    if not genn_path:
        raise DeviceError(f"device 'genn': GENN_PATH is not set; point it at a GeNN 4.x source tree ({_GENN_HELP}).")
    version_file = Path(genn_path) / "version.txt"
    try:
        version = version_file.read_text().strip()
    except OSError:
        raise DeviceError(
            f"device 'genn': GENN_PATH={genn_path} is not a GeNN source tree (no {version_file}); {_GENN_HELP}."
        ) from None
    if not version.startswith("4."):
        raise DeviceError(f"device 'genn': GENN_PATH holds GeNN {version}; brian2genn needs GeNN 4.x (4.9.0 tested).")
    if shutil.which(os.environ.get("CXX", "g++")) is None or shutil.which("make") is None:
        raise DeviceError("device 'genn' builds C++ code: `apt-get install g++ make`.")


def genn_backend() -> str:
    """``'cuda'`` or ``'cpu'``: GeNN's backend for the next genn run (:data:`GENN_BACKEND_ENV`)."""
    forced = os.environ.get(GENN_BACKEND_ENV, "").strip().lower()
    if forced:
        if forced not in ("cpu", "cuda"):
            raise DeviceError(f"{GENN_BACKEND_ENV}={forced!r}; expected 'cpu' or 'cuda'.")
        return forced
    return "cuda" if gpu_visible() else "cpu"


def lowering_for(name: str, lowering: str = "timed_array") -> str:
    """The lowering a device runs (chosen for the user): GeNN's rules need the ``single_clock``
    lowering. brian2cuda runs the ``timed_array`` lowering (custom events, linked variables,
    summed variables: the sleep exit, decay events, neuron traces) with every object on the
    default clock (:func:`sleep_brian.network.on_default_clock`)."""
    if name == "genn" and lowering == "timed_array":
        return "single_clock"
    return lowering


#: Compute capability compiled for when no GPU is visible (H100/H200: 9.0); a visible GPU is
#: detected by brian2cuda instead. Override with ``SLEEP_BRIAN_CUDA_CC``.
CUDA_CC_ENV = "SLEEP_BRIAN_CUDA_CC"
_CUDA_HELP = "pip install 'sleep-brian[cuda]' in its own environment (brian2cuda pins one brian2 release; README, section 'CUDA')"


def gpu_visible() -> bool:
    """Whether ``nvidia-smi -L`` lists a GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    import subprocess

    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def _nvcc_version() -> float:
    import re
    import subprocess

    nvcc = shutil.which("nvcc")
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=False).stdout if nvcc else ""
    m = re.search(r"release (\d+\.\d+)", out)
    if m is None:
        raise DeviceError("device 'cuda_standalone' needs the CUDA compiler nvcc on PATH (the CUDA toolkit).")
    return float(m.group(1))


def _curand_dirs() -> tuple[str, str]:
    """Include and library folders of cuRAND: the CUDA toolkit's, or pip ``nvidia-curand``'s."""
    cuda = Path(_cuda_path())
    if (cuda / "include" / "curand.h").exists():
        return str(cuda / "include"), str(cuda / "lib64")
    try:
        import nvidia
    except ImportError:
        nvidia = None
    for base in map(Path, getattr(nvidia, "__path__", [])):
        for sub in [*sorted(base.glob("cu*")), base / "curand"]:
            if (sub / "include" / "curand.h").exists():
                return str(sub / "include"), str(sub / "lib")
    raise DeviceError(f"device 'cuda_standalone': cuRAND is not in {cuda} or in pip's nvidia packages: pip install nvidia-curand.")


def _cuda_path() -> str:
    if os.environ.get("CUDA_PATH"):
        return os.environ["CUDA_PATH"]
    if Path("/usr/local/cuda/bin/nvcc").exists():
        return "/usr/local/cuda"
    # not the folder above `which nvcc` blindly: /usr/local/bin/nvcc may be a wrapper script
    return str(Path(shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc").resolve().parent.parent)


def _check_cuda(compile_only: bool) -> None:
    try:
        import brian2cuda  # noqa: F401
    except ImportError as exc:
        raise DeviceError(f"device 'cuda_standalone' needs brian2cuda, which is not installed ({exc}): {_CUDA_HELP}.") from exc
    _nvcc_version()
    _curand_dirs()
    if not compile_only and not gpu_visible():
        raise DeviceError(
            "device 'cuda_standalone' runs on an NVIDIA GPU and nvidia-smi lists none here; the code can still "
            "be generated and compiled (devices.target('cuda_standalone', compile_only=True)), or use "
            "--device cpp_standalone."
        )


def _configure_cuda(prefs, directory: Path) -> None:
    """brian2cuda's prefs for this machine (docs/targets.md): compile without a GPU if there is none."""
    import brian2cuda  # noqa: F401  (registers the device and its prefs)

    cb = prefs.devices.cuda_standalone.cuda_backend
    if gpu_visible() and not os.environ.get(CUDA_CC_ENV):
        cb.detect_gpus = True
    else:
        cb.detect_gpus = False
        cb.gpu_id = 0
        cb.compute_capability = float(os.environ.get(CUDA_CC_ENV, "9.0"))
        cb.cuda_runtime_version = _nvcc_version()
    cb.cuda_path = _cuda_path()
    inc, lib = _curand_dirs()
    # The makefile links -lcurand; pip's wheel ships only libcurand.so.10: link it in a folder of
    # the build's own rather than touching site-packages.
    libs = [lib]
    if not (Path(lib) / "libcurand.so").exists():
        versioned = sorted(Path(lib).glob("libcurand.so.*"))
        if versioned:
            own = directory / "_curand"
            own.mkdir(exist_ok=True)
            link = own / "libcurand.so"
            if link.is_symlink() or link.exists():  # a cached build folder has it already
                link.unlink()
            link.symlink_to(versioned[0])
            libs.insert(0, str(own))
    cb.extra_compile_args_nvcc = ["-w", "-use_fast_math", "-std=c++17", f"-I{inc}"]
    prefs.codegen.cpp.library_dirs = list(prefs.codegen.cpp.library_dirs) + libs
    prefs.codegen.cpp.runtime_library_dirs = list(prefs.codegen.cpp.runtime_library_dirs) + [lib]
    # Brian2's host flags end in -std=c++11 and reach nvcc through -Xcompiler, overriding its
    # -std=c++17 for the host pass ("CUB requires at least C++17").
    gcc = [a for a in prefs.codegen.cpp.extra_compile_args_gcc if not a.startswith("-std=")]
    prefs.codegen.cpp.extra_compile_args_gcc = gcc + ["-std=c++17"]


def check_device(name: str, *, compile_only: bool = False) -> str:
    """Validate a device name; return it. Raise :class:`DeviceError` with the fix otherwise.

    ``compile_only``: the device need only generate and compile code (cuda_standalone without
    a GPU).
    """
    if not isinstance(name, str) or name not in DEVICES:
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}.")
    if name == "genn":
        _check_genn()
    if name == "cuda_standalone":
        _check_cuda(compile_only)
    if name == "cython":
        try:
            import Cython  # noqa: F401
        except ImportError as exc:
            raise DeviceError(
                "device 'cython' needs the Cython package: `pip install cython` "
                "(or use --device numpy / cpp_standalone)."
            ) from exc
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        # Brian2 can fall back to numpy when a test compilation fails (e.g. brian2 2.5 with
        # Cython >= 3.1): a run that asked for Cython must not silently become a numpy run.
        if not CythonCodeObject.is_available():
            raise DeviceError(
                "device 'cython': Brian2's test compilation with this Cython failed. brian2 2.5/2.6 need "
                "`pip install 'cython<3.1'`; check that a C compiler is installed (`apt-get install g++`)."
            )
    if name == "cpp_standalone" and shutil.which(os.environ.get("CXX", "g++")) is None:
        raise DeviceError("device 'cpp_standalone' needs a C++ compiler (g++): `apt-get install g++`.")
    return name


def available() -> list[str]:
    """Names of the devices that can run on this machine now."""
    names = []
    for name in DEVICES:
        try:
            check_device(name)
        except DeviceError:
            continue
        names.append(name)
    return names


@dataclass
class Device:
    """A selected target; ``run`` runs a network on it and records timings."""

    name: str
    directory: Path | None = None
    timings: dict = field(default_factory=dict)
    n_runs: int = 0
    genn_backend: str | None = None
    #: The build cache entry this block builds in (:mod:`sleep_brian.build_cache`), if any.
    cache: build_cache.Lease | None = None

    def seed(self, seed: int) -> None:
        """Seed Brian2's random numbers for the network built in this block.

        GeNN refuses ``b2.seed()``: there the host generator (``run_regularly`` code) and C's
        ``rand()`` (from which brian2genn seeds every group's device generators) are seeded at
        the start of ``main`` instead, so a seed still gives the same run (with GeNN's own
        random streams, not those of the other targets).
        """
        s = int(seed)
        if self.name == "genn":
            b2.device.insert_code("main", f"rk_seed({s}UL, brian::_mersenne_twister_states[0]); srand({s}u);")
        else:
            b2.seed(s)

    @property
    def standalone(self) -> bool:
        return self.name in STANDALONE

    def run(self, net: b2.Network, duration, report=None, report_period=10 * b2.second) -> None:
        """Run ``net`` for ``duration`` (one run: on standalone targets, build, compile and execute)."""
        if self.standalone:
            ops = [o for o in net.objects if isinstance(o, b2.NetworkOperation)]
            if ops:
                # cpp_standalone silently drops NetworkOperations: the regime would never switch.
                raise DeviceError(
                    f"{self.name} cannot run Python NetworkOperations ({', '.join(o.name for o in ops)}); "
                    "they would be silently dropped. Use the TimedArray lowering (the default) or a runtime device."
                )
        t0 = time.perf_counter()
        net.run(duration, report=report, report_period=report_period)
        t1 = time.perf_counter()
        if self.name == "genn":
            # GeNN builds and runs on run() (its single run): code generation, GeNN's model
            # build, compilation and the simulation are one step here.
            self.timings.update(build_and_run_s=t1 - t0, genn_backend=self.genn_backend)
            run_info = getattr(b2.device, "_last_run_time", None)  # the program's own loop time
            if run_info is not None:
                self.timings["simulation_s"] = float(run_info)
        elif self.standalone:
            self._begin_build()
            if self.name == "cpp_standalone":
                # What build(run=True) does, in two steps: a cache entry is complete once it has
                # compiled, whether or not the simulation then finishes.
                b2.device.build(directory=str(self.directory), compile=True, run=False, clean=False)
                self.timings["compile_s"] = time.perf_counter() - t1
                self._end_build()
                b2.device.run(directory=str(self.directory), with_output=True, run_args=[])
            else:  # brian2cuda's run() has changed between releases: let its own build() call it
                b2.device.build(directory=str(self.directory), compile=True, run=True, clean=False)
                self._end_build()
            t2 = time.perf_counter()
            self.timings.update(codegen_s=t1 - t0, build_and_run_s=t2 - t1)
            run_info = getattr(b2.device, "_last_run_time", None)
            if run_info is not None:
                self.timings["simulation_s"] = float(run_info)
        else:
            self.timings.update(run_s=t1 - t0)

    def _begin_build(self) -> None:
        """Just before Brian2 writes the project: make ``main.cpp`` reproducible, and mark the
        cache entry as being built (a process killed from here on leaves it to be rebuilt)."""
        _canonical_main_queue(b2.device)
        if self.cache is not None:
            self.cache.begin()

    def _end_build(self) -> None:
        """After a successful compile: mark the cache entry complete, record what was compiled."""
        if self.cache is not None:
            self.cache.complete()
            self.timings.update(self.cache.info())

    def prepare_reuse(self) -> None:
        """Make the program built in this block reusable; call before creating any object.

        Values given to :meth:`run_compiled` are applied before anything else runs (so they
        reach the connect step), and the generators are reseeded from :data:`SEED_ENV`.
        """
        if not reuse_supported(self.name):
            raise DeviceError(
                f"device {self.name!r} with brian2 {b2.__version__} cannot reuse a build "
                "(needs cpp_standalone and brian2 >= 2.6)."
            )
        b2.device.apply_run_args()
        b2.device.insert_code("main", _RESEED_CODE)

    def compile(self, net: b2.Network, duration) -> None:
        """Generate and compile ``net`` running for ``duration``, without running it."""
        t0 = time.perf_counter()
        net.run(duration)
        t1 = time.perf_counter()
        self._begin_build()
        b2.device.build(directory=str(self.directory), compile=True, run=False, clean=False)
        self.timings.update(codegen_s=t1 - t0, compile_s=time.perf_counter() - t1)
        self._end_build()

    def run_compiled(self, values: dict, seed: int) -> dict:
        """Run the compiled program once with new TimedArray ``values`` and Brian2 ``seed``.

        Monitors read afterwards show this run. Returns its timings.
        """
        self.n_runs += 1
        old = os.environ.get(SEED_ENV)
        os.environ[SEED_ENV] = str(int(seed))
        t0 = time.perf_counter()
        try:
            b2.device.run(
                directory=str(self.directory),
                results_directory=f"results_{self.n_runs}",
                with_output=False,
                run_args=values,
            )
        finally:
            if old is None:
                os.environ.pop(SEED_ENV, None)
            else:
                os.environ[SEED_ENV] = old
        out = {"run_s": time.perf_counter() - t0}
        run_info = getattr(b2.device, "_last_run_time", None)
        if run_info is not None:
            out["simulation_s"] = float(run_info)
        return out

    def discard_results(self) -> None:
        """Delete the result files of the last :meth:`run_compiled` (once they have been read)."""
        if self.n_runs:
            shutil.rmtree(Path(self.directory) / f"results_{self.n_runs}", ignore_errors=True)


class _NotWellDefinedFilter(logging.Filter):
    QUIET = ("may not be well-defined", "Cannot check whether the indices to record from are valid")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(q in record.getMessage() for q in self.QUIET)


@contextlib.contextmanager
def quiet_codegen_warnings():
    """Hide Brian2's "abstract code block may not be well-defined" warning within the block.

    It fires for the stochastic decay in ``on_pre`` (a random number per synapse). Each synapse
    writes only its own weight, and the parity tests show identical results on every target,
    so for our models it is noise. Also Brian2's "cannot check whether the indices to record from
    are valid" of a reusable build: :func:`sleep_brian.network.record_index` keeps them below every
    served seed's synapse count. Other warnings, and other models' warnings outside the block,
    are untouched.
    """
    # Brian2 logs some warnings on a child logger named after the message (name_suffix), and a
    # logger's filters do not see its children's records: name each one.
    names = (
        "brian2.codegen.generators.base",
        "brian2.monitors.statemonitor",
        "brian2.monitors.statemonitor.cannot_check_statemonitor_indices",
    )
    loggers = [logging.getLogger(n) for n in names]
    filt = _NotWellDefinedFilter()
    for logger in loggers:
        logger.addFilter(filt)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(filt)


@contextlib.contextmanager
def target(name: str, *, build_root: str | os.PathLike | None = None, keep_build: bool = False,
           compile_only: bool = False, cache_key=None):
    """Select device ``name`` for the duration of the block and reset Brian2 afterwards.

    Parameters
    ----------
    name : str
        One of :data:`DEVICES`.
    build_root : path, optional
        Standalone targets build into a fresh sub-folder of this (default: the system temp dir),
        so parallel runs never share a build directory. Giving it turns the build cache off.
    keep_build : bool
        Keep the standalone build folder (default: delete it when the block ends). Turns the
        build cache off (the folder is the caller's).
    compile_only : bool
        Only :meth:`Device.compile` will be called (cuda_standalone on a machine without GPU).
    cache_key : JSON-serialisable, optional
        What the code generated in this block depends on besides the toolchain (e.g. the
        model's declaration and the schedule's shape). Given, and for a target in
        :data:`CACHEABLE`, the block builds in an entry of the persistent build cache that no
        other process uses meanwhile (:func:`sleep_brian.build_cache.acquire`; the key also
        holds :func:`toolchain`). In a dict key, ``"label"`` is shown by ``sleep-brian cache
        info`` and ``"family"`` names a coarser key whose builds a new entry starts from. The
        cache never fails a run: if its folder cannot be used, the block builds in a fresh
        folder and says why in ``dev.timings["cache_reason"]``.
    """
    check_device(name, compile_only=compile_only)
    directory = None
    prefs = b2.prefs
    old_target = prefs.codegen.target
    old_make_args = list(prefs.devices.cpp_standalone.extra_make_args_unix)
    # brian2genn changes these globally when selected; restore them so later runs are unaffected.
    old_schedule = list(prefs.core.network.default_schedule)
    old_loop_invariant = prefs.codegen.loop_invariant_optimisations
    old_cpp = {k: list(getattr(prefs.codegen.cpp, k)) for k in ("library_dirs", "runtime_library_dirs", "extra_compile_args_gcc")}
    backend = None
    lease = None
    cache_info = {}
    entries = contextlib.ExitStack()
    try:
        if name in RUNTIME:
            b2.set_device("runtime")
            prefs.codegen.target = name
        else:
            lease, cache_info = _cache_entry(name, cache_key, build_root, keep_build, entries)
            if lease is not None:
                directory = lease.project
                # Brian2 names objects "name_1", "name_2"... while uncollected ones of an earlier
                # network still hold "name": collect them, or the code of a second run in this
                # process would differ by its names alone and compile in full.
                gc.collect()
            else:
                root = Path(build_root) if build_root is not None else Path(tempfile.gettempdir())
                try:
                    root.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(f"cannot create build folder {root}: {exc}") from exc
                directory = Path(tempfile.mkdtemp(prefix=f"{name}_", dir=root))
            if name == "genn":
                backend = genn_backend()
                _select_genn(directory, backend)
            else:
                if name == "cuda_standalone":
                    _configure_cuda(prefs, directory)
                b2.set_device(name, directory=str(directory), build_on_run=False)
            # Two cores on the reference machine; more make jobs than cores only costs memory
            # (an nvcc job takes GBs: unbounded make got it killed, docs/targets.md).
            jobs = min(os.cpu_count() or 2, 4) if name == "cuda_standalone" else os.cpu_count() or 2
            prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{jobs}"]
        yield Device(name=name, directory=directory, genn_backend=backend, cache=lease, timings=dict(cache_info))
    finally:
        if name not in RUNTIME:
            b2.device.reinit()
            b2.device.activate()
            b2.set_device("runtime")
            if directory is not None and not keep_build and lease is None:
                shutil.rmtree(directory, ignore_errors=True)
        prefs.codegen.target = old_target
        prefs.devices.cpp_standalone.extra_make_args_unix = old_make_args
        prefs.core.network.default_schedule = old_schedule
        prefs.codegen.loop_invariant_optimisations = old_loop_invariant
        for k, v in old_cpp.items():
            setattr(prefs.codegen.cpp, k, v)
        entries.close()  # after Brian2 has let go of the folder: clean up, unlock, evict


def _cache_entry(name: str, cache_key, build_root, keep_build: bool, entries: contextlib.ExitStack):
    """The build cache entry a standalone block builds in, or None; and what to record about it."""
    why = None
    if name not in CACHEABLE:
        why = f"{name} is not cached (it rebuilds from scratch on every run)"
    elif cache_key is None:
        why = "no cache key given"
    elif build_root is not None:
        why = "build_root given: a fresh folder there"
    elif keep_build:
        why = "keep_build: a folder of the caller's own"
    else:
        why = build_cache.disabled_reason()
    if why is not None:
        return None, {"cache": "off", "cache_reason": why}
    label = cache_key.get("label") if isinstance(cache_key, dict) else None
    tools = toolchain(name)
    key = {"toolchain": tools, "build": cache_key}
    family = {"toolchain": tools, "family": cache_key["family"]} if isinstance(cache_key, dict) and "family" in cache_key else None
    try:
        lease = entries.enter_context(build_cache.acquire(key, label=f"{name}: {label}" if label else name, family=family))
    except (build_cache.BuildCacheError, ConfigError) as exc:
        logger.warning("sleep-brian: building without the build cache: %s", exc)
        return None, {"cache": "off", "cache_reason": f"cache unusable: {exc}"}
    return lease, lease.info()


_NULL_CLOCK = re.compile(r"^\s*\w+\.add\(&\w+, NULL\);\s*$")


def _sorted_null_clocks(lines: list) -> list:
    """``lines`` with each run of ``net.add(&clock, NULL);`` lines sorted (see below)."""
    out, run = [], []
    for line in [*lines, None]:
        if isinstance(line, str) and _NULL_CLOCK.match(line):
            run.append(line)
            continue
        out.extend(sorted(run))
        run = []
        if line is not None:
            out.append(line)
    return out


def _canonical_main_queue(device) -> None:
    """Put the statements of Brian2's ``main`` that it emits in a random order in a fixed one.

    Why: Brian2 resets the clocks, and adds clocks without code to the network, in the order of
    a ``set`` of clocks hashed by object id, which changes from process to process. The program
    does the same, but ``main.cpp`` reads differently and ``make`` recompiles it on every run.
    Stores of constants into distinct array elements commute, so each run of them is sorted by
    the element written (a run that writes one element twice keeps its order); a clock added
    without a function only joins the network's set of clocks, so those lines are sorted too.
    """
    queue = getattr(device, "main_queue", None)
    if not queue:
        return
    for k, entry in enumerate(queue):
        if entry[0] == "run_network" and len(entry[1]) == 2 and isinstance(entry[1][1], list):
            queue[k] = (entry[0], (entry[1][0], _sorted_null_clocks(entry[1][1])))
    out, run = [], []

    def flush():
        targets = [(str(args[0]), str(args[1])) for _, args in run]
        if len(set(targets)) == len(targets):
            run.sort(key=lambda entry: (str(entry[1][0]), str(entry[1][1])))
        out.extend(run)
        run.clear()

    for entry in queue:
        if entry[0] == "set_by_single_value" and len(entry[1]) == 3:
            run.append(entry)
        else:
            flush()
            out.append(entry)
    flush()
    queue[:] = out


@functools.lru_cache(maxsize=None)
def _compiler_id() -> str:
    """The C++ compiler ``make`` runs ($CXX, else g++) and the first line of its ``--version``."""
    import subprocess

    cxx = os.environ.get("CXX", "g++")
    path = shutil.which(cxx.split()[0]) if cxx.strip() else None
    if path is None:
        return cxx
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{os.path.realpath(path)}: {out.strip().splitlines()[0] if out.strip() else '?'}"


@functools.lru_cache(maxsize=None)
def _cpu_id() -> str:
    """The CPU's model: Brian2 compiles with -march=native, so a binary is only safe on its CPU model."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "cpu model", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _gpu_models() -> list[str]:
    """The GPUs nvidia-smi lists, without their serial UUIDs (what brian2cuda compiles for)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    import subprocess

    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [re.sub(r"\s*\(UUID:[^)]*\)", "", line).strip() for line in out.splitlines() if line.strip()]


def toolchain(name: str) -> dict:
    """What a compiled program of target ``name`` depends on besides the network: the target,
    Brian2's version (its templates), the compiler, the CPU model and the compiler preferences.

    Part of every build cache key (:func:`target`). Two runs whose toolchains differ never
    share a compiled program: a stale object from another compiler, or a ``-march=native``
    binary from another CPU sharing a home folder, would not be safe.
    """
    cpp = {}
    for k in ("compiler", "extra_compile_args", "extra_compile_args_gcc", "extra_compile_args_msvc", "extra_link_args",
              "define_macros", "include_dirs", "library_dirs", "runtime_library_dirs", "libraries", "headers"):  # fmt: skip
        try:
            cpp[k] = repr(b2.prefs[f"codegen.cpp.{k}"])
        except KeyError:
            pass
    out = {
        "target": name,
        "brian2": b2.__version__,
        "compiler": _compiler_id(),
        "machine": platform.machine(),
        "cpu": _cpu_id(),
        "codegen.cpp": cpp,
        "openmp_threads": int(b2.prefs.devices.cpp_standalone.openmp_threads),
    }
    if name == "cuda_standalone":
        import brian2cuda

        out.update(brian2cuda=getattr(brian2cuda, "__version__", "?"), nvcc=_nvcc_version(),
                   cuda_cc=os.environ.get(CUDA_CC_ENV), gpus=_gpu_models())  # fmt: skip
    return out


def _select_genn(directory: Path, backend: str) -> None:
    """Select brian2genn's device (it builds and runs on ``run()``: one run per build)."""
    import brian2genn  # noqa: F401  (registers the 'genn' device)
    import brian2genn.device as genn_device

    # brian2genn keeps the network's objects in a set: the order in which it initialises the
    # groups' random states (from C rand()) changes from build to build, and a seeded run is not
    # reproducible. Sort them by name (checked: two builds then give identical results).
    if not getattr(genn_device, "_sleep_brian_sorted", False):
        unsorted = genn_device._get_all_objects
        genn_device._get_all_objects = lambda objs: sorted(unsorted(objs), key=lambda o: o.name)
        genn_device._sleep_brian_sorted = True
    b2.set_device("genn", use_GPU=backend == "cuda", directory=str(directory))
