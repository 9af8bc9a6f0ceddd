"""The augmentation experiments of docs/methods.md §6, defined and computed on feature arrays.

Pipeline (identical for the real data and the stand-in; steps 1 and 2, the
features and their split, are :mod:`.dataset`'s):

3. per seed and code size z: an ``fcae`` (``build_model("fcae",
   input_shape=(d,), latent_dim=z, output_activation="linear")``) trained once
   on the training features (:func:`train_feature_autoencoder`) and reused by
   every setting of that z; test pairs drawn once per seed from the held-out
   works;
4. per setting (:meth:`SeedRun.row`): extra samples (synthetic
   ``decode(perturb(encode(x)))``, or duplicated originals for the control)
   added to the training works, balanced training pairs drawn, the seed's pair
   model trained from its initial weights, ROC AUC on the held-out pairs.

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
  Adam updates (``n_updates``, in every results row; :func:`equal_updates`):
  by default the baseline's ``pair_epochs`` passes over its own training
  pairs; augmented conditions see more distinct pairs, not more training;
* no self-pairs: every extra sample keeps the index of its source original,
  and no positive training pair joins two items of the same source (a
  synthetic sample and its source, or two samples made from one original;
  :func:`augmented_pairs`);
* equal starts: within a seed all conditions share the test pairs, the
  training pairs' generator, the pair model's initial weights and Adam state,
  the batches' order generator and the perturbation directions u/p
  (:class:`SeedRun`).

Running the settings, storing them and summarising them over seeds is the
study's step 07 (:mod:`aelib.study.steps.augmentation`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aelib.augmentation.artworks import HOW_TO_GET
from aelib.augmentation.features import STANDIN_EXTRACTOR
from aelib.augmentation.pairs import (
    PAIR_MODEL_DEFAULTS,
    PairModelTrainer,
    default_updates,
    draw_pairs,
    pair_scores,
)
from aelib.augmentation.synthetic import decode_codes, encode_eager, synthesize, top_up_sources
from aelib.checks import check_float, check_int
from aelib.metrics.ood import roc_auc
from aelib.metrics.reconstruction import rmse_per_sample
from aelib.perturbation import code_scale

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
#: The experiments that use the feature autoencoder (swept over z), numbered as in docs/methods.md §6.
AUTOENCODER_EXPERIMENTS = ("topup_perturbation", "topup_threshold", "one_per_original")
DEFAULT_PERTURBATIONS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)
DEFAULT_THRESHOLDS = (5, 10, 20, 40)
DEFAULT_LATENT_DIMS = (16, 64, 256)
TOPUP_TARGET = 20  # experiment 1's target, and the "rare class" line of auc_rare
THRESHOLD_P = 0.1  # experiment 2's perturbation

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
_POSITIVE_SIZES = (
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
)
_METRICS = ("auc", "auc_rare", "n_synthetic", "n_train_pairs", "n_updates", "fcae_test_rmse")
#: the columns of a results row, in order (stored rows come back with their keys sorted)
RESULT_COLUMNS = ("experiment", "swept", "latent_dim", "value", "uses_autoencoder", "max_fraction", "topup_target",
                  "seed", *_METRICS, "n_train_works", "n_test_pairs", "n_test_pairs_rare", "seconds", "feature_model",
                  "data_source", "stand_in", "config_hash")

#: A setting: (experiment, z or None, swept value or None, what to compute); see :func:`settings`.
Setting = tuple[str, int | None, float | None, tuple]


# ------------------------------------------------------------------------ arguments


@dataclasses.dataclass(frozen=True)
class Arguments:
    """The checked arguments of the experiments (see :func:`check_arguments`)."""

    source: str
    latent_dims: tuple[int, ...]
    seeds: tuple[int, ...]
    perturbations: tuple[float, ...]
    thresholds: tuple[int, ...]
    sizes: dict[str, Any]
    quick: bool


def _check_number_list(name: str, values, check) -> tuple:
    received = values
    try:
        values = () if isinstance(values, (str, bytes)) else tuple(values)
    except TypeError:
        values = ()
    if not values:
        raise ValueError(f"Expected a non-empty list of values for {name}. Received: {name}={received!r}")
    return tuple(dict.fromkeys(check(v) for v in values))


def _check_sizes(sizes: dict[str, Any] | None, quick: bool) -> dict[str, Any]:
    base = QUICK_SIZES if quick else FULL_SIZES
    sizes = dict(sizes or {})
    unknown = sorted(set(sizes) - set(base))
    if unknown:
        raise ValueError(f"Unknown size parameter(s) {unknown}. Known: {sorted(base)}")
    sizes = {**base, **sizes}
    for name in _POSITIVE_SIZES:
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
    return sizes


def check_arguments(
    *,
    source: str = "standin",
    image_dir: str | os.PathLike[str] | None = None,
    csv_path: str | os.PathLike[str] | None = None,
    latent_dims: int | Sequence[int] = DEFAULT_LATENT_DIMS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    perturbations: Sequence[float] = DEFAULT_PERTURBATIONS,
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
    quick: bool = True,
    sizes: dict[str, Any] | None = None,
) -> Arguments:
    """The experiments' arguments, checked before anything is computed or written.

    Args:
        source: ``"standin"`` (offline, see :mod:`.dataset`) or
            ``"painter_by_numbers"`` (needs ``image_dir`` and ``csv_path``).
        image_dir, csv_path: Kaggle's image folder and ``train_info.csv``.
        latent_dims: code sizes z of the feature ``fcae`` (an int or a list);
            experiments 1–3 run for each.
        seeds: one run per seed (fcae, pairs, pair model, perturbation draws);
            intervals are over seeds, so use at least 5 for a usable interval.
        perturbations: maximum perturbations p in [0, 1] for experiments 1 and 3.
        thresholds: top-up thresholds (>= 1) for experiment 2 (at p = 0.1) and
            the duplicate control (which also always runs at t = 20).
        quick: ``QUICK_SIZES`` (minutes on 2 CPU cores) or ``FULL_SIZES``.
        sizes: overrides of the size parameters (keys of ``QUICK_SIZES``).

    Raises:
        ValueError: unknown source, p outside [0, 1], threshold < 1, z < 1, no
            seeds, bad sizes.
        FileNotFoundError: missing Painter by Numbers folder or CSV.
    """
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
    sizes = _check_sizes(sizes, quick)
    if source == "painter_by_numbers":
        for what, p in (("image folder", image_dir), ("CSV", csv_path)):
            if not Path(p).exists():
                raise FileNotFoundError(f"No Painter by Numbers {what} at {p}. {HOW_TO_GET}")
    return Arguments(source, latent_dims, seeds, perturbations, thresholds, sizes, quick)


# ------------------------------------------------------------------------- settings


def settings(
    latent_dims: Sequence[int], perturbations: Sequence[float], thresholds: Sequence[int]
) -> list[Setting]:
    """(experiment, z, swept value, what to compute) for every setting; equal
    computations (e.g. exp. 1 at p = 0.1 and exp. 2 at t = 20, same z) share a
    key. Settings without the autoencoder come first, then one z after another."""
    out: list[Setting] = [("baseline", None, None, ("none",))]
    out += [("topup_duplicate", None, float(t), ("duplicate", t)) for t in sorted({*thresholds, TOPUP_TARGET})]
    for z in latent_dims:
        out += [("topup_perturbation", z, p, ("topup", z, TOPUP_TARGET, p)) for p in perturbations]
        out += [("topup_threshold", z, float(t), ("topup", z, int(t), THRESHOLD_P)) for t in thresholds]
        out += [("one_per_original", z, p, ("per_item", z, p)) for p in perturbations]
    return out


def setting_columns(experiment: str, latent_dim, value) -> dict[str, Any]:
    """The columns that name a setting, first in both the result and the summary rows."""
    return {
        "experiment": experiment,
        "swept": SWEPT[experiment],
        "latent_dim": latent_dim,
        "value": value,
        "uses_autoencoder": experiment in AUTOENCODER_EXPERIMENTS,
    }


def derived_seed(*parts: int) -> int:
    """A seed for numpy and Keras drawn from the integers ``parts`` (below 2³¹ − 1)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] % (2**31 - 1))


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


