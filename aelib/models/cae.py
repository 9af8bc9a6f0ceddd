"""Convolutional AE: strided convolutions down to a dense code, transposed
convolutions back up (Masci, Meier, Cireşan, Schmidhuber, "Stacked
convolutional auto-encoders for hierarchical feature extraction", ICANN 2011;
Zeiler & Fergus, "Visualizing and understanding convolutional networks",
ECCV 2014, for the transposed convolutions or "deconvnets").

For a 28×28×1 image: Conv 32 (stride 2) → 14×14×32, Conv 64 (stride 2) →
7×7×64, Flatten, Dense → z; the decoder mirrors it: Dense 7·7·64, Reshape,
ConvTranspose 64 (stride 2) → 14×14, ConvTranspose 32 (stride 2) → 28×28,
Conv 3×3 to the input channels with the output activation. Any (H, W, C)
input with H and W divisible by 4 works; ``depth`` and ``widths`` do not
apply (``widths_rule_used == "n/a"``). The effective bottleneck is the
smallest of ``latent_dim`` and the sizes (h·w·c) of the feature maps and
dense layers on the path: ``latent_dim`` for any code up to 7·7·64 = 3,136
on MNIST.

Departures from the sources: Masci et al. use max-pooling, convolutions whose
decoder filters are the flipped encoder filters, and layer-wise stacking with
no dense code; here strides replace pooling, the transposed convolutions have
their own weights, a dense layer makes the code z the study needs, and the
whole network is trained end to end with the per-value mean squared error.
"""
from __future__ import annotations

import math
from typing import Any

import keras

from aelib.checks import check_int
from aelib.models.base import Autoencoder
from aelib.models.blocks import require_image_shape
from aelib.models.registry import register_model


@keras.saving.register_keras_serializable(package="aelib")
@register_model("cae")
class ConvolutionalAE(Autoencoder):
    """Strided-conv encoder, dense bottleneck, transposed-conv decoder.

    Args:
        filters: channels of the two strided convolutions (the decoder uses
            them in reverse). Default ``(32, 64)``.
        kernel_size: side of every convolution kernel. Default 3.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: for inputs that are not (H, W, C) images with H, W
            divisible by 4, or bad ``filters`` / ``kernel_size``.
    """

    def __init__(self, *args: Any, filters=(32, 64), kernel_size: int = 3, **kwargs: Any) -> None:
        try:
            filters = tuple(int(f) for f in filters)
        except (TypeError, ValueError):
            raise ValueError(f"Expected filters as two positive ints. Received: filters={filters!r}") from None
        if len(filters) != 2 or min(filters) < 1:
            raise ValueError(f"Expected filters as two positive ints. Received: filters={filters!r}")
        self.filters = filters
        self.kernel_size = check_int("kernel_size", kernel_size)
        super().__init__(*args, **kwargs)

    def _conv(self, cls, filters: int, strides: int, activation: str | None, name: str):
        return cls(
            filters,
            self.kernel_size,
            strides=strides,
            padding="same",
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.next_initializer_seed()),
            name=name,
        )

    def build_networks(self) -> None:
        height, width, channels = require_image_shape(self.family, self.sample_shape, multiple=4)
        f1, f2 = self.filters
        x_in = keras.Input(self.sample_shape, name="x")
        h = self._conv(keras.layers.Conv2D, f1, 2, "relu", "enc_conv_0")(x_in)
        h = self._conv(keras.layers.Conv2D, f2, 2, "relu", "enc_conv_1")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        z = self.dense(self.latent_dim, None, name="enc_code")(h)
        self.encoder = keras.Model(x_in, z, name="encoder")

        z_in = keras.Input((self.latent_dim,), name="z")
        h = self.dense((height // 4) * (width // 4) * f2, "relu", name="dec_dense")(z_in)
        h = keras.layers.Reshape((height // 4, width // 4, f2), name="dec_reshape")(h)
        h = self._conv(keras.layers.Conv2DTranspose, f2, 2, "relu", "dec_deconv_0")(h)
        h = self._conv(keras.layers.Conv2DTranspose, f1, 2, "relu", "dec_deconv_1")(h)
        h = self._conv(keras.layers.Conv2D, channels, 1, self.output_activation, "dec_output")(h)
        self.decoder = keras.Model(z_in, h, name="decoder")

    def effective_bottleneck(self) -> int:
        """Smallest of ``latent_dim`` and every feature map (h·w·c) or dense layer on the path."""
        sizes = [math.prod(layer.output.shape[1:]) for network in (self.encoder, self.decoder)
                 for layer in network.layers[1:]]
        return int(min(self.latent_dim, *sizes))
