"""Fully connected AE: deep MLP encoder and mirrored decoder (Rumelhart,
Hinton, Williams 1986, who trained multilayer networks by back-propagation,
including auto-association through a narrow hidden layer).

Widths come from the depth rule of STUDY.md §2 through the ``widths`` option
(:mod:`aelib.architectures`): by default the seed study's presets, switched
to a linear interpolation from the input size to ``latent_dim`` when a preset
layer would be narrower than the code. Departures from the source: ReLU
hidden layers, Glorot initialisation and Adam (modern defaults, not the
1986 sigmoid units and plain gradient descent); the code is linear.
"""
from __future__ import annotations

import keras

from aelib.models.base import Autoencoder
from aelib.models.registry import register_model
from aelib.models.vanilla import flat_io


def mlp_layers(model: Autoencoder, *, hidden_activation: str = "relu", code_activation: str | None = None,
               first_hidden_activation: str | None = None):
    """Encoder and decoder dense stacks by the depth rule (decoder mirrors encoder).

    Args:
        model: the autoencoder; its ``depth``, ``widths`` and ``latent_dim`` set the widths.
        hidden_activation: activation of the hidden layers.
        code_activation: activation of the code layer (None: linear).
        first_hidden_activation: activation of the first (widest) encoder
            hidden layer if it differs (the sparse AE's sigmoid layer).
    """
    widths = model.depth_rule_widths()
    encoder = [
        model.dense(w, first_hidden_activation if (i == 0 and first_hidden_activation) else hidden_activation,
                    name=f"enc_dense_{i}")
        for i, w in enumerate(widths)
    ]
    encoder.append(model.dense(model.latent_dim, code_activation, name="enc_code"))
    return encoder, mirrored_decoder_layers(model, widths, hidden_activation=hidden_activation)


def mirrored_decoder_layers(model: Autoencoder, widths, *, hidden_activation: str = "relu"):
    """Decoder hidden layers ``z → widths[-1] → … → widths[0]`` (the output layer is added by ``flat_io``)."""
    return [model.dense(w, hidden_activation, name=f"dec_dense_{i}") for i, w in enumerate(reversed(widths))]


@keras.saving.register_keras_serializable(package="aelib")
@register_model("fcae")
class FullyConnectedAE(Autoencoder):
    """MLP autoencoder; ReLU hidden layers, linear code, sigmoid (or linear) output."""

    def build_networks(self) -> None:
        self.encoder, self.decoder = flat_io(self, *mlp_layers(self))
