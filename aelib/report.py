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
from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.baselines import PCABaseline
from aelib.metrics.reconstruction import rmse_per_sample
from aelib.study import gates
from aelib.study.store import atomic_write_text
from aelib.study.study import Study, check_latent_sizes

# ------------------------------------------------------------------ fits


def power_law(z, a, b, c):
    return a * np.power(np.asarray(z, dtype=float), -b) + c


def fit_power_law(z: Sequence[float], rmse: Sequence[float]) -> dict:
    """Least-squares fit of RMSE(z) = a·z^(−b) + c.

    Raises:
        ValueError: fewer than 3 points, or non-positive z.
    """
    from scipy.optimize import curve_fit

    z = np.asarray(z, dtype=float)
    y = np.asarray(rmse, dtype=float)
    if len(z) < 3 or len(z) != len(y):
        raise ValueError(f"Expected at least 3 (z, rmse) points of equal length. Received: {len(z)} z and {len(y)} rmse values")
    if np.any(z <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("Expected z > 0 and finite RMSE values.")
    p0 = (max(y[0] - y[-1], 1e-3), 0.5, max(float(y.min()) * 0.9, 0.0))
    params, _ = curve_fit(power_law, z, y, p0=p0, bounds=([0.0, 0.0, 0.0], [np.inf, 5.0, np.inf]), maxfev=20000)
    pred = power_law(z, *params)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {"a": float(params[0]), "b": float(params[1]), "c": float(params[2]),
            "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")}


def held_out_predictions(z: Sequence[float], rmse: Sequence[float]) -> pd.DataFrame:
    """Leave-one-out over z: for each z, fit on the others and predict it.

    Returns one row per z (``latent_dim``, ``observed``, ``predicted``,
    ``rel_error`` = |predicted − observed| / observed); no rows for fewer
    than 4 points (3 are needed to fit).
    """
    z = np.asarray(z, dtype=float)
    y = np.asarray(rmse, dtype=float)
    rows = []
    if len(z) >= 4:
        for i in range(len(z)):
            keep = np.arange(len(z)) != i
            fit = fit_power_law(z[keep], y[keep])
            predicted = float(power_law(z[i], fit["a"], fit["b"], fit["c"]))
            rows.append({"latent_dim": z[i], "observed": y[i], "predicted": predicted,
                         "rel_error": abs(predicted - y[i]) / y[i]})
    return pd.DataFrame(rows, columns=["latent_dim", "observed", "predicted", "rel_error"])


def held_out_check(z: Sequence[float], rmse: Sequence[float]) -> dict:
    """Summary of :func:`held_out_predictions`: how many z, mean and max relative error."""
    errors = held_out_predictions(z, rmse)["rel_error"]
    if errors.empty:
        return {"heldout_n": 0, "heldout_mean_abs_rel_error": float("nan"), "heldout_max_abs_rel_error": float("nan")}
    return {"heldout_n": len(errors), "heldout_mean_abs_rel_error": float(errors.mean()),
            "heldout_max_abs_rel_error": float(errors.max())}


