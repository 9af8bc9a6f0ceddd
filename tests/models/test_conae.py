"""The contractive autoencoder: the family contract, and its Jacobian penalty against closed forms and the
batch Jacobian."""
import keras
import numpy as np
import pytest

from aelib.models import build_model
from aelib.models.conae import frobenius_sq_autodiff, frobenius_sq_chain, frobenius_sq_sigmoid, jacobian_autodiff
from aelib.training import train
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_bad_option,
    assert_options_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "conae"
RNG = np.random.default_rng(0)
VECTORS = RNG.random((16, 12)).astype("float32")
IMAGES = RNG.random((6, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


@pytest.mark.parametrize("jacobian", ["auto", "chain", "autodiff"])
def test_conae_linear_encoder_penalty_is_frobenius_norm_of_kernel(jacobian):
    model = build_model("conae", input_shape=(12,), latent_dim=4, encoder="single", code_activation="linear",
                        jacobian=jacobian, penalty="raw", seed=0)
    kernel = np.asarray(model.code_layer.kernel)
    assert float(model.jacobian_penalty(VECTORS)) == pytest.approx(float(np.sum(kernel**2)), rel=1e-5)


def test_conae_default_is_fcae_s_mlp_with_a_linear_code_and_the_standardised_exact_jacobian():
    model = build_model("conae", latent_dim=5, jacobian="autodiff", seed=0)
    encoder_dense = [layer for layer in model.get_layer("encoder").layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.units, keras.activations.serialize(layer.activation)) for layer in encoder_dense] == [
        (588, "relu"), (392, "relu"), (196, "relu"), (5, "linear")]
    decoder_widths = [layer.units for layer in model.get_layer("decoder").layers
                      if isinstance(layer, keras.layers.Dense)]
    assert decoder_widths == [196, 392, 588, 784]  # fcae's mirrored decoder (depth 3 preset)
    assert model.count_params() == build_model("fcae", latent_dim=5).count_params()
    assert not model.uses_closed_form and model.widths_rule_used == "seed"
    assert model.penalty == "standardised" and model.lam == pytest.approx(1e-2)
    assert build_model("conae", latent_dim=5).uses_projection  # the default estimates the rows
    jacobian = np.asarray(jacobian_autodiff(model.encoder, IMAGES))  # (n, z, d)
    variance = np.asarray(model.encoder(IMAGES)).var(axis=0)
    by_hand = (np.sum(jacobian**2, axis=2) / variance).mean()
    assert float(model.jacobian_penalty(IMAGES)) == pytest.approx(float(by_hand), rel=1e-4)
    raw = build_model("conae", latent_dim=5, penalty="raw", jacobian="autodiff", seed=0)
    exact = np.asarray(frobenius_sq_autodiff(raw.encoder, IMAGES))
    assert float(raw.jacobian_penalty(IMAGES)) == pytest.approx(float(exact.mean()), rel=1e-5)


@pytest.mark.parametrize("jacobian", ["autodiff", "chain"])
def test_conae_standardised_penalty_of_a_linear_encoder_is_unchanged_by_rescaling_the_code(jacobian):
    """z = x W + b: row j of J is W[:, j], Var(z_j) = W[:, j]ᵀ Cov(x) W[:, j]; scaling W and b by 5 changes
    neither, while the raw penalty grows 25-fold."""
    model = build_model("conae", input_shape=(12,), latent_dim=4, encoder="single", code_activation="linear",
                        jacobian=jacobian, seed=0)
    kernel = np.asarray(model.code_layer.kernel, dtype=np.float64)
    covariance = np.cov(VECTORS.astype(np.float64), rowvar=False, bias=True)
    closed = np.mean(np.sum(kernel**2, axis=0) / np.einsum("ij,ik,kj->j", kernel, covariance, kernel))
    assert float(model.jacobian_penalty(VECTORS)) == pytest.approx(closed, rel=1e-4)
    model.code_layer.kernel.assign(5 * kernel.astype("float32"))
    assert float(model.jacobian_penalty(VECTORS)) == pytest.approx(closed, rel=1e-4)


def test_conae_single_layer_option_is_one_sigmoid_layer_with_an_mlp_decoder():
    model = build_model("conae", latent_dim=5, encoder="single", code_activation="sigmoid", penalty="raw", seed=0)
    assert not model.uses_projection
    encoder_dense = [layer for layer in model.get_layer("encoder").layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.units, keras.activations.serialize(layer.activation)) for layer in encoder_dense] == [(5, "sigmoid")]
    decoder_widths = [layer.units for layer in model.get_layer("decoder").layers
                      if isinstance(layer, keras.layers.Dense)]
    assert decoder_widths == [196, 392, 588, 784]
    assert model.uses_closed_form and model.widths_rule_used == "seed"


