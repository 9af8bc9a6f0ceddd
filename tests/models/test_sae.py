"""The sparse autoencoder: the family contract, and its penalties against closed forms."""
import keras
import numpy as np
import pytest

from aelib import losses
from aelib.models import build_model
from aelib.training import train
from tests.models.harness import (
    CONTRACT_LATENT_DIMS,
    assert_bad_option,
    assert_options_round_trip,
    run_family_test,
    run_seeded_training_test,
)

FAMILY = "sae"
RNG = np.random.default_rng(0)
VECTORS = RNG.random((16, 12)).astype("float32")
IMAGES = RNG.random((6, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


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


@pytest.mark.parametrize(
    "options",
    [
        {"rho": 0.1, "beta": 0.5, "l1": 1e-3, "sparsity_on": "all", "hidden_activation": "sigmoid"},
        {"rho": 0.1, "beta": 0.5, "l1": 0.0, "sparsity_on": "hidden", "hidden_activation": "relu"},
    ],
)
def test_options_round_trip_through_config(options):
    assert_options_round_trip(FAMILY, options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"rho": 1.0}, "Received: rho=1.0"),
        ({"beta": -1}, "Received: beta=-1"),
        ({"sparsity_on": "all"}, "hidden_activation='sigmoid'"),
        ({"sparsity_on": "some"}, "Received: sparsity_on='some'"),
        ({"depth": 0}, "sparsity_on='hidden' penalises the first hidden layer: expected depth >= 1"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)
