"""The report's sections on the results per criterion: reconstruction (with the PCA baseline) and its spread,
complementary data, the latent space, generative capacity and data augmentation; each writes its summary table
and, for reconstruction, its figure."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aelib import gates, plots
from aelib.report.runs import failed_runs
from aelib.report.tables import fmt_ci, mark_capped, markdown, ood_sources_text, over_seeds, write_table


def reconstruction_section(out: Path, by_z: pd.DataFrame, pca: pd.DataFrame, capped: set[tuple[str, int]],
                           data: str, *, figures: Path, dataset: str) -> str:
    """Test RMSE by family and z with the PCA baseline: table, figure (``figures/summary_rmse_vs_z``) and text.

    Args:
        by_z: step 02's ``rmse_by_z`` of the families summarised; pca: the PCA baseline rows (``role``
            in-distribution/complementary); capped: (family, z) cells with a run stopped by the epoch cap;
            data: on which data, for the LaTeX caption; dataset: the study's data set, for the figure's title.
    """
    if by_z.empty:
        return "## Reconstruction\n\n_Step 02 has not written rmse_by_z.csv yet._\n"
    wide = by_z.assign(cell=[fmt_ci(m, lo, hi) + (gates.CAP_MARK if (f, int(z)) in capped else "")
                             for f, z, m, lo, hi in zip(by_z["family"], by_z["latent_dim"], by_z["rmse_mean"],
                                                        by_z["rmse_mean_ci95_low"], by_z["rmse_mean_ci95_high"])])
    table = wide.pivot(index="family", columns="latent_dim", values="cell")
    if not pca.empty:
        pin = pca[pca["role"] == "in-distribution"].set_index("latent_dim")["rmse_mean"]
        table.loc["pca (baseline)"] = [f"{pin[z]:.4f}" if z in pin else "–" for z in table.columns]
    table.columns = [f"z={c}" for c in table.columns]
    table = table.reset_index()
    write_table(table, out / "rmse_by_z", data=(data + "; " if data else "") + "PCA at the same z as the baseline",
                caption="Test RMSE by family and latent size z: mean ± half its 95% interval"
                        + (f" ({'; '.join(sorted(set(by_z['interval'].astype(str))))})"
                           if "interval" in by_z else ""))
    baseline = pca[pca["role"] == "in-distribution"][["family", "latent_dim", "rmse_mean"]] if not pca.empty else None
    curves = pd.concat([by_z[["family", "latent_dim", "rmse_mean", "rmse_mean_ci95_low", "rmse_mean_ci95_high"]],
                        baseline], ignore_index=True)
    fig = plots.curve_by_family(curves, x="latent_dim", y="rmse_mean", low="rmse_mean_ci95_low",
                                high="rmse_mean_ci95_high", xlabel="latent size z (log)", ylabel="test RMSE",
                                title=f"Test RMSE against z, with the PCA baseline ({dataset})")
    plots.save_figure(fig, figures / "summary_rmse_vs_z")
    interval = str(by_z["interval"].iloc[0]) if "interval" in by_z else ""
    return (f"## Reconstruction (test RMSE by z)\n\nMean ± half the 95 % interval ({interval}).\n\n"
            + markdown(table) + "\n![RMSE against z](../figures/summary_rmse_vs_z.png)\n")


def spread_section(spread: pd.DataFrame, out: Path, families: Sequence[str], capped: set[tuple[str, int]], *,
                   figures: Path) -> str:
    """Per-sample test RMSE spread (step 03's ``reconstruction_spread``): median [10th, 90th percentile] per
    family and z, and the panels and learning curves found in ``figures``."""
    if spread.empty:
        return "## Reconstruction spread\n\n_Step 03 has not written reconstruction_spread.csv yet._\n"
    spread = spread[spread["family"].isin(families)]
    seeds = sorted({int(v) for v in spread["seed"].dropna()}) if "seed" in spread else []
    if seeds:
        spread = spread[spread["seed"] == seeds[0]]
    cells = spread.assign(cell=[f"{m:.4f} [{lo:.4f}, {hi:.4f}]" + (gates.CAP_MARK if (f, int(z)) in capped else "")
                                for f, z, m, lo, hi in zip(spread["family"], spread["latent_dim"],
                                                           spread["rmse_median"], spread["rmse_p10"],
                                                           spread["rmse_p90"])])
    table = cells.pivot(index="family", columns="latent_dim", values="cell")
    table.columns = [f"z={c}" for c in table.columns]
    table = table.reset_index()
    seed_text = f"training seed {seeds[0]}" if seeds else "one training seed"
    write_table(table, out / "reconstruction_spread",
                caption=f"Per-image test RMSE: median [10th, 90th percentile] over test images ({seed_text})")
    panels = "".join(f"\n![reconstructions by family, z = {z}](../figures/{p.name})\n"
                     for z, p in sorted((int(p.stem.rsplit("z", 1)[1]), p)
                                        for p in figures.glob("reconstructions_by_family_z*.png")))
    curves = "".join(f"\n![learning curves](../figures/{p.name})\n"
                     for p in sorted(figures.glob("learning_curves_*.png")))
    return ("## Reconstruction spread\n\nPer-image test RMSE of each model: median [10th, 90th percentile] over the "
            f"test images ({seed_text}; the spread is over images, not seeds).\n\n" + markdown(table)
            + panels + ("\n### Learning curves\n\nValidation loss against epoch for every sweep run.\n" + curves
                        if curves else ""))


def _named(frame: pd.DataFrame, stand_ins: set, capped: set[tuple[str, int]]) -> pd.DataFrame:
    """Stand-in data named as such on every row, and capped cells marked."""
    named = frame.assign(dataset=[f"{d} (STAND-IN)" if d in stand_ins else d for d in frame["dataset"]])
    return mark_capped(named, capped)


OOD_RATIO_COLUMNS = ["family", "latent_dim", "dataset", "ood_rmse", "in_rmse", "ratio", "n_seeds", "stand_in",
                     "data_source"]


def ood_ratio_table(runs: pd.DataFrame, ood: pd.DataFrame, pca: pd.DataFrame | None = None) -> pd.DataFrame:
    """RMSE on each complementary data set over RMSE on the study's own test data, per family and z: how much
    worse a model reconstructs data unlike its training data (a descriptor, not ranked).

    Args:
        runs: step 02's ``latent_sweep_runs`` (``family``, ``latent_dim``, ``seed``, ``rmse_mean``; the gate
            columns): the in-distribution test RMSE. Runs that fail the gates
            (:func:`aelib.report.runs.failed_runs`) are left out.
        ood: step 05's ``ood_rmse`` (``role`` complementary rows; ``stand_in``, ``data_source`` when recorded).
        pca: the PCA baseline rows (``role`` in-distribution and complementary): a ``pca`` row per z and data set,
            ``n_seeds`` empty (one deterministic fit).

    Returns:
        :data:`OOD_RATIO_COLUMNS`: ``ood_rmse`` and ``in_rmse`` are means over the ``n_seeds`` seeds that have both,
        ``ratio`` = ood_rmse / in_rmse.
    """
    comp = ood[ood["role"] == "complementary"] if not ood.empty and "role" in ood else pd.DataFrame()
    if comp.empty or runs.empty or not {"family", "latent_dim", "seed", "rmse_mean"} <= set(runs):
        return pd.DataFrame(columns=OOD_RATIO_COLUMNS)
    failed = failed_runs(runs)
    bad = set(zip(failed["family"], failed["latent_dim"], failed["seed"]))

    def passing(frame: pd.DataFrame) -> pd.DataFrame:
        keys = zip(frame["family"], frame["latent_dim"].astype(int), frame["seed"].fillna(-1).astype(int))
        return frame[[k not in bad for k in keys]]

    inside = passing(runs).groupby(["family", "latent_dim", "seed"])["rmse_mean"].mean()
    outside = passing(comp).groupby(["family", "latent_dim", "dataset", "seed"])["rmse_mean"].mean()
    stand_in = {}
    for dataset, part in comp.groupby("dataset"):
        flag = ("stand_in" in part and part["stand_in"].astype(str).str.strip().str.lower().isin(["true", "1"]).any())
        source = ", ".join(sorted({str(v) for v in part["data_source"].dropna()})) if "data_source" in part else ""
        stand_in[dataset] = (bool(flag), source)
    rows = []
    for (family, z, dataset), part in outside.groupby(level=["family", "latent_dim", "dataset"], sort=True):
        seeds = [s for s in part.index.get_level_values("seed") if (family, z, s) in inside.index]
        if not seeds:
            continue
        o = float(np.mean([part[(family, z, dataset, s)] for s in seeds]))
        i = float(np.mean([inside[(family, z, s)] for s in seeds]))
        rows.append({"family": family, "latent_dim": int(z), "dataset": dataset, "ood_rmse": o, "in_rmse": i,
                     "ratio": o / i if i > 0 else np.nan, "n_seeds": len(seeds)})
    if pca is not None and not pca.empty and "role" in pca:
        pin = pca[pca["role"] == "in-distribution"].groupby("latent_dim")["rmse_mean"].mean()
        for row in pca[pca["role"] == "complementary"].itertuples():
            if row.latent_dim in pin.index and row.dataset in stand_in:
                i = float(pin[row.latent_dim])
                rows.append({"family": "pca", "latent_dim": int(row.latent_dim), "dataset": row.dataset,
                             "ood_rmse": float(row.rmse_mean), "in_rmse": i,
                             "ratio": float(row.rmse_mean) / i if i > 0 else np.nan, "n_seeds": np.nan})
    frame = pd.DataFrame(rows, columns=OOD_RATIO_COLUMNS[:7])
    frame["stand_in"] = [stand_in.get(d, (False, ""))[0] for d in frame["dataset"]]
    frame["data_source"] = [stand_in.get(d, (False, ""))[1] for d in frame["dataset"]]
    return frame.sort_values(["dataset", "latent_dim", "family"], kind="stable").reset_index(drop=True)


def _ood_ratio_text(ratio: pd.DataFrame, out: Path, data: str) -> str:
    """Writes ``summary/ood_ratio``; the report's paragraph and table on it."""
    write_table(ratio, out / "ood_ratio", data=data,
                caption="RMSE on complementary data over test RMSE on the study's own data, per family and z "
                        "(a descriptor, not ranked; runs failing the gates left out; PCA: one fit, no seeds)")
    shown = ratio.assign(dataset=[f"{d} (STAND-IN)" if s else d for d, s in zip(ratio["dataset"], ratio["stand_in"])])
    wide = shown.pivot_table(index=["family", "dataset"], columns="latent_dim", values="ratio").reset_index()
    wide.columns = [c if isinstance(c, str) else f"z={c}" for c in wide.columns]
    return ("\nRatio of RMSE on complementary data to test RMSE on the study's own data (`summary/ood_ratio.csv`, "
            "means over the seeds that have both; a descriptor of how much worse each model does on data unlike "
            "its training data, **not ranked**: a model that reconstructs everything poorly has a ratio near 1). "
            "PCA, fitted on the training data at the same z, is the reference:\n\n" + markdown(wide, digits=3))


