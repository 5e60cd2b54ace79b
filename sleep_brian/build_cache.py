"""A persistent cache of compiled standalone projects, so that a second run compiles (almost) nothing.

Brian2's ``cpp_standalone`` device writes a C++ project into a folder and runs ``make`` there.
Its writer leaves a file untouched when the new text equals the old one
(``brian2.devices.cpp_standalone.device.CPPWriter.write``), and ``make`` rebuilds only objects
older than their sources (headers included, through ``make.deps``; every object also depends on
the makefile, so other compiler flags rebuild everything). Generating a network again *in the
same folder* therefore recompiles only the files whose text changed. This module keeps such
folders between runs, one or more per key:

.. code-block:: text

    <root>/v1/<key hash>/key.json             what the key stands for (``sleep-brian cache info``)
    <root>/v1/<key hash>/<entry>/lock         flock()ed by the one process using the entry
    <root>/v1/<key hash>/<entry>/state.json   "building" or "complete", the binary's SHA-256,
                                              last use, size
    <root>/v1/<key hash>/<entry>/project/     the Brian2 project: sources, objects, ``main``

The key is whatever the caller says the generated code depends on (``devices.target`` adds the
device, the Brian2 version, the compiler, the CPU and the compiler preferences). Since the code
is always generated anew and ``make`` compares it with what was compiled, a key that misses a
dependency only costs recompilation, never a wrong program.

Rules, each for a failure it prevents:

- **One process per entry.** An entry is used under an exclusive ``fcntl.flock`` on its
  ``lock`` file, taken without waiting and held from before the code is written until the
  results are read. A process that finds every entry of its key in use makes a new entry
  (and compiles in full) rather than wait for another run to end. The kernel drops the lock
  of a process that dies, however it dies.
- **Never use a half-written entry.** ``state.json`` says ``building`` from before Brian2 writes
  the first file until ``make`` has succeeded, then ``complete`` with the SHA-256 of the binary.
  An entry that is not ``complete``, or whose binary is missing or has another hash, is deleted
  and rebuilt from scratch (a compiler killed mid-write can leave a truncated object that is
  newer than its source, which ``make`` would take as up to date).
- **Warm starts.** A caller may name a coarser ``family`` of keys (e.g. the model without the
  schedule's length). A new entry starts as a copy of the most recently used idle complete
  entry of its family, modification times kept, so that ``make`` compiles only the files that
  differ (a copy is as safe as reusing the entry itself: the code is regenerated over it).
- **Bounded size.** After each use, entries beyond :data:`DEFAULT_MAX_ENTRIES` (or
  ``$SLEEP_BRIAN_BUILD_CACHE_MAX_ENTRIES``) or beyond :data:`DEFAULT_MAX_BYTES` in all (or
  ``$SLEEP_BRIAN_BUILD_CACHE_MAX_BYTES``) are deleted, least recently used first; entries in use
  are skipped. A run's data (``static_arrays/``, which Brian2 rewrites on every build) and its
  results are deleted when it ends, so an entry holds code, objects and the binary only.
- **Deleting is atomic.** An entry is deleted by renaming it into ``<root>/v1/.trash`` while
  holding its lock; a process that locks it afterwards notices that the path no longer names
  the file it locked.

The cache lives in ``$SLEEP_BRIAN_BUILD_CACHE`` if set, else in
``$XDG_CACHE_HOME/sleep-brian/builds`` (``~/.cache/sleep-brian/builds``);
``SLEEP_BRIAN_BUILD_CACHE=off`` turns it off. ``sleep-brian cache info`` and
``sleep-brian cache clear`` show and empty it (:func:`info`, :func:`clear`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from sleep_brian.errors import ConfigError, SleepBrianError

try:  # POSIX only; without it there is no safe sharing, so no cache (devices.target builds fresh)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "CACHE_ENV",
    "MAX_ENTRIES_ENV",
    "MAX_BYTES_ENV",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_BYTES",
    "BuildCacheError",
    "Lease",
    "cache_root",
    "disabled_reason",
    "limits",
    "key_hash",
    "acquire",
    "evict",
    "info",
    "clear",
    "format_bytes",
]

logger = logging.getLogger(__name__)

#: Folder of the cache; ``off`` (or ``0``, ``false``, ``no``, ``none``) disables it.
CACHE_ENV = "SLEEP_BRIAN_BUILD_CACHE"
#: Most entries (compiled projects) kept; least recently used ones go first.
MAX_ENTRIES_ENV = "SLEEP_BRIAN_BUILD_CACHE_MAX_ENTRIES"
#: Most bytes kept in all, e.g. ``2G``, ``500M`` or a plain number of bytes.
MAX_BYTES_ENV = "SLEEP_BRIAN_BUILD_CACHE_MAX_BYTES"
#: An entry of the paper's model is 2-3 MB (code, objects, binary; data is not kept), a
#: brian2cuda one some tens of MB: 32 entries hold a sweep's schedules with room to spare.
DEFAULT_MAX_ENTRIES = 32
DEFAULT_MAX_BYTES = 2 * 1024**3

#: Version of the layout above; a new layout lives beside an old one and never reads it.
LAYOUT = "v1"
_OFF = {"off", "0", "false", "no", "none", "disable", "disabled"}
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class BuildCacheError(SleepBrianError, OSError):
    """The build cache's folder cannot be used (permissions, a file system without locks)."""