def equal_updates(y_train: np.ndarray, sizes: dict[str, Any]) -> tuple[int, int]:
    """``(n_baseline_pairs, n_updates)``: every condition gets the updates of ``pair_epochs`` passes over the
    baseline's training pairs (their number is seed-free), unless ``sizes["pair_updates"]`` fixes them."""
    n_baseline_pairs = len(draw_pairs(y_train, pairs_per_item=sizes["pairs_per_item"], seed=0)[0])
    n_updates = sizes["pair_updates"] or default_updates(
        n_baseline_pairs, epochs=sizes["pair_epochs"], batch_size=sizes["pair_batch_size"]
    )
    return n_baseline_pairs, n_updates


# ---------------------------------------------------------------------- computation


def train_feature_autoencoder(
    x_train: np.ndarray, x_test: np.ndarray, latent_dim: int, seed: int, sizes: dict[str, Any]
) -> tuple[Any, float]:
    """The feature autoencoder of (seed, z), trained on the training features, and its mean RMSE on ``x_test``."""
    from aelib.models import build_model  # deferred: the models load Keras
    from aelib.training import TrainConfig, train  # deferred: aelib.training loads Keras

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
    return model, float(rmse_per_sample(x_test, decode_codes(model, encode_eager(model, x_test))).mean())


