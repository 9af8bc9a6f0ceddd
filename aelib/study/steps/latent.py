"""Step 04 (docs/methods.md §4, step 5): the latent space as a dimensionality reduction.

Per (family, z): the five projection measures (original images → codes) on a
stratified subset of the test split, how much class information the codes
keep (a logistic-regression probe and a k-NN classifier fitted on training
codes, scored on test codes), and for chosen z a UMAP view of the codes
coloured by class (codes with z ≤ 2 are drawn as they are) with the UMAP
embedding's own quality (codes → 2-D).

PCA with z components (fitted on the same training images) is measured the same way, on the same test
subset, as the reference of the measures: ``latent_quality_pca.csv``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.baselines import PCABaseline
from aelib.metrics.projection import projection_quality
from aelib.study.steps.common import check_seeds, model_setting
from aelib.study.study import Study, Unit, check_families, check_latent_sizes

MEASURES = {  # column → axis label
    "trustworthiness": "trustworthiness",
    "continuity": "continuity",
    "stress_scaled": "normalised stress (scale-normalised)",
    "neighborhood_hit": "neighbourhood hit",
    "shepard_goodness": "Shepard goodness (ρ+1)/2",
    "probe_logreg_accuracy": "logistic-regression probe accuracy",
    "probe_knn_accuracy": "k-NN probe accuracy",
}


def class_probes(z_train, y_train, z_test, y_test, *, k: int = 7, seed: int = 0) -> dict:
    """Accuracy of a standardised logistic regression and of a k-NN classifier
    fitted on training codes and scored on test codes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    logreg.fit(z_train, y_train)
    knn = KNeighborsClassifier(n_neighbors=k).fit(z_train, y_train)
    return {"probe_logreg_accuracy": float(logreg.score(z_test, y_test)),
            "probe_knn_accuracy": float(knn.score(z_test, y_test))}


def umap_embedding(codes: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """2-D view of the codes: UMAP (seeded) for z > 2, the codes themselves otherwise."""
    if codes.shape[1] <= 2:
        return codes if codes.shape[1] == 2 else np.column_stack([codes[:, 0], np.zeros(len(codes))])
    import umap

    return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(codes).astype("float32")


def run(study: Study, *, families: Sequence[str] | str = "all", z_values: Sequence[int], umap_z: Sequence[int], k: int,
        n_points: int, seeds: Sequence[int], analysis_seed: int | None) -> pd.DataFrame:
    """Measures and probes per (family, z, training seed) into ``latent_quality.csv``; UMAP views; measures against z.

    Each model's measures use its own seed for their random draws. The UMAP views are drawn for the
    models of ``analysis_seed`` (one of ``seeds``; default the first), so the figure shows one model per cell."""
    seeds, umap_seed = check_seeds(seeds, analysis_seed, "UMAP")
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    umap_z = check_latent_sizes(umap_z) if umap_z else []
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n_points / 2:
        raise ValueError(f"Expected 1 <= k < n_points/2. Received: k={k!r}, n_points={n_points!r}")
    n_used = len(study.data("test", n=n_points)[1])
    units = [Unit(f"latent space {f} z={z} seed={s}",
                  {**study.spec(f, z, s).config(), "k": k, "n_points": n_used, "umap": z in umap_z and s == umap_seed},
                  {"n_points": n_points}, model=study.spec(f, z, s)) for s in seeds for f in families for z in z_values]
    table, results = study.evaluate_grid("04 latent space", "latent", units, evaluate, table="latent_quality",
                                         rows=latent_rows)
    study.release_models()
    study.write_table("latent_quality_pca", pca_quality(study, z_values, k=k, n_points=n_points, seed=umap_seed))
    figures(study, table, seeds, [r for r in results if r.metrics is not None and r.config.get("umap")], umap_z)
    return table


def pca_quality(study: Study, z_values: Sequence[int], *, k: int, n_points: int, seed: int = 0) -> pd.DataFrame:
    """The reference of the measures: PCA with z components fitted on the study's training images, measured as
    :func:`evaluate` measures a model (the same stratified test subset of ``n_points``, the same ``k``; the probes
    fitted on the PCA codes of the training images). PCA is deterministic: ``seed`` (the step's analysis seed) only
    seeds the measures' random draws and the logistic regression, and is the rows' ``seed``.

    A z that PCA cannot fit (more components than training images or pixels) or that exceeds the test points
    measured is left out with a note, as is a z whose measurement fails: the reference never stops the step.

    Returns:
        One row per z measured: ``family`` ("pca"), ``latent_dim``, ``seed``, the measures of
        :func:`projection_quality` (with ``k`` and ``n``), the two probes, and ``data_source``.
    """
    x_test, y_test, info = study.data("test", n=n_points)
    x_train, y_train, _ = study.data("train")
    flat_test = x_test.reshape(len(x_test), -1)
    limit = min(len(x_train), flat_test.shape[1])
    rows = []
    for z in z_values:
        if z > limit or z > len(x_test):
            print(f"04 latent space: no PCA reference at z={z}: PCA fits at most {limit} components on "
                  f"{len(x_train)} training images of {flat_test.shape[1]} values, and {len(x_test)} test points "
                  "are measured")
            continue
        try:
            pca = PCABaseline(z, seed=seed).fit(x_train)
            codes = pca.encode(x_test)
            row = projection_quality(flat_test, codes, y_test, k=k, seed=seed)
            row.update(class_probes(pca.encode(x_train), y_train, codes, y_test, k=k, seed=seed))
        except Exception as err:  # noqa: BLE001 (a reference that cannot be measured leaves its row out)
            print(f"04 latent space: no PCA reference at z={z}: {type(err).__name__}: {err}")
            continue
        rows.append({"family": "pca", "latent_dim": int(z), "seed": int(seed),
                     **{key: v for key, v in row.items() if not isinstance(v, (dict, list))},
                     "data_source": info["source"]})
    table = pd.DataFrame(rows)
    keys = ["family", "latent_dim", "seed"]
    return table[keys + sorted(c for c in table.columns if c not in keys)] if not table.empty else table


def evaluate(study: Study, unit: Unit, run_dir) -> dict:
    """The five projection measures (images → codes), the class probes, and for a UMAP unit its view."""
    config, seed = unit.config, unit.config["seed"]
    x_test, y_test, info = study.data("test", n=unit.params["n_points"])
    x_train, y_train, _ = study.data("train")
    model = study.loaded_model(config["family"], config["latent_dim"], seed)
    codes = model.encode(x_test)
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"{config['family']} z={config['latent_dim']}: codes contain NaN or infinite values")
    row = projection_quality(x_test.reshape(len(x_test), -1), codes, y_test, k=config["k"], seed=seed)
    row.update(class_probes(model.encode(x_train), y_train, codes, y_test, k=config["k"], seed=seed))
    if config["umap"]:
        emb = umap_embedding(codes, seed=seed)
        np.save(run_dir / "embedding.npy", emb)
        np.save(run_dir / "labels.npy", y_test)
        view = projection_quality(codes, emb, y_test, k=config["k"], seed=seed)
        row.update({f"umap_{key}": view[key] for key in ("trustworthiness", "continuity", "neighborhood_hit")})
    row["data_source"] = info["source"]
    return row


