"""Step 08: the consolidated tables, rankings, findings and ``REPORT.md``.

Reads the tables steps 01–07 wrote (this study's settings only), waits for
other invocations still working on the folder, and writes ``summary/`` (CSV,
Markdown and LaTeX tables, figures) and ``REPORT.md``; :mod:`aelib.report`
builds the sections.
"""
from __future__ import annotations

import time
from typing import Sequence

import pandas as pd

from aelib import findings, plots, report
from aelib.study import gates
from aelib.io import atomic_write_text
from aelib.study.store import mark_summarising
from aelib.study.study import Study, check_families, check_latent_sizes


def run(study: Study, *, families: Sequence[str] | str = "all", z_values: Sequence[int], chosen_z: Sequence[int],
        profile: str, complementary: Sequence[str]) -> pd.DataFrame:
    """Write the consolidated tables, figures and ``REPORT.md`` from what steps 01–07 wrote; return the ranking."""
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    chosen_z = check_latent_sizes(chosen_z)
    out = study.out_dir / "summary"
    out.mkdir(parents=True, exist_ok=True)
    incomplete = _wait_for_others(study, families, chosen_z)
    other_settings = report.other_settings(study)  # only this study's settings are summarised: say what else is there
    sections: list[str] = [other_settings] if other_settings else []
    # convergence, sanity gates and capacity of every trained model
    sweep_runs, arch_runs, trained, table_rows = _trained_runs(study, families)
    opening = incomplete + report.convergence_section(trained, table_rows)
    capped = report.capped_cells(sweep_runs)
    data = report.data_text(sweep_runs, study.dataset)  # for the LaTeX captions
    sections += [report.architecture_section(study, arch_runs), report.tuning_section(study, out),
                 *report.gates_and_capacity_sections(sweep_runs, out)]
    # one section per criterion, then the performance prediction
    by_z, ood, gen = (_of(report.read_current(study, name), families) for name in ("rmse_by_z", "ood_rmse", "generative"))
    pca = report.pca_rows(study, z_values, complementary)
    sections += [_reconstruction_section(study, out, by_z, pca, capped, data),
                 report.spread_section(study, out, families, capped),
                 _ood_section(out, ood, pca, capped, data),
                 _latent_section(study, out, families, chosen_z, capped, data),
                 _generative_section(out, gen, capped, data),
                 _augmentation_section(study, out),
                 report.performance_prediction_section(out, by_z=by_z, pca=pca, runs=sweep_runs, ood=ood,
                                                       latent=report.read_current(study, "latent_quality"), gen=gen)]
    # paired comparisons and the ranking with its uncertainty (aelib.stats)
    ranked_since = time.time()  # the findings read only the summary tables written from here on
    ranking, ranking_sections = report.ranking_and_comparisons(study, out, families=families, chosen_z=chosen_z)
    sections.extend(ranking_sections)
    if not ranking.empty:
        report.plot_ranks(ranking, study.figures / "ranking")
    # the findings in words (aelib.findings), after the convergence lines at the top of the report
    latent_all = _of(report.read_current(study, "latent_quality"), families)
    opening += "\n" + findings.findings_section(**{
        **findings.read_tables(study.out_dir, since=ranked_since), "architecture": arch_runs,
        "latent_quality": latent_all}, latent_directions=report.LATENT_MEASURES) + "\n"
    text = report.report_text(study, profile, ranking, sections, report.failures_table(study), opening=opening)
    atomic_write_text(study.out_dir / "REPORT.md", text)
    print(f"Wrote {study.out_dir / 'REPORT.md'} and tables in {out}")
    return ranking


def _of(frame: pd.DataFrame, families: Sequence[str]) -> pd.DataFrame:
    """The rows of ``families`` (an empty table as it is)."""
    return frame[frame["family"].isin(families)] if not frame.empty else frame


def _wait_for_others(study: Study, families: Sequence[str], chosen_z: Sequence[int]) -> str:
    """Wait (bounded) for other shards or sessions still writing into this folder; the note on what is missing."""
    mark_summarising()  # two summaries never wait for each other
    still_active = study.store.wait_for_others()
    missing = report.missing_rows(study, families, chosen_z)
    incomplete = report.incomplete_note(missing, still_active)
    if incomplete:
        print("summary: INCOMPLETE: " + ("; ".join(f"{r.family} lacks {r.missing} of {r.of} rows of {r.table}"
                                                   for r in missing.itertuples()) or "complete so far")
              + (f"; {len(still_active)} other process(es) still working" if still_active else ""), flush=True)
    return incomplete


