"""Sanity gates and convergence: what a reviewer checks before reading a ranking.

Every trained model must beat the obvious baselines at its own latent size:

- ``beats_mean_image``: its test RMSE is below predicting the training mean image;
- ``vanilla_near_pca`` (``vanilla`` only): a linear encoder with a sigmoid
  output is within 5 % of PCA's test RMSE at the same z, or better;
- ``fcae_beats_pca`` (``fcae`` at z <= 20 only): the deep MLP is below PCA.

A gate that does not apply is empty (NaN). A failing gate is a finding: the
report lists it, it is never dropped. A training run *converged* when early
stopping ended it (``stopped_by == "early_stopping"``); runs stopped by the
epoch cap are listed and marked wherever their numbers appear.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from aelib.baselines import pca_rmse

#: vanilla may be this much worse than PCA (relative) and still pass.
VANILLA_PCA_TOLERANCE = 0.05
#: fcae must beat PCA at every z up to this size.
FCAE_PCA_MAX_Z = 20
GATES = ("beats_mean_image", "vanilla_near_pca", "fcae_beats_pca")
#: Mark put beside a number that comes from a run stopped by the epoch cap.
CAP_MARK = "†"


def pca_test_rmse(x_train: np.ndarray, x_test: np.ndarray, z_values: Iterable[int]) -> dict[int, float]:
    """Mean test RMSE of PCA with ``z`` components, for each ``z`` that fits the data."""
    return {z: value for (_, z), value in pca_rmse(x_train, {"test": x_test}, z_values).items()}


def add_gates(runs: pd.DataFrame, pca_rmse: dict[int, float]) -> pd.DataFrame:
    """``runs`` (one row per trained model: family, latent_dim, rmse_mean,
    mean_image_rmse) with ``pca_rmse`` and one boolean column per gate
    (``gate_<name>``; NaN where the gate does not apply)."""
    out = runs.copy()
    if out.empty:
        for column in ("pca_rmse", *(f"gate_{g}" for g in GATES)):
            out[column] = pd.Series(dtype=float)
        return out
    z = out["latent_dim"].astype(int)
    out["pca_rmse"] = [pca_rmse.get(int(v), np.nan) for v in z]
    rmse = out["rmse_mean"].astype(float)
    out["gate_beats_mean_image"] = (rmse < out["mean_image_rmse"].astype(float)).astype(object)
    vanilla = (out["family"] == "vanilla") & out["pca_rmse"].notna()
    out["gate_vanilla_near_pca"] = np.where(vanilla, rmse <= (1 + VANILLA_PCA_TOLERANCE) * out["pca_rmse"], None)
    fcae = (out["family"] == "fcae") & (z <= FCAE_PCA_MAX_Z) & out["pca_rmse"].notna()
    out["gate_fcae_beats_pca"] = np.where(fcae, rmse < out["pca_rmse"], None)
    return out


def gate_failures(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, gate) that failed: family, latent_dim, seed, gate, rmse, reference."""
    rows = []
    reference = {"beats_mean_image": "mean_image_rmse", "vanilla_near_pca": "pca_rmse", "fcae_beats_pca": "pca_rmse"}
    for gate in GATES:
        column = f"gate_{gate}"
        if column not in runs:
            continue
        failed = runs[runs[column].apply(lambda v: v is False or v is np.False_ or v == "False")]
        for _, row in failed.iterrows():
            rows.append({"family": row["family"], "latent_dim": int(row["latent_dim"]), "seed": row.get("seed"),
                         "gate": gate, "rmse_mean": row["rmse_mean"], "reference": reference[gate],
                         "reference_rmse": row.get(reference[gate])})
    return pd.DataFrame(rows, columns=["family", "latent_dim", "seed", "gate", "rmse_mean", "reference",
                                       "reference_rmse"])


def convergence_summary(records: pd.DataFrame) -> tuple[int, int, pd.DataFrame]:
    """(converged, total, runs not stopped by early stopping) over training-run records."""
    if records.empty or "stopped_by" not in records:
        return 0, int(len(records)), pd.DataFrame()
    converged = records["stopped_by"] == "early_stopping"
    cols = [c for c in ("step", "family", "latent_dim", "depth", "seed", "tuned", "stopped_by", "epochs_run",
                        "best_epoch") if c in records]
    order = [c for c in ("family", "latent_dim", "depth", "seed") if c in cols]
    others = records.loc[~converged, cols].sort_values(order)
    others = others.dropna(axis=1, how="all").reset_index(drop=True)
    return int(converged.sum()), int(len(records)), others
