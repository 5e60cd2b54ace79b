"""Parameters as frozen dataclasses with Brian2 units, validated on creation, JSON round-trip.

The parameters of the parts every model shares live here, grouped by concern (plasticity, sleep
rules, input encoding, the schedule), as in NEST's microcircuit example; a model's own numbers
(neurons, connectivity) live beside its declaration in ``models/``. A field that carries a
unit declares it with :func:`qty`; constructing a dataclass with a plain number, or a quantity of
the wrong dimension, raises :class:`~sleep_brian.errors.ConfigError` naming the field and the unit
it wants. ``to_dict``/``from_dict`` turn any of these records into JSON-safe dictionaries (values
in the field's declared unit) and back, so a result record can be read without Brian2 and a run
can be repeated from its record.

Defaults are the paper's (Massey et al. 2026, arXiv:2601.08447; docs: the model), with the
corrected model as default and the authors' quirks as explicit switches.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import brian2 as b2
import numpy as np

from sleep_brian.errors import ConfigError

__all__ = [
    "qty",
    "STDPParams",
    "SleepParams",
    "InputParams",
    "ScheduleParams",
    "to_dict",
    "from_dict",
    "parse_quantity",
]

_UNITS = {"ms": b2.ms, "second": b2.second, "mV": b2.mV, "Hz": b2.Hz, "1": 1}


def qty(default, unit: str, *, doc: str = ""):
    """A dataclass field holding a Brian2 quantity in ``unit`` (one of ``ms, second, mV, Hz``)."""
    # Quantities are numpy arrays (unhashable): dataclasses need a factory for them.
    return field(default_factory=lambda: default, metadata={"unit": unit, "doc": doc})


def parse_quantity(text: str, unit: str, name: str = "value") -> b2.Quantity:
    """Parse ``"100ms"``, ``"0.1 s"`` or ``"-55 mV"`` into a Brian2 quantity of ``unit``'s dimension.

    Raises
    ------
    ConfigError
        If ``text`` has no unit or the wrong one; the message shows an example that works.
    """
    import re

    m = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    example = f"'100{unit}'" if unit != "1" else "'0.5'"
    if not m:
        raise ConfigError(f"{name}: cannot read {text!r} as a number with a unit; write e.g. {example}.")
    number, suffix = float(m.group(1)), m.group(2)
    if not suffix:
        raise ConfigError(f"{name}: {text!r} has no unit; {name} wants a {unit}-valued quantity, e.g. {example}.")
    aliases = {"s": "second", "sec": "second", "msecond": "ms", "mvolt": "mV", "hz": "Hz"}
    suffix = aliases.get(suffix, suffix)
    if suffix not in _UNITS and not isinstance(getattr(b2.units, suffix, None), b2.Unit):
        raise ConfigError(f"{name}: unknown unit {suffix!r} in {text!r}; write e.g. {example}.")
    value = number * (_UNITS.get(suffix) or getattr(b2.units, suffix))
    _check_dim(name, value, unit)
    return value


def _check_dim(name: str, value: Any, unit: str) -> None:
    want = _UNITS[unit]
    if unit == "1":
        return
    if not isinstance(value, b2.Quantity):
        raise ConfigError(
            f"{name} = {value!r} is a plain number; it needs a unit of {unit}, "
            f"e.g. {value!r} * brian2.{unit} (or the string '{value}{unit}' on the command line)."
        )
    if value.dim is not b2.get_dimensions(want):
        raise ConfigError(
            f"{name} = {value!r} has the wrong unit; it needs a unit of {unit} "
            f"(dimension {b2.get_dimensions(want)}), got dimension {value.dim}."
        )


class _Validated:
    """Mixin: check units of every ``qty`` field and call ``_validate`` after construction."""

    def __post_init__(self) -> None:
        fields = dataclasses.fields(self)
        for f in fields:
            unit = f.metadata.get("unit")
            value = getattr(self, f.name)
            if unit is not None and value is not None:
                _check_dim(f"{type(self).__name__}.{f.name}", value, unit)
        self._validate()  # the class's own, more specific messages come first
        for f in fields:
            value = getattr(self, f.name)
            name = f"{type(self).__name__}.{f.name}"
            if f.metadata.get("unit") is not None and value is not None:
                if not np.all(np.isfinite(np.asarray(value))):
                    raise ConfigError(f"{name} = {value!r} must be finite.")
            elif f.type in ("float", "float | None") and value is not None:
                # A NaN gain or learning rate would run and silently produce nonsense.
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ConfigError(f"{name} = {value!r} must be a number.")
                if not math.isfinite(value):
                    raise ConfigError(f"{name} = {value!r} must be finite.")

    def _validate(self) -> None:  # pragma: no cover - overridden where there is more to check
        pass

    def replace(self, **changes):
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


def _positive(obj, *names) -> None:
    for n in names:
        v = getattr(obj, n)
        if not float(v) > 0:
            raise ConfigError(f"{type(obj).__name__}.{n} = {v!r} must be > 0.")


@dataclass(frozen=True)
class STDPParams(_Validated):
    """Nearest-spike pair STDP with exponential windows and hard bounds.

    ``rule='causal'`` (default): pre before post potentiates (A+, tau+), post before pre depresses
    (A-, tau-). ``rule='authors'``: the time difference reversed as in the authors' code, so pre
    before post depresses (A-, tau-) and post before pre potentiates (A+, tau+). Inhibitory
    presynapses get the sign of every change flipped (STDP acts on |w|).
    """

    rule: str = "causal"
    a_plus: float = 0.5
    a_minus: float = 0.3
    tau_plus: b2.Quantity = qty(10 * b2.ms, "ms")
    tau_minus: b2.Quantity = qty(7.5 * b2.ms, "ms")
    eta: float = 8e-4
    w_min_exc: float = 0.01
    w_max_exc: float = 25.0
    w_min_inh: float = -25.0
    w_max_inh: float = -0.01

    def _validate(self) -> None:
        if self.rule not in ("causal", "authors"):
            raise ConfigError(f"STDPParams.rule = {self.rule!r}; expected 'causal' (default) or 'authors'.")
        _positive(self, "tau_plus", "tau_minus")
        if self.eta < 0 or self.a_plus < 0 or self.a_minus < 0:
            raise ConfigError("STDPParams: eta, a_plus and a_minus must be >= 0 (signs are set by the rule).")
        if not (0 < self.w_min_exc < self.w_max_exc and self.w_min_inh < self.w_max_inh < 0):
            raise ConfigError("STDPParams: need 0 < w_min_exc < w_max_exc and w_min_inh < w_max_inh < 0.")


@dataclass(frozen=True)
class SleepParams(_Validated):
    """Sleep-phase weight decay.

    ``rule='power'`` (paper): every ``dt_ref`` of sleep, |w| <- w_tar (|w|/w_tar)^lam.
    ``rule='stochastic'``: an exact discrete Ornstein-Uhlenbeck process in x = log(w / w_base)
    whose deterministic part is the same power law (x <- lam x), plus Gaussian noise scaled so that
    the stationary sd of x is ``sigma_log``: |w| relaxes to a log-normal spread around the
    homeostatic baseline w_base (the pathway's initial weight unless ``baseline='target'``).
    """

    rule: str = "power"
    lam: float = 0.99997
    dt_ref: b2.Quantity = qty(1 * b2.ms, "ms", doc="time step per application of lam")
    w_tar_exc: float = 0.01
    w_tar_inh: float = -0.01
    sigma_log: float = 0.5
    baseline: str = "initial"

    def _validate(self) -> None:
        if self.rule not in ("power", "stochastic"):
            raise ConfigError(f"SleepParams.rule = {self.rule!r}; expected 'power' (paper) or 'stochastic'.")
        if not 0 < self.lam <= 1:
            raise ConfigError(f"SleepParams.lam = {self.lam!r} must lie in (0, 1].")
        if self.baseline not in ("initial", "target"):
            raise ConfigError(f"SleepParams.baseline = {self.baseline!r}; expected 'initial' or 'target'.")
        if self.sigma_log < 0:
            raise ConfigError(f"SleepParams.sigma_log = {self.sigma_log!r} must be >= 0.")
        if not (self.w_tar_exc > 0 and self.w_tar_inh < 0):
            raise ConfigError("SleepParams: w_tar_exc must be > 0 and w_tar_inh < 0.")
        _positive(self, "dt_ref")


@dataclass(frozen=True)
class InputParams(_Validated):
    """Rate coding: spike probability per ``prob_dt_ref`` = gain x pixel intensity (Bernoulli).

    ``total_intensity``: each image is first rescaled so its pixels sum to this (then clipped to
    [0, 1]), as the authors' code does (22.5 = 10 % of 225 pixels: on average 22.5 input spikes per
    ms whatever the dataset's contrast). None keeps the raw intensities.
    """

    side: int = 15
    gain: float = 1.0
    total_intensity: float | None = 22.5
    prob_dt_ref: b2.Quantity = qty(1 * b2.ms, "ms")

    def _validate(self) -> None:
        if not isinstance(self.side, int) or self.side <= 0:
            raise ConfigError(f"InputParams.side = {self.side!r} must be a positive integer.")
        if self.gain < 0:
            raise ConfigError(f"InputParams.gain = {self.gain!r} must be >= 0.")
        if self.total_intensity is not None and not self.total_intensity > 0:
            raise ConfigError(f"InputParams.total_intensity = {self.total_intensity!r} must be > 0 or None.")
        _positive(self, "prob_dt_ref")


@dataclass(frozen=True)
class ScheduleParams(_Validated):
    """The paper's wake/sleep schedule and the amount of data.

    After every ``wake_block`` of training, a sleep of ``sleep_fraction * wake_block`` runs
    (capped at ``sleep_cap`` if given; the authors' code caps at 10 s, so all fractions >= ~0.29
    behave alike there).
    """

    sleep_fraction: float = 0.1
    wake_block: b2.Quantity = qty(35 * b2.second, "second")
    sleep_cap: b2.Quantity | None = qty(None, "second")
    presentation: b2.Quantity = qty(1000 * b2.ms, "ms", doc="time each image is shown")
    n_train: int = 1000
    n_fit: int = 1000
    n_test: int = 450
    epochs: int = 1
    repeat_batch: int | None = None  # authors' quirk 2: train on the first N images, repeated

    def with_overrides(self, **changes) -> "ScheduleParams":
        """A copy with the changes that are not None applied (command-line options left unset
        keep their defaults). If ``n_train`` is lowered without ``n_fit``, ``n_fit`` follows it
        down, since the readout is fitted on training images."""
        out = self.replace(**{k: v for k, v in changes.items() if v is not None})
        if changes.get("n_train") is not None and changes.get("n_fit") is None and out.n_fit > out.n_train:
            out = out.replace(n_fit=out.n_train)
        return out

    def _validate(self) -> None:
        r = self.sleep_fraction
        if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or not math.isfinite(r) or not 0 <= r <= 1:
            raise ConfigError(
                f"sleep_fraction = {r!r} must be a number in [0, 1] (a fraction of the wake block, "
                "e.g. 0.1 for 10 % sleep)."
            )
        _positive(self, "wake_block", "presentation")
        if self.sleep_cap is not None and float(self.sleep_cap) < 0:
            raise ConfigError(f"sleep_cap = {self.sleep_cap} must be >= 0 s or None.")
        for n in ("n_train", "n_fit", "n_test", "epochs"):
            v = getattr(self, n)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"ScheduleParams.{n} = {v!r} must be a positive integer.")
        if self.repeat_batch is not None and (not isinstance(self.repeat_batch, int) or self.repeat_batch <= 0):
            raise ConfigError(f"repeat_batch = {self.repeat_batch!r} must be a positive integer or None.")


def to_dict(obj) -> dict:
    """A JSON-safe dict of a parameter dataclass: quantities as numbers in the field's unit."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        unit = f.metadata.get("unit")
        if dataclasses.is_dataclass(v):
            out[f.name] = to_dict(v)
        elif unit is not None and v is not None and unit != "1":
            out[f.name] = {"value": float(v / _UNITS[unit]), "unit": unit}
        else:
            out[f.name] = v
    return out


def from_dict(cls, data: dict):
    """Inverse of :func:`to_dict` for the dataclass ``cls``."""
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in data.items():
        if k not in fields:
            raise ConfigError(f"{cls.__name__} has no parameter {k!r}; known: {sorted(fields)}.")
        f = fields[k]
        if isinstance(v, dict) and "unit" in v and "value" in v:
            if v["unit"] not in _UNITS:
                raise ConfigError(f"{cls.__name__}.{k}: unknown unit {v['unit']!r}; expected one of {sorted(_UNITS)}.")
            kwargs[k] = v["value"] * _UNITS[v["unit"]]
        elif isinstance(v, dict):
            default = f.default if f.default is not dataclasses.MISSING else None
            if default is None and f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            sub = type(default) if dataclasses.is_dataclass(default) else None
            kwargs[k] = from_dict(sub, v) if sub else v
        else:
            kwargs[k] = v
    return cls(**kwargs)
