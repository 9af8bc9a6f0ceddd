"""Step 06 (docs/methods.md §4, step 7): generation judged on samples, and the decoder's smoothness under perturbation.

Generation (:mod:`aelib.study.steps.generative_samples`, ``tables/generative_samples.csv`` and
``tables/judge.csv``): every family's decoded draws from a Gaussian mixture fitted to its training codes, and
vae's and aae's from their prior, scored against real test images in the judge's features (Fréchet distance,
precision and recall, density and coverage, class spread), beside the real-versus-real floor of each score.
This is what the ranking's generative criterion uses.

Smoothness and robustness (``tables/generative.csv``; described, not ranked as generative capacity: a decoder
that ignores its code has a flat curve): test images are encoded, their codes perturbed by up to p
(docs/methods.md §4.7, :func:`aelib.perturbation.perturb`) and decoded. Scored against p:

- RMSE between the decoded perturbed codes and the original images;
- label consistency: share of decoded images that the judge assigns the original's label;
- Fréchet distance between the judge's penultimate-layer features of the decoded images and of the real test
  images (an FID-like score on a domain classifier, not Inception, so values are not comparable with published
  FIDs);
- the spread of predicted classes (normalised entropy, largest share).

Families with ``sample`` (vae, aae) also have a ``source="prior"`` row there (level NaN). Every unit is a store
run: the judge (kind ``"classifier"``, :mod:`aelib.study.classifier`), one ``"samples"`` run per (family, z,
seed, sampler) and one ``"generative"`` run per (family, z, seed, mode) or per (family, z, seed) for prior
samples, so a rerun skips them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from aelib import plots
from aelib.checks import check_float, check_int
from aelib.data import stratified_indices
from aelib.metrics.generative import class_spread, frechet_distance
from aelib.metrics.reconstruction import rmse_per_sample, summarize
from aelib.metrics.samples import DEFAULT_K
from aelib.models import get_model_class
from aelib.perturbation import MODES, code_scale, perturb
from aelib.study import classifier
from aelib.study.steps import generative_samples as samples
from aelib.study.steps.common import example_indices, model_setting
from aelib.study.study import Study, Unit, check_families, check_latent_sizes

GENERATIVE_COLUMNS = ["family", "latent_dim", "seed", "setting", "mode", "source", "level", "rmse_mean", "rmse_std",
                      "rmse_ci95_low", "rmse_ci95_high", "rmse_to_reconstruction", "label_consistency", "frechet",
                      "class_entropy", "max_class_share", "n_samples", "classifier_test_accuracy",
                      "frechet_real_floor", "data_source"]


def _check_levels(levels) -> list[float]:
    """The perturbation levels, each in [0, 1], sorted without repeats."""
    levels = list(levels)
    if not levels:
        raise ValueError("Expected at least one perturbation level in [0, 1] (0.1 = 10 %). Received: levels=[]")
    return sorted(dict.fromkeys(check_float("level", p, minimum=0, maximum=1, note="0.1 = 10 %") for p in levels))


def run(study: Study, *, families: Sequence[str] | str = "all", z_values: Sequence[int], levels: Sequence[float],
        modes: Sequence[str], seeds: Sequence[int], n_samples: int, classifier_epochs: int = classifier.MAX_EPOCHS,
        n_images: int = 8, n_generated: int | None = None, n_components: int = samples.N_COMPONENTS,
        k: int = DEFAULT_K) -> pd.DataFrame:
    """Generation judged on samples, and decoding under latent perturbation for each perturbation mode
    (docs/methods.md §4, step 7).

    Args:
        study: the study; its models are reused or trained.
        families: registry keys (or ``"all"``).
        z_values: latent sizes (the study asks for 2 and 40 at least).
        levels: maximum perturbations p in [0, 1].
        modes: ``"relative"`` (the seed's z·(1+u)) and/or ``"additive"`` (z + u·σ_j, σ_j over training codes).
        seeds: training seeds of the models; the perturbation of seed s uses draw seed s at every
            level, so levels differ only in the size of the same draw (common random numbers).
        n_samples: test images encoded (a stratified subset of the study's test split) for the perturbation.
        classifier_epochs: the most epochs of the judge (it stops early on its validation loss; trained once,
            cached).
        n_images: columns of the image grids.
        n_generated: samples drawn per (family, z, seed, sampler), and real training images of the floor
            (default: as many as the study's test images, the reference set).
        n_components: components of the mixture fitted to the training codes.
        k: neighbourhood size of precision, recall, density and coverage.

    Writes ``tables/generative_samples.csv`` (:data:`~aelib.study.steps.generative_samples.SAMPLE_COLUMNS`),
    ``tables/judge.csv`` and one figure of samples per family and sampler.

    Returns:
        The ``generative.csv`` table: one row per (family, z, seed, mode, level), plus one
        ``source="prior"`` row per (family, z, seed) for families with ``sample``.
    """
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    levels = _check_levels(levels)
    modes = [modes] if isinstance(modes, str) else list(modes)
    if not modes or any(m not in MODES for m in modes):
        raise ValueError(f"Expected modes among {MODES}. Received: modes={modes!r}")
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"Expected seeds as integers >= 0. Received: seeds={seeds!r}")
    for name, value in (("n_samples", n_samples), ("classifier_epochs", classifier_epochs), ("n_images", n_images),
                        ("n_components", n_components), ("k", k)):
        check_int(name, value)
    n_generated = len(study.data("test")[1]) if n_generated is None else check_int("n_generated", n_generated)
    if n_generated <= k:
        raise ValueError(f"Expected n_generated > k={k} (a k-NN ball needs k neighbours). "
                         f"Received: n_generated={n_generated}")
    if n_samples < 2:
        raise ValueError("Expected n_samples >= 2 (Fréchet distance needs a covariance). "
                         f"Received: n_samples={n_samples}")
    _, (clf,) = study.evaluate_grid("06 classifier", "classifier", [classifier.unit(study, epochs=classifier_epochs)],
                                    classifier.train, raise_if_all_fail=False)  # without it: no Fréchet distances
    clf_dir = None if clf.status == "failed" else str(clf.path)
    _samples(study, clf, families=families, z_values=z_values, seeds=seeds, n_generated=n_generated,
             n_components=n_components, k=k, n_images=n_images)
    units = []
    for family in families:
        for z in z_values:
            for seed in seeds:
                base = {"family": family, "latent_dim": z, "seed": seed, "n_samples": int(n_samples),
                        "n_images": int(n_images), "classifier": clf.path.name if clf_dir else None,
                        "train": study.spec(family, z, seed).config()}
                units += [Unit(f"perturb {family} z={z} seed={seed} ({mode}, {len(levels)} levels)",
                               {**base, "source": "perturbed", "mode": mode, "levels": levels},
                               {"classifier": clf_dir, "classifier_info": clf.metrics or {}},
                               model=study.spec(family, z, seed)) for mode in modes]
                if callable(getattr(get_model_class(family), "sample", None)):
                    units.append(Unit(f"prior samples {family} z={z} seed={seed}", {**base, "source": "prior"},
                                      {"classifier": clf_dir, "classifier_info": clf.metrics or {}},
                                      model=study.spec(family, z, seed)))
    table, results = study.evaluate_grid("06 generative capacity", "generative", units, evaluate, table="generative",
                                         rows=generative_rows, context=[u.params["classifier_info"] for u in units])
    study.release_models()
    frame = generative_frame(study, [r for r in results if r.metrics is not None])
    for mode in modes if not frame.empty else ():
        figures(study, frame[(frame["mode"] == mode) | (frame["source"] == "prior")], levels, mode, n_images)
    return table


def _samples(study: Study, judge, *, families, z_values, seeds, n_generated: int, n_components: int, k: int,
             n_images: int) -> None:
    """The samples' runs, ``generative_samples.csv``, ``judge.csv`` and the sample figures."""
    if judge.status == "failed":
        print("06 samples: the judge classifier failed, so no sample can be scored (see the failures).", flush=True)
        return
    grid = samples.units(study, families=families, z_values=z_values, seeds=seeds, judge=judge,
                         n_samples=n_generated, n_components=n_components, k=k, n_images=n_images)
    _, results = study.evaluate_grid("06 generation judged on samples", "samples", grid, samples.evaluate,
                                     table="generative_samples", rows=samples.sample_rows,
                                     context=[judge.metrics or {}] * len(grid), raise_if_all_fail=False)
    study.write_table("judge", samples.judge_row(judge, results[0] if results[0].metrics is not None else None))
    study.release_models()
    samples.figures(study, samples.sample_frame(study, [r for r in results[1:] if r.metrics is not None]), n_images)


def _scores(study: Study, unit: Unit, images, labels=None) -> dict:
    """Fréchet distance, class spread and label consistency of decoded images (None without the classifier)."""
    if unit.params["classifier"] is None:
        return {"label_consistency": None, "frechet": None, "class_entropy": None, "max_class_share": None}
    clf, real = samples.load_judge(study, Path(unit.params["classifier"]))
    feats, pred = clf(images)
    out = {"frechet": frechet_distance(feats, real), **class_spread(pred, num_classes=clf.num_classes)}
    out["label_consistency"] = None if labels is None else float(np.mean(pred == labels))
    return out


def evaluate(study: Study, unit: Unit, run_dir: Path) -> dict:
    """Perturbed codes decoded at every level (one row each), or prior samples (one row)."""
    config = unit.config
    model = study.loaded_model(config["family"], config["latent_dim"], config["seed"])
    if config["source"] == "prior":
        images = model.sample(config["n_samples"], seed=config["seed"])
        np.save(run_dir / "grid.npy", np.asarray(images[:config["n_images"]], dtype="float32")[None])
        return {"rows": [{"level": None, **_scores(study, unit, images)}], "n_samples": config["n_samples"],
                "data_source": "prior N(0, I)"}
    x, y, info = study.data("test")
    if config["n_samples"] < len(y):
        idx = stratified_indices(np.asarray(y), config["n_samples"], 0)
        x, y = x[idx], y[idx]
    y = np.asarray(y)
    codes = model.encode(x)
    scale = code_scale(model.encode(study.data("train")[0])) if config["mode"] == "additive" else None
    picks = example_indices(y, config["n_images"])
    recon = model.decode(codes)
    rows, grid = [], [x[picks]]
    for p in config["levels"]:
        decoded = model.decode(perturb(codes, p, mode=config["mode"], scale=scale, seed=config["seed"]))
        rmse = rmse_per_sample(x, decoded)
        rows.append({"level": p, **{k: v for k, v in summarize(rmse, prefix="rmse").items() if k != "rmse_n"},
                     "rmse_to_reconstruction": float(rmse_per_sample(recon, decoded).mean()),
                     **_scores(study, unit, decoded, y)})
        grid.append(decoded[picks])
    np.save(run_dir / "grid.npy", np.stack(grid).astype("float32"))
    return {"rows": rows, "n_samples": int(len(x)), "data_source": info["source"]}


def generative_rows(study: Study, results) -> pd.DataFrame:
    return generative_frame(study, results).reindex(columns=GENERATIVE_COLUMNS)


def generative_frame(study: Study, results) -> pd.DataFrame:
    """One row per level of each run (one per prior run), with the classifier's accuracy and floor
    and the run folder."""
    rows = [{"family": r.config["family"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
             "setting": model_setting(study, r.config["train"]), "mode": r.config.get("mode"),
             "source": r.config["source"], **row, "n_samples": r.metrics["n_samples"],
             "classifier_test_accuracy": (r.context or {}).get("test_accuracy"),
             "frechet_real_floor": (r.context or {}).get("frechet_real_floor"),
             "data_source": r.metrics["data_source"], "run_dir": str(r.path)}
            for r in results for row in r.metrics["rows"]]
    if not rows:
        return pd.DataFrame(columns=[*GENERATIVE_COLUMNS, "run_dir"])
    frame = pd.DataFrame(rows)
    for column in ("level", "label_consistency", "frechet", "class_entropy", "max_class_share",
                   "classifier_test_accuracy", "frechet_real_floor"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.sort_values(["family", "latent_dim", "seed", "source", "level"], na_position="last")


def figures(study: Study, frame: pd.DataFrame, levels, mode: str, n_images: int) -> None:
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
