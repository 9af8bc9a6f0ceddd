"""Methodology step 7: generative capacity.

Test images are encoded, their codes perturbed by up to p (STUDY.md §4.7,
:func:`aelib.perturbation.perturb`) and decoded. Scored against p:

- RMSE between the decoded perturbed codes and the original images;
- label consistency: share of decoded images that a small CNN classifier,
  trained once on the training split, assigns the original's label;
- Fréchet distance between the classifier's penultimate-layer features of the
  decoded images and of the real test images (an FID-like score on a domain
  classifier, not Inception, so values are not comparable with published FIDs);
- the spread of predicted classes (normalised entropy, largest share).

Families with ``sample`` (vae, aae) are also scored on prior samples (rows with
``source="prior"`` and level NaN). Every unit is a store run: the classifier
(kind ``"classifier"``) and one ``"generative"`` run per (family, z, seed,
mode) or per (family, z, seed) for prior samples, so a rerun skips them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.checks import check_int
from aelib.data import stratified_indices
from aelib.metrics.generative import class_spread, frechet_distance
from aelib.metrics.reconstruction import rmse_per_sample, summarize
from aelib.perturbation import MODES, code_scale, perturb
from aelib.study.ood import ModelCache, example_indices
from aelib.study.study import Study, check_families, check_latent_sizes

CLASSIFIER_VERSION = "cnn16-32-f64"  # change when the architecture below changes, so old runs are not reused
FEATURE_LAYER = "features"
GENERATIVE_COLUMNS = ["family", "latent_dim", "seed", "setting", "mode", "source", "level", "rmse_mean", "rmse_std",
                      "rmse_ci95_low", "rmse_ci95_high", "rmse_to_reconstruction", "label_consistency", "frechet",
                      "class_entropy", "max_class_share", "n_samples", "classifier_test_accuracy",
                      "frechet_real_floor", "data_source"]


# ------------------------------------------------------------------ classifier

def build_classifier(input_shape: tuple[int, ...], num_classes: int, *, seed: int = 0):
    """A small CNN: two conv/pool blocks, a 64-unit ``features`` layer, softmax."""
    import keras

    init = lambda k: keras.initializers.GlorotUniform(seed=seed + k)  # noqa: E731
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init(1))(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init(2))(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu", name=FEATURE_LAYER, kernel_initializer=init(3))(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities", kernel_initializer=init(4))(x)
    return keras.Model(inputs, outputs, name="classifier")


class Classifier:
    """A trained classifier with its feature extractor."""

    def __init__(self, path: Path) -> None:
        import keras

        self.model = keras.saving.load_model(path, compile=False)
        self.features_model = keras.Model(self.model.inputs, [self.model.get_layer(FEATURE_LAYER).output, self.model.outputs[0]])

    def __call__(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(penultimate features, predicted labels)."""
        feats, probs = self.features_model.predict(np.asarray(x, dtype="float32"), batch_size=batch_size, verbose=0)
        return np.asarray(feats, dtype=np.float64), np.argmax(probs, axis=1)


def _classifier_config(study: Study, epochs: int, seed: int) -> dict:
    return {"dataset": study.dataset, "n_train": study.n_train, "n_test": study.n_test, "epochs": int(epochs),
            "batch_size": 128, "learning_rate": 1e-3, "seed": int(seed), "architecture": CLASSIFIER_VERSION}