# ------------------------------------------------------------------ output helpers


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (so a
    committed report does not name one machine's folders), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_table(frame: pd.DataFrame, stem: Path, *, caption: str, float_format: str = "%.4f") -> list[Path]:
    """``stem``.csv, .tex (booktabs) and .md; returns the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    latex = frame.to_latex(index=False, float_format=lambda v: float_format % v, caption=caption,
                           label=f"tab:{stem.name}", na_rep="--", escape=True)
    atomic_write_text(stem.with_suffix(".tex"), latex)
    atomic_write_text(stem.with_suffix(".md"), markdown(frame))
    return [stem.with_suffix(s) for s in (".csv", ".tex", ".md")]


def markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    if frame.empty:
        return "_(no rows)_\n"
    return frame.to_markdown(index=False, floatfmt=f".{digits}g") + "\n"


# The step tables the summary reads (for the line on rows of other settings it leaves out).
SUMMARY_TABLES = ("architecture_runs", "latent_sweep_runs", "rmse_by_z", "ood_rmse", "latent_quality", "generative")


def _read(study: Study, name: str, *, current: bool = True) -> pd.DataFrame:
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


def _other_settings(study: Study, names: Sequence[str] = SUMMARY_TABLES) -> str:
    """One report line on the rows of other settings that the tables keep and the summary leaves out."""
    left_out = [frame.loc[~study.is_current(frame), "setting"] if "setting" in frame
                else pd.Series("unrecorded", index=frame.index)
                for frame in (_read(study, name, current=False) for name in names) if "family" in frame]
    left_out = pd.concat(left_out) if left_out else pd.Series(dtype=str)
    if left_out.empty:
        return ""
    settings = ", ".join(sorted(left_out.fillna("unrecorded").astype(str).unique()))
    rows = f"{len(left_out)} rows of other settings are" if len(left_out) != 1 else "1 row of another setting is"
    return (f"{rows} kept in the tables and left out here: settings {settings} "
            "(`tables/settings/<setting>.json` says what each means).\n")


def _fmt_ci(mean, low, high, digits=4) -> str:
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
    rows = []
    for z in z_values:
        if z > min(len(x_train), int(np.prod(x_train.shape[1:]))):
            continue
        pca = PCABaseline(z).fit(x_train)
        rows.append({"family": "pca", "latent_dim": z, "dataset": study.dataset, "role": "in-distribution",
                     "rmse_mean": float(rmse_per_sample(x_test, pca.reconstruct(x_test)).mean()),
                     "data_source": info["source"]})
        for name, x in others.items():
            rows.append({"family": "pca", "latent_dim": z, "dataset": name, "role": "complementary",
                         "rmse_mean": float(rmse_per_sample(x, pca.reconstruct(x)).mean())})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the summary


def rank_table(criteria: dict[str, pd.Series], higher_is_better: dict[str, bool]) -> pd.DataFrame:
    """Rank families per criterion (1 = best) and overall (mean rank)."""
    frame = pd.DataFrame(criteria)
    ranks = pd.DataFrame(index=frame.index)
    for col in frame:
        ranks[f"rank_{col}"] = frame[col].rank(ascending=not higher_is_better[col], method="min")
    out = pd.concat([frame, ranks], axis=1)
    rank_cols = [c for c in out if c.startswith("rank_")]
    out["mean_rank"] = out[rank_cols].mean(axis=1)
    out["rank_overall"] = out["mean_rank"].rank(method="min")
    return out.sort_values("rank_overall").reset_index().rename(columns={"index": "family"})


def summarize_study(study: Study, *, families: Sequence[str], z_values: Sequence[int], chosen_z: Sequence[int] = (2, 40),
                    profile: str = "quick", complementary: Sequence[str] = ("emnist_letters", "fashion_mnist")) -> pd.DataFrame:
    """Write the consolidated tables, figures and ``REPORT.md``; return the ranking."""
    z_values = check_latent_sizes(z_values)
    chosen_z = check_latent_sizes(chosen_z)
    out = study.out_dir / "summary"
    out.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    criteria: dict[str, pd.Series] = {}
    better: dict[str, bool] = {}
    # only rows of this study's settings are summarised (_read); say what the tables hold besides
    other_settings = _other_settings(study)
    if other_settings:
        sections.append(other_settings)

    # --- convergence, sanity gates and capacity of every trained model
    sweep_runs = _read(study, "latent_sweep_runs")
    arch_runs = _read(study, "architecture_runs")
    if not sweep_runs.empty:
        sweep_runs = sweep_runs[sweep_runs["family"].isin(families)]
    trained = pd.concat([f for f in (arch_runs, sweep_runs) if not f.empty], ignore_index=True) \
        if not (arch_runs.empty and sweep_runs.empty) else pd.DataFrame()
    if not trained.empty:
        id_cols = [c for c in ("family", "depth", "latent_dim", "seed", "setting") if c in trained]
        trained = trained.drop_duplicates(id_cols)
    opening = _convergence_section(trained)
    sections.append(_architecture_section(study, arch_runs))
    sections.extend(_gates_and_capacity_sections(sweep_runs, out))

    # --- reconstruction per z, with the PCA baseline
    by_z = _read(study, "rmse_by_z")
    ood = _read(study, "ood_rmse")
    pca = pca_rows(study, z_values, complementary)
    if not by_z.empty:
        by_z = by_z[by_z["family"].isin(families)]
        capped = _capped_cells(sweep_runs)
        wide = by_z.assign(cell=[_fmt_ci(m, lo, hi) + (gates.CAP_MARK if (f, int(z)) in capped else "") for f, z, m, lo, hi in
                                 zip(by_z["family"], by_z["latent_dim"], by_z["rmse_mean"], by_z["rmse_mean_ci95_low"],
                                     by_z["rmse_mean_ci95_high"])])
        table = wide.pivot(index="family", columns="latent_dim", values="cell")
        if not pca.empty:
            pin = pca[pca["role"] == "in-distribution"].set_index("latent_dim")["rmse_mean"]
            table.loc["pca (baseline)"] = [f"{pin[z]:.4f}" if z in pin else "–" for z in table.columns]
        table.columns = [f"z={c}" for c in table.columns]
        table = table.reset_index()
        write_table(table, out / "rmse_by_z", caption="Test RMSE by family and latent size (mean ± half 95\\% interval)")
        curves = pd.concat([by_z[["family", "latent_dim", "rmse_mean", "rmse_mean_ci95_low", "rmse_mean_ci95_high"]],
                            pca[pca["role"] == "in-distribution"][["family", "latent_dim", "rmse_mean"]] if not pca.empty else None],
                           ignore_index=True)
        fig = plots.curve_by_family(curves, x="latent_dim", y="rmse_mean", low="rmse_mean_ci95_low", high="rmse_mean_ci95_high",
                                    xlabel="latent size z (log)", ylabel="test RMSE",
                                    title=f"Test RMSE against z, with the PCA baseline ({study.dataset})")
        plots.save_figure(fig, study.figures / "summary_rmse_vs_z")
        sections.append("## Reconstruction (test RMSE by z)\n\nMean ± half the 95 % interval (" + str(by_z["interval"].iloc[0] if "interval" in by_z else "")
                        + ").\n\n" + markdown(table) + "\n![RMSE against z](../figures/summary_rmse_vs_z.png)\n")
        criteria["rmse"] = by_z.groupby("family")["rmse_mean"].mean()
        better["rmse"] = False
        # power-law fits
        fits, heldout = [], []
        for family, part in by_z.groupby("family"):
            part = part.sort_values("latent_dim")
            try:
                fit = fit_power_law(part["latent_dim"], part["rmse_mean"])
                predictions = held_out_predictions(part["latent_dim"], part["rmse_mean"])
                fit.update(held_out_check(part["latent_dim"], part["rmse_mean"]))
                heldout.append(predictions.assign(family=family))
            except (ValueError, RuntimeError) as err:
                fit = {"note": str(err)}
            fits.append({"family": family, "n_z": len(part), **fit})
        fits = pd.DataFrame(fits)
        write_table(fits, out / "rmse_power_law", caption="Fit of RMSE(z) = a z^{-b} + c per family, with leave-one-out error")
        section = ("## Predicting performance: RMSE(z) = a·z^(−b) + c\n\nLeave-one-out over z: each z is predicted "
                   "from a fit on the others (needs 4 z values or more).\n\n" + markdown(fits))
        heldout = pd.concat(heldout, ignore_index=True) if heldout else pd.DataFrame()
        if not heldout.empty:
            heldout["latent_dim"] = heldout["latent_dim"].astype(int)
            heldout = heldout[["family", "latent_dim", "observed", "predicted", "rel_error"]]
            write_table(heldout, out / "rmse_power_law_heldout",
                        caption="RMSE at each z predicted by the power law fitted on the other z values")
            errors = heldout.pivot(index="family", columns="latent_dim", values="rel_error") * 100
            errors.columns = [f"z={z}" for z in errors.columns]
            section += ("\nRelative error (%) of each held-out prediction (observed and predicted RMSE in "
                        "`summary/rmse_power_law_heldout.csv`):\n\n" + markdown(errors.reset_index(), digits=3))
        sections.append(section)
    else:
        sections.append("## Reconstruction\n\n_Step 02 has not written rmse_by_z.csv yet._\n")

    # --- complementary data
    if not ood.empty:
        ood = ood[ood["family"].isin(families)]
        comp = ood[ood["role"] == "complementary"]
        cols = ["family", "latent_dim", "dataset", "rmse_mean", "auroc"] + [c for c in ("data_source", "stand_in") if c in comp]
        both = pd.concat([comp[cols], pca[pca["role"] == "complementary"]] if not pca.empty else [comp[cols]], ignore_index=True)
        table = both.pivot_table(index=["family", "dataset"], columns="latent_dim", values="rmse_mean").reset_index()
        table.columns = [c if isinstance(c, str) else f"z={c}" for c in table.columns]
        write_table(table, out / "ood_rmse", caption="RMSE on complementary data (models trained on MNIST)")
        auc = comp.pivot_table(index=["family", "dataset"], columns="latent_dim", values="auroc").reset_index()
        auc.columns = [c if isinstance(c, str) else f"z={c}" for c in auc.columns]
        write_table(auc, out / "ood_auroc", caption="ROC AUC of per-sample RMSE separating MNIST from complementary data")
        sources = ", ".join(sorted({f"{d}: {s}" for d, s in zip(comp["dataset"], comp.get("data_source", comp["dataset"]))}))
        sections.append(f"## Complementary data\n\nSources: {sources}.\n\n" + markdown(table) + "\nROC AUC:\n\n" + markdown(auc)
                        + "\n![OOD RMSE](../figures/ood_rmse_vs_z.png)\n")
        criteria["ood_rmse"] = comp.groupby("family")["rmse_mean"].mean()
        better["ood_rmse"] = False
        criteria["ood_auroc"] = comp.groupby("family")["auroc"].mean()
        better["ood_auroc"] = True
    else:
        sections.append("## Complementary data\n\n_Step 05 has not written ood_rmse.csv yet._\n")

    # --- latent space at chosen z
    latent = _read(study, "latent_quality")
    if not latent.empty:
        latent = latent[latent["family"].isin(families) & latent["latent_dim"].isin(chosen_z)]
        cols = [c for c in ("trustworthiness", "continuity", "stress_seed", "stress_scaled", "neighborhood_hit",
                            "neighborhood_hit_self", "shepard_goodness", "probe_logreg_accuracy", "probe_knn_accuracy") if c in latent]
        agg = latent.groupby(["family", "latent_dim"])[cols].mean().reset_index()
        write_table(agg, out / "latent_quality", caption="Latent-space quality at chosen z (k = 7); stress_scaled is the scale-normalised form")
        sections.append("## Latent space (chosen z)\n\n`stress_seed` is the seed's Σ(Δo−Δq)²/max(ΣΔo², ΣΔq²); "
                        "`stress_scaled` rescales the codes optimally first (latent spaces have arbitrary scale).\n\n"
                        + markdown(agg) + "\n![measures](../figures/latent_measures_vs_z.png)\n\n![UMAP](../figures/latent_umap.png)\n")
        for col, hib in (("trustworthiness", True), ("continuity", True), ("stress_scaled", False),
                         ("neighborhood_hit", True), ("shepard_goodness", True), ("probe_knn_accuracy", True)):
            if col in agg:
                criteria[col] = agg.groupby("family")[col].mean()
                better[col] = hib
    else:
        sections.append("## Latent space\n\n_Step 04 has not written latent_quality.csv yet._\n")

    # --- generative capacity
    gen = _read(study, "generative")
    if not gen.empty:
        gen = gen[gen["family"].isin(families)]
        perturbed = gen[gen["level"].notna()] if "level" in gen else gen
        value_cols = [c for c in ("rmse_mean", "label_consistency", "frechet") if c in perturbed]
        curves = perturbed.groupby(["family", "latent_dim", "level"])[value_cols].mean().reset_index()
        write_table(curves, out / "generative", caption="Decoded perturbed codes against the maximum perturbation p")
        sections.append("## Generative capacity\n\n" + markdown(curves)
                        + "\n![RMSE vs p](../figures/generative_rmse_vs_p.png)\n")
        if "label_consistency" in curves:
            criteria["label_consistency"] = curves.groupby("family")["label_consistency"].mean()
            better["label_consistency"] = True
        if "frechet" in curves:
            criteria["frechet"] = curves.groupby("family")["frechet"].mean()
            better["frechet"] = False
    else:
        sections.append("## Generative capacity\n\n_Step 06 has not written generative.csv yet._\n")

    # --- augmentation
    aug_path = study.out_dir / "augmentation" / "augmentation_summary.csv"
    if aug_path.is_file():
        aug = pd.read_csv(aug_path)
        write_table(aug, out / "augmentation", caption="Same-artist verification AUC with and without augmentation")
        figures = "".join(f"\n![{p.stem}](../augmentation/{p.name})\n"
                          for p in sorted(aug_path.parent.glob("augmentation_exp*.png")))
        stand_in = " (offline stand-in data)" if "stand_in" in aug and aug["stand_in"].any() else ""
        sections.append(f"## Data augmentation (fcae on features){stand_in}\n\n" + markdown(aug) + figures)
    else:
        sections.append("## Data augmentation\n\n_Step 07 has not written augmentation_summary.csv yet._\n")

    ranking = rank_table(criteria, better) if criteria else pd.DataFrame()
    if not ranking.empty:
        write_table(ranking, out / "ranking", caption="Rank of each family per criterion (1 = best) and overall")
        _plot_ranks(ranking, study.figures / "ranking")

    failures = _failures(study)
    report = _report_text(study, profile, ranking, sections, failures, opening=opening)
    atomic_write_text(study.out_dir / "REPORT.md", report)
    print(f"Wrote {study.out_dir / 'REPORT.md'} and tables in {out}")
    return ranking


def _plot_ranks(ranking: pd.DataFrame, stem: Path) -> None:
    import matplotlib.pyplot as plt

    ranks = ranking.set_index("family")[[c for c in ranking if c.startswith("rank_") and c != "rank_overall"]]
    ranks.columns = [c.removeprefix("rank_") for c in ranks.columns]
    fig = plots.heatmap(ranks, fmt=".0f", cmap="viridis", title="Rank per criterion (1 = best)")
    plots.save_figure(fig, stem)
    plt.close("all")


def _failures(study: Study) -> pd.DataFrame:
    frame = study.store.failures()
    return frame[[c for c in ("kind", "family", "latent_dim", "seed", "error") if c in frame]] if not frame.empty else frame


def _invocations(path: Path, last: int = 10) -> list[str]:
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


def _capped_cells(runs: pd.DataFrame) -> set[tuple[str, int]]:
    """(family, z) cells with at least one run that early stopping did not end."""
    if runs.empty or "stopped_by" not in runs:
        return set()
    bad = runs[runs["stopped_by"] != "early_stopping"]
    return {(f, int(z)) for f, z in zip(bad["family"], bad["latent_dim"])}


def _convergence_section(trained: pd.DataFrame) -> str:
    """The report's opening line: how many training runs converged, and which did not."""
    converged, total, others = gates.convergence_summary(trained)
    if total == 0:
        return "_No training runs recorded yet._\n"
    if "stopped_by" not in trained:
        return f"**Convergence unknown for {total} runs** (trained before runs recorded how they stopped).\n"
    text = (f"**{converged} of {total} training runs converged** (stopped by early stopping: the validation loss "
            f"improved by less than the relative threshold for `patience` epochs; the best epoch's weights kept). "
            f"Steps 01 and 02, every family, z and seed.")
    if not others.empty:
        text += (f"\n\nRuns stopped otherwise, marked {gates.CAP_MARK} wherever their numbers appear:\n\n"
                 + markdown(others))
    else:
        text += " None hit the epoch cap.\n"
    epochs = trained.groupby("family")["epochs_run"].agg(["min", "median", "max"]) if "epochs_run" in trained else None
    if epochs is not None and not epochs.empty:
        epochs.columns = ["epochs min", "epochs median", "epochs max"]
        text += "\nEpochs run per family (steps 01–02):\n\n" + markdown(epochs.reset_index(), digits=4)
    return text + "\n"


def _architecture_section(study: Study, arch_runs: pd.DataFrame) -> str:
    """Which depth the fully connected families used, and why."""
    source = getattr(study, "depth_source", "set by the user")
    text = (f"## Architecture\n\nFully connected parts (fcae, dae, sae, vae, aae and conae's decoder) use depth "
            f"**{study.depth}** ({source}). Widths follow STUDY.md §2: the seed's presets for d = 784 while their "
            "narrowest hidden layer is at least z, else widths falling linearly from the input to z "
            "(`widths=\"auto\"`; `summary/capacity.csv` names the rule each model used).\n")
    best = _read(study, "architecture_best", current=False)
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


def _gates_and_capacity_sections(runs: pd.DataFrame, out: Path) -> list[str]:
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


def _report_text(study: Study, profile: str, ranking: pd.DataFrame, sections: list[str], failures: pd.DataFrame,
                 *, opening: str = "") -> str:
    prov_dir = study.out_dir / "provenance"
    ran = []
    sources = set()
    for path in sorted(prov_dir.glob("*.json")) if prov_dir.is_dir() else []:
        info = json.loads(path.read_text())
        if "runs" in info:
            counts = [info["runs"].get(k, 0) for k in ("complete", "skipped", "failed")]
            cells = " | ".join(map(str, counts)) if any(counts) else "– | – | – (no model runs; see its own outputs)"
            ran.append(f"| {info['step']} | {info['when']} | {cells} |")
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
        "| step | when | ran | already complete | failed |",
        "|---|---|---|---|---|",
        *ran,
        "",
        "Data sources: " + ("; ".join(sorted(sources)) if sources else "see provenance/*.json") + ".",
        "",
        *_invocations(prov_dir / "invocations.jsonl"),
        "## Overall ranking",
        "",
        (markdown(ranking[["family", "mean_rank", "rank_overall", *[c for c in ranking if c.startswith("rank_") and c != "rank_overall"]]])
         if not ranking.empty else "_no criteria available yet_\n"),
        "![ranks](figures/ranking.png)",
        "",
    ]
    body = [s.replace("](../figures/", "](figures/").replace("](../augmentation/", "](augmentation/") for s in sections]
    tail = ["## Failures", "", markdown(failures) if not failures.empty else "None.", ""]
    return "\n".join(head) + "\n" + "\n".join(body) + "\n" + "\n".join(tail)
