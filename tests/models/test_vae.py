"""The variational autoencoder: the family contract, the KL term against its closed form, the mean as the code,
sampling, and how extra loss terms are logged and weighted."""
import keras
import numpy as np
import pytest

from aelib import losses
from aelib.models import build_model
from aelib.training import train
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_bad_option,
    assert_config_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "vae"
IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


def test_gaussian_kl_closed_forms():
    zeros = np.zeros((4, 3), dtype="float32")
    assert float(losses.gaussian_kl(zeros, zeros)) == pytest.approx(0.0, abs=1e-7)
    # KL(N(μ, σ²) ‖ N(0, 1)) = ½ (σ² + μ² − 1 − ln σ²) per dimension.
    mean = np.full((2, 3), 1.0, dtype="float32")
    log_var = np.full((2, 3), np.log(2.0), dtype="float32")
    assert float(losses.gaussian_kl(mean, log_var)) == pytest.approx(3 * 0.5 * (2.0 - np.log(2.0)), rel=1e-6)


def test_vae_encode_is_the_mean_and_training_samples():
    model = build_model("vae", latent_dim=3, depth=1, seed=2)
    z = model.encode(IMAGES)
    np.testing.assert_array_equal(z, model.encode(IMAGES))
    mean, log_var = model.gaussian_encoder(IMAGES)
    np.testing.assert_allclose(z, keras.ops.convert_to_numpy(mean), atol=1e-6)
    assert log_var.shape == (len(IMAGES), 3)
    sampled = keras.ops.convert_to_numpy(model(IMAGES, training=True)["z"])
    assert not np.allclose(sampled, z)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(IMAGES)["z"]), z, atol=1e-6)


def test_vae_sample_and_reconstruction_choice():
    model = build_model("vae", latent_dim=2, depth=1)
    assert model.sample(5, seed=0).shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(model.sample(3, seed=4), model.sample(3, seed=4))
    assert model.reconstruction_kind == "bce"
    features = build_model("vae", input_shape=(64,), latent_dim=4, depth=1, output_activation="linear")
    assert features.reconstruction_kind == "sse"
    assert features.encode(np.zeros((2, 64))).shape == (2, 4)
    assert features.sample(2).shape == (2, 64)


def test_vae_logs_unweighted_kl_and_weights_the_loss():
    model = build_model("vae", latent_dim=2, depth=1, beta=0.0, seed=1)
    history = train(model, IMAGES, epochs=1, batch_size=8, validation_fraction=0.25, verbose=0)
    assert {"loss", "reconstruction", "kl", "val_loss", "val_kl"} <= set(history.columns)
    assert history["val_kl"].iloc[0] > 0
    # beta = 0: the validation loss is the reconstruction term alone.
    assert history["val_loss"].iloc[0] == pytest.approx(history["val_reconstruction"].iloc[0], rel=1e-5)


def test_extra_loss_terms_are_logged_unweighted_and_added_times_their_weight():
    model = build_model("vae", latent_dim=2, depth=1, beta=0.5, seed=1)
    out = model(IMAGES[:8])
    (term,) = model.extra_losses(IMAGES[:8], out, False)
    assert (term.name, term.weight) == ("kl", 0.5)
    reconstruction = model.reconstruction_loss(IMAGES[:8], out)
    total = model.compute_loss(IMAGES[:8], None, out)
    assert float(total) == float(reconstruction + 0.5 * term.value)
    assert float(model.trackers["kl"].result()) == float(term.value)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"beta": -1}, "Received: beta=-1"),
        ({"reconstruction": "l1"}, "reconstruction='l1'"),
        ({"reconstruction": "bce", "output_activation": "linear"}, "output_activation='linear'"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)


@pytest.mark.parametrize("options", [{"beta": 4.0}])
def test_config_round_trip(options):
    assert_config_round_trip(FAMILY, options, IMAGES)
