"""Step 06, generation judged on samples (docs/methods.md §4, step 7): what each family generates, scored against real
test images in the judge's features.

Samplers, one store run (kind ``"samples"``) per (family, z, seed, sampler):

- ``gmm`` (every family): a Gaussian mixture (:data:`N_COMPONENTS` full-covariance components, EM seeded with
  the training seed; :mod:`aelib.sampling`) fitted to the codes of the study's training images after training,
  as in Ghosh et al. (2020); ``n_samples`` codes drawn from it (same seed) and decoded;
- ``prior`` (families with ``sample``: vae, aae): ``n_samples`` decoded draws from the prior.

Scores, against the judge's penultimate features of the study's real test images
(:mod:`aelib.metrics.samples`, :mod:`aelib.metrics.generative`): Fréchet distance; improved precision and recall
(Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020), with k-NN balls of size ``k``; the
spread of the judge's predicted classes (entropy normalised by log K, largest share). One run of sampler
``real`` draws ``n_samples`` real training images instead and gives the real-versus-real floor of every score at
the same n; with the judge's accuracy it makes ``tables/judge.csv``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.metrics.generative import class_spread, frechet_distance
from aelib.metrics.samples import sample_scores
from aelib.models import get_model_class
from aelib.sampling import COVARIANCE_TYPE, draw_codes, fit_code_density
from aelib.study.classifier import Classifier
from aelib.study.steps.common import example_indices, model_setting
from aelib.study.study import Study, Unit

#: Components of the mixture fitted to the training codes (declared, as Ghosh et al. 2020 do; they used 10).
N_COMPONENTS = 10
# The sampling and scoring code's version, part of every run key: change it when what a run computes changes.
SAMPLES_VERSION = "1"
SCORES = ["frechet", "precision", "recall", "density", "coverage", "class_entropy", "max_class_share"]
SAMPLE_COLUMNS = ["family", "latent_dim", "seed", "setting", "sampler", *SCORES, "n_samples", "n_reference", "k",
                  "n_components", "gmm_converged", "judge_test_accuracy", "data_source"]
JUDGE_COLUMNS = ["dataset", "data_source", "architecture", "judge_run", "n_train", "n_validation", "n_test",
                 "epochs_run", "best_epoch", "stopped_by", "train_accuracy", "validation_accuracy", "test_accuracy",
                 "floor_n_samples", "k", *(f"{s}_real" for s in SCORES)]


def samplers(family: str) -> list[str]:
    """``gmm`` for every family, then ``prior`` for a family whose model can ``sample``."""
    return ["gmm", *(["prior"] if callable(getattr(get_model_class(family), "sample", None)) else [])]


def units(study: Study, *, families: Sequence[str], z_values: Sequence[int], seeds: Sequence[int], judge,
          n_samples: int, n_components: int, k: int, n_images: int) -> list[Unit]:
    """The real-data floor's unit, then one unit per (family, z, seed, sampler); ``judge``: the judge's run."""
    base = {"version": SAMPLES_VERSION, "n_samples": int(n_samples), "k": int(k), "judge": judge.path.name,
            "n_images": int(n_images)}
    params = {"judge": str(judge.path)}
    out = [Unit(f"real training images ({n_samples}): the floor of every score",
                {**base, "sampler": "real", "dataset": study.dataset, "n_train": study.settings.n_train,
                 "seed": 0}, params)]
    for family in families:
        for z in z_values:
            for seed in seeds:
                spec = study.spec(family, z, seed)
                for sampler in samplers(family):
                    extra = {"n_components": int(n_components), "covariance": COVARIANCE_TYPE} if sampler == "gmm" \
                        else {}
                    out.append(Unit(f"samples {family} z={z} seed={seed} ({sampler})",
                                    {**base, "family": family, "latent_dim": z, "seed": seed, "sampler": sampler,
                                     **extra, "train": spec.config()}, params, model=spec))
    return out


def load_judge(study: Study, path: Path) -> tuple[Classifier, np.ndarray]:
    """The judge and its features of the real test images, loaded once per process."""
    if study.cache.get("classifier", (None,))[0] != path:
        study.cache["classifier"] = (path, Classifier(path / "classifier.keras"),
                                     np.load(path / "features_test.npy").astype(np.float64))
    _, clf, real = study.cache["classifier"]
    return clf, real


def evaluate(study: Study, unit: Unit, run_dir: Path) -> dict:
    """Draw ``n_samples`` images with the unit's sampler, keep a few (``samples.npy``) and score them all."""
    config = unit.config
    n, seed = config["n_samples"], config["seed"]
    info = {}
    if config["sampler"] == "real":
        x, _, data = study.data("train")
        if n > len(x):
            raise ValueError(f"Expected n_samples <= the {len(x)} training images for the real-data floor. "
                             f"Received: n_samples={n}")
        images = x[np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))]
        info["data_source"] = data["source"]
    else:
        model = study.loaded_model(config["family"], config["latent_dim"], seed)
        if config["sampler"] == "gmm":
            x, _, data = study.data("train")
            density = fit_code_density(model.encode(x), n_components=config["n_components"], seed=seed)
            images = model.decode(draw_codes(density, n, seed=seed))
            info = {"gmm_converged": density.converged, "gmm_iterations": density.n_iter,
                    "data_source": f"GMM ({density.n_components} components) on {len(x)} training codes"}
        else:
            images = model.sample(n, seed=seed)
            info["data_source"] = "prior"
    images = np.asarray(images, dtype="float32")
    if not np.all(np.isfinite(images)):
        raise ValueError(f"The {config['sampler']} samples contain {int((~np.isfinite(images)).sum())} NaN or "
                         "infinite values: nothing to score.")
    np.save(run_dir / "samples.npy", images[:2 * config["n_images"]])
    clf, real = load_judge(study, Path(unit.params["judge"]))
    feats, pred = clf(images)
    return {"frechet": frechet_distance(feats, real), **sample_scores(real, feats, k=config["k"]),
            **class_spread(pred, num_classes=clf.num_classes), "n_samples": int(n), "n_reference": int(len(real)),
            **info}


