"""The FLOP counter of benchmarks/flops.py on constructed cases, counted by hand (no timings)."""
import sys
from pathlib import Path

import keras
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import flops  # noqa: E402

from aelib.models import build_model  # noqa: E402


def single_layer_macs(layer, shape):
    x = keras.Input(shape)
    macs, uncounted = flops.network_macs([keras.Model(x, layer(x))])
    assert uncounted == []
    return macs


def test_dense_only_fcae_is_the_sum_of_in_times_out():
    model = build_model("fcae", latent_dim=40, depth=1, seed=0)
    assert model.depth_rule_widths() == (392,)
    forward = 784 * 392 + 392 * 40 + 40 * 392 + 392 * 784  # encoder, then the mirrored decoder
    assert forward == 646_016
    count = flops.training_macs(model)
    assert count["forward"] == forward and count["encoder"] == 784 * 392 + 392 * 40
    assert count["step"] == 3 * forward and count["uncounted"] == []
    assert 2 * count["step"] == 3_876_096  # FLOPs of one sample's training step


def test_flat_input_fcae():
    model = build_model("fcae", input_shape=(20,), latent_dim=5, depth=1, seed=0)  # 20 → 10 → 5 → 10 → 20
    assert flops.training_macs(model)["forward"] == 20 * 10 + 10 * 5 + 5 * 10 + 10 * 20


def test_one_conv2d_layer():
    conv = keras.layers.Conv2D(32, 3, strides=2, padding="same")  # 28×28×1 → 14×14×32
    assert single_layer_macs(conv, (28, 28, 1)) == 3 * 3 * 1 * 32 * 14 * 14 == 56_448
    conv = keras.layers.Conv2D(64, (3, 5), padding="same")  # 7×7×16 → 7×7×64, no stride
    assert single_layer_macs(conv, (7, 7, 16)) == 3 * 5 * 16 * 64 * 7 * 7


def test_transposed_conv_counts_per_input_position():
    # 14×14×64 → 28×28×32: each of the 14·14 input positions scatters a 3×3×64×32 kernel. TensorFlow's own
    # profiler gives 7,225,344 FLOPs for this op (2 × the count), not 4 × as a count per output position would.
    deconv = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same")
    assert single_layer_macs(deconv, (14, 14, 64)) == 3 * 3 * 64 * 32 * 14 * 14 == 3_612_672


@pytest.mark.parametrize("cell, gates", [(keras.layers.LSTM, 4), (keras.layers.GRU, 3), (keras.layers.SimpleRNN, 1)])
def test_one_recurrent_layer(cell, gates):
    # 28 steps of 28 values, 16 units: gates·(28 + 16)·16 multiply-adds per step
    assert single_layer_macs(cell(16), (28, 28)) == 28 * gates * (28 + 16) * 16
    assert single_layer_macs(cell(16, return_sequences=True), (28, 28)) == 28 * gates * (28 + 16) * 16


def test_lstm_exact_number():
    assert single_layer_macs(keras.layers.LSTM(16), (28, 28)) == 78_848


def test_dense_per_position_and_time_distributed():
    assert single_layer_macs(keras.layers.Dense(64), (16, 49)) == 16 * 49 * 64
    assert single_layer_macs(keras.layers.TimeDistributed(keras.layers.Dense(28)), (28, 128)) == 28 * 128 * 28


def test_multi_head_attention():
    x = keras.Input((10, 32))
    out = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(x, x)
    macs, _ = flops.network_macs([keras.Model(x, out)])
    projections = 4 * 10 * 32 * 32  # Q, K, V (32 → 4·8) and output (4·8 → 32)
    assert macs == projections + 2 * 4 * 10 * 10 * 8  # QKᵀ and AV: 2·L²·d


