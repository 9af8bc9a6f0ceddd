import numpy as np
import pytest

from aelib.metrics.reconstruction import mean_image_rmse, rmse_per_sample, summarize


def test_rmse_against_hand_computed_value():
    x = np.array([[0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    x_hat = np.array([[0.0, 1.0, 1.0, 0.0], [0.5, 0.5, 0.5, 0.1]])
    # sample 1: two errors of 1 over 4 values → sqrt(2/4); sample 2: one error of 0.4 → sqrt(0.16/4) = 0.2
    np.testing.assert_allclose(rmse_per_sample(x, x_hat), [np.sqrt(0.5), 0.2])


def test_rmse_of_images_flattens_each_sample():
    x = np.zeros((2, 28, 28, 1))
    x_hat = np.full((2, 28, 28, 1), 0.25)
    np.testing.assert_allclose(rmse_per_sample(x, x_hat), [0.25, 0.25])


def test_summary_and_interval():
    s = summarize([1.0, 2.0, 3.0])
    assert s["rmse_mean"] == 2.0 and s["rmse_std"] == 1.0 and s["rmse_median"] == 2.0
    assert s["rmse_ci95_low"] == pytest.approx(2.0 - 1.96 / np.sqrt(3))


def test_mean_image_baseline():
    train = np.array([[0.0, 1.0], [1.0, 1.0]])
    test = np.array([[0.5, 1.0]])
    np.testing.assert_allclose(mean_image_rmse(train, test), [0.0])


@pytest.mark.parametrize("a,b,match", [
    (np.zeros((2, 3)), np.zeros((2, 4)), "same shape"),
    (np.zeros((0, 3)), np.zeros((0, 3)), "at least one sample"),
    (np.array([[np.nan]]), np.array([[0.0]]), "NaN"),
])
def test_bad_inputs(a, b, match):
    with pytest.raises(ValueError, match=match):
        rmse_per_sample(a, b)
