"""The augmentation experiments of STUDY.md §6 and the function a notebook calls.

Pipeline (identical for the real data and the stand-in):

1. works and their "artists" → image features (cached, :mod:`.features`);
2. a fixed per-class split into training works and held-out works
   (``test_fraction``, at least ``min_test_works`` held out per class);
   features standardised with the training works' mean and spread;
3. per seed and code size z: an ``fcae`` (``build_model("fcae",
   input_shape=(d,), latent_dim=z, output_activation="linear")``) trained once
   on the training features and reused by every setting of that z; test pairs
   drawn once per seed from the held-out works;
4. per setting: extra samples (synthetic ``decode(perturb(encode(x)))``, or
   duplicated originals for the control) added to the training works,
   balanced training pairs drawn, the seed's pair model trained from its
   initial weights, ROC AUC on the held-out pairs.

Conditions (each against the no-augmentation ``baseline`` of the same seed):

* ``topup_duplicate`` (control, no autoencoder): classes with fewer than t
  works are topped up to t with copies of their originals — the same sources
  and counts as the synthetic top-up at t (t = 20 sits beside experiment 1,
  every t beside experiment 2). Synthetic minus duplicate isolates what the
  autoencoder adds beyond re-weighting the rare classes.
* ``topup_perturbation`` (1): classes with fewer than 20 training works are
  topped up to 20; sweep the maximum perturbation p; for every z.
* ``topup_threshold`` (2): at p = 0.1, classes with fewer than t works are
  topped up to t; sweep t; for every z.
* ``one_per_original`` (3): one synthetic sample per training work; sweep p;
  for every z.

Confounds removed:

* equal updates: every condition trains the pair model for the same number of
  Adam updates (``n_updates``, in every results row): by default the
  baseline's ``pair_epochs`` passes over its own training pairs; augmented
  conditions see more distinct pairs, not more training;
* no self-pairs: every extra sample keeps the index of its source original,
  and no positive training pair joins two items of the same source (a
  synthetic sample and its source, or two samples made from one original);
* equal starts: within a seed all conditions share the test pairs, the
  training pairs' generator, the pair model's initial weights and Adam state,
  the batches' order generator and the perturbation directions u/p.

The summary gives, per experiment × z × setting, the mean AUC, the paired
difference to the baseline of the same seeds (``auc_delta_*``), and for the
synthetic top-ups the paired difference to the duplicate control at the same
counts (``auc_vs_duplicate_*``). Intervals are Student-t 95 % intervals over
seeds (n − 1 degrees of freedom; ``ci_method``).

Offline stand-in (``source="standin"``): Painter by Numbers cannot be
downloaded here, and Inception v3's ImageNet weights neither. The stand-in
"artworks" are the EMNIST-letters stand-in of :mod:`aelib.data` (letters
rendered from Debian handwriting fonts, 26 classes = 26 "artists"), subsampled
to a long tail (class sizes falling geometrically from ``max_works`` to
``min_works``, classes shuffled by a seed). Why letters: an artist-verification
task needs many classes; Fashion-MNIST has only 10. The features come from a
small CNN trained on Fashion-MNIST (a disjoint data set: like ImageNet for
paintings, it was not trained on the "artists"), 512 values standing in for
Inception v3's 2048. A random-weight InceptionV3 at 75×75 was tried and
rejected: on 1,200 letters its features reached AUC 0.63 with a logistic pair
model (800 training works), against 0.67 (3,000 works) for the CNN, at about
8× the cost. Everything the stand-in produces carries ``stand_in=True``, a
``data_source`` naming it, and "stand-in" in figure titles.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aelib.augmentation.artworks import read_artworks
from aelib.augmentation.features import (
    STANDIN_EXTRACTOR,
    inception_features,
    standin_extractor_name,
    standin_features,
)
from aelib.augmentation.pairs import (
    PAIR_MODEL_DEFAULTS,
    PairModelTrainer,
    default_updates,
    draw_pairs,
    pair_scores,
)
from aelib.augmentation.synthetic import decode_codes, encode_eager, synthesize, top_up_sources
from aelib.checks import check_float, check_int
from aelib.io import atomic_write_csv, atomic_write_text, config_hash
from aelib.metrics.ood import roc_auc
from aelib.stats import t_interval

SOURCES = ("standin", "painter_by_numbers")
EXPERIMENTS = {
    "baseline": "no augmentation",
    "topup_duplicate": (
        "Control: classes with fewer than t works topped up to t with duplicated originals (no autoencoder)"
    ),
    "topup_perturbation": "Exp. 1: classes with fewer than 20 works topped up to 20; sweep of the max. perturbation p",
    "topup_threshold": "Exp. 2: p = 0.1; classes with fewer than t works topped up to t; sweep of t",
    "one_per_original": "Exp. 3: one synthetic sample per original; sweep of the max. perturbation p",
}
SWEPT = {
    "baseline": None,
    "topup_duplicate": "threshold",
    "topup_perturbation": "p",
    "topup_threshold": "threshold",
    "one_per_original": "p",
}
#: The experiments that use the feature autoencoder (swept over z), numbered as in STUDY.md §6.
AUTOENCODER_EXPERIMENTS = ("topup_perturbation", "topup_threshold", "one_per_original")
DEFAULT_PERTURBATIONS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)
DEFAULT_THRESHOLDS = (5, 10, 20, 40)
DEFAULT_LATENT_DIMS = (16, 64, 256)
TOPUP_TARGET = 20  # experiment 1's target, and the "rare class" line of auc_rare
THRESHOLD_P = 0.1  # experiment 2's perturbation
CI_METHOD = (
    "Student-t 95 % interval over seeds (n_seeds - 1 dof): of the mean AUC (auc_ci95_*), of the per-seed paired "
    "difference to the baseline (auc_delta_ci95_*) and to the duplicate control at the same counts "
    "(auc_vs_duplicate_ci95_*)"
)

QUICK_SIZES: dict[str, Any] = {
    # stand-in data (ignored for painter_by_numbers)
    "n_classes": 26,
    "max_works": 120,
    "min_works": 5,
    "extractor": {},  # overrides of features.STANDIN_EXTRACTOR
    # Painter by Numbers: artists with fewer readable works are dropped
    "min_works_per_artist": 4,
    "image_check": "open",
    "inception_batch_size": 32,
    # split
    "test_fraction": 0.25,
    "min_test_works": 2,
    "data_seed": 0,
    # feature autoencoder
    "fcae_epochs": 40,
    "fcae_batch_size": 64,
    "fcae_patience": 5,
    "perturbation_mode": "relative",
    # pairs and pair model; pair_epochs = passes over the *baseline's* pairs that
    # set the updates of every condition, unless pair_updates fixes them
    "pairs_per_item": 2,
    "test_pairs_per_item": 4,
    **{f"pair_{k}": v for k, v in PAIR_MODEL_DEFAULTS.items()},
    "pair_updates": None,
}
FULL_SIZES: dict[str, Any] = {
    **QUICK_SIZES,
    "max_works": 200,
    "fcae_epochs": 100,
    "fcae_patience": 10,
    "pairs_per_item": 4,
    "test_pairs_per_item": 8,
    "pair_epochs": 20,
}
STANDIN_SOURCE = "standin-letters-fashioncnn"


# ------------------------------------------------------------------------ validation


def _check_number_list(name: str, values, check) -> tuple:
    received = values
    try:
        values = () if isinstance(values, (str, bytes)) else tuple(values)
    except TypeError:
        values = ()
    if not values:
        raise ValueError(f"Expected a non-empty list of values for {name}. Received: {name}={received!r}")
    return tuple(dict.fromkeys(check(v) for v in values))


def _check_args(source, image_dir, csv_path, latent_dims, seeds, perturbations, thresholds, quick, sizes):
    if source not in SOURCES:
        raise ValueError(f"Expected source in {SOURCES}. Received: source={source!r}")
    if source == "painter_by_numbers" and (image_dir is None or csv_path is None):
        raise ValueError(
            "source='painter_by_numbers' needs image_dir and csv_path (Kaggle's image folder and train_info.csv). "
            f"Received: image_dir={image_dir!r}, csv_path={csv_path!r}"
        )
    if isinstance(latent_dims, (int, np.integer)) and not isinstance(latent_dims, bool):
        latent_dims = (latent_dims,)
    latent_dims = _check_number_list("latent_dims", latent_dims, lambda z: check_int("latent_dim", z, 1))
    seeds = tuple(seeds) if seeds is not None else ()
    if not seeds:
        raise ValueError(f"Expected at least one seed. Received: seeds={seeds!r}")
    seeds = tuple(check_int("seed", s, 0) for s in seeds)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"Expected distinct seeds. Received: seeds={seeds!r}")
    perturbations = _check_number_list(
        "perturbations", perturbations, lambda p: check_float("p", p, minimum=0, maximum=1, note="0.1 = 10 %")
    )
    thresholds = _check_number_list("thresholds", thresholds, lambda t: check_int("threshold", t, 1))
    if not isinstance(quick, bool):
        raise ValueError(f"Expected quick to be True or False. Received: quick={quick!r}")
    base = QUICK_SIZES if quick else FULL_SIZES
    sizes = dict(sizes or {})
    unknown = sorted(set(sizes) - set(base))
    if unknown:
        raise ValueError(f"Unknown size parameter(s) {unknown}. Known: {sorted(base)}")
    sizes = {**base, **sizes}
    for name in (
        "n_classes",
        "max_works",
        "min_works",
        "min_works_per_artist",
        "min_test_works",
        "fcae_epochs",
        "fcae_batch_size",
        "pairs_per_item",
        "test_pairs_per_item",
        "pair_epochs",
        "pair_batch_size",
        "pair_hidden",
        "inception_batch_size",
    ):
        sizes[name] = check_int(name, sizes[name], 1)
    if sizes["pair_updates"] is not None:
        sizes["pair_updates"] = check_int("pair_updates", sizes["pair_updates"], 1)
    sizes["fcae_patience"] = check_int("fcae_patience", sizes["fcae_patience"], 0)
    sizes["data_seed"] = check_int("data_seed", sizes["data_seed"], 0)
    check_float("test_fraction", sizes["test_fraction"], above=0, below=1)
    if sizes["min_works"] < sizes["min_test_works"] + 2:
        raise ValueError(
            f"Expected min_works >= min_test_works + 2 (two training works for same-class pairs). "
            f"Received: min_works={sizes['min_works']}, min_test_works={sizes['min_test_works']}"
        )
    if sizes["max_works"] < sizes["min_works"]:
        raise ValueError(
            f"Expected max_works >= min_works. Received: max_works={sizes['max_works']}, min_works={sizes['min_works']}"
        )
    if not isinstance(sizes["extractor"], dict) or set(sizes["extractor"]) - set(STANDIN_EXTRACTOR):
        raise ValueError(
            f"Expected extractor overrides among {sorted(STANDIN_EXTRACTOR)}. Received: {sizes['extractor']!r}"
        )
    return source, latent_dims, seeds, perturbations, thresholds, sizes


# ----------------------------------------------------------------------------- data


def long_tail_counts(n_classes: int, max_works: int, min_works: int) -> np.ndarray:
    """Class sizes falling geometrically from ``max_works`` to ``min_works`` (rounded)."""
    if n_classes == 1:
        return np.array([max_works])
    ratio = (min_works / max_works) ** (np.arange(n_classes) / (n_classes - 1))
    return np.rint(max_works * ratio).astype(np.int64)


def standin_works(*, n_classes: int = 26, max_works: int = 120, min_works: int = 5, seed: int = 0):
    """Long-tailed stand-in "artworks": letters from the EMNIST-letters stand-in's train split.

    Returns:
        ``(images, labels, artist_names, info)``; labels 0..n_classes-1 with
        class 0 the largest; ``artist_names`` like ``"letter-q"``.
    """
    from aelib.data import LETTERS, load_dataset_with_info

    # Always the font-rendered stand-in (source="offline"), so the stand-in study is the same on every machine.
    x, y, info = load_dataset_with_info("emnist_letters", "train", source="offline")
    available = np.bincount(y, minlength=len(LETTERS))
    if n_classes > len(LETTERS):
        raise ValueError(
            f"Expected n_classes <= {len(LETTERS)} for the letter stand-in. Received: n_classes={n_classes}"
        )
    if max_works > available.min():
        raise ValueError(
            f"Expected max_works <= {available.min()} (images per letter). Received: max_works={max_works}"
        )
    rng = np.random.default_rng(seed)
    letters = rng.permutation(len(LETTERS))[:n_classes]
    counts = long_tail_counts(n_classes, max_works, min_works)
    picked = [np.sort(rng.choice(np.flatnonzero(y == c), size=int(k), replace=False)) for c, k in zip(letters, counts)]
    images = np.concatenate([x[i] for i in picked])
    labels = np.repeat(np.arange(n_classes), counts).astype(np.int64)
    names = [f"letter-{LETTERS[c]}" for c in letters]
    data_info = {k: info.get(k) for k in ("name", "split", "source", "stand_in", "description", "fonts")}
    return images, labels, names, data_info


def holdout_split(labels, *, test_fraction: float, min_test: int, min_train: int = 2, seed: int = 0):
    """Per class: ``max(min_test, round(test_fraction · n))`` works held out,
    the rest for training; a class too small to keep ``min_train`` training
    works after that stays wholly in training. Returns sorted (train_idx, test_idx)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = max(min_test, int(round(test_fraction * len(members))))
        if len(members) - n_test < min_train:
            n_test = 0
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@dataclasses.dataclass
class _Data:
    features: np.ndarray
    labels: np.ndarray
    artist_names: list[str]
    feature_model: str
    data_source: str
    stand_in: bool
    info: dict[str, Any]


