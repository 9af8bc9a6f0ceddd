"""Recurrent AE (the RNN encoder–decoder of Cho, van Merriënboer, Gulcehre,
Bahdanau, Bougares, Schwenk, Bengio, "Learning phrase representations using
RNN encoder–decoder for statistical machine translation", EMNLP 2014, used as
an autoencoder): a GRU or LSTM reads the image as a sequence of rows, the code
is a dense map of its final state, and a recurrent decoder emits the rows.

Each time step is a band of ``rows_per_step`` image rows (default 2). For a
28×28×1 image: 14 steps of 56 values → GRU(units) → Dense → z; z → initial
state tanh(V z) of a GRU(units, return_sequences) that gets z as its input at
each of the 14 steps → per-step Dense(56, output activation) → 28×28×1.
``depth`` and ``widths`` do not apply (``widths_rule_used == "n/a"``).

Why two rows a step. The recurrence is sequential: each of its steps is a
small dependent matrix product, so the cost of an epoch grows with the number
of steps rather than with the arithmetic. Two rows a step halve the steps; in
the quick profile's training (seed 0, one run of both) a converged model took
0.65x the time at z = 2 and 0.45x at z = 40, at a 2.7 % and 1.7 % lower test
RMSE (benchmarks/README.md, "Family options against their baseline"). Four
rows a step (7 steps) was faster still but 8 % worse than two at z = 40. The model
stays an RNN encoder–decoder over the image's sequence of rows; ``rows_per_step=1``
gives the row-by-row model of aelib before 2026-12-08.

The recurrent state is on the path twice (the encoder's final state, the
decoder's per-step state), so ``units`` below ``latent_dim`` would cap the
code: the default ``units="auto"`` is ``max(128, latent_dim)``, and the
effective bottleneck is ``min(latent_dim, units)``.

The decoder follows Cho et al.'s, whose hidden state starts at tanh(V' c) and
whose every step also reads the summary c (here the code z). The earlier
decoder (``decoder="repeat"``: a zero initial state and tanh(V z) repeated as
the input) reached a slightly higher test RMSE in the quick study and needed
about 1.5x the epochs in all (1.0-1.8x per run; benchmarks/README.md, "The
recurrent decoder").

Departures from the source: Cho et al. translate one sequence into another,
with the previous output also fed back; here the sequence is the image's rows,
the target is the input itself, the code z is a dense map of the encoder's
final state (the study's code), the decoder does not get its previous output,
and the loss is the per-value mean squared error.
"""
from __future__ import annotations

from typing import Any

import keras

from aelib.checks import check_auto_or_int, check_choice, check_int
from aelib.models.base import Autoencoder
from aelib.models.blocks import require_image_shape
from aelib.models.registry import register_model

CELLS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
#: How the decoder gets the code: ``"state"`` (its initial state is tanh(V z)
#: and z is its input at every step, as Cho et al.'s decoder gets c) or
#: ``"repeat"`` (a zero initial state and tanh(V z) repeated as the input).
DECODERS = ("state", "repeat")
#: Smallest recurrent state of ``units="auto"``.
DEFAULT_UNITS = 128


@keras.saving.register_keras_serializable(package="aelib")
@register_model("rae")
class RecurrentAE(Autoencoder):
    """Row-by-row recurrent autoencoder for (H, W, C) images.

    Args:
        cell: ``"gru"`` (default, Cho et al.'s unit) or ``"lstm"``.
        units: state size of the encoder and decoder cells: ``"auto"``
            (default) for ``max(128, latent_dim)`` — 128 is several times a
            row's 28 values and quick on a CPU, and a state narrower than the
            code would cap it — or a positive int.
        decoder: ``"state"`` (default: the decoder starts from tanh(V z) and
            reads z at every step, as in Cho et al.) or ``"repeat"`` (a zero
            initial state and tanh(V z) repeated as its input: aelib's
            decoder before 2026-12, kept to reproduce earlier results).
        rows_per_step: image rows read (and emitted) per time step, a
            divisor of the image's height: 2 (default) or 1 (row by row).
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: for inputs that are not (H, W, C) images, an unknown
            ``cell`` or ``decoder``, ``units`` neither ``"auto"`` nor an int >= 1,
            or ``rows_per_step`` not dividing the image's height.
    """

    option_attributes = {"decoder": "decoder_input"}

    def __init__(self, *args: Any, cell: str = "gru", units: int | str = "auto", decoder: str = "state",
                 rows_per_step: int = 2, **kwargs: Any) -> None:
        self.cell = check_choice("cell", cell, tuple(CELLS))
        self.decoder_input = check_choice("decoder", decoder, DECODERS)
        self.units = check_auto_or_int("units", units)
        self.rows_per_step = check_int("rows_per_step", rows_per_step)
        super().__init__(*args, **kwargs)

    @property
    def state_size(self) -> int:
        """The recurrent state size built: ``units``, with ``"auto"`` resolved."""
        return max(DEFAULT_UNITS, self.latent_dim) if self.units == "auto" else self.units

    def effective_bottleneck(self) -> int:
        return int(min(self.latent_dim, self.state_size))

    def _recurrent(self, *, return_sequences: bool, name: str):
        return CELLS[self.cell](
            self.state_size,
            return_sequences=return_sequences,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.next_initializer_seed()),
            recurrent_initializer=keras.initializers.Orthogonal(seed=self.next_initializer_seed()),
            name=name,
        )

    def build_networks(self) -> None:
        height, width, channels = require_image_shape(self.family, self.sample_shape)
        if height % self.rows_per_step:
            raise ValueError(f"Expected rows_per_step to divide the image's {height} rows (1 always does). "
                             f"Received: rows_per_step={self.rows_per_step}")
        rows = height // self.rows_per_step  # time steps
        row_size = self.rows_per_step * width * channels  # values per step
        x_in = keras.Input(self.sample_shape, name="x")
        h = keras.layers.Reshape((rows, row_size), name="rows")(x_in)
        h = self._recurrent(return_sequences=False, name="enc_rnn")(h)
        z = self.dense(self.latent_dim, None, name="enc_code")(h)
        self.encoder = keras.Model(x_in, z, name="encoder")

        z_in = keras.Input((self.latent_dim,), name="z")
        h = self.dense(self.state_size, "tanh", name="dec_project")(z_in)
        if self.decoder_input == "state":
            states = [h]
            if self.cell == "lstm":
                states.append(self.dense(self.state_size, "tanh", name="dec_project_cell")(z_in))
            steps = keras.layers.RepeatVector(rows, name="dec_repeat")(z_in)
            h = self._recurrent(return_sequences=True, name="dec_rnn")(steps, initial_state=states)
        else:
            h = keras.layers.RepeatVector(rows, name="dec_repeat")(h)
            h = self._recurrent(return_sequences=True, name="dec_rnn")(h)
        row = self.dense(row_size, self.output_activation, name="dec_row")
        h = keras.layers.TimeDistributed(row, name="dec_rows")(h)
        h = keras.layers.Reshape(self.sample_shape, name="unflatten")(h)
        self.decoder = keras.Model(z_in, h, name="decoder")
