"""Sparse, contractive and masked autoencoders: their loss terms against closed forms."""
import re

import keras
import numpy as np
import pytest

from aelib import losses
from aelib.models import build_model, get_model_class
from aelib.models.conae import frobenius_sq_autodiff, frobenius_sq_chain, frobenius_sq_sigmoid
from aelib.models.mae import masked_patch_loss, patchify, unpatchify
from aelib.training import train

RNG = np.random.default_rng(0)
VECTORS = RNG.random((16, 12)).astype("float32")
IMAGES = RNG.random((6, 28, 28, 1)).astype("float32")


# ----- sae ---------------------------------------------------------------------------
def test_bernoulli_kl_zero_at_target_and_closed_form_otherwise():
    assert float(losses.bernoulli_kl(0.05, np.full(7, 0.05, "float32"))) == pytest.approx(0.0, abs=1e-6)
    # KL(0.05 ‖ 0.5) = 0.05 ln 0.1 + 0.95 ln 1.9; the unit at its target adds nothing.
    expected = 0.05 * np.log(0.1) + 0.95 * np.log(1.9)
    assert float(losses.bernoulli_kl(0.05, np.array([0.5, 0.05], "float32"))) == pytest.approx(expected, rel=1e-5)
    assert float(losses.bernoulli_kl(0.05, np.array([0.01], "float32"))) > 0


def test_sae_default_penalises_the_wide_sigmoid_layer_not_the_code():
    model = build_model("sae", latent_dim=2, seed=0)  # depth 3: 784 → 588 → 392 → 196 → 2
    assert model.penalised_layers == ("enc_dense_0",)
    encoder = model.get_layer("encoder")
    assert encoder.get_layer("enc_dense_0").units == 588
    assert keras.activations.serialize(encoder.get_layer("enc_dense_0").activation) == "sigmoid"
    assert keras.activations.serialize(encoder.get_layer("enc_dense_1").activation) == "relu"
    assert keras.activations.serialize(encoder.get_layer("enc_code").activation) == "linear"
    out = model(IMAGES)
    assert [tuple(a.shape) for a in out["activations"]] == [(6, 588)]
    assert np.asarray(out["z"]).min() < 0  # a linear code, free to take any value


def _terms(model, outputs) -> dict:
    """The model's extra loss terms as they enter the loss (weight × value), by name."""
    return {term.name: term.weight * term.value for term in model.extra_losses(VECTORS, outputs, False)}


def test_sae_penalties_use_batch_mean_of_the_penalised_units():
    model = build_model("sae", input_shape=(12,), latent_dim=3, depth=1, beta=2.0, l1=0.5, seed=0,
                        output_activation="linear")
    out = model(VECTORS)
    (h,) = (np.asarray(a) for a in out["activations"])
    assert h.shape == (16, 6) and h.min() > 0 and h.max() < 1  # the sigmoid hidden layer (12 → 6 → 3)
    rho_hat = h.mean(axis=0)
    kl = np.sum(0.05 * np.log(0.05 / rho_hat) + 0.95 * np.log(0.95 / (1 - rho_hat)))
    terms = _terms(model, out)
    assert float(terms["sparsity"]) == pytest.approx(2.0 * kl, rel=1e-4)
    assert float(terms["l1"]) == pytest.approx(0.5 * np.abs(h).sum(axis=1).mean(), rel=1e-5)


