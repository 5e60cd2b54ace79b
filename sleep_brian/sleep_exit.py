"""The authors' early end of sleep (:class:`~sleep_brian.model.SleepExit`), as generated code.

A sleep ends for the whole network, so its state lives in one small controller group,
``sleep_exit``, with one neuron per replica; every group reads the controller's ``exited`` (as
``exit_off``) and ``due`` (as ``exit_due``) through Brian2 linked variables. Per step:

=====================  ======================================================================
slot, order            what runs
=====================  ======================================================================
start, -40             controller: is the schedule asleep; did an episode just end without
                       converging (``ending``); ``exited`` back to 0 outside sleep; is a check
                       due (every ``check_every`` of sleep not yet exited, and once at t = 0
                       to measure the targets); count the step if slept
before_thresholds      every group: ``sleep``/``plastic`` = schedule x (1 - exit_off), so an
                       exited episode idles like a Rest phase (and the sleep clock stops)
thresholds             event ``exit_check`` (``exit_due > 0.5``) of the groups at either end of
                       a summed pathway; ``exit_end`` (``exit_due > 1.5``) of their sources
synapses, -10          pathway ``exit_sum`` of each summed pathway: bring the weight up to date
                       with the sleep rule, add |w| to its target neuron's ``exit_acc_<group>``
synapses, -9           a reducer (Synapses neuron -> controller) adds the neurons' sums into
                       the controller's ``sum_<group>``; -8: the neurons' sums back to 0
synapses, -7           controller: the targets at t = 0 (beta x sum); at a check, ``exited`` = 1
                       when every sum is within tol of its target; the scale factors
synapses, -6, -5       ``scale_to_target`` only, at an episode's end: the sources copy their
                       groups' factors (target / sum; synapses cannot read a linked variable),
                       and pathway ``exit_scale`` multiplies w by its factor and clips
synapses, -2 ...       the decay events and STDP, as without an exit
=====================  ======================================================================

A check at step k measures the weights decayed through step k - 1 (before step k's STDP); when
it converges, step k is still slept and the idle time starts at step k + 1. The ``slept``,
``exits`` and ``scales`` counters of the controller are sampled at every slot start: each
sleep's actual length and how it ended are read from them (:func:`sleep_episodes`).

This runs on numpy, cython, cpp_standalone and cuda_standalone (brian2cuda generates and
compiles it: ``tests/test_cuda.py``). The teaching lowering sets the regime from Python, and the
single-clock lowering (GeNN) cannot build the sum: the exit must add up every synapse's weight
of a pathway, and brian2genn 1.7 offers no way to do so. It has no custom events and no linked
variables; it allows a summed variable only on a Synapses that writes no output variable
(every pathway here adds to its target's conductance); and a synaptic ``run_regularly`` runs
on the host over the Synapses' own variables only (it cannot write a neuron's). Both refuse an
exit (``docs/sleep-exit.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import brian2 as b2
import numpy as np

from sleep_brian.errors import ConfigError
from sleep_brian.model import Model, SleepExit
from sleep_brian.timeline import Timeline

__all__ = ["ASLEEP_COUNT", "CONTROLLER", "ExitPlan", "exit_plan", "gate_regime", "controller", "sleep_episodes", "SLEEP_ENDS"]

#: The controller group's name.
CONTROLLER = "sleep_exit"
#: Why a sleep episode ended: the weights converged; it ran its window; the sleep cap (or, with
#: ``extend``, the longest extension) stopped it.
SLEEP_ENDS = ("converged", "window", "cap")
#: Per neuron of a spiking population: its spikes while asleep (the exit's idle time excluded).
ASLEEP_COUNT = "spikes_asleep"
#: Events of the groups at the ends of a summed pathway.
CHECK_EVENT, END_EVENT = "exit_check", "exit_end"

_START = """
asleep_now = int(sleep_schedule(t) > 0.5)
ending = was_asleep * (1 - asleep_now) * (1 - exited) * scale_mode
exited = exited * asleep_now
was_asleep = asleep_now
check = asleep_now * (1 - exited) * int(t_in_timesteps % check_steps == 0)
due = int(check + int(t_in_timesteps == 0) + ending > 0.5) + ending
slept = slept + asleep_now * (1 - exited)
"""


@dataclass
class ExitPlan:
    """Which groups and pathways take part in the exit of one build."""

    exit: SleepExit
    check_steps: int
    #: pathway -> its group
    group_of: dict = field(default_factory=dict)
    #: population -> the groups whose sums its neurons accumulate (targets of summed pathways)
    accumulates: dict = field(default_factory=dict)
    #: group (input layer or population) -> the groups of the summed pathways it is the source of
    sources: dict = field(default_factory=dict)

    @property
    def scaling(self) -> bool:
        return self.exit.on_timeout == "scale_to_target"

    def emits(self, group: str) -> bool:
        """Whether ``group`` emits the check event (it is at an end of a summed pathway)."""
        return group in self.accumulates or group in self.sources

    def declarations(self, group: str) -> str:
        """The variables the exit adds to ``group``."""
        lines = ["exit_off : 1 (linked)"]
        if self.emits(group):
            lines.append("exit_due : 1 (linked)")
        lines += [f"exit_acc_{g} : 1" for g in self.accumulates.get(group, ())]
        if self.scaling:
            # Synapses cannot read a linked variable of their source: a copy, taken at an end.
            for g in self.sources.get(group, ()):
                lines += [f"exit_link_scale_{g} : 1 (linked)", f"exit_scale_{g} : 1"]
        return "\n".join(lines)

    def events(self, group: str) -> dict:
        ev = {}
        if self.emits(group):
            ev[CHECK_EVENT] = "exit_due > 0.5"
        if self.scaling and group in self.sources:
            ev[END_EVENT] = "exit_due > 1.5"
        return ev


def exit_plan(model: Model, lowering: str) -> ExitPlan | None:
    """The exit of ``model`` for a build with ``lowering``, or None when it declares none."""
    ex = model.sleep_exit
    if ex is None:
        return None
    if lowering != "timed_array":
        raise ConfigError(
            f"model {model.name!r} declares a sleep exit, which is built for the timed_array lowering (numpy, cython, "
            f"cpp_standalone, cuda_standalone) only; the {lowering} lowering "
            + ("(GeNN) cannot sum a pathway's weights: no custom events, no linked variables, and no summed "
               "variable beside a pathway's output" if lowering == "single_clock" else "sets the regime from Python")
            + ". Run on numpy, cython, cpp_standalone or cuda_standalone, or declare the model's sleep rule without exit."
        )  # fmt: skip
    plan = ExitPlan(ex, ex.check_steps(model.dt))
    for group, pws in ex.groups.items():
        for name in pws:
            pw = model.pathway(name)
            plan.group_of[name] = group
            acc = plan.accumulates.setdefault(pw.target, [])
            if group not in acc:
                acc.append(group)
            src = plan.sources.setdefault(pw.source, [])
            if group not in src:
                src.append(group)
    return plan


def gate_regime(code: str) -> str:
    """Regime code (:data:`~sleep_brian.equations.REGIME_UPDATE`, the noise event's test) whose
    sleep and plasticity are off once the episode has exited."""
    return code.replace("sleep_schedule(t)", "(sleep_schedule(t) * (1 - exit_off))").replace(
        "plastic_schedule(t)", "(plastic_schedule(t) * (1 - exit_off))"
    )


def sum_code(plan: ExitPlan, pathway: str, decay_code: str) -> str:
    """The ``exit_sum`` pathway's code: the weight up to date, then its |w| into the target's sum."""
    return decay_code.rstrip() + f"\nexit_acc_{plan.group_of[pathway]}_post += abs(w)\n"


def scale_code(plan: ExitPlan, pathway: str) -> str:
    """The ``exit_scale`` pathway's code (``scale_to_target``): the group's factor, then the bounds."""
    return f"w = clip(w * exit_scale_{plan.group_of[pathway]}_pre, w_lo, w_hi)\n"


def controller(plan: ExitPlan, k: int, schedule: dict, code, clock: dict) -> b2.NeuronGroup:
    """The controller group (one neuron per replica), with its start-of-step and decision code.

    ``schedule``: the sleep schedule's TimedArray by name; ``code``: the build's per-replica
    rewriting of schedule reads (``_Context.code``); ``clock``: the build's clock arguments."""
    groups = list(plan.exit.groups)
    eqs = ["exited : 1", "was_asleep : 1", "ending : 1", "check : 1", "due : 1", "slept : 1", "exits : integer",
           "scales : integer", "replica : integer (constant)"]  # fmt: skip
    for g in groups:
        eqs += [f"sum_{g} : 1", f"target_{g} : 1", f"scale_{g} : 1"]
    ns = dict(schedule, check_steps=plan.check_steps, tol=float(plan.exit.tol), beta=float(plan.exit.beta),
              scale_mode=1 if plan.scaling else 0)  # fmt: skip
    ctrl = b2.NeuronGroup(k, "\n".join(eqs), namespace=ns, name=CONTROLLER, **clock)
    ctrl.replica = np.arange(k)
    for g in groups:
        setattr(ctrl, f"scale_{g}", 1.0)
    ctrl.run_regularly(code(_START), when="start", order=-40)
    near = " * ".join(f"int(abs(sum_{g} - target_{g}) <= tol * abs(target_{g}))" for g in groups)
    decide = [f"target_{g} = target_{g} + int(t_in_timesteps == 0) * beta * sum_{g}" for g in groups]
    decide += [f"exits = exits + int(check * {near} > 0.5)", f"exited = exited + (1 - exited) * check * {near}"]
    # A sum of 0 (every weight at 0) cannot be scaled: the factor stays 1 there.
    decide += [f"scale_{g} = 1 + ending * (target_{g} / (sum_{g} + int(sum_{g} == 0)) - 1) * int(sum_{g} > 0)"
               for g in groups]  # fmt: skip
    decide += ["scales = scales + int(ending > 0.5)"] + [f"sum_{g} = 0" for g in groups]
    ctrl.run_regularly("\n".join(decide), when="synapses", order=-7)
    return ctrl


def link(plan: ExitPlan, ctrl: b2.NeuronGroup, group: b2.NeuronGroup, name: str, n: int, k: int) -> None:
    """Point ``group``'s linked exit variables at the controller neuron of each neuron's replica."""
    index = np.repeat(np.arange(k), n)
    group.exit_off = b2.linked_var(ctrl, "exited", index=index)
    if plan.emits(name):
        group.exit_due = b2.linked_var(ctrl, "due", index=index)
    if plan.scaling:
        for g in plan.sources.get(name, ()):
            setattr(group, f"exit_link_scale_{g}", b2.linked_var(ctrl, f"scale_{g}", index=index))
        if plan.sources.get(name):
            group.run_on_event(END_EVENT, "\n".join(f"exit_scale_{g} = exit_link_scale_{g}" for g in plan.sources[name]),
                               when="synapses", order=-6)


def reducer(plan: ExitPlan, ctrl: b2.NeuronGroup, group: b2.NeuronGroup, name: str, n: int, k: int,
            clock: dict) -> b2.Synapses:
    """Synapses from ``group``'s neurons to their replica's controller neuron that add the
    neurons' sums into the controller's (at a check), and the reset of the neurons' sums.
    ``clock``: the build's clock arguments (on the groups' dt, so Brian2 has no clock mismatch)."""
    gs = plan.accumulates[name]
    R = b2.Synapses(group, ctrl, on_pre={"reduce": "\n".join(f"sum_{g}_post += exit_acc_{g}_pre" for g in gs)},
                    on_event={"reduce": CHECK_EVENT}, delay={"reduce": 0 * b2.ms}, name=f"{CONTROLLER}_{name}", **clock)  # fmt: skip
    R.connect(i=np.arange(n * k), j=np.repeat(np.arange(k), n))
    R.reduce.order = -9
    group.run_on_event(CHECK_EVENT, "\n".join(f"exit_acc_{g} = 0" for g in gs), when="synapses", order=-8)
    return R


def sleep_episodes(timeline: Timeline, arrays: dict, on_timeout: str | None) -> list[dict]:
    """Each sleep of a run: where it starts, its planned, scheduled and actual length (s), and
    why it ended (:data:`SLEEP_ENDS`).

    ``arrays``: the run's read-back arrays; with an exit they hold the controller's counters at
    every slot start (``exit_slept``, ``exit_exits``, ``exit_scales``). Without them (no exit),
    every sleep lasts as scheduled."""
    dt = float(timeline.dt)
    slot = timeline.slot_steps
    out = []
    for span in timeline.spans_of("sleep"):
        scheduled = span.stop_step - span.start_step
        planned = span.planned_steps if span.planned_steps is not None else scheduled
        a, b = span.start_step // slot, span.stop_step // slot
        if "exit_slept" in arrays:
            actual = slept_stop(timeline, arrays, span) - span.start_step
            converged = int(arrays["exit_exits"][b] - arrays["exit_exits"][a]) > 0
            scaled = (not converged and b + 1 < len(arrays["exit_scales"])
                      and int(arrays["exit_scales"][b + 1] - arrays["exit_scales"][b]) > 0)  # fmt: skip
        else:
            actual, converged, scaled = scheduled, False, False
        if converged:
            reason = "converged"
        elif scheduled < planned or (on_timeout == "extend" and scheduled > planned):
            reason = "cap"
        else:
            reason = "window"
        out.append({"start_s": span.start_step * dt, "planned_s": planned * dt, "scheduled_s": scheduled * dt,
                    "actual_s": actual * dt, "ended": reason, "scaled": bool(scaled)})  # fmt: skip
    return out


def slept_stop(timeline: Timeline, arrays: dict, span) -> int:
    """The step at which ``span`` (a sleep) stopped sleeping: its end, or earlier if it exited."""
    if "exit_slept" not in arrays:
        return span.stop_step
    slot = timeline.slot_steps
    slept = arrays["exit_slept"]
    return span.start_step + int(round(float(slept[span.stop_step // slot] - slept[span.start_step // slot])))
