"""Fully connected AE: deep MLP encoder and mirrored decoder, widths from the
depth rule of STUDY.md §2 (Rumelhart et al. 1986)."""
from __future__ import annotations

import keras

from aelib.architectures import widths_for
from aelib.models.base import Autoencoder
from aelib.models.registry import register_model
from aelib.models.vanilla import flat_io


def mlp_layers(model: Autoencoder, *, hidden_activation: str = "relu", code_activation: str | None = None):
    """Encoder and decoder dense stacks by the depth rule (decoder mirrors encoder)."""
    widths = widths_for(model.input_dim, model.depth)
    encoder = [model.dense(w, hidden_activation, name=f"enc_dense_{i}") for i, w in enumerate(widths)]
    encoder.append(model.dense(model.latent_dim, code_activation, name="enc_code"))
    decoder = [model.dense(w, hidden_activation, name=f"dec_dense_{i}") for i, w in enumerate(reversed(widths))]
    return encoder, decoder


@keras.saving.register_keras_serializable(package="aelib")
@register_model("fcae")
class FullyConnectedAE(Autoencoder):
    """MLP autoencoder; ReLU hidden layers, linear code, sigmoid (or linear) output."""

    def build_networks(self) -> None:
        self.encoder, self.decoder = flat_io(self, *mlp_layers(self))
