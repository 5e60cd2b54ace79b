"""A protocol lowered to arrays: what the network reads, and where each phase lies.

This module sits below both :mod:`sleep_brian.network` (which turns a timeline into
TimedArrays) and :mod:`sleep_brian.protocol` (which builds timelines from phases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import brian2 as b2
import numpy as np

__all__ = ["NO_IMAGE", "Span", "Timeline", "sleep_grid"]

#: Image index that the lowered timeline uses for "no image on screen" (Sleep, Rest).
NO_IMAGE = -1


@dataclass(frozen=True)
class Span:
    """Where one phase of a lowered protocol lies, in time steps of the simulation."""

    kind: str  # "wake", "sleep", "test" or "rest"
    label: str
    start_step: int
    stop_step: int
    images: np.ndarray | None = None  # per-image indices, for wake and test phases
    steps_per_image: int | None = None
    #: A sleep's planned length (its window before a cap or an extension), in steps
    planned_steps: int | None = None


@dataclass
class Timeline:
    """A protocol lowered to per-slot arrays (what the network's TimedArrays hold)."""

    dt: b2.Quantity
    slot_steps: int
    sleep: np.ndarray  # (n_slots,) 0/1
    plastic: np.ndarray  # (n_slots,) 0/1
    image: np.ndarray  # (n_slots,) image index on screen (NO_IMAGE where none is shown)
    spans: list[Span] = field(default_factory=list)

    @property
    def slot(self):
        return self.slot_steps * self.dt

    @property
    def n_steps(self) -> int:
        return self.slot_steps * len(self.sleep)

    @property
    def duration(self):
        return self.n_steps * self.dt

    def spans_of(self, kind: str | None = None, label: str | None = None) -> list[Span]:
        return [s for s in self.spans if (kind is None or s.kind == kind) and (label is None or s.label == label)]

    def sleep_boundaries(self) -> list[int]:
        """Time steps at which a sleep starts or ends, sorted."""
        sleeps = self.spans_of("sleep")
        return sorted({s.start_step for s in sleeps} | {s.stop_step for s in sleeps})

    def block_boundaries(self) -> list[int]:
        """Time steps at which a training (wake or sleep) span starts or ends, sorted."""
        spans = self.spans_of("wake") + self.spans_of("sleep")
        return sorted({s.start_step for s in spans} | {s.stop_step for s in spans})


def sleep_grid(timeline: Timeline) -> int:
    """The largest step count dividing the start and end of every sleep (0 if there is none).

    Weight snapshots on this grid catch the weights exactly before and after each sleep. Without
    sleep, the grid divides the start and end of every wake block instead, so that a run without
    sleep has a time course too. (With sleep, the wake blocks' ends are the sleeps' starts but
    for the last, partial block, which would shrink the grid to a fraction of a second.)
    """
    grid = 0
    steps = timeline.sleep_boundaries() or timeline.block_boundaries()
    for step in steps:
        grid = math.gcd(grid, step)
    return grid
