"""The table, figure and statistics of a sweep folder, written beside its records.

Usage::

    python results/summarise.py results/fashion-6000

Writes into the folder:

* ``runs.csv`` -- one row per run: condition, status, the full-test readout (``accuracy``), the
  authors' test protocol (``trained_paper_protocol``), the untrained control, the time slept,
  how each run's sleeps ended, the run it was simulated as where a sleep cap made two the
  same (``same_simulation_as``; its ``wall_s`` is then that run's), and ``flags``: what the
  installed library's rule finds suspect in the record's stored weight and rate summaries
  (``status`` is the record's own, so a record made before a rule changed keeps its verdict);
* ``summary.md`` -- per model and sleep level: mean and sd over seeds, the paired difference from
  sleep 0 with its 95 % CI, then the beta GLMM and the answers to the paper's two questions, for
  both readouts;
* ``accuracy_and_spread.png`` -- accuracy and its sd over seeds against sleep, both models, the
  untrained control as a band (one figure per readout).

Only the records' ``record.json`` files are read (not the arrays), so the committed folder
suffices. Runs still missing are listed, so a partial sweep says what it lacks.

``--slim DEST`` first copies every record of the folder into ``DEST/<run name>/record.json``
without its time courses (``stability``, each pathway's per-sleep list, the timeline's spans;
each run's sleep ends are kept as counts): about 15 KB instead of 0.2-0.6 MB a run, which is what
is committed. A sweep given ``--out DEST`` (or a copy of it) skips the runs recorded there, so a
later session resumes where this one stopped.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from sleep_brian import plotting, statistics, store
from sleep_brian.errors import ConfigError
from sleep_brian.experiment import _flags

READOUTS = {
    "accuracy": "full-test readout (PCA+QDA fitted on the 1,000 fit images, scored on all test images)",
    "trained_paper_protocol": "the authors' protocol (fitted on their 300-image batch, scored on the last 200 test images)",
}


def slim(src: Path, dest: Path) -> int:
    """Copy the records under ``src`` into ``dest`` without their time courses; return how many."""
    n = 0
    for rec in store.load_records(src):
        rec = dict(rec)
        rec.pop("stability", None)
        rec["weights"] = {pw: {k: v for k, v in e.items() if k != "sleeps"} for pw, e in rec.get("weights", {}).items()}
        tl = dict(rec.get("timeline", {}))
        tl.pop("spans", None)
        sleeps = tl.pop("sleeps", None)
        if sleeps is not None:
            tl["sleeps_ended"] = dict(Counter(e.get("ended") for e in sleeps))
        rec["timeline"] = tl
        rec["slim"] = "time courses dropped by results/summarise.py --slim; rerun the configuration for them"
        store.save(dest, rec["name"], rec, overwrite=True)
        n += 1
    return n


def flags_in_words(flags: dict) -> str:
    """``'runaway: input_e; silent'`` for a record's flags, ``''`` for none."""
    said = [f"{k}: {', '.join(v)}" for k, v in flags.items() if isinstance(v, list) and v]
    return "; ".join(said + (["silent"] if flags.get("silent") else []))


def runs_table(folder: Path) -> pd.DataFrame:
    rows = []
    for rec in store.load_records(folder):
        row = store.flatten(rec)
        tl = rec.get("timeline", {})
        ends = Counter(tl["sleeps_ended"]) if "sleeps_ended" in tl else Counter(e.get("ended") for e in tl.get("sleeps", []))
        row.update(sleep_s=tl.get("sleep_s"), sleep_scheduled_s=tl.get("sleep_scheduled_s"), n_sleeps=tl.get("n_sleeps"),
                   sleeps_converged=ends.get("converged", 0), sleeps_window=ends.get("window", 0),
                   sleeps_cap=ends.get("cap", 0), wall_s=rec.get("timings", {}).get("total_s"),
                   same_simulation_as=rec.get("build", {}).get("same_simulation_as"),
                   flags=flags_in_words(_flags(rec.get("weights", {}), rec.get("rates", {}))))  # fmt: skip
        rows.append(row)
    if not rows:
        sys.exit(f"no records under {folder}")
    keep = ["name", "status", "dataset", "variant", "sleep_fraction", "seed", "accuracy", "trained_paper_protocol",
            "trained_assignment", "untrained_accuracy", "untrained_paper_protocol", "sleep_s", "sleep_scheduled_s",
            "n_sleeps", "sleeps_converged", "sleeps_window", "sleeps_cap", "wall_s", "same_simulation_as", "flags", "error"]  # fmt: skip
    df = pd.DataFrame(rows)
    # A twin's record was timed from when its task prepared it, which counts the task's other
    # runs before it (records made before that was mended): its cost is its simulation's.
    wall = dict(zip(df["name"], df["wall_s"]))
    twin = df["same_simulation_as"].notna() & df["same_simulation_as"].isin(wall)
    df.loc[twin, "wall_s"] = df.loc[twin, "same_simulation_as"].map(wall)
    return df[[c for c in keep if c in df.columns]].sort_values(["variant", "sleep_fraction", "seed"])


