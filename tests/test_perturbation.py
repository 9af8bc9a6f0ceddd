import numpy as np
import pytest

from aelib.perturbation import code_scale, perturb

CODES = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32) + 0.1
SCALE = np.array([0.5, 1.0, 2.0, 0.0, 3.0], dtype=np.float32)


@pytest.mark.parametrize("mode", ["relative", "additive"])
def test_zero_perturbation_is_identity(mode):
    out = perturb(CODES, 0.0, mode=mode, scale=SCALE, seed=3)
    np.testing.assert_array_equal(out, CODES)
    assert out is not CODES


@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
def test_relative_bounds(p):
    out = perturb(CODES, p, mode="relative", seed=1)
    ratio = out / CODES
    assert np.all(np.abs(ratio - 1) <= p + 1e-5)
    assert np.abs(ratio - 1).max() > 0.8 * p  # the draw uses the range, not a sliver of it


@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
def test_additive_bounds(p):
    out = perturb(CODES, p, mode="additive", scale=SCALE, seed=1)
    assert np.all(np.abs(out - CODES) <= p * SCALE[None, :] + 1e-5)
    np.testing.assert_array_equal(out[:, 3], CODES[:, 3])  # zero spread: unchanged


def test_seeded_determinism_and_input_untouched():
    before = CODES.copy()
    a = perturb(CODES, 0.3, seed=7)
    b = perturb(CODES, 0.3, seed=7)
    c = perturb(CODES, 0.3, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(CODES, before)
    assert a.dtype == np.float32 and a.shape == CODES.shape


@pytest.mark.parametrize("kwargs, message", [
    ({"max_fraction": -0.1}, "0 <= max_fraction <= 1"),
    ({"max_fraction": 1.5}, "0 <= max_fraction <= 1"),
    ({"max_fraction": 0.1, "mode": "multiplicative"}, "Expected mode in"),
    ({"max_fraction": 0.1, "mode": "additive"}, "needs scale"),
    ({"max_fraction": 0.1, "mode": "additive", "scale": -SCALE}, "non-negative"),
    ({"max_fraction": 0.1, "mode": "additive", "scale": SCALE[:3]}, "shape"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        perturb(CODES, **kwargs)


def test_bad_codes():
    bad = CODES.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        perturb(bad, 0.1)
    with pytest.raises(ValueError, match="shape"):
        perturb(CODES[0], 0.1)


def test_code_scale():
    np.testing.assert_allclose(code_scale(CODES), CODES.std(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="at least two"):
        code_scale(CODES[:1])
