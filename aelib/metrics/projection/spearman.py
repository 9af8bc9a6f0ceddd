"""Spearman's ρ of condensed pairwise distances (average ranks for ties), and the seeded pair sample."""
from __future__ import annotations

import math

import numpy as np

from . import threads as _threads


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N, ties get the average of their ranks (as scipy's rankdata)."""
    m = x.shape[0]
    order = np.argsort(x)  # tie order does not matter: ties share their mean rank
    xs = x[order]
    new = np.empty(m, dtype=bool)
    new[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    del xs
    ranks = np.empty(m, dtype=np.float64)
    if new.all():  # no ties
        ranks[order] = np.arange(1.0, m + 1.0)
        return ranks
    starts = np.flatnonzero(new)
    del new
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = m
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    m = a.shape[0]
    if m < 2:
        return float("nan")
    centre = (m + 1) / 2.0
    if m >= 100_000 and _threads._n_threads() > 1:  # numpy's sort releases the GIL: rank both at once
        fa = _threads._pool().submit(_average_ranks, a)
        rb = _average_ranks(b)
        ra = fa.result()
    else:
        ra = _average_ranks(a)
        rb = _average_ranks(b)
    ra -= centre
    rb -= centre
    den = math.sqrt(float(np.dot(ra, ra)) * float(np.dot(rb, rb)))
    if den == 0.0:
        return float("nan")
    return float(np.dot(ra, rb)) / den


def _sample_pairs(n: int, m: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """m distinct pairs i < j, uniform, sorted by (i, j): (row pointer, columns)."""
    total = n * (n - 1) // 2
    rng = np.random.default_rng(seed)
    picked = np.zeros(0, dtype=np.int64)
    while picked.shape[0] < m:
        extra = int((m - picked.shape[0]) * 1.1) + 64
        picked = np.sort(np.concatenate((picked, rng.integers(0, total, size=extra, dtype=np.int64))))
        picked = picked[np.concatenate(([True], picked[1:] != picked[:-1]))]
    if picked.shape[0] > m:  # a random m of them, kept in order (no second sort)
        keep = np.zeros(picked.shape[0], dtype=bool)
        keep[rng.permutation(picked.shape[0])[:m]] = True
        picked = picked[keep]
    # condensed index q -> (i, j): row i starts at off(i) = i (2n - i - 1) / 2
    q = picked
    i = np.floor(((2 * n - 1) - np.sqrt((2.0 * n - 1) ** 2 - 8.0 * q)) / 2.0).astype(np.int64)
    np.clip(i, 0, n - 2, out=i)
    off = i * (2 * n - i - 1) // 2
    for _ in range(3):  # repair rounding of the square root
        down = q < off
        up = q >= off + (n - i - 1)
        if not (down.any() or up.any()):
            break
        i = i - down + up
        off = i * (2 * n - i - 1) // 2
    j = q - off + i + 1
    ptr = np.searchsorted(i, np.arange(n + 1)).astype(np.int64)
    return ptr, j.astype(np.int64)