def ensure_classifier(study: Study, *, epochs: int = 3, seed: int = 0):
    """Train the classifier once per study data (store run kind ``"classifier"``)."""
    def fn(run_dir: Path) -> dict:
        import keras

        x_train, y_train, info = study.data("train")
        x_test, y_test, _ = study.data("test")
        keras.utils.set_random_seed(int(seed))
        model = build_classifier(x_train.shape[1:], int(info["num_classes"]), seed=int(seed))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(np.array(x_train), np.array(y_train), epochs=int(epochs), batch_size=128, verbose=0,
                            shuffle=True)
        tmp = run_dir / "classifier.partial.keras"
        model.save(tmp)
        tmp.replace(run_dir / "classifier.keras")
        clf = Classifier(run_dir / "classifier.keras")
        feats_test, pred_test = clf(x_test)
        feats_train, _ = clf(x_train[stratified_indices(np.asarray(y_train), min(len(x_test), len(x_train)), 0)])
        np.save(run_dir / "features_test.npy", feats_test.astype("float32"))
        return {"test_accuracy": float(np.mean(pred_test == y_test)),
                "train_accuracy_last_epoch": float(history.history["accuracy"][-1]),
                # FD between real train and real test images: the floor a generator can hope for
                "frechet_real_floor": frechet_distance(feats_train, feats_test),
                "n_train": int(len(x_train)), "n_test": int(len(x_test)), "data_source": info["source"]}

    return study.store.run("classifier", _classifier_config(study, epochs, seed), fn)


# ------------------------------------------------------------------ the step

def _check_levels(levels) -> list[float]:
    levels = [float(p) for p in levels]
    if not levels or any(not (0.0 <= p <= 1.0) for p in levels):
        raise ValueError(f"Expected perturbation levels in [0, 1] (0.1 = 10 %). Received: levels={levels!r}")
    return sorted(dict.fromkeys(levels))


