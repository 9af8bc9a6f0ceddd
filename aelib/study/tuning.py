"""Tuning stage (part of step 01): each family's key setting, chosen on validation data by a rule that keeps
the regulariser (docs/methods.md §1, "Tuning that keeps the regulariser").

A small declared grid per family is trained at one latent size (converged,
like every run) and scored by its **validation RMSE**: the mean per-sample
RMSE on the validation split that training held out from the training data
(never the test split). Reconstruction alone always prefers no regulariser,
which would turn every objective into fcae, so the choice is not the lowest
RMSE. Every grid of a regulariser's strength (:data:`STRENGTH_OPTIONS`: 0 turns
it off, a larger value is stronger) holds the unregularised value 0, and the
rule (:func:`strongest_within_tolerance`) picks **the strongest value whose
validation RMSE is within** :data:`TOLERANCE` **(5 %) of the unregularised
model's** — a one-standard-error style rule with a declared tolerance. With
several learning rates each value keeps its best one first. A grid of
another option (not a strength), or one whose unregularised run failed, falls
back to the lowest validation RMSE; the table's ``rule`` column says which
rule chose.

``tables/tuning.csv`` holds every candidate (the zero value included) with its
ratio to the unregularised model's validation RMSE and the choice
(``chosen``). The chosen options are written to ``tables/tuned_options.csv``, keyed by the
study-wide training settings they hold for (:meth:`StudySettings.base_setting`), and
every later step's settings pick them up when resolved (:class:`aelib.study.settings.StudySettings`); options
the user passes in ``family_options`` win over tuned ones and are not tuned. The run of the
chosen value at the tuning z is the sweep's run at that z (same key), so it is
trained once. The whole regularisation path (every candidate's validation RMSE,
a k-NN probe on validation codes and the family's own activity measure) is
``tables/regularisation_path.csv`` (:mod:`aelib.study.regularisation`).
"""
from __future__ import annotations

import json
import math
from typing import Mapping, Sequence

import pandas as pd

from aelib.checks import check_float
from aelib.io import atomic_write_csv
from aelib.models import model_options
from aelib.study import regularisation
from aelib.study.settings import check_families, check_latent_sizes
from aelib.study.study import Study

#: The tuning rule's tolerance: the strongest regulariser whose validation RMSE is at most ``1 + TOLERANCE`` times
#: the unregularised model's is chosen (docs/methods.md §1). The one place it is set.
TOLERANCE = 0.05
#: Tuned options that set a regulariser's strength: 0 turns the regulariser off, a larger value is stronger
#: (aae's ``generator_lr_scale`` 0: the encoder never takes a step of the regularisation phase).
STRENGTH_OPTIONS = ("beta", "lam", "noise_level", "generator_lr_scale", "mask_ratio", "l1")
#: The unregularised value of every option in :data:`STRENGTH_OPTIONS`; every grid of one holds it.
UNREGULARISED = 0.0
RULE_STRONGEST = f"strongest within {TOLERANCE:.0%} of the unregularised validation RMSE"
RULE_LOWEST = "lowest validation RMSE"

#: family → (option, candidate values): the unregularised value 0, the family default, and values around it
#: (3-4 values each for CPU cost; mae's holds He et al.'s 0.75).
DEFAULT_GRIDS: dict[str, tuple[str, list]] = {
    "vae": ("beta", [0.0, 0.5, 1.0, 2.0]),
    "sae": ("beta", [0.0, 0.003, 0.01, 0.03]),
    "conae": ("lam", [0.0, 1e-3, 1e-2, 1e-1]),
    "dae": ("noise_level", [0.0, 0.1, 0.3, 0.5]),
    "aae": ("generator_lr_scale", [0.0, 0.1, 0.3, 1.0]),
    "mae": ("mask_ratio", [0.0, 0.25, 0.75]),
    "mmae": ("mask_ratio", [0.0, 0.25, 0.75]),
}

TUNING_COLUMNS = ["family", "option", "value", "learning_rate", "latent_dim", "seed", "val_rmse", "rmse_mean",
                  "stopped_by", "epochs_run", "reference_val_rmse", "val_rmse_ratio", "within_tolerance", "rule",
                  "chosen", "setting", "base_setting"]


