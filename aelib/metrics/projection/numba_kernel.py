"""The numba kernels (compiled, GIL released): one block of Gram rows per call.

:func:`_nb_block` gets rows r0..r0+b of the Gram matrix of each space (float64
or float32 products) and fills the per-row outputs, its rows split between
threads. Neighbour lists and ranks are decided on the EXACT squared distances D
of the centred points (ties by index): the computed values A settle every
comparison whose error bounds do not overlap; the others are settled by the
direct float64 sum R with its bound, then a double-double sum
(:func:`_nb_cmp_dd`), then exact arithmetic (Shewchuk's expansions,
:func:`_nb_cmp_exact`). The per-row sums keep a fixed order (unrolled partial
sums), so results do not depend on the threads.
"""
from __future__ import annotations

import math

import numpy as np

from . import threads as _threads
from .jit import _HAVE_NUMBA, _njit
from .space import _Space

if _HAVE_NUMBA:
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
    threads = min(_threads._n_threads() if threads is None else threads, b)
    if threads <= 1 and wait:
        _nb_block_kernel(r0, 0, b, *args)
        return None
    # The kernel releases the GIL: split the block's rows between threads.
    cuts = np.linspace(0, b, threads + 1).astype(int)
    futures = [_threads._pool().submit(_nb_block_kernel, r0, int(lo), int(hi), *args)
               for lo, hi in zip(cuts[:-1], cuts[1:])]
    if not wait:
        return futures
    for f in futures:
        f.result()
    return None