def ood_section(out: Path, ood: pd.DataFrame, pca: pd.DataFrame, capped: set[tuple[str, int]], data: str, *,
                runs: pd.DataFrame | None = None) -> str:
    """RMSE on complementary data and the ROC AUC separating it from the study's test data; with ``runs``
    (step 02's ``latent_sweep_runs``) also their ratio to the in-distribution RMSE (:func:`ood_ratio_table`,
    written as ``summary/ood_ratio``)."""
    if ood.empty:
        return "## Complementary data\n\n_Step 05 has not written ood_rmse.csv yet._\n"
    comp = ood[ood["role"] == "complementary"]
    cols = (["family", "latent_dim", "dataset", "rmse_mean", "auroc"]
            + [c for c in ("data_source", "stand_in") if c in comp])
    both = pd.concat([comp[cols], pca[pca["role"] == "complementary"]] if not pca.empty else [comp[cols]],
                     ignore_index=True)
    table = both.pivot_table(index=["family", "dataset"], columns="latent_dim", values="rmse_mean").reset_index()
    table.columns = [c if isinstance(c, str) else f"z={c}" for c in table.columns]
    over = over_seeds(comp)
    write_table(table, out / "ood_rmse", caption=f"RMSE on complementary data (models trained on MNIST; {over})",
                data=ood_sources_text(comp) + (f"; models: {data}" if data else ""))
    auc = comp.pivot_table(index=["family", "dataset"], columns="latent_dim", values="auroc").reset_index()
    auc.columns = [c if isinstance(c, str) else f"z={c}" for c in auc.columns]
    write_table(auc, out / "ood_auroc",
                caption=f"ROC AUC of per-sample RMSE separating MNIST from complementary data ({over})",
                data=ood_sources_text(comp) + (f"; models: {data}" if data else ""))
    sources = ", ".join(sorted({f"{d}: {s}"
                                for d, s in zip(comp["dataset"], comp.get("data_source", comp["dataset"]))}))
    stand_ins = (set(comp.loc[comp["stand_in"].astype(str).str.lower() == "true", "dataset"]) if "stand_in" in comp
                 else set())
    ratio = ood_ratio_table(runs, ood, pca) if runs is not None else pd.DataFrame()
    return (f"## Complementary data\n\nSources: {sources}. Each value is the {over}.\n\n"
            + markdown(_named(table, stand_ins, capped)) + "\nROC AUC:\n\n"
            + markdown(_named(auc, stand_ins, capped))
            + (_ood_ratio_text(ratio, out, data) if not ratio.empty else "")
            + "\n![OOD RMSE](../figures/ood_rmse_vs_z.png)\n")