def test_negligible_layers_count_zero_and_unknown_layers_are_named():
    x = keras.Input((4, 8))
    h = keras.layers.LayerNormalization()(x)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(3)(h)
    h = keras.layers.Embedding(10, 2, name="unknown")(h)
    assert flops.network_macs([keras.Model(x, h)]) == (32 * 3, ["unknown"])


def test_vae_counts_its_log_variance_head_once():
    fcae = flops.training_macs(build_model("fcae", latent_dim=40, depth=1, seed=0))
    vae = flops.training_macs(build_model("vae", latent_dim=40, depth=1, seed=0))
    assert vae["forward"] == fcae["forward"] + 392 * 40


def test_shared_layers_are_counted_once():
    fcae = flops.training_macs(build_model("fcae", latent_dim=40, depth=1, seed=0))
    sae = flops.training_macs(build_model("sae", latent_dim=40, depth=1, seed=0))  # a second model on the same layers
    assert sae["forward"] == fcae["forward"]


def test_contractive_jacobian_adds_encoder_passes():
    count = flops.training_macs(build_model("conae", latent_dim=40, depth=1, seed=0))  # the projection estimate
    encoder = 784 * 392 + 392 * 40
    assert count["step"] == 3 * 646_016 + 3 * 2 * encoder and "Jacobian estimate" in count["counted"]
    exact = flops.training_macs(build_model("conae", latent_dim=40, depth=1, jacobian="autodiff", seed=0))
    assert exact["step"] == 3 * 646_016 + 3 * 40 * encoder and "Jacobian: 3·z" in exact["counted"]
    closed = flops.training_macs(build_model("conae", latent_dim=40, depth=1, encoder="single", penalty="raw",
                                             code_activation="sigmoid", seed=0))
    assert closed["step"] == 3 * closed["forward"]


def test_adversarial_phases():
    count = flops.training_macs(build_model("aae", latent_dim=40, depth=1, seed=0))
    discriminator = 40 * 256 + 256 * 256 + 256 * 1
    assert count["auxiliary"] == discriminator
    assert count["step"] == 3 * 646_016 + 4 * (784 * 392 + 392 * 40) + 9 * discriminator


def test_masked_transformer_counts_visible_patches_in_the_encoder():
    model = build_model("mae", latent_dim=40, seed=0)  # 16 patches of 49 values, 4 visible in training
    assert (model.num_patches, model.num_visible, model.embed_dim, model.decoder_dim) == (16, 4, 64, 32)

    def block(tokens, dim):  # qkv and projection, QKᵀ and AV, MLP of width 2·dim
        return 4 * tokens * dim * dim + 2 * tokens * tokens * dim + 2 * tokens * dim * 2 * dim

    encoder = 16 * 49 * 64 + 2 * block(4, 64) + 64 * 40
    decoder = 40 * 16 * 32 + block(16, 32) + 16 * 32 * 49
    count = flops.training_macs(model)
    assert count["encoder"] == encoder and count["forward"] == encoder + decoder


@pytest.mark.parametrize("rows_per_step", [1, 2])
def test_recurrent_family_counts_both_grus(rows_per_step):
    model = build_model("rae", latent_dim=40, seed=0, rows_per_step=rows_per_step)  # 128 units
    steps, values = 28 // rows_per_step, 28 * rows_per_step  # 28 steps of one row, or 14 of two
    encoder = steps * 3 * (values + 128) * 128 + 128 * 40
    decoder = 40 * 128 + steps * 3 * (40 + 128) * 128 + steps * 128 * values
    assert flops.training_macs(model)["forward"] == encoder + decoder
    assert flops.has_recurrence(model) and not flops.has_recurrence(build_model("cae", latent_dim=40, seed=0))


def test_limited_by_rule():
    assert flops.limited_by(0.3, recurrent=True) == "arithmetic"
    assert flops.limited_by(0.29, recurrent=False) == "overhead (small kernels)"
    assert flops.limited_by(0.05, recurrent=True) == "memory/recurrence (sequential steps)"
