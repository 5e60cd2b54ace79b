"""Figures: each function draws the expected artists from a real (tiny) record; the CLI writes files."""

import brian2 as b2
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from sleep_brian import models  # noqa: E402
from sleep_brian import plotting, store  # noqa: E402
from sleep_brian.cli import main  # noqa: E402
from sleep_brian.errors import ConfigError  # noqa: E402
from sleep_brian.experiment import RunConfig, run  # noqa: E402
from sleep_brian.params import ScheduleParams  # noqa: E402

ms, second = b2.ms, b2.second


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    sch = ScheduleParams(sleep_fraction=0.25, n_train=40, n_fit=40, n_test=20, presentation=100 * ms, wake_block=1 * second)
    res = run(RunConfig(dataset="digits", seed=1, schedule=sch, device="cpp_standalone"), out_dir=out, progress=False)
    return out, res.record, store.load_arrays(res.path)


def test_accuracy_vs_sleep_draws_one_line_per_variant_with_cis():
    rows = []
    for v, base in (("paper", 0.5), ("paper-stochastic", 0.7)):
        for r in (0.0, 0.1, 0.5):
            for s in (1, 2, 3):
                rows.append(dict(dataset="digits", variant=v, sleep_fraction=r, seed=s, status="ok",
                                 trained_pca_qda=base + 0.01 * s + r / 10, untrained_pca_qda=0.8))  # fmt: skip
    ax = plotting.accuracy_vs_sleep(pd.DataFrame(rows), metric="trained_pca_qda", dataset="digits")
    assert len(ax.containers) == 2  # two errorbar series
    means = ax.containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(means, [0.52, 0.53, 0.57])
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == pytest.approx(0.8) for line in ax.lines)
    with pytest.raises(ConfigError, match="no runs"):
        plotting.accuracy_vs_sleep(pd.DataFrame(rows), metric="trained_pca_qda", dataset="mnist")


def test_accuracy_and_spread_draws_means_sds_and_control_bands():
    rows = []
    for v, base, ctrl in (("paper", 0.5, 0.8), ("paper-stochastic", 0.7, 0.6)):
        for r in (0.0, 0.1, 0.5):
            for s in (1, 2, 3):
                rows.append(dict(dataset="digits", variant=v, sleep_fraction=r, seed=s, status="ok",
                                 trained_pca_qda=base + 0.01 * s * (1 + r) + r / 10,
                                 untrained_pca_qda=ctrl + 0.01 * s if r == 0 else np.nan))  # fmt: skip
    fig = plotting.accuracy_and_spread(pd.DataFrame(rows), metric="trained_pca_qda")
    acc, spread = fig.axes
    np.testing.assert_allclose(acc.containers[0].lines[0].get_ydata(), [0.52, 0.532, 0.58])
    # sd over seeds of 0.01 * s * (1 + r): 0.01 * (1 + r) for s = 1, 2, 3.
    np.testing.assert_allclose(spread.lines[0].get_ydata(), [0.01, 0.011, 0.015])
    bands = [c for c in acc.collections if c.get_label().endswith("untrained (n=3)")]
    assert len(bands) == 2
    # The first variant's band spans its control mean 0.82 +- sd 0.01.
    y = bands[0].get_paths()[0].vertices[:, 1]
    assert y.min() == pytest.approx(0.81) and y.max() == pytest.approx(0.83)
    with pytest.raises(ConfigError, match="no runs"):
        plotting.accuracy_and_spread(pd.DataFrame(rows), metric="trained_pca_qda", dataset="mnist")


def test_time_courses_shade_every_sleep(tiny_run):
    _, record, _ = tiny_run
    n_sleeps = record["timeline"]["n_sleeps"]
    assert n_sleeps >= 2
    ax = plotting.weights_over_time(record, pathway="input_e", stat="abs_mean")
    (line,) = ax.lines
    assert len(line.get_xdata()) == len(record["stability"]["t_s"])
    assert len(ax.patches) == n_sleeps  # one shaded span per sleep
    ax = plotting.responses_over_time(record, stat="participation_ratio")
    assert len(ax.lines[0].get_xdata()) == len(record["stability"]["blocks"]["t_s"])
    with pytest.raises(ConfigError, match="available"):
        plotting.weights_over_time(record, stat="nope")


def test_histograms_receptive_fields_raster(tiny_run):
    _, record, arrays = tiny_run
    ax = plotting.weight_histograms(record, arrays, pathway="input_e", bins=20)
    assert len(ax.patches) == 40  # before and after, 20 bins each
    heights_before = [p.get_height() for p in ax.patches[:20]]
    assert sum(heights_before) == arrays["w_boundary_input_e"].shape[0]
    with pytest.raises(ConfigError, match="sleeps 0"):
        plotting.weight_histograms(record, arrays, sleep=99)
    assert plotting.rf_pathway(record) == "input_e"
    axes = plotting.receptive_fields(arrays, pathway="input_e", n_input=225, n_target=200, n_show=9)
    assert sum(len(a.images) for a in axes.flat) == 9
    img = axes.flat[0].images[0].get_array()
    assert img.shape == (15, 15)
    ax = plotting.raster(arrays, populations=[("exc", 200), ("inh", 50)])
    assert len(ax.lines[0].get_xdata()) == len(arrays["raster_step_exc"])


def test_forgetting_matrix_annotates_the_lower_triangle():
    A = np.array([[0.9, np.nan, np.nan], [0.5, 0.8, np.nan], [0.3, 0.4, 0.7]])
    ax = plotting.forgetting_matrix(A)
    assert len(ax.texts) == 6 and ax.texts[0].get_text() == "0.90"
    with pytest.raises(ConfigError, match="square"):
        plotting.forgetting_matrix(np.zeros((2, 3)))


def test_cli_writes_png_and_pdf(tiny_run, tmp_path, capsys):
    folder, _, _ = tiny_run
    assert main(["plot", str(folder), "--out", str(tmp_path / "figs")]) == 0
    for name in ("accuracy_vs_sleep", "weights_over_time", "responses_over_time", "weight_histograms", "receptive_fields", "raster"):
        for fmt in ("png", "pdf"):
            f = tmp_path / "figs" / f"{name}.{fmt}"
            assert f.exists() and f.stat().st_size > 1000, f
    assert main(["plot", str(tmp_path / "empty")]) == 2
    assert "no records" in capsys.readouterr().err
