"""Quality of a projection (original space → latent space), STUDY.md §4 step 5.

Five measures of an encoder seen as a dimensionality reduction, all with
Euclidean distances computed in float64:

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

Memory: the data (one centred float64 copy per space), two block × n float64
buffers (32 MiB each), n × k neighbour lists, 16 bytes per Spearman pair plus
its sort buffers, and for a space of 64 or more features the Gram tiles right
of the diagonal, kept for the rows below so that each product is computed
once (at most about 2 n² bytes, 200 MB at n = 10,000; only when that fits in
512 MiB, else they are recomputed). Time: one n × n × d matrix product per
space (half of it when tiles are kept), plus O(n²) per-row work.

Ties are broken by index, as a stable sort would: among equal distances the
lower index ranks first, both for the neighbour lists and for the ranks
(r(i, j) = 1 + #{l ≠ i : d_il < d_ij or (d_il = d_ij and l < j)}). Neighbours
and ranks are decided on squared distances |x|² + |y|² − 2x·y (the same order
as the distances, without the ties a square root can create). Exact duplicate
points are found from the data and handled exactly: their distance is 0, and
every point sees all copies of a duplicate at bitwise the same distance (a
matrix product alone does not guarantee that). Each column is shifted by a
rounded mean that keeps data on a dyadic grid (integers, say) exact, so their
ties are exact too. Other ties are decided on the computed float64 values.

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
stable-argsort implementation exactly. Shepard goodness equals
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
# One space: centred data, squared norms, exact duplicate groups
# --------------------------------------------------------------------------


class _Space:
    """Centred float64 data with what the kernels need about duplicates."""

    def __init__(self, a: np.ndarray):
        self.x = _centre(np.asarray(a, dtype=np.float64))
        self.n = self.x.shape[0]
        self.sq = np.einsum("ij,ij->i", self.x, self.x)
        gid, rep = _duplicate_groups(self.x)
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

        self.reuse = False

    def enable_reuse(self, block: int) -> None:
        """Compute each Gram entry once: keep the tiles right of the diagonal for later rows.

        Row blocks must then be asked for in order, all of size ``block`` (the last
        one may be shorter). Peak extra memory ≈ 8 n²/4 bytes.
        """
        self.reuse = True
        self._block = block
        self._tiles: dict[tuple[int, int], np.ndarray] = {}

    def gram_rows(self, r0: int, r1: int, out: np.ndarray) -> np.ndarray:
        """Rows r0..r1 of the Gram matrix x xᵀ, written into ``out``."""
        buf = out[: r1 - r0]
        if not self.reuse:
            np.dot(self.x[r0:r1], self.x.T, out=buf)
            return buf
        b = self._block
        for c0 in range(0, r0, b):  # left of the diagonal: saved by earlier row blocks
            buf[:, c0 : c0 + b] = self._tiles.pop((c0, r0)).T
        right = self.x[r0:r1] @ self.x[r0:].T
        buf[:, r0:] = right
        for c0 in range(r1, self.n, b):
            self._tiles[(r0, c0)] = right[:, c0 - r0 : c0 - r0 + b].copy()
        return buf


def _centre(a: np.ndarray) -> np.ndarray:
    """a minus a per-column shift near the mean (distances are translation invariant).

    The shift is the mean rounded to a multiple of the largest power of two not
    above the column's range, so data on a dyadic grid (integers, for one) stay
    on it and their distances stay exact, while the offset that would cost
    precision in |x|² + |y|² − 2x·y is removed. Constant columns are dropped.
    """
    lo = a.min(axis=0)
    span = a.max(axis=0) - lo
    varies = span > 0
    if not varies.all():  # constant columns add exactly 0 to every distance: drop them
        if not varies.any():
            return np.zeros((a.shape[0], 1))
        a, lo, span = a[:, varies], lo[varies], span[varies]
    q = np.exp2(np.floor(np.log2(span)))
    x = np.subtract(a, np.round(a.mean(axis=0) / q) * q, order="C")  # a new array
    x += 0.0  # turn -0.0 into +0.0 so that equal rows are equal bytes
    return x


def _duplicate_groups(x: np.ndarray):
    """Group ids (None if all rows differ) and each row's first copy.

    Rows are hashed from their bytes (integer arithmetic, exact), equal hashes
    are checked byte for byte; a hash collision falls back to sorting the rows.
    """
    n, d = x.shape
    words = x.view(np.uint64)
    gid, first = _group(_row_hash(words))
    if first.shape[0] == n:
        return None, None
    rep = first[gid]
    if not np.array_equal(words, words[rep]):  # hash collision: do it exactly
        gid, first = _group(words.view(np.dtype((np.void, 8 * d))).reshape(-1))
        if first.shape[0] == n:
            return None, None
        rep = first[gid]
    return gid, rep


def _row_hash(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of a C-contiguous uint64 array.

    Σ_k h_k · m_k modulo 2**64 over the 32-bit halves h_k of the row, with odd
    random 64-bit m_k: every half enters by a bijection, so equal rows get equal
    hashes and different rows rarely collide (float64 words of round numbers
    have many zero low bits, which a product of whole 64-bit words would lose).
    """
    halves = words.view(np.uint32)
    mult = np.random.default_rng(0x5EED).integers(0, 2**63, size=halves.shape[1], dtype=np.uint64)
    mult |= np.uint64(1)
    out = np.empty(halves.shape[0], dtype=np.uint64)
    step = max(1, 2**21 // max(1, halves.shape[1]))  # rows per chunk: ~16 MiB of uint64
    with np.errstate(over="ignore"):
        for r0 in range(0, halves.shape[0], step):
            out[r0 : r0 + step] = halves[r0 : r0 + step].astype(np.uint64) @ mult  # wraps modulo 2**64
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
# space (modified in place into distances) and fill per-row outputs.
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
    """Gram rows -> squared distances (in place), duplicates made exact."""
    b = g.shape[0]
    rows = np.arange(r0, r0 + b)
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
    """k smallest of each row by (distance, index), in that order."""
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


def _np_block(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
              sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out):
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
    out.knn_l[r0 : r0 + b] = _np_topk(dl, k)
    if use_h:
        dh[np.arange(b), rows] = np.inf
        out.knn_h[r0 : r0 + b] = _np_topk(dh, k)
    for r in range(b):
        i = r0 + r
        nl = out.knn_l[i]
        if want_t or want_c:
            sl_, sh_ = set(nl.tolist()), set(out.knn_h[i].tolist())
            if want_t:
                out.pen_t[i] = sum(_np_rank(dh[r], j) - k for j in sl_ - sh_)
            if want_c:
                out.pen_c[i] = sum(_np_rank(dl[r], j) - k for j in sh_ - sl_)
        if want_nh:
            same = labels[nl] == labels[i]
            out.hits[i] = int(np.count_nonzero(same))
            out.hits_self[i] = 1 + int(np.count_nonzero(same[: k - 1]))


if _HAVE_NUMBA:
    _njit = _numba.njit(cache=True, nogil=True)

    @_njit
    def _nb_sqdist(row, sq, i, dups, nonrep, rep, gptr, gmem, gid):  # pragma: no cover - compiled
        n = row.shape[0]
        si = sq[i]
        for c in range(n):
            row[c] = max(si + sq[c] - 2.0 * row[c], 0.0)
        if dups:
            for t in range(nonrep.shape[0]):
                c = nonrep[t]
                row[c] = row[rep[c]]
            g = gid[i]
            for t in range(gptr[g], gptr[g + 1]):
                row[gmem[t]] = 0.0
        else:
            row[i] = 0.0

    @_njit
    def _nb_topk(row, k, out):  # pragma: no cover - compiled
        td = np.full(k, np.inf)
        kd = np.inf
        for c in range(row.shape[0]):
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
    def _nb_rank(row, j):  # pragma: no cover - compiled
        # 1 + #{c : d_c < d_j or (d_c = d_j and c < j)}; one branch-free loop
        # with a 32-bit counter, which LLVM vectorises
        v = row[j]
        cnt = np.int32(0)
        for c in range(row.shape[0]):
            d = row[c]
            cnt += np.int32((d < v) | ((d == v) & (c < j)))
        return np.int64(cnt) + 1

    @_njit
    def _nb_penalty(row, mine, other, k):  # pragma: no cover - compiled
        pen = 0
        for m in range(k):
            j = mine[m]
            shared = False
            for q in range(k):
                if other[q] == j:
                    shared = True
                    break
            if not shared:
                pen += _nb_rank(row, j) - k
        return pen

    @_njit
    def _nb_block_kernel(r0, rlo, rhi, dh, sqh, dups_h, nonrep_h, rep_h, gptr_h, gmem_h, gid_h,
                         dl, sql, dups_l, nonrep_l, rep_l, gptr_l, gmem_l, gid_l,
                         k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
                         sp_mode, sp_ptr, sp_cols, sp_h, sp_l,
                         knn_h, knn_l, pen_t, pen_c, hits, hits_self, stress):  # pragma: no cover
        n = dl.shape[1]
        for r in range(rlo, rhi):
            i = r0 + r
            rowl = dl[r]
            _nb_sqdist(rowl, sql, i, dups_l, nonrep_l, rep_l, gptr_l, gmem_l, gid_l)
            rowh = dh[r]
            if use_h:
                _nb_sqdist(rowh, sqh, i, dups_h, nonrep_h, rep_h, gptr_h, gmem_h, gid_h)
            if want_stress or sp_mode == 1:
                s_oo = 0.0
                s_qq = 0.0
                s_oq = 0.0
                s_ee = 0.0
                s_eq = 0.0
                off = i * n - (i * (i + 1)) // 2 - i - 1
                for c in range(i + 1, n):
                    o = math.sqrt(rowh[c])
                    q = math.sqrt(rowl[c])
                    if sp_mode == 1:
                        sp_h[off + c] = o
                        sp_l[off + c] = q
                    e = o - q
                    s_oo += o * o
                    s_qq += q * q
                    s_oq += o * q
                    s_ee += e * e
                    s_eq += e * q
                if want_stress:
                    stress[i, 0] = s_oo
                    stress[i, 1] = s_qq
                    stress[i, 2] = s_oq
                    stress[i, 3] = s_ee
                    stress[i, 4] = s_eq
            if sp_mode == 2:
                for p in range(sp_ptr[i], sp_ptr[i + 1]):
                    c = sp_cols[p]
                    sp_h[p] = math.sqrt(rowh[c])
                    sp_l[p] = math.sqrt(rowl[c])
            if want_knn:
                rowl[i] = np.inf
                _nb_topk(rowl, k, knn_l[i])
                if use_h:
                    rowh[i] = np.inf
                    _nb_topk(rowh, k, knn_h[i])
                if want_t:
                    pen_t[i] = _nb_penalty(rowh, knn_l[i], knn_h[i], k)
                if want_c:
                    pen_c[i] = _nb_penalty(rowl, knn_h[i], knn_l[i], k)
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


def _nb_block(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
              sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out):
    if sh is None:  # the original space is not needed: pass the projection's buffers unused
        sh, gh = sl, np.zeros((gl.shape[0], 1))
    b = gl.shape[0]
    args = (
        gh, sh.sq, sh.dups, sh.nonrep, sh.rep, sh.gptr, sh.gmem, sh.gid,
        gl, sl.sq, sl.dups, sl.nonrep, sl.rep, sl.gptr, sl.gmem, sl.gid,
        k, use_h, want_knn, want_t, want_c, labels, want_nh, want_stress,
        sp_mode, sp_ptr, sp_cols, sp_h, sp_l,
        out.knn_h, out.knn_l, out.pen_t, out.pen_c, out.hits, out.hits_self, out.stress,
    )
    threads = min(_n_threads(), b)
    if threads <= 1:
        _nb_block_kernel(r0, 0, b, *args)
        return
    # The kernel releases the GIL: split the block's rows between threads.
    cuts = np.linspace(0, b, threads + 1).astype(int)
    futures = [_pool().submit(_nb_block_kernel, r0, int(lo), int(hi), *args) for lo, hi in zip(cuts[:-1], cuts[1:])]
    for f in futures:
        f.result()


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
    if picked.shape[0] > m:
        picked = np.sort(picked[rng.permutation(picked.shape[0])[:m]])
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


def _evaluate(xh, xl, *, k, labels, want, spearman_pairs, seed, block_rows=None, backend="auto"):
    """One blocked pass computing what ``want`` (a set of MEASURES) asks for.

    ``spearman_pairs``: None for all pairs, else the size of the sample.
    """
    n = xl.shape[0]
    want_t = "trustworthiness" in want
    want_c = "continuity" in want
    want_nh = "neighborhood_hit" in want
    want_stress = "stress" in want
    want_sp = "shepard" in want
    use_h = want_t or want_c or want_stress or want_sp
    want_knn = want_t or want_c or want_nh

    sl = _Space(xl)
    sh = _Space(xh) if use_h else None
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
    kernel = _nb_block if _pick_backend(backend, n) == "numba" else _np_block
    for sp in (sl, sh):
        if sp is not None and _should_reuse(sp, b):
            sp.enable_reuse(b)
    buf_l = np.empty((b, n))
    buf_h = np.empty((b, n)) if use_h else None
    for r0 in range(0, n, b):
        r1 = min(n, r0 + b)
        gl = sl.gram_rows(r0, r1, buf_l)
        gh = sh.gram_rows(r0, r1, buf_h) if use_h else None
        kernel(r0, gh, sh, gl, sl, k, use_h, want_knn, want_t, want_c, lab, want_nh, want_stress,
               sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out)

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


def _should_reuse(sp: _Space, block: int) -> bool:
    """Reuse Gram tiles (half the products) when the features make products dear
    and the saved tiles fit in ``_REUSE_BYTES``."""
    n, d = sp.x.shape
    return block < n and d >= _REUSE_MIN_DIM and 8.0 * (n * n / 4.0 + block * n) <= _REUSE_BYTES


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
