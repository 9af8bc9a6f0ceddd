"""The numpy kernel: one block of Gram rows per call, the same decisions as the numba kernel.

It gets rows r0..r0+b of the Gram matrix of each space and fills the per-row
outputs. Neighbour lists and ranks are decided on the EXACT squared distances D
of the centred points (ties by index): the computed values A (from the Gram
product) settle every comparison whose error bounds do not overlap; the others
are settled by the direct float64 sum R with its bound, then by exact arithmetic
on Python integers (:func:`_np_exact_sign`). Used below ``_NUMBA_MIN_N`` points,
without numba, or with ``AELIB_PROJECTION_BACKEND=numpy``.
"""
from __future__ import annotations

import functools

import numpy as np

from .bounds import _U64
from .space import _Space


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

