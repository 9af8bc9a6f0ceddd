"""The cost of convergence: epochs and seconds to a converged model per family.

Reads the per-run table of a study's latent sweep (``tables/latent_sweep_runs.csv``,
written by step 02, which records ``epochs_run``, ``best_epoch``, ``stopped_by``
and ``train_seconds`` for every model) and sets it beside the same table from
before training ran to convergence (the committed quick profile of 10 epochs at
batch 64: ``benchmarks/results/latent_sweep_runs_before_convergence.csv``).
Both were measured on this machine by the default study; the "after" numbers
are from the run that produced ``results/quick``.

    .venv/bin/python benchmarks/convergence_cost.py [--results results/quick] [--z 10]

Writes benchmarks/results/convergence_cost.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
BEFORE = HERE / "results" / "latent_sweep_runs_before_convergence.csv"


def table(after: pd.DataFrame, before: pd.DataFrame, z: int) -> pd.DataFrame:
    after = after[after["latent_dim"] == z].groupby("family").agg(
        epochs=("epochs_run", "median"), best_epoch=("best_epoch", "median"), stopped_by=("stopped_by", "first"),
        seconds=("train_seconds", "median"), s_per_epoch=("seconds_per_epoch", "median"), rmse=("rmse_mean", "median"))
    before = before[before["latent_dim"] == z].groupby("family").agg(
        epochs_before=("epochs_trained", "median"), seconds_before=("train_seconds", "median"),
        rmse_before=("rmse_mean", "median"))
    out = after.join(before, how="outer")
    out["rmse_change_pct"] = 100 * (out["rmse"] / out["rmse_before"] - 1)
    out["time_ratio"] = out["seconds"] / out["seconds_before"]
    return out.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(HERE.parent / "results" / "quick"))
    parser.add_argument("--z", type=int, default=10)
    args = parser.parse_args()
    after = pd.read_csv(Path(args.results) / "tables" / "latent_sweep_runs.csv", dtype={"setting": str})
    out = table(after, pd.read_csv(BEFORE), args.z)
    (HERE / "results").mkdir(exist_ok=True)
    out.to_csv(HERE / "results" / "convergence_cost.csv", index=False)
    print(out.to_markdown(index=False, floatfmt=".3g"))
    total = after.groupby("family")["train_seconds"].sum()
    print(f"\nTraining seconds in the sweep, all z: {total.sum():.0f} s "
          + ", ".join(f"{f} {s:.0f}" for f, s in total.sort_values(ascending=False).items()))


if __name__ == "__main__":
    main()
