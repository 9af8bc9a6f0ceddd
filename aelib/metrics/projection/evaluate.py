"""The blocked pass: the row blocks of both spaces through a kernel, then the sums of the measures.

:func:`_evaluate` picks the kernel (numba or numpy) and the precision of the
products, then runs the row blocks either on worker threads, each computing a
block's products with single-threaded BLAS and then the kernel
(:func:`_run_workers`), or in order with the kernel beside the next block's
products (:func:`_run_pipelined`).
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np

from . import threads as _threads
from .jit import _HAVE_NUMBA
from .numba_kernel import _nb_block
from .numpy_kernel import _np_block
from .space import _Space
from .spearman import _sample_pairs, _spearman

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


class _Out:
    """Per-row outputs of the kernels, summed into the measures at the end."""

    def __init__(self, n: int, k: int):
        self.knn_h = np.zeros((n, k), dtype=np.int64)
        self.knn_l = np.zeros((n, k), dtype=np.int64)
        self.pen_t = np.zeros(n, dtype=np.int64)
        self.pen_c = np.zeros(n, dtype=np.int64)
        self.hits = np.zeros(n, dtype=np.int64)
        self.hits_self = np.zeros(n, dtype=np.int64)
        # per row: Σo², Σq², Σoq, Σ(o−q)², Σ(o−q)q over the pairs (i, j > i)
        self.stress = np.zeros((n, 5), dtype=np.float64)


def _pick_backend(backend: str, n: int) -> str:
    backend = os.environ.get("AELIB_PROJECTION_BACKEND", backend)
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"Expected backend in ('auto', 'numba', 'numpy'). Received: {backend!r}")
    if backend == "auto":
        return "numba" if (_HAVE_NUMBA and n >= _NUMBA_MIN_N) else "numpy"
    if backend == "numba" and not _HAVE_NUMBA:
        raise ValueError("backend='numba' requested but numba is not installed")
    return backend


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
    workers = min(_threads._n_threads(), len(blocks))
    limit = _threads._blas_one_thread() if kernel is _nb_block and workers > 1 else None
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


def _run_workers(blocks, b, n, workers, sh, sl, k, use_h, want_knn, want_t, want_c, lab, want_nh, want_stress,
                 sp_mode, sp_ptr, sp_cols, sp_h, sp_l, out):
    """Row blocks on ``workers`` threads, each computing one block's products
    (single-threaded BLAS) and then running the kernel on it: every core works
    all the time, and no BLAS thread spins idle beside the kernel. With saved
    tiles, block t copies in tiles of the blocks before it, so it waits until
    block t − 1 has computed its products."""
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

    futures = [_threads._pool().submit(work) for _ in range(workers)]
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
