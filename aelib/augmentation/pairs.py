"""Same-artist pairs, the symmetric pair model, and ROC AUC.

Pairs are drawn anchor by anchor: every item of a class with at least two
items is the anchor of ``pairs_per_item`` positive pairs (partner drawn
uniformly among the *other* items of its class) and as many negative pairs
(partner drawn uniformly among the items of every other class). So positives
and negatives are exactly balanced, no item is paired with itself, and a
class contributes pairs in proportion to its size — which is what topping up
rare classes changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aelib.checks import check_int

PAIR_MODEL_DEFAULTS: dict[str, Any] = {
    "hidden": 64,
    "dropout": 0.2,
    "epochs": 10,
    "batch_size": 128,
    "learning_rate": 1e-3,
}


def draw_pairs(labels, *, pairs_per_item: int = 1, seed: int | Sequence[int] = 0) -> tuple[np.ndarray, np.ndarray]:
    """Balanced same-class / different-class pairs of item indices.

    Args:
        labels: class of each item, shape (n,).
        pairs_per_item: positive pairs (and as many negative ones) per anchor.
        seed: seed (or seed sequence) of ``numpy.random.default_rng``.

    Returns:
        ``(pairs, y)``: int64 (m, 2) indices into ``labels`` and int64 (m,)
        with 1 for same class, 0 for different; positives first.

    Raises:
        ValueError: fewer than two classes, no class with two items, or a bad ``pairs_per_item``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"Expected labels of shape (n,). Received: shape={labels.shape}")
    check_int("pairs_per_item", pairs_per_item)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"Expected items of at least two classes for different-class pairs. Received: {len(classes)} class(es)"
        )
    if counts.max() < 2:
        raise ValueError(
            "Expected at least one class with two items for same-class pairs. Received: one item per class"
        )
    rng = np.random.default_rng(seed)
    order = np.argsort(inverse, kind="stable")  # items grouped by class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(len(labels), dtype=np.int64)
    position[order] = np.arange(len(labels)) - starts[inverse[order]]  # rank of each item inside its class

    anchors = np.repeat(np.flatnonzero(counts[inverse] >= 2), pairs_per_item)
    c = inverse[anchors]
    # Positive partner: one of the other count-1 members, skipping the anchor's own slot.
    r = (rng.random(len(anchors)) * (counts[c] - 1)).astype(np.int64)
    r += r >= position[anchors]
    positives = order[starts[c] + r]
    # Negative partner: one of the n - count items outside the anchor's class block.
    r = (rng.random(len(anchors)) * (len(labels) - counts[c])).astype(np.int64)
    r += (r >= starts[c]) * counts[c]
    negatives = order[r]
    pairs = np.concatenate([np.stack([anchors, positives], 1), np.stack([anchors, negatives], 1)]).astype(np.int64)
    y = np.concatenate([np.ones(len(anchors), np.int64), np.zeros(len(anchors), np.int64)])
    return pairs, y


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve by ranks (Mann–Whitney U); tied scores share their average rank.

    Raises:
        ValueError: shape mismatch, labels other than 0/1, only one class, or non-finite scores.
    """
    y = np.asarray(y_true).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"Expected y_true and scores of the same length. Received: {y.shape} and {s.shape}")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError(f"Expected binary labels 0/1. Received: values {np.unique(y)[:5].tolist()}")
    n_pos = int(np.sum(y == 1))
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC AUC needs both classes. Received: {n_pos} positive and {n_neg} negative labels")
    if not np.all(np.isfinite(s)):
        raise ValueError("Scores contain NaN or infinite values.")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    # Average rank (1-based) of each run of equal scores.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    run_starts = np.concatenate([[0], boundaries])
    run_ends = np.concatenate([boundaries, [len(s)]])
    run_rank = (run_starts + run_ends + 1) / 2.0
    ranks = np.empty(len(s))
    ranks[order] = np.repeat(run_rank, run_ends - run_starts)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def build_pair_model(dim: int, *, hidden: int = 64, dropout: float = 0.2, seed: int = 0):
    """Symmetric pair model: ``[|a − b|, a ⊙ b]`` → Dense(hidden, ReLU) → Dropout → Dense(1, sigmoid).

    Both inputs enter only through symmetric functions, so score(a, b) = score(b, a).
    """
    import keras

    a = keras.Input((dim,), name="a")
    b = keras.Input((dim,), name="b")
    h = keras.layers.Concatenate(name="symmetric")([keras.ops.abs(a - b), a * b])
    h = keras.layers.Dense(hidden, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(h)
    if dropout:
        h = keras.layers.Dropout(dropout, seed=seed)(h)
    out = keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)
    )(h)
    return keras.Model([a, b], out, name="pair_model")


def train_pair_model(features, pairs, y, *, seed: int = 0, **options: Any):
    """Build and train a pair model on ``features[pairs]`` with binary cross-entropy (Adam).

    Options (defaults in ``PAIR_MODEL_DEFAULTS``): hidden, dropout, epochs, batch_size, learning_rate.
    """
    import keras

    from aelib.training import set_seed

    unknown = sorted(set(options) - set(PAIR_MODEL_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown pair model option(s) {unknown}. Options: {sorted(PAIR_MODEL_DEFAULTS)}")
    opts = {**PAIR_MODEL_DEFAULTS, **options}
    features = np.asarray(features, dtype=np.float32)
    set_seed(seed)
    model = build_pair_model(features.shape[1], hidden=opts["hidden"], dropout=opts["dropout"], seed=seed)
    model.compile(keras.optimizers.Adam(opts["learning_rate"]), "binary_crossentropy")
    model.fit(
        [features[pairs[:, 0]], features[pairs[:, 1]]],
        np.asarray(y, dtype=np.float32),
        epochs=opts["epochs"],
        batch_size=opts["batch_size"],
        shuffle=True,
        verbose=0,
    )
    return model


def pair_scores(model, features, pairs, *, batch_size: int = 4096) -> np.ndarray:
    """Same-artist probability of each pair (eager calls: no retracing across models)."""
    import keras

    features = np.asarray(features, dtype=np.float32)
    out = [
        keras.ops.convert_to_numpy(
            model([features[pairs[i : i + batch_size, 0]], features[pairs[i : i + batch_size, 1]]], training=False)
        ).reshape(-1)
        for i in range(0, len(pairs), batch_size)
    ]
    return np.concatenate(out).astype(np.float64)
