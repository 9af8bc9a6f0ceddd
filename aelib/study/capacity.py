"""Architectures at matched capacity (docs/methods.md §1, "Objective or architecture"): cae, rae and mae trained
at fcae's parameter budget at each z (:mod:`aelib.models.capacity`), beside fcae's own runs, in
``tables/architectures_matched.csv``. The main sweep keeps their native sizes.

Each matched model is a training run like any other (its width options are part of its key), trained through the
study's worker pool; fcae's runs at the same z and seeds are the sweep's own.
"""
from __future__ import annotations

import json
from typing import Sequence

import pandas as pd

from aelib.models import build_model
from aelib.models.capacity import WIDTH_KNOBS, budget, matched_options
from aelib.study.study import Study, check_families, check_latent_sizes

#: The families sized to fcae's budget by default.
ARCHITECTURES = ("cae", "rae", "mae")
MATCHED_COLUMNS = ["family", "latent_dim", "seed", "setting", "params", "budget", "params_ratio", "width",
                   "native_params", "rmse_mean", "rmse_ci95_low", "rmse_ci95_high", "val_rmse", "epochs_run",
                   "stopped_by", "train_seconds"]


def matched(study: Study, *, families: Sequence[str] = ARCHITECTURES, z_values: Sequence[int],
            seeds: Sequence[int]) -> pd.DataFrame:
    """Train ``families`` sized to fcae's parameter count at each z (and fcae itself), and write
    ``architectures_matched.csv``: one row per run, with its parameter count against the budget, its width
    options, the family's native parameter count, and its test and validation RMSE."""
    families = check_families(families)
    unknown = [f for f in families if f not in WIDTH_KNOBS and f != "fcae"]
    if unknown:
        raise ValueError(f"No width knob for {unknown}: families sized to a budget are {', '.join(WIDTH_KNOBS)}.")
    z_values = check_latent_sizes(z_values)
    input_shape = study.data("train")[0].shape[1:]
    specs, context = [], []
    for z in z_values:
        target = budget(z, depth=study.depth, input_shape=input_shape)
        for family in ["fcae", *[f for f in families if f != "fcae"]]:
            width = {} if family == "fcae" else matched_options(family, latent_dim=z, target=target,
                                                                 depth=study.depth, input_shape=input_shape)
            native = build_model(family, input_shape=input_shape, latent_dim=z, depth=study.depth,
                                 **{k: v for k, v in study.spec(family, z).options
                                    if k not in width}).autoencoder_params()
            for seed in seeds:
                specs.append(study.spec(family, z, seed, options=width))
                context.append({"budget": target, "width": json.dumps(width, sort_keys=True, default=list),
                                "native_params": native})
    table, _ = study.evaluate_grid("02 architectures at matched capacity", "train", specs,
                                   table="architectures_matched", rows=matched_rows, context=context)
    return table


def matched_rows(study: Study, results) -> pd.DataFrame:
    rows = [{"family": r.config["family"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
             "setting": study.setting_of(r.config, r.metrics.get("data_source")),
             "params": r.metrics.get("n_params"), **(r.context or {}),
             **{k: r.metrics.get(k) for k in ("rmse_mean", "rmse_ci95_low", "rmse_ci95_high", "val_rmse", "epochs_run",
                                              "stopped_by", "train_seconds")}}
            for r in results if r.metrics is not None]
    table = pd.DataFrame(rows, columns=[c for c in MATCHED_COLUMNS if c != "params_ratio"])
    table["params_ratio"] = table["params"] / table["budget"]
    return table[MATCHED_COLUMNS]
