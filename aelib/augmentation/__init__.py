"""Data augmentation on artwork features (docs/methods.md §6): the core the study's step 07 runs.

Modules: :mod:`.artworks` (Painter by Numbers reader, offline stand-in works),
:mod:`.features` (Inception v3 and stand-in features, disk cache),
:mod:`.dataset` (features of a source's works, split and standardised),
:mod:`.pairs` (pairs, pair model; scored with :func:`aelib.metrics.ood.roc_auc`),
:mod:`.synthetic` (top-up rule, decode(perturb(encode(x)))), :mod:`.experiments`
(the three experiments and the duplicate control, with equal pair-model updates
per condition, computed per seed on feature arrays).

Running them through the run store, with tables and figures, is the study's
step 07 (:mod:`aelib.study.steps.augmentation`)::

    from aelib.study.steps import augmentation
    summary = augmentation.run(study, source="standin", image_dir=None, csv_path=None, aug_latent_dim=[16, 64, 256],
                               aug_seeds=[0, 1, 2, 3, 4], perturbations=[0.0, 0.1, 0.5], thresholds=[5, 10, 20, 40])
"""

from __future__ import annotations

from aelib.augmentation.artworks import Artworks, long_tail_counts, read_artworks, standin_works
from aelib.augmentation.dataset import FeatureSet, holdout_split, load_features, standardized_split
from aelib.augmentation.experiments import (
    AUTOENCODER_EXPERIMENTS,
    DEFAULT_LATENT_DIMS,
    DEFAULT_PERTURBATIONS,
    DEFAULT_THRESHOLDS,
    EXPERIMENTS,
    FULL_SIZES,
    QUICK_SIZES,
    SeedRun,
    augmented_pairs,
    check_arguments,
)
from aelib.augmentation.features import cached_features, image_set_key, inception_features, standin_features
from aelib.augmentation.pairs import (
    PairModelTrainer,
    build_pair_model,
    draw_pairs,
    pair_scores,
    train_pair_model,
    update_schedule,
)
from aelib.augmentation.synthetic import synthesize, top_up_counts, top_up_sources

__all__ = [
    "AUTOENCODER_EXPERIMENTS",
    "Artworks",
    "DEFAULT_LATENT_DIMS",
    "DEFAULT_PERTURBATIONS",
    "DEFAULT_THRESHOLDS",
    "EXPERIMENTS",
    "FULL_SIZES",
    "FeatureSet",
    "PairModelTrainer",
    "QUICK_SIZES",
    "SeedRun",
    "augmented_pairs",
    "build_pair_model",
    "cached_features",
    "check_arguments",
    "draw_pairs",
    "holdout_split",
    "image_set_key",
    "inception_features",
    "load_features",
    "long_tail_counts",
    "pair_scores",
    "read_artworks",
    "standardized_split",
    "standin_features",
    "standin_works",
    "synthesize",
    "top_up_counts",
    "top_up_sources",
    "train_pair_model",
    "update_schedule",
]
