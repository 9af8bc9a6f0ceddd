"""The capacity part of REPORT: the objective families on one backbone, and the architectures at matched capacity
(docs/methods.md §1, "Objective or architecture").

Two questions a reader asks of a comparison of families: do the objective families differ only in their objective
(their parameter counts agree with fcae's), and does an architecture win because of its design or because of its
size? The second is answered by ``architectures_matched`` (step 02): cae, mae (and rae in the thesis profile)
trained again with their widths chosen so that their parameter count is fcae's at each z.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aelib.families import OBJECTIVE_FAMILIES
from aelib.report.tables import markdown, write_table

#: How far an objective family's parameter count may be from fcae's and still count as the same backbone.
BACKBONE_TOLERANCE = 0.10


def backbone_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Parameter count of each objective family against fcae's at each z (``params_ratio``)."""
    if runs.empty or "n_params" not in runs:
        return pd.DataFrame()
    params = runs.groupby(["family", "latent_dim"], as_index=False)["n_params"].first()
    fcae = params[params["family"] == "fcae"].set_index("latent_dim")["n_params"]
    shared = params[params["family"].isin(OBJECTIVE_FAMILIES)].copy()
    shared["fcae_params"] = shared["latent_dim"].map(fcae)
    shared["params_ratio"] = shared["n_params"] / shared["fcae_params"]
    return shared.dropna(subset=["params_ratio"]).reset_index(drop=True)


def matched_table(matched: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per family and z: the matched models' parameter count against fcae's budget, their test RMSE (mean, min and
    max over seeds), the family's native size and RMSE in the main sweep, and fcae's RMSE; ``seeds_below_fcae``
    counts the seeds whose matched model has a lower test RMSE than fcae's of the same seed."""
    if matched.empty:
        return pd.DataFrame()
    keys = ["family", "latent_dim"]
    fcae_by_seed = matched[matched["family"] == "fcae"].set_index(["latent_dim", "seed"])["rmse_mean"]
    archs = matched[matched["family"] != "fcae"].copy()
    archs["fcae_rmse"] = [fcae_by_seed.get((z, s), np.nan) for z, s in zip(archs["latent_dim"], archs["seed"])]
    archs["below_fcae"] = archs["rmse_mean"] < archs["fcae_rmse"]
    table = archs.groupby(keys, as_index=False).agg(
        params=("params", "first"), budget=("budget", "first"), n_seeds=("seed", "nunique"),
        rmse_matched=("rmse_mean", "mean"), rmse_matched_min=("rmse_mean", "min"),
        rmse_matched_max=("rmse_mean", "max"), fcae_rmse=("fcae_rmse", "mean"),
        seeds_below_fcae=("below_fcae", "sum"), native_params=("native_params", "first"))
    table["params_ratio"] = table["params"] / table["budget"]
    if not runs.empty and "rmse_mean" in runs:
        native = runs.groupby(keys, as_index=False)["rmse_mean"].mean().rename(columns={"rmse_mean": "rmse_native"})
        table = table.merge(native, on=keys, how="left")
    return table


def capacity_matched_section(matched: pd.DataFrame, runs: pd.DataFrame, out: Path) -> str:
    """REPORT's "Objectives on one backbone, architectures at matched capacity" section; writes
    ``out/backbone_params`` and ``out/architectures_matched_by_z``."""
    text = "## Objectives on one backbone, architectures at matched capacity\n\n"
    backbone = backbone_table(runs)
    if not backbone.empty:
        write_table(backbone, out / "backbone_params",
                    caption="Parameter count of each objective family against fcae's at the same z")
        worst = backbone.loc[(backbone["params_ratio"] - 1).abs().idxmax()]
        off = backbone[(backbone["params_ratio"] - 1).abs() > BACKBONE_TOLERANCE]
        text += (f"The objective families ({', '.join(sorted(backbone['family'].unique()))}) use fcae's depth-rule "
                 "MLP encoder and decoder, so a difference between them is one of objective. Their parameter "
                 f"counts are within {abs(worst['params_ratio'] - 1):.1%} of fcae's at every z (largest: "
                 f"{worst['family']} at z = {int(worst['latent_dim'])}; `summary/backbone_params.csv`).")
        if not off.empty:
            text += (f" **Off the shared backbone by more than {BACKBONE_TOLERANCE:.0%}**: "
                     + ", ".join(f"{r.family} at z = {int(r.latent_dim)} ({r.params_ratio:.2f}×)"
                                 for r in off.itertuples()) + ".")
        text += "\n\n"
    table = matched_table(matched, runs)
    if table.empty:
        return text + ("_No architectures at matched capacity under these settings (step 02's `matched` "
                       "parameter names the families to size to fcae's parameter count)._\n")
    write_table(table, out / "architectures_matched_by_z",
                caption="Architectures at fcae's parameter count: test RMSE (mean, min, max over seeds) against fcae's "
                        "and against the family's native size")
    text += ("cae, mae (and rae in the thesis profile) have designs of their own (convolutions, a transformer, a "
             "recurrent cell) and native sizes far from fcae's. Here each was trained again with its width chosen "
             "so that its parameter count is fcae's at each z (`params_ratio`; the width is searched over the "
             "family's width option, `summary/architectures_matched.csv`). `seeds_below_fcae` counts the seeds "
             "whose matched model reconstructs the test set better than fcae's model of the same seed.\n\n")
    lines = []
    for r in table.itertuples():
        verdict = ("below fcae in every seed" if r.seeds_below_fcae == r.n_seeds else
                   "above fcae in every seed" if r.seeds_below_fcae == 0 else
                   f"below fcae in {int(r.seeds_below_fcae)} of {int(r.n_seeds)} seeds")
        native = (f"; at its native {int(r.native_params):,} parameters {r.rmse_native:.4f}"
                  if np.isfinite(getattr(r, "rmse_native", np.nan)) else "")
        lines.append(f"- {r.family}, z = {int(r.latent_dim)}: {r.rmse_matched:.4f} at {int(r.params):,} parameters "
                     f"against fcae's {r.fcae_rmse:.4f}: {verdict}{native}.")
    return text + "\n".join(lines) + "\n\n" + markdown(table) + "\n"