def _trained_runs(study: Study, families: Sequence[str]):
    """The sweep's and the depth search's runs, and every trained model once (a run shared by steps counts once)."""
    sweep_runs = report.read_current(study, "latent_sweep_runs")
    with study.untuned():  # step 01 searches depth before tuning
        arch_runs = report.read_current(study, "architecture_runs")
    if not sweep_runs.empty:
        sweep_runs = sweep_runs[sweep_runs["family"].isin(families)]
    tuning_runs = report.read_current(study, "tuning", current=False)
    if not tuning_runs.empty and "base_setting" in tuning_runs:
        tuning_runs = tuning_runs[tuning_runs["base_setting"].astype(str) == study.base_setting()]
    if not tuning_runs.empty:  # which candidate a tuning run was, and the depth it used
        tuning_runs = tuning_runs.assign(depth=study.depth, tuned=[f"{o}={v:g}" if isinstance(v, (int, float)) else f"{o}={v}"
                                                                   for o, v in zip(tuning_runs["option"], tuning_runs["value"])])
    parts = [f.assign(step=label) for f, label in ((arch_runs, "01 architecture"), (tuning_runs, "01 tuning"),
                                                   (sweep_runs, "02 sweep")) if not f.empty]
    trained = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    table_rows = {label: len(f) for f, label in ((arch_runs, "architecture_runs"), (tuning_runs, "tuning"),
                                                (sweep_runs, "latent_sweep_runs")) if not f.empty}
    if not trained.empty:  # a run shared by two steps (the setting holds the depth and options) counts once
        id_cols = [c for c in ("family", "latent_dim", "seed", "setting") if c in trained]
        groups = trained.groupby(id_cols, dropna=False)
        trained["step"] = groups["step"].transform(" + ".join)
        for column in ("tuned", "best_epoch"):  # each table records some of them: keep what any of the rows knows
            if column in trained:
                trained[column] = groups[column].transform("first")
        trained = trained.drop_duplicates(id_cols, keep="last")
    return sweep_runs, arch_runs, trained, table_rows


def _reconstruction_section(study: Study, out, by_z: pd.DataFrame, pca: pd.DataFrame, capped, data: str) -> str:
    """Test RMSE by family and z with the PCA baseline: table, figure and text."""
    if by_z.empty:
        return "## Reconstruction\n\n_Step 02 has not written rmse_by_z.csv yet._\n"
    wide = by_z.assign(cell=[report.fmt_ci(m, lo, hi) + (gates.CAP_MARK if (f, int(z)) in capped else "") for f, z, m, lo, hi in
                             zip(by_z["family"], by_z["latent_dim"], by_z["rmse_mean"], by_z["rmse_mean_ci95_low"],
                                 by_z["rmse_mean_ci95_high"])])
    table = wide.pivot(index="family", columns="latent_dim", values="cell")
    if not pca.empty:
        pin = pca[pca["role"] == "in-distribution"].set_index("latent_dim")["rmse_mean"]
        table.loc["pca (baseline)"] = [f"{pin[z]:.4f}" if z in pin else "–" for z in table.columns]
    table.columns = [f"z={c}" for c in table.columns]
    table = table.reset_index()
    report.write_table(table, out / "rmse_by_z", data=(data + "; " if data else "") + "PCA at the same z as the baseline",
                       caption="Test RMSE by family and latent size z: mean ± half its 95% interval"
                               + (f" ({'; '.join(sorted(set(by_z['interval'].astype(str))))})"
                                  if "interval" in by_z else ""))
    curves = pd.concat([by_z[["family", "latent_dim", "rmse_mean", "rmse_mean_ci95_low", "rmse_mean_ci95_high"]],
                        pca[pca["role"] == "in-distribution"][["family", "latent_dim", "rmse_mean"]] if not pca.empty else None],
                       ignore_index=True)
    fig = plots.curve_by_family(curves, x="latent_dim", y="rmse_mean", low="rmse_mean_ci95_low", high="rmse_mean_ci95_high",
                                xlabel="latent size z (log)", ylabel="test RMSE",
                                title=f"Test RMSE against z, with the PCA baseline ({study.dataset})")
    plots.save_figure(fig, study.figures / "summary_rmse_vs_z")
    interval = str(by_z["interval"].iloc[0]) if "interval" in by_z else ""
    return (f"## Reconstruction (test RMSE by z)\n\nMean ± half the 95 % interval ({interval}).\n\n"
            + report.markdown(table) + "\n![RMSE against z](../figures/summary_rmse_vs_z.png)\n")


def _named(frame: pd.DataFrame, stand_ins: set, capped) -> pd.DataFrame:
    """Stand-in data named as such on every row, and capped cells marked."""
    named = frame.assign(dataset=[f"{d} (STAND-IN)" if d in stand_ins else d for d in frame["dataset"]])
    return report.mark_capped(named, capped)