def latent_rows(study: Study, results) -> pd.DataFrame:
    train_keys = ("k", "n_points", "umap")
    rows = [{"family": r.config["family"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
             "setting": model_setting(study, {k: v for k, v in r.config.items() if k not in train_keys}),
             **{k: v for k, v in r.metrics.items() if not isinstance(v, (dict, list))}} for r in results]
    table = pd.DataFrame(rows)
    keys = ["family", "latent_dim", "seed", "setting"]
    return table[keys + sorted(c for c in table.columns if c not in keys)] if not table.empty else table


def figures(study: Study, table: pd.DataFrame, seeds, umap_results, umap_z) -> None:
    """Measures against z (mean over the seeds measured; this study's settings only) and the UMAP views."""
    shown = table[study.is_current(table)] if not table.empty else table
    if not shown.empty:
        measured = shown[shown["seed"].isin(seeds)]
        numeric = [c for c in measured.columns if c not in ("family", "latent_dim", "seed", "setting")
                   and pd.api.types.is_numeric_dtype(measured[c])]
        _plot_measures(study, measured.groupby(["family", "latent_dim"], as_index=False)[numeric].mean(),
                       n_seeds=len(set(measured["seed"])))
    _plot_umaps(study, umap_results, umap_z)


def _plot_measures(study: Study, table: pd.DataFrame, n_seeds: int = 1) -> None:
    plots.set_style()
    cols = [c for c in MEASURES if c in table]
    nrows = len(cols) // 2 + 1  # two panels a row, and one spare for the legend
    fig, axes = plots.subplots(nrows, 2, width="full", height=min(plots.MAX_HEIGHT, 1.9 * nrows + 0.4))
    for ax, col in zip(axes.flat, cols):
        plots.curve_by_family(table, x="latent_dim", y=col, ax=ax, xlabel="latent size z (log)", ylabel=MEASURES[col])
        ax.get_legend().remove()
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    axes.flat[-1].legend(handles, labels, loc="center", ncol=2, frameon=False)  # in the spare panel
    over = f"mean over {n_seeds} training seeds" if n_seeds > 1 else "one training seed"
    fig.suptitle(f"Latent-space quality against z (k={int(table['k'].iloc[0])}, "
                 f"{int(table['n'].iloc[0])} test points; {over})")
    fig.tight_layout()
    plots.save_figure(fig, study.figures / "latent_measures_vs_z")


def _plot_umaps(study: Study, results: list, umap_z: Sequence[int]) -> None:
    if not results:
        return
    zs = [z for z in umap_z if any(r.config["latent_dim"] == z for r in results)]
    panels = [{"family": r.config["family"], "z": r.config["latent_dim"],
               "embedding": np.load(r.path / "embedding.npy"),
               "labels": np.load(r.path / "labels.npy"),
               "how": "codes" if r.config["latent_dim"] <= 2 else "UMAP of codes"}
              for r in results if r.config["latent_dim"] in zs]
    fig = plots.embedding_grid(panels, title=f"Latent space of {study.dataset} test images, coloured by digit class")
    plots.save_figure(fig, study.figures / "latent_umap")
