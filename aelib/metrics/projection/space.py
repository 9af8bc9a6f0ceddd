"""One space: centred data, squared norms, exact duplicate groups, error bounds, and its Gram products.

:class:`_Space` holds what the kernels need of one set of points; its Gram rows
come from :meth:`_Space.gram_rows` (row blocks in order, tiles right of the
diagonal optionally kept) or, on the threaded path, from
:meth:`_Space.block_products` and :meth:`_Space.block_copy_in` (a shared tile pool).
"""
from __future__ import annotations

import numpy as np

from .bounds import _error_bounds, _exact_grid
from .jit import _HAVE_NUMBA, _njit


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

    @_njit
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


