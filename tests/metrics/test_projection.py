"""Tests of aelib.metrics.projection (STUDY.md §4, step 5: latent-space quality)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr
from sklearn.manifold import trustworthiness as sk_trustworthiness

from aelib.metrics import projection as P
from aelib.metrics.projection import (
    continuity,
    neighborhood_hit,
    normalized_stress,
    projection_quality,
    shepard_goodness,
    shepard_rho,
    trustworthiness,
)
from aelib.metrics.projection import evaluate as P_eval
from aelib.metrics.projection import space as P_space
from aelib.metrics.projection import threads as P_threads

# --------------------------------------------------------------------------
# Helpers: reference data and naive implementations (full sorts, pdist)
# --------------------------------------------------------------------------


def _reference_root() -> Path:
    env = os.environ.get("AELIB_REFERENCE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "reference-data"


ESPADOTO = _reference_root() / "espadoto"

# Published values (Espadoto et al., survey of dimension reduction; PCA, k = 7),
# from shared/reference-data/espadoto/README.md.
PUBLISHED = {
    "seismic": dict(trustworthiness=0.970822958275726, continuity=0.988398625094464,
                    neighborhood_hit_self=0.903140203449801, shepard_goodness=0.90932097985687,
                    stress_raw=0.096843),
    "har": dict(trustworthiness=0.899177445248028, continuity=0.940296323738651,
                neighborhood_hit_self=0.579980563654033, shepard_goodness=0.979725928899924,
                stress_raw=0.086146),
}


def _load_reference(name):
    folder = ESPADOTO / name
    if not (folder / "X.npy").is_file():
        pytest.skip(
            f"reference data {folder} not found: put shared/reference-data beside the repository "
            "or set AELIB_REFERENCE_DATA to the reference-data folder"
        )
    return np.load(folder / "X.npy"), np.load(folder / "y.npy")


def _survey_pca(x):
    """Exact 2-D PCA as the survey did it: SVD of centred float64 data, cast to float32."""
    xd = x.astype(np.float64)
    xc = xd - xd.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return (xc @ vt[:2].T).astype(np.float32)


def _naive_ranks(x):
    """Rank matrix (1..n−1 among the others, stable by index) and neighbour order."""
    d = squareform(pdist(np.asarray(x, dtype=np.float64)))
    n = d.shape[0]
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(1, n + 1)
    return ranks, order


def _naive_trustworthiness(x, y, k):
    rx, ox = _naive_ranks(x)
    _, oy = _naive_ranks(y)
    n = len(rx)
    pen = sum(rx[i, j] - k for i in range(n) for j in oy[i, :k] if j not in ox[i, :k])
    return 1.0 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * pen


def _naive_nh(y, labels, k, include_self):
    _, oy = _naive_ranks(y)
    if include_self:
        same = labels[oy[:, : k - 1]] == labels[:, None]
        return float(np.mean((1 + same.sum(axis=1)) / k))
    return float(np.mean(labels[oy[:, :k]] == labels[:, None]))


def _naive_stress(x, y):
    do, dq = pdist(x), pdist(y)
    e2 = np.sum((do - dq) ** 2)
    alpha = np.dot(do, dq) / np.dot(dq, dq)
    return dict(
        stress_seed=e2 / max(np.dot(do, do), np.dot(dq, dq)),
        stress_raw=e2 / np.dot(do, do),
        stress_scaled=np.sum((do - alpha * dq) ** 2) / np.dot(do, do),
    )


def _random_pair(seed, n=150, d_high=12, d_low=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_high))
    y = x[:, :d_low] + 0.5 * rng.standard_normal((n, d_low))
    return x, y


def _tied_pair(seed, n=90):
    """Small-integer data: many equal distances and duplicate points in both spaces."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, (n, 4)).astype(np.float64), rng.integers(0, 3, (n, 2)).astype(np.float64)


# --------------------------------------------------------------------------
# Agreement with sklearn, scipy and the published survey values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed,n,d_high,d_low,k", [(0, 150, 12, 2, 7), (1, 61, 5, 3, 1), (2, 200, 30, 10, 15),
                                                   (3, 40, 8, 2, 19)])