def latent_section(latent: pd.DataFrame, out: Path, families: Sequence[str], chosen_z: Sequence[int],
                   capped: set[tuple[str, int]], data: str, pca_latent: pd.DataFrame | None = None) -> str:
    """Latent-space measures (step 04's ``latent_quality``) at the chosen z, with PCA's at the same z
    (``latent_quality_pca``) as reference rows."""
    if latent.empty:
        return "## Latent space\n\n_Step 04 has not written latent_quality.csv yet._\n"
    latent = latent[latent["family"].isin(families) & latent["latent_dim"].isin(chosen_z)]
    cols = [c for c in ("trustworthiness", "continuity", "stress_seed", "stress_scaled", "neighborhood_hit",
                        "neighborhood_hit_self", "shepard_goodness", "probe_logreg_accuracy", "probe_knn_accuracy")
            if c in latent]
    agg = latent.groupby(["family", "latent_dim"])[cols].mean().reset_index()
    agg.insert(2, "n_seeds", latent.groupby(["family", "latent_dim"])["seed"].nunique().to_numpy())
    reference = ""
    if pca_latent is not None and not pca_latent.empty and "latent_dim" in pca_latent:
        pca_rows = pca_latent[pca_latent["latent_dim"].isin(chosen_z)]
        if not pca_rows.empty:
            pca_agg = pca_rows.groupby("latent_dim")[[c for c in cols if c in pca_rows]].mean().reset_index()
            agg = pd.concat([agg, pca_agg.assign(family="pca", n_seeds=np.nan)], ignore_index=True)[agg.columns]
            reference = (" The `pca` rows are PCA with the same z on the same images (deterministic; "
                         "`tables/latent_quality_pca.csv`), a reference, not ranked.")
    over = over_seeds(latent)
    write_table(agg, out / "latent_quality", caption=f"Latent-space quality at chosen z (k = 7; {over}); "
                                                    "stress_scaled is the scale-normalised form", data=data)
    return (f"## Latent space (chosen z)\n\nEach value is the {over}.{reference} "
            "`stress_seed` is the seed's Σ(Δo−Δq)²/max(ΣΔo², ΣΔq²); "
            "`stress_scaled` rescales the codes optimally first (latent spaces have arbitrary scale).\n\n"
            + markdown(mark_capped(agg, capped))
            + "\n![measures](../figures/latent_measures_vs_z.png)\n\n![UMAP](../figures/latent_umap.png)\n")