def strongest_within_tolerance(values: Sequence[float], val_rmse: Sequence[float], *,
                               tolerance: float = TOLERANCE) -> int:
    """The tuning rule: the index of the strongest (largest) value whose validation RMSE is at most
    ``(1 + tolerance)`` times that of the unregularised value (0). Candidates without a finite RMSE are skipped;
    of equal values the first counts.

    Raises:
        ValueError: values and RMSEs of different lengths, a negative or non-numeric value, or no
            unregularised value with a finite RMSE.
    """
    values, val_rmse = list(values), [float(v) for v in val_rmse]
    if len(values) != len(val_rmse):
        raise ValueError(f"Expected one validation RMSE per value. Received: {len(values)} values and "
                         f"{len(val_rmse)} RMSEs")
    tolerance = check_float("tolerance", tolerance, minimum=0)
    for value in values:
        check_float("value", value, minimum=0)
    finite = [i for i, r in enumerate(val_rmse) if math.isfinite(r)]
    zero = [i for i in finite if values[i] == UNREGULARISED]
    if not zero:
        raise ValueError("Expected the unregularised value 0 among the candidates with a finite validation RMSE. "
                         f"Received: values={values!r}, val_rmse={val_rmse!r}")
    reference = min(val_rmse[i] for i in zero)
    within = [i for i in finite if val_rmse[i] <= (1.0 + tolerance) * reference]
    return max(within, key=lambda i: (values[i], -i))


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
        if option in STRENGTH_OPTIONS and UNREGULARISED not in values:
            raise ValueError(f"Expected the unregularised value {UNREGULARISED:g} in the grid of {family}.{option} "
                             f"(the tuning rule measures every value against it). Received: {values!r}")
        out[family] = (option, values)
    return out


def candidates(study: Study, family: str, grids: dict, learning_rates: Sequence[float]) -> list[tuple[dict, float]]:
    """(options, learning rate) pairs to train for ``family``; empty when there is nothing to choose."""
    option_values: list[dict] = [{}]
    if family in grids and grids[family][0] not in study.settings.family_options.get(family, {}):
        option, values = grids[family]
        option_values = [{option: v} for v in values]
    pairs = [(opts, float(lr)) for opts in option_values for lr in learning_rates]
    return pairs if len(pairs) > 1 else []


def tune(study: Study, *, families: Sequence[str], z: int = 10, grids: Mapping | None = None,
         learning_rates: Sequence[float] | None = None, seed: int = 0) -> pd.DataFrame:
    """Train each family's grid at latent size ``z`` and choose by the tuning rule (module docstring).

    Writes ``tables/tuning.csv`` (every candidate), ``tables/tuned_options.csv``
    (the choice per family) and the regularisation path
    (``tables/regularisation_path.csv`` and its figure), and loads the choices
    into ``study``. Returns the candidates' table.
    """
    families = check_families(families)
    (z,) = check_latent_sizes([z])
    grids = check_grids(DEFAULT_GRIDS if grids is None else grids)
    learning_rates = [study.settings.training.learning_rate] if not learning_rates else [
        check_float("learning_rate", v, above=0) for v in learning_rates]
    study.reread_settings()  # the depth step 01's search just found, when it is "auto"
    specs, context = [], []
    with study.untuned():
        for family in families:
            for options, lr in candidates(study, family, grids, learning_rates):
                specs.append(study.spec(family, z, seed, options=options, learning_rate=lr))
                option, value = next(iter(options.items()), (None, None))
                context.append({"option": option, "value": value, "base_setting": study.settings.base_setting()})
        if not specs:  # nothing to choose (no grid, or the user fixed each option): the table stays as it is
            return pd.DataFrame(columns=TUNING_COLUMNS)
        describe = lambda s: (f"tune {s.family} z={s.latent_dim} "  # noqa: E731
                              + ", ".join(f"{k}={v}" for k, v in s.options if k in {grids.get(s.family, ('', []))[0]})
                              + f" lr={s.learning_rate:g}")
        table, _ = study.evaluate_grid("01 tuning", "train", specs, table="tuning", rows=tuning_rows, context=context,
                                       describe=describe)
    if table.empty:
        return table.assign(chosen=pd.Series(dtype=bool))
    current = table[table["base_setting"].astype(str) == study.settings.base_setting()]
    chosen_rows = [{"family": row.family,
                    "options": json.dumps({} if pd.isna(row.option) else {row.option: _plain(row.value)},
                                          sort_keys=True),
                    "learning_rate": float(row.learning_rate), "latent_dim": z, "val_rmse": float(row.val_rmse),
                    "base_setting": study.settings.base_setting()}
                   for row in current[current["chosen"] & (current["latent_dim"] == z)].itertuples()]
    _write_choices(study, pd.DataFrame(chosen_rows))
    regularisation.path(study, [s for s, c in zip(specs, context) if c["option"] is not None], current,
                        tolerance=TOLERANCE)
    study.reread_settings()  # the choices, for what runs next in this process
    return table


