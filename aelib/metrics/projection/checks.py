"""Input checks of the public functions, and the names of what they compute."""
from __future__ import annotations

import numpy as np

from .space import _group

STRESS_FORMS = ("seed", "raw", "scaled")
MEASURES = ("trustworthiness", "continuity", "stress", "neighborhood_hit", "shepard")



def _as_points(x, name: str) -> np.ndarray:
    """(n, d) float64 copy-free view where possible; >2 dims are flattened."""
    a = np.asarray(x)
    if a.ndim < 2:
        raise ValueError(
            f"Expected {name} with shape (n_samples, n_features) or more dimensions. "
            f"Received: shape={a.shape}"
        )
    if np.iscomplexobj(a) or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"Expected {name} of a real numeric dtype. Received: dtype={a.dtype}")
    if a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"Expected {name} with at least one sample and one feature. Received: shape={a.shape}")
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        bad = int(a.size - np.count_nonzero(finite))
        raise ValueError(f"{name} contains NaN or infinite values. Received: {bad} non-finite entries")
    return a


def _check_pair(x_high, x_low) -> tuple[np.ndarray, np.ndarray]:
    xh = _as_points(x_high, "x_high")
    xl = _as_points(x_low, "x_low")
    if xh.shape[0] != xl.shape[0]:
        raise ValueError(
            "Expected x_high and x_low with the same number of samples. "
            f"Received: {xh.shape[0]} and {xl.shape[0]}"
        )
    return xh, xl


def _check_k(k, n: int) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"Expected an integer k with 1 <= k < n/2. Received: k={k!r}, n={n}")
    k = int(k)
    if not (1 <= k and 2 * k < n):
        raise ValueError(f"Expected 1 <= k < n/2. Received: k={k}, n={n}")
    return k


def _check_labels(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"Expected labels of shape ({n},). Received: shape={y.shape}")
    if y.dtype.kind in "fc":
        missing = np.isnan(y)
    elif y.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, (float, np.floating)) and v != v) for v in y], dtype=bool)
    else:
        missing = np.zeros(n, dtype=bool)
    if missing.any():
        raise ValueError(f"Expected a label for every point. Received: {int(missing.sum())} missing (NaN or None) of "
                         f"{n}, the first at index {int(np.flatnonzero(missing)[0])}; drop those points or give them a "
                         "label.")
    try:
        codes, _ = _group(y)
    except TypeError as err:
        raise ValueError(f"Expected sortable labels. Received: dtype={y.dtype}") from err
    return codes


def _check_form(form) -> str:
    if form not in STRESS_FORMS:
        raise ValueError(f"Expected form in {STRESS_FORMS}. Received: form={form!r}")
    return form

