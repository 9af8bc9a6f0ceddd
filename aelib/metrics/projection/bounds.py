"""Rigorous error bounds on computed squared distances, and the test for data whose float64 arithmetic is exact.

See :func:`_error_bounds` for what is bounded and why; the kernels use these bounds to
decide which comparisons the computed distances settle and which need an exact check.
"""
from __future__ import annotations

import math

import numpy as np

_U64 = 2.0**-53
_U32 = 2.0**-24


def _gamma(m: int, u: float) -> float:
    """Higham's γ_m = m u / (1 − m u): relative error bound of m roundings."""
    return m * u / (1.0 - m * u)


def _error_bounds(d: int, d_raw: int, f32: bool, exact: bool, exact_raw: bool,
                  maxabs: float) -> tuple[float, float, float, float]:
    """(κ, τ, ρ, τ₁): rigorous bounds on the computed squared distances.

    Let D_ij be the exact squared distance of the points as given. The value
    the kernels compute from the Gram product of the centred points,
    A_ij = max(sq_i + sq_j − 2 g_ij, 0) (g in float32 when ``f32``), satisfies
    |A_ij − D_ij| ≤ κ (sq_i + sq_j) + τ. With u the unit roundoff and γ_m =
    m u/(1 − m u): centring rounds each coordinate (≤ 4.1 u₆₄ (sq_i + sq_j) on
    D), the norms are off by at most γ_d sq, the products by γ_d |x_i||x_j| ≤
    γ_d (sq_i + sq_j)/2 in any summation order (plus 2u₃₂ + u₃₂² for rounding x
    to float32), the assembly by 3u₆₄ (sq_i + sq_j) (by 4u₃₂ (sq_i + sq_j) more
    when it is done in float32); τ covers underflow. κ is
    inflated by 1 % and 16 u₆₄ to absorb the roundings of the comparisons
    themselves. The direct sum R = Σ_k (raw_ik − raw_jk)² in float64 satisfies
    |R − D| ≤ ρ R + τ₁ (γ_{d+2} for nonnegative terms in any order, with
    slack). ``exact_raw``: every difference and partial sum of R is exact (ρ =
    τ₁ = 0); ``exact``: so are the centring and the float64 Gram products
    (κ = τ = 0).
    """
    if exact_raw:
        rho = tau1 = 0.0
    else:
        rho = 1.01 * _gamma(d_raw + 3, _U64) + 8.0 * _U64
        tau1 = 16.0 * (d_raw + 1) * 2.0**-1074
    if exact:
        return 0.0, 0.0, rho, tau1
    if f32:
        eta = _gamma(d, _U32) * (1.0 + _U32) ** 2 + 2.0 * _U32 + _U32**2
        tau = 16.0 * (d + 1) * 2.0**-126 * (maxabs + 1.0)  # underflow: ≤ 2^-126 per rounding
    else:
        eta = _gamma(d, _U64)
        tau = 16.0 * (d + 1) * 2.0**-1022 * (maxabs + 1.0)
    kappa = 1.01 * (_gamma(d, _U64) + eta + 3.0 * _U64 * (1.0 + _U64) + 4.1 * _U64) + 16.0 * _U64
    if f32:  # the kernel forms A in float32: fl32(fl32(sq_i) + fl32(sq_j) − 2g) is off by ≤ 4u₃₂ (sq_i + sq_j)
        kappa += 4.1 * _U32
    return kappa, tau, rho, tau1


def _exact_grid(a: np.ndarray, varies=None, span: float = 0.0, raw: bool = False) -> bool:
    """True when float64 arithmetic on the squared distances of ``a`` is exact.

    That is when a·2^s is integral for a power of two with 4 d m² ≤ 2^53, m the
    largest |a·2^s| (centred data) or the largest column range ``span`` times
    2^s (``raw``: every difference is then exact however large the values;
    ``varies`` marks the columns that vary): every norm, Gram
    entry, difference and partial sum is an integer multiple of 2^(−2s) below
    2^53 · 2^(−2s), whatever the order of the sums.
    """
    n, d = a.shape
    if raw:
        if varies is None:  # all points equal
            return True
        sub = a[:, varies] if not varies.all() else a
        d = sub.shape[1]
        m = span
    else:
        sub = a
        m = float(np.abs(a).max())
    if m == 0.0:
        return True
    if not math.isfinite(m):
        return False
    lim = math.sqrt(2.0**51 / d) * (1.0 - 2.0**-40)
    s = math.floor(math.log2(lim / m))
    if abs(s) > 500:  # near the under- or overflow range: do not claim exactness
        return False
    for r0 in (0, 16):  # a few rows first: most data fail at once
        rows = sub[r0 : (16 if r0 == 0 else n)]
        if not np.array_equal(np.ldexp(np.rint(np.ldexp(rows, s)), -s), rows):  # rows = integers · 2^(−s)
            return False
    return True