def generative_section(out: Path, gen: pd.DataFrame, capped: set[tuple[str, int]], data: str) -> str:
    """Decoded perturbed codes against the maximum perturbation."""
    if gen.empty:
        return "## Smoothness under latent perturbation\n\n_Step 06 has not written generative.csv yet._\n"
    perturbed = gen[gen["level"].notna()] if "level" in gen else gen
    value_cols = [c for c in ("rmse_mean", "label_consistency", "frechet") if c in perturbed]
    by = ["family", "latent_dim", "mode", "level"] if "mode" in perturbed else ["family", "latent_dim", "level"]
    curves = perturbed.groupby(by, dropna=False)[value_cols].mean().reset_index()
    over = over_seeds(perturbed)
    write_table(curves, out / "generative",
                caption=f"Decoded perturbed codes against the maximum perturbation p ({over})", data=data)
    return (f"## Smoothness under latent perturbation\n\nDecoded perturbed test codes against the maximum "
            "perturbation p: a description of the decoder's smoothness and robustness, not of generation (a "
            "decoder that ignores its code has a flat curve; generation is judged on samples, next section). "
            f"Each value is the {over}.\n\n" + markdown(mark_capped(curves, capped))
            + "\n![RMSE vs p, relative](../figures/generative_rmse_vs_p.png)\n\n"
            "![RMSE vs p, additive](../figures/generative_rmse_vs_p_additive.png)\n")


def augmentation_section(out: Path, augmentation: Path) -> str:
    """Step 07's summary table (``augmentation/augmentation_summary.csv``) and figures, from its folder
    ``augmentation``."""
    aug_path = augmentation / "augmentation_summary.csv"
    if not aug_path.is_file():
        return "## Data augmentation\n\n_Step 07 has not written augmentation_summary.csv yet._\n"
    aug = pd.read_csv(aug_path)
    write_table(aug, out / "augmentation", caption="Same-artist verification AUC with and without augmentation")
    figures = "".join(f"\n![{p.stem}](../augmentation/{p.name})\n"
                      for p in sorted(aug_path.parent.glob("augmentation_exp*.png")))
    stand_in = " (offline stand-in data)" if "stand_in" in aug and aug["stand_in"].any() else ""
    return f"## Data augmentation (fcae on features){stand_in}\n\n" + markdown(aug) + figures
