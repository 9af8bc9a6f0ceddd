"""Measures of regulariser activity: closed forms and constructed cases (a known activation, the Jacobian of a linear
encoder, identical samples, constant code dimensions), and each family's measures on a small model."""
import math

import numpy as np
import pytest

from aelib.metrics import regularisers as reg
from aelib.models import build_model

RNG = np.random.default_rng(0)
IMAGES = RNG.random((12, 28, 28, 1)).astype("float32")


def test_mean_activation_and_bernoulli_kl_closed_forms():
    h = np.array([[0.0, 1.0, 0.2], [0.1, 1.0, 0.2]])
    np.testing.assert_allclose(reg.mean_activation(h), [0.05, 1.0, 0.2])
    assert reg.bernoulli_kl(0.05, [0.05])[0] == pytest.approx(0.0, abs=1e-12)
    expected = 0.05 * math.log(0.05 / 0.5) + 0.95 * math.log(0.95 / 0.5)
    assert reg.bernoulli_kl(0.05, [0.5])[0] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"Received: shape=\(3,\)"):
        reg.mean_activation([0.1, 0.2, 0.3])


def test_gaussian_kl_per_dimension_closed_forms():
    mean = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    log_var = np.array([[0.0, 0.0, math.log(2.0)], [0.0, 0.0, math.log(2.0)]])
    np.testing.assert_allclose(reg.gaussian_kl_per_dimension(mean, log_var),
                               [0.0, 0.5, 0.5 * (2.0 - 1.0 - math.log(2.0))], atol=1e-12)


def test_active_units_count_the_dimensions_whose_mean_varies():
    codes = np.column_stack([RNG.normal(size=500), 3 * RNG.normal(size=500),
                             0.03 * RNG.normal(size=500), np.full(500, 4.0)])  # var ≈ 1, 9, 0.0009, 0
    assert reg.active_units(codes) == 2
    assert reg.active_units(codes, threshold=1e-4) == 3


def test_mmd_of_identical_samples_is_zero_and_grows_with_a_shift():
    x = RNG.normal(size=(300, 4))
    assert reg.mmd_squared(x, x) == pytest.approx(0.0, abs=1e-12)
    same = reg.mmd_squared(x, RNG.normal(size=(300, 4)))
    shifted = reg.mmd_squared(x, RNG.normal(size=(300, 4)) + 2.0)
    assert 0 <= same < 0.02 < shifted
    assert reg.mmd_squared(x, x + 2.0) == pytest.approx(reg.mmd_squared(x + 2.0, x), rel=1e-12)
    # one point each: 2 − 2·C/(C + ‖a − b‖²), C = 2·d
    a, b = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    assert reg.mmd_squared(a, b) == pytest.approx(2 - 2 * 4 / (4 + 25), rel=1e-12)


def test_encoder_jacobian_of_a_linear_encoder_is_its_weight():
    model = build_model("fcae", latent_dim=3, depth=0, seed=0)  # flatten, then one linear dense layer
    kernel = np.asarray(model.encoder.get_layer("enc_code").kernel)
    norms = reg.encoder_jacobian_norms(model, IMAGES, batch_size=5)
    np.testing.assert_allclose(norms, np.full(len(IMAGES), np.linalg.norm(kernel)), rtol=1e-5)
    np.testing.assert_allclose(reg.frobenius_norms(np.ones((2, 3, 4))), [math.sqrt(12)] * 2)


def test_standardised_sensitivity_of_a_linear_encoder_ignores_the_scale_of_each_unit():
    """z = x W: row j is ‖W[:, j]‖², Var(z_j) = W[:, j]ᵀ Cov(x) W[:, j]."""
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(500, 4)), rng.normal(size=(4, 2))
    rows = np.broadcast_to(np.sum(kernel**2, axis=0), (500, 2))
    by_hand = np.mean(np.sum(kernel**2, axis=0) / np.einsum("ij,ik,kj->j", kernel, np.cov(x.T, bias=True), kernel))
    assert reg.standardised_sensitivity(rows, x @ kernel) == pytest.approx(by_hand, rel=1e-9)
    scale = np.array([10.0, 0.1])  # rescaling a unit scales its row by scale² and its variance by scale²
    assert reg.standardised_sensitivity(rows * scale**2, x @ kernel * scale) == pytest.approx(by_hand, rel=1e-9)