def level_table(df: pd.DataFrame, metric: str) -> str:
    s = statistics.summarize(df, metric)
    c = statistics.compare_to_baseline(df, metric) if (df["sleep_fraction"] == 0).any() else None
    lines = ["| model | sleep | n | mean | sd | vs sleep 0 (paired 95 % CI) | p | slept (s, mean) |", "|---|---|---|---|---|---|---|---|"]
    for _, r in s.sort_values(["variant", "sleep_fraction"]).iterrows():
        g = df[(df["variant"] == r["variant"]) & np.isclose(df["sleep_fraction"], r["sleep_fraction"])]
        diff = ""
        p = ""
        if c is not None:
            m = c[(c["variant"] == r["variant"]) & np.isclose(c["sleep_fraction"], r["sleep_fraction"])]
            if len(m):
                m = m.iloc[0]
                diff = f"{m['diff_mean']:+.3f} [{m['ci_lo']:+.3f}, {m['ci_hi']:+.3f}]"
                p = f"{m['p']:.2g}"
        sd = "" if np.isnan(r["sd"]) else f"{r['sd']:.3f}"
        lines.append(f"| {r['variant']} | {r['sleep_fraction']:g} | {int(r['n'])} | {r['mean']:.3f} | {sd} | {diff} | {p} | "
                     f"{g['sleep_s'].astype(float).mean():.0f} |")  # fmt: skip
    return "\n".join(lines)


def control_line(df: pd.DataFrame, metric: str) -> str:
    col = store.untrained_column(metric)
    out = []
    for var, g in df.groupby("variant"):
        u = g[col].astype(float).dropna() if col in g else pd.Series(dtype=float)
        if len(u):
            out.append(f"{var}: {u.mean():.3f} +- {u.std(ddof=1) if len(u) > 1 else float('nan'):.3f} (n={len(u)})")
    return "Untrained control (same network, plasticity off): " + ("; ".join(out) if out else "none recorded") + "."


def glmm_lines(df: pd.DataFrame, metric: str) -> str:
    try:
        fit = statistics.beta_glmm(df, metric)
    except ConfigError as exc:  # a partial sweep may not support the model yet (e.g. one seed)
        return f"Beta GLMM not fitted: {exc}"
    eff = fit[fit["kind"] == "sleep effect"]
    lines = ["| model | term | log odds ratio | 95 % CI | p |", "|---|---|---|---|---|"]
    for _, r in eff.iterrows():
        term = r["term"].split(" | ")[0]  # "sleep[0.1] | variant=v": the model has its own column, and "|" ends a cell
        lines.append(f"| {r.get('variant', '')} | {term} | {r['estimate']:+.3f} | [{r['ci_lo']:+.3f}, {r['ci_hi']:+.3f}] | {r['p']:.2g} |")
    other = fit[fit["kind"].isin(["precision", "random sd"])]
    extra = "; ".join(f"{r['term']} {r['estimate']:.3g} [{r['ci_lo']:.3g}, {r['ci_hi']:.3g}] ({r['fit']})" for _, r in other.iterrows())
    return "\n".join(lines) + ("\n\n" + extra if extra else "")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="the sweep's --out folder (or its slim copy)")
    ap.add_argument("--slim", type=Path, default=None, metavar="DEST", help="first copy the records, without time courses, into DEST and summarise DEST")
    args = ap.parse_args(argv)
    if args.slim is not None:
        print(f"{slim(args.folder, args.slim)} records copied without time courses into {args.slim}")
        args.folder = args.slim.parent if args.slim.name == "records" else args.slim
        records = args.slim
    else:
        records = args.folder
    df = runs_table(records)
    df.to_csv(args.folder / "runs.csv", index=False, float_format="%.6g")
    ok = df[df["status"] != "failed"]
    text = [f"# Summary of {args.folder.name}", "",
            f"{len(df)} runs recorded ({(df['status'] == 'failed').sum()} failed, {(df['flags'] != '').sum()} flagged by the current rule, "
            f"{(df['status'] == 'flagged').sum()} by their own); "
            f"per model and sleep level: " + ", ".join(f"{v} {dict(Counter(g['sleep_fraction']))}" for v, g in ok.groupby("variant")),
            ""]  # fmt: skip
    for metric, what in READOUTS.items():
        if metric not in ok or ok[metric].isna().all():
            continue
        text += [f"## {what}", "", level_table(ok, metric), "", control_line(ok, metric), "", "### Beta GLMM", "",
                 glmm_lines(ok, metric), "", "### The paper's two questions", ""]  # fmt: skip
        try:
            text.append(statistics.paper_questions(ok, metric)["markdown"])
        except ConfigError as exc:
            text.append(f"Not answered: {exc}")
        text.append("")
        fig = plotting.accuracy_and_spread(ok, metric=metric)
        name = "accuracy_and_spread" if metric == "accuracy" else f"accuracy_and_spread_{metric}"
        plotting.save(fig, args.folder / name, formats=("png",))
    (args.folder / "summary.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
