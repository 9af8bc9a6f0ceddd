"""Separating in-distribution from complementary data (docs/methods.md §4, step 6)."""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``labels``.

    Rank-based (Mann–Whitney U): the probability that a random positive scores
    higher than a random negative, ties counting one half (average ranks).

    Args:
        labels: 1-D, 1/True for positives, 0/False for negatives; both present.
        scores: 1-D finite scores of the same length; higher means "more positive".

    Returns:
        The AUC in [0, 1] (0.5 = no separation).

    Raises:
        ValueError: on shape mismatch, labels other than 0/1, a single class,
            or NaN/infinite scores.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError("Expected 1-D labels and scores of the same length. "
                         f"Received: shapes {labels.shape} and {scores.shape}")
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"Expected binary labels (0/1 or bool). Received: values {sorted(values, key=str)[:10]}")
    positive = labels.astype(bool)
    n_pos = int(positive.sum())
    n_neg = int(len(labels) - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"Expected both classes in labels. Received: {n_pos} positives and {n_neg} negatives")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values.")
    ranks = rankdata(scores)  # average ranks for ties
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