def _load_data(source, image_dir, csv_path, sizes, cache_dir, progress) -> _Data:
    if source == "standin":
        images, labels, names, info = standin_works(
            n_classes=sizes["n_classes"],
            max_works=sizes["max_works"],
            min_works=sizes["min_works"],
            seed=sizes["data_seed"],
        )
        extractor = {**STANDIN_EXTRACTOR, **sizes["extractor"]}
        features = standin_features(images, cache_dir=cache_dir, config=extractor, progress=False)
        info = {
            "works": info,
            "extractor": {"name": standin_extractor_name(extractor), **extractor},
            "description": (
                "stand-in for Painter by Numbers: font-rendered letters (EMNIST-letters stand-in, NOT paintings) "
                f"as {len(names)} 'artists' with long-tailed counts {sizes['max_works']}..{sizes['min_works']}; "
                f"features: {extractor['feature_dim']}-D penultimate layer of a small CNN trained on "
                f"{extractor['n_train']} Fashion-MNIST {extractor['split']} images (disjoint data), standing in for "
                "Inception v3 (ImageNet) 2048-D features."
            ),
        }
        return _Data(features, labels, names, standin_extractor_name(extractor), STANDIN_SOURCE, True, info)
    works = read_artworks(
        image_dir, csv_path, min_works=sizes["min_works_per_artist"], check=sizes["image_check"], progress=progress
    )
    features = inception_features(
        works.paths,
        weights="imagenet",
        batch_size=sizes["inception_batch_size"],
        cache_dir=cache_dir,
        progress=progress,
    )
    info = {"reader_report": works.report, "description": "Painter by Numbers (Kaggle), Inception v3 ImageNet features"}
    return _Data(
        features,
        works.labels,
        works.artist_names,
        "inception_v3-imagenet-299px-avgpool",
        "painter_by_numbers",
        False,
        info,
    )


