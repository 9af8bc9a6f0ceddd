"""What a shorter early-stopping patience would save, replayed on recorded training histories.

A run's learning-rate schedule does not depend on its early-stopping patience
(the rate is halved after every ``lr_patience`` epochs without improvement
either way), so up to the epoch where a shorter patience would have stopped,
the run is the one recorded in its ``history.csv``. Replaying the stopping
rule (an epoch improves when ``val_loss < best · (1 − min_delta)``) on each
history therefore gives exactly the epoch a shorter patience stops at and the
best epoch it keeps. The cost is reported as the ratio of the kept epoch's
validation RMSE (square root of ``val_reconstruction``, the validation mean
squared error) to the recorded run's.

    .venv/bin/python benchmarks/early_stopping_replay.py [--runs results/quick/runs/train] [--patience 4,5]

Prints a Markdown table per family and the totals.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def stop(val_loss: np.ndarray, patience: int, min_delta: float) -> tuple[int, int]:
    """(epochs run, index of the best epoch) under the rule of ``aelib.training.Convergence``."""
    best, best_i, wait = np.inf, -1, 0
    for i, value in enumerate(val_loss):
        if best_i < 0 or value < best * (1 - min_delta):
            best, best_i, wait = value, i, 0
        else:
            wait += 1
            if wait >= patience:
                return i + 1, best_i
    return len(val_loss), best_i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=HERE.parent / "results" / "quick" / "runs" / "train")
    parser.add_argument("--patience", default="4,5", help="shorter patiences to replay")
    args = parser.parse_args()
    shorter = [int(v) for v in args.patience.split(",")]
    rows = []
    for run in sorted(args.runs.glob("*/history.csv")):
        config = json.loads((run.parent / "config.json").read_text())
        history = pd.read_csv(run)
        if "val_loss" not in history or "val_reconstruction" not in history:
            continue
        loss, mse = history["val_loss"].to_numpy(), history["val_reconstruction"].to_numpy()
        if "patience" not in config or "min_delta" not in config:  # a run from before these settings were recorded
            continue
        patience, min_delta = int(config["patience"]), float(config["min_delta"])
        epochs, best = stop(loss, patience, min_delta)
        if epochs != len(loss):  # not stopped by this rule (epoch cap, or another version): not replayable
            continue
        row = {"family": config["family"], "epochs": epochs}
        for p in shorter:
            n, b = stop(loss, p, min_delta)
            row[f"epochs_p{p}"] = n
            row[f"val_rmse_ratio_p{p}"] = float(np.sqrt(mse[b] / mse[best]))
        rows.append(row)
    if not rows:
        raise SystemExit(f"No replayable runs (history.csv with val_loss and val_reconstruction) under {args.runs}")
    runs = pd.DataFrame(rows)
    agg = {"runs": ("epochs", "size"), "epochs": ("epochs", "sum")}
    for p in shorter:
        agg[f"epochs_p{p}"] = (f"epochs_p{p}", "sum")
        agg[f"worst_val_rmse_ratio_p{p}"] = (f"val_rmse_ratio_p{p}", "max")
    table = runs.groupby("family").agg(**agg).reset_index()
    print(table.to_markdown(index=False, floatfmt=".4g"))
    total = runs["epochs"].sum()
    print(f"\n{len(runs)} runs, {total} epochs; " + "; ".join(
        f"patience {p}: {runs[f'epochs_p{p}'].sum()} epochs "
        f"({100 * (1 - runs[f'epochs_p{p}'].sum() / total):.1f} % fewer), "
        f"validation RMSE up to {100 * (runs[f'val_rmse_ratio_p{p}'].max() - 1):.1f} % higher "
        f"(median {100 * (runs[f'val_rmse_ratio_p{p}'].median() - 1):.2f} %)" for p in shorter))


if __name__ == "__main__":
    main()
