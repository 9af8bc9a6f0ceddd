"""Tuning stage (part of step 01): each family's key setting, chosen on validation data.

A small declared grid per family is trained at one latent size (converged,
like every run) and the value with the lowest **validation RMSE** wins: the
mean per-sample RMSE on the validation split that training held out from the
training data (never the test split). The same criterion for every family
keeps the choice fair and comparable; it is the study's main criterion.
Because a regulariser usually costs reconstruction, the grids hold only
values at which the family is still itself (β > 0, noise > 0, a real mask…);
when the smallest value wins, the table shows it, and a reader should read
that family's rows as "its weakest declared regularisation".

The chosen options are written to ``tables/tuned_options.csv``, keyed by the
study-wide training settings they hold for (:meth:`Study.base_setting`), and
every later step's :class:`Study` picks them up; options the user passes in
``family_options`` win over tuned ones and are not tuned. The run of the
chosen value at the tuning z is the sweep's run at that z (same key), so it is
trained once.
"""
from __future__ import annotations

import json
from typing import Mapping, Sequence

import pandas as pd

from aelib.checks import check_float
from aelib.models import model_options
from aelib.study.study import Study, check_families, check_latent_sizes

#: family → (option, candidate values); the family default is always among them.
DEFAULT_GRIDS: dict[str, tuple[str, list]] = {
    "vae": ("beta", [0.5, 1.0, 2.0]),
    "sae": ("beta", [0.003, 0.01, 0.03]),
    "conae": ("lam", [1e-5, 1e-4, 1e-3]),
    "dae": ("noise_level", [0.1, 0.3, 0.5]),
    "aae": ("generator_lr_scale", [0.1, 0.3, 1.0]),
    "mae": ("mask_ratio", [0.5, 0.75]),
}

TUNING_COLUMNS = ["family", "option", "value", "learning_rate", "latent_dim", "seed", "val_rmse", "rmse_mean",
                  "stopped_by", "epochs_run", "chosen", "setting", "base_setting"]


def check_grids(grids: Mapping[str, Sequence]) -> dict[str, tuple[str, list]]:
    """``{family: (option, values)}`` (or ``{family: {option: values}}``) checked against the families' options."""
    out = {}
    for family, grid in dict(grids).items():
        defaults = model_options(family)  # unknown family → ValueError naming the known ones
        if isinstance(grid, Mapping):
            if len(grid) != 1:
                raise ValueError(f"Expected one option to tune for {family!r}. Received: {dict(grid)!r}")
            option, values = next(iter(grid.items()))
        else:
            option, values = grid
        if option not in defaults:
            raise ValueError(f"Family {family!r} has no option {option!r} to tune. Options it takes: "
                             f"{', '.join(sorted(defaults))}.")
        values = list(values)
        if not values:
            raise ValueError(f"Expected at least one value to try for {family}.{option}. Received: []")
        out[family] = (option, values)
    return out


def candidates(study: Study, family: str, grids: dict, learning_rates: Sequence[float]) -> list[tuple[dict, float]]:
    """(options, learning rate) pairs to train for ``family``; empty when there is nothing to choose."""
    option_values: list[dict] = [{}]
    if family in grids and grids[family][0] not in study.family_options.get(family, {}):
        option, values = grids[family]
        option_values = [{option: v} for v in values]
    pairs = [(opts, float(lr)) for opts in option_values for lr in learning_rates]
    return pairs if len(pairs) > 1 else []