# --------------------------------------------------------------------------- storage


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _setting_columns(experiment: str, latent_dim, value) -> dict[str, Any]:
    """The columns that name a setting, first in both the result and the summary rows."""
    return {
        "experiment": experiment,
        "swept": SWEPT[experiment],
        "latent_dim": latent_dim,
        "value": value,
        "uses_autoencoder": experiment in AUTOENCODER_EXPERIMENTS,
    }


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] % (2**31 - 1))


# ---------------------------------------------------------------------- one seed


def _settings(latent_dims, perturbations, thresholds) -> list[tuple[str, int | None, float | None, tuple]]:
    """(experiment, z, swept value, what to compute) for every setting; equal
    computations (e.g. exp. 1 at p = 0.1 and exp. 2 at t = 20, same z) share a
    key. Settings without the autoencoder come first, then one z after another."""
    out: list[tuple[str, int | None, float | None, tuple]] = [("baseline", None, None, ("none",))]
    out += [("topup_duplicate", None, float(t), ("duplicate", t)) for t in sorted({*thresholds, TOPUP_TARGET})]
    for z in latent_dims:
        out += [("topup_perturbation", z, p, ("topup", z, TOPUP_TARGET, p)) for p in perturbations]
        out += [("topup_threshold", z, float(t), ("topup", z, int(t), THRESHOLD_P)) for t in thresholds]
        out += [("one_per_original", z, p, ("per_item", z, p)) for p in perturbations]
    return out


