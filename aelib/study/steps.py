"""Methodology steps 1–3: architecture search, latent sweep, reconstruction."""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.study import gates
from aelib.study.store import atomic_write_json
from aelib.study.study import Study, aggregate_seeds, check_families, check_latent_sizes

RMSE_COLUMNS = ["rmse_mean", "rmse_std", "rmse_median", "rmse_ci95_low", "rmse_ci95_high"]
RUN_COLUMNS = ["family", "dataset", "depth", "latent_dim", "seed", *RMSE_COLUMNS, "mean_image_rmse",
               "n_params", "effective_bottleneck", "widths_rule", "epochs_run", "best_epoch", "stopped_by",
               "final_learning_rate", "val_loss_rel_change_last10pct", "train_seconds", "seconds_per_epoch",
               "data_source", "data_stand_in", "n_train_used", "n_test_used"]


def _train_table(study: Study, results) -> pd.DataFrame:
    rows = [{**r.config, **r.metrics, "setting": study.setting_of(r.config, r.metrics.get("data_source"))}
            for r in results if r.metrics is not None]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "setting"])
    columns = [c for c in RUN_COLUMNS if c in frame]
    columns.insert(columns.index("seed") + 1, "setting")  # a key: rows of other settings are kept apart
    return frame[columns].sort_values(["family", "depth", "latent_dim", "seed"])