def test_trustworthiness_continuity_match_sklearn_random(seed, n, d_high, d_low, k):
    x, y = _random_pair(seed, n, d_high, d_low)
    assert trustworthiness(x, y, k=k) == pytest.approx(sk_trustworthiness(x, y, n_neighbors=k), abs=1e-9)
    assert continuity(x, y, k=k) == pytest.approx(sk_trustworthiness(y, x, n_neighbors=k), abs=1e-9)
    assert continuity(x, y, k=k) == trustworthiness(y, x, k=k)


@pytest.mark.parametrize("name", ["seismic", "har", "svhn"])
def test_trustworthiness_continuity_match_sklearn_reference_data(name):
    x, _ = _load_reference(name)
    y = _survey_pca(x)
    res = projection_quality(x, y, k=7, measures=("trustworthiness", "continuity"))
    # sklearn on the float32 arrays as given (its float32 distances have no ties here) ...
    assert res["trustworthiness"] == pytest.approx(sk_trustworthiness(x, y, n_neighbors=7), abs=1e-9)
    assert res["continuity"] == pytest.approx(sk_trustworthiness(y, x, n_neighbors=7), abs=1e-9)
    # ... and in float64
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    assert res["trustworthiness"] == pytest.approx(sk_trustworthiness(xd, yd, n_neighbors=7), abs=1e-9)
    assert res["continuity"] == pytest.approx(sk_trustworthiness(yd, xd, n_neighbors=7), abs=1e-9)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_espadoto_values(name):
    x, labels = _load_reference(name)
    y = _survey_pca(x)
    res = projection_quality(x, y, labels, k=7)
    assert res["spearman_exact"] is True
    for key, value in PUBLISHED[name].items():
        assert res[key] == pytest.approx(value, abs=1e-6), key
    # Shepard equals scipy's Spearman on the condensed distances
    rho = spearmanr(pdist(x), pdist(y))[0]
    assert res["shepard_rho"] == pytest.approx(rho, abs=1e-12)
    assert res["shepard_goodness"] == pytest.approx((rho + 1) / 2, abs=1e-12)


def test_spearman_matches_scipy_with_ties():
    x, y = _tied_pair(4, n=60)
    rho = spearmanr(pdist(x), pdist(y))[0]
    assert shepard_rho(x, y) == pytest.approx(rho, abs=1e-12)
    assert shepard_goodness(x, y) == pytest.approx((rho + 1) / 2, abs=1e-12)
    x, y = _random_pair(5, n=120)
    assert shepard_rho(x, y) == pytest.approx(spearmanr(pdist(x), pdist(y))[0], abs=1e-12)


def test_stress_forms_match_pdist_formulas():
    x, y = _random_pair(6, n=100, d_high=9, d_low=3)
    ref = _naive_stress(x, y)
    for form in P.STRESS_FORMS:
        assert normalized_stress(x, y, form=form) == pytest.approx(ref[f"stress_{form}"], rel=1e-10, abs=1e-13)
    assert normalized_stress(x, y) == normalized_stress(x, y, form="seed")


def test_scaled_stress_is_scale_invariant():
    x, y = _random_pair(7, n=80)
    base = normalized_stress(x, y, form="scaled")
    for c in (1e-3, 0.5, 3.0, 1e4):
        assert normalized_stress(x, c * y, form="scaled") == pytest.approx(base, rel=1e-9, abs=1e-14)
    assert normalized_stress(x, 3.0 * y, form="raw") != pytest.approx(normalized_stress(x, y, form="raw"))
    # a scaled copy of the data has zero scale-normalised stress
    assert normalized_stress(x, 2.5 * x, form="scaled") == pytest.approx(0.0, abs=1e-12)


def test_identity_embedding():
    x, _ = _random_pair(8, n=70)
    labels = np.arange(70) % 3
    res = projection_quality(x, x, labels, k=5)
    assert res["trustworthiness"] == 1.0 and res["continuity"] == 1.0
    assert res["stress_seed"] == 0.0 and res["stress_raw"] == 0.0
    assert res["stress_scaled"] == pytest.approx(0.0, abs=1e-15)
    assert res["shepard_rho"] == pytest.approx(1.0, abs=1e-15)
    assert res["shepard_goodness"] == pytest.approx(1.0, abs=1e-15)


