"""Wake, Sleep and Test phases, schedules of them, and their lowering to arrays a device compiles.

A protocol is a list of phases. The regime of each phase is three switches:

=========  =====  =====  =========  ===========
phase      input  noise  STDP       sleep decay
=========  =====  =====  =========  ===========
Wake       on     off    on         off
Sleep      off    on     on         on
Test       on     off    off        off
Rest       off    off    off        off
=========  =====  =====  =========  ===========

:func:`lower` turns the whole list into a :class:`Timeline`: per *slot* (the largest time step
that divides every phase and presentation), the sleep flag, the plasticity flag and the index of
the image on screen. The network reads these through TimedArrays inside ``run_regularly``, so a
whole protocol, however many images and sleeps, is a single ``run()`` of a compiled network:
no Python in the loop, and legal on GeNN (one run, no TimedArray in equations).

:func:`paper_schedule` builds the paper's schedule: after every ``wake_block`` of training, a
sleep of ``sleep_fraction x wake_block`` (optionally capped). Write other schedules by listing
phases yourself::

    phases = [Wake(images=np.arange(100), presentation=100 * ms), Sleep(5 * second),
              Test(images=np.arange(100, 200), presentation=100 * ms, label="test")]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import brian2 as b2
import numpy as np

from sleep_brian.errors import ConfigError
from sleep_brian.params import _check_dim
from sleep_brian.timeline import NO_IMAGE, Span, Timeline, sleep_grid

__all__ = ["Wake", "Sleep", "Test", "Rest", "NO_IMAGE", "Timeline", "Span", "lower", "paper_schedule", "sleep_grid"]


def _as_indices(images, name: str) -> np.ndarray:
    idx = np.asarray(images)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer) or (idx < 0).any():
        raise ConfigError(f"{name}: images must be a non-empty 1-D array of image indices >= 0.")
    return idx.astype(np.int64)


def _check_time(value, name: str):
    try:
        _check_dim(name, value, "ms")
    except ConfigError:
        raise
    if not float(value) > 0:
        raise ConfigError(f"{name} = {value} must be > 0 ms.")
    return value


@dataclass(frozen=True)
class Wake:
    """Show ``images`` (indices into the image table), each for ``presentation``, with STDP on."""

    images: np.ndarray
    presentation: b2.Quantity
    label: str = "wake"

    def __post_init__(self):
        object.__setattr__(self, "images", _as_indices(self.images, "Wake"))
        _check_time(self.presentation, "Wake.presentation")

    @property
    def duration(self):
        return len(self.images) * self.presentation


@dataclass(frozen=True)
class Test:
    """Show ``images`` with plasticity off; responses per image are what the readout uses."""

    __test__ = False  # not a pytest test class, despite the name

    images: np.ndarray
    presentation: b2.Quantity
    label: str = "test"

    def __post_init__(self):
        object.__setattr__(self, "images", _as_indices(self.images, "Test"))
        _check_time(self.presentation, "Test.presentation")

    @property
    def duration(self):
        return len(self.images) * self.presentation


@dataclass(frozen=True)
class Sleep:
    """No input, membrane noise, STDP on, weights decay; for ``duration``.

    ``planned``: the window the schedule meant (records list it beside the length slept), when
    a cap shortened the sleep or an extension (``SleepExit(on_timeout='extend')``) lengthened it.
    """

    duration: b2.Quantity
    label: str = "sleep"
    planned: b2.Quantity | None = None

    def __post_init__(self):
        _check_time(self.duration, "Sleep.duration")
        if self.planned is not None:
            _check_time(self.planned, "Sleep.planned")


@dataclass(frozen=True)
class Rest:
    """Nothing happens: no input, no noise, no plasticity; the network relaxes for ``duration``."""

    duration: b2.Quantity
    label: str = "rest"

    def __post_init__(self):
        _check_time(self.duration, "Rest.duration")


def _steps(value, dt, name: str) -> int:
    n = float(value / dt)
    k = int(round(n))
    if k <= 0:
        raise ConfigError(f"{name} = {value} is shorter than one time step dt = {dt}.")
    return k


def lower(phases, dt=1 * b2.ms) -> Timeline:
    """Lower a list of phases to a :class:`Timeline` with time step ``dt``.

    Durations are rounded to whole time steps (a sleep of 3.5 ms at dt = 1 ms lasts 4 steps).
    """
    phases = list(phases)
    if not phases:
        raise ConfigError("a protocol needs at least one phase (Wake, Sleep or Test).")
    units = []  # per phase: (kind, label, n_steps, steps per image, images)
    planned = {}  # unit index -> a sleep's planned steps
    for ph in phases:
        if isinstance(ph, (Wake, Test)):
            per = _steps(ph.presentation, dt, f"{type(ph).__name__}.presentation")
            if abs(float(ph.presentation / dt) - per) > 1e-6:
                # Rounding would silently change every rate computed from the presentation time.
                raise ConfigError(
                    f"{type(ph).__name__}.presentation = {ph.presentation} is not a whole number of time "
                    f"steps (dt = {dt}); use a multiple of dt, e.g. {per * dt}."
                )
            units.append(("wake" if isinstance(ph, Wake) else "test", ph.label, per * len(ph.images), per, ph.images))
        elif isinstance(ph, (Sleep, Rest)):
            kind = "sleep" if isinstance(ph, Sleep) else "rest"
            if kind == "sleep" and ph.planned is not None:
                planned[len(units)] = _steps(ph.planned, dt, "Sleep.planned")
            units.append((kind, ph.label, _steps(ph.duration, dt, f"{type(ph).__name__}.duration"), None, None))
        else:
            raise ConfigError(f"unknown phase {ph!r}; use Wake, Sleep, Test or Rest.")
    slot = 0
    for _kind, _label, n, per, _imgs in units:
        slot = math.gcd(slot, per if per is not None else n)
        slot = math.gcd(slot, n)
    spans, sleep, plastic, image = [], [], [], []
    step = 0
    for u, (kind, label, n, per, imgs) in enumerate(units):
        n_slots = n // slot
        sleep.append(np.full(n_slots, 1 if kind == "sleep" else 0, dtype=np.int8))
        plastic.append(np.full(n_slots, 1 if kind in ("wake", "sleep") else 0, dtype=np.int8))
        if imgs is not None:
            image.append(np.repeat(imgs, per // slot))
        else:
            image.append(np.full(n_slots, NO_IMAGE, dtype=np.int64))
        spans.append(Span(kind, label, step, step + n, imgs, per, planned.get(u)))
        step += n
    return Timeline(
        dt=dt,
        slot_steps=slot,
        sleep=np.concatenate(sleep),
        plastic=np.concatenate(plastic),
        image=np.concatenate(image).astype(np.int64),
        spans=spans,
    )


def paper_schedule(train_images, presentation, sleep_fraction, wake_block=35 * b2.second, sleep_cap=None,
                   sleep_exit=None):  # fmt: skip
    """The paper's training schedule: Wake blocks of ``wake_block``, each followed by a Sleep.

    Parameters
    ----------
    train_images : array of int
        Indices of the training images, in the order shown.
    presentation : Quantity
        Time per image.
    sleep_fraction : float in [0, 1]
        Sleep duration as a fraction of ``wake_block`` (0 = no sleep).
    wake_block : Quantity
        Wake time between sleeps (paper: 35 s = 35,000 steps of 1 ms). Rounded to whole images.
    sleep_cap : Quantity or None
        Longest allowed sleep (the authors' code: 10 s). None = no cap (default, corrected model).
    sleep_exit : SleepExit, optional
        The model's early end of sleep. With ``on_timeout='extend'`` each sleep is scheduled
        ``max_extension`` (default: the window) longer than its window, within the cap; the
        exit skips what the network does not need. Every Sleep keeps its window as ``planned``.

    Returns
    -------
    list of phases
        A sleep follows every complete wake block; a final partial block has no sleep after it.
    """
    if isinstance(sleep_fraction, bool) or not isinstance(sleep_fraction, (int, float)) or not (
        0 <= sleep_fraction <= 1
    ):
        raise ConfigError(f"sleep_fraction = {sleep_fraction!r} must be a number in [0, 1] (e.g. 0.1 for 10 %).")
    _check_time(presentation, "presentation")
    _check_time(wake_block, "wake_block")
    train_images = _as_indices(train_images, "paper_schedule")
    per_block = max(1, int(round(float(wake_block / presentation))))
    window = sleep_fraction * per_block * presentation
    sleep = window
    if sleep_exit is not None and sleep_exit.on_timeout == "extend" and float(window) > 0:
        sleep = window + (sleep_exit.max_extension if sleep_exit.max_extension is not None else window)
    if sleep_cap is not None:
        _check_dim("sleep_cap", sleep_cap, "second")
        sleep = min(sleep, sleep_cap)
    phases = []
    for start in range(0, len(train_images), per_block):
        block = train_images[start : start + per_block]
        phases.append(Wake(block, presentation))
        if len(block) == per_block and float(sleep) > 0:
            phases.append(Sleep(sleep, planned=window if sleep != window else None))
    return phases


def align_to(phases, period_steps: int, dt) -> list:
    """``phases`` followed by a Rest that makes their total a multiple of ``period_steps``."""
    total = lower(phases, dt).n_steps if phases else 0
    pad = (-total) % period_steps if period_steps else 0
    return list(phases) + ([Rest(pad * dt, label="align")] if pad else [])
