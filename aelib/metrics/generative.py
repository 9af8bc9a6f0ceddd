"""Scores of generated images (docs/methods.md §4, step 7): Fréchet distance between
feature distributions and the spread of predicted classes."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from aelib.checks import check_float


def _check_features(name: str, feats) -> np.ndarray:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2:
        raise ValueError(f"Expected {name} of shape (n_samples, n_features). Received: shape={feats.shape}")
    if feats.shape[0] < 2:
        raise ValueError(f"Expected at least 2 samples in {name} (a covariance needs two). "
                         f"Received: shape={feats.shape}")
    if feats.shape[1] < 1:
        raise ValueError(f"Expected at least one feature in {name}. Received: shape={feats.shape}")
    if not np.all(np.isfinite(feats)):
        raise ValueError(f"{name} contains NaN or infinite values "
                         f"({int((~np.isfinite(feats)).sum())} of {feats.size}).")
    return feats


def _sqrtm(matrix: np.ndarray) -> tuple[np.ndarray, bool]:
    """Matrix square root, and whether scipy found the matrix singular."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(matrix)
    return np.asarray(root), any(issubclass(w.category, linalg.LinAlgWarning) for w in caught)


def frechet_distance(feats_a, feats_b, *, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    d² = ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^{1/2}), with sample means and
    covariances (ddof = 1) — the quantity behind FID (Heusel et al. 2017).

    Args:
        feats_a, feats_b: features, shapes (n_a, d) and (n_b, d), n ≥ 2, finite.
        eps: added to both covariance diagonals when the matrix square root is
            not finite or has a non-negligible imaginary part (singular
            covariances, e.g. fewer samples than features).

    Returns:
        The distance (squared, as FID reports it), ≥ 0.

    Raises:
        ValueError: inputs not 2-D, different feature sizes, fewer than two
            samples, or NaN/infinite values.
    """
    a = _check_features("feats_a", feats_a)
    b = _check_features("feats_b", feats_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Expected the same number of features. Received: {a.shape[1]} and {b.shape[1]}")
    check_float("eps", eps, minimum=0)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    covmean, singular = _sqrtm(cov_a @ cov_b)
    if (singular or not np.all(np.isfinite(covmean))
            or np.abs(np.imag(covmean)).max() > 1e-3 * max(1.0, np.abs(covmean).max())):
        offset = np.eye(a.shape[1]) * eps
        covmean, _ = _sqrtm((cov_a + offset) @ (cov_b + offset))
        if not np.all(np.isfinite(covmean)):
            raise ValueError("The covariance square root is not finite even with eps on the diagonal; increase eps.")
    covmean = np.real(covmean)  # numerical error leaves a tiny imaginary part
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))
    return max(value, 0.0)  # a true distance is ≥ 0; round-off can dip below


def class_spread(labels, *, num_classes: int) -> dict[str, float]:
    """How evenly predicted classes are spread: entropy normalised by log K, and the largest share.

    A generator that covers every class evenly has entropy 1 and max share 1/K;
    mode collapse shows as low entropy and a large max share.
    """
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("Expected at least one label. Received: an empty array")
    if num_classes < 2:
        raise ValueError(f"Expected num_classes >= 2. Received: num_classes={num_classes!r}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"Expected labels in [0, {num_classes}). Received: min={labels.min()}, max={labels.max()}")
    share = np.bincount(labels.astype(np.int64), minlength=num_classes) / labels.size
    nz = share[share > 0]
    entropy = -(nz * np.log(nz)).sum() / np.log(num_classes)
    return {"class_entropy": abs(float(entropy)),  # ≥ 0; one class would give -0.0
            "max_class_share": float(share.max())}