# --------------------------------------------------------------------------
# Ties and duplicates
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_ties_and_duplicates_follow_stable_index_order(seed, k):
    x, y = _tied_pair(seed)
    labels = np.arange(len(x)) % 4
    assert trustworthiness(x, y, k=k) == pytest.approx(_naive_trustworthiness(x, y, k), abs=1e-12)
    assert continuity(x, y, k=k) == pytest.approx(_naive_trustworthiness(y, x, k), abs=1e-12)
    for include_self in (False, True):
        got = neighborhood_hit(y, labels, k=k, include_self=include_self)
        assert got == pytest.approx(_naive_nh(y, labels, k, include_self), abs=1e-12)


def test_ties_do_not_depend_on_block_size_or_order_of_calls():
    x, y = _tied_pair(2, n=75)
    labels = np.arange(75) % 3
    want = set(P.MEASURES)
    runs = [P._evaluate(x, y, k=5, labels=labels, want=want, spearman_pairs=None, seed=0, block_rows=b,
                        backend="numpy") for b in (1, 7, 75)]
    runs.append(P._evaluate(x, y, k=5, labels=labels, want=want, spearman_pairs=None, seed=0))
    for r in runs[1:]:
        for key in ("trustworthiness", "continuity", "neighborhood_hit", "neighborhood_hit_self", "shepard_rho"):
            assert r[key] == runs[0][key], key
        for key in ("stress_seed", "stress_raw", "stress_scaled"):
            assert r[key] == pytest.approx(runs[0][key], rel=1e-12), key


def test_duplicates_against_sklearn_where_sklearn_is_tie_free():
    # Duplicated rows with identical copies in both spaces: each copy is at distance 0
    # and the copies are ordered by index in both spaces, so they cost nothing.
    rng = np.random.default_rng(9)
    base = rng.standard_normal((60, 6))
    x = np.concatenate([base, base[:5], base[:5]])  # three copies of points 0..4
    res = projection_quality(x, x, k=3, measures=("trustworthiness", "continuity", "stress", "shepard"))
    assert res["trustworthiness"] == 1.0 and res["continuity"] == 1.0 and res["stress_raw"] == 0.0
    assert res["shepard_rho"] == pytest.approx(spearmanr(pdist(x), pdist(x))[0], abs=1e-12)
    y = x[:, :2] + 1e-3 * rng.standard_normal((70, 2))
    assert trustworthiness(x, y, k=3) == pytest.approx(_naive_trustworthiness(x, y, 3), abs=1e-12)


def test_duplicate_detection_survives_hash_collisions(monkeypatch):
    x, y = _tied_pair(3, n=50)
    expected = trustworthiness(x, y, k=4), continuity(x, y, k=4)
    calls = []

    def same_hash(words):
        calls.append(words.shape)
        return np.zeros(words.shape[0], dtype=np.uint64)

    monkeypatch.setattr(P_space, "_row_hash", same_hash)
    assert (trustworthiness(x, y, k=4), continuity(x, y, k=4)) == expected
    assert calls  # the patched hash was used
    xr, yr = _random_pair(3, n=50)  # all rows distinct, every hash equal
    assert trustworthiness(xr, yr, k=4) == pytest.approx(sk_trustworthiness(xr, yr, n_neighbors=4), abs=1e-12)


# --------------------------------------------------------------------------
# projection_quality, neighbourhood hit, sampled Spearman, backends
# --------------------------------------------------------------------------


