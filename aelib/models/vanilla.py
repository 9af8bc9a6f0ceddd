"""Vanilla AE: one code layer, input → z → input (Rumelhart, Hinton, Williams,
"Learning internal representations by error propagation", in Parallel
Distributed Processing, MIT Press 1986: the auto-association problems with a
single narrow hidden layer).

Departures from the source: the code is linear (1986: sigmoid units), the
output is a sigmoid for [0, 1] data (linear for features), weights start from
Glorot initialisation and train with Adam. There are no depth-rule layers, so
``depth`` and ``widths`` do not apply (``widths_rule_used == "n/a"``) and the
effective bottleneck is ``latent_dim``.
"""
from __future__ import annotations

import keras

from aelib.models.base import Autoencoder
from aelib.models.registry import register_model


def flat_io(model: Autoencoder, body_encoder, body_decoder):
    """Wrap dense stacks into functional encoder/decoder models that take and
    return samples of ``model.sample_shape`` (flattening inside the model)."""
    x_in = keras.Input(model.sample_shape, name="x")
    h = keras.layers.Flatten(name="flatten")(x_in) if len(model.sample_shape) > 1 else x_in
    for layer in body_encoder:
        h = layer(h)
    encoder = keras.Model(x_in, h, name="encoder")
    z_in = keras.Input((model.latent_dim,), name="z")
    h = z_in
    for layer in body_decoder:
        h = layer(h)
    h = model.dense(model.input_dim, model.output_activation, name="dec_output")(h)
    if len(model.sample_shape) > 1:
        h = keras.layers.Reshape(model.sample_shape, name="unflatten")(h)
    decoder = keras.Model(z_in, h, name="decoder")
    return encoder, decoder


@keras.saving.register_keras_serializable(package="aelib")
@register_model("vanilla")
class VanillaAE(Autoencoder):
    """Input → linear code z → sigmoid output; ``depth`` is ignored (always 0)."""

    def build_networks(self) -> None:
        self.encoder, self.decoder = flat_io(self, [self.dense(self.latent_dim, None, name="enc_code")], [])
