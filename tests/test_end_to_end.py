"""End to end: real data through the compiled network to readout accuracies, over 3 seeds.

Each run trains the paper's network with wake/sleep on cpp_standalone and reads out the same
network untrained (plasticity off) as the control. What must hold whatever the science says:
both readouts beat chance (10 classes: 0.1) by a wide margin, training changed the weights, the
record holds both accuracies and is readable from disk. The accuracies are printed (pytest -s)
so that CI logs carry the trained-vs-untrained comparison.
"""

from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

from sleep_brian.protocols.wake_sleep import compare, format_table
from sleep_brian import store
from sleep_brian.params import ScheduleParams

from _optional import needs_fashion_mnist

SMALL = ScheduleParams(n_train=300, n_fit=300, n_test=200, presentation=300 * b2.ms, wake_block=30 * b2.second)
# The stochastic rule keeps weights near their baseline, so the trained network stays active.
MODEL = "paper-stochastic"


def _check(rows, out_dir):
    print("\n" + format_table(rows))
    assert len(rows) == 3
    for r in rows:
        # 200 test images, 10 classes: chance 0.1 with sd ~0.02; 0.3 is far outside chance.
        assert r["untrained"] > 0.3, r
        assert r["trained"] > 0.3, r
    records = store.load_records(out_dir)
    assert len(records) == 3
    for rec in records:
        assert set(rec["accuracy"]) == {"trained", "untrained"}
        assert rec["timeline"]["n_sleeps"] == 3  # 90 s of wake / 30 s blocks
        arrays = store.load_arrays(Path(out_dir) / rec["name"])
        # STDP acted: between the end of the first sleep and the start of the second only wake
        # (plasticity, no decay) happens, so any weight change there is STDP's.
        steps = list(arrays["boundary_steps"])
        sleeps = [sp for sp in rec["timeline"]["spans"] if sp["kind"] == "sleep"]
        dt = 1e-3
        end1 = steps.index(round(sleeps[0]["stop_s"] / dt))
        start2 = steps.index(round(sleeps[1]["start_s"] / dt))
        w = arrays["w_boundary_input_e"]  # one column per wake/sleep boundary
        assert np.any(w[:, start2] != w[:, end1])
        stab = rec["stability"]
        assert len(stab["t_s"]) == len(steps) and len(stab["weights"]["input_e"]["mean"]) == len(steps)
        assert len(stab["blocks"]["participation_ratio"]) == len([sp for sp in rec["timeline"]["spans"] if sp["kind"] == "wake"])
        assert rec["weights"]["input_e"]["recorded_fraction"] == 1.0
        assert arrays["counts_test"].shape == (200, 200)
        assert arrays["counts_test_untrained"].shape == (200, 200)


@pytest.mark.slow
@pytest.mark.standalone
def test_digits_three_seeds(tmp_path):
    rows = compare("digits", [0.1], [1, 2, 3], model=MODEL, schedule=SMALL, out_dir=tmp_path, progress=False)
    _check(rows, tmp_path)


@pytest.mark.slow
@pytest.mark.standalone
@needs_fashion_mnist
def test_fashion_mnist_subset_three_seeds(tmp_path):
    rows = compare(
        "fashion-mnist", [0.1], [1, 2, 3], model=MODEL, schedule=SMALL, out_dir=tmp_path, progress=False
    )
    _check(rows, tmp_path)