def test_projection_quality_equals_individual_functions():
    x, y = _random_pair(10, n=130, d_high=10, d_low=3)
    labels = np.random.default_rng(10).integers(0, 4, 130)
    res = projection_quality(x, y, labels, k=6)
    assert list(res) == ["trustworthiness", "continuity", "stress_seed", "stress_raw", "stress_scaled",
                         "neighborhood_hit", "neighborhood_hit_self", "shepard_goodness", "shepard_rho",
                         "k", "n", "spearman_exact", "spearman_pairs_used"]
    assert res["trustworthiness"] == trustworthiness(x, y, k=6)
    assert res["continuity"] == continuity(x, y, k=6)
    for form in P.STRESS_FORMS:
        assert res[f"stress_{form}"] == pytest.approx(normalized_stress(x, y, form=form), rel=1e-14)
    assert res["neighborhood_hit"] == neighborhood_hit(y, labels, k=6)
    assert res["neighborhood_hit_self"] == neighborhood_hit(y, labels, k=6, include_self=True)
    assert res["shepard_goodness"] == shepard_goodness(x, y)
    assert res["shepard_rho"] == shepard_rho(x, y)
    assert (res["k"], res["n"], res["spearman_exact"], res["spearman_pairs_used"]) == (6, 130, True, 130 * 129 // 2)
    no_labels = projection_quality(x, y, k=6)
    assert "neighborhood_hit" not in no_labels and "neighborhood_hit_self" not in no_labels
    assert no_labels["trustworthiness"] == res["trustworthiness"]
    only = projection_quality(x, y, labels, k=6, measures=("trustworthiness", "continuity", "neighborhood_hit"))
    assert set(only) == {"trustworthiness", "continuity", "neighborhood_hit", "neighborhood_hit_self", "k", "n"}
    assert only["continuity"] == res["continuity"]


def test_neighborhood_hit_matches_naive_and_sklearn_kneighbors():
    from sklearn.neighbors import NearestNeighbors

    x, y = _random_pair(11, n=120)
    labels = np.random.default_rng(11).integers(0, 3, 120)
    idx = NearestNeighbors(n_neighbors=7).fit(y).kneighbors(return_distance=False)
    assert neighborhood_hit(y, labels, k=7) == pytest.approx(np.mean(labels[idx] == labels[:, None]), abs=1e-15)
    # survey variant: the point itself plus its k − 1 nearest others
    idx_self = NearestNeighbors(n_neighbors=7).fit(y).kneighbors(y, return_distance=False)
    assert np.all(idx_self[:, 0] == np.arange(120))
    expected = np.mean(labels[idx_self] == labels[:, None])
    assert neighborhood_hit(y, labels, k=7, include_self=True) == pytest.approx(expected, abs=1e-15)
    # string labels work too
    names = np.array(["a", "b", "c"])[labels]
    assert neighborhood_hit(y, names, k=7) == neighborhood_hit(y, labels, k=7)


def test_sampled_spearman_records_choice_and_is_close_to_exact():
    rng = np.random.default_rng(12)
    n = 400
    x = rng.standard_normal((n, 8))
    y = x[:, :2] + 0.3 * rng.standard_normal((n, 2))
    exact = projection_quality(x, y, k=7)
    assert exact["spearman_exact"] is True and exact["spearman_pairs_used"] == n * (n - 1) // 2
    sampled = projection_quality(x, y, k=7, exact_spearman_max_n=100, spearman_pairs=20_000, seed=1)
    assert sampled["spearman_exact"] is False and sampled["spearman_pairs_used"] == 20_000
    assert sampled["shepard_rho"] == pytest.approx(exact["shepard_rho"], abs=0.02)
    assert sampled["shepard_rho"] != exact["shepard_rho"]
    again = projection_quality(x, y, k=7, exact_spearman_max_n=100, spearman_pairs=20_000, seed=1)
    assert again["shepard_rho"] == sampled["shepard_rho"]
    other = projection_quality(x, y, k=7, exact_spearman_max_n=100, spearman_pairs=20_000, seed=2)
    assert other["shepard_rho"] != sampled["shepard_rho"]
    # the other measures do not depend on the sample
    for key in ("trustworthiness", "continuity", "stress_seed"):
        assert sampled[key] == exact[key]
    # more pairs requested than exist: exact
    full = projection_quality(x, y, k=7, exact_spearman_max_n=100, spearman_pairs=10**9)
    assert full["spearman_exact"] is True and full["shepard_rho"] == exact["shepard_rho"]
    # shepard_goodness with max_pairs
    assert shepard_goodness(x, y, max_pairs=20_000, seed=1) == sampled["shepard_goodness"]


def test_sample_pairs_are_distinct_sorted_upper_triangle():
    n, m = 57, 1000
    ptr, cols = P._sample_pairs(n, m, seed=3)
    rows = np.repeat(np.arange(n), np.diff(ptr))
    assert ptr[-1] == m and np.all(rows < cols) and np.all(cols < n)
    q = rows * n + cols
    assert np.all(np.diff(q) > 0)  # sorted, distinct
    ptr_all, cols_all = P._sample_pairs(n, n * (n - 1) // 2, seed=0)
    assert np.array_equal(np.diff(ptr_all), np.arange(n - 1, -1, -1))


@pytest.mark.skipif(not P._HAVE_NUMBA, reason="numba is not installed")
def test_numba_backend_equals_numpy_backend():
    rng = np.random.default_rng(13)
    xt, yt = _tied_pair(13, n=80)
    xr, yr = _random_pair(13, n=90)
    cases = [(xt, yt, None), (xr, yr, None), (xr, yr, 500)]
    for x, y, pairs in cases:
        labels = rng.integers(0, 3, len(x))
        a, b = (P._evaluate(x, y, k=5, labels=labels, want=set(P.MEASURES), spearman_pairs=pairs, seed=4,
                            block_rows=13, backend=be) for be in ("numpy", "numba"))
        assert a.keys() == b.keys()
        for key in a:
            if key.startswith("stress"):
                assert a[key] == pytest.approx(b[key], rel=1e-12)
            else:
                assert a[key] == b[key], key


def test_inputs_with_more_dims_are_flattened_and_float32_is_fine():
    rng = np.random.default_rng(14)
    imgs = rng.random((60, 4, 4, 1)).astype(np.float32)
    codes = rng.random((60, 3)).astype(np.float32)
    flat = imgs.reshape(60, -1).astype(np.float64)
    assert trustworthiness(imgs, codes, k=4) == trustworthiness(flat, codes.astype(np.float64), k=4)
    assert projection_quality(imgs, codes, k=4)["shepard_rho"] == shepard_rho(flat, codes)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

X10 = np.random.default_rng(0).random((15, 4))
Y10 = X10[:, :2]


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: trustworthiness(X10, Y10, k=10), r"Expected 1 <= k < n/2\. Received: k=10, n=15"),
        (lambda: trustworthiness(X10, Y10, k=0), r"Expected 1 <= k < n/2\. Received: k=0, n=15"),
        (lambda: continuity(X10, Y10, k=8), r"Expected 1 <= k < n/2\. Received: k=8, n=15"),
        (lambda: projection_quality(X10, Y10, k=-1), r"Received: k=-1, n=15"),
        (lambda: neighborhood_hit(Y10, np.zeros(15), k=8), r"Received: k=8, n=15"),
        (lambda: trustworthiness(X10, Y10, k=2.0), r"Expected an integer k .* Received: k=2\.0, n=15"),
        (lambda: trustworthiness(X10, Y10, k=True), r"Received: k=True"),
        (lambda: trustworthiness(X10, Y10[:14], k=3), r"same number of samples\. Received: 15 and 14"),
        (lambda: normalized_stress(X10[:3], Y10), r"same number of samples\. Received: 3 and 15"),
        (lambda: shepard_goodness(X10, Y10[:5]), r"Received: 15 and 5"),
        (lambda: trustworthiness(X10[:, 0], Y10, k=3),
         r"x_high with shape \(n_samples, n_features\).*Received: shape=\(15,\)"),
        (lambda: normalized_stress(X10, Y10[:, 0]), r"x_low with shape .*Received: shape=\(15,\)"),
        (lambda: neighborhood_hit(np.zeros(15), np.zeros(15)), r"x_low .*Received: shape=\(15,\)"),
        (lambda: trustworthiness(np.where(X10 > 0.9, np.nan, X10), Y10, k=3),
         r"x_high contains NaN or infinite values\. Received: \d+ non-finite"),
        (lambda: continuity(X10, np.where(Y10 > 0.5, np.inf, Y10), k=3), r"x_low contains NaN or infinite values"),
        (lambda: neighborhood_hit(Y10, np.zeros(14), k=3),
         r"Expected labels of shape \(15,\)\. Received: shape=\(14,\)"),
        (lambda: projection_quality(X10, Y10, np.zeros((15, 2)), k=3),
         r"labels of shape \(15,\)\. Received: shape=\(15, 2\)"),
        (lambda: normalized_stress(X10, Y10, form="kruskal"),
         r"Expected form in \('seed', 'raw', 'scaled'\)\. Received: form='kruskal'"),
        (lambda: projection_quality(X10, Y10, k=3, measures=("trust",)),
         r"Expected measures from .*Received: \['trust'\]"),
        (lambda: projection_quality(X10, Y10, k=3, measures=("neighborhood_hit",)),
         r"Expected labels .*Received: labels=None"),
        (lambda: projection_quality(X10, Y10, k=3, spearman_pairs=1),
         r"spearman_pairs an integer >= 2\. Received: spearman_pairs=1"),
        (lambda: shepard_rho(X10, Y10, max_pairs=1), r"Received: max_pairs=1"),
        (lambda: trustworthiness(np.zeros((15, 0)), Y10, k=3),
         r"at least one sample and one feature\. Received: shape=\(15, 0\)"),
        (lambda: trustworthiness(X10 + 1j, Y10, k=3), r"real numeric dtype\. Received: dtype=complex128"),
        (lambda: normalized_stress(X10[:1], Y10[:1]), r"at least 2 samples\. Received: n=1"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_reused_gram_tiles_give_the_same_results(monkeypatch):
    # Half the matrix products: tiles right of the diagonal are kept for later rows.
    rng = np.random.default_rng(15)
    xt = rng.integers(0, 3, (97, 70)).astype(np.float64)  # exact ties and duplicates
    xt[50:60] = xt[:10]
    yt = xt[:, :3].copy()
    xr = rng.standard_normal((97, 70))
    yr = xr[:, :3] + 0.2 * rng.standard_normal((97, 3))
    labels = np.arange(97) % 5
    for x, y in ((xt, yt), (xr, yr)):
        plain = P._evaluate(x, y, k=4, labels=labels, want=set(P.MEASURES), spearman_pairs=None, seed=0,
                            block_rows=10, backend="numpy")
        monkeypatch.setattr(P_eval, "_REUSE_MIN_DIM", 1)
        calls = []
        monkeypatch.setattr(P._Space, "enable_reuse",
                            lambda self, b, f=P._Space.enable_reuse: (calls.append(b), f(self, b)))
        reused = P._evaluate(x, y, k=4, labels=labels, want=set(P.MEASURES), spearman_pairs=None, seed=0,
                             block_rows=10, backend="numpy")
        monkeypatch.undo()
        assert calls == [10, 10]
        for key in plain:
            assert reused[key] == pytest.approx(plain[key], rel=1e-12, abs=1e-15), key
        for key in ("trustworthiness", "continuity", "neighborhood_hit", "neighborhood_hit_self"):
            assert reused[key] == plain[key]
        assert plain["trustworthiness"] == pytest.approx(_naive_trustworthiness(x, y, 4), abs=1e-12)


def test_constant_columns_and_identical_points():
    rng = np.random.default_rng(16)
    x = rng.random((30, 6))
    x[:, 2] = 5.0  # a constant feature changes no distance
    y = x[:, :2]
    assert projection_quality(x, y, k=3) == projection_quality(np.delete(x, 2, axis=1), y, k=3)
    same = np.ones((20, 5))  # all points identical: every distance 0, ties by index in both spaces
    res = projection_quality(same, same[:, :2], np.arange(20) % 2, k=3)
    assert res["trustworthiness"] == 1.0 and res["continuity"] == 1.0 and res["stress_seed"] == 0.0
    assert res["neighborhood_hit"] == pytest.approx(_naive_nh(same[:, :2], np.arange(20) % 2, 3, False))
    assert np.isnan(res["shepard_rho"])  # Spearman of constant distances is undefined


# --------------------------------------------------------------------------
# Exact decisions: float32 products, near-ties, exact arithmetic
# --------------------------------------------------------------------------


def _exact_ranks(x):
    """Rank matrix and neighbour order from EXACT squared distances (Python integers), ties by index."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    mant, expo = np.frexp(x)
    m = (mant * 2.0**53).astype(np.int64)
    e = expo.astype(np.int64) - 53
    e0 = int(e[m != 0].min()) if (m != 0).any() else 0
    xi = np.array([[int(a) << int(b - e0) if a else 0 for a, b in zip(mr, er)] for mr, er in zip(m, e)],
                  dtype=object)
    ranks = np.zeros((n, n), dtype=np.int64)
    order = np.zeros((n, n - 1), dtype=np.int64)
    for i in range(n):
        diff = xi - xi[i]
        d = (diff * diff).sum(axis=1)
        o = sorted((j for j in range(n) if j != i), key=lambda j: (d[j], j))
        order[i] = o
        ranks[i, o] = np.arange(1, n)
    return ranks, order


def _exact_measures(x, y, labels, k):
    rx, ox = _exact_ranks(x)
    ry, oy = _exact_ranks(y)
    n = len(x)
    norm = 2.0 / (n * k * (2 * n - 3 * k - 1))
    pen_t = sum(int(rx[i, j]) - k for i in range(n) for j in oy[i, :k] if j not in ox[i, :k])
    pen_c = sum(int(ry[i, j]) - k for i in range(n) for j in ox[i, :k] if j not in oy[i, :k])
    same = labels[oy[:, :k]] == labels[:, None]
    return {"trustworthiness": 1.0 - pen_t * norm, "continuity": 1.0 - pen_c * norm,
            "neighborhood_hit": float(same.sum()) / (n * k),
            "neighborhood_hit_self": float((1 + same[:, : k - 1].sum(axis=1)).sum()) / (n * k)}


def _near_tie_pixels(seed, n=150, d_high=64, d_low=16):
    """Pixel-like data in float64 with many near-ties: small integers / 255 (equal integer
    sums, unequal float64 representations), duplicated rows, and rows one ulp away."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, (n, d_high)) / 255.0
    x[n - 20 : n - 10] = x[:10]  # exact duplicates
    x[n - 10 :] = x[10:20]
    x[n - 5 :, 0] = np.nextafter(x[n - 5 :, 0], 1.0)  # one ulp away from rows 15..19
    y = (x[:, :d_low] * 255.0 + rng.integers(0, 2, (n, d_low))) / 255.0
    return x, y


def _decimal_ties(seed, n=120, d_high=20, d_low=16):
    """Decimals (not on a binary grid, so float64 Gram sums round) with many EXACT ties."""
    rng = np.random.default_rng(seed)
    vals = np.array([0.1, 0.2, 0.7])
    return vals[rng.integers(0, 3, (n, d_high))], vals[rng.integers(0, 3, (n, d_low))]


class _Spy:
    def __init__(self, monkeypatch):
        self.spaces = []
        orig = P._Space
        spy = self

        class Recorded(orig):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                spy.spaces.append(self)

        monkeypatch.setattr(P_eval, "_Space", Recorded)


KEYS_EXACT = ("trustworthiness", "continuity", "neighborhood_hit", "neighborhood_hit_self")


@pytest.mark.skipif(not P._HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("data", ["pixels", "decimals"])
def test_float32_products_give_the_exact_float64_decisions(monkeypatch, data):
    x, y = _near_tie_pixels(0) if data == "pixels" else _decimal_ties(1)
    labels = np.arange(len(x)) % 3
    want = {"trustworthiness", "continuity", "neighborhood_hit"}
    expected = _exact_measures(x, y, labels, 5)
    spy = _Spy(monkeypatch)
    monkeypatch.setattr(P_threads, "_n_threads", lambda: 2)  # the threaded path, tiles included
    monkeypatch.setattr(P_eval, "_REUSE_MIN_DIM", 1)
    runs = {}
    for name, kw in {"f32": dict(backend="numba"), "f64": dict(backend="numba", precision="float64"),
                     "numpy": dict(backend="numpy"), "f32-blocks": dict(backend="numba", block_rows=17)}.items():
        spy.spaces.clear()
        runs[name] = P._evaluate(x, y, k=5, labels=labels, want=want, spearman_pairs=None, seed=0, **kw)
        assert spy.spaces and all(sp.f32 == name.startswith("f32") for sp in spy.spaces), name
        if name == "f32-blocks":
            assert all(sp.tiled for sp in spy.spaces)  # products saved as tiles, read transposed
    monkeypatch.setattr(P_threads, "_blas_one_thread", lambda: None)  # without threadpoolctl: pipelined
    runs["f32-pipelined"] = P._evaluate(x, y, k=5, labels=labels, want=want, spearman_pairs=None, seed=0,
                                        backend="numba", block_rows=17)
    for name, res in runs.items():
        for key in KEYS_EXACT:
            assert res[key] == expected[key], (name, key)
    # the data are full of near-ties: the float64 path needs its exact fallbacks too
    assert expected["trustworthiness"] < 1.0 and expected["continuity"] < 1.0


@pytest.mark.skipif(not P._HAVE_NUMBA, reason="numba is not installed")
def test_float32_products_on_reference_like_data_match_float64(monkeypatch):
    # random data with an offset (centring rounds), a different scale per column, k = 1 and 9
    rng = np.random.default_rng(21)
    x = 1e3 + rng.standard_normal((300, 70)) * np.exp(rng.uniform(-3, 3, 70))
    y = x[:, :20] + 0.3 * rng.standard_normal((300, 20))
    labels = rng.integers(0, 4, 300)
    monkeypatch.setattr(P_threads, "_n_threads", lambda: 2)
    for k in (1, 9):
        a = P._evaluate(x, y, k=k, labels=labels, want=set(P.MEASURES) - {"stress", "shepard"},
                        spearman_pairs=None, seed=0, backend="numba", block_rows=64)
        b = P._evaluate(x, y, k=k, labels=labels, want=set(P.MEASURES) - {"stress", "shepard"},
                        spearman_pairs=None, seed=0, backend="numba", precision="float64")
        for key in KEYS_EXACT:
            assert a[key] == b[key], (k, key)
        assert a["trustworthiness"] == pytest.approx(sk_trustworthiness(x, y, n_neighbors=k), abs=1e-12)


def test_error_bounds_hold():
    # |A − D| ≤ κ (sq_i + sq_j) + τ for the float32 and float64 products, D the exact
    # squared distance (here: the direct float64 sum R, within its own bound ρ R + τ₁)
    rng = np.random.default_rng(22)
    cases = [rng.standard_normal((200, 300)), 5.0 + rng.random((200, 50)) / 255.0,
             rng.integers(0, 256, (200, 784)) / 255.0, np.exp(rng.uniform(-20, 20, (200, 30)))]
    for a in cases:
        for f32 in (False, True):
            sp = P._Space(a, f32=f32)
            g = sp.xg @ sp.xg.T  # float32 products are also summed in float32, as the kernel does
            amat = np.maximum(sp.sq_g[:, None] + sp.sq_g[None, :] - (g + g), 0).astype(np.float64)
            diff = sp.raw[:, None, :] - sp.raw[None, :, :]
            r = np.einsum("ijk,ijk->ij", diff, diff)
            bound = sp.kappa * (sp.sq[:, None] + sp.sq[None, :]) + sp.tau + sp.rho * r + sp.tau1
            np.fill_diagonal(amat, 0.0)
            assert np.all(np.abs(amat - r) <= bound)
            # the bound is not absurdly loose either (the float32 error is far below it)
            assert np.abs(amat - r).max() > 1e-4 * bound.max() or not f32


def test_exact_grid_certificate():
    rng = np.random.default_rng(23)
    ints = rng.integers(0, 256, (50, 784)).astype(np.float64)
    sp = P._Space(ints)
    assert sp.exact and sp.exact_raw and sp.kappa == 0.0 and sp.rho == 0.0
    assert P._Space(ints + 1e6).exact_raw  # differences exact despite the offset
    assert not P._Space(ints / 255.0).exact_raw
    assert P._Space(ints * 2.0**40).exact  # a power of two changes nothing
    fine = ints + rng.integers(0, 2**30, ints.shape) * 2.0**-30
    assert not P._Space(fine).exact_raw  # too many bits for exact sums
    assert P._Space(ints, f32=True).exact_raw and P._Space(ints, f32=True).kappa > 0.0


@pytest.mark.skipif(not P._HAVE_NUMBA, reason="numba is not installed")
def test_exact_comparisons_of_squared_distances():
    # sign(D_ia − D_ib) from the double-double and exact (Shewchuk) kernels and the
    # Python-integer one, on exact ties and on differences of one unit in the last place
    rng = np.random.default_rng(24)
    for trial in range(200):
        d = int(rng.integers(1, 40))
        base = rng.choice([0.1, 0.2, 0.7, 1.0 / 3.0, 1e-3], size=(3, d))
        if trial % 3 == 0:
            base[2] = base[1][rng.permutation(d)]  # a permutation: an exact tie when base[0] is constant
            base[0] = base[0][0]
        if trial % 3 == 1:
            base[2] = base[1]
            base[2, 0] = np.nextafter(base[2, 0], 2.0)
        x = np.ascontiguousarray(base)
        exact = _exact_ranks(x)[1][0]  # order of points 1 and 2 seen from 0, ties by index
        want = -1 if list(exact) == [1, 2] else 1
        sp = P._Space(x)
        s_np = P._np_exact_sign(sp, 0, 1, 2)
        s_ex = P._nb_cmp_exact(x, 0, 1, 2)
        s_dd = P._nb_cmp_dd(x, 0, 1, 2)
        assert s_np == s_ex
        assert s_dd in (s_ex, 2)
        assert (s_ex < 0 or (s_ex == 0 and 1 < 2)) == (want < 0)
