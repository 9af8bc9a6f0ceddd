"""forward(): the model's outputs in batches, as predict gives them, without predict's per-call machinery."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from aelib.models import build_model
from aelib.models.inference import forward


def _two_outputs() -> keras.Model:
    inputs = keras.Input((6,))
    init = keras.initializers.GlorotUniform(seed=1)
    hidden = keras.layers.Dense(4, activation="relu", kernel_initializer=init)(inputs)
    return keras.Model(inputs, [hidden, keras.layers.Dense(3, activation="softmax")(hidden)])


def test_forward_equals_predict_for_several_outputs_and_a_short_last_batch():
    model = _two_outputs()
    x = np.random.default_rng(0).normal(size=(23, 6)).astype("float32")
    ours = forward(model, x, batch_size=10)  # batches of 10, 10 and 3
    theirs = model.predict(x, batch_size=10, verbose=0)
    assert len(ours) == 2
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_autoencoders_codes_and_decodings_are_predicts_bit_for_bit():
    model = build_model("fcae", input_shape=(8, 8, 1), latent_dim=3, depth=1, seed=0)
    x = np.random.default_rng(1).uniform(size=(37, 8, 8, 1)).astype("float32")
    codes = model.encode(x, batch_size=16)
    np.testing.assert_array_equal(codes, model.encoder.predict(x, batch_size=16, verbose=0))
    np.testing.assert_array_equal(model.decode(codes, batch_size=16),
                                  model.decoder.predict(codes, batch_size=16, verbose=0))
    assert model.encode(x[:0]).shape == (0, 3)  # no samples: no codes, no error


def test_a_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size >= 1.*0"):
        forward(_two_outputs(), np.zeros((2, 6), "float32"), batch_size=0)
