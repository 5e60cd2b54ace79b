"""The public model layer: declare a spiking network that learns while awake and sleeps.

A model is a declaration, not code: Brian2 strings for the neurons and synapses, populations
and the pathways between them, the sleep rule that acts on the weights during sleep, the input
layer and the population that is read out. :func:`sleep_brian.network.build_network` lowers any
such declaration for every Brian2 target and composes the regime machinery onto it (input off
and noise on in sleep, plasticity gated by the schedule, the lazily applied sleep decay), so a
model never mentions wake or sleep itself. It reads like ANNarchy's ``Neuron``/``Synapse``/
``Population``/``Projection`` or PyNN's ``Population``/``Projection``::

    import brian2 as b2
    from sleep_brian.model import (Bernoulli, InputLayer, Model, NeuronModel, Noise, Pathway,
                                   Population, SynapseModel)
    from sleep_brian.sleep_rules import stochastic

    lif = NeuronModel(
        "dv/dt = (v_rest - v) / tau + I / tau : volt\\n dI/dt = -I / tau_s : volt",
        threshold="v > v_th", reset="v = v_rest", params=dict(tau=20 * b2.ms, tau_s=5 * b2.ms,
        v_rest=-70 * b2.mV, v_th=-54 * b2.mV), sleep_noise=Noise("v", 2 * b2.mV), initial={"v": -70 * b2.mV})
    hebb = SynapseModel("w : 1", on_pre="I_post += w * mV\\n w = clip(w + plastic_post * 1e-3, w_lo, w_hi)")
    model = Model("tiny", inputs=InputLayer(side=8), populations=[Population("exc", 40, lif)],
                  pathways=[Pathway("in_exc", "inputs", "exc", hebb, Bernoulli(0.2), w0=1.0, bounds=(0.01, 5))],
                  readout="exc", sleep_rule=stochastic(lam=0.999))

What the builder provides, so that declarations can use it:

- every group has ``sleep`` and ``plastic`` (1 while asleep / while learning, per neuron) and
  ``sleep_clock`` (sleep steps so far); synapse code reads them as ``plastic_pre``,
  ``plastic_post``, ``sleep_pre``, ``sleep_post``. A plastic pathway gates its weight changes
  with ``plastic_post`` in ``on_pre`` and ``plastic_pre`` in ``on_post`` (GeNN forbids the other
  directions); in a pathway declared ``plastic=False`` both read as 0;
- in synapse code: ``w_lo`` and ``w_hi`` (the pathway's bounds) and ``sgn`` (+1, or -1 for an
  inhibitory pathway, whose weights are negative);
- the declared :class:`Noise` is added to its variable in every sleep step;
- ``Pathway(w_init=Uniform(low, high))``: random initial weights, drawn with numpy from the run's
  seed (a stream of their own, so the connections stay as they are);
- ``Pathway(normalize=total)``: the weights onto each target neuron are rescaled to sum (in |w|)
  to ``total`` around every image shown in a Wake phase, in generated code (the target group
  gets the summed variable ``wsum_<pathway>``).

Every declaration is checked when it is made and again, as a whole, by :meth:`Model.check`:
errors name the offending part and the fix (:class:`~sleep_brian.errors.ModelError`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import brian2 as b2
import numpy as np
from brian2.utils.stringtools import word_substitute

from sleep_brian.errors import ModelError
from sleep_brian.params import InputParams, ScheduleParams, to_dict

__all__ = [
    "Noise",
    "NeuronTrace",
    "NeuronModel",
    "SynapseModel",
    "SleepRule",
    "SleepExit",
    "ON_TIMEOUT",
    "Bernoulli",
    "OneToOne",
    "AllToAll",
    "AllToAllButSame",
    "Uniform",
    "InputLayer",
    "Population",
    "Pathway",
    "Model",
    "REGIME_VARIABLES",
    "REPLICA_VARIABLES",
    "MODEL_DEFAULT",
]

#: Variables the builder adds to every group (do not declare them yourself).
REGIME_VARIABLES = ("sleep", "plastic", "sleep_clock")
#: Variables the builder adds to every group of a network holding several replicas of a model
#: (:func:`sleep_brian.network.build_replicas`): the replica a neuron belongs to, and its index
#: within the replica.
REPLICA_VARIABLES = ("replica", "local_i")
#: The variable in which the builder counts every spiking neuron's spikes.
COUNT_VARIABLE = "spike_count"
#: The variable in which the builder marks a neuron's sleep clock at its last decay event (the
#: event-driven sleep decay, :data:`sleep_brian.network.DECAY_SCHEDULES`).
DECAY_MARK = "clock_at_decay"
#: Every variable the builder may add to a group (a model must not declare one).
_GROUP_VARIABLES = REGIME_VARIABLES + REPLICA_VARIABLES + (COUNT_VARIABLE, DECAY_MARK, "spikes_asleep", "exit_off",
                                                        "exit_due")
#: Names the builder puts into namespaces; a declared parameter of the same name would be shadowed.
_BUILDER_NAMES = {
    "sleep_schedule", "plastic_schedule", "image_schedule", "images", "clock_tick", "noise_step",
    "noise_sigma", "p_scale", "sgn", "w_lo", "w_hi", "last_sleep", "decay_exponent",
    "normalize_schedule", "normalize_total", "replica", "local_i", "sleep_clock_grid",
    "exit_due", "exit_off", "sleep_exit",
}  # fmt: skip
#: A pathway whose ``sleep_rule`` is this string uses the model's rule.
MODEL_DEFAULT = "model"

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check_name(kind: str, name) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelError(f"{kind} name {name!r} must start with a letter and hold only letters, digits and '_'.")


def _identifiers(code: str | None) -> set[str]:
    return set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", code or ""))


def _variables(equations: str) -> set[str]:
    """The variables an equation string declares (parsed by Brian2)."""
    return set(b2.Equations(equations).names)


def _declared(owner: str, equations: str, what: str) -> set[str]:
    """The variables ``equations`` declares, or a ModelError naming ``owner`` and Brian2's reason."""
    try:
        return _variables(equations)
    except Exception as exc:  # Brian2's parser says what is wrong, we say where
        raise ModelError(f"{owner}: cannot parse its {what}: {exc}") from None


