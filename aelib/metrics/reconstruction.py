"""Per-sample reconstruction error (docs/methods.md §4, step 4)."""
from __future__ import annotations

import numpy as np


def rmse_per_sample(x, x_hat) -> np.ndarray:
    """sqrt((1/d) Σ_i (x̂_i − x_i)²) for each sample, over its d values.

    Raises:
        ValueError: on shape mismatch, empty input, or NaN/infinite values.
    """
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"Expected x and x_hat of the same shape. Received: {x.shape} and {x_hat.shape}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"Expected at least one sample. Received: shape={x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(x_hat))):
        raise ValueError("x or x_hat contains NaN or infinite values.")
    diff = (x_hat - x).reshape(x.shape[0], -1)
    return np.sqrt(np.mean(diff * diff, axis=1))


def summarize(values, *, prefix: str = "rmse") -> dict[str, float]:
    """Mean, standard deviation, median and a normal 95 % interval of the mean."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = 1.96 * std / np.sqrt(n) if n > 1 else 0.0
    return {
        f"{prefix}_mean": mean,
        f"{prefix}_std": std,
        f"{prefix}_median": float(np.median(v)),
        f"{prefix}_ci95_low": mean - half,
        f"{prefix}_ci95_high": mean + half,
        f"{prefix}_n": int(n),
    }


def mean_image_rmse(x_train, x_test) -> np.ndarray:
    """Per-sample RMSE of predicting every test sample by the training mean — the floor any model must beat."""
    mean = np.asarray(x_train, dtype=np.float64).mean(axis=0, keepdims=True)
    return rmse_per_sample(x_test, np.broadcast_to(mean, np.shape(x_test)))