def augmented_pairs(y_train, sources, *, pairs_per_item: int, seed: int | Sequence[int] = 0):
    """Training pairs over the originals followed by one extra sample per entry of ``sources``.

    Item ``len(y_train) + i`` is made from original ``sources[i]`` and has its
    class; it belongs to that original's group, so no positive pair joins it
    to its source or to another sample of the same source (see :func:`draw_pairs`).

    Returns:
        ``(pairs, y, groups)``: pairs and labels as :func:`draw_pairs`, and the
        source original of every item (an original's own index).
    """
    y_train = np.asarray(y_train)
    sources = np.asarray(sources, dtype=np.int64).reshape(-1)
    if len(sources) and (sources.min() < 0 or sources.max() >= len(y_train)):
        raise ValueError(
            f"Expected sources in [0, {len(y_train)}). Received: values from {sources.min()} to {sources.max()}"
        )
    labels = np.concatenate([y_train, y_train[sources]])
    groups = np.concatenate([np.arange(len(y_train)), sources])
    pairs, y = draw_pairs(labels, pairs_per_item=pairs_per_item, seed=seed, groups=groups)
    return pairs, y, groups


def _train_fcae(x_train, x_test, latent_dim: int, seed: int, sizes, run_dir: Path) -> dict:
    """The feature autoencoder of (seed, z), trained on the training features and kept as ``model.keras``."""
    from aelib.metrics.reconstruction import rmse_per_sample
    from aelib.models import build_model
    from aelib.training import TrainConfig, train

    model = build_model(
        "fcae", input_shape=(x_train.shape[1],), latent_dim=latent_dim, output_activation="linear", seed=seed
    )
    train(
        model,
        x_train,
        TrainConfig(
            epochs=sizes["fcae_epochs"],
            batch_size=sizes["fcae_batch_size"],
            patience=sizes["fcae_patience"],
            seed=seed,
            verbose=0,
        ),
    )
    tmp = run_dir / "model.partial.keras"
    model.save(tmp)
    os.replace(tmp, run_dir / "model.keras")
    return {"fcae_test_rmse": float(rmse_per_sample(x_test, decode_codes(model, encode_eager(model, x_test))).mean())}


_METRICS = ("auc", "auc_rare", "n_synthetic", "n_train_pairs", "n_updates", "fcae_test_rmse")
#: the columns of a results row, in order (stored rows come back with their keys sorted)
RESULT_COLUMNS = ("experiment", "swept", "latent_dim", "value", "uses_autoencoder", "max_fraction", "topup_target",
                  "seed", *_METRICS, "n_train_works", "n_test_pairs", "n_test_pairs_rare", "seconds", "feature_model",
                  "data_source", "stand_in", "config_hash")


class _Seed:
    """What every setting of one seed shares: test pairs, the pair model's trainer, the current z's
    autoencoder and codes, and the settings already computed (equal computations are done once)."""

    def __init__(self, seed: int, split, sizes, n_updates: int) -> None:
        x_tr, y_tr, x_te, y_te = split
        self.seed, self.split, self.sizes, self.n_updates = seed, split, sizes, n_updates
        self.test_pairs, self.test_y = draw_pairs(y_te, pairs_per_item=sizes["test_pairs_per_item"], seed=(seed, 1))
        train_counts = np.bincount(y_tr, minlength=int(max(y_tr.max(), y_te.max())) + 1)
        self.rare = train_counts[y_te[self.test_pairs[:, 0]]] < TOPUP_TARGET
        self.trainer = None
        self.fcae: dict[int, tuple] = {}  # the current z's autoencoder, its training codes and held-out RMSE
        self.computed: dict[tuple, dict] = {}

    def autoencoder(self, z: int, fcae_dir: Path) -> tuple:
        if z not in self.fcae:
            from aelib.models import load_model

            if not (Path(fcae_dir) / "metrics.json").is_file():
                raise RuntimeError(f"the feature autoencoder of z={z} seed={self.seed} did not complete (see {fcae_dir})")
            self.fcae.clear()  # one autoencoder in memory at a time
            model = load_model(Path(fcae_dir) / "model.keras")
            rmse = json.loads((Path(fcae_dir) / "metrics.json").read_text())["fcae_test_rmse"]
            self.fcae[z] = (model, encode_eager(model, self.split[0]), rmse)
        return self.fcae[z]

    def compute(self, key: tuple, z, fcae_dir) -> dict:
        """AUC (all test pairs and rare-class anchors) of the pair model trained with this setting's extra samples."""
        if key in self.computed:
            return self.computed[key]
        x_tr, y_tr, x_te, _ = self.split
        seed, sizes, kind = self.seed, self.sizes, key[0]
        rmse = float("nan")
        if kind in ("none", "duplicate"):
            sources = top_up_sources(y_tr, key[1], seed=(seed, 4)) if kind == "duplicate" else np.empty(0, np.int64)
            extra = x_tr[sources]
        else:
            model, codes, rmse = self.autoencoder(z, fcae_dir)
            if kind == "topup":
                sources, p = top_up_sources(y_tr, key[2], seed=(seed, 4)), key[3]
            else:
                sources, p = np.arange(len(y_tr)), key[2]
            extra = synthesize(
                model,
                codes,
                sources,
                max_fraction=p,
                seed=_derived_seed(seed, 3),
                mode=sizes["perturbation_mode"],
                scale=_code_scale(codes, sizes),
            ).reshape(len(sources), x_tr.shape[1])
        pairs, y_pairs, _ = augmented_pairs(y_tr, sources, pairs_per_item=sizes["pairs_per_item"], seed=(seed, 2))
        if self.trainer is None:
            pair_options = {k: sizes[f"pair_{k}"] for k in PAIR_MODEL_DEFAULTS}
            self.trainer = PairModelTrainer(x_tr.shape[1], seed=_derived_seed(seed, 5), **pair_options)
        pair_model = self.trainer.fit(np.concatenate([x_tr, extra]), pairs, y_pairs, n_updates=self.n_updates, seed=(seed, 6))
        scores = pair_scores(pair_model, x_te, self.test_pairs)
        rare = self.rare
        self.computed[key] = {
            "auc": roc_auc(self.test_y, scores),
            "auc_rare": roc_auc(self.test_y[rare], scores[rare]) if len(np.unique(self.test_y[rare])) == 2 else float("nan"),
            "n_synthetic": int(len(sources)),
            "n_train_pairs": int(len(pairs)),
            "n_updates": int(self.n_updates),
            "fcae_test_rmse": rmse,
        }
        return self.computed[key]