def _plain(value):
    """A JSON-safe form of a parameter value (quantities with their unit)."""
    if isinstance(value, b2.Quantity):
        if np.ndim(value) == 0:
            unit = value.get_best_unit()
            return {"value": float(value / unit), "unit": str(unit)}
        return {"value": np.asarray(value).tolist(), "unit": f"SI {value.dim}"}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if callable(value):
        return f"<function {getattr(value, '__qualname__', repr(value))}>"
    return value


def _check_params(owner: str, params: Mapping) -> None:
    if not isinstance(params, Mapping):
        raise ModelError(f"{owner}: params must be a dict of name -> value, got {type(params).__name__}.")
    for k, v in params.items():
        _check_name(f"{owner} parameter", k)
        if k in _BUILDER_NAMES or k in _GROUP_VARIABLES:
            raise ModelError(f"{owner}: parameter {k!r} clashes with a name the builder provides; rename it.")
        if isinstance(v, (int, float, np.number, b2.Quantity)) and not np.all(np.isfinite(np.asarray(v))):
            raise ModelError(f"{owner}: parameter {k} = {v!r} must be finite.")


@dataclass(frozen=True)
class Noise:
    """Gaussian noise added to ``variable`` in every sleep step: sd ``sd`` per ``dt_ref`` (white,
    so a step of dt gets sd * sqrt(dt / dt_ref))."""

    variable: str = "v"
    sd: b2.Quantity = field(default_factory=lambda: 2 * b2.mV)
    dt_ref: b2.Quantity = field(default_factory=lambda: 1 * b2.ms)

    def __post_init__(self):
        if not isinstance(self.dt_ref, b2.Quantity) or self.dt_ref.dim is not b2.second.dim or not float(self.dt_ref) > 0:
            raise ModelError(f"Noise.dt_ref = {self.dt_ref!r} must be a positive time, e.g. 1 * brian2.ms.")
        if float(np.asarray(self.sd)) < 0:
            raise ModelError(f"Noise.sd = {self.sd!r} must be >= 0.")


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model: Brian2 equations, threshold, reset and refractoriness, with the parameters
    they use (values with their units).

    Parameters
    ----------
    equations : str
        Brian2 equations. Do not declare ``sleep``, ``plastic`` or ``sleep_clock``: the builder
        adds them (:data:`REGIME_VARIABLES`).
    threshold, reset : str, optional
    refractory : str, Quantity or False
    params : dict
        Every constant the strings use, with units.
    method : str
        Brian2 integration method.
    sleep_noise : Noise, optional
        Noise added during sleep (the spontaneous activity that drives sleep STDP).
    clip : dict, optional
        ``variable -> (low, high)`` parameter names: the variable is clipped to [low, high] in every
        step, after integration and noise, before the threshold test.
    initial : dict, optional
        ``variable -> value`` at the start of a run.
    name : str
        A label for records.
    """

    equations: str
    threshold: str | None = None
    reset: str | None = None
    refractory: Any = False
    params: Mapping = field(default_factory=dict)
    method: str = "euler"
    sleep_noise: Noise | None = None
    clip: Mapping = field(default_factory=dict)
    initial: Mapping = field(default_factory=dict)
    name: str = ""

    def __post_init__(self):
        owner = f"NeuronModel {self.name or ''}".strip()
        names = _declared(owner, self.equations, "equations")
        clash = names & set(_GROUP_VARIABLES)
        if clash:
            raise ModelError(f"{owner}: declares {sorted(clash)}, which the builder adds to every group; remove them.")
        _check_params(owner, self.params)
        if self.sleep_noise is not None:
            if not isinstance(self.sleep_noise, Noise):
                raise ModelError(f"{owner}: sleep_noise must be a Noise, got {type(self.sleep_noise).__name__}.")
            if self.sleep_noise.variable not in names:
                raise ModelError(f"{owner}: sleep noise acts on {self.sleep_noise.variable!r}, which its equations do not declare.")
        for var, bounds in self.clip.items():
            if var not in names:
                raise ModelError(f"{owner}: clip names {var!r}, which its equations do not declare.")
            if not (isinstance(bounds, tuple) and len(bounds) == 2 and all(b in self.params for b in bounds)):
                raise ModelError(f"{owner}: clip[{var!r}] = {bounds!r} must be a pair of parameter names from params.")
        for var in self.initial:
            if var not in names:
                raise ModelError(f"{owner}: initial value for {var!r}, which its equations do not declare.")

    @property
    def variables(self) -> set[str]:
        return _variables(self.equations)

    def to_dict(self) -> dict:
        return _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


@dataclass(frozen=True)
class NeuronTrace:
    """A nearest-spike trace of a synapse's ``side`` neuron: 1 at that neuron's spike, decaying
    as exp(-dt / tau) since (``tau``: the name of a time constant in the synapse's params).

    A trace that resets to 1 at a spike is the same for every synapse of that neuron, so the
    builder keeps it once per neuron (``traces="neuron"``: a multiply per neuron per step, none
    per synaptic event), or, where that is not possible, per synapse as an event-driven
    variable (``traces="synapse"``). The synapse's strings read it as ``<name>_pre`` (a
    ``'pre'`` trace, in ``on_post``) or ``<name>_post`` (a ``'post'`` trace, in ``on_pre``).
    Either way a pre and a post spike in the same step pair as pre before post: ``on_pre`` sees
    the post trace of earlier spikes only, ``on_post`` sees the pre trace at 1.
    """

    side: str
    tau: str

    def __post_init__(self):
        if self.side not in ("pre", "post"):
            raise ModelError(f"NeuronTrace side = {self.side!r}; expected 'pre' or 'post'.")
        _check_name("NeuronTrace tau", self.tau)


@dataclass(frozen=True)
class SynapseModel:
    """A synapse model: Brian2 ``model``, ``on_pre`` and ``on_post`` strings and their constants.

    The weight is ``w``. Plastic code gates its changes with ``plastic_post`` (in ``on_pre``) and
    ``plastic_pre`` (in ``on_post``); the builder provides ``w_lo``, ``w_hi`` and ``sgn``.
    ``traces``: nearest-spike traces the strings read (:class:`NeuronTrace`), by name.
    """

    model: str
    on_pre: str
    on_post: str | None = None
    params: Mapping = field(default_factory=dict)
    name: str = ""
    traces: Mapping = field(default_factory=dict)

    def __post_init__(self):
        owner = f"SynapseModel {self.name}".strip()
        names = _declared(owner, self.model, "model")
        if "w" not in names:
            raise ModelError(f"{owner}: the model must declare the weight 'w' (e.g. 'w : 1').")
        if "last_sleep" in names:
            raise ModelError(f"{owner}: declares 'last_sleep', which the builder adds for the sleep rule; remove it.")
        _check_params(owner, self.params)
        if not isinstance(self.traces, Mapping):
            raise ModelError(f"{owner}: traces must be a dict of name -> NeuronTrace, got {type(self.traces).__name__}.")
        for name, tr in self.traces.items():
            _check_name(f"{owner} trace", name)
            if not isinstance(tr, NeuronTrace):
                raise ModelError(f"{owner}: trace {name!r} must be a NeuronTrace, got {type(tr).__name__}.")
            if name in names:
                raise ModelError(f"{owner}: trace {name!r} is also declared in the model; the builder declares it.")
            if tr.tau not in self.params:
                raise ModelError(f"{owner}: trace {name!r} decays with {tr.tau!r}, which is not in params.")

    @property
    def variables(self) -> set[str]:
        return _variables(self.model)

    def per_synapse(self) -> "SynapseModel":
        """The same synapse with its traces kept per synapse: each an event-driven variable of
        the model, read without the suffix and set to 1 at the end of its own side's pathway
        (a ``'pre'`` trace in ``on_pre``, a ``'post'`` one in ``on_post``), as nearest-spike
        STDP is usually written for Brian2. The builder uses this form where a neuron cannot
        keep the trace (``traces="synapse"``)."""
        if not self.traces:
            return self
        pre = [n for n, tr in self.traces.items() if tr.side == "pre"]
        post = [n for n, tr in self.traces.items() if tr.side == "post"]
        model = self.model.rstrip() + "\n" + "\n".join(
            f"d{n}/dt = -{n} / {tr.tau} : 1 (event-driven)" for n, tr in self.traces.items()) + "\n"  # fmt: skip
        rename = {**{f"{n}_pre": n for n in pre}, **{f"{n}_post": n for n in post}}

        def lowered(code: str | None, marks: list) -> str:
            return word_substitute(code or "", rename).rstrip() + "".join(f"\n{n} = 1" for n in marks) + "\n"

        on_post = lowered(self.on_post, post) if (self.on_post or post) else None
        return dataclasses.replace(self, model=model, on_pre=lowered(self.on_pre, pre), on_post=on_post, traces={})

    @property
    def gated(self) -> bool:
        """Whether the code reads the plasticity flags (so the schedule can switch learning off)."""
        return bool(_identifiers(self.on_pre + "\n" + (self.on_post or "")) & {"plastic_pre", "plastic_post"})

    def to_dict(self) -> dict:
        return _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


#: What a sleep that did not converge does at its end (:class:`SleepExit`).
ON_TIMEOUT = ("give_up", "scale_to_target", "extend")


@dataclass(frozen=True)
class SleepExit:
    """The authors' early end of a sleep: stop as soon as the weights are back at baseline.

    During a sleep episode, every ``check_every`` the builder sums |w| over the pathways of each
    group in ``groups`` (every weight brought up to date with the sleep rule first). When every
    sum lies within ``tol`` (relative) of its target, ``beta`` times the sum at the start of the
    run, the rest of the scheduled episode is skipped: the network idles (no input, no noise, no
    plasticity, no decay) until the schedule's next phase, and records count only the time
    slept. An episode that has not converged by its end does what ``on_timeout`` says:

    - ``"give_up"`` (the authors' default): keep the weights;
    - ``"scale_to_target"``: rescale the weights of each group by target / sum (one factor per
      group and replica), then clip them to their pathway's bounds;
    - ``"extend"``: keep sleeping past the scheduled window, up to ``max_extension`` more (None:
      as long again as the window) and within the schedule's sleep cap, until the sums
      converge; then give up.

    All of it is generated code (custom events and one small controller group per network), so
    it runs in the compiled simulation without Python in the loop.

    Parameters
    ----------
    groups : mapping of str to sequence of str
        Group name -> the pathways whose |w| it sums (the authors' groups:
        ``models/paper.py``, ``authors_exit``).
    tol : float
        Relative tolerance of every sum around its target (authors: 1e-3).
    beta : float
        Target = beta x the group's sum at the start of the run (authors: 1.0).
    on_timeout : str
        One of :data:`ON_TIMEOUT`.
    check_every : Quantity
        Time between checks during sleep, a multiple of the model's dt. The authors check
        every step (1 ms); see ``docs/sleep-exit.md`` for what a coarser cadence changes.
    max_extension : Quantity, optional
        ``on_timeout="extend"`` only: the longest extension past the window.
    """

    groups: Mapping
    tol: float = 1e-3
    beta: float = 1.0
    on_timeout: str = "give_up"
    check_every: b2.Quantity = field(default_factory=lambda: 1 * b2.ms)
    max_extension: b2.Quantity | None = None

    def __post_init__(self):
        owner = "SleepExit"
        if not isinstance(self.groups, Mapping) or not self.groups:
            raise ModelError(f"{owner}: groups must map a group name to its pathways, e.g. {{'exc': ('in_exc', 'exc_exc')}}.")
        groups = {}
        for name, pws in self.groups.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise ModelError(f"{owner}: group name {name!r} must be an identifier (letters, digits, _).")
            pws = (pws,) if isinstance(pws, str) else tuple(pws)
            if not pws or not all(isinstance(p, str) for p in pws):
                raise ModelError(f"{owner}: group {name!r} must list pathway names, got {pws!r}.")
            groups[name] = pws
        object.__setattr__(self, "groups", groups)
        for attr in ("tol", "beta"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ModelError(f"{owner}: {attr} = {v!r} must be a finite number >= 0.")
        if self.beta == 0:
            raise ModelError(f"{owner}: beta = 0 makes every target 0, which no sum of |w| within bounds reaches.")
        if self.on_timeout not in ON_TIMEOUT:
            raise ModelError(f"{owner}: on_timeout = {self.on_timeout!r}; expected one of {', '.join(ON_TIMEOUT)}.")
        for attr in ("check_every", "max_extension"):
            v = getattr(self, attr)
            if v is None and attr == "max_extension":
                continue
            if not isinstance(v, b2.Quantity) or v.dim is not b2.second.dim or not float(v) > 0:
                raise ModelError(f"{owner}: {attr} = {v!r} must be a positive time, e.g. 10 * brian2.ms.")
        if self.max_extension is not None and self.on_timeout != "extend":
            raise ModelError(f"{owner}: max_extension applies to on_timeout='extend' only (got {self.on_timeout!r}).")

    def check_steps(self, dt) -> int:
        """The cadence in time steps of ``dt`` (a whole number of them)."""
        n = float(self.check_every / dt)
        if abs(n - round(n)) > 1e-6 or round(n) < 1:
            raise ModelError(f"SleepExit: check_every = {self.check_every} is not a whole number of time steps (dt = {dt}).")
        return int(round(n))

    def to_dict(self) -> dict:
        return _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


@dataclass(frozen=True)
class SleepRule:
    """What sleep does to a weight, as Brian2 code applied lazily and exactly.

    The code brings a synapse up to date for the sleep steps since its last update: it reads
    ``SLEEP_CLOCK - last_sleep`` (the number of ``dt_ref`` steps slept since then; the builder
    names the clock), the weight ``w`` and the bounds ``w_lo``, ``w_hi``, and must end with
    ``last_sleep = SLEEP_CLOCK``. It runs before every spike the synapse transmits and before
    every weight snapshot, so a rule must compose: n steps applied at once must equal n single
    steps (in distribution, for a stochastic rule).

    Parameters
    ----------
    name : str
    code : str
    params : dict
        Constants of the code. A value may be a function of the :class:`Pathway`
        (e.g. a target with the pathway's sign); records store the resolved values.
    dt_ref : Quantity
        The time step the rule's rates refer to.
    needs : tuple of str
        Synapse variables the code reads besides ``w``.
    settle : callable, optional
        The same rule in numpy, ``settle(w, n_steps, constants, rng) -> w`` (before clipping),
        for the decay still owed at the end of a run. Without it the builder brings every
        weight up to date in the simulation's last step.
    description : str
    exit : SleepExit, optional
        End a sleep early once the weights are back at baseline (the authors' sleep). Only the
        model's own rule (``Model.sleep_rule``) may declare one.
    """

    name: str
    code: str
    params: Mapping = field(default_factory=dict)
    dt_ref: b2.Quantity = field(default_factory=lambda: 1 * b2.ms)
    needs: tuple = ()
    settle: Callable | None = None
    description: str = ""
    exit: SleepExit | None = None

    def __post_init__(self):
        owner = f"SleepRule {self.name}"
        if "SLEEP_CLOCK" not in self.code or "last_sleep" not in self.code:
            raise ModelError(
                f"{owner}: its code must use SLEEP_CLOCK - last_sleep (the sleep steps owed) and end with "
                "'last_sleep = SLEEP_CLOCK'; see sleep_brian.sleep_rules for examples."
            )
        if not isinstance(self.dt_ref, b2.Quantity) or self.dt_ref.dim is not b2.second.dim:
            raise ModelError(f"{owner}: dt_ref = {self.dt_ref!r} must be a time, e.g. 1 * brian2.ms.")
        _check_params(owner, self.params)
        if self.exit is not None and not isinstance(self.exit, SleepExit):
            raise ModelError(f"{owner}: exit must be a SleepExit or None, got {self.exit!r}.")

    def constants(self, pathway: "Pathway") -> dict:
        """The rule's constants for ``pathway`` (functions of the pathway evaluated)."""
        out = {}
        for k, v in self.params.items():
            out[k] = v(pathway) if callable(v) else v
        return out

    def to_dict(self, pathway: "Pathway | None" = None) -> dict:
        d = {"name": self.name, "code": self.code, "dt_ref": _plain(self.dt_ref), "needs": list(self.needs),
             "description": self.description, "settle": _plain(self.settle) if self.settle else None}  # fmt: skip
        d["params"] = _plain(self.constants(pathway)) if pathway is not None else _plain(dict(self.params))
        if self.exit is not None:  # only when declared, so that other rules keep their keys
            d["exit"] = self.exit.to_dict()
        return d


# ---- connection rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Bernoulli:
    """Each (source, target) pair is connected independently with probability ``p``.

    ``allow_self=False`` (a population onto itself) drops i == j; ``exclude_reciprocal_of``
    names a pathway in the opposite direction whose pairs this one must not repeat (the paper's
    I->E synapse is dropped where E->I exists).
    """

    p: float
    allow_self: bool = True
    exclude_reciprocal_of: str | None = None

    def __post_init__(self):
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float, np.floating)) or not 0 <= self.p <= 1:
            raise ModelError(f"Bernoulli(p={self.p!r}): p is a probability and must lie in [0, 1].")

    def draw(self, n_source: int, n_target: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random((n_source, n_target)) < self.p


@dataclass(frozen=True)
class OneToOne:
    """Neuron k onto neuron k (both populations of the same size)."""

    allow_self: bool = True
    exclude_reciprocal_of: str | None = None

    def draw(self, n_source: int, n_target: int, rng) -> np.ndarray:
        if n_source != n_target:
            raise ModelError(f"OneToOne needs populations of equal size, got {n_source} -> {n_target}.")
        return np.eye(n_source, dtype=bool)


@dataclass(frozen=True)
class AllToAll:
    """Every source neuron onto every target neuron (``allow_self=False``: not onto itself)."""

    allow_self: bool = True
    exclude_reciprocal_of: str | None = None

    def draw(self, n_source: int, n_target: int, rng) -> np.ndarray:
        return np.ones((n_source, n_target), dtype=bool)


@dataclass(frozen=True)
class AllToAllButSame:
    """Every source neuron onto every target neuron except the one of the same index (two
    populations of equal size, e.g. lateral inhibition from an inhibitory partner population
    onto all excitatory neurons but its own partner). Onto itself it is ``AllToAll(allow_self=False)``."""

    allow_self: bool = True
    exclude_reciprocal_of: str | None = None

    def draw(self, n_source: int, n_target: int, rng) -> np.ndarray:
        if n_source != n_target:
            raise ModelError(f"AllToAllButSame needs populations of equal size, got {n_source} -> {n_target}.")
        return ~np.eye(n_source, dtype=bool)


_CONNECTIONS = (Bernoulli, OneToOne, AllToAll, AllToAllButSame)


# ---- initial weight distributions -----------------------------------------------------------


@dataclass(frozen=True)
class Uniform:
    """Initial weights drawn independently and uniformly from [low, high).

    The builder draws one (n_source, n_target) matrix per pathway with numpy, from the run's
    ``initial_weights`` stream (:data:`sleep_brian.experiment.STREAMS`), after all connections
    are drawn; synapse (i, j) starts at entry [i, j], so a pair's weight does not depend on
    which other pairs are connected.
    """

    low: float
    high: float

    def __post_init__(self):
        for k in ("low", "high"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v):
                raise ModelError(f"Uniform({k}={v!r}): {k} must be a finite number.")
        if not self.low < self.high:
            raise ModelError(f"Uniform(low={self.low}, high={self.high}): low must be below high.")

    @property
    def mean(self) -> float:
        return 0.5 * (float(self.low) + float(self.high))

    def draw(self, n_source: int, n_target: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(float(self.low), float(self.high), size=(n_source, n_target))


_WEIGHT_INITS = (Uniform,)


# ---- populations and pathways ---------------------------------------------------------------


@dataclass(frozen=True)
class InputLayer:
    """The input population: one Bernoulli spike source per pixel, driven by the images while
    awake and silent while asleep. ``encoding`` says how intensities become probabilities."""

    name: str = "inputs"
    encoding: InputParams = field(default_factory=InputParams)
    side: int | None = None  # shorthand for encoding.side

    def __post_init__(self):
        _check_name("input layer", self.name)
        if not isinstance(self.encoding, InputParams):
            raise ModelError(f"InputLayer.encoding must be an InputParams, got {type(self.encoding).__name__}.")
        if self.side is not None:
            object.__setattr__(self, "encoding", self.encoding.replace(side=self.side))
            object.__setattr__(self, "side", None)

    @property
    def size(self) -> int:
        return self.encoding.side**2


@dataclass(frozen=True)
class Population:
    """``size`` neurons of one :class:`NeuronModel`."""

    name: str
    size: int
    neuron: NeuronModel

    def __post_init__(self):
        _check_name("population", self.name)
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or self.size <= 0:
            raise ModelError(f"population {self.name!r}: size = {self.size!r} must be a positive integer.")
        if not isinstance(self.neuron, NeuronModel):
            raise ModelError(f"population {self.name!r}: neuron must be a NeuronModel, got {type(self.neuron).__name__}.")


@dataclass(frozen=True)
class Pathway:
    """Synapses of ``synapse`` from population ``source`` onto ``target``.

    Parameters
    ----------
    name, source, target : str
    synapse : SynapseModel
    connect : Bernoulli, OneToOne, AllToAll or AllToAllButSame
    w0 : float, optional
        Every synapse's initial weight (clipped to the bounds). Required unless ``w_init`` is
        given; with ``w_init`` it is set to that distribution's mean (the nominal weight, which
        e.g. the stochastic sleep rule's ``baseline='initial'`` uses).
    bounds : (float, float), optional
        Hard bounds of ``w``; required for a plastic pathway or one with a sleep rule.
    inhibitory : bool
        Weights are negative (``sgn = -1`` in the synapse code).
    plastic : bool
        Whether the weights learn (``plastic_pre``/``plastic_post`` read 0 otherwise).
    sleep_rule : SleepRule, None or "model"
        What sleep does to these weights: the model's rule (default), this rule, or nothing.
    w_init : Uniform, optional
        Random initial weights instead of the constant ``w0``: drawn with numpy from the run's
        seed (stream ``initial_weights``), the same on every device; a reusable standalone build
        reads them from the ``winit_<pathway>`` matrix of :func:`sleep_brian.network.run_data`.
        The range must lie within ``bounds``.
    normalize : float, optional
        Weight normalisation per target neuron: at the start and at the end of every image shown
        in a Wake phase (when the weights learn; not in Sleep or Test), the weights onto each
        target neuron are rescaled by one factor so that their |w| sum to ``normalize``. Runs in
        generated code (a summed variable onto the target and a synaptic ``run_regularly``), on
        every lowering but ``single_clock``. The rescaled weights are not clipped (a clip would
        break the sum); the synapse code's own clipping acts at their next change.
    """

    name: str
    source: str
    target: str
    synapse: SynapseModel
    connect: Any
    w0: float | None = None
    bounds: tuple | None = None
    inhibitory: bool = False
    plastic: bool = True
    sleep_rule: Any = MODEL_DEFAULT
    w_init: Any = None
    normalize: float | None = None

    def __post_init__(self):
        _check_name("pathway", self.name)
        where = f"pathway {self.name!r}"
        if not isinstance(self.synapse, SynapseModel):
            raise ModelError(f"{where}: synapse must be a SynapseModel, got {type(self.synapse).__name__}.")
        if not isinstance(self.connect, _CONNECTIONS):
            raise ModelError(f"{where}: connect must be Bernoulli(p), OneToOne(), AllToAll() or AllToAllButSame(), got {self.connect!r}.")
        if self.w_init is not None:
            if not isinstance(self.w_init, _WEIGHT_INITS):
                raise ModelError(f"{where}: w_init must be a distribution such as Uniform(low, high), got {self.w_init!r}.")
            if self.w0 is not None:
                raise ModelError(
                    f"{where}: give w0 (a constant initial weight) or w_init (random initial weights), not both; "
                    "with w_init, w0 is the distribution's mean."
                )
            object.__setattr__(self, "w0", self.w_init.mean)
        elif self.w0 is None:
            raise ModelError(f"{where}: needs an initial weight: w0=<number> or w_init=Uniform(low, high).")
        if isinstance(self.w0, bool) or not isinstance(self.w0, (int, float, np.floating)) or not np.isfinite(self.w0):
            raise ModelError(f"{where}: w0 = {self.w0!r} must be a finite number.")
        sign = "<= 0" if self.inhibitory else ">= 0"
        if (self.w0 > 0) if self.inhibitory else (self.w0 < 0):
            raise ModelError(f"{where}: w0 = {self.w0} must be {sign} for an {'in' if self.inhibitory else 'ex'}citatory pathway.")
        if self.bounds is not None:
            if not (isinstance(self.bounds, tuple) and len(self.bounds) == 2 and float(self.bounds[0]) < float(self.bounds[1])):
                raise ModelError(f"{where}: bounds = {self.bounds!r} must be a pair (low, high) with low < high.")
            lo, hi = self.bounds
            if (hi > 0) if self.inhibitory else (lo < 0):
                raise ModelError(f"{where}: bounds {self.bounds} must be {sign} (the weights' sign).")
        if self.plastic and not self.synapse.gated:
            raise ModelError(
                f"{where}: plastic, but its synapse code never reads plastic_post (on_pre) or plastic_pre "
                "(on_post), so it would learn during tests too; gate the weight change with them, or "
                "declare plastic=False."
            )
        if self.sleep_rule is not None and self.sleep_rule != MODEL_DEFAULT and not isinstance(self.sleep_rule, SleepRule):
            raise ModelError(f"{where}: sleep_rule must be a SleepRule, None or 'model', got {self.sleep_rule!r}.")
        if self.w_init is not None:
            lo_w, hi_w = float(self.w_init.low), float(self.w_init.high)
            if (hi_w > 0) if self.inhibitory else (lo_w < 0):
                raise ModelError(f"{where}: w_init {self.w_init} must be {sign} for an {'in' if self.inhibitory else 'ex'}citatory pathway.")
            if self.bounds is not None and not (float(self.bounds[0]) <= lo_w and hi_w <= float(self.bounds[1])):
                raise ModelError(f"{where}: w_init {self.w_init} must lie within bounds {self.bounds}; narrow it or widen the bounds.")
        if self.normalize is not None:
            n = self.normalize
            if isinstance(n, bool) or not isinstance(n, (int, float, np.floating, np.integer)) or not np.isfinite(n) or not n > 0:
                raise ModelError(
                    f"{where}: normalize = {n!r} must be a positive number (the sum of |w| onto each target "
                    "neuron), or None for no normalisation."
                )

    @property
    def sign(self) -> float:
        return -1.0 if self.inhibitory else 1.0

    @property
    def sum_variable(self) -> str:
        """The target-group variable that holds the summed weights of a normalised pathway."""
        return f"wsum_{self.name}"

    def initial_weight(self) -> float:
        """Every synapse's starting weight: ``w0`` within the bounds (with ``w_init``: its mean,
        the nominal weight; the synapses start at the drawn values)."""
        return float(np.clip(self.w0, *self.bounds)) if self.bounds is not None else float(self.w0)


# ---- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A whole network: input layer, populations, pathways, sleep rule, readout.

    Parameters
    ----------
    name : str
        Labels records and sweeps; two different declarations should not share one.
    inputs : InputLayer
    populations : sequence of Population
    pathways : sequence of Pathway
        Connectivity is drawn in this order from the run's seed.
    readout : str
        The population whose spike counts the readouts use.
    sleep_rule : SleepRule, optional
        The rule of every pathway that does not declare its own.
    dt : Quantity
        Simulation time step.
    schedule : ScheduleParams, optional
        The protocol this model is run with by default (``None``: :class:`ScheduleParams`).
    description, reference : str
    """

    name: str
    inputs: InputLayer
    populations: tuple
    pathways: tuple
    readout: str
    sleep_rule: SleepRule | None = None
    dt: b2.Quantity = field(default_factory=lambda: 1 * b2.ms)
    schedule: ScheduleParams | None = None
    description: str = ""
    reference: str = ""

    def __post_init__(self):
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "pathways", tuple(self.pathways))
        self.check()

    # -- look-ups
    @property
    def groups(self) -> dict[str, int]:
        """Size of every group, the input layer first."""
        return {self.inputs.name: self.inputs.size, **{p.name: p.size for p in self.populations}}

    def population(self, name: str) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise ModelError(f"model {self.name!r} has no population {name!r}; it has {', '.join(p.name for p in self.populations)}.")

    def pathway(self, name: str) -> Pathway:
        for p in self.pathways:
            if p.name == name:
                return p
        raise ModelError(f"model {self.name!r} has no pathway {name!r}; it has {', '.join(self.pathway_names)}.")

    @property
    def pathway_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.pathways)

    def rule_of(self, pathway: Pathway) -> SleepRule | None:
        """The sleep rule acting on ``pathway`` (its own, the model's, or None)."""
        return self.sleep_rule if pathway.sleep_rule == MODEL_DEFAULT else pathway.sleep_rule

    def input_pathways(self, target: str | None = None) -> list[Pathway]:
        """Pathways from the input layer (onto ``target`` if given): the receptive fields."""
        return [p for p in self.pathways if p.source == self.inputs.name and (target is None or p.target == target)]

    def replace(self, **changes) -> "Model":
        """A copy with ``changes`` applied (checked again)."""
        return dataclasses.replace(self, **changes)

    def with_sleep_rule(self, rule: SleepRule | None) -> "Model":
        """The same model with ``rule`` as its sleep rule."""
        return self.replace(sleep_rule=rule)

    # -- checking
    def check(self) -> "Model":
        """Check the declaration as a whole; raise :class:`ModelError` naming the fix."""
        if not isinstance(self.name, str) or not self.name:
            raise ModelError("a Model needs a name (it labels records and sweeps).")
        if not isinstance(self.inputs, InputLayer):
            raise ModelError(f"model {self.name!r}: inputs must be an InputLayer, got {type(self.inputs).__name__}.")
        for p in self.populations:
            if not isinstance(p, Population):
                raise ModelError(f"model {self.name!r}: populations must be Population objects, got {p!r}.")
        for p in self.pathways:
            if not isinstance(p, Pathway):
                raise ModelError(f"model {self.name!r}: pathways must be Pathway objects, got {p!r}.")
        if not self.populations:
            raise ModelError(f"model {self.name!r} has no populations; declare at least the one that is read out.")
        seen: dict[str, str] = {}
        reserved = {"sleep_net"} | _BUILDER_NAMES
        for kind, name in [("input layer", self.inputs.name), *(("population", p.name) for p in self.populations),
                           *(("pathway", p.name) for p in self.pathways)]:  # fmt: skip
            if name in seen:
                raise ModelError(f"model {self.name!r}: the name {name!r} is used by a {seen[name]} and a {kind}; names must be unique.")
            if name in reserved or name.startswith(("spikes_", "w_")):
                raise ModelError(f"model {self.name!r}: {kind} name {name!r} is reserved by the builder; rename it.")
            seen[name] = kind
        groups = self.groups
        if self.readout in groups and self.readout != self.inputs.name and self.population(self.readout).neuron.threshold is None:
            raise ModelError(f"model {self.name!r}: readout {self.readout!r} has no threshold, so no spikes to read out.")
        if self.readout not in groups or self.readout == self.inputs.name:
            raise ModelError(
                f"model {self.name!r}: readout {self.readout!r} must name one of its populations "
                f"({', '.join(p.name for p in self.populations)})."
            )
        if not isinstance(self.dt, b2.Quantity) or self.dt.dim is not b2.second.dim or not float(self.dt) > 0:
            raise ModelError(f"model {self.name!r}: dt = {self.dt!r} must be a positive time, e.g. 1 * brian2.ms.")
        rules = []
        for pw in self.pathways:
            where = f"model {self.name!r}, pathway {pw.name!r}"
            for end in (pw.source, pw.target):
                if end not in groups:
                    raise ModelError(f"{where}: unknown population {end!r}; known: {', '.join(groups)}.")
            if pw.target == self.inputs.name:
                raise ModelError(f"{where}: the input layer {pw.target!r} cannot be a target (it is driven by the images).")
            if isinstance(pw.connect, Bernoulli) and pw.connect.p == 0:
                raise ModelError(f"{where}: connection probability 0 gives no synapses; remove the pathway instead.")
            if not pw.connect.allow_self and pw.source != pw.target:
                raise ModelError(
                    f"{where}: allow_self=False only applies to a population onto itself; between two "
                    "populations of equal size, AllToAllButSame() leaves out the pairs of equal index."
                )
            if isinstance(pw.connect, (OneToOne, AllToAllButSame)) and groups[pw.source] != groups[pw.target]:
                raise ModelError(
                    f"{where}: {type(pw.connect).__name__}() needs populations of equal size, got "
                    f"{pw.source} ({groups[pw.source]}) -> {pw.target} ({groups[pw.target]})."
                )
            if pw.normalize is not None:
                declared = self.population(pw.target).neuron.variables
                if pw.sum_variable in declared:
                    raise ModelError(
                        f"{where}: normalize adds the variable {pw.sum_variable!r} to {pw.target!r}, whose "
                        "equations already declare it; rename that variable."
                    )
            other = pw.connect.exclude_reciprocal_of
            if other is not None:
                names = [p.name for p in self.pathways]
                if other not in names:
                    raise ModelError(f"{where}: exclude_reciprocal_of names an unknown pathway {other!r}; known: {', '.join(names)}.")
                o = self.pathway(other)
                if (o.source, o.target) != (pw.target, pw.source):
                    raise ModelError(f"{where}: exclude_reciprocal_of={other!r}, but {other} runs {o.source}->{o.target}, not {pw.target}->{pw.source}.")
                if names.index(other) > names.index(pw.name):
                    raise ModelError(f"{where}: exclude_reciprocal_of={other!r} must name a pathway declared before it.")
            rule = self.rule_of(pw)
            if (pw.plastic or rule is not None) and pw.bounds is None:
                raise ModelError(
                    f"{where}: a plastic pathway (or one with a sleep rule) needs bounds=(low, high) for its weights."
                )
            if rule is not None:
                rules.append(rule)
                missing = set(rule.needs) - pw.synapse.variables
                if missing:
                    raise ModelError(f"{where}: sleep rule {rule.name!r} needs synapse variable(s) {sorted(missing)}, which its synapse model does not declare.")
                try:
                    rule.constants(pw)
                except ModelError:
                    raise
                except Exception as exc:  # a parameter function failed on this pathway
                    raise ModelError(f"{where}: sleep rule {rule.name!r}: its parameters cannot be evaluated: {exc}") from None
        self._check_exit(rules)
        if len({float(r.dt_ref) for r in rules}) > 1:
            raise ModelError(f"model {self.name!r}: its sleep rules use different dt_ref; the sleep clock counts in one.")
        if self.schedule is not None and not isinstance(self.schedule, ScheduleParams):
            raise ModelError(f"model {self.name!r}: schedule must be a ScheduleParams, got {type(self.schedule).__name__}.")
        return self

    @property
    def sleep_exit(self) -> SleepExit | None:
        """The early end of sleep the model's rule declares (:class:`SleepExit`), or None."""
        return self.sleep_rule.exit if self.sleep_rule is not None else None

    def _check_exit(self, rules: list) -> None:
        for rule in rules:
            if rule is not self.sleep_rule and rule.exit is not None:
                raise ModelError(
                    f"model {self.name!r}: the sleep rule {rule.name!r} of a pathway declares an exit; a sleep ends for "
                    "the whole network, so only the model's sleep_rule may declare one."
                )
        ex = self.sleep_exit
        if ex is None:
            return
        where = f"model {self.name!r}, sleep exit"
        names, seen = self.pathway_names, {}
        for group, pws in ex.groups.items():
            for pw in pws:
                if pw not in names:
                    raise ModelError(f"{where}: group {group!r} names an unknown pathway {pw!r}; known: {', '.join(names)}.")
                if pw in seen:
                    raise ModelError(f"{where}: pathway {pw!r} is in groups {seen[pw]!r} and {group!r}; a weight counts once.")
                seen[pw] = group
                if self.pathway(pw).bounds is None and ex.on_timeout == "scale_to_target":
                    raise ModelError(f"{where}: scale_to_target clips to the bounds, but pathway {pw!r} declares none.")
        ex.check_steps(self.dt)

    # -- records
    def to_dict(self) -> dict:
        """The whole declaration, equations included, as JSON-safe data (what a record holds)."""
        return {
            "name": self.name,
            "description": self.description,
            "reference": self.reference,
            "dt": _plain(self.dt),
            "inputs": {"name": self.inputs.name, "size": self.inputs.size, "encoding": to_dict(self.inputs.encoding)},
            "populations": [{"name": p.name, "size": int(p.size), "neuron": p.neuron.to_dict()} for p in self.populations],
            "pathways": [
                {
                    "name": p.name, "source": p.source, "target": p.target, "synapse": p.synapse.to_dict(),
                    "connect": {"rule": type(p.connect).__name__, **_plain(p.connect)}, "w0": float(p.w0),
                    "bounds": [float(b) for b in p.bounds] if p.bounds is not None else None,
                    "inhibitory": bool(p.inhibitory), "plastic": bool(p.plastic),
                    "sleep_rule": self.rule_of(p).to_dict(p) if self.rule_of(p) is not None else None,
                    # Only when declared, so that the keys of models without them stay as they were.
                    **({"w_init": {"rule": type(p.w_init).__name__, **_plain(p.w_init)}} if p.w_init is not None else {}),
                    **({"normalize": float(p.normalize)} if p.normalize is not None else {}),
                }  # fmt: skip
                for p in self.pathways
            ],
            "readout": self.readout,
            "schedule": to_dict(self.schedule) if self.schedule is not None else None,
        }

    def key(self) -> str:
        """A short hash of :meth:`to_dict`: equal keys, equal declarations."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
