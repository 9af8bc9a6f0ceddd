"""Fidelity and diversity of generated samples against real ones, in a feature space (docs/methods.md §4, step 7).

All four measures rest on k-nearest-neighbour balls: the ball of a point reaches its k-th nearest neighbour
within its own set (the point itself not counted). With real features R (N points) and generated features
G (M points):

- *improved precision* (Kynkäänniemi et al. 2019): the share of generated points inside at least one real
  ball — how many samples look real;
- *improved recall* (same paper): the share of real points inside at least one generated ball — how much of
  the real distribution the samples cover;
- *density* (Naeem et al. 2020): (1 / kM) Σ_j #{real balls containing G_j} — precision that counts how many
  real neighbourhoods a sample falls in, so it is ≈ 1 for samples distributed like the real data and less
  swayed by real outliers (it can exceed 1);
- *coverage* (same paper): the share of real points whose ball contains at least one generated point —
  recall built on the real balls, robust to generated outliers.

Distances are Euclidean, computed directly (:func:`scipy.spatial.distance.cdist`, in blocks), so a point's
distance to another is the same in both directions and ball membership is decided with the numbers the radii
came from; a point on the boundary of a ball (distance = radius) is inside.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from aelib.checks import check_int

#: Default neighbourhood size of the k-NN balls (the value both papers recommend for their measures).
DEFAULT_K = 5
# Pairwise distances computed per block of rows, at most this many numbers at once (32 MB of float64).
_BLOCK = 1 << 22


def _check(name: str, feats) -> np.ndarray:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[1] < 1:
        raise ValueError(f"Expected {name} of shape (n_samples, n_features). Received: shape={feats.shape}")
    if not np.all(np.isfinite(feats)):
        raise ValueError(f"{name} contains NaN or infinite values ({int((~np.isfinite(feats)).sum())} of "
                         f"{feats.size}).")
    return feats


def _check_pair(real, fake, k) -> tuple[np.ndarray, np.ndarray, int]:
    real, fake = _check("real", real), _check("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"Expected real and fake features of the same size. Received: {real.shape[1]} and "
                         f"{fake.shape[1]}")
    k = check_int("k", k, minimum=1)
    for name, feats in (("real", real), ("fake", fake)):
        if len(feats) <= k:
            raise ValueError(f"Expected more than k={k} {name} samples (a ball reaches the k-th neighbour). "
                             f"Received: {len(feats)}")
    return real, fake, k


def _blocks(n_rows: int, n_cols: int):
    step = max(1, _BLOCK // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def knn_radii(feats, *, k: int = DEFAULT_K) -> np.ndarray:
    """Each point's distance to its k-th nearest neighbour in ``feats``, itself not counted (duplicates are
    neighbours at distance 0)."""
    feats = _check("feats", feats)
    k = check_int("k", k, minimum=1)
    if len(feats) <= k:
        raise ValueError(f"Expected more than k={k} samples. Received: {len(feats)}")
    radii = np.empty(len(feats))
    for rows in _blocks(len(feats), len(feats)):
        dist = cdist(feats[rows], feats)
        radii[rows] = np.partition(dist, k, axis=1)[:, k]  # position 0 is the point itself (distance 0)
    return radii


def _balls_containing(query: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each query point, how many balls (centre, radius) contain it."""
    counts = np.empty(len(query), dtype=np.int64)
    for rows in _blocks(len(query), len(centres)):
        counts[rows] = (cdist(query[rows], centres) <= radii[None, :]).sum(axis=1)
    return counts


def _nearest(query: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each query point's distance to its nearest point of ``points``."""
    out = np.empty(len(query))
    for rows in _blocks(len(query), len(points)):
        out[rows] = cdist(query[rows], points).min(axis=1)
    return out


def sample_scores(real, fake, *, k: int = DEFAULT_K) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) of
    generated features ``fake`` against real features ``real``, with k-NN balls of size ``k`` (module
    docstring).

    Args:
        real, fake: features, shapes (N, d) and (M, d), finite, more than ``k`` rows each.
        k: the neighbour whose distance is a ball's radius.

    Returns:
        ``precision``, ``recall``, ``coverage`` in [0, 1] and ``density`` ≥ 0. Identical sets give precision,
        recall and coverage 1 and, for distinct points, density (k + 1)/k (each point also falls in its own
        copy's ball).

    Raises:
        ValueError: inputs not 2-D or not finite, different feature sizes, ``k < 1``, or ``k`` or fewer rows.
    """
    real, fake, k = _check_pair(real, fake, k)
    real_radii, fake_radii = knn_radii(real, k=k), knn_radii(fake, k=k)
    in_real = _balls_containing(fake, real, real_radii)
    return {"precision": float(np.mean(in_real > 0)),
            "recall": float(np.mean(_balls_containing(real, fake, fake_radii) > 0)),
            "density": float(in_real.sum() / (k * len(fake))),
            "coverage": float(np.mean(_nearest(real, fake) <= real_radii))}


def precision_recall(real, fake, *, k: int = DEFAULT_K) -> dict[str, float]:
    """Improved precision and recall only (:func:`sample_scores`)."""
    real, fake, k = _check_pair(real, fake, k)
    return {"precision": float(np.mean(_balls_containing(fake, real, knn_radii(real, k=k)) > 0)),
            "recall": float(np.mean(_balls_containing(real, fake, knn_radii(fake, k=k)) > 0))}


def density_coverage(real, fake, *, k: int = DEFAULT_K) -> dict[str, float]:
    """Density and coverage only (:func:`sample_scores`)."""
    real, fake, k = _check_pair(real, fake, k)
    radii = knn_radii(real, k=k)
    return {"density": float(_balls_containing(fake, real, radii).sum() / (k * len(fake))),
            "coverage": float(np.mean(_nearest(real, fake) <= radii))}
