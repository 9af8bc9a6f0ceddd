"""The artworks of a source as feature vectors: extracted (cached), split per class and standardised.

Steps 1 and 2 of the experiments (:mod:`.experiments`): works and their
"artists" → image features (cached, :mod:`.features`); a fixed per-class split
into training works and held-out works (``test_fraction``, at least
``min_test_works`` held out per class); features standardised with the
training works' mean and spread.

Offline stand-in (``source="standin"``): Painter by Numbers cannot be
downloaded here, and Inception v3's ImageNet weights neither. The stand-in
"artworks" are :func:`.artworks.standin_works` (letters as "artists", long
tail). The features come from a small CNN trained on Fashion-MNIST (a disjoint
data set: like ImageNet for paintings, it was not trained on the "artists"),
512 values standing in for Inception v3's 2048. A random-weight InceptionV3 at
75×75 was tried and rejected: on 1,200 letters its features reached AUC 0.63
with a logistic pair model (800 training works), against 0.67 (3,000 works)
for the CNN, at about 8× the cost. Everything the stand-in produces carries
``stand_in=True`` and a ``data_source`` naming it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from aelib.augmentation.artworks import read_artworks, standin_works
from aelib.augmentation.features import (
    STANDIN_EXTRACTOR,
    inception_features,
    standin_extractor_name,
    standin_features,
)

#: the ``data_source`` of the offline stand-in
STANDIN_SOURCE = "standin-letters-fashioncnn"
#: the feature model of the real data
INCEPTION_FEATURE_MODEL = "inception_v3-imagenet-299px-avgpool"


@dataclasses.dataclass
class FeatureSet:
    """One feature vector per work, the work's artist, and where the features come from."""

    features: np.ndarray
    labels: np.ndarray
    artist_names: list[str]
    feature_model: str
    data_source: str
    stand_in: bool
    info: dict[str, Any]


def load_features(
    source: str,
    image_dir: str | os.PathLike[str] | None,
    csv_path: str | os.PathLike[str] | None,
    sizes: dict[str, Any],
    cache_dir: str | os.PathLike[str] | None,
    progress: bool = True,
) -> FeatureSet:
    """The works of ``source`` (``"standin"`` or ``"painter_by_numbers"``) and their features, cached in
    ``cache_dir``; ``sizes``: the checked size parameters (see :mod:`.experiments`)."""
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
        return FeatureSet(features, labels, names, standin_extractor_name(extractor), STANDIN_SOURCE, True, info)
    if source != "painter_by_numbers":
        raise ValueError(f"Expected source 'standin' or 'painter_by_numbers'. Received: source={source!r}")
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
    return FeatureSet(
        features, works.labels, works.artist_names, INCEPTION_FEATURE_MODEL, "painter_by_numbers", False, info
    )


def holdout_split(
    labels, *, test_fraction: float, min_test: int, min_train: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
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


def standardized_split(
    features: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``, the features standardised with the training works' mean and
    spread (float32); a constant feature (a dead ReLU) stays 0 instead of being divided by 0."""
    mean = features[train_idx].mean(axis=0)
    std = features[train_idx].std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)
    x = ((features - mean) / std).astype(np.float32)
    return x[train_idx], labels[train_idx], x[test_idx], labels[test_idx]
