"""Data augmentation on artwork features (STUDY.md §6).

>>> from aelib.augmentation import run_augmentation_study
>>> out = run_augmentation_study(source="standin", seeds=(0, 1, 2, 3, 4), out_dir="results/augmentation")
>>> out["summary"]

Modules: :mod:`.artworks` (Painter by Numbers reader), :mod:`.features`
(Inception v3 and stand-in features, disk cache), :mod:`.pairs` (pairs, pair
model; scored with :func:`aelib.metrics.ood.roc_auc`), :mod:`.synthetic` (top-up rule, decode(perturb(encode(x)))),
:mod:`.experiments` (the three experiments and the duplicate control, with
equal pair-model updates per condition, over several z; tables, figures).
"""

from __future__ import annotations

from aelib.augmentation.artworks import Artworks, read_artworks
from aelib.augmentation.experiments import (
    AUTOENCODER_EXPERIMENTS,
    DEFAULT_LATENT_DIMS,
    DEFAULT_PERTURBATIONS,
    DEFAULT_THRESHOLDS,
    EXPERIMENTS,
    FULL_SIZES,
    QUICK_SIZES,
    augmented_pairs,
    holdout_split,
    long_tail_counts,
    run_augmentation_study,
    standin_works,
    summarize_results,
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
    "PairModelTrainer",
    "QUICK_SIZES",
    "augmented_pairs",
    "build_pair_model",
    "cached_features",
    "draw_pairs",
    "holdout_split",
    "image_set_key",
    "inception_features",
    "long_tail_counts",
    "pair_scores",
    "read_artworks",
    "run_augmentation_study",
    "standin_features",
    "standin_works",
    "summarize_results",
    "synthesize",
    "top_up_counts",
    "top_up_sources",
    "train_pair_model",
    "update_schedule",
]
