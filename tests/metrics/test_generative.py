import numpy as np
import pytest

from aelib.metrics.generative import class_spread, frechet_distance

FEATS = np.random.default_rng(0).normal(size=(400, 6))


def test_identical_sets_are_zero():
    assert frechet_distance(FEATS, FEATS) == pytest.approx(0.0, abs=1e-8)


def test_shift_gives_squared_norm():
    m = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.25])
    # same sample shifted: equal covariances, so the trace term vanishes exactly
    assert frechet_distance(FEATS, FEATS + m) == pytest.approx(m @ m, rel=1e-8)


def test_one_dimensional_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 2.0, size=(300, 1)), rng.normal(-0.5, 0.7, size=(500, 1))
    s1, s2 = a.std(ddof=1), b.std(ddof=1)
    expected = (s1 - s2) ** 2 + (a.mean() - b.mean()) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_symmetric_and_singular_covariances():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(7, 20))  # fewer samples than features
    d = frechet_distance(a, b)
    assert np.isfinite(d) and d > 0
    assert frechet_distance(b, a) == pytest.approx(d, rel=1e-4)


@pytest.mark.parametrize("a, b, message", [
    (FEATS[0], FEATS, "shape"),
    (FEATS[:1], FEATS, "at least 2 samples"),
    (FEATS, FEATS[:, :3], "same number of features"),
    (np.where(FEATS > 2, np.nan, FEATS), FEATS, "NaN"),
])
def test_bad_inputs(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def test_class_spread():
    even = class_spread(np.arange(100) % 10, num_classes=10)
    assert even["class_entropy"] == pytest.approx(1.0) and even["max_class_share"] == pytest.approx(0.1)
    collapsed = class_spread(np.zeros(50, dtype=int), num_classes=10)
    assert collapsed["class_entropy"] == pytest.approx(0.0) and collapsed["max_class_share"] == 1.0
    with pytest.raises(ValueError, match="labels in"):
        class_spread([0, 10], num_classes=10)