def _evaluate_setting(state: _Seed, task: tuple, fcae_dir, common: dict, run_dir: Path) -> dict:
    """One results row: a setting of one experiment (and z) under one seed (a run of kind ``"augmentation"``)."""
    experiment, z, value, key = task
    start = time.perf_counter()
    metrics = state.compute(key, z, fcae_dir)
    return {
        **_setting_columns(experiment, z, value),
        "max_fraction": key[3] if key[0] == "topup" else key[2] if key[0] == "per_item" else None,
        "topup_target": key[2] if key[0] == "topup" else key[1] if key[0] == "duplicate" else None,
        "seed": int(state.seed),
        **metrics,
        "n_train_works": int(len(state.split[1])),
        "n_test_pairs": int(len(state.test_pairs)),
        "n_test_pairs_rare": int(state.rare.sum()),
        "seconds": round(time.perf_counter() - start, 3),
        **common,
    }


def _code_scale(codes, sizes):
    if sizes["perturbation_mode"] != "additive":
        return None
    from aelib.perturbation import code_scale

    return code_scale(codes)


# ------------------------------------------------------------------------- summary


def _constant_or_mean(values: pd.Series):
    values = values.dropna()
    if values.empty:
        return float("nan")
    return values.iloc[0].item() if values.nunique() == 1 else float(values.mean())