def tuning_rows(study: Study, results) -> pd.DataFrame:
    """One row per tuning candidate, ``chosen`` marking the tuning rule's choice per family and study setting."""
    rows = [{"family": r.config["family"], "option": r.context["option"], "value": r.context["value"],
             "learning_rate": r.config["learning_rate"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
             "val_rmse": r.metrics.get("val_rmse"), "rmse_mean": r.metrics.get("rmse_mean"),
             "stopped_by": r.metrics.get("stopped_by"), "epochs_run": r.metrics.get("epochs_run"),
             "setting": study.setting_of(r.config, r.metrics.get("data_source")),
             "base_setting": r.context["base_setting"]}
            for r in results]
    table = pd.DataFrame(rows, columns=[c for c in TUNING_COLUMNS if c not in RULE_COLUMNS])
    parts = [choose(part) for _, part in table.groupby(["family", "base_setting", "latent_dim", "seed"], sort=False)]
    table = pd.concat(parts) if parts else table.assign(**{c: pd.Series(dtype=object) for c in RULE_COLUMNS})
    return table[TUNING_COLUMNS]


RULE_COLUMNS = ("reference_val_rmse", "val_rmse_ratio", "within_tolerance", "rule", "chosen")


def choose(part: pd.DataFrame) -> pd.DataFrame:
    """The candidates of one family (one setting, z and seed) with the rule's columns: the unregularised model's
    validation RMSE, each candidate's ratio to it, whether it is within :data:`TOLERANCE`, the rule used and the
    choice. Each value competes with its best learning rate."""
    part = part.assign(reference_val_rmse=math.nan, val_rmse_ratio=math.nan, within_tolerance=pd.NA, rule=None,
                       chosen=False)
    rmse = pd.to_numeric(part["val_rmse"], errors="coerce")
    valid = part[rmse.notna()]
    if valid.empty:  # every candidate failed: the family keeps its defaults (failures are reported)
        return part
    # each value's best learning rate (the first of equals)
    best = valid.loc[rmse[valid.index].groupby(valid["value"].astype(str), sort=False).idxmin()]
    option = part["option"].iloc[0]
    strengths = option in STRENGTH_OPTIONS and (pd.to_numeric(best["value"], errors="coerce") == UNREGULARISED).any()
    if strengths:
        values = pd.to_numeric(best["value"]).tolist()
        pick = best.index[strongest_within_tolerance(values, rmse[best.index].tolist())]
        reference = float(rmse[best.index[[v == UNREGULARISED for v in values]]].min())
        part["reference_val_rmse"] = reference
        part["val_rmse_ratio"] = rmse / reference
        part["within_tolerance"] = (rmse <= (1.0 + TOLERANCE) * reference).where(rmse.notna(), pd.NA)
        part["rule"] = RULE_STRONGEST
    else:
        pick = rmse[valid.index].idxmin()
        part["rule"] = RULE_LOWEST
    part.loc[pick, "chosen"] = True
    return part


def _plain(value):
    """A NumPy scalar from a DataFrame as a plain Python number (for JSON and run keys)."""
    return value.item() if hasattr(value, "item") else value


def _write_choices(study: Study, chosen: pd.DataFrame) -> None:
    """Merge the choices into ``tuned_options.csv`` (other settings' choices are kept)."""
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
