"""The one place that knows Brian2's code-generation targets.

Only this module calls ``set_device``, ``device.reinit`` or touches brian2genn / brian2cuda.

=================  ============================  =========================================
name               kind                          status
=================  ============================  =========================================
numpy              runtime, pure Python/numpy     works everywhere; slow; the reference
cython             runtime, compiled per object   first compile of a model takes minutes
cpp_standalone     one C++ program per run        fastest on CPU; builds in a fresh folder
genn               brian2genn (GPU / GeNN CPU)    not yet available in this version
cuda_standalone    brian2cuda (NVIDIA GPU)        not yet available in this version
=================  ============================  =========================================

Use :func:`target` as a context manager around building and running a network::

    with devices.target("cpp_standalone", build_root="runs/") as dev:
        net = ...build the network...
        dev.run(net, duration)
        ...read monitors...

It resets Brian2 to the runtime device on exit, so the next run starts clean.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import brian2 as b2

from sleep_brian.errors import ConfigError, DeviceError

__all__ = ["DEVICES", "RUNTIME", "STANDALONE", "Device", "target", "check_device", "available", "quiet_codegen_warnings"]

RUNTIME = ("numpy", "cython")
STANDALONE = ("cpp_standalone",)
NOT_YET = {
    "genn": (
        "the GeNN target (brian2genn) is not yet available in sleep-brian; it is planned (issue 5). "
        "It will need `pip install brian2genn` in an environment with brian2 < 2.6 and GeNN 4.x "
        "(GENN_PATH). Use --device cpp_standalone for now."
    ),
    "cuda_standalone": (
        "the CUDA target (brian2cuda) is not yet available in sleep-brian; it is planned (issue 5). "
        "It will need `pip install brian2cuda` with its matching brian2 pin and an NVIDIA GPU. "
        "Use --device cpp_standalone for now."
    ),
}
DEVICES = RUNTIME + STANDALONE + tuple(NOT_YET)


def check_device(name: str) -> str:
    """Validate a device name; return it. Raise :class:`DeviceError` with the fix otherwise."""
    if not isinstance(name, str) or name not in DEVICES:
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}.")
    if name in NOT_YET:
        raise DeviceError(f"device {name!r}: {NOT_YET[name]}")
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
        if self.standalone:
            b2.device.build(directory=str(self.directory), compile=True, run=True, clean=False)
            t2 = time.perf_counter()
            self.timings.update(codegen_s=t1 - t0, build_and_run_s=t2 - t1)
            run_info = getattr(b2.device, "_last_run_time", None)
            if run_info is not None:
                self.timings["simulation_s"] = float(run_info)
        else:
            self.timings.update(run_s=t1 - t0)


class _NotWellDefinedFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "may not be well-defined" not in record.getMessage()


@contextlib.contextmanager
def quiet_codegen_warnings():
    """Hide Brian2's "abstract code block may not be well-defined" warning within the block.

    It fires for the stochastic decay in ``on_pre`` (a random number per synapse). Each synapse
    writes only its own weight, and the parity tests show identical results on every target,
    so for our models it is noise. Other warnings, and other models' warnings outside the
    block, are untouched.
    """
    logger = logging.getLogger("brian2.codegen.generators.base")
    filt = _NotWellDefinedFilter()
    logger.addFilter(filt)
    try:
        yield
    finally:
        logger.removeFilter(filt)


@contextlib.contextmanager
def target(name: str, *, build_root: str | os.PathLike | None = None, keep_build: bool = False):
    """Select device ``name`` for the duration of the block and reset Brian2 afterwards.

    Parameters
    ----------
    name : str
        One of :data:`DEVICES`.
    build_root : path, optional
        Standalone targets build into a fresh sub-folder of this (default: the system temp dir),
        so parallel runs never share a build directory.
    keep_build : bool
        Keep the standalone build folder (default: delete it when the block ends).
    """
    check_device(name)
    directory = None
    prefs = b2.prefs
    old_target = prefs.codegen.target
    old_make_args = list(prefs.devices.cpp_standalone.extra_make_args_unix)
    try:
        if name in RUNTIME:
            b2.set_device("runtime")
            prefs.codegen.target = name
        else:
            root = Path(build_root) if build_root is not None else Path(tempfile.gettempdir())
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create build folder {root}: {exc}") from exc
            directory = Path(tempfile.mkdtemp(prefix=f"{name}_", dir=root))
            b2.set_device(name, directory=str(directory), build_on_run=False)
            # Two cores on the reference machine; more make jobs than cores only costs memory.
            prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 2}"]
        yield Device(name=name, directory=directory)
    finally:
        if name not in RUNTIME:
            b2.device.reinit()
            b2.device.activate()
            b2.set_device("runtime")
            if directory is not None and not keep_build:
                shutil.rmtree(directory, ignore_errors=True)
        prefs.codegen.target = old_target
        prefs.devices.cpp_standalone.extra_make_args_unix = old_make_args
