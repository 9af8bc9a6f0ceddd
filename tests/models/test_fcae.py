"""The fully connected autoencoder: the family contract, the seed presets' widths, feature vectors."""
import numpy as np
import pytest

from aelib.models import build_model
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_config_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "fcae"
IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


def test_feature_vectors_for_augmentation():
    model = build_model("fcae", input_shape=(2048,), latent_dim=16, output_activation="linear")
    widths = [layer.units for layer in model.encoder.layers if hasattr(layer, "units")]
    assert widths == [1536, 1024, 512, 16]
    assert model.reconstruct(np.zeros((2, 2048), "float32")).shape == (2, 2048)


def test_fcae_uses_seed_preset_widths():
    model = build_model("fcae", latent_dim=40, depth=5)
    widths = [layer.units for layer in model.encoder.layers if hasattr(layer, "units")]
    assert widths == [654, 524, 394, 264, 134, 40]


@pytest.mark.parametrize("options", [{"widths": "interpolate"}])
def test_config_round_trip(options):
    assert_config_round_trip(FAMILY, options, IMAGES)
