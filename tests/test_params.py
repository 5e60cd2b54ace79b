"""Parameter dataclasses: JSON round trip, unit parsing, immutability, re-validation."""

from __future__ import annotations

import dataclasses
import json

import brian2 as b2
import pytest

from sleep_brian import models
from sleep_brian.errors import ConfigError, SleepBrianError
from sleep_brian.models.paper import PATHWAYS, ConnectivityParams, NeuronParams, PathwayParams
from sleep_brian.models.paper import PaperParams as ModelParams
from sleep_brian.params import (
    InputParams,
    ScheduleParams,
    SleepParams,
    STDPParams,
    from_dict,
    parse_quantity,
    to_dict,
)



def _json_round_trip(d: dict) -> dict:
    text = json.dumps(d)  # must be JSON-serialisable as is, no default= hook
    return json.loads(text)


# --------------------------------------------------------------------------------------------
# to_dict / from_dict
# --------------------------------------------------------------------------------------------


def test_to_dict_is_json_safe_with_declared_units():
    d = to_dict(ModelParams())
    assert _json_round_trip(d) == d
    assert d["neuron"]["tau_m"] == {"value": 30.0, "unit": "ms"}
    assert d["neuron"]["v_rest"] == {"value": -70.0, "unit": "mV"}
    assert d["dt"] == {"value": 1.0, "unit": "ms"}
    assert d["connectivity"]["i_e"] == {"p": 0.25, "w0": -0.5}
    assert d["stdp"]["rule"] == "causal"
    assert set(d) == {f.name for f in dataclasses.fields(ModelParams)}


@pytest.mark.parametrize("cls", [NeuronParams, STDPParams, SleepParams, InputParams, ConnectivityParams])
def test_group_round_trip(cls):
    obj = cls()
    back = from_dict(cls, _json_round_trip(to_dict(obj)))
    assert type(back) is cls
    assert back == obj
    assert to_dict(back) == to_dict(obj)


def test_connectivity_round_trip_rebuilds_pathways():
    obj = ConnectivityParams(n_exc=20, e_e=PathwayParams(0.5, 0.25))
    back = from_dict(ConnectivityParams, _json_round_trip(to_dict(obj)))
    for name in PATHWAYS:
        assert isinstance(getattr(back, name), PathwayParams)
    assert back == obj


@pytest.mark.parametrize("preset", [ModelParams(), models.authors_params()], ids=["paper", "authors"])
def test_model_params_round_trip(preset):
    params = preset
    back = from_dict(ModelParams, _json_round_trip(to_dict(params)))
    for f in dataclasses.fields(ModelParams):
        assert type(getattr(back, f.name)) is type(getattr(params, f.name)), f.name
    assert back == params
    assert to_dict(back) == to_dict(params)


def test_authors_preset_differs_from_paper_in_the_dict():
    paper, authors = to_dict(ModelParams()), to_dict(models.authors_params())
    assert authors["stdp"]["rule"] == "authors" and paper["stdp"]["rule"] == "causal"
    assert authors["stdp"]["a_plus"] == 1.0 and authors["stdp"]["a_minus"] == 1.0


@pytest.mark.parametrize(
    "schedule",
    [
        ScheduleParams(),
        ScheduleParams(sleep_cap=None),
        ScheduleParams(sleep_cap=10 * b2.second),
        ScheduleParams(sleep_fraction=0.0, wake_block=1 * b2.second, presentation=20 * b2.ms, n_train=20,
                       n_fit=10, n_test=10, epochs=3),
        models.authors_schedule(),
    ],
    ids=["default", "cap_none", "cap_10s", "tiny", "authors"],
)
def test_schedule_round_trip(schedule):
    d = to_dict(schedule)
    back = from_dict(ScheduleParams, _json_round_trip(d))
    assert back == schedule
    assert to_dict(back) == d
    if schedule.sleep_cap is None:
        assert d["sleep_cap"] is None and back.sleep_cap is None
    else:
        assert d["sleep_cap"] == {"value": float(schedule.sleep_cap), "unit": "second"}
        assert b2.have_same_dimensions(back.sleep_cap, b2.second)
        assert float(back.sleep_cap) == float(schedule.sleep_cap)


def test_from_dict_unknown_key():
    d = to_dict(ScheduleParams())
    d["sleep_fractoin"] = 0.2
    with pytest.raises(ConfigError) as exc:
        from_dict(ScheduleParams, d)
    assert isinstance(exc.value, SleepBrianError)
    msg = str(exc.value)
    assert "ScheduleParams" in msg and "'sleep_fractoin'" in msg and "sleep_fraction" in msg  # lists the known


def test_from_dict_unknown_top_level_key_of_model():
    with pytest.raises(ConfigError, match="PaperParams has no parameter 'neurons'"):
        from_dict(ModelParams, {"neurons": {}})


def test_from_dict_unknown_nested_key():
    with pytest.raises(ConfigError, match="NeuronParams has no parameter 'tau_mm'"):
        from_dict(ModelParams, {"neuron": {"tau_mm": {"value": 20.0, "unit": "ms"}}})


