import numpy as np
import pytest

from aelib.sampling import draw_codes, fit_code_density

MEAN = np.array([1.0, -2.0, 0.5])
COV = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
CODES = np.random.default_rng(0).multivariate_normal(MEAN, COV, size=4000)


@pytest.mark.parametrize("n_components", [1, 10])
def test_draws_follow_the_fitted_gaussian(n_components):
    # Gaussian codes: the mixture's draws have the codes' mean and covariance (one component is the maximum
    # likelihood Gaussian itself; ten components still describe the same density)
    density = fit_code_density(CODES, n_components=n_components, seed=0)
    draws = draw_codes(density, 20000, seed=1)
    assert draws.shape == (20000, 3) and draws.dtype == np.float32
    np.testing.assert_allclose(draws.mean(axis=0), MEAN, atol=0.06)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), COV, atol=0.1)


def test_one_component_is_the_sample_mean_and_covariance():
    density = fit_code_density(CODES, n_components=1, seed=0)
    np.testing.assert_allclose(density.means[0], CODES.mean(axis=0), atol=1e-8)
    np.testing.assert_allclose(density.covariances[0], np.cov(CODES, rowvar=False, ddof=0), atol=1e-5)
    assert density.weights == pytest.approx([1.0]) and density.converged


def test_draws_come_from_the_mixture_components():
    # two far-apart clusters with 3:1 weights: the draws keep the weights and never fall in between
    rng = np.random.default_rng(2)
    codes = np.concatenate([rng.normal(-10, 0.5, size=(3000, 2)), rng.normal(10, 0.5, size=(1000, 2))])
    draws = draw_codes(fit_code_density(codes, n_components=2, seed=0), 8000, seed=3)
    left = draws[:, 0] < 0
    assert left.mean() == pytest.approx(0.75, abs=0.02)
    assert np.abs(np.abs(draws[:, 0]) - 10).max() < 3.5


def test_seeded():
    density = fit_code_density(CODES, n_components=3, seed=0)
    again = fit_code_density(CODES, n_components=3, seed=0)
    np.testing.assert_array_equal(density.means, again.means)
    np.testing.assert_array_equal(draw_codes(density, 50, seed=4), draw_codes(again, 50, seed=4))
    assert not np.array_equal(draw_codes(density, 50, seed=4), draw_codes(density, 50, seed=5))


def test_constant_codes_still_have_a_density():
    codes = np.ones((100, 4))  # a collapsed encoder
    draws = draw_codes(fit_code_density(codes, n_components=2, seed=0), 10, seed=0)
    np.testing.assert_allclose(draws, 1.0, atol=1e-2)


@pytest.mark.parametrize("codes, n_components, message", [
    (np.zeros(10), 1, "shape"),
    (CODES[:5], 10, "at least n_components=10 codes"),
    (CODES, 0, "n_components >= 1"),
    (np.where(CODES > 3, np.nan, CODES), 2, "finite codes"),
])
def test_bad_inputs(codes, n_components, message):
    with pytest.raises(ValueError, match=message):
        fit_code_density(codes, n_components=n_components, seed=0)
