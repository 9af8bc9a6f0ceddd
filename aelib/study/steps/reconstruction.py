"""Step 03: what the trained models' reconstructions look like, and how test RMSE spreads over images.

One unit per (family, z): the model of the shown seed reconstructs one test
image per class (kept in the run as ``reconstructions.npy``) and its stored
per-image test RMSE gives the spread (10th, 50th and 90th percentiles).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.study.steps.common import model_setting
from aelib.study.study import Study, Unit, check_families, check_latent_sizes


def run(study: Study, *, families: Sequence[str] | str = "all", z_values: Sequence[int], grid_seed: int,
        n_images: int = 10) -> pd.DataFrame:
    """Reconstruction grids per family, the same digits across families at a small and a large z, and
    ``reconstruction_spread.csv``. Models not in the run store are trained first, through the worker pool
    (:meth:`Study.ensure_models`)."""
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    _, y_test, _ = study.data("test")
    picks = [int(np.flatnonzero(y_test == c)[0]) for c in np.unique(y_test)][:n_images]  # one image per class
    units = [Unit(f"reconstruction grid {f} z={z}", {"family": f, "latent_dim": z, "seed": int(grid_seed),
                                                     "picks": picks, "train": study.spec(f, z, grid_seed).config()},
                  model=study.spec(f, z, grid_seed))
             for f in families for z in z_values]
    table, results = study.evaluate_grid("03 reconstruction", "reconstruction", units, evaluate,
                                         table="reconstruction_spread", rows=spread_rows)
    study.release_models()
    figures(study, [r for r in results if r.metrics is not None], families, z_values)
    return table


def evaluate(study: Study, unit: Unit, run_dir: Path) -> dict:
    config = unit.config
    x_test, _, info = study.data("test")
    model = study.loaded_model(config["family"], config["latent_dim"], config["seed"])
    np.save(run_dir / "reconstructions.npy", model.reconstruct(x_test[config["picks"]]))
    errors = np.load(study.store.path_for("train", config["train"]) / "test_rmse.npy")
    return {"rmse_mean": float(errors.mean()), "rmse_p10": float(np.quantile(errors, 0.1)),
            "rmse_median": float(np.median(errors)), "rmse_p90": float(np.quantile(errors, 0.9)),
            "data_source": info["source"]}


SPREAD_COLUMNS = ["family", "latent_dim", "seed", "rmse_mean", "rmse_p10", "rmse_median", "rmse_p90", "data_source"]


def spread_rows(study: Study, results) -> pd.DataFrame:
    rows = [{**{k: r.config.get(k, r.metrics.get(k)) for k in SPREAD_COLUMNS},
             "setting": model_setting(study, r.config["train"])}
            for r in results]
    return pd.DataFrame(rows, columns=[*SPREAD_COLUMNS, "setting"])


def figures(study: Study, results, families, z_values) -> None:
    """One grid per family (originals, then each z), and the same digits by every family at z = 2 and 40
    (else the smallest and largest z)."""
    if not results:
        return
    x_test, y_test, info = study.data("test")
    picks = results[0].config["picks"]
    originals = x_test[picks]
    drawn = {(r.config["family"], r.config["latent_dim"]): np.load(r.path / "reconstructions.npy") for r in results}
    for family in families:
        shown = [z for z in z_values if (family, z) in drawn]
        if shown:
            fig = plots.image_grid([originals, *(drawn[(family, z)] for z in shown)],
                                   ["original", *(f"z={z}" for z in shown)],
                                   title=f"{plots.family_label(family)}: originals and reconstructions "
                                         f"({info['source']})")
            plots.save_figure(fig, study.figures / f"reconstructions_{family}")
    for z in [z for z in (2, 40) if z in z_values] or sorted({min(z_values), max(z_values)}):
        by_family = {f: drawn[(f, z)] for f in families if (f, z) in drawn}
        if by_family:
            fig = plots.family_reconstructions(originals, by_family, z=z, digits=y_test[picks],
                                               title=f"The same test digits reconstructed at z = {z} "
                                                     f"({info['source']})")
            plots.save_figure(fig, study.figures / f"reconstructions_by_family_z{z}")
