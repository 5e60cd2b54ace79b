"""The class-incremental forgetting protocol: task plans, the two readouts, one real simulation."""

import json

import brian2 as b2
import numpy as np
import pytest

from sleep_brian.protocols.class_incremental import accuracy_matrices, class_incremental, plan_tasks
from sleep_brian.errors import ConfigError
from sleep_brian.metrics import forgetting_metrics

TASKS = ((0, 1), (2, 3), (4, 5))


def test_plan_tasks_draws_each_task_from_its_classes():
    y_train = np.repeat(np.arange(10), 20)
    y_test = np.repeat(np.arange(10), 8)
    train, fit, test = plan_tasks(y_train, y_test, TASKS, n_train_per_class=5, n_fit_per_class=3, n_test_per_class=4, seed=1)
    for t, idx in zip(TASKS, train):
        assert sorted(set(y_train[idx])) == list(t) and len(idx) == 10
    assert np.bincount(y_train[fit], minlength=6)[:6].tolist() == [3] * 6
    assert np.bincount(y_test[test], minlength=6)[:6].tolist() == [4] * 6
    again = plan_tasks(y_train, y_test, TASKS, n_train_per_class=5, n_fit_per_class=3, n_test_per_class=4, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(train, again[0]))
    with pytest.raises(ConfigError, match="repeat a class"):
        plan_tasks(y_train, y_test, ((0, 1), (1, 2)), n_train_per_class=5, n_fit_per_class=3, n_test_per_class=4, seed=1)
    with pytest.raises(ConfigError, match="has 20 images"):
        plan_tasks(y_train, y_test, TASKS, n_train_per_class=50, n_fit_per_class=3, n_test_per_class=4, seed=1)


def _responses(y, code, rng):
    """Responses where class c drives neuron code[c] (plus noise)."""
    r = rng.poisson(1.0, (len(y), 12)).astype(float)
    r[np.arange(len(y)), [code[c] for c in y]] += 8
    return r


def test_frozen_readout_sees_drift_that_refit_does_not():
    """After task 0 the code of classes 0/1 moves to other neurons: a frozen readout forgets,
    a refitted one does not. Task 1's code never changes: no forgetting there."""
    rng = np.random.default_rng(0)
    y_fit, y_test = np.repeat(np.arange(4), 30), np.repeat(np.arange(4), 30)
    before = {0: 0, 1: 1, 2: 2, 3: 3}
    after = {0: 5, 1: 6, 2: 2, 3: 3}
    responses = [
        (_responses(y_fit, before, rng), _responses(y_test, before, rng)),
        (_responses(y_fit, after, rng), _responses(y_test, after, rng)),
    ]
    m = accuracy_matrices(responses, y_fit, y_test, ((0, 1), (2, 3)))
    assert m["frozen"][0, 0] > 0.95 and m["refit"][1, 0] > 0.95
    assert m["frozen"][1, 0] < 0.8  # the frozen readout of task 0 no longer fits
    assert m["frozen"][1, 1] > 0.95 and np.isnan(m["frozen"][0, 1])
    assert forgetting_metrics(m["frozen"])["forgetting"] > 0.15
    assert abs(forgetting_metrics(m["refit"])["forgetting"]) < 0.05


@pytest.mark.slow
@pytest.mark.standalone
def test_protocol_runs_both_conditions_and_writes_the_result(tmp_path):
    result = class_incremental(
        "digits", tasks=TASKS, seeds=(1,), sleep_fraction=0.5, n_train_per_class=6, n_fit_per_class=6,
        n_test_per_class=6, presentation=100 * b2.ms, out_dir=tmp_path, progress=False,
    )  # fmt: skip
    assert set(result["conditions"]) == {"no sleep", "sleep 0.5"}
    for label, cond in result["conditions"].items():
        (run,) = cond["runs"]
        A = np.array(run["matrices"]["frozen"], dtype=float)
        assert A.shape == (3, 3)
        assert np.isfinite(A[np.tril_indices(3)]).all() and np.isnan(A[np.triu_indices(3, 1)]).all()
        # 2 classes per task, 6 test images each: accuracies are multiples of 1/12
        np.testing.assert_allclose(A[np.tril_indices(3)] * 12, np.round(A[np.tril_indices(3)] * 12))
        # the sleep condition simulated 3 sleeps of half the task's wake time more
        wake = 3 * 12 * 0.1
        extra = run["simulated_s"] - result["conditions"]["no sleep"]["runs"][0]["simulated_s"]
        assert extra == pytest.approx(0.5 * wake if label != "no sleep" else 0.0)
    saved = json.loads((tmp_path / "forgetting.json").read_text())
    assert saved["task_names"] == ["0/1", "2/3", "4/5"]
    with pytest.raises(ConfigError, match="sleep_fraction"):
        class_incremental("digits", sleep_fraction=0.0)
