"""MkDocs hook: put the code's own equations and parameter defaults into the docs at build time.

A page writes a marker where a piece of the code belongs, and this hook replaces it while the
site is built, so the pages cannot drift from what the simulations run:

``<!-- sleep-brian:equation NAME -->``
    the Brian2 string ``sleep_brian.equations.NAME``, as a code block;
``<!-- sleep-brian:params GROUP -->``
    a table of the defaults of ``models.paper.PaperParams`` (GROUP: neuron, connectivity, stdp,
    sleep, input, network) or of ``sleep_brian.params.ScheduleParams`` (GROUP: schedule), each
    value in its declared unit, with what it means and where the number comes from;
``<!-- sleep-brian:file PATH -->``
    the file PATH of the repository (relative to mkdocs.yml), whole, as a Python code block;
``<!-- sleep-brian:default-model -->``
    the name of the default model (``sleep_brian.models.DEFAULT_MODEL``), inline;
``<!-- sleep-brian:notebook PATH -->``
    the notebook PATH (relative to mkdocs.yml) rendered: its markdown cells as they are, its
    code cells as Python blocks (the notebooks are kept without outputs; CI runs them).

An unknown marker, a parameter without a source below or a source for a parameter that no
longer exists fails the build. ``model.md`` must show every equation in ``REQUIRED``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import brian2 as b2
from mkdocs.exceptions import PluginError

MARKER = re.compile(r"<!--\s*sleep-brian:([a-z-]+)\s*([^\s>]*)\s*-->")

#: The equations the model page must render (the paper's model as the code runs it).
REQUIRED = ("LIF_ADAPTIVE", "LIF_THRESHOLD", "LIF_RESET", "STDP_MODEL", "STDP_ON_PRE", "STDP_ON_POST",
            "POWER_LAW_DECAY", "STOCHASTIC_DECAY")

PAPER = "paper"
AUTHORS = "authors' code"
#: Where each default comes from: the paper's text, the authors' published code, or this package
#: (with the reason). Keyed by the parameter's dotted name.
SOURCES = {
    "neuron.tau_m": PAPER,
    "neuron.tau_syn": PAPER,
    "neuron.R": PAPER + " (30, in its units: dimensionless weights, mV)",
    "neuron.v_rest": PAPER,
    "neuron.v_reset": PAPER,
    "neuron.v_min": PAPER,
    "neuron.v_max": PAPER,
    "neuron.v_th0": PAPER,
    "neuron.th_min": PAPER,
    "neuron.th_max": PAPER,
    "neuron.tau_a": PAPER,
    "neuron.delta_a": PAPER,
    "neuron.noise_sd": PAPER + " (sleep only)",
    "neuron.noise_dt_ref": PAPER + " (sd given per 1 ms step)",
    "neuron.syn_dt_ref": "ours: reproduces the paper's per-step sum of weights at any dt",
    "connectivity.n_input": PAPER + " (15 x 15 images)",
    "connectivity.n_exc": PAPER,
    "connectivity.n_inh": PAPER,
    "connectivity.input_e": PAPER,
    "connectivity.e_e": PAPER + " (no self-connections)",
    "connectivity.e_i": PAPER,
    "connectivity.i_e": PAPER,
    "connectivity.remove_reciprocal_ie": PAPER,
    "stdp.rule": "ours: causal; the authors' code is anti-causal (`authors`)",
    "stdp.a_plus": PAPER + " (the authors' code never applies it)",
    "stdp.a_minus": PAPER + " (the authors' code never applies it)",
    "stdp.tau_plus": PAPER,
    "stdp.tau_minus": PAPER,
    "stdp.eta": PAPER,
    "stdp.w_min_exc": PAPER,
    "stdp.w_max_exc": PAPER,
    "stdp.w_min_inh": PAPER,
    "stdp.w_max_inh": PAPER,
    "sleep.rule": PAPER + " (power law); `paper-stochastic`, the default model, sets `stochastic`",
    "sleep.lam": PAPER,
    "sleep.dt_ref": PAPER + " (one decay per 1 ms sleep step)",
    "sleep.w_tar_exc": PAPER,
    "sleep.w_tar_inh": PAPER,
    "sleep.sigma_log": "ours: the stochastic rule's stationary spread in log w",
    "sleep.baseline": "ours: the stochastic rule relaxes toward each pathway's initial weight",
    "input.side": PAPER,
    "input.gain": PAPER + " (probability per ms = intensity)",
    "input.total_intensity": AUTHORS + " (each image rescaled to this pixel sum)",
    "input.prob_dt_ref": PAPER,
    "network.dt": PAPER + " (Euler, 1 ms)",
    "network.method": PAPER,
    "schedule.sleep_fraction": "ours: a level inside the paper's reported sweet spot (10-20 %)",
    "schedule.wake_block": PAPER + " (35,000 steps of 1 ms)",
    "schedule.sleep_cap": "ours: no cap; the authors' code caps every sleep at 10 s",
    "schedule.presentation": AUTHORS + " (their published run); measured: shorter reads out worse",
    "schedule.n_train": "ours: a job of minutes (the paper: 6,000)",
    "schedule.n_fit": "ours: the readout is fitted on training images",
    "schedule.n_test": "ours (the paper: 1,000)",
    "schedule.epochs": "ours",
    "schedule.repeat_batch": "ours: none; the authors' code re-uses the same 300 images",
}

#: What a field means, where its dataclass field carries no ``doc`` of its own.
MEANINGS = {
    "neuron.v_rest": "resting potential",
    "neuron.v_reset": "potential after a spike",
    "neuron.v_max": "upper clip of the membrane potential",
    "neuron.th_max": "upper clip of the threshold",
    "connectivity.n_input": "input neurons (pixels)",
    "connectivity.n_exc": "excitatory neurons",
    "connectivity.n_inh": "inhibitory neurons",
    "connectivity.input_e": "input -> E: connection probability, initial weight",
    "connectivity.e_e": "E -> E",
    "connectivity.e_i": "E -> I",
    "connectivity.i_e": "I -> E (negative weights)",
    "connectivity.remove_reciprocal_ie": "drop I -> E where E -> I exists",
    "stdp.rule": "which spike order potentiates",
    "stdp.a_plus": "amplitude of potentiation",
    "stdp.a_minus": "amplitude of depression",
    "stdp.tau_plus": "window of potentiation",
    "stdp.tau_minus": "window of depression",
    "stdp.eta": "learning rate",
    "stdp.w_min_exc": "bounds of excitatory weights",
    "stdp.w_max_exc": "",
    "stdp.w_min_inh": "bounds of inhibitory weights",
    "stdp.w_max_inh": "",
    "sleep.rule": "`power` or `stochastic`",
    "sleep.lam": "decay factor per `dt_ref` of sleep",
    "sleep.w_tar_exc": "power-law target of excitatory weights",
    "sleep.w_tar_inh": "power-law target of inhibitory weights",
    "sleep.sigma_log": "stationary sd of log(w / w_base)",
    "sleep.baseline": "w_base: `initial` weights or the power-law `target`",
    "input.side": "images are side x side pixels",
    "input.gain": "spike probability per `prob_dt_ref` = gain x intensity",
    "input.total_intensity": "pixel sum each image is rescaled to",
    "input.prob_dt_ref": "time step of the spike probability",
    "network.method": "integration method",
    "schedule.sleep_fraction": "sleep time per wake block, as a fraction of it",
    "schedule.wake_block": "wake time between sleeps",
    "schedule.sleep_cap": "longest sleep",
    "schedule.n_train": "training images",
    "schedule.n_fit": "images the readout is fitted on",
    "schedule.n_test": "test images",
    "schedule.epochs": "passes over the training images",
    "schedule.repeat_batch": "train on the first N images, repeated",
}

_UNIT_NAMES = {"ms": ("ms", b2.ms), "second": ("s", b2.second), "mV": ("mV", b2.mV), "Hz": ("Hz", b2.Hz)}


def _value(value, unit: str | None) -> tuple[str, str]:
    """(value, unit) as table text."""
    if value is None:
        return "none", _UNIT_NAMES[unit][0] if unit in _UNIT_NAMES else ""
    if isinstance(value, b2.Quantity):
        label, scale = _UNIT_NAMES[unit] if unit in _UNIT_NAMES else (str(value.get_best_unit()), value.get_best_unit())
        return f"{float(value / scale):g}", label
    if dataclasses.is_dataclass(value):  # a pathway: p and w0
        return ", ".join(f"{f.name} = {getattr(value, f.name):g}" for f in dataclasses.fields(value)), ""
    if isinstance(value, bool):
        return str(value), ""
    if isinstance(value, (int, float)):
        return f"{value:g}", ""
    return f"`{value}`", ""


def _groups() -> dict:
    from sleep_brian.models.paper import PaperParams
    from sleep_brian.params import ScheduleParams

    p = PaperParams()
    groups = {}
    for f in dataclasses.fields(p):
        value = getattr(p, f.name)
        if dataclasses.is_dataclass(value):
            groups[f.name] = (f"PaperParams().{f.name}", value)
    groups["network"] = ("PaperParams()", p)  # its own scalar fields: dt, method
    groups["schedule"] = ("ScheduleParams()", ScheduleParams())
    return groups


def _rows(group: str, obj) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if group == "network" and dataclasses.is_dataclass(value):
            continue  # the groups above
        name = f"{group}.{f.name}"
        if name not in SOURCES:
            raise PluginError(f"docs hook: parameter {name} has no source; add it to SOURCES in {__file__}.")
        shown, unit = _value(value, f.metadata.get("unit"))
        doc = f.metadata.get("doc", "") or MEANINGS.get(name, "")
        rows.append((f"`{f.name}`", shown, unit, doc, SOURCES[name]))
    return rows


def params_table(group: str) -> str:
    groups = _groups()
    if group not in groups:
        raise PluginError(f"docs hook: no parameter group {group!r}; choose one of {', '.join(groups)}.")
    where, obj = groups[group]
    lines = [f"Defaults of `{where}`:", "", "| parameter | default | unit | meaning | source |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(group, obj)]
    return "\n".join(lines)


def _check_sources() -> None:
    groups = _groups()
    known = {f"{g}.{f.name}" for g, (_, obj) in groups.items() for f in dataclasses.fields(obj)}
    stale = sorted((set(SOURCES) | set(MEANINGS)) - known)
    if stale:
        raise PluginError(f"docs hook: SOURCES or MEANINGS name parameters that no longer exist: {', '.join(stale)}.")


def equation(name: str) -> str:
    from sleep_brian import equations

    if name not in equations.__all__ or not isinstance(getattr(equations, name), str):
        raise PluginError(f"docs hook: sleep_brian.equations has no string {name!r}.")
    code = getattr(equations, name).strip("\n")
    return f"`sleep_brian.equations.{name}`:\n\n```text\n{code}\n```"


def source_file(path: str, config) -> str:
    root = Path(config.config_file_path).resolve().parent
    file = (root / path).resolve()
    if root not in file.parents or not file.is_file():
        raise PluginError(f"docs hook: no file {path} in the repository.")
    return f"`{path}`:\n\n```python\n{file.read_text().rstrip()}\n```"


def notebook(path: str, config) -> str:
    import json

    root = Path(config.config_file_path).resolve().parent
    file = (root / path).resolve()
    if root not in file.parents or file.suffix != ".ipynb" or not file.is_file():
        raise PluginError(f"docs hook: no notebook {path} in the repository.")
    cells = json.loads(file.read_text())["cells"]
    parts = [f"*The notebook `{path}`, rendered without outputs: run it in Jupyter to see its plots.*"]
    for cell in cells:
        text = "".join(cell["source"]).rstrip()
        if not text:
            continue
        parts.append(text if cell["cell_type"] == "markdown" else f"```python\n{text}\n```")
    return "\n\n".join(parts)


def on_config(config, **kwargs):
    _check_sources()
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    from sleep_brian.models import DEFAULT_MODEL

    seen = set()

    def replace(m: re.Match) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "equation":
            seen.add(arg)
            return equation(arg)
        if kind == "params":
            return params_table(arg)
        if kind == "file":
            return source_file(arg, config)
        if kind == "default-model":
            return f"`{DEFAULT_MODEL}`"
        if kind == "notebook":
            return notebook(arg, config)
        raise PluginError(f"docs hook: unknown marker sleep-brian:{kind} in {page.file.src_path}.")

    out = MARKER.sub(replace, markdown)
    if page.file.src_path == "model.md":
        missing = [n for n in REQUIRED if n not in seen]
        if missing:
            raise PluginError(f"docs hook: model.md must render {', '.join(missing)}.")
    return out
