"""Step 05 (docs/methods.md §4, step 6): complementary data.

Models trained on ``study.dataset`` reconstruct its test split and the test
splits of data sets unlike it (EMNIST letters and Fashion-MNIST for MNIST).
Per-sample RMSE tells how well each family adapts, and the ROC AUC of that RMSE
tells how well it flags the unfamiliar images (in-distribution = negatives,
complementary = positives).

Each (family, z, seed, evaluated data set) is one store run of kind ``"ood"``
holding the per-sample RMSE (``rmse.npy``) and a few reconstructions
(``examples.npz``), so a rerun skips it and the table is rebuilt from the runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.checks import check_int
from aelib.data import list_datasets
from aelib.metrics.ood import roc_auc
from aelib.metrics.reconstruction import rmse_per_sample, summarize
from aelib.study.steps.common import check_seeds, example_indices, model_setting
from aelib.study.study import Study, Unit, check_families, check_latent_sizes

IN_DISTRIBUTION = "in-distribution"
COMPLEMENTARY = "complementary"
OOD_COLUMNS = ["family", "latent_dim", "seed", "setting", "dataset", "role", "rmse_mean", "rmse_std", "rmse_median",
               "rmse_ci95_low", "rmse_ci95_high", "auroc", "n_eval", "data_source", "stand_in", "train_dataset"]


def source_label(dataset: str, info: dict) -> str:
    """Legend text naming where the data came from, e.g. ``emnist_letters (font stand-in)``."""
    source = str(info.get("source", "?"))
    if info.get("stand_in"):
        what = "font stand-in" if "font" in source else f"stand-in: {source}"
        return f"{dataset} ({what})"
    return f"{dataset} ({source})"


def _eval_data(study: Study, dataset: str, role: str, n_ood: int):
    """In-distribution: the study's test split. Complementary: ``n_ood`` test images, stratified."""
    if role == IN_DISTRIBUTION:
        return study.data("test")
    x, y, info = study.data("test", dataset=dataset, n=None)
    if n_ood < len(y):
        x, y, info = study.data("test", dataset=dataset, n=n_ood)
    return x, y, info


def _check_ood_args(study: Study, complementary, n_ood: int, n_images: int) -> list[str]:
    if isinstance(complementary, str):
        complementary = [complementary]
    complementary = list(dict.fromkeys(complementary))
    unknown = [d for d in complementary if d not in list_datasets()]
    if unknown:
        raise ValueError(f"Unknown complementary data set(s) {unknown}. Known: {list(list_datasets())}")
    if study.dataset in complementary:
        raise ValueError(f"The training data set {study.dataset!r} cannot also be complementary. "
                         f"Received: {complementary}")
    if not complementary:
        raise ValueError("Expected at least one complementary data set. Received: complementary=[]")
    for name, value in (("n_ood", n_ood), ("n_images", n_images)):
        check_int(name, value)
    return complementary


def run(study: Study, *, families: Sequence[str] | str = "all", z_values: Sequence[int], complementary: Sequence[str],
        n_ood: int, seeds: Sequence[int], grid_seed: int | None = None, n_images: int = 8) -> pd.DataFrame:
    """Reconstruction of in-distribution and complementary test data (docs/methods.md §4, step 6).

    Args:
        study: the study; its models (trained on ``study.dataset``) are reused or trained.
        families: registry keys (or ``"all"``).
        z_values: latent sizes.
        complementary: data sets unlike the training data, evaluated on their test splits.
        n_ood: complementary images per data set (a stratified subset, subset seed 0, so every model sees
            the same images; all when fewer exist).
        seeds: the training seeds of the models evaluated.
        grid_seed: the training seed whose reconstructions are drawn (one of ``seeds``; default the first).
        n_images: images per row of the reconstruction grids.

    Returns:
        The ``ood_rmse.csv`` table: one row per (family, z, seed, data set).

    Writes:
        ``tables/ood_rmse.csv``; figures ``ood_rmse_vs_z`` (one panel per family,
        in-distribution beside complementary curves), ``ood_auroc_vs_z`` and
        ``ood_reconstructions_<family>_<dataset>`` (originals and reconstructions for each z).
    """
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    seeds, grid_seed = check_seeds(seeds, grid_seed)
    complementary = _check_ood_args(study, complementary, n_ood, n_images)
    evaluated = [(study.dataset, IN_DISTRIBUTION), *[(d, COMPLEMENTARY) for d in complementary]]

    units = [Unit(f"ood {f} z={z} seed={s} on {d} ({r})", unit_config(study, f, z, s, d, r, n_ood, n_images),
                  {"reference": unit_config(study, f, z, s, study.dataset, IN_DISTRIBUTION, n_ood, n_images)},
                  model=study.spec(f, z, s))
             for s in seeds for f in families for z in z_values for d, r in evaluated]
    table, results = study.evaluate_grid("05 complementary data", "ood", units, evaluate, table="ood_rmse",
                                         rows=ood_rows)
    study.release_models()
    frame = ood_frame(study, [r for r in results if r.metrics is not None])
    if not frame.empty:
        figures(study, frame, families, z_values, evaluated, n_images, grid_seed)
    return table


