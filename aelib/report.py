"""Step 8: consolidated comparison over families, thesis outputs and REPORT.md.

Every table is written three ways — CSV for machines, LaTeX (booktabs, ready
to ``\\input``) for the thesis, Markdown for the report — from the tables the
earlier steps wrote, plus a PCA baseline at the same z values and a power-law
model of RMSE(z) per family checked on z values left out of the fit.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from aelib import latex, plots, stats
from aelib.baselines import pca_rmse
from aelib.io import atomic_write_text
from aelib.metrics import scaling
from aelib.metrics.scaling import (  # noqa: F401 (public names of this module too)
    fit_power_law, held_out_check, held_out_predictions, power_law)
from aelib.study import gates
from aelib.study.store import mark_summarising
from aelib.study.study import Study

# ------------------------------------------------------------------ performance prediction (aelib.metrics.scaling)


def performance_prediction_section(out: Path, *, by_z: pd.DataFrame, pca: pd.DataFrame, runs: pd.DataFrame,
                                   ood: pd.DataFrame, latent: pd.DataFrame, gen: pd.DataFrame,
                                   n_boot: int = stats.N_BOOT, seed: int = 0) -> str:
    """Power-law fits of RMSE(z) with their warnings, extrapolation to the largest z, and how well in-distribution
    RMSE and parameter count predict the other criteria. Writes ``rmse_power_law``, ``rmse_power_law_heldout``,
    ``rmse_extrapolation``, ``rmse_extrapolation_summary`` and ``criterion_prediction`` (each .csv/.tex/.md) in
    ``out``; returns the REPORT.md section. Any of the tables may be empty (its step has not run)."""
    parts = ["## Performance prediction\n"]
    summary = pd.DataFrame()
    if not by_z.empty:
        cells = scaling.cell_means(by_z, ["rmse_mean"])  # one row per family and z (rmse_by_z averages the seeds)
        fits, heldout = [], []
        for family, part in cells.groupby("family"):
            try:
                fit = fit_power_law(part["latent_dim"], part["rmse_mean"])
                fit.update(held_out_check(part["latent_dim"], part["rmse_mean"]))
                heldout.append(held_out_predictions(part["latent_dim"], part["rmse_mean"]).assign(family=family))
            except ValueError as err:
                fit = {"degenerate": True, "note": str(err)}
            fits.append({"family": family, "n_z": len(part), **fit})
        fits = pd.DataFrame(fits).drop(columns=["n_points"], errors="ignore")
        write_table(fits, out / "rmse_power_law",
                    caption="Fit of RMSE(z) = a z^{-b} + c per family on all z, with the parameters at a bound, "
                            "whether the fit is degenerate and why, and the leave-one-out (interpolation) error")
        heldout = pd.concat(heldout, ignore_index=True) if heldout else pd.DataFrame()
        if not heldout.empty:
            heldout["latent_dim"] = heldout["latent_dim"].astype(int)
            write_table(heldout[["family", "latent_dim", "observed", "predicted", "rel_error", "degenerate"]],
                        out / "rmse_power_law_heldout",
                        caption="RMSE at each z predicted by the power law fitted on the other z (interpolation)")
        shown = [c for c in ("family", "n_z", "a", "b", "c", "r2", "at_bound", "degenerate", "note") if c in fits]
        parts.append("**Power law on all z.** RMSE(z) = a·z^(−b) + c per family, bounds a, c ≥ 0 and "
                     f"0 ≤ b ≤ {scaling.POWER_LAW_BOUNDS['b'][1]:g}; `degenerate` says when the parameters should not "
                     "be read (the note says why). Leave-one-out errors over z (interpolation) are in "
                     "`summary/rmse_power_law.csv` and `summary/rmse_power_law_heldout.csv`.\n\n"
                     + markdown(fits[shown], digits=3))
        pin = pca[pca["role"] == "in-distribution"] if not pca.empty and "role" in pca else pd.DataFrame()
        pca_by_z = dict(zip(pin["latent_dim"].astype(int), pin["rmse_mean"])) if not pin.empty else {}
        table = scaling.extrapolation_table(cells, pca_by_z)
        caption = (f"RMSE at the largest z predicted from the smaller ones ({scaling.EXTRAPOLATION_RULE}); "
                   "rel_error = (predicted - observed)/observed; test RMSE averaged over seeds per cell")
        write_table(table, out / "rmse_extrapolation", caption=caption)
        summary = scaling.extrapolation_summary(table)
        write_table(summary, out / "rmse_extrapolation_summary",
                    caption="Median absolute relative error of each predictor over families")
        parts.append(f"**Extrapolation in z.** Each family's RMSE at its largest z is predicted from its smaller z: "
                     f"{scaling.EXTRAPOLATION_RULE}. Predictors: "
                     + "; ".join(f"{name}: {text}" for name, text in scaling.PREDICTOR_TEXT.items())
                     + f" (PCA RMSE from the baseline above). The power law is fitted only on more than "
                     f"{len(scaling.POWER_LAW_PARAMS)} points. Cells: predicted RMSE (relative error). Full table in "
                     "`summary/rmse_extrapolation.csv`.\n\n" + markdown(_extrapolation_display(table))
                     + "\nMedian |relative error| over families:\n\n"
                     + markdown(summary.assign(median_abs_rel_error=summary["median_abs_rel_error"] * 100)
                                .rename(columns={"median_abs_rel_error": "median |rel. error| (%)"}), digits=3))
    else:
        parts.append("_Step 02 has not written rmse_by_z.csv yet: no fits or extrapolation._\n")
    criteria = scaling.criterion_prediction(runs, ood=ood, latent=latent, gen=gen, n_boot=n_boot, seed=seed)
    write_table(criteria, out / "criterion_prediction",
                caption=f"Spearman rho across family x z cells (each averaged over seeds) of in-distribution RMSE and "
                        f"parameter count against the other criteria, with a 95\\% percentile bootstrap interval "
                        f"over cells ({n_boot} resamples, seed {seed})")
    shown = criteria.assign(interval=[f"[{lo:.2f}, {hi:.2f}]" if pd.notna(lo) else "–"
                                      for lo, hi in zip(criteria["ci95_low"], criteria["ci95_high"])])
    parts.append("**Other criteria from in-distribution RMSE and parameter count.** Spearman's ρ across family × z "
                 "cells (every table averaged over its seeds per cell first), with a 95 % percentile bootstrap "
                 f"interval over cells ({n_boot} resamples, seed {seed}). Cells of one family share its architecture, "
                 "so they are not independent and the intervals are on the narrow side. Label consistency: the share "
                 "of decoded perturbed codes classified as the original image's label, at the smallest perturbation "
                 "level p > 0 of each mode (close to the reconstructions', one step into the perturbation curve).\n\n"
                 + markdown(shown[["predictor", "target", "n_cells", "spearman", "interval", "note"]], digits=3))
    parts.append("**Reading.** " + _prediction_reading(summary, criteria) + "\n")
    return "\n".join(parts)


def _extrapolation_display(table: pd.DataFrame) -> pd.DataFrame:
    """The extrapolation table for the report: one cell per predictor, 'predicted (relative error %)'."""
    if table.empty or "position" not in table:
        return table
    shown = table[["family", "fit_z", "latent_dim", "observed"]].rename(columns={"fit_z": "fitted z",
                                                                                  "latent_dim": "predicted z"})
    for name in scaling.PREDICTORS:
        cells = []
        for value, error, status in zip(table[name], table[f"{name}_rel_error"], table["power_law_status"]):
            if name == "power_law" and str(status).startswith("not fittable"):
                cells.append("not fittable")
            elif pd.isna(value):
                cells.append("–")
            else:
                flag = " (degenerate)" if name == "power_law" and "degenerate" in str(status) else ""
                cells.append(f"{value:.4f} ({error * 100:+.1f} %){flag}")
        shown[name.replace("_", "-")] = cells
    return shown


def _prediction_reading(summary: pd.DataFrame, criteria: pd.DataFrame) -> str:
    """One plain paragraph from the numbers of the extrapolation summary and the criterion correlations."""
    sentences = []
    largest = summary[summary["position"] == "largest"] if not summary.empty else summary
    if not largest.empty:
        known = largest.dropna(subset=["median_abs_rel_error"]).sort_values("median_abs_rel_error")
        total = int(largest["n_families"].max())
        said = [f"{row.median_abs_rel_error * 100:.1f} % for {row.predictor.replace('_', '-')}"
                + (f" (over {row.n_families} of {total} families)" if row.n_families < total else "")
                for row in known.itertuples()]
        text = ("Predicting each family's RMSE at its largest z from its smaller z, the median miss over families is "
                + (", ".join(said) if said else "unknown (no predictor could be fitted)"))
        missing = [p.replace("_", "-") for p in largest.loc[largest["median_abs_rel_error"].isna(), "predictor"]]
        if missing and said:
            text += f"; the {' and '.join(missing)} could not be fitted for any family (too few z below the largest)"
        sentences.append(text + ".")
    names = {"id_rmse": "In-distribution RMSE", "n_params": "Parameter count"}
    for predictor, part in criteria.dropna(subset=["spearman"]).groupby("predictor", sort=False):
        said = [f"{row.target} ρ = {row.spearman:.2f} [{row.ci95_low:.2f}, {row.ci95_high:.2f}]"
                for row in part.itertuples()]
        clear = part[(part["ci95_low"] > 0) | (part["ci95_high"] < 0)]
        verdict = ("every interval excludes 0" if len(clear) == len(part) else "no interval excludes 0" if clear.empty
                   else f"the interval excludes 0 for {', '.join(clear['target'])} only")
        sentences.append(f"{names.get(predictor, predictor)} against {'; '.join(said)}: {verdict}.")
    skipped = criteria[criteria["spearman"].isna() & criteria["note"].astype(str).str.startswith("skipped")]
    if not skipped.empty:
        sentences.append("Not computed: " + "; ".join(sorted({n.removeprefix("skipped: ") for n in skipped["note"]}))
                         + ".")
    return " ".join(sentences) if sentences else "Nothing to read yet: the steps these tables need have not run."


# ------------------------------------------------------------------ output helpers


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (so a
    committed report does not name one machine's folders), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_table(frame: pd.DataFrame, stem: Path, *, caption: str, data: str = "") -> list[Path]:
    """``stem``.csv (all columns, full precision), .tex (for the thesis: display names, per-column precision,
    the best values bold, fitted to a 16 cm text width; :func:`aelib.latex.table_latex`) and .md; returns the
    paths. ``caption``: plain text (``$…$`` math allowed); ``data``: on which data, added to the LaTeX caption."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    atomic_write_text(stem.with_suffix(".tex"), latex.table_latex(frame, stem.name, caption=caption, data=data))
    atomic_write_text(stem.with_suffix(".md"), markdown(frame))
    return [stem.with_suffix(s) for s in (".csv", ".tex", ".md")]