def test_from_dict_validates_values():
    d = to_dict(ScheduleParams())
    d["sleep_fraction"] = 1.5
    with pytest.raises(ConfigError, match="sleep_fraction"):
        from_dict(ScheduleParams, d)
    d = to_dict(NeuronParams())
    d["tau_m"] = {"value": 30.0, "unit": "mV"}
    with pytest.raises(ConfigError, match="tau_m"):
        from_dict(NeuronParams, d)


# --------------------------------------------------------------------------------------------
# parse_quantity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, unit, expected",
    [
        ("100ms", "ms", 100 * b2.ms),
        ("0.1 s", "second", 0.1 * b2.second),
        ("0.1 s", "ms", 100 * b2.ms),
        ("-55 mV", "mV", -55 * b2.mV),
        ("1e2ms", "ms", 100 * b2.ms),
        ("2.5e-1 s", "second", 0.25 * b2.second),
        ("+3ms", "ms", 3 * b2.ms),
        (".5 ms", "ms", 0.5 * b2.ms),
        ("  35 second ", "second", 35 * b2.second),
        ("10 sec", "second", 10 * b2.second),
        ("100 msecond", "ms", 100 * b2.ms),
        ("250 us", "ms", 0.25 * b2.ms),
        ("-70 mvolt", "mV", -70 * b2.mV),
        ("10 Hz", "Hz", 10 * b2.Hz),
        ("1 kHz", "Hz", 1000 * b2.Hz),
    ],
)
def test_parse_quantity(text, unit, expected):
    q = parse_quantity(text, unit)
    assert isinstance(q, b2.Quantity)
    assert b2.have_same_dimensions(q, expected)
    assert float(q) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize(
    "text, unit, fragments",
    [
        ("100", "ms", ["'100' has no unit", "'100ms'"]),
        ("1e2", "ms", ["has no unit"]),
        ("ms", "ms", ["cannot read 'ms'", "'100ms'"]),
        ("", "ms", ["cannot read ''"]),
        ("abc", "second", ["cannot read 'abc'", "'100second'"]),
        ("100 ms ms", "ms", ["cannot read"]),
        ("inf ms", "ms", ["cannot read"]),
        ("100mV", "ms", ["wrong unit", "needs a unit of ms"]),
        ("100 ms", "mV", ["wrong unit", "needs a unit of mV"]),
        ("10 Hz", "second", ["wrong unit", "needs a unit of second"]),
        ("100 furlongs", "ms", ["unknown unit 'furlongs'", "'100ms'"]),
        ("100np", "ms", ["unknown unit 'np'"]),
        ("100 Quantity", "ms", ["unknown unit 'Quantity'"]),
    ],
)
def test_parse_quantity_errors(text, unit, fragments):
    with pytest.raises(ConfigError) as exc:
        parse_quantity(text, unit, "--opt")
    msg = str(exc.value)
    assert msg.startswith("--opt"), msg  # names the option
    for frag in fragments:
        assert frag in msg, f"{frag!r} missing from {msg!r}"


# --------------------------------------------------------------------------------------------
# Frozen and re-validated
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, field, value",
    [
        (NeuronParams(), "tau_m", 20 * b2.ms),
        (ScheduleParams(), "sleep_fraction", 0.5),
        (ModelParams(), "dt", 0.1 * b2.ms),
        (ConnectivityParams(), "n_exc", 10),
        (PathwayParams(0.1, 0.2), "p", 0.3),
    ],
)
def test_frozen(obj, field, value):
    before = to_dict(obj)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, value)
    assert to_dict(obj) == before


def test_replace_returns_a_validated_copy():
    s = ScheduleParams(sleep_fraction=0.1, presentation=100 * b2.ms)
    s2 = s.replace(sleep_fraction=0.5, presentation=20 * b2.ms)
    assert s2.sleep_fraction == 0.5 and float(s2.presentation) == pytest.approx(0.02)
    assert s.sleep_fraction == 0.1 and float(s.presentation) == pytest.approx(0.1)  # original unchanged
    n = NeuronParams().replace(tau_m=20 * b2.ms)
    assert float(n.tau_m) == pytest.approx(0.02)


@pytest.mark.parametrize(
    "obj, changes, fragment",
    [
        (ScheduleParams(), {"sleep_fraction": 2}, "sleep_fraction"),
        (ScheduleParams(), {"n_train": 0}, "n_train"),
        (ScheduleParams(), {"presentation": 100}, "presentation"),
        (ScheduleParams(), {"sleep_cap": -1 * b2.second}, "sleep_cap"),
        (NeuronParams(), {"tau_m": 30}, "tau_m"),
        (NeuronParams(), {"tau_m": 30 * b2.mV}, "tau_m"),
        (NeuronParams(), {"v_min": 50 * b2.mV}, "v_min"),
        (STDPParams(), {"rule": "acausal"}, "rule"),
        (SleepParams(), {"lam": 1.5}, "lam"),
        (ModelParams(), {"input": InputParams(side=10)}, "n_input"),
        (ModelParams(), {"method": "magic"}, "method"),
    ],
)
def test_replace_revalidates(obj, changes, fragment):
    with pytest.raises(ConfigError) as exc:
        obj.replace(**changes)
    assert fragment in str(exc.value)
