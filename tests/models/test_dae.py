"""The denoising autoencoder: the family contract, each corruption's statistics, corrupted training inputs and
clean evaluation."""
import keras
import numpy as np
import pytest

from aelib.models import build_model
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_bad_option,
    assert_config_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "dae"
IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
HALF = np.full((50, 28, 28, 1), 0.5, dtype="float32")  # 39,200 values: fractions to about ±0.005


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


@pytest.mark.parametrize("level", [0.1, 0.3])
def test_dae_masking_zeroes_the_fraction(level):
    noisy = build_model("dae", latent_dim=2, depth=1, corruption="masking", noise_level=level).corrupt(HALF, seed=1)
    assert np.mean(noisy == 0) == pytest.approx(level, abs=0.015)
    assert set(np.unique(noisy)) <= {0.0, 0.5}


def test_dae_gaussian_noise_has_std_sigma():
    model = build_model("dae", latent_dim=2, depth=1, corruption="gaussian", noise_level=0.1)
    noise = model.corrupt(HALF, seed=1) - HALF
    assert noise.std() == pytest.approx(0.1, rel=0.03)
    assert abs(noise.mean()) < 0.005
    # Not clipped, whatever the output activation: noise leaves [0, 1] on both sides.
    noisy = model.corrupt(IMAGES, seed=0)
    assert noisy.min() < 0.0 and noisy.max() > 1.0
    loud = build_model("dae", input_shape=(784,), latent_dim=2, depth=1, noise_level=1.0, output_activation="linear")
    assert loud.corrupt(IMAGES.reshape(16, -1), seed=0).min() < 0.0


def test_dae_gaussian_corruption_is_mean_zero_on_a_black_background():
    """Clipping would give E[max(0, σε)] = σ/√(2π) ≈ 0.12 at σ = 0.3 on MNIST's zero pixels."""
    sigma = 0.3
    model = build_model("dae", latent_dim=2, depth=1, corruption="gaussian", noise_level=sigma)
    black = np.zeros((100, 28, 28, 1), dtype="float32")  # 78,400 values
    noisy = model.corrupt(black, seed=3)
    standard_error = sigma / np.sqrt(noisy.size)  # ≈ 0.0011
    assert abs(noisy.mean()) < 4 * standard_error
    assert sigma / np.sqrt(2 * np.pi) > 100 * standard_error  # the clipped bias would fail by far
    # Masking and salt-and-pepper stay in [0, 1] by construction.
    for corruption in ("masking", "salt_and_pepper"):
        other = build_model("dae", latent_dim=2, depth=1, corruption=corruption,
                            noise_level=0.5).corrupt(IMAGES, seed=0)
        assert other.min() >= 0.0 and other.max() <= 1.0


def test_dae_salt_and_pepper_sets_zeros_and_ones():
    model = build_model("dae", latent_dim=2, depth=1, corruption="salt_and_pepper", noise_level=0.2)
    noisy = model.corrupt(HALF, seed=1)
    hit = noisy != 0.5
    assert hit.mean() == pytest.approx(0.2, abs=0.015)
    assert set(np.unique(noisy[hit])) == {0.0, 1.0}
    assert np.mean(noisy[hit]) == pytest.approx(0.5, abs=0.05)
    np.testing.assert_array_equal(noisy, model.corrupt(HALF, seed=1))
    assert not np.array_equal(noisy, model.corrupt(HALF, seed=2))


@pytest.mark.parametrize("corruption, level", [("masking", 0.25), ("salt_and_pepper", 0.25), ("gaussian", 0.2)])
def test_dae_training_inputs_corrupted_evaluation_clean(corruption, level):
    model = build_model("dae", input_shape=(400,), latent_dim=400, depth=1, corruption=corruption,
                        noise_level=level, output_activation="linear")
    clean = np.full((20, 400), 0.5, dtype="float32")
    # Evaluation uses clean inputs: deterministic and equal to the encoder on x.
    np.testing.assert_array_equal(model.encode(clean), model.encode(clean))
    np.testing.assert_allclose(model.encode(clean), keras.ops.convert_to_numpy(model.encoder(clean)), atol=1e-6)
    np.testing.assert_array_equal(model.reconstruct(clean), model.reconstruct(clean))
    # With an identity encoder, the code seen in training is the corrupted input itself.
    x_in = keras.Input((400,))
    model.encoder = keras.Model(x_in, keras.layers.Identity()(x_in))
    seen = keras.ops.convert_to_numpy(model(clean, training=True)["z"])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(clean, training=False)["z"]), clean)
    if corruption == "gaussian":
        assert (seen - clean).std() == pytest.approx(level, rel=0.05)
    else:
        assert np.mean(seen != clean) == pytest.approx(level, abs=0.03)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"corruption": "blur"}, "corruption='blur'"),
        ({"corruption": "masking", "noise_level": 1.5}, "noise_level=1.5"),
        ({"corruption": "salt_and_pepper", "noise_level": -0.1}, "noise_level=-0.1"),
        ({"noise_level": -1.0}, "noise_level=-1.0"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)


@pytest.mark.parametrize("options", [{"corruption": "masking", "noise_level": 0.5}])
def test_config_round_trip(options):
    assert_config_round_trip(FAMILY, options, IMAGES)
