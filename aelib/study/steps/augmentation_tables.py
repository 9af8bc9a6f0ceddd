"""Step 07's tables and figures from its stored rows: results, their summary over seeds, class counts.

The summary gives, per experiment × z × setting, the mean AUC, the paired
difference to the baseline of the same seeds (``auc_delta_*``), and for the
synthetic top-ups the paired difference to the duplicate control at the same
counts (``auc_vs_duplicate_*``). Intervals are Student-t 95 % intervals over
seeds (n − 1 degrees of freedom; ``ci_method``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aelib import plots
from aelib.augmentation.dataset import FeatureSet
from aelib.augmentation.experiments import (
    AUTOENCODER_EXPERIMENTS,
    EXPERIMENTS,
    RESULT_COLUMNS,
    SWEPT,
    TOPUP_TARGET,
    setting_columns,
)
from aelib.stats import t_interval

CI_METHOD = (
    "Student-t 95 % interval over seeds (n_seeds - 1 dof): of the mean AUC (auc_ci95_*), of the per-seed paired "
    "difference to the baseline (auc_delta_ci95_*) and to the duplicate control at the same counts "
    "(auc_vs_duplicate_ci95_*)"
)


def results_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The results rows (one per experiment × z × setting × seed) in ``RESULT_COLUMNS`` order, sorted by
    experiment (as listed in ``EXPERIMENTS``), z, swept value and seed."""
    results = pd.DataFrame(rows).reindex(columns=list(RESULT_COLUMNS))
    results["latent_dim"] = results["latent_dim"].astype("Int64")
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    return results.sort_values(
        ["experiment", "latent_dim", "value", "seed"],
        key=lambda s: s.map(order) if s.name == "experiment" else s,
        na_position="first",
    ).reset_index(drop=True)


def class_counts(data: FeatureSet, split: tuple) -> pd.DataFrame:
    """Training and held-out works per class, and which classes are rare (fewer than the top-up target)."""
    counts_train = np.bincount(split[1], minlength=len(data.artist_names))
    counts_test = np.bincount(split[3], minlength=len(data.artist_names))
    return pd.DataFrame(
        {
            "class": data.artist_names,
            "n_train": counts_train,
            "n_test": counts_test,
            f"rare_below_{TOPUP_TARGET}": counts_train < TOPUP_TARGET,
            "data_source": data.data_source,
            "stand_in": data.stand_in,
        }
    )


def constant_or_mean(values: pd.Series):
    """The value of a column that should be constant (its mean where it is not; NaN when empty)."""
    values = values.dropna()
    if values.empty:
        return float("nan")
    return values.iloc[0].item() if values.nunique() == 1 else float(values.mean())