def architecture_search(study: Study, *, families: Sequence[str] = ("fcae",), depths: Sequence[int] = (1, 2, 3, 4, 5, 6),
                        z_values: Sequence[int] = (10, 20, 40, 80, 160, 320), seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """Depth × z grid of test RMSE (STUDY.md §2); writes ``architecture.csv``,
    ``architecture_best.csv`` and one heatmap per family. Returns the best depth per family.

    Runs with the untuned options (it comes before the tuning stage)."""
    with study.untuned():
        return _architecture_search(study, families=families, depths=depths, z_values=z_values, seeds=seeds)


def _architecture_search(study: Study, *, families, depths, z_values, seeds) -> pd.DataFrame:
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    if not depths or any(int(d) < 1 for d in depths):
        raise ValueError(f"Expected depths >= 1. Received: depths={list(depths)!r}")
    results = study.train_grid("01 architecture", families, z_values, seeds, depths=[int(d) for d in depths])
    runs = _train_table(study, results)
    runs = study.write_table("architecture_runs", runs)
    if runs.empty:
        return pd.DataFrame(columns=["family", "best_depth", "mean_rmse"])
    cells = aggregate_seeds(runs, ["family", "depth", "latent_dim"], ["rmse_mean"])  # per setting too
    cells = study.write_table("architecture", cells)
    cells = cells[study.is_current(cells)]  # the best depth and the figures: this study's settings only
    best_rows = []
    for family, part in cells.groupby("family"):
        by_depth = part.groupby("depth")["rmse_mean"].mean()
        best_rows.append({"family": family, "setting": study.setting(family, vary=("depth",)),
                          "best_depth": int(by_depth.idxmin()), "mean_rmse": float(by_depth.min()),
                          **{f"mean_rmse_depth{d}": float(v) for d, v in by_depth.items()}})
        grid = part.pivot(index="depth", columns="latent_dim", values="rmse_mean")
        fig = plots.heatmap(grid, title=f"{plots.family_label(family)}: test RMSE by depth and z ({study.dataset})",
                            xlabel="latent size z", ylabel="hidden layers", label="test RMSE", better="lower")
        plots.save_figure(fig, study.figures / f"architecture_{family}")
    best = pd.DataFrame(best_rows)
    if not best.empty:  # none when every run of these settings failed: keep the table as it is
        study.write_table("architecture_best", best)
    return best


def latent_sweep(study: Study, *, families: Sequence[str], z_values: Sequence[int], seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """Train every family at every z and seed (STUDY.md §3); writes the per-run table,
    ``rmse_by_z.csv`` (mean over seeds with a 95 % interval) and the RMSE-vs-z figure."""
    families = check_families(families)
    results = study.train_grid("02 latent sweep", families, z_values, seeds)
    runs = _train_table(study, results)
    if not runs.empty:  # sanity gates against the mean image and PCA at the same z
        x_train, _, _ = study.data("train")
        x_test, _, _ = study.data("test")
        runs = gates.add_gates(runs, gates.pca_test_rmse(x_train, x_test, runs["latent_dim"].unique()))
    runs = study.write_table("latent_sweep_runs", runs)
    if runs.empty:
        return runs
    by_z = aggregate_seeds(runs, ["family", "latent_dim"], ["rmse_mean", "mean_image_rmse", "train_seconds"])
    keys = ["family", "latent_dim", "setting"]
    spread = runs.groupby(keys, dropna=False, as_index=False)[["rmse_ci95_low", "rmse_ci95_high"]].mean()
    by_z = by_z.merge(spread, on=keys, how="left")
    one = by_z["n_seeds"] == 1  # one seed: show the interval over test samples instead
    for side in ("low", "high"):
        by_z[f"rmse_mean_ci95_{side}"] = by_z[f"rmse_mean_ci95_{side}"].where(~one, by_z.pop(f"rmse_ci95_{side}"))
    by_z["interval"] = np.where(one, "95% over test samples (one seed)", "95% t-interval over seeds")
    by_z = study.write_table("rmse_by_z", by_z)
    current, shown = runs[study.is_current(runs)], by_z[study.is_current(by_z)]  # the figure: these settings only
    if shown.empty:
        return by_z
    fig = plots.curve_by_family(shown, x="latent_dim", y="rmse_mean", low="rmse_mean_ci95_low", high="rmse_mean_ci95_high",
                                xlabel="latent size z (log)", ylabel="test RMSE",
                                title=f"Reconstruction error against z ({study.dataset}, {current['data_source'].iloc[0]})")
    baseline = float(current["mean_image_rmse"].iloc[0])
    fig.axes[0].axhline(baseline, color="0.4", lw=0.8, ls=":", label="mean image")
    plots.figure_legend(fig)
    plots.save_figure(fig, study.figures / "rmse_vs_z")
    # learning curves: each run's validation loss per epoch (history.csv), one figure per z
    histories = [pd.read_csv(r.path / "history.csv").assign(family=r.config["family"], seed=r.config["seed"],
                                                            latent_dim=r.config["latent_dim"])
                 for r in results if r.metrics is not None and (r.path / "history.csv").is_file()]
    for z, part in pd.concat(histories).groupby("latent_dim") if histories else ():
        if "val_loss" in part and part["val_loss"].notna().any():
            plots.save_figure(plots.learning_curves(part, title=f"Validation loss against epoch at z = {z} "
                                                                f"({study.dataset}), relative to the first epoch"),
                              study.figures / f"learning_curves_z{z}")
    return by_z


def reconstruction_grids(study: Study, *, families: Sequence[str], z_values: Sequence[int], seed: int = 0,
                         n_images: int = 10) -> pd.DataFrame:
    """Step 4 figures: originals and reconstructions for several z, one grid per family,
    and the per-sample RMSE distribution per (family, z)."""
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    x_test, y_test, info = study.data("test")
    # one image per class, so every digit appears
    picks = [int(np.flatnonzero(y_test == c)[0]) for c in np.unique(y_test)][:n_images]
    originals = x_test[picks]
    rows = []

    def spread_rows(family):
        """Per-sample RMSE spread for each z, from the stored test errors (cheap)."""
        out = []
        for z in z_values:
            run_dir = study.store.path_for("train", study.spec(family, z, seed).config())
            errors = np.load(run_dir / "test_rmse.npy")
            out.append({"family": family, "latent_dim": z, "seed": seed, "rmse_mean": float(errors.mean()),
                        "rmse_p10": float(np.quantile(errors, 0.1)), "rmse_median": float(np.median(errors)),
                        "rmse_p90": float(np.quantile(errors, 0.9)), "data_source": info["source"],
                        "setting": study.setting(family)})
        return out

    def shows(family) -> dict:
        """What a family's grid shows: its runs, in order (kept beside the figure)."""
        return {"runs": [study.store.path_for("train", study.spec(family, z, seed).config()).name for z in z_values],
                "picks": picks}

    def figure_is_current(family) -> bool:
        """PNG and PDF exist, show these runs, and are newer than each of them (so a rerun skips them)."""
        stem = study.figures / f"reconstructions_{family}"
        files = [stem.with_suffix(".png"), stem.with_suffix(".pdf"), stem.with_suffix(".json")]
        if not all(f.is_file() for f in files):
            return False
        try:
            if json.loads(files[2].read_text()) != shows(family):
                return False
        except ValueError:
            return False
        drawn = min(f.stat().st_mtime_ns for f in files[:2])
        for z in z_values:
            metrics = study.store.path_for("train", study.spec(family, z, seed).config()) / "metrics.json"
            if not metrics.is_file() or metrics.stat().st_mtime_ns > drawn:
                return False
        return True

    drawn: dict[tuple[str, int], np.ndarray] = {}  # (family, z) → reconstructions, for the cross-family panels

    def draw(family):
        images, labels = [originals], ["original"]
        for z in z_values:
            images.append(study.model(family, z, seed).reconstruct(originals))
            drawn[(family, z)] = images[-1]
            labels.append(f"z={z}")
        fig = plots.image_grid(images, labels,
                               title=f"{plots.family_label(family)}: originals and reconstructions ({info['source']})")
        stem = study.figures / f"reconstructions_{family}"
        plots.save_figure(fig, stem)
        atomic_write_json(stem.with_suffix(".json"), shows(family))

    from aelib.study.store import RunResult

    items = []
    for family in families:
        def run(family=family):
            path = study.figures / f"reconstructions_{family}.png"
            try:
                if figure_is_current(family):
                    rows.extend(spread_rows(family))
                    return RunResult("figure", {"family": family}, path, "skipped", metrics={})
                draw(family)  # trains any missing model first
                rows.extend(spread_rows(family))
                return RunResult("figure", {"family": family}, path, "complete", metrics={})
            except Exception as err:  # a failed model must not stop the other families
                return RunResult("figure", {"family": family}, path, "failed", error=f"{type(err).__name__}: {err}")
        items.append((f"reconstruction grid {family}", run))
    study.run_all("03 reconstruction", items)
    # the same digits reconstructed by every family at a small and a large z (trained models only)
    for z in [z for z in (2, 40) if z in z_values] or sorted({min(z_values), max(z_values)}):
        by_family = {}
        for family in families:
            run_dir = study.store.path_for("train", study.spec(family, z, seed).config())
            try:
                if (family, z) in drawn or (run_dir / "metrics.json").is_file():
                    by_family[family] = drawn.get((family, z))
                    if by_family[family] is None:
                        by_family[family] = study.model(family, z, seed).reconstruct(originals)
            except Exception as err:  # a model that does not load leaves its row out
                by_family.pop(family, None)
                print(f"reconstruction panel z={z}: {family} left out ({type(err).__name__}: {err})", flush=True)
        if by_family:
            title = f"The same test digits reconstructed at z = {z} ({info['source']})"
            fig = plots.family_reconstructions(originals, by_family, z=z, digits=y_test[picks], title=title)
            plots.save_figure(fig, study.figures / f"reconstructions_by_family_z{z}")
    table = pd.DataFrame(rows)
    study.write_table("reconstruction_spread", table)
    return table