def summarize_results(results: pd.DataFrame) -> pd.DataFrame:
    """Per experiment × z × setting (baseline and duplicate control included):
    mean AUC and its 95 % t-interval over seeds, the paired per-seed difference
    to the baseline (``*_delta_*``), and for the synthetic top-ups the paired
    difference to the duplicate control at the same top-up target (``*_vs_duplicate_*``)."""
    base = results[results["experiment"] == "baseline"].set_index("seed")
    dup = results[results["experiment"] == "topup_duplicate"]
    rows = []
    keys = ["experiment", "latent_dim", "value"]
    for (experiment, z, value), group in results.groupby(keys, dropna=False, sort=False):
        g = group.set_index("seed")
        row = {**_setting_columns(experiment, z, value), "n_seeds": len(group)}
        target = _constant_or_mean(group["topup_target"])
        control = dup[dup["topup_target"] == target].set_index("seed") if experiment.startswith("topup_") else None
        for metric in ("auc", "auc_rare"):
            mean, low, high = t_interval(g[metric].to_numpy(float))
            row.update(
                {
                    f"{metric}_mean": mean,
                    f"{metric}_std": float(g[metric].std(ddof=1)) if len(g) > 1 else float("nan"),
                    f"{metric}_ci95_low": low,
                    f"{metric}_ci95_high": high,
                }
            )
            delta = g[metric].to_numpy(float) - base[metric].reindex(g.index).to_numpy(float)
            mean, low, high = t_interval(delta)
            row.update(
                {f"{metric}_delta_mean": mean, f"{metric}_delta_ci95_low": low, f"{metric}_delta_ci95_high": high}
            )
            if control is not None and experiment != "topup_duplicate" and not control.empty:
                vs = g[metric].to_numpy(float) - control[metric].reindex(g.index).to_numpy(float)
                mean, low, high = t_interval(vs)
            else:
                mean = low = high = float("nan")
            row.update(
                {
                    f"{metric}_vs_duplicate_mean": mean,
                    f"{metric}_vs_duplicate_ci95_low": low,
                    f"{metric}_vs_duplicate_ci95_high": high,
                }
            )
        row["n_synthetic_mean"] = float(group["n_synthetic"].mean())
        row["n_train_pairs_mean"] = float(group["n_train_pairs"].mean())
        row["n_updates"] = _constant_or_mean(group["n_updates"])
        row["fcae_test_rmse_mean"] = float(group["fcae_test_rmse"].mean())
        for col in ("data_source", "stand_in", "feature_model"):
            row[col] = group[col].iloc[0]
        row["ci_method"] = CI_METHOD
        rows.append(row)
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    summary = pd.DataFrame(rows)
    summary["latent_dim"] = summary["latent_dim"].astype("Int64")
    summary["_o"] = summary["experiment"].map(order)
    return (
        summary.sort_values(["_o", "latent_dim", "value"], na_position="first")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def plot_experiments(summary: pd.DataFrame, out_dir: Path, *, label: str) -> list[Path]:
    """One figure per autoencoder experiment: the paired AUC difference to the
    baseline (all test pairs, and pairs anchored in rare classes) against the
    swept value, one line per z, with the duplicate control where it applies;
    mean ± 95 % t-interval over seeds; PNG and PDF."""
    from matplotlib.figure import Figure

    from aelib import plots

    dup = summary[summary["experiment"] == "topup_duplicate"].sort_values("value")
    paths = []
    for number, experiment in enumerate(AUTOENCODER_EXPERIMENTS, start=1):
        part = summary[summary["experiment"] == experiment]
        if part.empty:
            continue
        fig = Figure(figsize=(9, 3.8), layout="constrained")
        axes = fig.subplots(1, 2, sharex=True)
        for ax, metric, what in zip(
            axes, ("auc", "auc_rare"), ("all test pairs", f"anchor class < {TOPUP_TARGET} works")
        ):
            ax.axhline(0.0, color="0.3", linewidth=1, label="baseline (no augmentation)")
            for z, line in part.groupby("latent_dim", sort=True):
                line = line.sort_values("value")
                x = line["value"].to_numpy(float)
                y = line[f"{metric}_delta_mean"].to_numpy(float)
                low = line[f"{metric}_delta_ci95_low"].to_numpy(float)
                high = line[f"{metric}_delta_ci95_high"].to_numpy(float)
                yerr = np.vstack([y - low, high - y])
                ax.errorbar(x, y, yerr=np.where(np.isfinite(yerr), yerr, 0), marker="o", capsize=3, label=f"z = {z}")
            control = dup if experiment == "topup_threshold" else dup[dup["value"] == TOPUP_TARGET]
            if experiment != "one_per_original" and not control.empty:
                y = control[f"{metric}_delta_mean"].to_numpy(float)
                low = control[f"{metric}_delta_ci95_low"].to_numpy(float)
                high = control[f"{metric}_delta_ci95_high"].to_numpy(float)
                if experiment == "topup_threshold":
                    x = control["value"].to_numpy(float)
                    yerr = np.vstack([y - low, high - y])
                    ax.errorbar(
                        x, y, yerr=np.where(np.isfinite(yerr), yerr, 0), marker="s", linestyle="--", color="k",
                        capsize=3, label="duplicates (no autoencoder)",
                    )
                else:
                    ax.axhline(y[0], color="k", linestyle="--", label=f"duplicates to {TOPUP_TARGET} (no autoencoder)")
                    if np.isfinite(low[0]) and np.isfinite(high[0]):
                        ax.axhspan(low[0], high[0], color="0.6", alpha=0.3, linewidth=0)
            ax.set_xlabel(
                "maximum perturbation p" if SWEPT[experiment] == "p" else "top-up threshold t (works per class)"
            )
            ax.set_ylabel(f"ΔAUC vs baseline\n({what})")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        n_seeds = int(part["n_seeds"].max())
        fig.suptitle(
            f"{EXPERIMENTS[experiment]}\n{label}\npaired difference to the baseline, mean ± 95 % t-interval over "
            f"{n_seeds} seed{'s' if n_seeds != 1 else ''}; {_constant_or_mean(part['n_updates'])} pair-model updates "
            "in every condition",
            fontsize=8,
        )
        plots.fit_to_page(fig)  # at most 6.5 in wide, text at least 8 pt
        for ext in ("png", "pdf"):
            path = out_dir / f"augmentation_exp{number}_{experiment}.{ext}"
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.{ext}")
            fig.savefig(tmp, dpi=150, metadata=plots.reproducible_metadata(ext))
            os.replace(tmp, path)
            paths.append(path)
    return paths


# ------------------------------------------------------------------------ entry point


def run_augmentation_study(
    *,
    source: str = "standin",
    image_dir: str | os.PathLike[str] | None = None,
    csv_path: str | os.PathLike[str] | None = None,
    latent_dims: int | Sequence[int] = DEFAULT_LATENT_DIMS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    perturbations: Sequence[float] = DEFAULT_PERTURBATIONS,
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
    out_dir: str | os.PathLike[str] = Path("results/augmentation"),
    cache_dir: str | os.PathLike[str] | None = None,
    quick: bool = True,
    sizes: dict[str, Any] | None = None,
    progress: bool = True,
    store=None,
) -> dict[str, Any]:
    """Run the augmentation experiments of STUDY.md §6 and the duplicate control against the baseline.

    Args:
        source: ``"standin"`` (offline, see module docstring) or
            ``"painter_by_numbers"`` (needs ``image_dir`` and ``csv_path``).
        image_dir, csv_path: Kaggle's image folder and ``train_info.csv``.
        latent_dims: code sizes z of the feature ``fcae`` (an int or a list);
            experiments 1–3 run for each.
        seeds: one run per seed (fcae, pairs, pair model, perturbation draws);
            intervals are over seeds, so use at least 5 for a usable interval.
        perturbations: maximum perturbations p in [0, 1] for experiments 1 and 3.
        thresholds: top-up thresholds (>= 1) for experiment 2 (at p = 0.1) and
            the duplicate control (which also always runs at t = 20).
        out_dir: where CSVs, figures, ``runs/`` (resumable rows, saved fcae per
            seed and z) and, by default, ``cache/`` (features) go.
        cache_dir: feature cache (default ``out_dir/cache``).
        quick: ``QUICK_SIZES`` (minutes on 2 CPU cores) or ``FULL_SIZES``.
        sizes: overrides of the size parameters (keys of ``QUICK_SIZES``).
        progress: progress bars.
        store: the run store (:class:`aelib.study.store.RunStore`) that keeps every feature autoencoder
            (kind ``"augmentation_fcae"``) and results row (kind ``"augmentation"``), so a rerun computes
            only what is missing; default ``out_dir/runs``. A study passes its own.

    Returns:
        ``{"results": one row per experiment × z × setting × seed, "summary":
        one row per experiment × z × setting (see :func:`summarize_results`),
        "class_counts": training/held-out works per class, "provenance": dict,
        "figures": list of paths, "runs": the store's results of every autoencoder and row}``.
        The same tables are written to ``augmentation_results.csv``, ``augmentation_summary.csv``,
        ``augmentation_class_counts.csv`` and ``augmentation_provenance.json``.

    Raises:
        ValueError: unknown source, p outside [0, 1], threshold < 1, z < 1, no
            seeds, bad sizes — before anything is written.
        FileNotFoundError: missing Painter by Numbers folder or CSV.
    """
    plan = plan_study(source=source, image_dir=image_dir, csv_path=csv_path, latent_dims=latent_dims, seeds=seeds,
                      perturbations=perturbations, thresholds=thresholds, out_dir=out_dir, cache_dir=cache_dir,
                      quick=quick, sizes=sizes, progress=progress)
    if store is None:
        from aelib.study.store import RunStore

        store = RunStore(Path(out_dir) / "runs")
    from tqdm.auto import tqdm

    runs = []
    for kind, units, evaluate in (("augmentation_fcae", fcae_units(plan), train_fcae),
                                  ("augmentation", setting_units(plan, store), evaluate_setting)):
        for what, config, params in tqdm(units, desc=what_of(kind), disable=not progress):
            runs.append(store.run(kind, config, functools.partial(evaluate, plan, params)))
    return finish_study(plan, runs)


def what_of(kind: str) -> str:
    return {"augmentation_fcae": "augmentation autoencoders", "augmentation": "augmentation settings"}[kind]


@dataclasses.dataclass
class Plan:
    """Everything the experiments' runs share: the checked arguments, the data and its split, the settings
    (``tasks``), the equal number of pair-model updates, the configuration every run key holds, and the
    per-seed state of the settings computed in this process."""

    source: str
    latent_dims: tuple
    seeds: tuple
    perturbations: tuple
    thresholds: tuple
    sizes: dict
    quick: bool
    out_dir: Path
    data: _Data
    train_idx: np.ndarray
    test_idx: np.ndarray
    split: tuple
    n_baseline_pairs: int
    n_updates: int
    config: dict
    common: dict
    tasks: list
    wall: float
    states: dict = dataclasses.field(default_factory=dict)

    def state(self, seed: int) -> "_Seed":
        if seed not in self.states:
            self.states.clear()  # one seed's pair model and autoencoder in memory at a time
            self.states[seed] = _Seed(seed, self.split, self.sizes, self.n_updates)
        return self.states[seed]


def plan_study(*, source: str = "standin", image_dir=None, csv_path=None, latent_dims=DEFAULT_LATENT_DIMS,
               seeds=(0, 1, 2, 3, 4), perturbations=DEFAULT_PERTURBATIONS, thresholds=DEFAULT_THRESHOLDS,
               out_dir=Path("results/augmentation"), cache_dir=None, quick: bool = True, sizes=None,
               progress: bool = True) -> Plan:
    """Check the arguments, load (or extract) the features, split them and fix the settings (see
    :func:`run_augmentation_study`); nothing is trained yet."""
    wall = time.perf_counter()
    source, latent_dims, seeds, perturbations, thresholds, sizes = _check_args(
        source, image_dir, csv_path, latent_dims, seeds, perturbations, thresholds, quick, sizes
    )
    if source == "painter_by_numbers":
        for what, p in (("image folder", image_dir), ("CSV", csv_path)):
            if not Path(p).exists():
                from aelib.augmentation.artworks import HOW_TO_GET

                raise FileNotFoundError(f"No Painter by Numbers {what} at {p}. {HOW_TO_GET}")
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    out_dir.mkdir(parents=True, exist_ok=True)

    data = _load_data(source, image_dir, csv_path, sizes, cache_dir, progress)
    train_idx, test_idx = holdout_split(
        data.labels, test_fraction=sizes["test_fraction"], min_test=sizes["min_test_works"], seed=sizes["data_seed"]
    )
    mean = data.features[train_idx].mean(axis=0)
    std = data.features[train_idx].std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)  # constant features (dead ReLUs) stay 0 instead of dividing by 0
    x = ((data.features - mean) / std).astype(np.float32)
    split = (x[train_idx], data.labels[train_idx], x[test_idx], data.labels[test_idx])
    # Every condition gets the updates of pair_epochs passes over the baseline's pairs (their number is seed-free).
    n_baseline_pairs = len(draw_pairs(split[1], pairs_per_item=sizes["pairs_per_item"], seed=0)[0])
    n_updates = sizes["pair_updates"] or default_updates(
        n_baseline_pairs, epochs=sizes["pair_epochs"], batch_size=sizes["pair_batch_size"]
    )
    config = {
        "source": source,
        "data_source": data.data_source,
        "image_dir": str(image_dir) if image_dir else None,
        "csv_path": str(csv_path) if csv_path else None,
        "feature_model": data.feature_model,
        "n_works": int(len(data.labels)),
        "sizes": sizes,
        "topup_target": TOPUP_TARGET,
        "threshold_p": THRESHOLD_P,
        "format": 2,  # 2: equal updates, no self-pairs, z in the row key
    }
    run_hash = config_hash(config, digest="sha256", length=12, default=str)  # names the study's settings in rows
    common = {"feature_model": data.feature_model, "data_source": data.data_source, "stand_in": data.stand_in,
              "config_hash": run_hash}
    return Plan(source, tuple(latent_dims), tuple(seeds), tuple(perturbations), tuple(thresholds), sizes, quick, out_dir,
                data, train_idx, test_idx, split, n_baseline_pairs, n_updates, config, common,
                _settings(latent_dims, perturbations, thresholds), wall)