def summarize_results(results: pd.DataFrame) -> pd.DataFrame:
    """Per experiment × z × setting (baseline and duplicate control included):
    mean AUC and its 95 % t-interval over seeds, the paired per-seed difference
    to the baseline (``*_delta_*``), and for the synthetic top-ups the paired
    difference to the duplicate control at the same top-up target (``*_vs_duplicate_*``)."""
    base = results[results["experiment"] == "baseline"].set_index("seed")
    dup = results[results["experiment"] == "topup_duplicate"]
    rows = []
    keys = ["experiment", "latent_dim", "value"]
    for (experiment, z, value), group in results.groupby(keys, dropna=False, sort=False):
        g = group.set_index("seed")
        row = {**setting_columns(experiment, z, value), "n_seeds": len(group)}
        target = constant_or_mean(group["topup_target"])
        control = dup[dup["topup_target"] == target].set_index("seed") if experiment.startswith("topup_") else None
        for metric in ("auc", "auc_rare"):
            mean, low, high = t_interval(g[metric].to_numpy(float))
            row.update(
                {
                    f"{metric}_mean": mean,
                    f"{metric}_std": float(g[metric].std(ddof=1)) if len(g) > 1 else float("nan"),
                    f"{metric}_ci95_low": low,
                    f"{metric}_ci95_high": high,
                }
            )
            delta = g[metric].to_numpy(float) - base[metric].reindex(g.index).to_numpy(float)
            mean, low, high = t_interval(delta)
            row.update(
                {f"{metric}_delta_mean": mean, f"{metric}_delta_ci95_low": low, f"{metric}_delta_ci95_high": high}
            )
            if control is not None and experiment != "topup_duplicate" and not control.empty:
                vs = g[metric].to_numpy(float) - control[metric].reindex(g.index).to_numpy(float)
                mean, low, high = t_interval(vs)
            else:
                mean = low = high = float("nan")
            row.update(
                {
                    f"{metric}_vs_duplicate_mean": mean,
                    f"{metric}_vs_duplicate_ci95_low": low,
                    f"{metric}_vs_duplicate_ci95_high": high,
                }
            )
        row["n_synthetic_mean"] = float(group["n_synthetic"].mean())
        row["n_train_pairs_mean"] = float(group["n_train_pairs"].mean())
        row["n_updates"] = constant_or_mean(group["n_updates"])
        row["fcae_test_rmse_mean"] = float(group["fcae_test_rmse"].mean())
        for col in ("data_source", "stand_in", "feature_model"):
            row[col] = group[col].iloc[0]
        row["ci_method"] = CI_METHOD
        rows.append(row)
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    summary = pd.DataFrame(rows)
    summary["latent_dim"] = summary["latent_dim"].astype("Int64")
    summary["_o"] = summary["experiment"].map(order)
    return (
        summary.sort_values(["_o", "latent_dim", "value"], na_position="first")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def _errorbar(ax, frame: pd.DataFrame, metric: str, **style) -> None:
    """Mean ± 95 % interval of ``metric``'s paired difference to the baseline against the swept value."""
    x = frame["value"].to_numpy(float)
    y = frame[f"{metric}_delta_mean"].to_numpy(float)
    yerr = np.vstack([y - frame[f"{metric}_delta_ci95_low"].to_numpy(float),
                      frame[f"{metric}_delta_ci95_high"].to_numpy(float) - y])
    ax.errorbar(x, y, yerr=np.where(np.isfinite(yerr), yerr, 0), capsize=3, **style)


def plot_experiments(summary: pd.DataFrame, out_dir: Path, *, label: str) -> list[Path]:
    """One figure per autoencoder experiment: the paired AUC difference to the
    baseline (all test pairs, and pairs anchored in rare classes) against the
    swept value, one line per z, with the duplicate control where it applies;
    mean ± 95 % t-interval over seeds; PNG and PDF."""
    dup = summary[summary["experiment"] == "topup_duplicate"].sort_values("value")
    paths = []
    for number, experiment in enumerate(AUTOENCODER_EXPERIMENTS, start=1):
        part = summary[summary["experiment"] == experiment]
        if part.empty:
            continue
        fig = Figure(figsize=(9, 3.8), layout="constrained")
        axes = fig.subplots(1, 2, sharex=True)
        for ax, metric, what in zip(
            axes, ("auc", "auc_rare"), ("all test pairs", f"anchor class < {TOPUP_TARGET} works")
        ):
            ax.axhline(0.0, color="0.3", linewidth=1, label="baseline (no augmentation)")
            for z, line in part.groupby("latent_dim", sort=True):
                _errorbar(ax, line.sort_values("value"), metric, marker="o", label=f"z = {z}")
            control = dup if experiment == "topup_threshold" else dup[dup["value"] == TOPUP_TARGET]
            if experiment == "topup_threshold" and not control.empty:
                _errorbar(ax, control, metric, marker="s", linestyle="--", color="k",
                          label="duplicates (no autoencoder)")
            elif experiment == "topup_perturbation" and not control.empty:
                y = control[f"{metric}_delta_mean"].to_numpy(float)
                low = control[f"{metric}_delta_ci95_low"].to_numpy(float)
                high = control[f"{metric}_delta_ci95_high"].to_numpy(float)
                ax.axhline(y[0], color="k", linestyle="--", label=f"duplicates to {TOPUP_TARGET} (no autoencoder)")
                if np.isfinite(low[0]) and np.isfinite(high[0]):
                    ax.axhspan(low[0], high[0], color="0.6", alpha=0.3, linewidth=0)
            ax.set_xlabel(
                "maximum perturbation p" if SWEPT[experiment] == "p" else "top-up threshold t (works per class)"
            )
            ax.set_ylabel(f"ΔAUC vs baseline\n({what})")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        n_seeds = int(part["n_seeds"].max())
        fig.suptitle(
            f"{EXPERIMENTS[experiment]}\n{label}\npaired difference to the baseline, mean ± 95 % t-interval over "
            f"{n_seeds} seed{'s' if n_seeds != 1 else ''}; {constant_or_mean(part['n_updates'])} pair-model updates "
            "in every condition",
            fontsize=8,
        )
        plots.fit_to_page(fig)  # at most 6.5 in wide, text at least 8 pt
        for ext in ("png", "pdf"):
            path = out_dir / f"augmentation_exp{number}_{experiment}.{ext}"
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.{ext}")
            fig.savefig(tmp, dpi=150, metadata=plots.reproducible_metadata(ext))
            os.replace(tmp, path)
            paths.append(path)
    return paths
