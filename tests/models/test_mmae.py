"""The masked MLP autoencoder: the family contract, fcae's networks, patch masks, and the loss on masked patches."""
import numpy as np
import pytest

from aelib.models import build_model
from aelib.models.blocks import masked_patch_loss, patchify
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_bad_option,
    assert_options_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "mmae"
IMAGES = np.random.default_rng(0).random((6, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


def test_networks_are_fcae_s():
    model = build_model(FAMILY, latent_dim=10, seed=3)
    fcae = build_model("fcae", latent_dim=10, seed=3)
    assert model.count_params() == fcae.count_params() == model.autoencoder_params()
    for mine, theirs in zip(model.get_weights(), fcae.get_weights()):
        np.testing.assert_array_equal(mine, theirs)  # same layers, same seeded initialisation
    np.testing.assert_array_equal(model.encode(IMAGES), fcae.encode(IMAGES))  # encode never masks


@pytest.mark.parametrize("ratio, masked", [(0.75, 12), (0.5, 8), (0.99, 15), (0.0, 0)])
def test_each_sample_masks_the_declared_number_of_patches_to_zero(ratio, masked):
    model = build_model(FAMILY, latent_dim=2, mask_ratio=ratio, seed=0)
    x, mask = model.masked(IMAGES, seed=1)
    assert model.num_masked == masked and mask.shape == (6, 16)
    np.testing.assert_array_equal(mask.sum(axis=1), masked)
    patches, clean = np.asarray(patchify(x, 7)), np.asarray(patchify(IMAGES, 7))
    np.testing.assert_array_equal(patches[mask == 1], 0.0)
    np.testing.assert_array_equal(patches[mask == 0], clean[mask == 0])
    if masked:
        assert len({tuple(row) for row in mask}) > 1  # each sample draws its own mask
        np.testing.assert_array_equal(model.masked(IMAGES, seed=1)[1], mask)  # a seed repeats its masks


@pytest.mark.parametrize("loss_on", ["masked", "all"])
def test_loss_covers_the_masked_patches_by_default(loss_on):
    model = build_model(FAMILY, latent_dim=3, loss_on=loss_on, seed=0)
    out = model(IMAGES, training=True)
    reconstruction, mask = np.asarray(out["reconstruction"]), np.asarray(out["mask"])
    assert mask.sum() == 6 * 12
    loss = float(model.compute_loss(IMAGES, None, out))
    full = float(np.mean((reconstruction - IMAGES) ** 2))
    masked = float(masked_patch_loss(IMAGES, reconstruction, mask, patch_size=7))
    assert abs(full - masked) > 1e-4 * full  # the two objectives differ on this batch
    assert loss == pytest.approx(masked if loss_on == "masked" else full, rel=1e-5)


def test_ratio_zero_is_fcae_s_objective():
    model = build_model(FAMILY, latent_dim=3, mask_ratio=0.0, seed=0)
    out = model(IMAGES, training=True)
    assert float(np.asarray(out["mask"]).sum()) == 0.0
    full = float(np.mean((np.asarray(out["reconstruction"]) - IMAGES) ** 2))
    assert float(model.compute_loss(IMAGES, None, out)) == pytest.approx(full, rel=1e-5)


def test_options_round_trip_through_config():
    assert_options_round_trip(FAMILY, {"patch_size": 4, "mask_ratio": 0.5, "loss_on": "all", "norm_pix_loss": True})


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mask_ratio": 1.0}, "Expected 0 <= mask_ratio < 1"),
        ({"patch_size": 5}, "divisible by patch_size=5"),
        ({"input_shape": (12,)}, "Family 'mmae' needs image inputs"),
        ({"loss_on": "visible"}, "Received: loss_on='visible'"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)