def fcae_units(plan: Plan, *, seeds=None, zs=None) -> list[tuple[str, dict, dict]]:
    """``(what, store key, params)`` of every feature autoencoder: one per seed and z (of ``seeds`` and ``zs``:
    default the plan's)."""
    return [(f"feature autoencoder z={z} seed={seed}", {**plan.config, "latent_dim": int(z), "seed": int(seed)},
             {"latent_dim": int(z), "seed": int(seed)})
            for seed in (plan.seeds if seeds is None else seeds) for z in (plan.latent_dims if zs is None else zs)]


def setting_units(plan: Plan, store) -> list[tuple[str, dict, dict]]:
    """``(what, store key, params)`` of every results row: one per seed and setting, a seed's in order;
    ``params["fcae_dir"]`` is the ``store`` folder of the setting's feature autoencoder (None without one)."""
    units = []
    for seed in plan.seeds:
        for task in plan.tasks:
            experiment, z, value, _ = task
            fcae = None if z is None else store.path_for("augmentation_fcae", fcae_units(plan, seeds=[seed], zs=[z])[0][1])
            units.append((f"{experiment} z={z} value={value} seed={seed}",
                          {**plan.config, "experiment": experiment, "latent_dim": z, "value": value, "seed": int(seed)},
                          {"task": task, "seed": int(seed), "fcae_dir": fcae}))
    return units