def data_text(runs: pd.DataFrame, dataset: str) -> str:
    """On which data a table's models were trained and scored, for its caption, from a runs table
    (``data_source``, ``data_stand_in``, ``n_train_used``, ``n_test_used``): "MNIST (source: …; stand-in
    data): trained on 4000 images, scored on 1000 test images"; "" without those columns."""
    if runs.empty:
        return ""
    name = latex.DATASET_NAMES.get(dataset, dataset)
    sources = sorted({str(s) for s in runs["data_source"].dropna()}) if "data_source" in runs else []
    stand_in = "data_stand_in" in runs and runs["data_stand_in"].astype(str).str.lower().isin(["true", "1"]).any()
    counts = []
    for column, what in (("n_train_used", "trained on {} images"), ("n_test_used", "scored on {} test images")):
        values = sorted({int(v) for v in runs[column].dropna()}) if column in runs else []
        if values:
            counts.append(what.format("/".join(map(str, values))))
    detail = "; ".join(([f"source: {', '.join(sources)}"] if sources else []) + (["stand-in data"] if stand_in else []))
    return f"{name}" + (f" ({detail})" if detail else "") + (": " + ", ".join(counts) if counts else "")


def ood_sources_text(comp: pd.DataFrame) -> str:
    """The complementary data sets with their sources, stand-ins marked, for a caption."""
    if comp.empty or "dataset" not in comp:
        return ""
    parts = []
    for dataset, part in comp.groupby("dataset", sort=True):
        source = ", ".join(sorted({str(s) for s in part["data_source"].dropna()})) if "data_source" in part else ""
        stand_in = "stand_in" in part and part["stand_in"].astype(str).str.lower().isin(["true", "1"]).any()
        detail = "; ".join(([f"source: {source}"] if source else []) + (["stand-in data"] if stand_in else []))
        parts.append(latex.DATASET_NAMES.get(dataset, dataset) + (f" ({detail})" if detail else ""))
    return "Complementary data: " + ", ".join(parts)


def markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    if frame.empty:
        return "_(no rows)_\n"
    return frame.to_markdown(index=False, floatfmt=f".{digits}g") + "\n"


# The step tables the summary reads (for the line on rows of other settings it leaves out).
SUMMARY_TABLES = ("architecture_runs", "latent_sweep_runs", "rmse_by_z", "ood_rmse", "latent_quality", "generative")


def read_current(study: Study, name: str, *, current: bool = True) -> pd.DataFrame:
    """``tables/<name>.csv``: only the rows of the study's settings (see
    :meth:`Study.is_current`) unless ``current=False``; empty if absent."""
    path = study.tables / f"{name}.csv"
    if not path.is_file():
        return pd.DataFrame()
    try:
        frame = pd.read_csv(path, dtype={"setting": str})  # a hash of digits only stays text
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    return frame[study.is_current(frame)].reset_index(drop=True) if current and "family" in frame else frame


def other_settings(study: Study, names: Sequence[str] = SUMMARY_TABLES) -> str:
    """One report line on the rows of other settings that the tables keep and the summary leaves out."""
    left_out = [frame.loc[~study.is_current(frame), "setting"] if "setting" in frame
                else pd.Series("unrecorded", index=frame.index)
                for frame in (read_current(study, name, current=False) for name in names) if "family" in frame]
    left_out = pd.concat(left_out) if left_out else pd.Series(dtype=str)
    if left_out.empty:
        return ""
    settings = ", ".join(sorted(left_out.fillna("unrecorded").astype(str).unique()))
    rows = f"{len(left_out)} rows of other settings are" if len(left_out) != 1 else "1 row of another setting is"
    return (f"{rows} kept in the tables and left out here: settings {settings} "
            "(`tables/settings/<setting>.json` says what each means).\n")


def fmt_ci(mean, low, high, digits=4) -> str:
    if pd.isna(mean):
        return "–"
    if pd.isna(low) or pd.isna(high) or np.isclose(low, high):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}"


# ------------------------------------------------------------------ PCA baseline


def pca_rows(study: Study, z_values: Sequence[int], complementary: Sequence[str]) -> pd.DataFrame:
    x_train, _, _ = study.data("train")
    x_test, _, info = study.data("test")
    others = {}
    for name in complementary:
        try:
            others[name] = study.data("test", dataset=name, n=min(1000, study.n_test or 1000))[0]
        except Exception as err:  # a missing complementary set leaves its column empty
            print(f"PCA baseline: skipping {name}: {err}")
    test = ("test",)  # a key no data set name can take
    rmse = pca_rmse(x_train, {test: x_test, **others}, z_values)
    rows = []
    for (name, z), value in sorted(rmse.items(), key=lambda item: (item[0][1], item[0][0] != test)):
        if name == test:
            rows.append({"family": "pca", "latent_dim": z, "dataset": study.dataset, "role": "in-distribution",
                         "rmse_mean": value, "data_source": info["source"]})
        else:
            rows.append({"family": "pca", "latent_dim": z, "dataset": name, "role": "complementary", "rmse_mean": value})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ ranking with uncertainty

# Weight of each criterion group in the overall rank, a weighted mean of the criterion ranks. Equal weights, with
# one declared exception: OOD detection (high AUROC) rewards exactly what OOD generalisation (low OOD RMSE)
# penalises — a model that reconstructs unfamiliar images well flags them poorly — so the two are never averaged
# together (NEVER_COMBINED): detection gets its own ranking and weight 0 here, and `ranking_sensitivity` shows the
# overall rank with detection in generalisation's place. A criterion whose name is not here (nor starts with a name
# here and "_") weighs 1; criteria sharing a group (the modes of generative capacity: generative_relative,
# generative_additive) share its weight equally, so a group counts once however many criteria it has.
RANKING_WEIGHTS: dict[str, float] = {"reconstruction": 1.0, "latent_structure": 1.0, "ood_generalisation": 1.0,
                                     "ood_detection": 0.0, "generative": 1.0}
