"""Family-specific behaviour of dae, cae, vae, aae and rae (the shared contract
is in test_models_contract.py)."""
import keras
import numpy as np
import pytest

from aelib import losses
from aelib.models import build_model, get_model_class
from aelib.training import train

IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
HALF = np.full((50, 28, 28, 1), 0.5, dtype="float32")  # 39,200 values: fractions to about ±0.005


# ----- vae -------------------------------------------------------------------
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


# ----- dae -------------------------------------------------------------------
@pytest.mark.parametrize("level", [0.1, 0.3])
def test_dae_masking_zeroes_the_fraction(level):
    noisy = build_model("dae", latent_dim=2, depth=1, corruption="masking", noise_level=level).corrupt(HALF, seed=1)
    assert np.mean(noisy == 0) == pytest.approx(level, abs=0.015)
    assert set(np.unique(noisy)) <= {0.0, 0.5}


def test_dae_gaussian_noise_has_std_sigma():
    model = build_model("dae", latent_dim=2, depth=1, corruption="gaussian", noise_level=0.1)
    noise = model.corrupt(HALF, seed=1) - HALF
    assert noise.std() == pytest.approx(0.1, rel=0.03)
    assert abs(noise.mean()) < 0.005
    # Not clipped, whatever the output activation: noise leaves [0, 1] on both sides.
    noisy = model.corrupt(IMAGES, seed=0)
    assert noisy.min() < 0.0 and noisy.max() > 1.0
    loud = build_model("dae", input_shape=(784,), latent_dim=2, depth=1, noise_level=1.0, output_activation="linear")
    assert loud.corrupt(IMAGES.reshape(16, -1), seed=0).min() < 0.0


def test_dae_gaussian_corruption_is_mean_zero_on_a_black_background():
    """Clipping would give E[max(0, σε)] = σ/√(2π) ≈ 0.12 at σ = 0.3 on MNIST's zero pixels."""
    sigma = 0.3
    model = build_model("dae", latent_dim=2, depth=1, corruption="gaussian", noise_level=sigma)
    black = np.zeros((100, 28, 28, 1), dtype="float32")  # 78,400 values
    noisy = model.corrupt(black, seed=3)
    standard_error = sigma / np.sqrt(noisy.size)  # ≈ 0.0011
    assert abs(noisy.mean()) < 4 * standard_error
    assert sigma / np.sqrt(2 * np.pi) > 100 * standard_error  # the clipped bias would fail by far
    # Masking and salt-and-pepper stay in [0, 1] by construction.
    for corruption in ("masking", "salt_and_pepper"):
        other = build_model("dae", latent_dim=2, depth=1, corruption=corruption, noise_level=0.5).corrupt(IMAGES, seed=0)
        assert other.min() >= 0.0 and other.max() <= 1.0


def test_dae_salt_and_pepper_sets_zeros_and_ones():
    model = build_model("dae", latent_dim=2, depth=1, corruption="salt_and_pepper", noise_level=0.2)
    noisy = model.corrupt(HALF, seed=1)
    hit = noisy != 0.5
    assert hit.mean() == pytest.approx(0.2, abs=0.015)
    assert set(np.unique(noisy[hit])) == {0.0, 1.0}
    assert np.mean(noisy[hit]) == pytest.approx(0.5, abs=0.05)
    np.testing.assert_array_equal(noisy, model.corrupt(HALF, seed=1))
    assert not np.array_equal(noisy, model.corrupt(HALF, seed=2))


@pytest.mark.parametrize("corruption, level", [("masking", 0.25), ("salt_and_pepper", 0.25), ("gaussian", 0.2)])
def test_dae_training_inputs_corrupted_evaluation_clean(corruption, level):
    model = build_model("dae", input_shape=(400,), latent_dim=400, depth=1, corruption=corruption,
                        noise_level=level, output_activation="linear")
    clean = np.full((20, 400), 0.5, dtype="float32")
    # Evaluation uses clean inputs: deterministic and equal to the encoder on x.
    np.testing.assert_array_equal(model.encode(clean), model.encode(clean))
    np.testing.assert_allclose(model.encode(clean), keras.ops.convert_to_numpy(model.encoder(clean)), atol=1e-6)
    np.testing.assert_array_equal(model.reconstruct(clean), model.reconstruct(clean))
    # With an identity encoder, the code seen in training is the corrupted input itself.
    x_in = keras.Input((400,))
    model.encoder = keras.Model(x_in, keras.layers.Identity()(x_in))
    seen = keras.ops.convert_to_numpy(model(clean, training=True)["z"])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(clean, training=False)["z"]), clean)
    if corruption == "gaussian":
        assert (seen - clean).std() == pytest.approx(level, rel=0.05)
    else:
        assert np.mean(seen != clean) == pytest.approx(level, abs=0.03)