def generative_step(study: Study, *, families: Sequence[str], z_values: Sequence[int] = (2, 40),
                    levels: Sequence[float] = (0, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1.0), mode: str = "relative",
                    seeds: Sequence[int] = (0,), n_samples: int = 1000, classifier_epochs: int = 3,
                    n_images: int = 8) -> pd.DataFrame:
    """Generative capacity under latent perturbation (STUDY.md §4, step 7).

    Args:
        study: the study; its models are reused or trained.
        families: registry keys (or ``"all"``).
        z_values: latent sizes (the study asks for 2 and 40 at least).
        levels: maximum perturbations p in [0, 1].
        mode: ``"relative"`` (the seed's z·(1+u)) or ``"additive"`` (z + u·σ_j, σ_j over training codes).
        seeds: training seeds of the models; the perturbation of seed s uses draw seed s at every
            level, so levels differ only in the size of the same draw (common random numbers).
        n_samples: test images encoded (a stratified subset of the study's test split).
        classifier_epochs: epochs of the CNN classifier (trained once, cached).
        n_images: columns of the image grids.

    Returns:
        The ``generative.csv`` table: one row per (family, z, seed, level), plus one
        ``source="prior"`` row per (family, z, seed) for families with ``sample``.
    """
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    levels = _check_levels(levels)
    if mode not in MODES:
        raise ValueError(f"Expected mode in {MODES}. Received: mode={mode!r}")
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"Expected seeds as integers >= 0. Received: seeds={seeds!r}")
    for name, value in (("n_samples", n_samples), ("classifier_epochs", classifier_epochs), ("n_images", n_images)):
        check_int(name, value)
    if n_samples < 2:
        raise ValueError(f"Expected n_samples >= 2 (Fréchet distance needs a covariance). Received: n_samples={n_samples}")

    clf_result = study.run_all("06 classifier", [(f"classifier ({classifier_epochs} epochs)",
                                                  lambda: ensure_classifier(study, epochs=classifier_epochs))],
                               raise_if_all_fail=False)[0]  # without it, the step goes on without Fréchet distances
    clf_ok = clf_result.status != "failed"
    clf_info = clf_result.metrics or {}
    clf_state: dict = {}

    def classifier():
        if not clf_ok:
            return None
        if "clf" not in clf_state:
            clf_state["clf"] = Classifier(clf_result.path / "classifier.keras")
            clf_state["real"] = np.load(clf_result.path / "features_test.npy").astype(np.float64)
        return clf_state["clf"]

    models = ModelCache(study)

    def scores(images, labels=None) -> dict:
        clf = classifier()
        if clf is None:
            return {"label_consistency": None, "frechet": None, "class_entropy": None, "max_class_share": None}
        feats, pred = clf(images)
        out = {"frechet": frechet_distance(feats, clf_state["real"]),
               **class_spread(pred, num_classes=int(clf.model.outputs[0].shape[-1]))}
        out["label_consistency"] = None if labels is None else float(np.mean(pred == labels))
        return out

    def test_subset():
        x, y, info = study.data("test")
        if n_samples < len(y):
            idx = stratified_indices(np.asarray(y), int(n_samples), 0)
            x, y = x[idx], y[idx]
        return x, np.asarray(y), info

    def base_config(family, z, seed, source):
        return {"family": family, "latent_dim": z, "seed": seed, "source": source, "n_samples": int(n_samples),
                "n_images": int(n_images), "classifier": str(clf_result.path.name) if clf_ok else None,
                "train": study.spec(family, z, seed).config()}

    def perturbed(family, z, seed):
        def fn(run_dir: Path) -> dict:
            x, y, info = test_subset()
            model = models(family, z, seed)
            codes = model.encode(x)
            scale = code_scale(model.encode(study.data("train")[0])) if mode == "additive" else None
            picks = example_indices(y, n_images)
            recon = None
            rows, grid = [], [x[picks]]
            for p in levels:
                decoded = model.decode(perturb(codes, p, mode=mode, scale=scale, seed=seed))
                if recon is None:
                    recon = model.decode(codes)
                rmse = rmse_per_sample(x, decoded)
                rows.append({"level": p, **{k: v for k, v in summarize(rmse, prefix="rmse").items() if k != "rmse_n"},
                             "rmse_to_reconstruction": float(rmse_per_sample(recon, decoded).mean()),
                             **scores(decoded, y)})
                grid.append(decoded[picks])
            np.save(run_dir / "grid.npy", np.stack(grid).astype("float32"))
            return {"rows": rows, "n_samples": int(len(x)), "data_source": info["source"]}
        return fn

    def prior(family, z, seed):
        def fn(run_dir: Path) -> dict:
            model = models(family, z, seed)
            images = model.sample(int(n_samples), seed=seed)
            np.save(run_dir / "grid.npy", np.asarray(images[:n_images], dtype="float32")[None])
            row = {"level": None, **scores(images)}
            return {"rows": [row], "n_samples": int(n_samples), "data_source": "prior N(0, I)"}
        return fn

    items = []
    for family in families:
        for z in z_values:
            for seed in seeds:
                cfg = {**base_config(family, z, seed, "perturbed"), "mode": mode, "levels": levels}
                items.append((f"perturb {family} z={z} seed={seed} ({mode}, {len(levels)} levels)",
                              lambda f=family, z=z, s=seed, c=cfg: study.store.run("generative", c, perturbed(f, z, s))))
                if callable(getattr(_family_class(family), "sample", None)):
                    cfg = base_config(family, z, seed, "prior")
                    items.append((f"prior samples {family} z={z} seed={seed}",
                                  lambda f=family, z=z, s=seed, c=cfg: study.store.run("generative", c, prior(f, z, s))))
    results = study.run_all("06 generative capacity", items)
    models.model = None

    rows = []
    for r in results:
        if r.metrics is None:
            continue
        for row in r.metrics["rows"]:
            rows.append({"family": r.config["family"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
                         "setting": study.setting(r.config["family"]), "mode": r.config.get("mode"),
                         "source": r.config["source"], **row,
                         "n_samples": r.metrics["n_samples"], "classifier_test_accuracy": clf_info.get("test_accuracy"),
                         "frechet_real_floor": clf_info.get("frechet_real_floor"),
                         "data_source": r.metrics["data_source"], "run_dir": str(r.path)})
    if not rows:
        table = pd.DataFrame(columns=GENERATIVE_COLUMNS)
        study.write_table("generative", table)
        return table
    frame = pd.DataFrame(rows)
    for column in ("level", "label_consistency", "frechet", "class_entropy", "max_class_share", "classifier_test_accuracy",
                   "frechet_real_floor"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame = frame.sort_values(["family", "latent_dim", "seed", "source", "level"], na_position="last")
    table = frame.reindex(columns=GENERATIVE_COLUMNS).reset_index(drop=True)
    study.write_table("generative", table)
    _figures(study, frame, levels, mode, n_images)
    return table


def _family_class(family: str):
    from aelib.models import get_model_class

    return get_model_class(family)


def _figures(study: Study, frame: pd.DataFrame, levels, mode: str, n_images: int) -> None:
    pert = frame[frame["source"] == "perturbed"].copy()
    if pert.empty:
        return
    pert["z"] = "z=" + pert["latent_dim"].astype(str)
    means = pert.groupby(["family", "z", "latent_dim", "level"], as_index=False, sort=False).mean(numeric_only=True)
    what = "z·(1+u)" if mode == "relative" else "z + u·σ"
    specs = [("rmse_mean", "RMSE to the original image", "generative_rmse_vs_p"),
             ("label_consistency", "share classified as the original's label", "generative_label_consistency_vs_p"),
             ("frechet", "Fréchet distance to real test features", "generative_frechet_vs_p")]
    for column, ylabel, stem in specs:
        data = means.dropna(subset=[column])
        if data.empty:
            continue
        stem = stem if mode == "relative" else f"{stem}_{mode}"  # both modes keep their figures
        fig = plots.curve_panels(data, panel="latent_dim", x="level", y=column, logx=False,
                                 panel_label=lambda z: f"z = {z}", ylabel=ylabel,
                                 xlabel=f"maximum perturbation p ({mode}: {what}, u ~ U(−p, p))",
                                 title=f"Decoded perturbed codes ({study.dataset})")
        if column == "frechet":  # reference lines in every panel: real data, and each sampling family's prior
            floor = frame["frechet_real_floor"].dropna()
            for z, ax in fig.panels.items():
                if not floor.empty:
                    ax.axhline(float(floor.iloc[0]), color="0.4", lw=0.8, ls=":", label="real train vs test")
                prior = frame[(frame["source"] == "prior") & (frame["latent_dim"] == z)]
                for family, part in prior.groupby("family"):
                    if part["frechet"].notna().any():
                        ax.axhline(float(part["frechet"].mean()), color=plots.family_color(family), lw=0.8, ls="-.",
                                   label=f"{plots.family_label(family)}: prior samples")
        elif column == "label_consistency":
            acc = frame["classifier_test_accuracy"].dropna()
            for ax in fig.panels.values() if not acc.empty else ():
                ax.axhline(float(acc.iloc[0]), color="0.4", lw=0.8, ls=":", label="classifier on real test")
        plots.figure_legend(fig, list(fig.panels.values()), loc="outside lower center", ncol=3)
        plots.save_figure(fig, study.figures / stem)

    first_seed = pert.groupby(["family", "latent_dim"])["seed"].transform("min")
    for _, row in pert[(pert["seed"] == first_seed) & (pert["level"] == pert["level"].min())].iterrows():
        grid = np.load(Path(row["run_dir"]) / "grid.npy")
        labels = ["original"] + [f"p={100 * p:.0f}%" for p in levels]
        title = f"{plots.family_label(row['family'])}, z = {row['latent_dim']}: decoded perturbed codes ({mode})"
        fig = plots.image_grid(list(grid), labels, n=n_images, title=title)
        plots.save_figure(fig, study.figures / f"generative_grid_{row['family']}_z{row['latent_dim']}_{mode}")
    for _, row in frame[frame["source"] == "prior"].drop_duplicates(["family", "latent_dim"]).iterrows():
        grid = np.load(Path(row["run_dir"]) / "grid.npy")
        fig = plots.image_grid(list(grid), ["prior"], n=n_images,
                               title=f"{plots.family_label(row['family'])}, z = {row['latent_dim']}: prior samples")
        plots.save_figure(fig, study.figures / f"generative_prior_{row['family']}_z{row['latent_dim']}")