def test_patch_masks_zeroing_and_the_rmse_on_masked_patches():
    mask = reg.random_patch_mask(5, 16, ratio=0.75, seed=3)
    np.testing.assert_array_equal(mask.sum(axis=1), 12)
    np.testing.assert_array_equal(mask, reg.random_patch_mask(5, 16, ratio=0.75, seed=3))
    x = IMAGES[:2]
    one = np.zeros((2, 16), "float32")
    one[:, 5] = 1  # the patch of rows 7-13, columns 7-13
    zeroed = reg.zero_patches(x, one, patch_size=7)
    assert (zeroed[:, 7:14, 7:14] == 0).all()
    np.testing.assert_array_equal(np.delete(zeroed.reshape(2, -1), np.flatnonzero(zeroed[0] == 0), axis=1),
                                  np.delete(x.reshape(2, -1), np.flatnonzero(zeroed[0] == 0), axis=1))
    x_hat = x.copy()
    x_hat[:, 7:14, 7:14] += 0.3  # error on the masked patch only
    x_hat[:, :7, :7] += 0.9  # a large error on a visible patch does not count
    np.testing.assert_allclose(reg.masked_patch_rmse(x, x_hat, one, patch_size=7), [0.3, 0.3], rtol=1e-5)
    assert np.isnan(reg.masked_patch_rmse(x, x_hat, np.zeros((2, 16)), patch_size=7)).all()


def test_sae_mean_activation_of_a_known_activation():
    model = build_model("sae", latent_dim=2, depth=1, rho=0.05, seed=0)
    layer = model.encoder.get_layer("enc_dense_0")  # the penalised sigmoid layer
    layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    layer.bias.assign(np.full(layer.bias.shape, math.log(0.2 / 0.8), "float32"))  # σ(b) = 0.2 for every input
    rows = {r["measure"]: r for r in reg.activity(model, IMAGES)}
    assert rows["mean_activation"]["value"] == pytest.approx(0.2, rel=1e-5)
    assert rows["mean_activation"]["target"] == 0.05
    assert rows["sparsity_kl_per_unit"]["value"] == pytest.approx(float(reg.bernoulli_kl(0.05, [0.2])[0]), rel=1e-4)


def test_vae_active_units_of_a_constructed_encoder():
    model = build_model("vae", latent_dim=4, depth=1, seed=0)
    head = model.encoder.get_layer("enc_code")
    kernel = np.asarray(head.kernel).copy()
    kernel[:, :2] *= 50.0  # two dimensions that vary strongly with the input
    kernel[:, 2:] = 0.0  # two constant ones
    head.kernel.assign(kernel)
    rows = {r["measure"]: r for r in reg.activity(model, IMAGES)}
    assert rows["active_units"]["value"] == 2 and rows["active_units"]["target"] == 4
    assert rows["kl_per_dimension"]["value"] > 0 and math.isnan(rows["active_units"]["fcae_value"])


def test_masked_mlp_is_measured_as_fcae_would_be_on_the_same_masked_images():
    mmae = build_model("mmae", latent_dim=3, depth=1, seed=4)
    fcae = build_model("fcae", latent_dim=3, depth=1, seed=4)  # the same weights (same layers, same seed)
    (row,) = reg.activity(mmae, IMAGES, reference=fcae, seed=2)
    assert row["measure"] == "masked_patch_rmse" and row["value"] > 0
    assert row["value"] == pytest.approx(row["fcae_value"], rel=1e-6)


@pytest.mark.parametrize("family, measures", [
    ("conae", {"standardised_sensitivity", "jacobian_frobenius"}), ("aae", {"mmd_to_prior"}),
    ("dae", {"corrupted_rmse"}),
    ("mae", {"masked_patch_rmse"}), ("vae", {"kl_per_dimension", "active_units", "mmd_to_prior"}),
])
def test_each_family_s_measures_beside_fcae(family, measures):
    model = build_model(family, latent_dim=3, depth=1, seed=0)
    fcae = build_model("fcae", latent_dim=3, depth=1, seed=0)
    rows = reg.activity(model, IMAGES, reference=fcae, seed=1)
    assert {r["measure"] for r in rows} == measures
    for row in rows:
        assert math.isfinite(row["value"]) and row["value"] >= 0
        if row["measure"] != "kl_per_dimension":
            assert math.isfinite(row["fcae_value"])
    assert reg.activity(fcae, IMAGES) == []  # no regulariser, nothing to measure


def test_a_model_measured_against_itself_matches():
    dae = build_model("dae", latent_dim=3, depth=1, seed=0)
    (row,) = reg.activity(dae, IMAGES, reference=dae, seed=1)
    assert row["value"] == pytest.approx(row["fcae_value"], rel=1e-9)
    mae = build_model("mae", latent_dim=3, seed=0)
    mask = reg.random_patch_mask(len(IMAGES), 16, seed=0)
    np.testing.assert_allclose(mae.reconstruct_masked(IMAGES, np.zeros_like(mask)), mae.reconstruct(IMAGES),
                               atol=1e-6)  # nothing masked: the unmasked path
    uneven = np.zeros((2, 16), "float32")
    uneven[0, :3], uneven[1, :5] = 1, 1
    with pytest.raises(ValueError, match="same number"):
        mae.reconstruct_masked(IMAGES[:2], uneven)
