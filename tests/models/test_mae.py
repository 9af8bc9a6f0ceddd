"""The masked autoencoder: the family contract, patches, masks and the masked loss."""
import numpy as np
import pytest

from aelib.models import build_model
from aelib.models.mae import masked_patch_loss, patchify, unpatchify
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_bad_option,
    assert_options_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "mae"
RNG = np.random.default_rng(0)
RNG.random((16, 12))  # the draws that are VECTORS in test_sae and test_conae: IMAGES are the same images as there
IMAGES = RNG.random((6, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


def test_patchify_round_trip_and_order():
    patches = np.asarray(patchify(IMAGES, 7))
    assert patches.shape == (6, 16, 49)
    np.testing.assert_array_equal(patches[:, 1], IMAGES[:, :7, 7:14, 0].reshape(6, 49))  # row-major patches
    np.testing.assert_array_equal(np.asarray(unpatchify(patches, 7, (28, 28, 1))), IMAGES)


@pytest.mark.parametrize("ratio, visible", [(0.75, 4), (0.5, 8), (0.9, 2), (0.99, 1)])
def test_mae_mask_keeps_round_share_visible(ratio, visible):
    model = build_model("mae", latent_dim=2, mask_ratio=ratio, seed=0)
    keep, mask = (np.asarray(a) for a in model.random_mask(8))
    assert model.num_visible == visible and keep.shape == (8, visible)
    np.testing.assert_array_equal(mask.sum(axis=1), 16 - visible)
    for row_keep, row_mask in zip(keep, mask):
        assert set(row_keep) == set(np.flatnonzero(row_mask == 0))
    if ratio == 0.75:
        assert len({tuple(row) for row in mask}) > 1  # each sample draws its own mask
        again = build_model("mae", latent_dim=2, mask_ratio=ratio, seed=0)
        np.testing.assert_array_equal(np.asarray(again.random_mask(8)[1]), mask)  # same seed, same masks


def test_masked_loss_ignores_visible_patches():
    target = IMAGES[:2]
    prediction = np.clip(target + 0.1, 0, 1)
    mask = np.zeros((2, 16), "float32")
    mask[:, [0, 5, 9]] = 1
    changed = patchify(prediction, 7).numpy()
    changed[:, 3] = 0.0  # a visible patch
    changed = unpatchify(changed, 7, (28, 28, 1)).numpy()
    for norm in (False, True):
        base = float(masked_patch_loss(target, prediction, mask, patch_size=7, norm_pix_loss=norm))
        same = float(masked_patch_loss(target, changed, mask, patch_size=7, norm_pix_loss=norm))
        assert same == pytest.approx(base, rel=1e-6)
    expected = np.mean((patchify(prediction, 7).numpy() - patchify(target, 7).numpy())[:, [0, 5, 9]] ** 2)
    assert float(masked_patch_loss(target, prediction, mask, patch_size=7)) == pytest.approx(expected, rel=1e-5)


def test_mae_encode_is_unmasked_and_deterministic():
    model = build_model("mae", latent_dim=3, seed=0)
    np.testing.assert_array_equal(model.encode(IMAGES), model.encode(IMAGES))
    first, second = model(IMAGES)["mask"], model(IMAGES)["mask"]
    assert not np.array_equal(np.asarray(first), np.asarray(second))  # training path draws new masks


@pytest.mark.parametrize("loss_on", ["all", "masked"])
def test_mae_loss_on_sets_the_patches_in_the_loss(loss_on):
    model = build_model("mae", latent_dim=3, loss_on=loss_on, seed=0)
    out = model(IMAGES, training=True)
    reconstruction, mask = np.asarray(out["reconstruction"]), np.asarray(out["mask"])
    assert mask.sum() == 6 * 12  # 12 of 16 patches masked per image
    loss = float(model.compute_loss(IMAGES, None, out))
    full = float(np.mean((reconstruction - IMAGES) ** 2))
    masked = float(masked_patch_loss(IMAGES, reconstruction, mask, patch_size=7))
    assert abs(full - masked) > 1e-4 * full  # the two objectives differ on this batch
    assert loss == pytest.approx(full if loss_on == "all" else masked, rel=1e-5)


@pytest.mark.parametrize("latent_dim, embed, decoder", [(2, 64, 32), (70, 72, 32), (700, 700, 44)])
def test_mae_auto_widths_keep_the_code_uncapped(latent_dim, embed, decoder):
    model = build_model("mae", latent_dim=latent_dim, seed=0)
    assert (model.embed_dim, model.decoder_dim) == (embed, decoder)  # rounded up to multiples of 4 heads
    assert model.num_patches * model.decoder_dim >= latent_dim
    assert model.effective_bottleneck() == latent_dim
    assert model.options()["embed_dim"] == "auto" and model.options()["decoder_dim"] == "auto"
    narrow = build_model("mae", latent_dim=40, embed_dim=16, seed=0)
    assert narrow.effective_bottleneck() == 16


@pytest.mark.parametrize(
    "options",
    [
        {"patch_size": 4, "mask_ratio": 0.5, "loss_on": "masked", "embed_dim": 16, "encoder_depth": 1, "num_heads": 2,
         "mlp_ratio": 1.5, "decoder_dim": 8, "decoder_depth": 1, "decoder_num_heads": 2,
         "norm_pix_loss": True, "xla": False},
    ],
)
def test_options_round_trip_through_config(options):
    assert_options_round_trip(FAMILY, options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"loss_on": "visible"}, "Expected loss_on in ('all', 'masked'). Received: loss_on='visible'"),
        ({"embed_dim": "wide"}, "Expected embed_dim='auto' or an integer >= 1. Received: embed_dim='wide'"),
        ({"mask_ratio": 1.2}, "Expected 0 <= mask_ratio < 1. Received: mask_ratio=1.2"),
        ({"patch_size": 5}, "patch_size=5. Received: input_shape=(28, 28, 1)"),
        ({"embed_dim": 30}, "embed_dim=30, num_heads=4"),
        ({"input_shape": (784,)}, "Family 'mae' needs image inputs"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)


def test_xla_step_is_seeded_and_close_to_the_plain_one():
    """``xla=True`` (default) compiles the training step with XLA: the same seed gives the same weights again,
    and without masks (whose draws XLA's random kernels make differently) the weights stay within round-off
    of the plain graph's (``xla=False``) after a few steps."""
    from aelib.training import train

    x = np.random.default_rng(3).random((24, 28, 28, 1)).astype("float32")
    weights = {}
    for xla in (True, True, False):
        model = build_model("mae", latent_dim=3, seed=5, xla=xla, mask_ratio=0.0)
        assert model.get_config()["xla"] is xla
        train(model, x, epochs=2, batch_size=8, validation_fraction=0.0, verbose=0, seed=7)
        weights.setdefault(xla, []).append(model.get_weights())
    for first, again in zip(*weights[True]):
        np.testing.assert_array_equal(first, again)
    for fused, plain in zip(weights[True][0], weights[False][0]):
        np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5)