@pytest.mark.parametrize("rho", [0.05, 0.2])
def test_sae_kl_penalty_closed_forms_on_constructed_activations(rho):
    """Zero weights make every sigmoid unit output σ(b) for every input, so ρ̂_j = σ(b_j)."""
    beta = 0.5
    model = build_model("sae", input_shape=(12,), latent_dim=3, depth=1, rho=rho, beta=beta, seed=0,
                        output_activation="linear")
    layer = model.get_layer("encoder").get_layer("enc_dense_0")
    width = layer.units
    layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    # Every unit's mean activation at the target: the penalty vanishes.
    layer.bias.assign(np.full(width, np.log(rho / (1 - rho)), "float32"))
    assert float(_terms(model, model(VECTORS))["sparsity"]) == pytest.approx(0.0, abs=1e-5)
    # Every unit at 0.5 (b = 0): beta · width · KL(ρ ‖ 0.5), by hand.
    layer.bias.assign(np.zeros(width, "float32"))
    by_hand = beta * width * (rho * np.log(rho / 0.5) + (1 - rho) * np.log((1 - rho) / 0.5))
    assert float(_terms(model, model(VECTORS))["sparsity"]) == pytest.approx(by_hand, rel=1e-5)
    # Half the units at 0.5, half at the target: half of it.
    layer.bias.assign(np.array([0.0, np.log(rho / (1 - rho))] * (width // 2), "float32"))
    assert float(_terms(model, model(VECTORS))["sparsity"]) == pytest.approx(by_hand / 2, rel=1e-4)


def test_sae_code_option_penalises_a_sigmoid_code():
    model = build_model("sae", input_shape=(12,), latent_dim=3, depth=1, sparsity_on="code", seed=0,
                        output_activation="linear")
    out = model(VECTORS)
    z = np.asarray(out["z"])
    assert model.penalised_layers == ("enc_code",)
    assert z.min() > 0 and z.max() < 1
    np.testing.assert_array_equal(np.asarray(out["activations"][0]), z)


def test_sae_all_hidden_layers_penalised_and_trains_on_vectors():
    model = build_model("sae", input_shape=(12,), latent_dim=3, depth=2, sparsity_on="all",
                        hidden_activation="sigmoid", output_activation="linear", seed=0)
    assert len(model(VECTORS)["activations"]) == 3
    history = train(model, VECTORS, epochs=1, batch_size=8, validation_fraction=0.25, verbose=0)
    assert np.isfinite(history[["sparsity", "l1", "val_sparsity"]].to_numpy()).all()
    assert (history["l1"] == 0).all()  # off by default, still logged


# ----- conae -------------------------------------------------------------------------
@pytest.mark.parametrize("jacobian", ["auto", "chain", "autodiff"])
def test_conae_linear_encoder_penalty_is_frobenius_norm_of_kernel(jacobian):
    model = build_model("conae", input_shape=(12,), latent_dim=4, code_activation="linear", jacobian=jacobian,
                        seed=0)
    kernel = np.asarray(model.code_layer.kernel)
    assert float(model.jacobian_penalty(VECTORS)) == pytest.approx(float(np.sum(kernel**2)), rel=1e-5)


def test_conae_default_is_one_sigmoid_layer_with_an_mlp_decoder():
    model = build_model("conae", latent_dim=5, seed=0)
    encoder_dense = [layer for layer in model.get_layer("encoder").layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.units, keras.activations.serialize(layer.activation)) for layer in encoder_dense] == [(5, "sigmoid")]
    decoder_widths = [layer.units for layer in model.get_layer("decoder").layers if isinstance(layer, keras.layers.Dense)]
    assert decoder_widths == [196, 392, 588, 784]  # fcae's mirrored decoder (depth 3 preset)
    assert model.uses_closed_form and model.widths_rule_used == "seed"


@pytest.mark.parametrize("input_shape, x", [((12,), VECTORS), ((28, 28, 1), IMAGES)])
def test_conae_sigmoid_closed_form_matches_batch_jacobian(input_shape, x):
    model = build_model("conae", input_shape=input_shape, latent_dim=5, seed=0)
    h = model.encoder(x)
    closed = np.asarray(frobenius_sq_sigmoid(h, model.code_layer.kernel))
    exact = np.asarray(frobenius_sq_autodiff(model.encoder, x))
    np.testing.assert_allclose(closed, exact, rtol=1e-5)
    assert (closed > 0).all()
    # The penalty the model trains with is the closed form's batch mean; the forced paths agree.
    assert float(model.jacobian_penalty(x)) == pytest.approx(float(exact.mean()), rel=1e-5)
    for jacobian in ("chain", "autodiff"):
        forced = build_model("conae", input_shape=input_shape, latent_dim=5, jacobian=jacobian, seed=0)
        assert not forced.uses_closed_form
        assert float(forced.jacobian_penalty(x)) == pytest.approx(float(exact.mean()), rel=1e-5)


def test_conae_tied_decoder_reuses_the_transposed_encoder_kernel(tmp_path):
    from aelib.models import load_model

    model = build_model("conae", latent_dim=4, tied=True, seed=0)
    assert model.widths_rule_used == "n/a" and model.effective_bottleneck() == 4
    kernel = np.asarray(model.code_layer.kernel)  # (784, 4)
    assert [tuple(w.shape) for w in model.get_layer("decoder").weights] == [(784,)]  # only the bias c
    z = RNG.random((3, 4)).astype("float32")
    bias = np.asarray(model.get_layer("decoder").get_layer("dec_output").bias)
    by_hand = 1 / (1 + np.exp(-(z @ kernel.T + bias)))
    np.testing.assert_allclose(model.decode(z).reshape(3, -1), by_hand, rtol=1e-5, atol=1e-6)
    model.code_layer.kernel.assign(2 * kernel)  # the decoder follows the encoder's kernel
    by_hand = 1 / (1 + np.exp(-(z @ (2 * kernel).T + bias)))
    np.testing.assert_allclose(model.decode(z).reshape(3, -1), by_hand, rtol=1e-5, atol=1e-6)
    train(model, IMAGES, epochs=1, batch_size=3, validation_fraction=0.0, verbose=0)
    assert not np.allclose(np.asarray(model.code_layer.kernel), 2 * kernel)  # trained through both uses
    model.save(tmp_path / "tied.keras")
    again = load_model(tmp_path / "tied.keras")
    np.testing.assert_allclose(again.reconstruct(IMAGES), model.reconstruct(IMAGES), atol=1e-6)
    again.code_layer.kernel.assign(np.zeros((784, 4), "float32"))  # still tied after loading: σ(c) for any z
    trained_bias = np.asarray(again.get_layer("decoder").get_layer("dec_output").bias)
    assert not np.allclose(trained_bias, bias)
    np.testing.assert_allclose(again.decode(z).reshape(3, -1),
                               np.broadcast_to(1 / (1 + np.exp(-trained_bias)), (3, 784)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hidden", ["relu", "sigmoid"])
@pytest.mark.parametrize("code", ["linear", "sigmoid"])
def test_conae_chain_rule_jacobian_equals_batch_jacobian_with_gradients(hidden, code):
    import tensorflow as tf

    model = build_model("conae", input_shape=(28, 28, 1), latent_dim=5, depth=2, encoder="deep",
                        hidden_activation=hidden, code_activation=code, seed=1)
    dense = [layer for layer in model.encoder.layers if layer.__class__.__name__ == "Dense"]
    assert len(dense) == 3
    x = tf.constant(IMAGES)
    values, grads = [], []
    for penalty in (lambda: frobenius_sq_chain(dense, x), lambda: frobenius_sq_autodiff(model.encoder, x)):
        with tf.GradientTape() as tape:
            value = penalty()
            total = tf.reduce_sum(value)
        values.append(np.asarray(value))
        weights = model.encoder.trainable_weights
        # biases do not enter J for a ReLU/linear encoder: None (chain) or zeros (autodiff)
        grads.append([np.zeros(w.shape) if g is None else np.asarray(g) for w, g in zip(weights, tape.gradient(total, weights))])
    assert values[0].shape == (6,) and (values[0] > 0).all()
    np.testing.assert_allclose(values[0], values[1], rtol=2e-5)
    for chain_grad, autodiff_grad in zip(*grads):
        scale = np.abs(autodiff_grad).max()
        np.testing.assert_allclose(chain_grad, autodiff_grad, rtol=0, atol=1e-4 * scale)
    chained = build_model("conae", input_shape=(28, 28, 1), latent_dim=5, depth=2, encoder="deep",
                          hidden_activation=hidden, code_activation=code, jacobian="chain", seed=1)
    assert float(chained.jacobian_penalty(IMAGES)) == pytest.approx(float(values[1].mean()), rel=2e-5)


def test_conae_deep_encoder_trains_on_vectors():
    model = build_model("conae", input_shape=(12,), latent_dim=3, depth=2, encoder="deep", lam=0.1,
                        output_activation="linear", seed=0)
    assert not model.uses_closed_form
    assert len([layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense)]) == 3
    history = train(model, VECTORS, epochs=1, batch_size=8, validation_fraction=0.25, verbose=0)
    assert (history[["contractive", "val_contractive"]] > 0).all().all()


# ----- mae -----------------------------------------------------------------------------
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


# ----- options -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "family, options",
    [
        ("sae", {"rho": 0.1, "beta": 0.5, "l1": 1e-3, "sparsity_on": "all", "hidden_activation": "sigmoid"}),
        ("sae", {"rho": 0.1, "beta": 0.5, "l1": 0.0, "sparsity_on": "hidden", "hidden_activation": "relu"}),
        ("conae", {"lam": 0.2, "encoder": "deep", "tied": False, "code_activation": "linear",
                   "hidden_activation": "sigmoid", "jacobian": "autodiff"}),
        ("conae", {"lam": 0.0, "encoder": "single", "tied": True, "code_activation": "sigmoid",
                   "hidden_activation": "relu", "jacobian": "chain"}),
        ("mae", {"patch_size": 4, "mask_ratio": 0.5, "loss_on": "masked", "embed_dim": 16, "encoder_depth": 1, "num_heads": 2,
                 "mlp_ratio": 1.5, "decoder_dim": 8, "decoder_depth": 1, "decoder_num_heads": 2,
                 "norm_pix_loss": True}),
    ],
)
def test_options_round_trip_through_config(family, options):
    model = build_model(family, latent_dim=2, depth=1, **options)
    assert model.options() == options
    assert get_model_class(family).from_config(model.get_config()).options() == options


@pytest.mark.parametrize(
    "family, options, message",
    [
        ("sae", {"rho": 1.0}, "Received: rho=1.0"),
        ("sae", {"beta": -1}, "Received: beta=-1"),
        ("sae", {"sparsity_on": "all"}, "hidden_activation='sigmoid'"),
        ("sae", {"sparsity_on": "some"}, "Received: sparsity_on='some'"),
        ("sae", {"depth": 0}, "sparsity_on='hidden' penalises the first hidden layer: expected depth >= 1"),
        ("conae", {"encoder": "wide"}, "Expected encoder in ('single', 'deep'). Received: encoder='wide'"),
        ("conae", {"tied": True, "encoder": "deep"}, "expected encoder='single'. Received: encoder='deep'"),
        ("conae", {"tied": 1}, "Received: tied=1"),
        ("mae", {"loss_on": "visible"}, "Expected loss_on in ('all', 'masked'). Received: loss_on='visible'"),
        ("mae", {"embed_dim": "wide"}, "Expected embed_dim='auto' or an integer >= 1. Received: embed_dim='wide'"),
        ("conae", {"lam": -0.1}, "Received: lam=-0.1"),
        ("conae", {"jacobian": "fd"}, "Received: jacobian='fd'"),
        ("mae", {"mask_ratio": 1.2}, "Expected 0 <= mask_ratio < 1. Received: mask_ratio=1.2"),
        ("mae", {"patch_size": 5}, "patch_size=5. Received: input_shape=(28, 28, 1)"),
        ("mae", {"embed_dim": 30}, "embed_dim=30, num_heads=4"),
        ("mae", {"input_shape": (784,)}, "Family 'mae' needs image inputs"),
    ],
)
def test_bad_options_raise(family, options, message):
    options = {"input_shape": (28, 28, 1), **options}
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model(family, latent_dim=2, **options)
