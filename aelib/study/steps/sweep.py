"""Step 02: every family at every z and seed (docs/methods.md §3), judged against the mean image and PCA."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from aelib import gates, plots
from aelib.study import capacity, regularisation
from aelib.study.steps.common import train_rows
from aelib.study.study import Study, aggregate_seeds, check_families, check_latent_sizes


def run(study: Study, *, families: Sequence[str] | str = "all", z_values: Sequence[int],
        seeds: Sequence[int], matched: Sequence[str] = (), matched_z: Sequence[int] | None = None,
        matched_seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Train the grid; write ``latent_sweep_runs.csv`` (one row per run, with its sanity gates),
    ``rmse_by_z.csv`` (mean over seeds with a 95 % interval), the figures and ``regulariser_activity.csv``
    (:func:`aelib.study.regularisation.activity`). Then the architectures in ``matched`` (those of
    ``families``) are trained again at fcae's parameter budget at each z of ``matched_z`` and seed of
    ``matched_seeds`` (None: the sweep's; ``matched`` empty: none; :func:`aelib.study.capacity.matched`,
    ``architectures_matched.csv``). Returns ``rmse_by_z``."""
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    specs = [study.spec(f, z, s) for f in families for z in z_values for s in seeds]
    runs, results = study.evaluate_grid("02 latent sweep", "train", specs, table="latent_sweep_runs", rows=sweep_rows)
    if runs.empty:
        return runs
    by_z = study.write_table("rmse_by_z", by_z_table(runs))
    figures(study, runs[study.is_current(runs)], by_z[study.is_current(by_z)], results)
    regularisation.activity(study, families=families, z_values=z_values, seeds=seeds)  # regulariser_activity.csv
    sized = [f for f in check_families(list(matched)) if f in families] if matched else []
    if sized:
        capacity.matched(study, families=sized, z_values=z_values if matched_z is None else matched_z,
                         seeds=seeds if matched_seeds is None else matched_seeds)  # architectures_matched.csv
    return by_z


def sweep_rows(study: Study, results) -> pd.DataFrame:
    """The training runs' rows with the sanity gates against the mean image and PCA at the same z."""
    runs = train_rows(study, results)
    if runs.empty:
        return runs
    x_train, _, _ = study.data("train")
    x_test, _, _ = study.data("test")
    return gates.add_gates(runs, gates.pca_test_rmse(x_train, x_test, runs["latent_dim"].unique()))


def by_z_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean test RMSE per family and z over seeds, with a t-interval (over test samples for one seed)."""
    by_z = aggregate_seeds(runs, ["family", "latent_dim"], ["rmse_mean", "mean_image_rmse", "train_seconds"])
    keys = ["family", "latent_dim", "setting"]
    spread = runs.groupby(keys, dropna=False, as_index=False)[["rmse_ci95_low", "rmse_ci95_high"]].mean()
    by_z = by_z.merge(spread, on=keys, how="left")
    one = by_z["n_seeds"] == 1  # one seed: show the interval over test samples instead
    for side in ("low", "high"):
        by_z[f"rmse_mean_ci95_{side}"] = by_z[f"rmse_mean_ci95_{side}"].where(~one, by_z.pop(f"rmse_ci95_{side}"))
    by_z["interval"] = np.where(one, "95% over test samples (one seed)", "95% t-interval over seeds")
    return by_z


def figures(study: Study, current: pd.DataFrame, shown: pd.DataFrame, results) -> None:
    """RMSE against z with the mean image, and each run's validation loss per epoch (one figure per z)."""
    if shown.empty:
        return
    fig = plots.curve_by_family(shown, x="latent_dim", y="rmse_mean", low="rmse_mean_ci95_low",
                                high="rmse_mean_ci95_high", xlabel="latent size z (log)", ylabel="test RMSE",
                                title="Reconstruction error against z "
                                      f"({study.dataset}, {current['data_source'].iloc[0]})")
    fig.axes[0].axhline(float(current["mean_image_rmse"].iloc[0]), color="0.4", lw=0.8, ls=":", label="mean image")
    plots.figure_legend(fig)
    plots.save_figure(fig, study.figures / "rmse_vs_z")
    histories = [pd.read_csv(r.path / "history.csv").assign(family=r.config["family"], seed=r.config["seed"],
                                                            latent_dim=r.config["latent_dim"])
                 for r in results if r.metrics is not None and (r.path / "history.csv").is_file()]
    for z, part in pd.concat(histories).groupby("latent_dim") if histories else ():
        if "val_loss" in part and part["val_loss"].notna().any():
            plots.save_figure(plots.learning_curves(part, title=f"Validation loss against epoch at z = {z} "
                                                                f"({study.dataset}), relative to the first epoch"),
                              study.figures / f"learning_curves_z{z}")