@pytest.mark.parametrize("input_shape, x", [((12,), VECTORS), ((28, 28, 1), IMAGES)])
def test_conae_sigmoid_closed_form_matches_batch_jacobian(input_shape, x):
    model = build_model("conae", input_shape=input_shape, latent_dim=5, encoder="single", code_activation="sigmoid",
                        penalty="raw", seed=0)
    h = model.encoder(x)
    closed = np.asarray(frobenius_sq_sigmoid(h, model.code_layer.kernel))
    exact = np.asarray(frobenius_sq_autodiff(model.encoder, x))
    np.testing.assert_allclose(closed, exact, rtol=1e-5)
    assert (closed > 0).all()
    # The penalty the model trains with is the closed form's batch mean; the forced paths agree.
    assert float(model.jacobian_penalty(x)) == pytest.approx(float(exact.mean()), rel=1e-5)
    for jacobian in ("chain", "autodiff"):
        forced = build_model("conae", input_shape=input_shape, latent_dim=5, encoder="single", jacobian=jacobian,
                             code_activation="sigmoid", penalty="raw", seed=0)
        assert not forced.uses_closed_form
        assert float(forced.jacobian_penalty(x)) == pytest.approx(float(exact.mean()), rel=1e-5)


def test_conae_tied_decoder_reuses_the_transposed_encoder_kernel(tmp_path):
    from aelib.models import load_model

    model = build_model("conae", latent_dim=4, encoder="single", tied=True, code_activation="sigmoid", seed=0)
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
        grads.append([np.zeros(w.shape) if g is None else np.asarray(g)
                      for w, g in zip(weights, tape.gradient(total, weights))])
    assert values[0].shape == (6,) and (values[0] > 0).all()
    np.testing.assert_allclose(values[0], values[1], rtol=2e-5)
    for chain_grad, autodiff_grad in zip(*grads):
        scale = np.abs(autodiff_grad).max()
        np.testing.assert_allclose(chain_grad, autodiff_grad, rtol=0, atol=1e-4 * scale)
    chained = build_model("conae", input_shape=(28, 28, 1), latent_dim=5, depth=2, encoder="deep",
                          hidden_activation=hidden, code_activation=code, jacobian="chain", penalty="raw", seed=1)
    assert float(chained.jacobian_penalty(IMAGES)) == pytest.approx(float(values[1].mean()), rel=2e-5)


def test_conae_deep_encoder_trains_on_vectors():
    model = build_model("conae", input_shape=(12,), latent_dim=3, depth=2, encoder="deep", lam=0.1,
                        output_activation="linear", seed=0)
    assert not model.uses_closed_form
    assert len([layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense)]) == 3
    history = train(model, VECTORS, epochs=1, batch_size=8, validation_fraction=0.25, verbose=0)
    assert (history[["contractive", "val_contractive"]] > 0).all().all()


@pytest.mark.parametrize(
    "options",
    [
        {"lam": 0.2, "encoder": "deep", "tied": False, "code_activation": "linear",
         "hidden_activation": "sigmoid", "jacobian": "autodiff", "penalty": "standardised",
         "projections": 1},
        {"lam": 0.0, "encoder": "single", "tied": True, "code_activation": "sigmoid",
         "hidden_activation": "relu", "jacobian": "chain", "penalty": "raw", "projections": 3},
    ],
)
def test_options_round_trip_through_config(options):
    assert_options_round_trip(FAMILY, options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"encoder": "wide"}, "Expected encoder in ('single', 'deep'). Received: encoder='wide'"),
        ({"tied": True, "encoder": "deep"}, "expected encoder='single'. Received: encoder='deep'"),
        ({"tied": 1}, "Received: tied=1"),
        ({"lam": -0.1}, "Received: lam=-0.1"),
        ({"jacobian": "fd"}, "Received: jacobian='fd'"),
        ({"penalty": "l1"}, "Received: penalty='l1'"),
        ({"projections": 0}, "Received: projections=0"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)


@pytest.mark.parametrize("penalty", ["standardised", "raw"])
def test_conae_projection_estimate_is_exact_for_one_code_unit_in_value_and_gradient(penalty):
    """With z = 1 the signs square to 1, so the one-projection estimate equals the exact penalty, and its
    gradient with respect to every weight (through the batch variance too) equals the exact one."""
    import tensorflow as tf

    estimate = build_model("conae", latent_dim=1, depth=2, penalty=penalty, jacobian="projection", seed=3)
    exact = build_model("conae", latent_dim=1, depth=2, penalty=penalty, jacobian="autodiff", seed=3)
    exact.set_weights(estimate.get_weights())
    x = tf.constant(IMAGES)
    values, grads = [], []
    for model in (estimate, exact):
        with tf.GradientTape() as tape:
            value = model.jacobian_penalty(x)
        values.append(float(value))
        grads.append([np.zeros(w.shape) if g is None else np.asarray(g)
                      for g, w in zip(tape.gradient(value, model.encoder.trainable_weights),
                                      model.encoder.trainable_weights)])
    assert values[0] == pytest.approx(values[1], rel=1e-4)
    for g_estimate, g_exact in zip(*grads):
        np.testing.assert_allclose(g_estimate, g_exact, rtol=0, atol=1e-4 * max(np.abs(g_exact).max(), 1e-12))


def test_conae_projection_estimate_is_unbiased_over_many_projections():
    estimate = build_model("conae", latent_dim=6, depth=1, jacobian="projection", projections=400, seed=2)
    exact = build_model("conae", latent_dim=6, depth=1, jacobian="autodiff", seed=2)
    exact.set_weights(estimate.get_weights())
    # 400 projections: the estimate's relative standard error is a few per cent
    assert float(estimate.jacobian_penalty(IMAGES)) == pytest.approx(float(exact.jacobian_penalty(IMAGES)), rel=0.1)