# ----- bad options -----------------------------------------------------------
@pytest.mark.parametrize(
    "family, options, message",
    [
        ("vae", {"beta": -1}, "Received: beta=-1"),
        ("vae", {"reconstruction": "l1"}, "reconstruction='l1'"),
        ("vae", {"reconstruction": "bce", "output_activation": "linear"}, "output_activation='linear'"),
        ("dae", {"corruption": "blur"}, "corruption='blur'"),
        ("dae", {"corruption": "masking", "noise_level": 1.5}, "noise_level=1.5"),
        ("dae", {"corruption": "salt_and_pepper", "noise_level": -0.1}, "noise_level=-0.1"),
        ("dae", {"noise_level": -1.0}, "noise_level=-1.0"),
        ("rae", {"cell": "rnn"}, "cell='rnn'"),
        ("rae", {"units": 0}, "Expected units='auto' or an integer >= 1. Received: units=0"),
        ("rae", {"units": "big"}, "units='big'"),
        ("rae", {"decoder": "feedback"}, "decoder='feedback'"),
        ("aae", {"prior": "cauchy"}, "prior='cauchy'"),
        ("aae", {"generator_lr_scale": -2.0}, "generator_lr_scale=-2.0"),
        ("cae", {"input_shape": (2048,)}, "'cae' needs image inputs"),
        ("rae", {"input_shape": (2048,)}, "'rae' needs image inputs"),
        ("cae", {"input_shape": (30, 30, 1)}, "input_shape=(30, 30, 1)"),
    ],
)
def test_bad_options_raise(family, options, message):
    options = {"input_shape": (28, 28, 1), **options}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model(family, latent_dim=2, **options)


@pytest.mark.parametrize(
    "family, options",
    [("dae", {"corruption": "masking", "noise_level": 0.5}), ("cae", {"filters": (8, 16)}), ("vae", {"beta": 4.0}),
     ("aae", {"prior": "uniform", "discriminator_units": 32}), ("rae", {"cell": "lstm", "units": 16}),
     ("rae", {}), ("rae", {"decoder": "repeat"}), ("rae", {"cell": "lstm", "decoder": "repeat"}),
     ("fcae", {"widths": "interpolate"})],
)
def test_config_round_trip(family, options):
    model = build_model(family, latent_dim=3, depth=1, **options)
    again = get_model_class(family).from_config(model.get_config())
    assert again.get_config() == model.get_config()
    np.testing.assert_allclose(again.encode(IMAGES[:2]), model.encode(IMAGES[:2]), atol=1e-6)


# ----- aae, cae, rae ---------------------------------------------------------
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


@pytest.mark.parametrize("latent_dim", [1, 700])
def test_cae_extreme_latent_sizes(latent_dim):
    model = build_model("cae", latent_dim=latent_dim)
    assert model.encode(IMAGES[:4]).shape == (4, latent_dim)
    assert model.reconstruct(IMAGES[:4]).shape == (4, 28, 28, 1)


def test_rae_lstm_and_other_image_sizes():
    model = build_model("rae", input_shape=(12, 8, 2), latent_dim=5, cell="lstm", units=16)
    x = np.random.default_rng(1).random((3, 12, 8, 2)).astype("float32")
    assert model.encode(x).shape == (3, 5)
    out = model.reconstruct(x)
    assert out.shape == x.shape and 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("latent_dim, units, state", [(5, "auto", 128), (300, "auto", 300), (300, 64, 64)])
def test_rae_state_scales_with_the_code(latent_dim, units, state):
    model = build_model("rae", latent_dim=latent_dim, units=units)
    assert model.state_size == state
    assert model.get_layer("encoder").get_layer("enc_rnn").units == state
    assert model.get_layer("decoder").get_layer("dec_project").units == state
    assert model.effective_bottleneck() == min(latent_dim, state)
    assert model.get_config()["units"] == units  # "auto" is kept, so a reload resolves it again


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_rae_decoder_starts_from_the_code(cell):
    """decoder="state" (default): the code sets the decoder's initial state and is its input at every step;
    decoder="repeat": a zero initial state, tanh(V z) repeated as the input."""
    model = build_model("rae", latent_dim=3, cell=cell, units=8)
    decoder = model.get_layer("decoder")
    assert model.get_config()["decoder"] == "state"
    assert decoder.get_layer("dec_repeat").output.shape[-1] == 3  # z itself at every step
    projections = [layer.name for layer in decoder.layers if layer.name.startswith("dec_project")]
    assert projections == (["dec_project", "dec_project_cell"] if cell == "lstm" else ["dec_project"])
    # Only the initial state carries the code once the decoder's input weights are zero: two codes still give
    # different first rows. With decoder="repeat" (zero initial state) they give the same first row.
    z = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5]], dtype="float32")
    for kind, differs in (("state", True), ("repeat", False)):
        model = build_model("rae", latent_dim=3, cell=cell, units=8, decoder=kind)
        kernel = model.get_layer("decoder").get_layer("dec_rnn").cell.kernel
        kernel.assign(np.zeros(kernel.shape, dtype="float32"))
        rows = model.decode(z)
        assert (not np.allclose(rows[0, 0], rows[1, 0])) is differs, kind
    old = build_model("rae", latent_dim=3, cell=cell, units=8, decoder="repeat").get_layer("decoder")
    assert old.get_layer("dec_repeat").output.shape[-1] == 8
