"""results/summarise.py on the committed records of the paper-size sweep (results/fashion-6000).

The script is what turns a sweep folder into the committed table, statistics and figure, so it
is run here on the committed records themselves (slim copies of real runs): one row per record,
the level table with the numbers of the records, the GLMM (fitted, or declined with its reason
while there is one seed), the figure written, and a slim copy that a sweep resumes from.
"""

import runpy
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sleep_brian import store

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "fashion-6000" / "records"


@pytest.fixture(scope="module")
def summarise():
    return runpy.run_path(str(ROOT / "results" / "summarise.py"), run_name="summarise")


def test_summarise_writes_the_table_statistics_and_figure_of_the_records(tmp_path, summarise):
    folder = tmp_path / "fashion-6000"
    shutil.copytree(RECORDS, folder / "records")
    summarise["main"]([str(folder / "records")])
    recs = store.load_records(folder / "records")
    df = pd.read_csv(folder / "records" / "runs.csv")
    assert len(df) == len(recs) >= 8 and set(df["name"]) == {r["name"] for r in recs}
    by_name = {r["name"]: r for r in recs}
    for _, row in df.iterrows():
        assert row["accuracy"] == pytest.approx(by_name[row["name"]]["accuracy"]["trained"]["accuracy_pca_qda"], abs=1e-6)
    wall = dict(zip(df["name"], df["wall_s"]))
    twins = df[df["same_simulation_as"].notna()]
    assert len(twins) and (twins["name"].map(wall) == twins["same_simulation_as"].map(wall)).all()  # a twin costs its simulation
    text = (folder / "records" / "summary.md").read_text()
    assert "| authors | 0.1 |" in text and "Untrained control" in text
    if df["seed"].nunique() < 2:
        assert "Beta GLMM not fitted" in text  # declined with its reason, not fitted on one seed
    else:
        assert "| model | term | log odds ratio |" in text and "| authors | sleep[0.1] | +" in text  # fitted: one effect per model and level
    assert (folder / "records" / "accuracy_and_spread.png").stat().st_size > 10_000
    # flags by the current rule, from the stored summaries: the corrected network without sleep
    # has fallen silent (its records predate the relative rule and say "ok" themselves), the
    # authors' without sleep has run away, and 10 % sleep spares both
    flags = df["flags"].fillna("")
    sleep0, sleep10 = df["sleep_fraction"] == 0, (df["sleep_fraction"] - 0.1).abs() < 1e-9
    ps, au = df["variant"] == "paper-stochastic", df["variant"] == "authors"
    assert (flags[ps & sleep0] == "silent").all() and (flags[ps & ~sleep0] == "").all()
    assert flags[au & sleep0].str.contains("runaway: input_e").all() and (flags[au & sleep10] == "").all()


def test_slim_copies_are_what_a_sweep_resumes_from(tmp_path, summarise):
    from sleep_brian.sweep import SweepSpec, pending

    n = summarise["slim"](RECORDS, tmp_path / "slim")
    assert n == len(list(RECORDS.iterdir()))
    rec = store.load_records(tmp_path / "slim")[0]
    assert "stability" not in rec and "spans" not in rec["timeline"] and "sleeps_ended" in rec["timeline"]
    spec = SweepSpec(datasets=("fashion-mnist",), variants=("authors", "paper-stochastic"), seeds=(1, 2, 3, 4, 5),
                     schedule={"n_train": 6000, "n_test": 1000})  # fmt: skip
    configs = spec.configs()
    assert len(configs) - len(pending(configs, tmp_path / "slim")) == n
