import numpy as np
import pytest

from aelib.metrics.samples import density_coverage, knn_radii, precision_recall, sample_scores

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(300, 4))


def test_knn_radii_closed_form_on_a_line():
    points = np.arange(6, dtype=float)[:, None]  # 0, 1, …, 5
    # 2nd neighbour: the ends reach 2 away, the inner points 1 away on each side
    np.testing.assert_allclose(knn_radii(points, k=2), [2, 1, 1, 1, 1, 2])
    np.testing.assert_allclose(knn_radii(points, k=1), [1, 1, 1, 1, 1, 1])


def test_identical_sets_score_one():
    k = 5
    scores = sample_scores(REAL, REAL.copy(), k=k)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0 and scores["coverage"] == 1.0
    # every point lies in its own copy's ball and in the balls of the k points it is a k-NN of: on average k + 1
    assert scores["density"] == pytest.approx((k + 1) / k)


def test_disjoint_sets_score_zero():
    far = REAL + 100.0
    scores = sample_scores(REAL, far, k=5)
    assert scores == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_same_distribution_scores_high_and_half_shifted_half():
    other = np.random.default_rng(1).normal(size=(300, 4))
    same = sample_scores(REAL, other, k=5)
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and same["coverage"] > 0.8
    assert 0.7 < same["density"] < 1.3
    # half the samples far away: precision and density halve, recall and coverage hold (half the samples
    # are still spread like the real data)
    half = np.concatenate([other[:150], other[150:] + 100.0])
    mixed = sample_scores(REAL, half, k=5)
    assert mixed["precision"] == pytest.approx(same["precision"] * 0.5, abs=0.08)
    assert mixed["density"] == pytest.approx(same["density"] * 0.5, abs=0.1)
    assert mixed["coverage"] > 0.6


def test_collapsed_samples_have_no_recall():
    # every sample the same point (a decoder that ignores its code): one sample ball of radius 0
    collapsed = np.repeat(REAL.mean(axis=0, keepdims=True), 300, axis=0)
    scores = sample_scores(REAL, collapsed, k=5)
    assert scores["recall"] <= 1 / 300  # at most a real point exactly at the mean
    assert scores["coverage"] < 0.05  # only the real balls around the mean contain it


def test_partial_functions_agree_with_sample_scores():
    other = np.random.default_rng(2).normal(0.5, 1.0, size=(250, 4))
    both = sample_scores(REAL, other, k=3)
    assert precision_recall(REAL, other, k=3) == {k: both[k] for k in ("precision", "recall")}
    assert density_coverage(REAL, other, k=3) == {k: both[k] for k in ("density", "coverage")}


def test_blocks_do_not_change_the_result(monkeypatch):
    import aelib.metrics.samples as samples

    other = np.random.default_rng(3).normal(size=(200, 4))
    whole = sample_scores(REAL, other, k=5)
    monkeypatch.setattr(samples, "_BLOCK", 700)  # a few rows per block
    assert sample_scores(REAL, other, k=5) == whole


@pytest.mark.parametrize("real, fake, k, message", [
    (REAL[0], REAL, 5, "shape"),
    (REAL, REAL[:, :2], 5, "same size"),
    (REAL, REAL[:5], 5, "more than k=5 fake"),
    (REAL, REAL, 0, "k >= 1"),
    (np.where(REAL > 2, np.nan, REAL), REAL, 5, "NaN"),
])
def test_bad_inputs(real, fake, k, message):
    with pytest.raises(ValueError, match=message):
        sample_scores(real, fake, k=k)