def _ood_section(out, ood: pd.DataFrame, pca: pd.DataFrame, capped, data: str) -> str:
    """RMSE on complementary data and the ROC AUC separating it from the study's test data."""
    if ood.empty:
        return "## Complementary data\n\n_Step 05 has not written ood_rmse.csv yet._\n"
    comp = ood[ood["role"] == "complementary"]
    cols = ["family", "latent_dim", "dataset", "rmse_mean", "auroc"] + [c for c in ("data_source", "stand_in") if c in comp]
    both = pd.concat([comp[cols], pca[pca["role"] == "complementary"]] if not pca.empty else [comp[cols]], ignore_index=True)
    table = both.pivot_table(index=["family", "dataset"], columns="latent_dim", values="rmse_mean").reset_index()
    table.columns = [c if isinstance(c, str) else f"z={c}" for c in table.columns]
    over = report.over_seeds(comp)
    report.write_table(table, out / "ood_rmse", caption=f"RMSE on complementary data (models trained on MNIST; {over})",
                       data=report.ood_sources_text(comp) + (f"; models: {data}" if data else ""))
    auc = comp.pivot_table(index=["family", "dataset"], columns="latent_dim", values="auroc").reset_index()
    auc.columns = [c if isinstance(c, str) else f"z={c}" for c in auc.columns]
    report.write_table(auc, out / "ood_auroc",
                       caption=f"ROC AUC of per-sample RMSE separating MNIST from complementary data ({over})",
                       data=report.ood_sources_text(comp) + (f"; models: {data}" if data else ""))
    sources = ", ".join(sorted({f"{d}: {s}" for d, s in zip(comp["dataset"], comp.get("data_source", comp["dataset"]))}))
    stand_ins = set(comp.loc[comp["stand_in"].astype(str).str.lower() == "true", "dataset"]) if "stand_in" in comp else set()
    return (f"## Complementary data\n\nSources: {sources}. Each value is the {over}.\n\n"
            + report.markdown(_named(table, stand_ins, capped)) + "\nROC AUC:\n\n"
            + report.markdown(_named(auc, stand_ins, capped)) + "\n![OOD RMSE](../figures/ood_rmse_vs_z.png)\n")


def _latent_section(study: Study, out, families: Sequence[str], chosen_z: Sequence[int], capped, data: str) -> str:
    """Latent-space measures at the chosen z."""
    latent = report.read_current(study, "latent_quality")
    if latent.empty:
        return "## Latent space\n\n_Step 04 has not written latent_quality.csv yet._\n"
    latent = latent[latent["family"].isin(families) & latent["latent_dim"].isin(chosen_z)]
    cols = [c for c in ("trustworthiness", "continuity", "stress_seed", "stress_scaled", "neighborhood_hit",
                        "neighborhood_hit_self", "shepard_goodness", "probe_logreg_accuracy", "probe_knn_accuracy") if c in latent]
    agg = latent.groupby(["family", "latent_dim"])[cols].mean().reset_index()
    agg.insert(2, "n_seeds", latent.groupby(["family", "latent_dim"])["seed"].nunique().to_numpy())
    over = report.over_seeds(latent)
    report.write_table(agg, out / "latent_quality", caption=f"Latent-space quality at chosen z (k = 7; {over}); "
                                                           "stress_scaled is the scale-normalised form", data=data)
    return (f"## Latent space (chosen z)\n\nEach value is the {over}. "
            "`stress_seed` is the seed's Σ(Δo−Δq)²/max(ΣΔo², ΣΔq²); "
            "`stress_scaled` rescales the codes optimally first (latent spaces have arbitrary scale).\n\n"
            + report.markdown(report.mark_capped(agg, capped))
            + "\n![measures](../figures/latent_measures_vs_z.png)\n\n![UMAP](../figures/latent_umap.png)\n")


def _generative_section(out, gen: pd.DataFrame, capped, data: str) -> str:
    """Decoded perturbed codes against the maximum perturbation."""
    if gen.empty:
        return "## Generative capacity\n\n_Step 06 has not written generative.csv yet._\n"
    perturbed = gen[gen["level"].notna()] if "level" in gen else gen
    value_cols = [c for c in ("rmse_mean", "label_consistency", "frechet") if c in perturbed]
    by = ["family", "latent_dim", "mode", "level"] if "mode" in perturbed else ["family", "latent_dim", "level"]
    curves = perturbed.groupby(by, dropna=False)[value_cols].mean().reset_index()
    over = report.over_seeds(perturbed)
    report.write_table(curves, out / "generative",
                       caption=f"Decoded perturbed codes against the maximum perturbation p ({over})", data=data)
    return (f"## Generative capacity\n\nEach value is the {over}.\n\n" + report.markdown(report.mark_capped(curves, capped))
            + "\n![RMSE vs p, relative](../figures/generative_rmse_vs_p.png)\n\n"
            "![RMSE vs p, additive](../figures/generative_rmse_vs_p_additive.png)\n")


def _augmentation_section(study: Study, out) -> str:
    """Step 07's summary table and figures."""
    aug_path = study.out_dir / "augmentation" / "augmentation_summary.csv"
    if not aug_path.is_file():
        return "## Data augmentation\n\n_Step 07 has not written augmentation_summary.csv yet._\n"
    aug = pd.read_csv(aug_path)
    report.write_table(aug, out / "augmentation", caption="Same-artist verification AUC with and without augmentation")
    figures = "".join(f"\n![{p.stem}](../augmentation/{p.name})\n"
                      for p in sorted(aug_path.parent.glob("augmentation_exp*.png")))
    stand_in = " (offline stand-in data)" if "stand_in" in aug and aug["stand_in"].any() else ""
    return f"## Data augmentation (fcae on features){stand_in}\n\n" + report.markdown(aug) + figures