def unit_config(study: Study, family: str, z: int, seed: int, dataset: str, role: str, n_ood: int,
                n_images: int) -> dict:
    """The store key of one model's evaluation on one data set (the trained model's key inside)."""
    return {"family": family, "latent_dim": z, "seed": seed, "dataset": dataset, "role": role,
            "n_eval": None if role == IN_DISTRIBUTION else int(n_ood), "subset_seed": 0, "n_images": int(n_images),
            "train": study.spec(family, z, seed).config()}


def evaluate(study: Study, unit: Unit, run_dir: Path) -> dict:
    """Per-sample RMSE of one model on one data set; for complementary data, the ROC AUC against the
    model's in-distribution run (the unit before it in the grid)."""
    config = unit.config
    x, y, info = _eval_data(study, config["dataset"], config["role"], config["n_eval"])
    model = study.loaded_model(config["family"], config["latent_dim"], config["seed"])
    rmse = rmse_per_sample(x, model.reconstruct(x))
    np.save(run_dir / "rmse.npy", rmse.astype("float32"))
    picks = example_indices(y, config["n_images"])
    np.savez_compressed(run_dir / "examples.npz", original=x[picks], reconstruction=model.reconstruct(x[picks]))
    metrics = {**summarize(rmse, prefix="rmse"), "n_eval": int(len(x)), "data_source": info["source"],
               "stand_in": bool(info.get("stand_in", False)), "label": source_label(config["dataset"], info),
               "auroc": None}
    if config["role"] == COMPLEMENTARY:
        reference = study.store.path_for("ood", unit.params["reference"])
        if study.store.status("ood", unit.params["reference"]) != "complete":
            raise RuntimeError(f"the in-distribution run it is compared with did not complete (see {reference})")
        negatives = np.load(reference / "rmse.npy")
        labels = np.r_[np.zeros(len(negatives)), np.ones(len(rmse))]
        metrics["auroc"] = roc_auc(labels, np.r_[negatives, rmse])
        metrics["n_in_distribution"] = int(len(negatives))
    return metrics


def ood_rows(study: Study, results) -> pd.DataFrame:
    return ood_frame(study, results).reindex(columns=OOD_COLUMNS)


def ood_frame(study: Study, results) -> pd.DataFrame:
    """The table's rows with each run's legend label and folder (for the figures)."""
    rows = [{**{k: v for k, v in r.config.items() if k not in ("train", "subset_seed", "n_images")},
             **{k: v for k, v in r.metrics.items() if k != "seconds"}, "train_dataset": r.config["train"]["dataset"],
             "run_dir": str(r.path), "setting": model_setting(study, r.config["train"])} for r in results]
    if not rows:
        return pd.DataFrame(columns=OOD_COLUMNS)
    frame = pd.DataFrame(rows)
    frame["auroc"] = pd.to_numeric(frame["auroc"], errors="coerce")
    return frame


