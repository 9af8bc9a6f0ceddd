"""Scores of generated images (docs/methods.md §4, step 7): Fréchet distance between
feature distributions and the spread of predicted classes."""
from __future__ import annotations

import numpy as np

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


def _psd_root(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance matrix (its eigenvalues clipped at 0 against round-off)."""
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """Tr((Σa Σb)^{1/2}) as Σ √λ over the eigenvalues λ of the symmetric Σa^{1/2} Σb Σa^{1/2}, which has the
    eigenvalues of Σa Σb: two symmetric eigendecompositions instead of a general matrix square root, and
    no imaginary round-off to discard."""
    root_a = _psd_root(cov_a)
    middle = root_a @ cov_b @ root_a
    values = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def frechet_distance(feats_a, feats_b, *, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    d² = ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^{1/2}), with sample means and
    covariances (ddof = 1) — the quantity behind FID (Heusel et al. 2017).

    Args:
        feats_a, feats_b: features, shapes (n_a, d) and (n_b, d), n ≥ 2, finite.
        eps: added to both covariance diagonals when the trace of the matrix
            square root is not finite. Singular covariances (e.g. fewer
            samples than features) need no offset: the square root's trace is
            taken from the eigenvalues of Σa^{1/2} Σb Σa^{1/2}, clipped at 0.

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
    trace_root = _trace_sqrt_product(cov_a, cov_b)
    if not np.isfinite(trace_root):
        offset = np.eye(a.shape[1]) * eps
        trace_root = _trace_sqrt_product(cov_a + offset, cov_b + offset)
        if not np.isfinite(trace_root):
            raise ValueError("The covariance square root is not finite even with eps on the diagonal; increase eps.")
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
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
