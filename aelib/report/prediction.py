"""The report's performance-prediction section: power laws of RMSE(z), extrapolation in z, and criteria
predicted from in-distribution RMSE and parameter count (the numbers from :mod:`aelib.metrics.scaling`)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from aelib import stats
from aelib.metrics import scaling
from aelib.report.tables import markdown, write_table


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
                fit = scaling.fit_power_law(part["latent_dim"], part["rmse_mean"])
                fit.update(scaling.held_out_check(part["latent_dim"], part["rmse_mean"]))
                heldout.append(scaling.held_out_predictions(part["latent_dim"], part["rmse_mean"])
                               .assign(family=family))
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