def _log_z_axis(ax, z_values) -> None:
    """Log x-axis ticked at the latent sizes themselves (no 2×10⁰-style minor labels)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_xticks(sorted(set(z_values)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _shared_legend(fig, axes) -> None:
    """One legend for the figure, right of the panels, instead of one per panel."""
    handles, labels = {}, []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend([handles[k] for k in labels], labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               frameon=False)


def figures(study: Study, frame: pd.DataFrame, families, z_values, evaluated, n_images: int, seed: int) -> None:
    n_seeds = frame["seed"].nunique()
    drawn = frame[frame["seed"] == seed]  # the example grids: one model per cell
    numeric = ["rmse_mean", "rmse_ci95_low", "rmse_ci95_high", "auroc"]
    frame = frame.groupby(["family", "latent_dim", "dataset", "role", "label"], as_index=False,
                          sort=False)[numeric].mean()
    over = f"mean over {n_seeds} training seeds of " if n_seeds > 1 else ""

    present = [f for f in families if f in set(frame["family"])]
    cols = min(3, len(present))
    rows = -(-len(present) // cols)
    plots.set_style()
    # the panels take 4.9 in; the shared legend right of them the rest of the text width
    fig, axes = plots.subplots(rows, cols, width=4.9, height=min(plots.MAX_HEIGHT, 1.8 * rows + 0.5), sharey=True)
    for ax, family in zip(axes.flat, present):
        part = frame[frame["family"] == family]
        plots.curve_by_family(part, x="latent_dim", y="rmse_mean", low="rmse_ci95_low", high="rmse_ci95_high",
                              hue="label", ax=ax, xlabel="latent size z (log)", ylabel="RMSE",
                              title=plots.family_label(family))
        _log_z_axis(ax, z_values)
    for ax in list(axes.flat)[len(present):]:
        ax.set_visible(False)
    _shared_legend(fig, axes.flat[:len(present)])
    fig.suptitle(f"Reconstruction error in and out of distribution (trained on {study.dataset}; "
                 f"line: {over}the mean over test samples; "
                 f"band: {over}its 95 % interval over test samples)", fontsize=11)
    fig.tight_layout()
    plots.save_figure(fig, study.figures / "ood_rmse_vs_z")

    comp = frame[frame["role"] == COMPLEMENTARY].dropna(subset=["auroc"])
    labels = list(dict.fromkeys(comp["label"]))
    if labels:
        fig, axes = plots.subplots(1, len(labels), width=4.9, height=2.6, sharey=True)
        for ax, label in zip(axes.flat, labels):
            plots.curve_by_family(comp[comp["label"] == label], x="latent_dim", y="auroc", ax=ax, title=label,
                                  xlabel="latent size z (log)", ylabel="AUROC")
            ax.axhline(0.5, color="0.4", lw=0.8, ls=":", label="chance")
            _log_z_axis(ax, z_values)
        _shared_legend(fig, axes.flat)
        fig.suptitle(f"Separating complementary data from {study.dataset} test images by per-sample RMSE"
                     + (f" (mean over {n_seeds} training seeds)" if n_seeds > 1 else ""), fontsize=11)
        fig.tight_layout()
        plots.save_figure(fig, study.figures / "ood_auroc_vs_z")

    for family in present:
        for dataset, role in evaluated:
            if role != COMPLEMENTARY:
                continue
            part = drawn[(drawn["family"] == family) & (drawn["dataset"] == dataset)].sort_values("latent_dim")
            if part.empty:
                continue
            images, labels = [], []
            for _, row in part.iterrows():
                with np.load(f"{row['run_dir']}/examples.npz") as saved:
                    if not images:
                        images.append(saved["original"])
                        labels.append("original")
                    images.append(saved["reconstruction"])
                    labels.append(f"z={int(row['latent_dim'])}")
            fig = plots.image_grid(images, labels, n=n_images,
                                   title=f"{family} trained on {study.dataset}: {part['label'].iloc[0]}")
            plots.save_figure(fig, study.figures / f"ood_reconstructions_{family}_{dataset}")
