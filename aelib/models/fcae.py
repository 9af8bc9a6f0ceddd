"""Fully connected AE: deep MLP encoder and mirrored decoder (Rumelhart,
Hinton, Williams 1986, who trained multilayer networks by back-propagation,
including auto-association through a narrow hidden layer).

Widths come from the depth rule of docs/methods.md §2 through the ``widths`` option
(:mod:`aelib.architectures`): by default the seed study's presets, switched
to a linear interpolation from the input size to ``latent_dim`` when a preset
layer would be narrower than the code. Departures from the source: ReLU
hidden layers, Glorot initialisation and Adam (modern defaults, not the
1986 sigmoid units and plain gradient descent); the code is linear.
"""
from __future__ import annotations

import keras

from aelib.models.base import Autoencoder
from aelib.models.blocks import flat_io, mlp_layers
from aelib.models.registry import register_model


@keras.saving.register_keras_serializable(package="aelib")
@register_model("fcae")
class FullyConnectedAE(Autoencoder):
    """MLP autoencoder; ReLU hidden layers, linear code, sigmoid (or linear) output."""

    def build_networks(self) -> None:
        self.encoder, self.decoder = flat_io(self, *mlp_layers(self))
