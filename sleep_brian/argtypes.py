"""argparse types shared by the CLI, the protocol scripts and the benchmarks.

Each turns a command-line string into a checked value or raises
``argparse.ArgumentTypeError`` with a message that names the problem and the fix.
"""

from __future__ import annotations

import argparse
import math

from sleep_brian.errors import SleepBrianError

__all__ = ["fraction", "positive_int", "seed", "quantity"]


def fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a fraction in [0, 1], e.g. 0.1") from None
    if not math.isfinite(v) or not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(
            f"sleep fraction {text} is outside [0, 1]; it is sleep time per wake time, e.g. 0.1 for 10 %"
        )
    return v


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive whole number")
    return v


def replicas(text: str) -> int | str:
    """``auto`` or a positive whole number (runs simulated together as replicas)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 'auto' or a positive whole number of replicas") from None


def seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed {text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"seed {text} must be >= 0")
    return v


def quantity(unit: str, option: str):
    def parse(text: str):
        from sleep_brian.params import parse_quantity

        try:
            return parse_quantity(text, unit, option)
        except SleepBrianError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse
