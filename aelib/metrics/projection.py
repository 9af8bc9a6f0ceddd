"""Quality of a projection (original space → latent space), STUDY.md §4 step 5.

Five measures of an encoder seen as a dimensionality reduction, all from
Euclidean distances (neighbour decisions exact, see below):

* :func:`trustworthiness` and :func:`continuity` (Venna and Kaski): with
  r(i, j) the rank of j among the n − 1 other points seen from i (1 = nearest),
  U_i the points among the k nearest of i in the projection but not in the
  original space, and V_i the converse,
  T = 1 − 2/(n k (2n − 3k − 1)) Σ_i Σ_{j∈U_i} (r_orig(i, j) − k) and
  C = 1 − 2/(n k (2n − 3k − 1)) Σ_i Σ_{j∈V_i} (r_proj(i, j) − k);
  1 ≤ k < n/2 is required. ``continuity(x, y) == trustworthiness(y, x)``.
* :func:`normalized_stress` over the pairs i < j, Δo the original and Δq the
  projected distances: ``"seed"`` Σ(Δo − Δq)² / max(ΣΔo², ΣΔq²), ``"raw"``
  Σ(Δo − Δq)² / ΣΔo², ``"scaled"`` the raw form with Δq multiplied by
  α* = ΣΔoΔq / ΣΔq² (invariant to the scale of the projection).
* :func:`neighborhood_hit`: share of each point's k nearest projected
  neighbours with its label, averaged over the points; ``include_self=True`` is
  the survey's variant in which the point counts as its own first neighbour
  (itself plus its k − 1 nearest others).
* :func:`shepard_goodness`: (ρ + 1)/2, ρ the Spearman correlation of the
  condensed pairwise distances of both spaces (average ranks for ties), as
  ``scipy.stats.spearmanr(pdist(x_high), pdist(x_low))``; :func:`shepard_rho`
  gives ρ.

:func:`projection_quality` returns all of them from ONE blocked pass over the
rows: for a block of rows it computes the distances to all n points in both
spaces (one matrix product per space, so memory stays at a few block × n
buffers), and per row it finds the k nearest neighbours in both spaces (a
linear scan keeping the k best; no full sort), the rank of each projected
neighbour in the original space and vice versa (a count of the points closer
than d_ij; only for neighbours not shared by both lists, whose penalty is 0
otherwise), the stress sums, the label hits and the distances Spearman needs.
Spearman is exact over all n(n − 1)/2 pairs up to ``exact_spearman_max_n``
points and uses a seeded uniform sample of distinct pairs beyond.

Exact decisions. Neighbour lists and ranks are those of the EXACT squared
Euclidean distances between the points as given (in float64), ties broken by
index as a stable sort would: among equal distances the lower index ranks
first (r(i, j) = 1 + #{l ≠ i : d_il < d_ij or (d_il = d_ij and l < j)}). The
products |x|² + |y|² − 2x·y are only approximations A with a rigorous error
bound |A − D| ≤ κ (|x|² + |y|²) + τ (see :func:`_error_bounds`); every
comparison their bounds cannot settle (a near-tie) is settled by the direct
float64 sum Σ(x_k − y_k)² with its own bound, then by a double-double sum, then
by exact arithmetic (Shewchuk's expansions). That makes the results independent
of the BLAS and of the precision of the products: a space whose distances no
measure needs themselves (trustworthiness, continuity and neighbourhood hit
only; numba kernel; ≥ 16 features) has its products computed in float32, about
twice as fast, with the same decisions (float32 errors are ~1e-4 relative at
worst, so a few comparisons per row need the float64 check). Data on a small
binary grid (integers, say) are recognised, their float64 products are exact
and need no check. Exact duplicate points are found from the data (their
distance is 0 and every point sees all copies at bitwise the same value).

Stress and Spearman use the float64 products themselves (Gram form on data
shifted by a rounded column mean: for stress sums and average ranks a last-bit
difference is immaterial).

Threads and memory: with numba, the row blocks are shared by the CPUs (one
thread per CPU, each computing a block's products with single-threaded BLAS
(threadpoolctl) and then running the kernel on it, so that no core idles and
no BLAS thread spins beside the kernel; without threadpoolctl the kernel runs
beside the next block's products). Memory: the centred data per space (float32
when the products are), two block × n buffers per thread and space (32 MiB
each in float64), n × k neighbour lists, 16 bytes per Spearman pair plus its
sort buffers, and for a space of 64 or more features the Gram tiles right of
the diagonal, kept for the rows below so that each product is computed once
(at most about itemsize · n²/4 bytes: 100 MB at n = 10,000 in float32, 200 MB
in float64; only when that fits in 512 MiB, else they are recomputed). Time:
one n × n × d matrix product per space (half of it when tiles are kept), plus
O(n²) per-row work.

Differences from ``sklearn.manifold.trustworthiness``: identical results (to
~1e-15) whenever no two distances seen from one point are equal, checked on
random data and on the survey's real data (float32 and float64 input). With
ties sklearn's result depends on the order of its sort (``np.argsort``'s
default, not stable) and of its tree search, which may differ between the two
spaces: on data with duplicated rows it penalises copies of one point that the
two spaces list in different orders (on random data with a third of the rows
duplicated, sklearn's value was lower by 1e-4 to 8e-4), and on heavily tied
data (small integers) it differs by up to ~0.15. Here ties are broken by index
in both spaces, so duplicates cost nothing, and results agree with a naive
stable-argsort implementation on exact distances exactly. Shepard goodness equals
``scipy.stats.spearmanr(pdist(x_high), pdist(x_low))`` to ~1e-15 (exact
path).

The heavy per-row work runs in a numba kernel when numba is installed (it comes
with umap-learn) and the input is large; otherwise (or with
``AELIB_PROJECTION_BACKEND=numpy``) a numpy implementation with the same
semantics is used.
"""
from __future__ import annotations

import math
import os
from typing import Iterable

import numpy as np

__all__ = [
    "trustworthiness",
    "continuity",
    "normalized_stress",
    "neighborhood_hit",
    "shepard_goodness",
    "shepard_rho",
    "projection_quality",
    "STRESS_FORMS",
    "MEASURES",
]

STRESS_FORMS = ("seed", "raw", "scaled")
MEASURES = ("trustworthiness", "continuity", "stress", "neighborhood_hit", "shepard")

# Bytes for one block × n distance buffer (there are two, one per space).
_BLOCK_BYTES = 32 * 2**20
# Gram tiles are computed once and kept for the rows below (half the matrix
# products) for spaces of at least _REUSE_MIN_DIM features when the kept tiles
# (about 8 n²/4 bytes at most) fit in _REUSE_BYTES.
_REUSE_MIN_DIM = 64
_REUSE_BYTES = 512 * 2**20
# Spaces with at least this many features get float32 Gram products when no
# measure needs their distances themselves (neighbour decisions stay exact).
_F32_MIN_DIM = 16
# Below this many points the numpy kernel is used (numba's first compilation
# costs seconds; its cache lives in __pycache__).
_NUMBA_MIN_N = 1500

try:  # numba is optional: umap-learn brings it.
    import numba as _numba

    _HAVE_NUMBA = True
except Exception:  # pragma: no cover - depends on the environment
    _numba = None
    _HAVE_NUMBA = False


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# One space: centred data, squared norms, exact duplicate groups, error bounds
# --------------------------------------------------------------------------

_U64 = 2.0**-53
_U32 = 2.0**-24


def _gamma(m: int, u: float) -> float:
    """Higham's γ_m = m u / (1 − m u): relative error bound of m roundings."""
    return m * u / (1.0 - m * u)


class _Space:
    """One space: what the Gram products and the exact decisions need.

    ``raw``: the points as given (float64, C order); every decision is about
    their exact squared distances. ``xg``: the points centred (see
    :func:`_centre_shift`), float64, or float32 when ``f32`` is asked for and
    granted (float32 products; the kernels keep every decision exact, see
    :func:`_error_bounds`). ``sq``: squared norms of the centred float64 points.
    """

    def __init__(self, a: np.ndarray, f32: bool = False):
        self.raw = np.ascontiguousarray(a, dtype=np.float64)
        self.n = self.raw.shape[0]
        varies, shift, maxabs, span = _centre_shift(self.raw)
        self.d = int(varies.sum()) if varies is not None else 1
        # float32 products: values far from float32's limits only
        self.f32 = bool(f32) and maxabs <= 2.0**40
        if self.f32:  # centred in float64 chunk by chunk, kept in float32 only
            self.x = None
            self.xg = np.empty((self.n, self.d), dtype=np.float32)
            self.sq = np.empty(self.n)
            step = max(1, 2**19 // self.d)
            for r0 in range(0, self.n, step):
                part = _centred(self.raw[r0 : r0 + step], varies, shift)
                self.sq[r0 : r0 + step] = np.einsum("ij,ij->i", part, part)
                self.xg[r0 : r0 + step] = part
        else:
            self.x = _centred(self.raw, varies, shift)
            self.xg = self.x
            self.sq = np.einsum("ij,ij->i", self.x, self.x)
        gid, rep = _duplicate_groups(self.raw)
        empty = np.zeros(0, dtype=np.int64)
        if gid is None:
            self.dups = False
            self.gid = self.rep = self.nonrep = self.gptr = self.gmem = empty
        else:
            self.dups = True
            self.gid = gid
            self.rep = rep
            self.nonrep = np.flatnonzero(rep != np.arange(self.n)).astype(np.int64)
            counts = np.bincount(gid)
            self.gptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
            self.gmem = np.argsort(gid, kind="stable").astype(np.int64)
        # exact_raw: every float64 difference and sum over raw is exact;
        # exact: so are the centring and the Gram sums in float64 as well
        self.exact_raw = _exact_grid(self.raw, varies, span, raw=True)
        self.exact = self.exact_raw and not self.f32 and _exact_grid(self.x)
        self.kappa, self.tau, self.rho, self.tau1 = _error_bounds(self.d, self.raw.shape[1], self.f32,
                                                                  self.exact, self.exact_raw, maxabs)
        self.w = self.kappa * self.sq
        self.sq_g = self.sq.astype(self.xg.dtype)  # the norms in the products' type, for the kernel
        self.reuse = self.tiled = False

    def enable_reuse(self, block: int) -> None:
        """Compute each Gram entry once: keep the tiles right of the diagonal for later rows.

        Row blocks must then be asked for in order, all of size ``block`` (the last
        one may be shorter). Peak extra memory ≈ itemsize · n²/4 bytes.
        """
        self.reuse = True
        self._block = block
        self._tiles: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._free: list[np.ndarray] = []  # spent tile buffers, reused (no new pages)

    def enable_tiles(self, block: int) -> None:
        """Like :meth:`enable_reuse`, for the threaded numba path: row block t's
        products from its diagonal on are computed tile by tile (block × block)
        into a pool (``block_products``), where the tiles right of the diagonal
        stay for the later row blocks; those copy them in, transposed, into the
        columns left of their diagonal (``block_copy_in``). The kernel reads the
        rest from the pool. Peak pool use ≈ itemsize · n²/4 bytes (the pool is
        reserved larger, but only touched as needed)."""
        nb = -(-self.n // block)
        self.tiled = True
        self._block = block
        self._pool = np.empty((nb * (nb + 1) // 2, block, block), dtype=self.xg.dtype)
        self._free: list[int] = []
        self._next = 0
        self._slot: dict[tuple[int, int], int] = {}
        self._refs: dict[int, int] = {}  # slot -> users left (its kernel, the block copying it in)

    def plan_block(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Pool slots of row block t: the tiles (c, t), c < t, to copy in, and its
        own tiles (t, c), c ≥ t (−1 for c < t). Blocks must be planned in order.
        Each slot is :meth:`release`d by each of its users: the kernel of block t
        (all own tiles) and block c's copy-in (tile (t, c), c > t)."""
        if not self.tiled:
            none = np.zeros(0, dtype=np.int64)
            return none, none
        nb = -(-self.n // self._block)
        slots_in = np.array([self._slot.pop((c, t)) for c in range(t)], dtype=np.int64)
        own = np.full(nb, -1, dtype=np.int64)
        for c in range(t, nb):
            if self._free:
                s = self._free.pop()
            else:
                s = self._next
                self._next += 1
            own[c] = s
            self._refs[s] = 1
            if c > t:
                self._slot[(t, c)] = s
                self._refs[s] = 2
        return slots_in, own

    def block_products(self, t: int, r0: int, r1: int, out: np.ndarray, plan) -> tuple:
        """Row block t's own products (all of its rows when not tiled); returns the
        kernel's view (buffer, pool, own slots, block)."""
        buf = out[: r1 - r0]
        xg = self.xg
        if not self.tiled:
            np.dot(xg[r0:r1], xg.T, out=buf)
            return buf, np.zeros((1, 1, 1), dtype=xg.dtype), plan[1], 1
        b = self._block
        own = plan[1]
        for c in range(t, own.shape[0]):
            c0, c1 = c * b, min(self.n, c * b + b)
            np.matmul(xg[r0:r1], xg[c0:c1].T, out=self._pool[own[c], : r1 - r0, : c1 - c0])
        return buf, self._pool, own, b

    def block_copy_in(self, t: int, r0: int, r1: int, out: np.ndarray, plan) -> None:
        """Columns left of row block t's diagonal from the saved tiles (the blocks
        before t must have computed their products); the slots read are then
        for :meth:`release`, and so are block t's own once its kernel is done."""
        if not self.tiled:
            return
        buf = out[: r1 - r0]
        b = self._block
        slots_in = plan[0]
        for c in range(t):
            buf[:, c * b : c * b + b] = self._pool[slots_in[c], :, : r1 - r0].T

    def release(self, slots) -> None:
        """One user of each slot is done with it; free those nobody needs any more."""
        for s in slots:
            if s < 0:
                continue
            s = int(s)
            self._refs[s] -= 1
            if self._refs[s] == 0:
                del self._refs[s]
                self._free.append(s)

    def gram_rows(self, r0: int, r1: int, out: np.ndarray) -> np.ndarray:
        """Rows r0..r1 of the Gram matrix xg xgᵀ, written into ``out`` (of xg's dtype)."""
        buf = out[: r1 - r0]
        xg = self.xg
        if not self.reuse:
            np.dot(xg[r0:r1], xg.T, out=buf)
            return buf
        b = self._block
        for c0 in range(0, r0, b):  # left of the diagonal: saved by earlier row blocks
            tile, base = self._tiles.pop((c0, r0))
            buf[:, c0 : c0 + b] = tile.T
            self._free.append(base)
        np.matmul(xg[r0:r1], xg[r0:].T, out=buf[:, r0:])  # BLAS writes into the strided view
        for c0 in range(r1, self.n, b):
            c1 = min(self.n, c0 + b)
            base = self._free.pop() if self._free else np.empty((b, b), dtype=xg.dtype)
            tile = base[: r1 - r0, : c1 - c0]
            tile[...] = buf[:, c0:c1]
            self._tiles[(r0, c0)] = (tile, base)
        return buf


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


def _centre_shift(a: np.ndarray):
    """(columns that vary or None if none does, per-column shift, max |centred value|, max range).

    The shift is the mean rounded to a multiple of the largest power of two not
    above the column's range, so data on a dyadic grid (integers, for one) stay
    on it and their distances stay exact, while the offset that would cost
    precision in |x|² + |y|² − 2x·y is removed. Constant columns are dropped
    (they add exactly 0 to every distance).
    """
    lo = a.min(axis=0)
    hi = a.max(axis=0)
    span = hi - lo
    varies = span > 0
    if not varies.any():
        return None, None, 0.0, 0.0
    lo, hi, span = lo[varies], hi[varies], span[varies]
    q = np.exp2(np.floor(np.log2(span)))
    mean = (a[:, varies] if not varies.all() else a).mean(axis=0)
    shift = np.round(mean / q) * q
    # rounding is monotonic, so the extremes of each column stay the extremes
    maxabs = float(max(np.abs(lo - shift).max(), np.abs(hi - shift).max()))
    return varies, shift, maxabs, float(span.max())


def _centred(a: np.ndarray, varies, shift) -> np.ndarray:
    """a[:, varies] − shift as a new C-ordered float64 array (zeros (n, 1) if nothing varies)."""
    if varies is None:
        return np.zeros((a.shape[0], 1))
    sub = a[:, varies] if not varies.all() else a
    x = np.subtract(sub, shift, order="C")  # a new array
    x += 0.0  # turn -0.0 into +0.0
    return x


def _duplicate_groups(a: np.ndarray):
    """Group ids (None if all rows differ) and each row's first copy (equal values).

    Rows are hashed from their bytes (integer arithmetic, exact; −0.0 read as
    +0.0), equal hashes are checked value for value; a hash collision falls
    back to sorting the rows.
    """
    n, d = a.shape
    gid, first = _group(_row_hash(a.view(np.uint64)))
    if first.shape[0] == n:
        return None, None
    rep = first[gid]
    if not np.array_equal(a, a[rep]):  # hash collision: do it exactly
        words = np.ascontiguousarray(a + 0.0)  # +0.0: equal values, equal bytes
        gid, first = _group(words.view(np.dtype((np.void, 8 * d))).reshape(-1))
        if first.shape[0] == n:
            return None, None
        rep = first[gid]
    return gid, rep


_NEG_ZERO = np.uint64(1 << 63)  # the bytes of -0.0


def _row_hash(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of a C-contiguous uint64 array (float64 bytes).

    Σ_k h_k · m_k modulo 2**64 over the 32-bit halves h_k of the row, with odd
    random 64-bit m_k: every half enters by a bijection, so equal rows get equal
    hashes and different rows rarely collide (float64 words of round numbers
    have many zero low bits, which a product of whole 64-bit words would lose).
    The word of -0.0 counts as that of +0.0.
    """
    n, d = words.shape
    mult = np.random.default_rng(0x5EED).integers(0, 2**63, size=2 * d, dtype=np.uint64)
    mult |= np.uint64(1)
    if _HAVE_NUMBA and n * d >= 2**16:
        return _nb_row_hash(words, mult)
    out = np.empty(n, dtype=np.uint64)
    step = max(1, 2**20 // max(1, d))  # rows per chunk: ~16 MiB of uint64
    with np.errstate(over="ignore"):
        for r0 in range(0, n, step):
            w = words[r0 : r0 + step]
            w = np.where(w == _NEG_ZERO, np.uint64(0), w)
            out[r0 : r0 + step] = w.view(np.uint32).astype(np.uint64) @ mult  # wraps modulo 2**64
    return out


if _HAVE_NUMBA:

    @_numba.njit(cache=True, nogil=True)
    def _nb_row_hash(words, mult):  # pragma: no cover - compiled
        n, d = words.shape
        out = np.empty(n, dtype=np.uint64)
        low = np.uint64(0xFFFFFFFF)
        sh = np.uint64(32)
        for r in range(n):
            acc = np.uint64(0)
            for k in range(d):
                w = words[r, k]
                if w == _NEG_ZERO:
                    w = np.uint64(0)
                acc += (w & low) * mult[2 * k] + (w >> sh) * mult[2 * k + 1]
            out[r] = acc
        return out


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group id of each key (groups numbered by sorted key) and each group's lowest index."""
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    new = np.empty(ks.shape[0], dtype=bool)
    new[:1] = True
    new[1:] = ks[1:] != ks[:-1]
    gid = np.empty(ks.shape[0], dtype=np.int64)
    gid[order] = np.cumsum(new) - 1
    return gid, order[new].astype(np.int64)


# --------------------------------------------------------------------------
# Kernels. Both get one block of rows r0..r0+b of the Gram matrix of each
# space and fill per-row outputs. Neighbour lists and ranks are decided on the
# EXACT squared distances D of the centred points (ties by index): the
# computed values A (from the Gram product, float64 or float32) settle every
# comparison whose error bounds do not overlap; the others are settled by the
# direct float64 sum R with its bound, then (numba) a double-double sum, then
# exact arithmetic (Shewchuk's expansions in numba, Python integers in numpy).
# --------------------------------------------------------------------------


class _Out:
    def __init__(self, n: int, k: int):
        self.knn_h = np.zeros((n, k), dtype=np.int64)
        self.knn_l = np.zeros((n, k), dtype=np.int64)
        self.pen_t = np.zeros(n, dtype=np.int64)
        self.pen_c = np.zeros(n, dtype=np.int64)
        self.hits = np.zeros(n, dtype=np.int64)
        self.hits_self = np.zeros(n, dtype=np.int64)
        # per row: Σo², Σq², Σoq, Σ(o−q)², Σ(o−q)q over the pairs (i, j > i)
        self.stress = np.zeros((n, 5), dtype=np.float64)


def _np_sqdist(g: np.ndarray, sp: _Space, r0: int) -> np.ndarray:
    """Gram rows -> squared distances (float64), duplicates made exact."""
    b = g.shape[0]
    rows = np.arange(r0, r0 + b)
    g = g.astype(np.float64, copy=False)
    g *= -2.0
    g += sp.sq[r0 : r0 + b, None]
    g += sp.sq[None, :]
    np.maximum(g, 0.0, out=g)
    if sp.dups:
        g[:, sp.nonrep] = g[:, sp.rep[sp.nonrep]]
        g[sp.gid[None, :] == sp.gid[rows, None]] = 0.0
    else:
        g[np.arange(b), rows] = 0.0
    return g


def _np_topk(d: np.ndarray, k: int) -> np.ndarray:
    """k smallest of each row by (distance, index), in that order (exact distances)."""
    b = d.shape[0]
    part = np.argpartition(d, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(d, part, axis=1).max(axis=1)
    le = d <= kth[:, None]
    out = np.empty((b, k), dtype=np.int64)
    for r in range(b):
        cand = np.flatnonzero(le[r])  # increasing index
        order = np.argsort(d[r, cand], kind="stable")[:k]
        out[r] = cand[order]
    return out


def _np_rank(row: np.ndarray, j: int) -> int:
    v = row[j]
    return 1 + int(np.count_nonzero(row[:j] <= v)) + int(np.count_nonzero(row[j + 1 :] < v))


def _np_direct(sp: _Space, i: int, cols) -> tuple[np.ndarray, np.ndarray]:
    """Direct float64 sums R = Σ_k (x_ik − x_ck)² and their error bounds."""
    diff = sp.raw[cols] - sp.raw[i]
    r = np.einsum("ij,ij->i", diff, diff)
    return r, sp.rho * r + sp.tau1


def _np_exact_sign(sp: _Space, i: int, a: int, b: int) -> int:
    """sign(D_ia − D_ib), exactly (Python integers)."""
    v = sp.raw[[i, a, b]]
    mant, expo = np.frexp(v)
    m = (mant * 2.0**53).astype(np.int64)  # exact: v = m · 2^(expo − 53)
    e = expo.astype(np.int64) - 53
    nz = m != 0
    e0 = int(e[nz].min()) if nz.any() else 0
    ints = [[int(mm) << int(ee - e0) if mm else 0 for mm, ee in zip(mr, er)] for mr, er in zip(m, e)]
    da = sum((p - q) * (p - q) for p, q in zip(ints[0], ints[1]))
    db = sum((p - q) * (p - q) for p, q in zip(ints[0], ints[2]))
    return (da > db) - (da < db)


def _np_before(sp: _Space, i: int, a: int, ra: float, ea: float, b: int, rb: float, eb: float) -> bool:
    """(D_ia, a) < (D_ib, b), exactly."""
    if sp.dups and sp.gid[a] == sp.gid[b]:
        return a < b
    if sp.exact:
        return ra < rb or (ra == rb and a < b)
    if ra + ea < rb - eb:
        return True
    if rb + eb < ra - ea:
        return False
    s = _np_exact_sign(sp, i, a, b)
    return s < 0 or (s == 0 and a < b)


def _np_topk_exact(d: np.ndarray, sp: _Space, r0: int, k: int) -> np.ndarray:
    """k nearest by (exact distance, index) from approximate rows d (self at +inf)."""
    if sp.kappa == 0.0:  # the computed values are the exact distances
        return _np_topk(d, k)
    import functools

    b = d.shape[0]
    w = sp.w
    up = d + w
    kth = np.partition(up, k - 1, axis=1)[:, k - 1]
    out = np.empty((b, k), dtype=np.int64)
    for r in range(b):
        i = r0 + r
        wi = sp.kappa * sp.sq[i] + sp.tau
        lim = kth[r] + 2.0 * wi + 8.0 * _U64 * (kth[r] + wi)
        cand = np.flatnonzero(d[r] - w <= lim)
        rr, ee = _np_direct(sp, i, cand)
        order = np.lexsort((cand, rr))
        cand, rr, ee = cand[order], rr[order], ee[order]
        separated = np.all(rr[:-1] + ee[:-1] < rr[1:] - ee[1:])
        if not separated:
            info = {int(c): (float(rv), float(ev)) for c, rv, ev in zip(cand, rr, ee)}

            def cmp(a, c, info=info, i=i):
                if a == c:
                    return 0
                return -1 if _np_before(sp, i, a, *info[a], c, *info[c]) else 1

            cand = np.array(sorted(info, key=functools.cmp_to_key(cmp)), dtype=np.int64)
        out[r] = cand[:k]
    return out


def _np_rank_exact(row: np.ndarray, sp: _Space, i: int, j: int) -> int:
    """1 + #{c ≠ i : (D_ic, c) < (D_ij, j)} from an approximate row (self at +inf)."""
    if sp.kappa == 0.0:
        return _np_rank(row, j)
    w = sp.w
    wi = sp.kappa * sp.sq[i] + sp.tau
    (rj,), (ej,) = _np_direct(sp, i, [j])
    marg = wi + 8.0 * _U64 * (rj + ej + wi)
    lo, hi = rj - ej - marg, rj + ej + marg
    certain = row + w < lo
    unsure = np.flatnonzero(~certain & (row - w <= hi))
    unsure = unsure[unsure != j]
    cnt = int(np.count_nonzero(certain))
    if unsure.size:
        rr, ee = _np_direct(sp, i, unsure)
        cnt += sum(_np_before(sp, i, int(c), float(rc), float(ec), j, float(rj), float(ej))
                   for c, rc, ec in zip(unsure, rr, ee))
    return 1 + cnt


def _np_block(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
              sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out, wait=True):
    b = gl.shape[0]
    n = gl.shape[1]
    dl = _np_sqdist(gl, sl, r0)
    dh = _np_sqdist(gh, sh, r0) if use_h else None
    rows = np.arange(r0, r0 + b)
    if want_stress:
        upper = np.arange(n)[None, :] > rows[:, None]
        o = np.sqrt(np.where(upper, dh, 0.0))
        q = np.sqrt(np.where(upper, dl, 0.0))
        e = o - q
        out.stress[r0 : r0 + b, 0] = np.einsum("ij,ij->i", o, o)
        out.stress[r0 : r0 + b, 1] = np.einsum("ij,ij->i", q, q)
        out.stress[r0 : r0 + b, 2] = np.einsum("ij,ij->i", o, q)
        out.stress[r0 : r0 + b, 3] = np.einsum("ij,ij->i", e, e)
        out.stress[r0 : r0 + b, 4] = np.einsum("ij,ij->i", e, q)
    if sp_mode == 1:
        for r in range(b):
            i = r0 + r
            off = i * n - i * (i + 1) // 2
            sp_h[off : off + n - i - 1] = np.sqrt(dh[r, i + 1 :])
            sp_l[off : off + n - i - 1] = np.sqrt(dl[r, i + 1 :])
    elif sp_mode == 2:
        lo, hi = sp_ptr[r0], sp_ptr[r0 + b]
        if hi > lo:
            rr = np.repeat(np.arange(b), np.diff(sp_ptr[r0 : r0 + b + 1]))
            cols = sp_cols[lo:hi]
            sp_h[lo:hi] = np.sqrt(dh[rr, cols])
            sp_l[lo:hi] = np.sqrt(dl[rr, cols])
    if not want_knn:
        return
    dl[np.arange(b), rows] = np.inf
    out.knn_l[r0 : r0 + b] = _np_topk_exact(dl, sl, r0, k)
    if use_h:
        dh[np.arange(b), rows] = np.inf
        out.knn_h[r0 : r0 + b] = _np_topk_exact(dh, sh, r0, k)
    for r in range(b):
        i = r0 + r
        nl = out.knn_l[i]
        if want_t or want_c:
            sl_, sh_ = set(nl.tolist()), set(out.knn_h[i].tolist())
            if want_t:
                out.pen_t[i] = sum(_np_rank_exact(dh[r], sh, i, j) - k for j in sl_ - sh_)
            if want_c:
                out.pen_c[i] = sum(_np_rank_exact(dl[r], sl, i, j) - k for j in sh_ - sl_)
        if want_nh:
            same = labels[nl] == labels[i]
            out.hits[i] = int(np.count_nonzero(same))
            out.hits_self[i] = 1 + int(np.count_nonzero(same[: k - 1]))


if _HAVE_NUMBA:
    _njit = _numba.njit(cache=True, nogil=True)
    _SPLIT = 134217729.0  # 2^27 + 1, Veltkamp's splitter
    _CHUNK = 64  # the rank's second scan tests a chunk at once (vectorised) before its entries

    @_njit
    def _nb_assemble(gv, r, row, sq, i, dups, nonrep, rep, gptr, gmem, gid):  # pragma: no cover - compiled
        """row = squared distances of point i (row r of the block) from its Gram row.

        ``gv`` = (buffer, pool, slots, width): column block cb (``width``
        columns) is pool[slots[cb]] where slots[cb] ≥ 0, else the buffer (all
        of it when there are no slots). All in one type, float32 or float64
        (``sq`` too): max(sq_i + sq_c − 2 g_ic, 0).
        """
        g, pool, slots, width = gv
        n = row.shape[0]
        si = sq[i]
        zero = np.zeros(1, dtype=row.dtype)[0]
        if slots.shape[0] == 0:
            for c in range(n):
                v = g[r, c]
                row[c] = max(si + sq[c] - (v + v), zero)
        else:
            for cb in range(slots.shape[0]):
                c0 = cb * width
                c1 = min(n, c0 + width)
                s = slots[cb]
                if s < 0:
                    for c in range(c0, c1):
                        v = g[r, c]
                        row[c] = max(si + sq[c] - (v + v), zero)
                else:
                    for c in range(c0, c1):
                        v = pool[s, r, c - c0]
                        row[c] = max(si + sq[c] - (v + v), zero)
        if dups:
            for t in range(nonrep.shape[0]):
                c = nonrep[t]
                row[c] = row[rep[c]]
            gg = gid[i]
            for t in range(gptr[gg], gptr[gg + 1]):
                row[gmem[t]] = 0.0
        else:
            row[i] = 0.0

    @_njit
    def _nb_direct(x, i, c):  # pragma: no cover - compiled
        """Σ_k (x_ik − x_ck)² in float64 (four partial sums, a fixed order)."""
        d = x.shape[1]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        q = 0
        while q + 4 <= d:
            t0 = x[i, q] - x[c, q]
            t1 = x[i, q + 1] - x[c, q + 1]
            t2 = x[i, q + 2] - x[c, q + 2]
            t3 = x[i, q + 3] - x[c, q + 3]
            s0 += t0 * t0
            s1 += t1 * t1
            s2 += t2 * t2
            s3 += t3 * t3
            q += 4
        while q < d:
            t0 = x[i, q] - x[c, q]
            s0 += t0 * t0
            q += 1
        return (s0 + s1) + (s2 + s3)

    @_njit
    def _nb_two_sum(a, b):  # pragma: no cover - compiled
        s = a + b
        bb = s - a
        return s, (a - (s - bb)) + (b - bb)

    @_njit
    def _nb_two_prod(a, b):  # pragma: no cover - compiled
        p = a * b
        t = _SPLIT * a
        ah = t - (t - a)
        al = a - ah
        t = _SPLIT * b
        bh = t - (t - b)
        bl = b - bh
        return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl

    @_njit
    def _nb_dd(x, i, c):  # pragma: no cover - compiled
        """D_ic as hi + lo (double-double) and a bound on |hi + lo − D_ic|.

        (x_ik − x_ck) = s + e exactly, s² = p + pe exactly; Σp is carried exactly
        as hi + Σt, the small terms t + pe + 2se + e² are summed in float64.
        """
        d = x.shape[1]
        hi = 0.0
        lo = 0.0
        mag = 0.0
        for q in range(d):
            s, e = _nb_two_sum(x[i, q], -x[c, q])
            p, pe = _nb_two_prod(s, s)
            hi, t = _nb_two_sum(hi, p)
            se = 2.0 * s * e
            ee = e * e
            lo += ((t + pe) + se) + ee
            mag += ((abs(t) + abs(pe)) + abs(se)) + ee
        g = (d + 6) * 2.0**-53
        bound = 1.01 * g / (1.0 - g) * mag + 64.0 * (d + 1) * 2.0**-1074
        return hi, lo, bound

    @_njit
    def _nb_cmp_dd(x, i, a, b):  # pragma: no cover - compiled
        """sign(D_ia − D_ib) from double-double sums, or 2 when they cannot tell."""
        ha, la, ba = _nb_dd(x, i, a)
        hb, lb, bb = _nb_dd(x, i, b)
        h, t = _nb_two_sum(ha, -hb)
        r = t + (la - lb)
        q = h + r
        margin = ba + bb + 4.0 * 2.0**-53 * (abs(t) + abs(la) + abs(lb) + abs(q)) + 2.0**-1070
        if q > margin:
            return 1
        if q < -margin:
            return -1
        return 2

    @_njit
    def _nb_grow(parts, m, v):  # pragma: no cover - compiled
        """Add v to the nonoverlapping expansion parts[:m] (Shewchuk; Python's fsum)."""
        j = 0
        for t in range(m):
            y = parts[t]
            if abs(v) < abs(y):
                v, y = y, v
            hi = v + y
            lo = y - (hi - v)
            if lo != 0.0:
                parts[j] = lo
                j += 1
            v = hi
        parts[j] = v
        return j + 1

    @_njit
    def _nb_cmp_exact(x, i, a, b):  # pragma: no cover - compiled
        """sign(D_ia − D_ib) exactly: every term of Σ (s + e)² split into exact floats."""
        d = x.shape[1]
        parts = np.empty(12 * d + 2)
        m = 0
        for q in range(d):
            for side in range(2):
                c = a if side == 0 else b
                sg = 1.0 if side == 0 else -1.0
                s, e = _nb_two_sum(x[i, q], -x[c, q])
                p1, p2 = _nb_two_prod(s, s)
                p3, p4 = _nb_two_prod(2.0 * s, e)
                p5, p6 = _nb_two_prod(e, e)
                for v in (p1, p2, p3, p4, p5, p6):
                    if v != 0.0:
                        m = _nb_grow(parts, m, sg * v)
        for t in range(m - 1, -1, -1):  # the largest nonzero part has the sign of the sum
            if parts[t] > 0.0:
                return 1
            if parts[t] < 0.0:
                return -1
        return 0

    @_njit
    def _nb_before(x, i, a, ra, ea, b, rb, eb, exact, dups, gid):  # pragma: no cover - compiled
        """(D_ia, a) < (D_ib, b) exactly, given the direct sums ra, rb and their bounds."""
        if dups and gid[a] == gid[b]:
            return a < b
        if exact:
            if ra != rb:
                return ra < rb
            return a < b
        if ra + ea < rb - eb:
            return True
        if rb + eb < ra - ea:
            return False
        s = _nb_cmp_dd(x, i, a, b)
        if s == 2:
            s = _nb_cmp_exact(x, i, a, b)
        if s != 0:
            return s < 0
        return a < b

    @_njit
    def _nb_topk(row, k, scratch, out):  # pragma: no cover - compiled
        """k smallest of an exact row by (value, index)."""
        td = np.full(k, np.inf)
        kd = np.inf
        n = row.shape[0]
        nb = n // _CHUNK
        for blk in range(nb + 1):
            c0 = blk * _CHUNK
            c1 = n
            if blk < nb:
                c1 = c0 + _CHUNK
                lim = kd
                hit = np.int32(0)
                for t in range(_CHUNK):  # vectorised: most chunks hold no new neighbour
                    hit += np.int32(row[c0 + t] < lim)
                if hit == 0:
                    continue
            for c in range(c0, c1):
                d = row[c]
                if d < kd:
                    p = k - 1
                    while p > 0 and td[p - 1] > d:
                        td[p] = td[p - 1]
                        out[p] = out[p - 1]
                        p -= 1
                    td[p] = d
                    out[p] = c
                    kd = td[k - 1]

    @_njit
    def _nb_knn(row, sp, i, k, out, cand, cr, ce):  # pragma: no cover - compiled
        """The k nearest of point i by (exact distance, index), the k-th last.

        Every |A_ic − D_ic| is at most W = κ (sq_i + max sq) + τ. A scan keeps the k
        smallest A (kd the k-th) and every point with A ≤ kd + 2W (+ slack), which
        could be among the k nearest. When those are just k and the k-th is
        more than 2W beyond the (k − 1)-th, the set and its k-th member are
        certain (the order of the first k − 1 is then by A, which no measure
        needs exactly); else the candidates are ordered by the exact comparison.
        """
        sq, kappa, tau, rho, tau1, exact, x, dups, gid, sqmax, rnd = (
            sp[0], sp[1], sp[2], sp[3], sp[4], sp[5], sp[6], sp[7], sp[8], sp[9], sp[10])
        if kappa == 0.0:
            _nb_topk(row, k, cand, out)
            return
        n = row.shape[0]
        w2 = 2.0 * (kappa * (sq[i] + sqmax) + tau)
        eps = 8.0 * 2.0**-53
        for p in range(k):
            cr[p] = np.inf
        kd = np.inf
        lim = np.inf
        th = np.empty(1, dtype=row.dtype)  # lim in the row's type, rounded up
        th[0] = np.inf
        m = 0
        nb = n // _CHUNK
        for blk in range(nb + 1):
            c0 = blk * _CHUNK
            c1 = n
            if blk < nb:
                c1 = c0 + _CHUNK
                lim_t = th[0]
                hit = np.int32(0)
                for t in range(_CHUNK):  # vectorised: most chunks hold no candidate
                    hit += np.int32(row[c0 + t] <= lim_t)
                if hit == 0:
                    continue
            for c in range(c0, c1):
                a = np.float64(row[c])
                if a <= lim:
                    cand[m] = c
                    m += 1
                    if a < kd:
                        p = k - 1
                        while p > 0 and cr[p - 1] > a:
                            cr[p] = cr[p - 1]
                            out[p] = out[p - 1]
                            p -= 1
                        cr[p] = a
                        out[p] = c
                        kd = cr[k - 1]
                        lim = kd + w2 + eps * (kd + w2)
                        th[0] = lim + (lim * rnd + 2.0**-140 if rnd > 0.0 else 0.0)
        # Usually settled already: exactly k candidates (the set is certain), and
        # the k-th of them certainly the farthest (NH's "itself + k − 1" needs it).
        live = 0
        for t in range(m):
            live += np.int64(row[cand[t]] <= lim)
        if live == k and (k == 1 or cr[k - 2] + w2 + eps * (cr[k - 1] + w2) < cr[k - 1]):
            return
        cnt = 0
        for t in range(m):
            c = cand[t]
            if not (row[c] <= lim):
                continue
            r = _nb_direct(x, i, c)
            e = rho * r + tau1
            if cnt == k and not _nb_before(x, i, c, r, e, out[k - 1], cr[k - 1], ce[k - 1], exact, dups, gid):
                continue
            p = cnt if cnt < k else k - 1
            while p > 0 and _nb_before(x, i, c, r, e, out[p - 1], cr[p - 1], ce[p - 1], exact, dups, gid):
                out[p] = out[p - 1]
                cr[p] = cr[p - 1]
                ce[p] = ce[p - 1]
                p -= 1
            out[p] = c
            cr[p] = r
            ce[p] = e
            if cnt < k:
                cnt += 1

    @_njit
    def _nb_rank_exact_row(row, j):  # pragma: no cover - compiled
        # 1 + #{c : d_c < d_j or (d_c = d_j and c < j)}; one branch-free loop
        # with a 32-bit counter, which LLVM vectorises
        v = row[j]
        cnt = np.int32(0)
        for c in range(row.shape[0]):
            d = row[c]
            cnt += np.int32((d < v) | ((d == v) & (c < j)))
        return np.int64(cnt) + 1

    @_njit
    def _nb_band(row, lo, hi, rnd):  # pragma: no cover - compiled
        """lo, hi in the row's own type (for float32 rows rounded outwards)."""
        th = np.empty(2, dtype=row.dtype)
        th[0] = lo - (abs(lo) * rnd + 2.0**-140) if rnd > 0.0 else lo
        th[1] = hi + (abs(hi) * rnd + 2.0**-140) if rnd > 0.0 else hi
        return th[0], th[1]

    @_njit
    def _nb_rank(row, sp, i, j):  # pragma: no cover - compiled
        """1 + #{c ≠ i : (D_ic, c) < (D_ij, j)} (self at +inf in row).

        Every |A_ic − D_ic| ≤ W = κ (sq_i + max sq) + τ. First pass: A_c < A_j − 2W
        is certainly closer, A_c > A_j + 2W certainly farther; when nothing but j
        lies between (the usual case), that is the rank. Else the direct sum R_j
        narrows the band to R_j ± (W + its bound), and the points left in it are
        compared exactly.
        """
        sq, kappa, tau, rho, tau1, exact, x, dups, gid, sqmax, rnd = (
            sp[0], sp[1], sp[2], sp[3], sp[4], sp[5], sp[6], sp[7], sp[8], sp[9], sp[10])
        if kappa == 0.0:
            return _nb_rank_exact_row(row, j)
        n = row.shape[0]
        w = kappa * (sq[i] + sqmax) + tau
        aj = np.float64(row[j])
        marg = 2.0 * w + 8.0 * 2.0**-53 * (aj + 2.0 * w)
        lo, hi = _nb_band(row, aj - marg, aj + marg, rnd)
        nlo = np.int32(0)
        nhi = np.int32(0)
        for c in range(n):  # branch-free, vectorised
            a = row[c]
            nlo += np.int32(a < lo)
            nhi += np.int32(a <= hi)
        if nhi - nlo == 1:  # only j itself is uncertain
            return np.int64(nlo) + 1
        rj = _nb_direct(x, i, j)
        ej = rho * rj + tau1
        marg = w + ej + 8.0 * 2.0**-53 * (rj + w + ej)
        lo, hi = _nb_band(row, rj - marg, rj + marg, rnd)  # A < lo: certainly closer; A > hi: farther
        cnt = np.int64(0)
        nb = n // _CHUNK
        for blk in range(nb + 1):
            c0 = blk * _CHUNK
            c1 = n
            if blk < nb:
                c1 = c0 + _CHUNK
                below = np.int32(0)
                hit = np.int32(0)
                for t in range(_CHUNK):  # vectorised: most chunks hold no uncertain point
                    a = row[c0 + t]
                    below += np.int32(a < lo)
                    hit += np.int32((lo <= a) & (a <= hi))
                cnt += below
                if hit == 0:
                    continue
            else:
                for c in range(c0, c1):
                    cnt += np.int64(row[c] < lo)
            for c in range(c0, c1):
                a = row[c]
                if lo <= a and a <= hi and c != j:
                    r = _nb_direct(x, i, c)
                    if _nb_before(x, i, c, r, rho * r + tau1, j, rj, ej, exact, dups, gid):
                        cnt += 1
        if row[j] < lo:  # cannot happen while the bounds hold; then counted j itself
            cnt -= 1
        return cnt + 1

    @_njit
    def _nb_penalty(row, sp, i, mine, other, k):  # pragma: no cover - compiled
        pen = 0
        for m in range(k):
            j = mine[m]
            shared = False
            for q in range(k):
                if other[q] == j:
                    shared = True
                    break
            if not shared:
                pen += _nb_rank(row, sp, i, j) - k
        return pen

    @_njit
    def _nb_stress_row(rowh, rowl, i, oh, ql, out5):  # pragma: no cover - compiled
        """out5 = Σo², Σq², Σoq, Σ(o−q)², Σ(o−q)q over c > i, o = √rowh, q = √rowl."""
        n = rowh.shape[0]
        for c in range(i + 1, n):  # square roots first (exact, IEEE)
            oh[c] = math.sqrt(rowh[c])
            ql[c] = math.sqrt(rowl[c])
        # four independent partial sums per quantity (a fixed order)
        a0 = a1 = a2 = a3 = 0.0
        b0 = b1 = b2 = b3 = 0.0
        m0 = m1 = m2 = m3 = 0.0
        e0 = e1 = e2 = e3 = 0.0
        f0 = f1 = f2 = f3 = 0.0
        c = i + 1
        while c + 4 <= n:
            o = oh[c]
            q = ql[c]
            e = o - q
            a0 += o * o
            b0 += q * q
            m0 += o * q
            e0 += e * e
            f0 += e * q
            o = oh[c + 1]
            q = ql[c + 1]
            e = o - q
            a1 += o * o
            b1 += q * q
            m1 += o * q
            e1 += e * e
            f1 += e * q
            o = oh[c + 2]
            q = ql[c + 2]
            e = o - q
            a2 += o * o
            b2 += q * q
            m2 += o * q
            e2 += e * e
            f2 += e * q
            o = oh[c + 3]
            q = ql[c + 3]
            e = o - q
            a3 += o * o
            b3 += q * q
            m3 += o * q
            e3 += e * e
            f3 += e * q
            c += 4
        while c < n:
            o = oh[c]
            q = ql[c]
            e = o - q
            a0 += o * o
            b0 += q * q
            m0 += o * q
            e0 += e * e
            f0 += e * q
            c += 1
        out5[0] = (a0 + a1) + (a2 + a3)
        out5[1] = (b0 + b1) + (b2 + b3)
        out5[2] = (m0 + m1) + (m2 + m3)
        out5[3] = (e0 + e1) + (e2 + e3)
        out5[4] = (f0 + f1) + (f2 + f3)

    @_njit
    def _nb_block_kernel(r0, rlo, rhi, gvh, sph, dh_sp, gvl, spl, dl_sp,
                         k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
                         sp_mode, sp_ptr, sp_cols, sp_h, sp_l,
                         knn_h, knn_l, pen_t, pen_c, hits, hits_self, stress):  # pragma: no cover
        """Rows rlo..rhi of the block starting at row r0."""
        n = spl[0].shape[0]
        rowl = np.empty(n, dtype=gvl[0].dtype)  # float32 rows for float32 products
        rowh = np.empty(n, dtype=gvh[0].dtype)
        oh = np.empty(n)
        ql = np.empty(n)
        cand = np.empty(n, dtype=np.int64)
        kk = max(k, 1)
        cr = np.empty(kk)
        ce = np.empty(kk)
        for r in range(rlo, rhi):
            i = r0 + r
            _nb_assemble(gvl, r, rowl, spl[11], i, dl_sp[0], dl_sp[1], dl_sp[2], dl_sp[3], dl_sp[4], spl[8])
            if use_h:
                _nb_assemble(gvh, r, rowh, sph[11], i, dh_sp[0], dh_sp[1], dh_sp[2], dh_sp[3], dh_sp[4], sph[8])
            if want_stress:
                _nb_stress_row(rowh, rowl, i, oh, ql, stress[i])
            if sp_mode == 1:
                off = i * n - (i * (i + 1)) // 2 - i - 1
                for c in range(i + 1, n):
                    sp_h[off + c] = math.sqrt(rowh[c])
                    sp_l[off + c] = math.sqrt(rowl[c])
            elif sp_mode == 2:
                for p in range(sp_ptr[i], sp_ptr[i + 1]):
                    c = sp_cols[p]
                    sp_h[p] = math.sqrt(rowh[c])
                    sp_l[p] = math.sqrt(rowl[c])
            if want_knn:
                rowl[i] = np.inf
                _nb_knn(rowl, spl, i, k, knn_l[i], cand, cr, ce)
                if use_h:
                    rowh[i] = np.inf
                    _nb_knn(rowh, sph, i, k, knn_h[i], cand, cr, ce)
                if want_t:
                    pen_t[i] = _nb_penalty(rowh, sph, i, knn_l[i], knn_h[i], k)
                if want_c:
                    pen_c[i] = _nb_penalty(rowl, spl, i, knn_h[i], knn_l[i], k)
                if want_nh:
                    y = labels[i]
                    h = 0
                    hs = 1
                    for m in range(k):
                        if labels[knn_l[i, m]] == y:
                            h += 1
                            if m < k - 1:
                                hs += 1
                    hits[i] = h
                    hits_self[i] = hs


def _gram_view(g) -> tuple:
    """A block's Gram rows for the numba kernel: a (buffer, pool, slots, block)
    tuple from :meth:`_Space.block_products`, or one made for a plain (rows × n)
    array."""
    if isinstance(g, tuple):
        return g
    return g, np.zeros((1, 1, 1), dtype=g.dtype), np.zeros(0, dtype=np.int64), 1


def _nb_space(sp: _Space) -> tuple:
    """What the numba kernels need of a space, as two tuples (bounds, duplicates)."""
    bounds = (sp.sq, float(sp.kappa), float(sp.tau), float(sp.rho), float(sp.tau1), bool(sp.exact),
              sp.raw, bool(sp.dups), sp.gid, float(sp.sq.max()), 2.0**-22 if sp.f32 else 0.0,
              sp.sq_g)
    dup = (bool(sp.dups), sp.nonrep, sp.rep, sp.gptr, sp.gmem)
    return bounds, dup


def _nb_args(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
             sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out):
    if sh is None:  # the original space is not needed: pass the projection's buffers unused
        sh, gh = sl, gl
    gh, gl = _gram_view(gh), _gram_view(gl)
    bh, dh = _nb_space(sh)
    bl, dl = _nb_space(sl)
    return (
        gh, bh, dh, gl, bl, dl,
        k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
        sp_mode, sp_ptr, sp_cols, sp_h, sp_l,
        out.knn_h, out.knn_l, out.pen_t, out.pen_c, out.hits, out.hits_self, out.stress,
    )


def _nb_block(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
              sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out, wait=True, threads=None):
    """The numba kernel on one block, its rows split between ``threads`` threads
    (default: all CPUs); with ``wait=False`` returns the futures of its threads."""
    args = _nb_args(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
                    sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out)
    b = args[3][0].shape[0]
    threads = min(_n_threads() if threads is None else threads, b)
    if threads <= 1 and wait:
        _nb_block_kernel(r0, 0, b, *args)
        return None
    # The kernel releases the GIL: split the block's rows between threads.
    cuts = np.linspace(0, b, threads + 1).astype(int)
    futures = [_pool().submit(_nb_block_kernel, r0, int(lo), int(hi), *args)
               for lo, hi in zip(cuts[:-1], cuts[1:])]
    if not wait:
        return futures
    for f in futures:
        f.result()
    return None


_POOL = None


def _n_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=_n_threads(), thread_name_prefix="aelib-projection")
    return _POOL


def _pick_backend(backend: str, n: int) -> str:
    backend = os.environ.get("AELIB_PROJECTION_BACKEND", backend)
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"Expected backend in ('auto', 'numba', 'numpy'). Received: {backend!r}")
    if backend == "auto":
        return "numba" if (_HAVE_NUMBA and n >= _NUMBA_MIN_N) else "numpy"
    if backend == "numba" and not _HAVE_NUMBA:
        raise ValueError("backend='numba' requested but numba is not installed")
    return backend


# --------------------------------------------------------------------------
# Spearman on condensed distances
# --------------------------------------------------------------------------


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
    if m >= 100_000 and _n_threads() > 1:  # numpy's sort releases the GIL: rank both at once
        fa = _pool().submit(_average_ranks, a)
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


# --------------------------------------------------------------------------
# The blocked pass
# --------------------------------------------------------------------------


def _evaluate(xh, xl, *, k, labels, want, spearman_pairs, seed, block_rows=None, backend="auto",
              precision="auto"):
    """One blocked pass computing what ``want`` (a set of MEASURES) asks for.

    ``spearman_pairs``: None for all pairs, else the size of the sample.
    ``precision``: ``"auto"`` computes the Gram products of a space in float32
    when only neighbour decisions need it (numba backend, at least
    ``_F32_MIN_DIM`` features; the decisions stay exact), ``"float64"`` never.
    """
    n = xl.shape[0]
    want_t = "trustworthiness" in want
    want_c = "continuity" in want
    want_nh = "neighborhood_hit" in want
    want_stress = "stress" in want
    want_sp = "shepard" in want
    use_h = want_t or want_c or want_stress or want_sp
    want_knn = want_t or want_c or want_nh

    if precision not in ("auto", "float64"):
        raise ValueError(f"Expected precision in ('auto', 'float64'). Received: {precision!r}")
    kernel = _nb_block if _pick_backend(backend, n) == "numba" else _np_block
    # float32 products only where no measure needs the distances themselves
    f32 = precision == "auto" and kernel is _nb_block and not (want_stress or want_sp)
    sl = _Space(xl, f32=f32 and xl.shape[1] >= _F32_MIN_DIM)
    sh = _Space(xh, f32=f32 and xh.shape[1] >= _F32_MIN_DIM) if use_h else None
    out = _Out(n, max(int(k), 1))
    lab = labels if labels is not None else np.zeros(n, dtype=np.int64)

    total = n * (n - 1) // 2
    sp_mode, sp_ptr, sp_cols = 0, np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sp_h = sp_l = np.zeros(0)
    sp_used, sp_exact = 0, True
    if want_sp:
        if spearman_pairs is None or spearman_pairs >= total:
            sp_mode, sp_used = 1, total
        else:
            sp_mode, sp_used, sp_exact = 2, int(spearman_pairs), False
            sp_ptr, sp_cols = _sample_pairs(n, sp_used, seed)
        sp_h = np.empty(sp_used)
        sp_l = np.empty(sp_used)

    if block_rows is None:
        block_rows = max(8, _BLOCK_BYTES // (8 * n))
    b = int(min(n, max(1, block_rows)))
    blocks = list(range(0, n, b))
    workers = min(_n_threads(), len(blocks))
    limit = _blas_one_thread() if kernel is _nb_block and workers > 1 else None
    for sp in (sl, sh):
        if sp is not None and _should_reuse(sp, b):
            if limit is not None:
                sp.enable_tiles(b)
            else:
                sp.enable_reuse(b)
    if limit is not None:
        with limit:
            _run_workers(blocks, b, n, workers, sh, sl, k, use_h, want_knn, want_t, want_c, lab, want_nh,
                         want_stress, sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out)
    else:
        _run_pipelined(kernel, blocks, b, n, sh, sl, k, use_h, want_knn, want_t, want_c, lab, want_nh,
                       want_stress, sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out)

    res: dict = {}
    if want_t or want_c:
        norm = 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
        if want_t:
            res["trustworthiness"] = 1.0 - float(out.pen_t.sum()) * norm
        if want_c:
            res["continuity"] = 1.0 - float(out.pen_c.sum()) * norm
    if want_stress:
        res.update(_stress_forms(np.array([math.fsum(col) for col in out.stress.T])))
    if want_nh:
        res["neighborhood_hit"] = float(out.hits.sum()) / (n * k)
        res["neighborhood_hit_self"] = float(out.hits_self.sum()) / (n * k)
    if want_sp:
        rho = _spearman(sp_h, sp_l)
        res["shepard_goodness"] = (rho + 1.0) / 2.0
        res["shepard_rho"] = rho
        res["spearman_exact"] = sp_exact
        res["spearman_pairs_used"] = sp_used
    return res


def _blas_one_thread():
    """A context limiting BLAS to one thread (threadpoolctl), or None without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return None
    return threadpool_limits(limits=1, user_api="blas")


def _run_workers(blocks, b, n, workers, sh, sl, k, use_h, want_knn, want_t, want_c, lab, want_nh, want_stress,
                 sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out):
    """Row blocks on ``workers`` threads, each computing one block's products
    (single-threaded BLAS) and then running the kernel on it: every core works
    all the time, and no BLAS thread spins idle beside the kernel. With saved
    tiles, block t copies in tiles of the blocks before it, so it waits until
    block t − 1 has computed its products."""
    import threading

    lock = threading.Lock()
    state = {"next": 0, "failed": False}
    computed = [threading.Event() for _ in blocks]
    spaces = (sl, sh) if use_h else (sl,)

    def work():
        bufs = [np.empty((b, n), dtype=sp.xg.dtype) for sp in spaces]
        while True:
            with lock:  # blocks are taken, and their tiles planned, in order
                t = state["next"]
                if t >= len(blocks) or state["failed"]:
                    return
                state["next"] = t + 1
                plans = [sp.plan_block(t) for sp in spaces]
            try:
                r0 = blocks[t]
                r1 = min(n, r0 + b)
                views = [sp.block_products(t, r0, r1, buf, plan) for sp, buf, plan in zip(spaces, bufs, plans)]
                if t:
                    computed[t - 1].wait()  # set once all blocks before t have their products
                computed[t].set()
                for sp, buf, plan in zip(spaces, bufs, plans):
                    sp.block_copy_in(t, r0, r1, buf, plan)
                with lock:
                    for sp, plan in zip(spaces, plans):
                        if sp.tiled:
                            sp.release(plan[0])  # tiles (c, t): copied in
                if state["failed"]:
                    return
                _nb_block(r0, views[1] if use_h else None, sh, views[0], sl, k, use_h, want_knn, want_t, want_c,
                          lab, want_nh, want_stress, sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out, threads=1)
            except BaseException:
                with lock:
                    state["failed"] = True
                for e in computed:  # nobody may wait for this block forever
                    e.set()
                raise
            with lock:
                for sp, plan in zip(spaces, plans):
                    if sp.tiled:
                        sp.release(plan[1])  # tiles (t, c): read by the kernel

    futures = [_pool().submit(work) for _ in range(workers)]
    for f in futures:
        f.result()


def _run_pipelined(kernel, blocks, b, n, sh, sl, k, use_h, want_knn, want_t, want_c, lab, want_nh, want_stress,
                   sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out):
    """Row blocks in order; the numba kernel runs in worker threads while the
    main thread computes the next block's products (two buffers per space)."""
    nbuf = 2 if kernel is _nb_block else 1
    bufs_l = [np.empty((b, n), dtype=sl.xg.dtype) for _ in range(nbuf)]
    bufs_h = [np.empty((b, n), dtype=sh.xg.dtype) for _ in range(nbuf)] if use_h else None
    pending: list = []  # the running kernel's futures
    try:
        for t, r0 in enumerate(blocks):
            r1 = min(n, r0 + b)
            gl = sl.gram_rows(r0, r1, bufs_l[t % nbuf])
            gh = sh.gram_rows(r0, r1, bufs_h[t % nbuf]) if use_h else None
            for f in pending:
                f.result()
            pending = kernel(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, lab, want_nh, want_stress,
                             sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out, wait=False) or []
    finally:
        for f in pending:
            f.result()


def _should_reuse(sp: _Space, block: int) -> bool:
    """Reuse Gram tiles (half the products) when the features make products dear
    and the saved tiles fit in ``_REUSE_BYTES``."""
    n, d = sp.xg.shape
    size = sp.xg.dtype.itemsize
    return block < n and d >= _REUSE_MIN_DIM and size * (n * n / 4.0 + block * n) <= _REUSE_BYTES


def _stress_forms(s: np.ndarray) -> dict:
    s_oo, s_qq, s_oq, s_ee, s_eq = (float(v) for v in s)

    def ratio(num, den):
        if den > 0.0:
            return num / den
        return 0.0 if num == 0.0 else float("nan")

    # Scaled: min over α of Σ(Δo − αΔq)², which is ΣΔo² − (ΣΔoΔq)² / ΣΔq², or,
    # written around α = 1 with e = Δo − Δq, Σe² − (ΣeΔq)² / ΣΔq². Both cancel;
    # the one whose leading term is smaller loses fewer digits.
    if s_qq > 0.0:
        if s_ee < s_oo:
            scaled_num = s_ee - s_eq * s_eq / s_qq
        else:
            scaled_num = s_oo - s_oq * s_oq / s_qq
        scaled_num = max(0.0, scaled_num)
    else:
        scaled_num = s_oo
    return {
        "stress_seed": ratio(s_ee, max(s_oo, s_qq)),
        "stress_raw": ratio(s_ee, s_oo),
        "stress_scaled": ratio(scaled_num, s_oo),
    }


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def trustworthiness(x_high, x_low, *, k: int = 7) -> float:
    """Venna–Kaski trustworthiness of ``x_low`` as a projection of ``x_high``.

    Penalises points that are among the k nearest neighbours in ``x_low`` but not
    in ``x_high``, by their rank in ``x_high`` minus k. 1 is best. Requires
    1 <= k < n/2. Agrees with ``sklearn.manifold.trustworthiness(x_high, x_low,
    n_neighbors=k)`` when no distances tie (see the module docstring).
    """
    xh, xl = _check_pair(x_high, x_low)
    k = _check_k(k, xh.shape[0])
    return _evaluate(xh, xl, k=k, labels=None, want={"trustworthiness"}, spearman_pairs=None, seed=0)[
        "trustworthiness"
    ]


def continuity(x_high, x_low, *, k: int = 7) -> float:
    """Venna–Kaski continuity: trustworthiness with the roles of the spaces swapped."""
    xh, xl = _check_pair(x_high, x_low)
    k = _check_k(k, xh.shape[0])
    return _evaluate(xh, xl, k=k, labels=None, want={"continuity"}, spearman_pairs=None, seed=0)["continuity"]


def normalized_stress(x_high, x_low, *, form: str = "seed") -> float:
    """Normalised stress over the pairs i < j (0 is best).

    ``"seed"``: Σ(Δo − Δq)² / max(ΣΔo², ΣΔq²); ``"raw"``: Σ(Δo − Δq)² / ΣΔo²;
    ``"scaled"``: raw form after multiplying Δq by α* = ΣΔoΔq / ΣΔq², which makes
    it invariant to the scale of ``x_low``. NaN where the form is undefined
    (all original distances 0 while some projected are not).
    """
    form = _check_form(form)
    xh, xl = _check_pair(x_high, x_low)
    if xh.shape[0] < 2:
        raise ValueError(f"Expected at least 2 samples. Received: n={xh.shape[0]}")
    res = _evaluate(xh, xl, k=1, labels=None, want={"stress"}, spearman_pairs=None, seed=0)
    return res[f"stress_{form}"]


def neighborhood_hit(x_low, labels, *, k: int = 7, include_self: bool = False) -> float:
    """Mean share of each point's k nearest neighbours in ``x_low`` with its label.

    ``include_self=False``: the k nearest other points. ``include_self=True``: the
    survey's variant, the point itself counts among its k neighbours (itself plus
    its k − 1 nearest others). Ties broken by index. Requires 1 <= k < n/2.
    """
    xl = _as_points(x_low, "x_low")
    n = xl.shape[0]
    k = _check_k(k, n)
    y = _check_labels(labels, n)
    res = _evaluate(xl, xl, k=k, labels=y, want={"neighborhood_hit"}, spearman_pairs=None, seed=0)
    return res["neighborhood_hit_self" if include_self else "neighborhood_hit"]


def shepard_rho(x_high, x_low, *, max_pairs: int | None = None, seed=0) -> float:
    """Spearman ρ of the condensed pairwise distances (average ranks for ties).

    All n(n − 1)/2 pairs unless ``max_pairs`` is smaller than that, in which case
    a uniform sample of ``max_pairs`` distinct pairs drawn with ``seed``.
    """
    xh, xl = _check_pair(x_high, x_low)
    if xh.shape[0] < 2:
        raise ValueError(f"Expected at least 2 samples. Received: n={xh.shape[0]}")
    if max_pairs is not None and (isinstance(max_pairs, bool) or int(max_pairs) != max_pairs or max_pairs < 2):
        raise ValueError(f"Expected max_pairs None or an integer >= 2. Received: max_pairs={max_pairs!r}")
    res = _evaluate(xh, xl, k=1, labels=None, want={"shepard"}, spearman_pairs=max_pairs, seed=seed)
    return res["shepard_rho"]


def shepard_goodness(x_high, x_low, *, max_pairs: int | None = None, seed=0) -> float:
    """(ρ + 1)/2 with ρ = :func:`shepard_rho` (1 is best)."""
    return (shepard_rho(x_high, x_low, max_pairs=max_pairs, seed=seed) + 1.0) / 2.0


def projection_quality(
    x_high,
    x_low,
    labels=None,
    *,
    k: int = 7,
    exact_spearman_max_n: int = 3000,
    spearman_pairs: int = 2_000_000,
    seed=0,
    measures: Iterable[str] | None = None,
) -> dict:
    """All five measures from one blocked pass over the rows.

    Returns a dict with ``trustworthiness``, ``continuity``, ``stress_seed``,
    ``stress_raw``, ``stress_scaled``, ``neighborhood_hit`` and
    ``neighborhood_hit_self`` (only with ``labels``), ``shepard_goodness``,
    ``shepard_rho``, and provenance: ``k``, ``n``, ``spearman_exact`` (all pairs
    used) and ``spearman_pairs_used``. Spearman uses all pairs when
    n <= ``exact_spearman_max_n`` (or when there are no more than
    ``spearman_pairs`` pairs), else a uniform sample of ``spearman_pairs``
    distinct pairs drawn with ``seed``.

    ``measures`` (default: all of :data:`MEASURES` that the arguments allow)
    restricts the work, e.g. ``("trustworthiness", "continuity",
    "neighborhood_hit")``.
    """
    xh, xl = _check_pair(x_high, x_low)
    n = xh.shape[0]
    k = _check_k(k, n)
    y = None if labels is None else _check_labels(labels, n)
    if measures is None:
        want = set(MEASURES) if y is not None else set(MEASURES) - {"neighborhood_hit"}
    else:
        want = set([measures] if isinstance(measures, str) else measures)
        unknown = sorted(want - set(MEASURES))
        if unknown:
            raise ValueError(f"Expected measures from {MEASURES}. Received: {unknown}")
        if "neighborhood_hit" in want and y is None:
            raise ValueError("Expected labels for the measure 'neighborhood_hit'. Received: labels=None")
    for name, value in (("exact_spearman_max_n", exact_spearman_max_n), ("spearman_pairs", spearman_pairs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"Expected {name} an integer >= 2. Received: {name}={value!r}")
    pairs = None if n <= exact_spearman_max_n else int(spearman_pairs)
    res = _evaluate(xh, xl, k=k, labels=y, want=want, spearman_pairs=pairs, seed=seed)
    ordered = {key: res[key] for key in (
        "trustworthiness", "continuity", "stress_seed", "stress_raw", "stress_scaled",
        "neighborhood_hit", "neighborhood_hit_self", "shepard_goodness", "shepard_rho",
    ) if key in res}
    ordered["k"] = k
    ordered["n"] = n
    if "shepard" in want:
        ordered["spearman_exact"] = res["spearman_exact"]
        ordered["spearman_pairs_used"] = res["spearman_pairs_used"]
    return ordered