def tune(study: Study, *, families: Sequence[str], z: int = 10, grids: Mapping | None = None,
         learning_rates: Sequence[float] | None = None, seed: int = 0) -> pd.DataFrame:
    """Train each family's grid at latent size ``z`` and keep the value with the lowest validation RMSE.

    Writes ``tables/tuning.csv`` (every candidate) and ``tables/tuned_options.csv``
    (the choice per family), and loads the choices into ``study``. Returns the
    candidates' table.
    """
    families = check_families(families)
    (z,) = check_latent_sizes([z])
    grids = check_grids(DEFAULT_GRIDS if grids is None else grids)
    learning_rates = [study.learning_rate] if not learning_rates else [
        check_float("learning_rate", v, above=0) for v in learning_rates]
    study.refresh_depth()  # the depth step 01's search just found, when it is "auto"
    specs, context = [], []
    with study.untuned():
        for family in families:
            for options, lr in candidates(study, family, grids, learning_rates):
                specs.append(study.spec(family, z, seed, options=options, learning_rate=lr))
                option, value = next(iter(options.items()), (None, None))
                context.append({"option": option, "value": value, "base_setting": study.base_setting()})
        if not specs:  # nothing to choose (no grid, or the user fixed each option): the table stays as it is
            return pd.DataFrame(columns=TUNING_COLUMNS)
        describe = lambda s: (f"tune {s.family} z={s.latent_dim} "  # noqa: E731
                              + ", ".join(f"{k}={v}" for k, v in s.options if k in {grids.get(s.family, ('', []))[0]})
                              + f" lr={s.learning_rate:g}")
        table, _ = study.evaluate_grid("01 tuning", "train", specs, table="tuning", rows=tuning_rows, context=context,
                                       describe=describe)
    if table.empty:
        return table.assign(chosen=pd.Series(dtype=bool))
    current = table[table["base_setting"].astype(str) == study.base_setting()]
    chosen_rows = [{"family": row.family, "options": json.dumps({} if pd.isna(row.option) else {row.option: _plain(row.value)},
                                                                 sort_keys=True),
                    "learning_rate": float(row.learning_rate), "latent_dim": z, "val_rmse": float(row.val_rmse),
                    "base_setting": study.base_setting()}
                   for row in current[current["chosen"] & (current["latent_dim"] == z)].itertuples()]
    _write_choices(study, pd.DataFrame(chosen_rows))
    study.load_tuned()
    return table


def tuning_rows(study: Study, results) -> pd.DataFrame:
    """One row per tuning candidate, ``chosen`` marking the lowest validation RMSE of each family and study setting."""
    rows = [{"family": r.config["family"], "option": r.context["option"], "value": r.context["value"],
             "learning_rate": r.config["learning_rate"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
             "val_rmse": r.metrics.get("val_rmse"), "rmse_mean": r.metrics.get("rmse_mean"),
             "stopped_by": r.metrics.get("stopped_by"), "epochs_run": r.metrics.get("epochs_run"),
             "setting": study.setting_of(r.config, r.metrics.get("data_source")), "base_setting": r.context["base_setting"]}
            for r in results]
    table = pd.DataFrame(rows, columns=[c for c in TUNING_COLUMNS if c != "chosen"])
    table["chosen"] = False
    for _, part in table.groupby(["family", "base_setting", "latent_dim", "seed"], sort=False):
        valid = part[part["val_rmse"].notna()]
        if not valid.empty:  # every candidate failed: the family keeps its defaults (failures are reported)
            table.loc[valid["val_rmse"].astype(float).idxmin(), "chosen"] = True
    return table[TUNING_COLUMNS]


def _plain(value):
    """A NumPy scalar from a DataFrame as a plain Python number (for JSON and run keys)."""
    return value.item() if hasattr(value, "item") else value


def _write_choices(study: Study, chosen: pd.DataFrame) -> None:
    """Merge the choices into ``tuned_options.csv`` (other settings' choices are kept)."""
    from aelib.io import atomic_write_csv

    path = study.tables / "tuned_options.csv"
    if path.is_file() and not chosen.empty:
        try:
            old = pd.read_csv(path, dtype={"base_setting": str})
            keep = ~old.set_index(["family", "base_setting"]).index.isin(
                chosen.set_index(["family", "base_setting"]).index)
            chosen = pd.concat([old[keep], chosen], ignore_index=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError):
            pass  # a damaged table is replaced
    if not chosen.empty:
        atomic_write_csv(path, chosen.sort_values(["base_setting", "family"]).reset_index(drop=True))
