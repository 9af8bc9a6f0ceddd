"""Quality of a projection (original space → latent space), docs/methods.md §4 step 5.

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

Modules, each importing only those above it: ``jit`` (numba if installed),
``threads`` (the thread pool), ``bounds`` (error bounds, exact-grid test),
``space`` (one space: centring, duplicates, Gram products), ``checks`` (input
checks), ``numpy_kernel`` and ``numba_kernel`` (one block of rows each),
``spearman``, ``evaluate`` (the blocked pass); this one, the public functions.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .checks import MEASURES, STRESS_FORMS, _as_points, _check_form, _check_k, _check_labels, _check_pair
from .evaluate import _evaluate
from .jit import _HAVE_NUMBA

# Private names the tests read. To patch one, patch it in the module that looks it
# up (evaluate, space, threads): a patch here changes nothing.
from .numpy_kernel import _np_exact_sign  # noqa: F401
from .space import _Space  # noqa: F401
from .spearman import _sample_pairs  # noqa: F401

if _HAVE_NUMBA:
    from .numba_kernel import _nb_cmp_dd, _nb_cmp_exact  # noqa: F401

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
