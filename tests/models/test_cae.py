"""The convolutional autoencoder: the family contract, extreme code sizes, image inputs only."""
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

FAMILY = "cae"
IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


@pytest.mark.parametrize("latent_dim", [1, 700])
def test_cae_extreme_latent_sizes(latent_dim):
    model = build_model("cae", latent_dim=latent_dim)
    assert model.encode(IMAGES[:4]).shape == (4, latent_dim)
    assert model.reconstruct(IMAGES[:4]).shape == (4, 28, 28, 1)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"input_shape": (2048,)}, "'cae' needs image inputs"),
        ({"input_shape": (30, 30, 1)}, "input_shape=(30, 30, 1)"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)


@pytest.mark.parametrize("options", [{"filters": (8, 16)}])
def test_config_round_trip(options):
    assert_config_round_trip(FAMILY, options, IMAGES)
