"""Step 01: the depth rule's search (docs/methods.md §2), then each family's key setting tuned (aelib.study.tuning).

Every fully connected family follows one depth rule; the depth × z grid of
test RMSE for ``arch_families`` picks the depth later steps use (when the
study's depth is ``"auto"``). It runs with the untuned options, since it comes
before tuning.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from aelib import plots
from aelib.study import tuning
from aelib.study.steps.common import train_rows
from aelib.study.study import Study, aggregate_seeds, check_families, check_latent_sizes


def run(study: Study, *, families: Sequence[str] | str = "all", arch_families: Sequence[str], depths: Sequence[int],
        z_values: Sequence[int], seeds: Sequence[int], tune_z: int, tune_grids,
        tune_learning_rates: Sequence[float]) -> pd.DataFrame:
    """The depth search, then the tuning of ``families`` at ``tune_z`` on ``seeds[0]``.

    Writes ``architecture_runs.csv``, ``architecture.csv`` (mean over seeds per depth and z),
    ``architecture_best.csv``, one heatmap per searched family, ``tuning.csv``, ``tuned_options.csv``,
    ``regularisation_path.csv`` and its figure (:mod:`aelib.study.tuning`). Returns the best depth per searched
    family.
    """
    best = search(study, families=arch_families, depths=depths, z_values=z_values, seeds=seeds)
    tuning.tune(study, families=families, z=tune_z, grids=tune_grids, learning_rates=tune_learning_rates,
                seed=list(seeds)[0])
    return best


def search(study: Study, *, families: Sequence[str] = ("fcae",), depths: Sequence[int] = (1, 2, 3, 4, 5, 6),
           z_values: Sequence[int] = (10, 20, 40, 80, 160, 320), seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """The depth × z grid of test RMSE; returns the best depth per family."""
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    if not depths or any(int(d) < 1 for d in depths):
        raise ValueError(f"Expected depths >= 1. Received: depths={list(depths)!r}")
    with study.untuned():
        specs = [study.spec(f, z, s, depth=int(d)) for f in families for d in depths for z in z_values for s in seeds]
        runs, _ = study.evaluate_grid("01 architecture", "train", specs, table="architecture_runs", rows=train_rows)
        if runs.empty:
            return pd.DataFrame(columns=["family", "best_depth", "mean_rmse"])
        cells = study.write_table("architecture",
                                  aggregate_seeds(runs, ["family", "depth", "latent_dim"], ["rmse_mean", "val_rmse"]))
        best = best_depths(study, cells[study.is_current(cells)])  # this study's settings only
        if not best.empty:  # none when every run of these settings failed: keep the table as it is
            study.write_table("architecture_best", best)
        figures(study, cells[study.is_current(cells)])
    return best


def best_depths(study: Study, cells: pd.DataFrame) -> pd.DataFrame:
    """Per family: the depth of the lowest **validation** RMSE averaged over z (never the test split, which
    reports), with the mean validation and test RMSE at each depth. Cells without a validation RMSE (tables
    written before it was recorded) fall back to test RMSE, and ``selected_on`` says so."""
    rows = []
    for family, part in cells.groupby("family"):
        on = "val_rmse" if "val_rmse" in part and part["val_rmse"].notna().all() else "rmse_mean"
        by_depth = part.groupby("depth")[on].mean()
        test = part.groupby("depth")["rmse_mean"].mean()
        best = int(by_depth.idxmin())
        rows.append({"family": family, "setting": study.setting(family, vary=("depth",)),
                     "best_depth": best, "selected_on": "validation RMSE" if on == "val_rmse" else "test RMSE",
                     "mean_val_rmse": float(by_depth[best]) if on == "val_rmse" else float("nan"),
                     "mean_rmse": float(test[best]),
                     **{f"mean_rmse_depth{d}": float(v) for d, v in test.items()}})
    return pd.DataFrame(rows)


def figures(study: Study, cells: pd.DataFrame) -> None:
    for family, part in cells.groupby("family"):
        grid = part.pivot(index="depth", columns="latent_dim", values="rmse_mean")
        fig = plots.heatmap(grid, title=f"{plots.family_label(family)}: test RMSE by depth and z ({study.dataset})",
                            xlabel="latent size z", ylabel="hidden layers", label="test RMSE", better="lower")
        plots.save_figure(fig, study.figures / f"architecture_{family}")