NEVER_COMBINED: tuple[tuple[str, str], ...] = (("ood_generalisation", "ood_detection"),)
# The projection measures whose ranks make the one latent-structure criterion (their mean rank), with their
# direction (True: higher is better). The class probes are left out: they measure class separation, not structure.
LATENT_MEASURES: dict[str, bool] = {"trustworthiness": True, "continuity": True, "stress_scaled": False,
                                    "neighborhood_hit": True, "shepard_goodness": True}


def criterion_group(name: str, weights: Mapping[str, float] | None = None) -> str:
    """The group of criterion ``name`` in ``weights`` (default :data:`RANKING_WEIGHTS`): itself when named
    there, else the longest name there it starts with followed by ``_``, else itself."""
    weights = RANKING_WEIGHTS if weights is None else weights
    if name in weights:
        return name
    prefixes = [g for g in weights if name.startswith(f"{g}_")]
    return max(prefixes, key=len) if prefixes else name


def criterion_weights(names: Sequence[str], weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Each criterion's weight in the overall rank: its group's weight (1 when undeclared) shared equally
    among the group's criteria present.

    Raises:
        ValueError: both criteria of a :data:`NEVER_COMBINED` pair weighted above 0.
    """
    weights = RANKING_WEIGHTS if weights is None else weights
    groups = {n: criterion_group(n, weights) for n in names}
    size = pd.Series(groups).value_counts().to_dict() if groups else {}
    out = {n: float(weights.get(g, 1.0)) / size[g] for n, g in groups.items()}
    for first, second in NEVER_COMBINED:
        if out.get(first, 0) > 0 and out.get(second, 0) > 0:
            raise ValueError(f"{first} and {second} measure opposite things and are never averaged into one rank. "
                             f"Received weights: {first}={out[first]}, {second}={out[second]}")
    return out


def _criterion_rank_columns(ranking: pd.DataFrame) -> list[str]:
    """``rank_<criterion>`` columns: not the overall rank, not the interval bounds."""
    return [c for c in ranking if c.startswith("rank_") and c != "rank_overall"
            and not c.endswith(("_low", "_high")) and not c.startswith("rank_without_")]


def _overall_complete_first(ranks: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """:func:`aelib.stats.overall_rank`, but a family missing a weighted criterion is ranked after every family
    missing fewer (its mean over fewer criteria is not a full one); adds ``criteria_missing``."""
    overall = stats.overall_rank(ranks, weights)
    missing = ranks[[c for c in ranks if weights[c] > 0]].isna().sum(axis=1).astype(int)
    keys = {f: (missing[f], overall.at[f, "mean_rank"]) for f in ranks.index if pd.notna(overall.at[f, "mean_rank"])}
    rank = {f: 1.0 + sum(other < key for other in keys.values()) for f, key in keys.items()}
    overall["rank_overall"] = pd.Series(rank, dtype=float).reindex(ranks.index)
    overall["criteria_missing"] = missing
    return overall


def rank_table(criteria: dict[str, pd.Series], higher_is_better: dict[str, bool], *,
               intervals: Mapping[str, pd.DataFrame] | None = None,
               weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Rank families per criterion (1 = best, ties share the smaller rank) and overall.

    Args:
        criteria: criterion → value per family (a Series indexed by family).
        higher_is_better: criterion → direction.
        intervals: criterion → :func:`aelib.stats.rank_intervals` output; adds ``rank_<c>_low``/``_high``.
        weights: group weights (default :data:`RANKING_WEIGHTS`, see :func:`criterion_weights`).

    Returns:
        ``family``, then per criterion its value, ``rank_<c>`` (and its interval), then
        ``mean_rank`` (the weighted mean of the criterion ranks it has) and ``rank_overall``: families
        missing a weighted criterion come after every family that has more of them, whatever their
        mean rank (then a ``criteria_missing`` column counts them).

    Raises:
        ValueError: a criterion without a direction, or weights that combine a NEVER_COMBINED pair.
    """
    missing = [c for c in criteria if c not in higher_is_better]
    if missing:
        raise ValueError(f"Expected a direction for every criterion. Missing: {missing}")
    frame = pd.DataFrame(criteria)
    ranks = pd.DataFrame({c: frame[c].rank(ascending=not higher_is_better[c], method="min") for c in frame},
                         index=frame.index)
    overall = _overall_complete_first(ranks, criterion_weights(list(frame), weights))
    missing = overall.pop("criteria_missing")
    out = pd.DataFrame(index=frame.index)
    for c in frame:
        out[c] = frame[c]
        out[f"rank_{c}"] = ranks[c]
        if intervals and c in intervals:
            bounds = intervals[c].set_index("family")
            out[f"rank_{c}_low"] = bounds["rank_low"].reindex(frame.index)
            out[f"rank_{c}_high"] = bounds["rank_high"].reindex(frame.index)
    out = pd.concat([out, overall], axis=1)
    if missing.any():
        out["criteria_missing"] = missing
    return out.sort_values(["rank_overall", "mean_rank"]).rename_axis("family").reset_index()


def ranking_sensitivity(ranking: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The overall rank with each weighted criterion group left out in turn (:func:`aelib.stats.rank_sensitivity`),
    plus, for a NEVER_COMBINED pair with one weighted, the overall with the other in its place."""
    weights = RANKING_WEIGHTS if weights is None else weights
    ranks = ranking.set_index("family")[_criterion_rank_columns(ranking)]
    ranks.columns = [c.removeprefix("rank_") for c in ranks.columns]
    w = criterion_weights(list(ranks), weights)
    groups = {c: criterion_group(c, weights) for c in ranks}
    out = stats.rank_sensitivity(ranks, w, groups=groups).set_index("family")
    # the same rule as rank_table: a family missing a criterion after the families that have it
    out["rank_overall"] = _overall_complete_first(ranks, w)["rank_overall"]
    for column in [c for c in out if c.startswith("rank_without_")]:
        kept = [c for c in ranks if groups[c] != column.removeprefix("rank_without_")]
        out[column] = _overall_complete_first(ranks[kept], w)["rank_overall"]
    for first, second in NEVER_COMBINED:
        if first in w and second in w and (w[first] > 0) != (w[second] > 0):
            used, other = (first, second) if w[first] > 0 else (second, first)
            swapped = {**w, other: w[used], used: 0.0}
            out[f"rank_with_{other}_for_{used}"] = _overall_complete_first(ranks, swapped)["rank_overall"]
    shifts = out.drop(columns=["rank_overall", "max_shift"]).sub(out["rank_overall"], axis=0).abs()
    out = out.drop(columns="max_shift").assign(max_shift=shifts.max(axis=1) if not shifts.empty else 0.0)
    return out.sort_values("rank_overall").reset_index()


def _common_cells(frame: pd.DataFrame, keys: Sequence[str]) -> tuple[list[str], list[tuple], list[int]]:
    """Families, cells (values of ``keys``) and seeds such that every family has every (cell, seed).

    When no seed covers every cell every family has, the seed covering most cells is used with those cells.
    """
    if frame.empty:
        return [], [], []
    families = list(dict.fromkeys(frame["family"]))
    have = [set(frame.loc[frame["family"] == f, [*keys, "seed"]].itertuples(index=False, name=None)) for f in families]
    common = set.intersection(*have)
    cells = sorted({c[:-1] for c in common})
    all_seeds = sorted({c[-1] for c in common})
    seeds = [s for s in all_seeds if all((*cell, s) in common for cell in cells)]
    if not seeds and all_seeds:
        best = max(all_seeds, key=lambda s: sum((*cell, s) in common for cell in cells))
        cells, seeds = [cell for cell in cells if (*cell, best) in common], [best]
    return families, cells, [int(s) for s in seeds]


def _seed_units(frame: pd.DataFrame, keys: Sequence[str],
                value: str) -> tuple[dict[str, np.ndarray], list[tuple], list[int]]:
    """family → one value per seed (the mean of ``value`` over the cells every family has), the cells, the seeds."""
    frame = frame.dropna(subset=[value])
    families, cells, seeds = _common_cells(frame, keys)
    if not cells or not seeds:
        return {}, [], []
    table = frame.groupby(["family", *keys, "seed"])[value].mean()
    units = {f: np.array([np.mean([table[(f, *cell, s)] for cell in cells]) for s in seeds]) for f in families}
    return units, cells, seeds


def over_seeds(frame: pd.DataFrame) -> str:
    """What a table's per-cell mean is over: its training seeds."""
    seeds = sorted({int(s) for s in frame["seed"].dropna()}) if "seed" in frame else []
    if len(seeds) >= 2:
        return f"mean over {len(seeds)} training seeds ({', '.join(map(str, seeds))})"
    return f"value of one training seed ({seeds[0]})" if seeds else "value of one training seed"


def _seeds_text(seeds: Sequence[int]) -> str:
    return f"seeds ({len(seeds)}: {', '.join(map(str, seeds))})"


def _cells_text(cells: Sequence[tuple], names: Sequence[str]) -> str:
    values = [sorted({c[i] for c in cells}) for i in range(len(names))]
    return "; ".join(f"{name} = {', '.join(map(str, v))}" for name, v in zip(names, values))


class _Samples:
    """Per-test-sample RMSE of the study's runs: ``test_rmse.npy`` of a trained model (kind ``train``) and
    ``rmse.npy`` of its evaluation on complementary data (kind ``ood``), loaded once each."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.cache: dict[Path, np.ndarray] = {}
        self._ood: dict[tuple, Path] | None = None

    def _load(self, path: Path | None) -> np.ndarray | None:
        if path is None or not path.is_file():
            return None
        if path not in self.cache:
            self.cache[path] = np.load(path).astype(np.float64).reshape(-1)
        return self.cache[path]

    def train(self, family: str, z: int, seed: int, depth=None) -> np.ndarray | None:
        depth = None if depth is None or pd.isna(depth) else int(depth)
        spec = self.study.spec(family, int(z), int(seed), depth=depth)
        return self._load(self.study.store.path_for("train", spec.config()) / "test_rmse.npy")

    def ood(self, family: str, z: int, seed: int, dataset: str) -> np.ndarray | None:
        if self._ood is None:  # every complete ood run once: its model's training config, data set and role
            self._ood = {}
            folder = self.study.store.root / "ood"
            runs = sorted(folder.iterdir(), key=lambda p: (p / "metrics.json").stat().st_mtime
                          if (p / "metrics.json").is_file() else 0) if folder.is_dir() else []
            for run in runs:  # the newest last, so it wins
                if (run / "metrics.json").is_file() and (run / "rmse.npy").is_file():
                    config = json.loads((run / "config.json").read_text())
                    key = (json.dumps(config.get("train"), sort_keys=True, default=str), config.get("dataset"),
                           config.get("role"))
                    self._ood[key] = run / "rmse.npy"
        train = json.dumps(self.study.spec(family, int(z), int(seed)).config(), sort_keys=True, default=str)
        return self._load(self._ood.get((train, dataset, "complementary")))


def _aligned(arrays: Mapping[str, np.ndarray | None]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays present, finite and of the most common length; and the families left out."""
    present = {f: a for f, a in arrays.items() if a is not None and np.all(np.isfinite(a))}
    if not present:
        return {}, list(arrays)
    length = pd.Series({f: len(a) for f, a in present.items()}).mode().iloc[0]
    kept = {f: a for f, a in present.items() if len(a) == length}
    return kept, [f for f in arrays if f not in kept]


def _pairwise_block(values: Mapping[str, np.ndarray], *, over: str, keys: dict, strata=None) -> pd.DataFrame | None:
    """:func:`aelib.stats.pairwise_table` with the block's keys in front; None for fewer than two families."""
    values = {f: v for f, v in values.items() if np.all(np.isfinite(v))}
    if len(values) < 2:
        return None
    table = stats.pairwise_table(values, over=over, strata=strata)
    for i, (k, v) in enumerate(keys.items()):
        table.insert(i, k, v)
    return table


def _cell_pairwise(frame: pd.DataFrame, keys: Sequence[str], value: str, samples=None, *,
                   label: dict | None = None) -> list[pd.DataFrame]:
    """Pairwise tables per cell (values of ``keys``): over the test samples of one seed when ``samples``
    (``(family, cell, seed) → array``) gives them (families without that file are left out of the block), and
    over seeds where the families there have two or more in common; a global measure with one seed gives rows
    that say so. ``label``: columns put in front."""
    blocks = []
    frame = frame.dropna(subset=[value])
    for cell, part in frame.groupby(list(keys), sort=True):
        cell = cell if isinstance(cell, tuple) else (cell,)
        front = {**(label or {}), **dict(zip(keys, cell))}
        families, _, seeds = _common_cells(part, [])
        if samples is not None and seeds:
            arrays, _ = _aligned({f: samples(f, cell, seeds[0]) for f in families})
            block = _pairwise_block(arrays, over=f"test samples (seed {seeds[0]})", keys=front)
            if block is not None:
                blocks.append(block)
        if len(seeds) >= 2 or samples is None:
            per_seed = part[part["seed"].isin(seeds)].groupby(["family", "seed"])[value].mean()
            units = {f: per_seed[f].reindex(seeds).to_numpy() for f in families}
            over = "seeds" if len(seeds) >= 2 else "one seed"
            block = _pairwise_block(units, over=over, keys=front) if seeds else None
            if block is not None:
                blocks.append(block)
    return blocks


def _ranked(name: str, table: pd.DataFrame, *, better: str, what: str, over: str) -> dict:
    return {"name": name, "table": table, "better": better, "what": what, "over": over}


def _reconstruction_criterion(runs: pd.DataFrame, samples: _Samples) -> tuple[dict | None, list[pd.DataFrame]]:
    if runs.empty:
        return None, []
    units, cells, seeds = _seed_units(runs, ["latent_dim"], "rmse_mean")
    depth = runs.groupby("family")["depth"].first() if "depth" in runs else pd.Series(dtype=float)

    def train(family: str, cell: tuple, seed: int) -> np.ndarray | None:
        return samples.train(family, cell[0], seed, depth.get(family))

    pairwise = _cell_pairwise(runs, ["latent_dim"], "rmse_mean", samples=train)
    if not units:
        return None, pairwise
    where = _cells_text(cells, ["z"])
    what = f"test RMSE, mean over {where}"
    if len(seeds) >= 2:
        over = f"{_seeds_text(seeds)}; each seed's test RMSE"
    else:
        per_family = {}
        for f in units:  # each test image's RMSE averaged over z (the same images at every z)
            per_z = [train(f, cell, seeds[0]) for cell in cells]
            ok = all(a is not None for a in per_z) and len({len(a) for a in per_z}) == 1
            per_family[f] = np.mean(per_z, axis=0) if ok else None
        arrays, missing = _aligned(per_family)
        if not missing:
            units, over = arrays, f"test samples ({len(next(iter(arrays.values())))} images, seed {seeds[0]})"
        else:
            over = f"one seed: no interval (per-sample RMSE missing for {', '.join(missing)})"
    table = stats.rank_intervals(units, lower_is_better=True)
    return _ranked("reconstruction", table, better="lower", what=what, over=over), pairwise


def _ood_criteria(ood: pd.DataFrame, samples: _Samples) -> tuple[list[dict], dict[str, list[pd.DataFrame]]]:
    comp = ood[ood["role"] == "complementary"] if "role" in ood else pd.DataFrame()
    if comp.empty:
        return [], {}

    def ood_samples(family: str, cell: tuple, seed: int) -> np.ndarray | None:
        return samples.ood(family, cell[0], seed, cell[1])

    keys = ["latent_dim", "dataset"]
    pairwise = {"ood_generalisation": _cell_pairwise(comp, keys, "rmse_mean", samples=ood_samples),
                "ood_detection": _cell_pairwise(comp, keys, "auroc") if "auroc" in comp else []}
    ranked = []
    units, cells, seeds = _seed_units(comp, keys, "rmse_mean")
    if units:
        what = f"RMSE on complementary data, mean over {_cells_text(cells, ['z', 'data set'])}"
        over = f"{_seeds_text(seeds)}; each seed's mean RMSE" if len(seeds) >= 2 else "one seed: no interval"
        strata = None
        if len(seeds) < 2:
            datasets = sorted({c[1] for c in cells})
            per_family, missing = {}, []
            for f in units:
                parts = []
                for d in datasets:
                    arrays = [ood_samples(f, c, seeds[0]) for c in cells if c[1] == d]
                    if any(a is None for a in arrays) or len({len(a) for a in arrays}) != 1:
                        parts = None
                        break
                    parts.append(np.mean(arrays, axis=0))
                if parts is None:
                    missing.append(f)
                else:
                    per_family[f] = parts
            lengths = {tuple(len(p) for p in parts) for parts in per_family.values()}
            if not missing and len(lengths) == 1:
                units = {f: np.concatenate(parts) for f, parts in per_family.items()}
                strata = np.concatenate([[d] * n for d, n in zip(datasets, next(iter(lengths)))])
                over = (f"test samples ({len(strata)} complementary images, seed {seeds[0]}; resampled within "
                        "each data set)")
            elif missing:
                over = f"one seed: no interval (per-sample RMSE missing for {', '.join(missing)})"
        table = stats.rank_intervals(units, lower_is_better=True, strata=strata)
        ranked.append(_ranked("ood_generalisation", table, better="lower", what=what, over=over))
    if "auroc" in comp:
        units, cells, seeds = _seed_units(comp, keys, "auroc")
        if units:
            what = ("ROC AUC of per-sample RMSE (complementary vs test data), mean over "
                    + _cells_text(cells, ["z", "data set"]))
            over = _seeds_text(seeds) if len(seeds) >= 2 else "one seed: no interval"
            ranked.append(_ranked("ood_detection", stats.rank_intervals(units, lower_is_better=False),
                                  better="higher", what=what, over=over))
    return ranked, pairwise


def _latent_criterion(latent: pd.DataFrame) -> tuple[dict | None, list[pd.DataFrame]]:
    measures = [m for m in LATENT_MEASURES if m in latent and latent[m].notna().any()]
    if latent.empty or not measures:
        return None, []
    pairwise = []
    for m in measures:
        pairwise += _cell_pairwise(latent, ["latent_dim"], m, label={"measure": m})
    frame = latent.dropna(subset=measures)
    families, cells, seeds = _common_cells(frame, ["latent_dim"])
    if not families:
        return None, pairwise
    frame = frame[frame["latent_dim"].isin([c[0] for c in cells]) & frame["seed"].isin(seeds)]
    per_measure = {m: _seed_units(frame, ["latent_dim"], m)[0] for m in measures}
    table = stats.composite_rank_intervals(per_measure, higher_is_better={m: LATENT_MEASURES[m] for m in measures})
    what = (f"mean of the per-measure ranks of {', '.join(measures)} (each averaged over "
            f"{_cells_text(cells, ['z'])}); the value is that mean rank")
    over = (f"{_seeds_text(seeds)}; every measure reranked in each resample" if len(seeds) >= 2
            else "one seed: no interval")
    return _ranked("latent_structure", table, better="lower", what=what, over=over), pairwise


def generative_degradation(gen: pd.DataFrame) -> pd.DataFrame:
    """Per (family, mode, z, seed): the slope of each score against p over the levels p > 0, relative to p = 0
    (:func:`aelib.stats.degradation_slope`): ``rmse_slope`` (RMSE to the original images; the ranked one),
    and where present ``label_consistency_slope`` and ``frechet_slope``. Prior samples (no level) are left out."""
    perturbed = gen[gen["level"].notna()] if "level" in gen else pd.DataFrame()
    if "source" in perturbed:
        perturbed = perturbed[perturbed["source"].fillna("perturbed") == "perturbed"]
    if perturbed.empty:
        return pd.DataFrame()
    perturbed = perturbed.assign(mode=perturbed["mode"].fillna("unknown") if "mode" in perturbed else "unknown")
    scores = [c for c in ("rmse_mean", "label_consistency", "frechet") if c in perturbed]
    rows = []
    for (family, mode, z, seed), part in perturbed.groupby(["family", "mode", "latent_dim", "seed"], sort=True):
        part = part.groupby("level")[scores].mean().reset_index()
        row = {"family": family, "mode": mode, "latent_dim": z, "seed": seed,
               "levels_used": int((part["level"] > 0).sum())}
        for score in scores:
            try:
                row[f"{score.removesuffix('_mean')}_slope"] = stats.degradation_slope(part["level"], part[score])
            except ValueError:
                row[f"{score.removesuffix('_mean')}_slope"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _generative_criteria(degradation: pd.DataFrame) -> tuple[list[dict], list[pd.DataFrame]]:
    if degradation.empty or "rmse_slope" not in degradation:
        return [], []
    ranked, pairwise = [], []
    for mode, part in degradation.groupby("mode", sort=True):
        pairwise += _cell_pairwise(part, ["latent_dim"], "rmse_slope", label={"mode": mode})
        units, cells, seeds = _seed_units(part, ["latent_dim"], "rmse_slope")
        if not units:
            continue
        what = (f"{mode} perturbation: slope of test RMSE against p over p > 0, relative to p = 0, mean over "
                f"{_cells_text(cells, ['z'])}")
        over = _seeds_text(seeds) if len(seeds) >= 2 else "one seed: no interval"
        ranked.append(_ranked(f"generative_{mode}", stats.rank_intervals(units, lower_is_better=True),
                              better="lower", what=what, over=over))
    return ranked, pairwise


def _detectable_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per criterion, block and unit: detectable differences out of the pairs compared, one column per z."""
    rows = []
    for name, table in tables.items():
        detail = next((c for c in ("dataset", "measure", "mode") if c in table), None)
        for (over, z, *rest), part in table.groupby(["over", "latent_dim", *([detail] if detail else [])], sort=True):
            tested = part["p"].notna().sum()
            rows.append({"criterion": name, "detail": rest[0] if rest else "", "over": over, "z": f"z={z}",
                         "cell": f"{int(part['reject'].sum())}/{len(part)}" if tested else f"–/{len(part)}"})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    order = list(dict.fromkeys(frame["z"]))
    wide = frame.pivot_table(index=["criterion", "detail", "over"], columns="z", values="cell", aggfunc="first")
    wide = wide[sorted(order, key=lambda c: int(c[2:]))].reset_index().fillna("")
    position = {name: i for i, name in enumerate(tables)}
    return wide.iloc[np.argsort(wide["criterion"].map(position).to_numpy(), kind="stable")].reset_index(drop=True)


def _ranking_overview(ranking: pd.DataFrame) -> str:
    """The report's overall-ranking table: each criterion's rank with its interval, then the overall."""
    if ranking.empty:
        return "_no criteria available yet_\n"
    shown = ranking[["family", "mean_rank", "rank_overall"]].copy()
    none = pd.Series(np.nan, index=ranking.index)
    for col in _criterion_rank_columns(ranking):
        low, high = ranking.get(f"{col}_low", none), ranking.get(f"{col}_high", none)
        shown[col] = [("–" if pd.isna(r) else f"{r:.0f}") + ("" if pd.isna(lo) else f" [{lo:.0f}–{hi:.0f}]")
                      for r, lo, hi in zip(ranking[col], low, high)]
    weights = criterion_weights([c.removeprefix("rank_") for c in _criterion_rank_columns(ranking)])
    declared = ", ".join(f"{c} {w:g}" for c, w in weights.items())
    apart = [second for first, second in NEVER_COMBINED if weights.get(second) == 0 and first in weights]
    return (markdown(shown) + "\nRank 1 = best; [low–high] is the 95 % bootstrap interval of the rank (what each is "
            "over: *Ranking with uncertainty* below; none where one seed of a global measure leaves nothing to "
            f"resample). `mean_rank` is the weighted mean of the criterion ranks, weights {declared} "
            "(`aelib.report.RANKING_WEIGHTS`" + (f"; {', '.join(apart)} ranked on its own, never averaged with "
                                                 "its opposite" if apart else "")
            + "); `rank_overall` ranks it.\n")


def ranking_and_comparisons(study: Study, out: Path, *, families: Sequence[str],
                             chosen_z: Sequence[int]) -> tuple[pd.DataFrame, list[str]]:
    """Criteria grouped and ranked with bootstrap intervals, every pair of families compared per criterion and
    z; writes the ranking, pairwise and sensitivity tables; returns the ranking and the report sections."""
    samples = _Samples(study)
    order = {f: i for i, f in enumerate(families)}

    def keep(frame: pd.DataFrame) -> pd.DataFrame:  # the families asked for, in their order (pairs: a before b)
        if "family" not in frame:
            return pd.DataFrame()
        frame = frame[frame["family"].isin(families)]
        return frame.iloc[np.argsort(frame["family"].map(order).to_numpy(), kind="stable")]

    ranked: list[dict] = []
    pairwise: dict[str, list[pd.DataFrame]] = {}

    criterion, pairwise["reconstruction"] = _reconstruction_criterion(keep(read_current(study, "latent_sweep_runs")), samples)
    ranked += [criterion] if criterion else []
    found, blocks = _ood_criteria(keep(read_current(study, "ood_rmse")), samples)
    ranked += found
    pairwise.update(blocks)
    latent = keep(read_current(study, "latent_quality"))
    latent = latent[latent["latent_dim"].isin(chosen_z)] if not latent.empty else latent
    criterion, pairwise["latent_structure"] = _latent_criterion(latent)
    ranked += [criterion] if criterion else []
    degradation = generative_degradation(keep(read_current(study, "generative")))
    if not degradation.empty:
        write_table(degradation, out / "generative_degradation",
                    caption="Slope of each score against the perturbation p over p $>$ 0, relative to p = 0")
    found, pairwise["generative"] = _generative_criteria(degradation)
    ranked += found

    sections = []
    written = {name: pd.concat(blocks, ignore_index=True) for name, blocks in pairwise.items() if blocks}
    for name, table in written.items():
        write_table(table, out / f"pairwise_{name}",
                    caption=f"Paired differences between families: {name.replace('_', ' ')}")
    if written:
        summary = _detectable_summary(written)
        sections.append(
            "## Paired comparisons\n\nEvery pair of families per criterion and z: the mean difference a − b with a "
            f"95 % percentile bootstrap interval ({stats.N_BOOT} paired resamples) and a paired sign-flip test, "
            "Holm-corrected at 5 % over the pairs of one block (one criterion, z, data set/measure/mode and unit). "
            "*Over test samples*: per-sample RMSE of one seed's models on the same images — how sure the "
            "difference is for these trained models, not for a retrained one. *Over seeds*: one value per training "
            "seed (fewer than 6 seeds can never reach 5 % with the sign-flip test). AUROC, the projection measures "
            "and the generative slopes have no per-sample values: with one seed they get no interval (\"one seed\", "
            "shown –). Cells: detectable differences / pairs. Decisions in words (\"fcae lower than vae by …\" or "
            "\"no detectable difference\"): " + ", ".join(f"`summary/pairwise_{n}.csv`" for n in written) + ".\n\n"
            + markdown(summary))
    if not ranked:
        return pd.DataFrame(), sections

    criteria = {r["name"]: r["table"].set_index("family")["value"] for r in ranked}
    better = {r["name"]: r["better"] == "higher" for r in ranked}
    ranking = rank_table(criteria, better, intervals={r["name"]: r["table"] for r in ranked})
    weights = criterion_weights(list(criteria))
    write_table(ranking, out / "ranking", caption="Rank of each family per criterion (1 = best) with its 95\\% "
                "bootstrap interval, and overall (weighted mean rank)")
    long = pd.concat([r["table"].assign(criterion=r["name"], better=r["better"], over=r["over"],
                                        weight=weights[r["name"]]) for r in ranked], ignore_index=True)
    long = long[["criterion", "family", "value", "rank", "rank_low", "rank_high", "better", "over", "weight"]]
    write_table(long, out / "ranking_by_criterion", caption="Rank per criterion with its 95\\% bootstrap interval")
    described = pd.DataFrame([{"criterion": r["name"], "what is ranked": r["what"], "better": r["better"],
                               "interval over": r["over"], "weight": weights[r["name"]]} for r in ranked])
    write_table(described, out / "ranking_criteria",
                caption="The ranking's criteria, what each interval is over, weights")
    sensitivity = ranking_sensitivity(ranking)
    write_table(sensitivity, out / "ranking_sensitivity", caption="Overall rank with each criterion left out in turn")
    sections.append(
        "## Ranking with uncertainty\n\nOne criterion per question, none counted twice: reconstruction; latent-space "
        "structure as one composite; OOD generalisation and OOD detection as two separate rankings, never averaged "
        "together; generative capacity as degradation under perturbation (p > 0 only, relative to p = 0), one "
        "ranking per perturbation mode, the modes sharing one weight. Rank intervals: the units below resampled "
        f"jointly for all families ({stats.N_BOOT} times), families reranked each time, 2.5–97.5 % of each "
        "family's rank (`summary/ranking_by_criterion.csv`).\n\n" + markdown(described)
        + "\nSensitivity: the overall rank with each weighted criterion left out in turn"
        + (" (and with OOD detection in place of OOD generalisation)"
           if any(c.startswith("rank_with_") for c in sensitivity) else "")
        + "; `max_shift` is the largest change.\n\n" + markdown(sensitivity))
    return ranking, sections


# ------------------------------------------------------------------ the summary


# Step tables checked for completeness, with the columns that (with family) identify a run's rows.
COMPLETENESS_KEYS: dict[str, tuple[str, ...]] = {"latent_sweep_runs": ("latent_dim", "seed"),
                                                 "ood_rmse": ("latent_dim", "seed", "dataset"),
                                                 "latent_quality": ("latent_dim", "seed"),
                                                 "generative": ("latent_dim", "seed", "mode")}


def missing_rows(study: Study, families: Sequence[str], chosen_z: Sequence[int]) -> pd.DataFrame:
    """Rows a family lacks in a step table that other families of ``families`` have (this study's settings).

    Returns:
        ``family``, ``table``, ``missing`` (count), ``of`` (rows any family has) and ``cells`` (which),
        one row per family and table with something missing; empty when the tables are complete.
    """
    rows = []
    for name, keys in COMPLETENESS_KEYS.items():
        frame = read_current(study, name)
        if frame.empty or "family" not in frame:
            continue
        frame = frame[frame["family"].isin(families)]
        if name == "latent_quality":
            frame = frame[frame["latent_dim"].isin(chosen_z)]
        if name == "generative" and "source" in frame:  # prior samples: only families that sample have them
            frame = frame[frame["source"] == "perturbed"]
        keys = [k for k in keys if k in frame]
        if frame.empty or not keys:
            continue
        cells = set(frame[keys].astype(str).itertuples(index=False, name=None))
        for family in families:
            lack = sorted(cells - set(frame.loc[frame["family"] == family, keys].astype(str)
                                          .itertuples(index=False, name=None)))
            if lack:
                shown = ", ".join(" ".join(f"{'z' if k == 'latent_dim' else k}={v}" for k, v in zip(keys, cell))
                                  for cell in lack[:4]) + (f", … ({len(lack) - 4} more)" if len(lack) > 4 else "")
                rows.append({"family": family, "table": name, "missing": len(lack), "of": len(cells),
                             "cells": "all (no rows)" if len(lack) == len(cells) else shown})
    return pd.DataFrame(rows, columns=["family", "table", "missing", "of", "cells"])


def incomplete_note(missing: pd.DataFrame, active: Sequence) -> str:
    """The report's (and the screen's) statement that the summary covers a partial set; "" when complete."""
    if missing.empty and not active:
        return ""
    text = "## Incomplete study\n\n"
    if not missing.empty:
        families = list(dict.fromkeys(missing["family"]))
        lack = "family lacks" if len(families) == 1 else "families lack"
        text += (f"**This summary covers a partial set**: {len(families)} {lack} "
                 f"rows that other families have ({', '.join(families)}): runs of another shard or session not "
                 "finished yet, failed runs (see *Failures*), or runs not made under these settings. Families missing "
                 "a criterion are ranked after every family that has it (`criteria_missing` in "
                 "`summary/ranking.csv`); comparisons use the cells every family has.\n\n" + markdown(missing) + "\n")
    if active:
        text += ("Still working on this folder when the summary was written (it waited, `AELIB_SUMMARY_WAIT`): "
                 + "; ".join(a.describe() for a in active)
                 + ". Run `aelib report --out <folder>` when they are done.\n\n")
    return text


def plot_ranks(ranking: pd.DataFrame, stem: Path) -> None:
    import matplotlib.pyplot as plt

    ranks = ranking.set_index("family")[_criterion_rank_columns(ranking)]
    ranks.columns = [c.removeprefix("rank_") for c in ranks.columns]
    fig = plots.heatmap(ranks, fmt=".0f", cmap="viridis", title="Rank per criterion (1 = best)")
    plots.save_figure(fig, stem)
    plt.close("all")


def failures_table(study: Study) -> pd.DataFrame:
    """Runs that failed: those the store holds as failed, and every failure of the invocation writing the report
    (``aelib.study.integrity``: damaged folders, full disks and runs that were retried leave no ``failed.json``)."""
    import os

    from aelib.study.integrity import INVOCATION_ENV, read_failures

    frame = study.store.failures()
    invocation = os.environ.get(INVOCATION_ENV)
    logged = pd.DataFrame(read_failures(study.out_dir, invocation=invocation) if invocation else [])
    if not logged.empty:
        frame = pd.concat([logged, frame], ignore_index=True)
        frame = frame.drop_duplicates(["run_dir", "error"], keep="first")
    columns = [c for c in ("step", "kind", "family", "latent_dim", "seed", "error") if c in frame]
    return frame[columns] if not frame.empty else frame


def invocation_lines(path: Path, last: int = 10) -> list[str]:
    """Report lines for the study's command-line invocations (the latest ``last``)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill
    if not records:
        return []
    rows = [{"finished": rec.get("finished", "?"), "command": " ".join(rec.get("argv", [])),
             "wall time": f"{int(round(rec.get('seconds', 0))) // 60} min {int(round(rec.get('seconds', 0))) % 60:02d} s",
             "steps (status)": ", ".join(f"{s.get('step', '?')[:2]} ({s.get('status')})" for s in rec.get("steps", []))}
            for rec in records[-last:]]
    return ["Invocations of the study (`provenance/invocations.jsonl`; wall time includes runs already complete "
            "being skipped):", "", markdown(pd.DataFrame(rows))]


def capped_cells(runs: pd.DataFrame) -> set[tuple[str, int]]:
    """(family, z) cells with at least one run that early stopping did not end."""
    if runs.empty or "stopped_by" not in runs:
        return set()
    bad = runs[runs["stopped_by"] != "early_stopping"]
    return {(f, int(z)) for f, z in zip(bad["family"], bad["latent_dim"])}


def mark_capped(frame: pd.DataFrame, capped: set[tuple[str, int]]) -> pd.DataFrame:
    """``frame`` for the report with the family name marked where its run was not stopped by early stopping:
    a row whose own ``stopped_by`` says so, and a row of a capped (family, z) of the sweep (per row when the
    table has ``latent_dim``, else where any z shown is affected)."""
    if frame.empty or "family" not in frame:
        return frame
    own = frame["stopped_by"].astype(str).eq("epoch_cap").tolist() if "stopped_by" in frame else [False] * len(frame)
    if not capped and not any(own):
        return frame
    out = frame.copy()
    if "latent_dim" in out:
        hit = [(f, int(z)) in capped for f, z in zip(out["family"], out["latent_dim"])]
    else:
        shown = {int(c[2:]) for c in out.columns if isinstance(c, str) and c.startswith("z=") and c[2:].isdigit()}
        hit = [any((f, z) in capped for z in shown) for f in out["family"]]
    out["family"] = [f + gates.CAP_MARK if h or o else f for f, h, o in zip(out["family"], hit, own)]
    return out


def convergence_section(trained: pd.DataFrame, table_rows: dict[str, int] | None = None) -> str:
    """The report's opening line: how many training runs converged, and which did not.

    ``trained`` holds one row per distinct run (``step`` names every step that uses it);
    ``table_rows`` the row count of each table they come from, so the text matches what a reader counts there."""
    converged, total, others = gates.convergence_summary(trained)
    if total == 0:
        return "_No training runs recorded yet._\n"
    if "stopped_by" not in trained:
        return f"**Convergence unknown for {total} runs** (trained before runs recorded how they stopped).\n"
    text = (f"**{converged} of {total} distinct training runs converged** (stopped by early stopping: the validation "
            f"loss improved by less than the relative threshold for `patience` epochs; the best epoch's weights kept). "
            f"Steps 01 (architecture search and tuning) and 02, every family, z and seed.")
    rows = sum((table_rows or {}).values())
    if rows > total:
        shared = trained["step"].str.contains(" + ", regex=False).sum() if "step" in trained else 0
        text += (f" The tables hold {rows} rows for them (" + ", ".join(f"`{k}` {v}" for k, v in table_rows.items())
                 + f"): {shared} runs are used by two steps and appear in both.")
    if not others.empty:
        n_rows = sum(len(s.split(" + ")) for s in others["step"]) if "step" in others else len(others)
        runs = f"{len(others)} run" + ("s" if len(others) != 1 else "")
        one = len(others) == 1
        text += (f"\n\n**{runs} did not converge** ({n_rows} row{'' if n_rows == 1 else 's'} in the tables): "
                 f"{'it' if one else 'they'} stopped at the epoch cap, still improving, and "
                 f"{'its numbers are those of an unconverged model' if one else 'their numbers are those of unconverged models'}"
                 f". {'It is' if one else 'They are'} marked "
                 f"{gates.CAP_MARK} wherever {'its' if one else 'their'} numbers appear:\n\n" + markdown(others))
    else:
        text += " None hit the epoch cap.\n"
    epochs = trained.groupby("family")["epochs_run"].agg(["min", "median", "max"]) if "epochs_run" in trained else None
    if epochs is not None and not epochs.empty:
        epochs.columns = ["epochs min", "epochs median", "epochs max"]
        text += "\nEpochs run per family (steps 01–02):\n\n" + markdown(epochs.reset_index(), digits=4)
    return text + "\n"


def architecture_section(study: Study, arch_runs: pd.DataFrame) -> str:
    """Which depth the fully connected families used, and why."""
    source = getattr(study, "depth_source", "set by the user")
    text = (f"## Architecture\n\nFully connected parts (fcae, dae, sae, vae, aae and conae's decoder) use depth "
            f"**{study.depth}** ({source}). Widths follow STUDY.md §2: the seed's presets for d = 784 while their "
            "narrowest hidden layer is at least z, else widths falling linearly from the input to z "
            "(`widths=\"auto\"`; `summary/capacity.csv` names the rule each model used).\n")
    best = read_current(study, "architecture_best", current=False)
    if "setting" in best and not best.empty:
        best = best[best["setting"] == study.setting("fcae", vary=("depth",))]
    if not arch_runs.empty and "depth" in arch_runs:
        grid = arch_runs.groupby(["depth", "latent_dim"])["rmse_mean"].mean().unstack("latent_dim")
        grid.columns = [f"z={c}" for c in grid.columns]
        grid["mean"] = grid.mean(axis=1)
        text += ("\nStep 01, fcae test RMSE by depth (every run converged unless marked in the list above):\n\n"
                 + markdown(grid.reset_index()) + "\n![architecture](../figures/architecture_fcae.png)\n")
    if not best.empty:
        text += "\nBest depth by mean test RMSE over the z values: " + ", ".join(
            f"{r.family} → {int(r.best_depth)}" for r in best.itertuples()) + ".\n"
    return text


def tuning_section(study: Study, out: Path) -> str:
    """Each family's tuned setting: the candidates with their validation RMSE, and the choice."""
    table = read_current(study, "tuning", current=False)
    if table.empty or "base_setting" not in table:
        return "## Tuning\n\n_Step 01 has not tuned the families under these settings; they use their defaults._\n"
    table = table[table["base_setting"].astype(str) == study.base_setting()]
    if table.empty:
        return "## Tuning\n\n_Step 01 has not tuned the families under these settings; they use their defaults._\n"
    shown = table[["family", "option", "value", "learning_rate", "val_rmse", "rmse_mean", "stopped_by", "epochs_run",
                   "chosen"]].sort_values(["family", "value", "learning_rate"])
    write_table(shown, out / "tuning", caption="Tuning at one z: each family's key setting chosen by validation RMSE")
    chosen = shown[shown["chosen"].astype(str) == "True"]
    picks = ", ".join(f"{r.family} {r.option} = {r.value:g}" + (f" (lr {r.learning_rate:g})"
                      if r.learning_rate != study.learning_rate else "") for r in chosen.itertuples())
    tried = shown.groupby("family")["value"]
    edge = [r.family for r in chosen.itertuples() if r.value in (tried.min()[r.family], tried.max()[r.family])]
    z = int(table["latent_dim"].iloc[0])
    text = (f"## Tuning\n\nAt z = {z}, each family's key setting was trained over a small declared grid "
            "(`aelib.study.tuning.DEFAULT_GRIDS`) and the value with the lowest **validation** RMSE (the split "
            "held out from the training data, never the test set) is used by every later step. "
            f"Chosen: {picks}.\n")
    if edge:
        text += (f"\nAt the edge of its grid: {', '.join(edge)} — the best value may lie outside it; with "
                 "reconstruction as the criterion a regulariser's weakest value often wins.\n")
    user = {f: o for f, o in study.family_options.items() if o}
    if user:
        text += f"\nOptions fixed by the user (not tuned): {user}.\n"
    if shown["stopped_by"].astype(str).eq("epoch_cap").any():
        text += (f"\n{gates.CAP_MARK}: stopped at the epoch cap, still improving: its validation RMSE is that of an "
                 "unconverged model.\n")
    return text + "\n" + markdown(mark_capped(shown, set()))


def gates_and_capacity_sections(runs: pd.DataFrame, out: Path) -> list[str]:
    """Sanity gates per run (failures are findings) and each model's capacity."""
    if runs.empty:
        return []
    sections = []
    gate_cols = [f"gate_{g}" for g in gates.GATES if f"gate_{g}" in runs]
    if gate_cols:
        failed = gates.gate_failures(runs)
        checked = {g: int(runs[f"gate_{g}"].notna().sum()) for g in gates.GATES if f"gate_{g}" in runs}
        passed = {g: checked[g] - int((failed["gate"] == g).sum()) for g in checked}
        lines = [f"- `{g}`: {passed[g]} of {checked[g]} runs pass" for g in checked]
        text = ("## Sanity gates\n\nEach trained model against the obvious baselines at its own z (test RMSE): "
                "every model below the mean-image predictor; `vanilla` within "
                f"{gates.VANILLA_PCA_TOLERANCE:.0%} of PCA or better; `fcae` below PCA at every z ≤ {gates.FCAE_PCA_MAX_Z}.\n\n"
                + "\n".join(lines) + "\n\n")
        if failed.empty:
            text += "No gate failed.\n"
        else:
            write_table(failed, out / "gate_failures", caption="Runs that fail a sanity gate (test RMSE against the baseline)")
            text += "**Failing gates (findings, not hidden):**\n\n" + markdown(failed)
        sections.append(text)
    cap_cols = [c for c in ("n_params", "effective_bottleneck", "widths_rule") if c in runs]
    if cap_cols:
        cap = runs.groupby(["family", "latent_dim"])[cap_cols].first().reset_index()
        write_table(cap, out / "capacity", caption="Parameter count and effective bottleneck (narrowest width from "
                    "input through z to output) of each model")
        params = cap.pivot(index="family", columns="latent_dim", values="n_params")
        params.columns = [f"z={c}" for c in params.columns]
        text = ("## Capacity\n\nParameters per model (`summary/capacity.csv` also gives the effective bottleneck — the "
                "narrowest width on the path from input through z to output — and the widths rule used).\n\n"
                + markdown(params.reset_index(), digits=7))
        if "effective_bottleneck" in cap:
            narrow = cap[cap["effective_bottleneck"].notna() & (cap["effective_bottleneck"] < cap["latent_dim"])]
            text += ("\nEvery model's effective bottleneck is its z.\n" if narrow.empty else
                     "\n**Models whose bottleneck is narrower than z** (z adds nothing beyond it):\n\n" + markdown(narrow))
        sections.append(text)
    return sections


def spread_section(study: Study, out: Path, families: Sequence[str], capped: set[tuple[str, int]]) -> str:
    """Per-sample test RMSE spread (step 03): median [10th, 90th percentile] per family and z, and the panels."""
    spread = read_current(study, "reconstruction_spread")
    if spread.empty:
        return "## Reconstruction spread\n\n_Step 03 has not written reconstruction_spread.csv yet._\n"
    spread = spread[spread["family"].isin(families)]
    seeds = sorted({int(v) for v in spread["seed"].dropna()}) if "seed" in spread else []
    if seeds:
        spread = spread[spread["seed"] == seeds[0]]
    cells = spread.assign(cell=[f"{m:.4f} [{lo:.4f}, {hi:.4f}]" + (gates.CAP_MARK if (f, int(z)) in capped else "")
                                for f, z, m, lo, hi in zip(spread["family"], spread["latent_dim"], spread["rmse_median"],
                                                           spread["rmse_p10"], spread["rmse_p90"])])
    table = cells.pivot(index="family", columns="latent_dim", values="cell")
    table.columns = [f"z={c}" for c in table.columns]
    table = table.reset_index()
    seed_text = f"training seed {seeds[0]}" if seeds else "one training seed"
    write_table(table, out / "reconstruction_spread",
                caption=f"Per-image test RMSE: median [10th, 90th percentile] over test images ({seed_text})")
    panels = "".join(f"\n![reconstructions by family, z = {z}](../figures/{p.name})\n"
                     for z, p in sorted((int(p.stem.rsplit("z", 1)[1]), p)
                                        for p in study.figures.glob("reconstructions_by_family_z*.png")))
    curves = "".join(f"\n![learning curves](../figures/{p.name})\n"
                     for p in sorted(study.figures.glob("learning_curves_*.png")))
    return ("## Reconstruction spread\n\nPer-image test RMSE of each model: median [10th, 90th percentile] over the "
            f"test images ({seed_text}; the spread is over images, not seeds).\n\n" + markdown(table)
            + panels + ("\n### Learning curves\n\nValidation loss against epoch for every sweep run.\n" + curves
                        if curves else ""))


def _files_section(out_dir: Path) -> str:
    """A link to every figure and table the study wrote."""
    groups = [("Figures", sorted((out_dir / "figures").glob("*.png")) + sorted((out_dir / "augmentation").glob("*.png"))),
              ("Summary tables (also .tex and .md)", sorted((out_dir / "summary").glob("*.csv"))),
              ("Per-step tables", sorted((out_dir / "tables").glob("*.csv")))]
    lines = ["## Files", ""]
    for title, paths in groups:
        if paths:
            links = ", ".join(f"[{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in paths)
            lines += [f"**{title}** ({len(paths)}): {links}", ""]
    return "\n".join(lines)


def report_text(study: Study, profile: str, ranking: pd.DataFrame, sections: list[str], failures: pd.DataFrame,
                 *, opening: str = "") -> str:
    prov_dir = study.out_dir / "provenance"
    # Seconds per step, summed over every invocation logged (shards and Slurm jobs included).
    step_seconds: dict[str, float] = {}
    log = prov_dir / "invocations.jsonl"
    for line in log.read_text(encoding="utf-8").splitlines() if log.is_file() else []:
        try:
            steps = json.loads(line).get("steps") or []
        except ValueError:
            continue  # a line cut short by a kill
        for entry in steps:
            if isinstance(entry, dict) and isinstance(entry.get("seconds"), (int, float)):
                step_seconds[entry.get("step")] = step_seconds.get(entry.get("step"), 0.0) + entry["seconds"]

    def duration(seconds: float | None) -> str:
        if seconds is None:
            return "–"
        minutes, secs = divmod(int(round(seconds)), 60)
        return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min {secs:02d} s"

    ran = []
    sources = set()
    for path in sorted(prov_dir.glob("*.json")) if prov_dir.is_dir() else []:
        info = json.loads(path.read_text())
        if "runs" in info:
            counts = [info["runs"].get(k, 0) for k in ("complete", "skipped", "failed")]
            cells = " | ".join(map(str, counts)) if any(counts) else "– | – | – (no model runs; see its own outputs)"
            step = info["step"] + (f" (shard {info['shard']})" if info.get("shard") else "")
            ran.append(f"| {step} | {info['when']} | {duration(step_seconds.get(info['step']))} | {cells} |")
        for split, src in (info.get("data_sources") or {}).items():
            if isinstance(src, dict) and "source" in src:
                sources.add(f"{src.get('name')} {split}: {src['source']} ({src.get('n')} samples)"
                            + (" — STAND-IN" if src.get("stand_in") else ""))
    head = [
        f"# Autoencoder comparison — profile `{profile}`",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} from `{_shown_path(study.out_dir)}`.",
        "",
        opening,
        "## What ran",
        "",
        "| step | when | time | ran | already complete | failed |",
        "|---|---|---|---|---|---|",
        *ran,
        "",
        "time: the step's duration summed over every invocation in `provenance/invocations.jsonl` (shards and "
        "Slurm jobs add up, so it is compute time, not wall time; a rerun that skipped complete runs adds its few "
        "seconds); – where no invocation logged the step.",
        "",
        "Data sources: " + ("; ".join(sorted(sources)) if sources else "see provenance/*.json") + ".",
        "",
        *invocation_lines(prov_dir / "invocations.jsonl"),
        "## Overall ranking",
        "",
        _ranking_overview(ranking),
        "![ranks](figures/ranking.png)" if (study.out_dir / "figures" / "ranking.png").is_file() else "",
        "",
    ]
    body = [s.replace("](../figures/", "](figures/").replace("](../augmentation/", "](augmentation/") for s in sections]
    tail = ["## Failures", "", markdown(failures) if not failures.empty else "None.", "", _files_section(study.out_dir)]
    return "\n".join(head) + "\n" + "\n".join(body) + "\n" + "\n".join(tail)
