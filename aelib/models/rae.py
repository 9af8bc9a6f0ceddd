"""Recurrent AE (the RNN encoder–decoder of Cho et al. 2014 used as an
autoencoder): a GRU or LSTM reads the image as a sequence of rows, the code is
a dense map of its final state, and a recurrent decoder emits the rows.

For a 28×28×1 image: 28 steps of 28 values → GRU(units) → Dense → z;
z → Dense(units, tanh) → repeated for each of the 28 rows → GRU(units,
return_sequences) → per-row Dense(28, output activation) → 28×28×1.
``depth`` does not apply.
"""
from __future__ import annotations

from typing import Any

import keras

from aelib.checks import check_int
from aelib.models.base import Autoencoder
from aelib.models.cae import require_image_shape
from aelib.models.registry import register_model

CELLS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


@keras.saving.register_keras_serializable(package="aelib")
@register_model("rae")
class RecurrentAE(Autoencoder):
    """Row-by-row recurrent autoencoder for (H, W, C) images.

    Args:
        cell: ``"gru"`` (default, Cho et al.'s unit) or ``"lstm"``.
        units: state size of the encoder and decoder cells. Default 128 —
            several times a row's 28 values, and quick on a CPU.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: for inputs that are not (H, W, C) images, an unknown
            ``cell`` or ``units < 1``.
    """

    def __init__(self, *args: Any, cell: str = "gru", units: int = 128, **kwargs: Any) -> None:
        if cell not in CELLS:
            raise ValueError(f"Expected cell in {tuple(CELLS)}. Received: cell={cell!r}")
        self.cell = cell
        self.units = check_int("units", units)
        super().__init__(*args, **kwargs)

    def options(self) -> dict:
        return {"cell": self.cell, "units": self.units}

    def _recurrent(self, *, return_sequences: bool, name: str):
        return CELLS[self.cell](
            self.units,
            return_sequences=return_sequences,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.next_initializer_seed()),
            recurrent_initializer=keras.initializers.Orthogonal(seed=self.next_initializer_seed()),
            name=name,
        )

    def build_networks(self) -> None:
        rows, width, channels = require_image_shape(self.family, self.sample_shape)
        row_size = width * channels
        x_in = keras.Input(self.sample_shape, name="x")
        h = keras.layers.Reshape((rows, row_size), name="rows")(x_in)
        h = self._recurrent(return_sequences=False, name="enc_rnn")(h)
        z = self.dense(self.latent_dim, None, name="enc_code")(h)
        self.encoder = keras.Model(x_in, z, name="encoder")

        z_in = keras.Input((self.latent_dim,), name="z")
        h = self.dense(self.units, "tanh", name="dec_project")(z_in)
        h = keras.layers.RepeatVector(rows, name="dec_repeat")(h)
        h = self._recurrent(return_sequences=True, name="dec_rnn")(h)
        row = self.dense(row_size, self.output_activation, name="dec_row")
        h = keras.layers.TimeDistributed(row, name="dec_rows")(h)
        h = keras.layers.Reshape(self.sample_shape, name="unflatten")(h)
        self.decoder = keras.Model(z_in, h, name="decoder")
