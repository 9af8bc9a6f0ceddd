"""The recurrent autoencoder: the family contract, cells, the state size and how the code starts the decoder."""
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

FAMILY = "rae"
IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)


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


@pytest.mark.parametrize(
    "options, message",
    [
        ({"cell": "rnn"}, "cell='rnn'"),
        ({"units": 0}, "Expected units='auto' or an integer >= 1. Received: units=0"),
        ({"units": "big"}, "units='big'"),
        ({"decoder": "feedback"}, "decoder='feedback'"),
        ({"input_shape": (2048,)}, "'rae' needs image inputs"),
    ],
)
def test_bad_options_raise(options, message):
    assert_bad_option(FAMILY, options, message)


@pytest.mark.parametrize(
    "options", [{"cell": "lstm", "units": 16}, {}, {"decoder": "repeat"}, {"cell": "lstm", "decoder": "repeat"},
                {"rows_per_step": 1}, {"rows_per_step": 4, "units": 16}])
def test_config_round_trip(options):
    assert_config_round_trip(FAMILY, options, IMAGES)


@pytest.mark.parametrize("rows_per_step, steps", [(1, 28), (2, 14), (4, 7)])
def test_rae_reads_bands_of_rows_per_step(rows_per_step, steps):
    """Each time step is a band of ``rows_per_step`` rows, in image order: the encoder's sequence is the
    image's rows, joined in twos by default, and the decoder emits the same bands back into the image."""
    model = build_model("rae", latent_dim=3, units=8, rows_per_step=rows_per_step)
    sequence = model.get_layer("encoder").get_layer("rows")
    assert sequence.output.shape[1:] == (steps, 28 * rows_per_step)
    assert model.get_layer("decoder").get_layer("dec_repeat").output.shape[1] == steps
    image = np.arange(28 * 28, dtype="float32").reshape(1, 28, 28, 1)
    bands = keras_model_of(model.get_layer("encoder"), "rows")(image)
    np.testing.assert_array_equal(np.asarray(bands)[0, 1], image[0, rows_per_step:2 * rows_per_step].ravel())
    assert model.reconstruct(IMAGES[:2]).shape == (2, 28, 28, 1)


def keras_model_of(network, layer_name):
    import keras

    return keras.Model(network.inputs, network.get_layer(layer_name).output)


def test_rae_rows_per_step_must_divide_the_height():
    assert build_model("rae", latent_dim=3, units=8).get_config()["rows_per_step"] == 2
    with pytest.raises(ValueError, match=r"Expected rows_per_step to divide the image's 28 rows \(1 always does\)\. "
                                         r"Received: rows_per_step=3"):
        build_model("rae", latent_dim=3, units=8, rows_per_step=3)
    with pytest.raises(ValueError, match="rows_per_step"):
        build_model("rae", latent_dim=3, units=8, rows_per_step=0)