#: ``load()`` of a setting's feature autoencoder: ``(model, its held-out RMSE)``.
AutoencoderLoader = Callable[[], tuple[Any, float]]


class SeedRun:
    """What every setting of one seed shares: test pairs, the pair model's trainer, the current z's
    autoencoder and codes, and the settings already computed (equal computations are done once)."""

    def __init__(self, seed: int, split: tuple, sizes: dict[str, Any], n_updates: int) -> None:
        x_tr, y_tr, x_te, y_te = split
        self.seed, self.split, self.sizes, self.n_updates = seed, split, sizes, n_updates
        self.test_pairs, self.test_y = draw_pairs(y_te, pairs_per_item=sizes["test_pairs_per_item"], seed=(seed, 1))
        train_counts = np.bincount(y_tr, minlength=int(max(y_tr.max(), y_te.max())) + 1)
        self.rare = train_counts[y_te[self.test_pairs[:, 0]]] < TOPUP_TARGET
        self.trainer = None
        self.fcae: dict[int, tuple] = {}  # the current z's autoencoder, its training codes and held-out RMSE
        self.computed: dict[tuple, dict] = {}

    def autoencoder(self, z: int, load: AutoencoderLoader) -> tuple:
        """``(model, training codes, held-out RMSE)`` of z's autoencoder, loaded by ``load`` when z changes."""
        if z not in self.fcae:
            self.fcae.clear()  # one autoencoder in memory at a time
            model, rmse = load()
            self.fcae[z] = (model, encode_eager(model, self.split[0]), rmse)
        return self.fcae[z]

    def compute(self, key: tuple, z, load: AutoencoderLoader | None) -> dict:
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
            if load is None:
                raise ValueError(f"Expected a loader of the feature autoencoder for the setting {key}. Received: None")
            model, codes, rmse = self.autoencoder(z, load)
            if kind == "topup":
                sources, p = top_up_sources(y_tr, key[2], seed=(seed, 4)), key[3]
            else:
                sources, p = np.arange(len(y_tr)), key[2]
            extra = synthesize(
                model,
                codes,
                sources,
                max_fraction=p,
                seed=derived_seed(seed, 3),
                mode=sizes["perturbation_mode"],
                scale=code_scale(codes) if sizes["perturbation_mode"] == "additive" else None,
            ).reshape(len(sources), x_tr.shape[1])
        pairs, y_pairs, _ = augmented_pairs(y_tr, sources, pairs_per_item=sizes["pairs_per_item"], seed=(seed, 2))
        if self.trainer is None:
            pair_options = {k: sizes[f"pair_{k}"] for k in PAIR_MODEL_DEFAULTS}
            self.trainer = PairModelTrainer(x_tr.shape[1], seed=derived_seed(seed, 5), **pair_options)
        pair_model = self.trainer.fit(
            np.concatenate([x_tr, extra]), pairs, y_pairs, n_updates=self.n_updates, seed=(seed, 6)
        )
        scores = pair_scores(pair_model, x_te, self.test_pairs)
        rare = self.rare
        both_classes = len(np.unique(self.test_y[rare])) == 2
        self.computed[key] = {
            "auc": roc_auc(self.test_y, scores),
            "auc_rare": roc_auc(self.test_y[rare], scores[rare]) if both_classes else float("nan"),
            "n_synthetic": int(len(sources)),
            "n_train_pairs": int(len(pairs)),
            "n_updates": int(self.n_updates),
            "fcae_test_rmse": rmse,
        }
        return self.computed[key]

    def row(self, setting: Setting, load: AutoencoderLoader | None = None) -> dict[str, Any]:
        """One results row (the columns of ``RESULT_COLUMNS`` up to ``seconds``): a setting of one experiment
        (and z) under this seed; ``load`` gives the setting's feature autoencoder (None for the settings
        without one)."""
        experiment, z, value, key = setting
        start = time.perf_counter()
        metrics = self.compute(key, z, load)
        return {
            **setting_columns(experiment, z, value),
            "max_fraction": key[3] if key[0] == "topup" else key[2] if key[0] == "per_item" else None,
            "topup_target": key[2] if key[0] == "topup" else key[1] if key[0] == "duplicate" else None,
            "seed": int(self.seed),
            **metrics,
            "n_train_works": int(len(self.split[1])),
            "n_test_pairs": int(len(self.test_pairs)),
            "n_test_pairs_rare": int(self.rare.sum()),
            "seconds": round(time.perf_counter() - start, 3),
        }