def train_fcae(plan: Plan, params: dict, run_dir: Path) -> dict:
    """The feature autoencoder of (seed, z), trained on the training features and kept as ``model.keras``."""
    return _train_fcae(plan.split[0], plan.split[2], params["latent_dim"], params["seed"], plan.sizes, run_dir)


def evaluate_setting(plan: Plan, params: dict, run_dir: Path) -> dict:
    """One results row (its feature autoencoder's run must be complete)."""
    return _evaluate_setting(plan.state(params["seed"]), params["task"], params["fcae_dir"], plan.common, run_dir)


def finish_study(plan: Plan, runs) -> dict[str, Any]:
    """The tables, figures and provenance from the store's runs (``runs``: every unit's result)."""
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} augmentation run(s) failed; the others are kept in their store and are not "
                           f"computed again. First: " + "; ".join(f"{r.error} ({r.path})" for r in failed[:3]))
    data, split, out_dir, n_updates, sizes = plan.data, plan.split, plan.out_dir, plan.n_updates, plan.sizes
    results = pd.DataFrame([r.metrics for r in runs if r.kind == "augmentation"]).reindex(columns=list(RESULT_COLUMNS))
    results["latent_dim"] = results["latent_dim"].astype("Int64")
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    results = results.sort_values(
        ["experiment", "latent_dim", "value", "seed"],
        key=lambda s: s.map(order) if s.name == "experiment" else s,
        na_position="first",
    ).reset_index(drop=True)
    summary = summarize_results(results)
    counts_train = np.bincount(split[1], minlength=len(data.artist_names))
    counts_test = np.bincount(split[3], minlength=len(data.artist_names))
    class_counts = pd.DataFrame(
        {
            "class": data.artist_names,
            "n_train": counts_train,
            "n_test": counts_test,
            f"rare_below_{TOPUP_TARGET}": counts_train < TOPUP_TARGET,
            "data_source": data.data_source,
            "stand_in": data.stand_in,
        }
    )
    label = (
        "stand-in data (font-rendered letters as 'artists', CNN features) — not Painter by Numbers"
        if data.stand_in
        else "Painter by Numbers, Inception v3 features"
    )
    figures = plot_experiments(summary, out_dir, label=label)

    import keras

    provenance = {
        "data_source": data.data_source,
        "stand_in": data.stand_in,
        "description": data.info.get("description"),
        "data": data.info,
        "n_works": int(len(data.labels)),
        "n_classes": len(data.artist_names),
        "n_train_works": int(len(plan.train_idx)),
        "n_test_works": int(len(plan.test_idx)),
        "feature_model": data.feature_model,
        "feature_dim": int(split[0].shape[1]),
        "latent_dims": list(plan.latent_dims),
        "seeds": list(plan.seeds),
        "perturbations": list(plan.perturbations),
        "thresholds": list(plan.thresholds),
        "duplicate_thresholds": sorted({*plan.thresholds, TOPUP_TARGET}),
        "sizes": sizes,
        "quick": plan.quick,
        "n_updates": int(n_updates),
        "pair_training": (
            f"every condition: {n_updates} Adam updates of {sizes['pair_batch_size']} pairs from the same initial "
            "weights; batches cut from seeded permutations of the condition's own training pairs"
            + (
                ""
                if sizes["pair_updates"]
                else f" ({sizes['pair_epochs']} passes over the baseline's {plan.n_baseline_pairs} pairs)"
            )
        ),
        "self_pairs": (
            "excluded: no positive training pair joins a synthetic or duplicated sample to its source original, "
            "or two samples made from the same original"
        ),
        "ci_method": CI_METHOD,
        "auc_rare": f"AUC on the test pairs whose anchor's class has fewer than {TOPUP_TARGET} training works",
        "config_hash": plan.common["config_hash"],
        "wall_seconds": round(time.perf_counter() - plan.wall, 1),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
        },
    }
    atomic_write_csv(out_dir / "augmentation_results.csv", results)
    atomic_write_csv(out_dir / "augmentation_summary.csv", summary)
    atomic_write_csv(out_dir / "augmentation_class_counts.csv", class_counts)
    atomic_write_text(out_dir / "augmentation_provenance.json", json.dumps(provenance, indent=2, default=str))
    return {
        "results": results,
        "summary": summary,
        "class_counts": class_counts,
        "provenance": provenance,
        "figures": figures,
        "runs": runs,
    }
