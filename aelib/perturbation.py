"""Latent perturbation for generative capacity (docs/methods.md §4, step 7) and
augmentation (§6)."""
from __future__ import annotations

import numpy as np

from aelib.checks import check_float

MODES = ("relative", "additive")


def perturb(z, max_fraction: float, *, mode: str = "relative", scale=None, seed: int = 0) -> np.ndarray:
    """Perturb codes with a uniform draw u ~ U(−p, p) per coordinate.

    Args:
        z: codes, shape (n, latent_dim).
        max_fraction: the maximum perturbation p, in [0, 1] (0.1 is 10 %).
        mode: ``"relative"`` multiplies every coordinate by (1 + u) — the seed
            study's protocol; ``"additive"`` adds u·σ_j, with σ_j = ``scale[j]``
            the spread of coordinate j over the training codes.
        scale: per-coordinate spread (shape (latent_dim,)), required in additive mode.
        seed: seed of the draw; the same seed gives the same perturbation.

    Returns:
        Perturbed codes, float32, same shape as ``z``; ``z`` itself is not modified.

    Raises:
        ValueError: p not a number in [0, 1] (None included), unknown mode, missing/negative/mis-shaped
            scale, or codes that are not a finite 2-D array.
    """
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2:
        raise ValueError(f"Expected codes of shape (n, latent_dim). Received: shape={z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("Codes contain NaN or infinite values.")
    p = check_float("max_fraction", max_fraction, minimum=0, maximum=1, note="a fraction, 0.1 = 10 %")
    if mode not in MODES:
        raise ValueError(f"Expected mode in {MODES}. Received: mode={mode!r}")
    if mode == "additive":
        if scale is None:
            raise ValueError("mode='additive' needs scale: the spread of each code coordinate over the training codes.")
        scale = np.asarray(scale, dtype=np.float32).reshape(-1)
        if scale.shape != (z.shape[1],):
            raise ValueError(f"Expected scale of shape ({z.shape[1]},). Received: shape={scale.shape}")
        if np.any(scale < 0) or not np.all(np.isfinite(scale)):
            raise ValueError(f"Expected a finite, non-negative scale. Received: min={float(np.min(scale))!r}")
    if p == 0.0:
        return z.copy()
    u = np.random.default_rng(seed).uniform(-p, p, size=z.shape).astype(np.float32)
    if mode == "relative":
        return z * (1.0 + u)
    return z + u * scale[None, :]


def code_scale(z_train) -> np.ndarray:
    """σ_j: the standard deviation of each code coordinate over the training codes."""
    z_train = np.asarray(z_train, dtype=np.float64)
    if z_train.ndim != 2 or len(z_train) < 2:
        raise ValueError("Expected at least two training codes of shape (n, latent_dim). "
                         f"Received: shape={z_train.shape}")
    return z_train.std(axis=0).astype(np.float32)