def sample_rows(study: Study, results) -> pd.DataFrame:
    """``generative_samples.csv``: one row per complete (family, z, seed, sampler) run (the real-data floor
    goes to ``judge.csv``), columns :data:`SAMPLE_COLUMNS`."""
    return sample_frame(study, results).reindex(columns=SAMPLE_COLUMNS)


def sample_frame(study: Study, results) -> pd.DataFrame:
    """:func:`sample_rows` with each run's folder (``run_dir``)."""
    rows = [{"family": r.config["family"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
             "setting": model_setting(study, r.config["train"]), "sampler": r.config["sampler"],
             **{s: r.metrics[s] for s in SCORES}, "n_samples": r.metrics["n_samples"],
             "n_reference": r.metrics["n_reference"], "k": r.config["k"],
             "n_components": r.config.get("n_components"), "gmm_converged": r.metrics.get("gmm_converged"),
             "judge_test_accuracy": (r.context or {}).get("test_accuracy"),
             "data_source": r.metrics["data_source"], "run_dir": str(r.path)}
            for r in results if r.metrics is not None and r.config["sampler"] != "real"]
    if not rows:
        return pd.DataFrame(columns=[*SAMPLE_COLUMNS, "run_dir"])
    frame = pd.DataFrame(rows)
    return frame.sort_values(["family", "latent_dim", "seed", "sampler"]).reset_index(drop=True)


def judge_row(judge, floor) -> pd.DataFrame:
    """``judge.csv``: the judge's accuracy and training, and the real-versus-real floor of every score
    (``floor``: the ``real`` run; None when it failed)."""
    metrics, config = judge.metrics or {}, judge.config
    row = {"dataset": config["dataset"], "data_source": metrics.get("data_source"),
           "architecture": config["architecture"], "judge_run": judge.path.name,
           **{c: metrics.get(c) for c in ("n_train", "n_validation", "n_test", "epochs_run", "best_epoch",
                                         "stopped_by", "train_accuracy", "validation_accuracy", "test_accuracy")}}
    found = floor.metrics if floor is not None and floor.metrics is not None else {}
    row.update({"floor_n_samples": found.get("n_samples"), "k": floor.config["k"] if floor is not None else None,
                **{f"{s}_real": found.get(s) for s in SCORES}})
    return pd.DataFrame([row], columns=JUDGE_COLUMNS)


def figures(study: Study, frame: pd.DataFrame, n_images: int) -> None:
    """One grid per family and sampler: real test images, then the first seed's samples at each z (two rows)."""
    if frame.empty:
        return
    x_test, y_test, _ = study.data("test")
    real = x_test[example_indices(np.asarray(y_test), n_images)]
    first = frame[frame["seed"] == frame.groupby(["family", "latent_dim"])["seed"].transform("min")]
    for (family, sampler), part in first.groupby(["family", "sampler"], sort=True):
        rows, labels = [real], ["real (test)"]
        for _, row in part.sort_values("latent_dim").iterrows():
            images = np.load(Path(row["run_dir"]) / "samples.npy")
            for i in range(0, min(len(images), 2 * n_images), n_images):
                rows.append(images[i:i + n_images])
                labels.append(f"z = {row['latent_dim']}" if i == 0 else "")
        how = (f"GMM ({int(part['n_components'].iloc[0])} components) on the training codes" if sampler == "gmm"
               else "the prior" if sampler == "prior" else sampler)
        fig = plots.image_grid(rows, labels, n=n_images,
                               title=f"{plots.family_label(family)}: decoded samples from {how}")
        plots.save_figure(fig, study.figures / f"generative_samples_{family}_{sampler}")
