"""The adversarial autoencoder: the family contract, its two losses in the history, sampling from the prior."""
import numpy as np
import pytest

from aelib.models import build_model
from aelib.training import train
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_bad_option,
    assert_config_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "aae"
IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


def test_aae_history_and_sampling():
    model = build_model("aae", latent_dim=2, depth=1, discriminator_units=32, prior="uniform", seed=1)
    history = train(model, IMAGES, epochs=2, batch_size=8, validation_fraction=0.25, verbose=0)
    for column in ("loss", "reconstruction", "discriminator", "generator"):
        assert column in history.columns and f"val_{column}" in history.columns
        assert np.isfinite(history[column]).all()
    # The early-stopping loss is the reconstruction term (see AdversarialAE's docstring).
    np.testing.assert_allclose(history["val_loss"], history["val_reconstruction"], rtol=1e-6)
    np.testing.assert_allclose(history["loss"], history["reconstruction"], rtol=1e-6)
    assert model.sample(4, seed=0).shape == (4, 28, 28, 1)
    features = build_model("aae", input_shape=(64,), latent_dim=4, depth=1, discriminator_units=8)
    assert features.encode(np.zeros((3, 64))).shape == (3, 4)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"prior": "cauchy"}, "prior='cauchy'"),
        ({"generator_lr_scale": -2.0}, "generator_lr_scale=-2.0"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)


@pytest.mark.parametrize("options", [{"prior": "uniform", "discriminator_units": 32}])
def test_config_round_trip(options):
    assert_config_round_trip(FAMILY, options, IMAGES)
