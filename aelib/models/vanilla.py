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
from aelib.models.blocks import flat_io
from aelib.models.registry import register_model


@keras.saving.register_keras_serializable(package="aelib")
@register_model("vanilla")
class VanillaAE(Autoencoder):
    """Input → linear code z → sigmoid output; ``depth`` is ignored (always 0)."""

    def build_networks(self) -> None:
        self.encoder, self.decoder = flat_io(self, [self.dense(self.latent_dim, None, name="enc_code")], [])