def cache_root() -> Path | None:
    """The cache folder (absolute), or None when ``$SLEEP_BRIAN_BUILD_CACHE`` turns it off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "sleep-brian" / "builds"


def disabled_reason() -> str | None:
    """Why the cache is off (a sentence), or None when it is on."""
    if fcntl is None:
        return "no fcntl.flock on this platform, so entries could not be shared safely"
    if cache_root() is None:
        return f"{CACHE_ENV}={os.environ.get(CACHE_ENV, '').strip()}"
    return None


def _parse_bytes(text: str) -> int:
    t = text.strip().lower().removesuffix("ib").removesuffix("b").strip()
    unit = t[-1:] if t[-1:] in _UNITS and not t[-1:].isdigit() else ""
    number = t[: len(t) - len(unit)].strip()
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise ConfigError(f"{MAX_BYTES_ENV}={text!r} is not a size; give bytes or a number with K, M, G or T, e.g. 2G.") from None
    if value < 0:
        raise ConfigError(f"{MAX_BYTES_ENV}={text!r} is negative; give a size such as 2G.")
    return int(value)


def limits() -> tuple[int, int]:
    """``(max_entries, max_bytes)``: the defaults, or those set in the environment."""
    n, size = DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES
    text = os.environ.get(MAX_ENTRIES_ENV, "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            n = -1
        if n < 1:
            raise ConfigError(f"{MAX_ENTRIES_ENV}={text!r}: expected a whole number >= 1 (or {CACHE_ENV}=off).")
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if text:
        size = _parse_bytes(text)
    return n, size


def key_hash(key) -> str:
    """The hash naming a key's folder: SHA-256 of its canonical JSON (sorted keys), 20 hex digits."""
    text = json.dumps(key, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def format_bytes(n: float) -> str:
    """``2.4 MB``-style sizes (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Small file-system helpers


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path: Path, data: dict) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive flock on ``path``, or None if another process holds
    it or the entry has gone. Never waits."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        return None  # the entry was deleted meanwhile
    except OSError as exc:
        raise BuildCacheError(f"cannot open the build cache's lock {path}: {exc}; set {CACHE_ENV} to a writable folder, or to off.") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as exc:
        os.close(fd)
        raise BuildCacheError(
            f"cannot lock {path} ({exc}): the file system may not support flock; set {CACHE_ENV} to a local folder, or to off."
        ) from exc
    # Between open() and flock() the entry may have been deleted (renamed into the trash) by a
    # process that held the lock: then the path names another file, or none, and this lock
    # protects nothing.
    try:
        st, mine = os.stat(path), os.fstat(fd)
        same = (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev)
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None
    return fd


def _objects(project: Path) -> dict[str, int]:
    """Modification time of every compiled object under ``project``, by relative path."""
    out = {}
    for dirpath, _, files in os.walk(project):
        for name in files:
            if name.endswith((".o", ".obj")):
                p = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    out[os.path.relpath(p, project)] = os.stat(p).st_mtime_ns
    return out


# ---------------------------------------------------------------------------------------------
# Leases: one process's use of one entry


@dataclass
class Lease:
    """One process's exclusive use of a cache entry (from :func:`acquire`).

    Attributes
    ----------
    entry : Path
        The entry's folder.
    status : {"hit", "miss"}
        ``hit``: a complete compiled project of this key was found and is reused.
    reason : str
        For a miss: ``new`` (first entry of this key), ``busy`` (every entry of the key was in
        use by other processes), ``incomplete`` (an earlier build did not finish: deleted and
        rebuilt), ``corrupt`` (the binary was missing or changed: deleted and rebuilt),
        ``changed`` (written by another layout or key). Empty for a hit.
    recompiled : list of str or None
        After :meth:`complete`: the objects that ``make`` (re)built, relative to the project.
    copied_from : Path or None
        For a miss: the entry of the same family this one started as a copy of, if any.
    """

    entry: Path
    status: str
    reason: str
    key_hash: str
    binary: str = "main"
    recompiled: list[str] | None = None
    n_objects: int | None = None
    copied_from: Path | None = None
    _fd: int | None = field(default=None, repr=False)
    _before: dict = field(default_factory=dict, repr=False)

    @property
    def project(self) -> Path:
        """The Brian2 project folder to build in."""
        return self.entry / "project"

    def _state(self) -> dict:
        return _read_json(self.entry / "state.json") or {}

    def begin(self) -> None:
        """Mark the entry as being built; call before Brian2 writes any file into it.

        Until :meth:`complete`, a process that dies leaves an entry that the next one deletes.
        """
        old = self._state()
        self._before = _objects(self.project)
        _write_json(
            self.entry / "state.json",
            {"layout": LAYOUT, "key": self.key_hash, "state": "building", "pid": os.getpid(),
             "created": old.get("created", time.time()), "uses": old.get("uses", 0)},
        )  # fmt: skip

    def complete(self) -> list[str]:
        """Mark the entry complete after a successful compile; return the objects rebuilt."""
        binary = self.project / self.binary
        if not binary.is_file():
            raise BuildCacheError(f"the build in {self.project} succeeded but left no {self.binary!r} binary; not caching it.")
        after = _objects(self.project)
        self.recompiled = sorted(k for k, t in after.items() if self._before.get(k) != t)
        self.n_objects = len(after)
        old = self._state()
        _write_json(
            self.entry / "state.json",
            {"layout": LAYOUT, "key": self.key_hash, "state": "complete", "binary_sha256": _sha256(binary),
             "created": old.get("created", time.time()), "uses": old.get("uses", 0), "completed": time.time(),
             "last_used": time.time(), "bytes": _du(self.entry)},
        )  # fmt: skip
        return self.recompiled

    def info(self) -> dict:
        """What a run records about its use of the cache."""
        out = {"cache": self.status, "cache_entry": str(self.entry)}
        if self.reason:
            out["cache_reason"] = self.reason
        if self.copied_from is not None:
            out["cache_copied_from"] = str(self.copied_from)
        if self.recompiled is not None:
            out["recompiled"] = len(self.recompiled)
            out["n_objects"] = self.n_objects
        return out


def _check(entry: Path, h: str, binary: str) -> tuple[bool, str]:
    """Whether ``entry`` holds a complete build of key ``h``; else why not."""
    st = _read_json(entry / "state.json")
    if st is None or st.get("state") == "building":
        return False, "incomplete"
    if st.get("layout") != LAYOUT or st.get("key") != h:
        return False, "changed"
    if st.get("state") != "complete":
        return False, "incomplete"
    b = entry / "project" / binary
    try:
        ok = b.is_file() and _sha256(b) == st.get("binary_sha256")
    except OSError:
        ok = False
    return (True, "") if ok else (False, "corrupt")


def _wipe(entry: Path) -> None:
    """Empty an entry (held by this process) so that it is rebuilt from nothing."""
    with contextlib.suppress(FileNotFoundError):
        (entry / "state.json").unlink()
    shutil.rmtree(entry / "project", ignore_errors=True)
    if (entry / "project").exists():
        raise BuildCacheError(f"cannot empty the broken cache entry {entry}; delete it by hand or run `sleep-brian cache clear`.")


def _last_used(entry: Path) -> float:
    st = _read_json(entry / "state.json") or {}
    return float(st.get("last_used", st.get("created", 0.0)))


def _entries_of(keydir: Path) -> list[Path]:
    try:
        return [e for e in keydir.iterdir() if e.is_dir() and e.name.startswith("e-")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _copy_from_family(root: Path, family: str, binary: str, project: Path) -> Path | None:
    """Fill the empty ``project`` with a copy of the most recently used idle, complete entry of
    ``family``; return that entry (None if there is none)."""
    candidates = []
    base = root / LAYOUT
    with contextlib.suppress(OSError):
        for keydir in base.iterdir():
            k = _read_json(keydir / "key.json") if keydir.is_dir() else None
            if k is not None and k.get("family") == family:
                candidates += _entries_of(keydir)
    for entry in sorted(candidates, key=_last_used, reverse=True):
        fd = _try_lock(entry / "lock")
        if fd is None:
            continue
        try:
            if not _check(entry, entry.parent.name, binary)[0]:
                continue
            # copy2 keeps modification times: objects stay newer than the sources they came from
            shutil.copytree(entry / "project", project, symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("results*"))  # fmt: skip
            return entry
        except OSError:
            shutil.rmtree(project, ignore_errors=True)  # never build over half a copy
            project.mkdir(parents=True, exist_ok=True)
        finally:
            os.close(fd)
    return None


def _take(root: Path, key, h: str, binary: str, label: str | None, family: str | None = None) -> Lease:
    keydir = root / LAYOUT / h
    try:
        keydir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildCacheError(f"cannot create the build cache folder {keydir}: {exc}; set {CACHE_ENV} to a writable folder, or to off.") from exc
    busy, fallback = 0, None
    # Most recently used first: the likeliest to hold this run's code already.
    for entry in sorted(_entries_of(keydir), key=_last_used, reverse=True):
        fd = _try_lock(entry / "lock")
        if fd is None:
            busy += 1
            continue
        ok, why = _check(entry, h, binary)
        if ok:
            if fallback is not None:
                os.close(fallback[1])
            lease = Lease(entry, "hit", "", h, binary, _fd=fd)
            break
        if fallback is None:
            fallback = (entry, fd, why)
        else:
            os.close(fd)
    else:
        if fallback is not None:
            entry, fd, why = fallback
            try:
                _wipe(entry)
            except BaseException:
                os.close(fd)
                raise
            lease = Lease(entry, "miss", why, h, binary, _fd=fd)
        else:
            while True:  # a fresh name nobody else has seen; loop only if someone raced us to it
                entry = keydir / f"e-{secrets.token_hex(6)}"
                entry.mkdir(parents=True)  # parents: an eviction may have removed the key's folder
                fd = _try_lock(entry / "lock")
                if fd is not None:
                    break
            lease = Lease(entry, "miss", "busy" if busy else "new", h, binary, _fd=fd)
    if not (keydir / "key.json").exists():
        with contextlib.suppress(OSError):
            _write_json(keydir / "key.json", {"key": key, "label": label or "", "family": family})
    lease.project.mkdir(parents=True, exist_ok=True)
    if lease.status == "miss" and family is not None:
        lease.copied_from = _copy_from_family(root, family, binary, lease.project)
    return lease


def _release(lease: Lease) -> None:
    """Drop the run's data and results, note the use, unlock."""
    try:
        project = lease.project
        # Why: Brian2 rewrites static_arrays/ on every build and device.run adds a file per
        # run_args value (a dense connection matrix can be hundreds of MB); results were read.
        with contextlib.suppress(OSError):
            for p in project.iterdir():
                if p.name.startswith("results") and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
        with contextlib.suppress(OSError):
            for p in (project / "static_arrays").iterdir():
                if p.is_file():
                    p.unlink()
        st = _read_json(lease.entry / "state.json")
        if st is not None and st.get("state") == "complete":
            st.update(last_used=time.time(), uses=int(st.get("uses", 0)) + 1, bytes=_du(lease.entry))
            with contextlib.suppress(OSError):
                _write_json(lease.entry / "state.json", st)
    finally:
        if lease._fd is not None:
            os.close(lease._fd)  # releases the flock
            lease._fd = None


@contextlib.contextmanager
def acquire(key, *, root: str | os.PathLike | None = None, binary: str = "main", label: str | None = None,
            family=None):
    """Use a cache entry of ``key`` exclusively for the duration of the block.

    Parameters
    ----------
    key : JSON-serialisable
        Everything the generated code depends on (hashed; see :func:`key_hash`).
    family : JSON-serialisable, optional
        A coarser key (part of ``key``) whose entries generate mostly the same code: a new
        entry of ``key`` starts as a copy of one of them, so that fewer files are compiled.
    root : path, optional
        The cache folder (default: :func:`cache_root`).
    binary : str
        The program a complete build leaves in the project (checked by hash before reuse).
    label : str, optional
        A line shown by :func:`info` for this key.

    Yields
    ------
    Lease
        Build in ``lease.project``; call ``lease.begin()`` before Brian2 writes into it and
        ``lease.complete()`` after a successful compile. On leaving the block the run's data
        and results are deleted, the lock released, and old entries evicted (:func:`evict`).
    """
    if fcntl is None:
        raise BuildCacheError(disabled_reason())
    root = cache_root() if root is None else Path(root).absolute()
    if root is None:
        raise BuildCacheError(f"the build cache is off ({disabled_reason()}).")
    lease = _take(root, key, key_hash(key), binary, label, None if family is None else key_hash(family))
    try:
        yield lease
    finally:
        _release(lease)
        try:
            evict(root)
        except (OSError, ConfigError) as exc:  # a full cache must not fail a finished run
            logger.warning("sleep-brian: could not evict old build cache entries: %s", exc)


# ---------------------------------------------------------------------------------------------
# Eviction, inspection, clearing


def _all_entries(root: Path) -> list[Path]:
    base = root / LAYOUT
    try:
        keydirs = [d for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [e for d in keydirs for e in _entries_of(d)]


def _remove(entry: Path, root: Path) -> bool:
    """Delete ``entry`` if no process uses it; True if it was deleted."""
    fd = _try_lock(entry / "lock")
    if fd is None:
        return False
    trash = root / LAYOUT / ".trash"
    try:
        trash.mkdir(parents=True, exist_ok=True)
        gone = trash / f"{entry.parent.name}-{entry.name}-{secrets.token_hex(3)}"
        os.rename(entry, gone)  # atomic: from now on nobody can find it
    finally:
        os.close(fd)
    shutil.rmtree(gone, ignore_errors=True)
    return True


def _prune(root: Path) -> None:
    """Remove key folders left without entries, and leftovers of interrupted deletions."""
    base = root / LAYOUT
    with contextlib.suppress(OSError):
        for d in base.iterdir():
            if d.name == ".trash":
                for t in d.iterdir():
                    shutil.rmtree(t, ignore_errors=True)
            elif d.is_dir() and not _entries_of(d):
                with contextlib.suppress(OSError):
                    (d / "key.json").unlink()
                with contextlib.suppress(OSError):
                    d.rmdir()  # fails, harmlessly, if an entry was created meanwhile


def evict(root: str | os.PathLike | None = None, *, max_entries: int | None = None, max_bytes: int | None = None) -> list[Path]:
    """Delete least recently used entries until at most ``max_entries`` entries and
    ``max_bytes`` bytes remain (defaults: :func:`limits`). Entries in use are kept.

    Returns the entries deleted.
    """
    root = cache_root() if root is None else Path(root)
    if root is None:
        return []
    n_max, b_max = limits()
    n_max = n_max if max_entries is None else max_entries
    b_max = b_max if max_bytes is None else max_bytes
    entries = []
    for e in _all_entries(root):
        st = _read_json(e / "state.json") or {}
        size = st.get("bytes") if st.get("state") == "complete" else None
        entries.append((_last_used(e), e, int(size) if size is not None else _du(e)))
    entries.sort(key=lambda t: t[0])
    count, total = len(entries), sum(t[2] for t in entries)
    removed = []
    for _, e, size in entries:
        if count <= n_max and total <= b_max:
            break
        if _remove(e, root):
            removed.append(e)
            count, total = count - 1, total - size
    if removed:
        _prune(root)
    return removed


def _in_use(entry: Path) -> bool:
    fd = _try_lock(entry / "lock")
    if fd is None:
        return entry.exists()
    os.close(fd)
    return False


def info(root: str | os.PathLike | None = None) -> dict:
    """The cache's folder, limits and entries (what ``sleep-brian cache info`` prints).

    Returns
    -------
    dict
        ``root`` (None when off), ``enabled``, ``reason`` (why it is off), ``max_entries``,
        ``max_bytes``, ``bytes`` (in all) and ``entries``: per entry its ``key`` hash, the key's
        ``label``, ``path``, ``state`` (complete / building / empty), ``bytes``, ``last_used``
        (seconds since the epoch), ``uses`` and ``in_use``, most recently used first.
    """
    reason = disabled_reason() if root is None else None
    root = cache_root() if root is None else Path(root).absolute()
    n_max, b_max = limits()
    out = {"root": str(root) if root is not None else None, "enabled": reason is None, "reason": reason,
           "max_entries": n_max, "max_bytes": b_max, "bytes": 0, "entries": []}  # fmt: skip
    if root is None:
        return out
    for e in _all_entries(root):
        st = _read_json(e / "state.json") or {}
        k = _read_json(e.parent / "key.json") or {}
        size = _du(e)
        out["entries"].append(
            {"key": e.parent.name, "label": k.get("label", ""), "path": str(e), "state": st.get("state", "empty"),
             "bytes": size, "last_used": _last_used(e) or None, "uses": int(st.get("uses", 0)), "in_use": _in_use(e)}
        )  # fmt: skip
        out["bytes"] += size
    out["entries"].sort(key=lambda d: d["last_used"] or 0, reverse=True)
    return out


def clear(root: str | os.PathLike | None = None) -> dict:
    """Delete every entry not in use. Returns ``removed`` and ``busy`` counts and ``bytes`` freed."""
    root = cache_root() if root is None else Path(root).absolute()
    out = {"removed": 0, "busy": 0, "bytes": 0}
    if root is None:
        return out
    for e in _all_entries(root):
        size = _du(e)
        if _remove(e, root):
            out["removed"] += 1
            out["bytes"] += size
        elif e.exists():
            out["busy"] += 1
    _prune(root)
    return out
