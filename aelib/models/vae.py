"""Variational AE: Gaussian encoder q(z|x) = N(μ(x), diag exp(log σ²(x))),
reparameterised sample z = μ + σ·ε, loss = reconstruction + β·KL(q ‖ N(0, I))
(Kingma & Welling, "Auto-Encoding Variational Bayes", arXiv 2013 / ICLR 2014;
β as in Higgins et al., ICLR 2017).

The encoder trunk and the decoder are the ``fcae`` networks (depth rule,
docs/methods.md §2, ``widths`` option); the code layer becomes two heads, mean and
log-variance. ``self.encoder`` returns the mean, so ``encode`` is
deterministic; the model samples z only while training (validation and
``predict`` decode the mean, so the validation loss that early stopping
watches is not noisy).

Departures from the source: deep ReLU MLPs instead of one tanh hidden layer
of 500 units, one sample of z per input (as the paper's L = 1), Adam instead
of Adagrad, the optional KL weight β, and a summed squared error in place of
the Gaussian likelihood for unbounded features.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from aelib import losses
from aelib.checks import check_choice, check_non_negative
from aelib.models.base import Autoencoder, LossTerm
from aelib.models.blocks import flat_io, mlp_layers, prior_codes
from aelib.models.registry import register_model

RECONSTRUCTIONS = ("auto", "bce", "sse")


@keras.saving.register_keras_serializable(package="aelib")
@register_model("vae")
class VariationalAE(Autoencoder):
    """Variational autoencoder.

    Args:
        beta: weight of the KL term (>= 0). Default 1, the plain ELBO.
        reconstruction: ``"bce"`` (Bernoulli log-likelihood summed over
            values), ``"sse"`` (squared error summed over values, a Gaussian
            likelihood up to constants) or ``"auto"`` (default): ``"bce"`` with
            a sigmoid output — the likelihood Kingma & Welling used for MNIST,
            matched to [0, 1] pixels and giving the KL its intended weight —
            and ``"sse"`` with a linear output (unbounded features).
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    History columns: ``reconstruction`` (the summed term), ``kl`` (unweighted,
    in nats per sample) and ``loss = reconstruction + beta * kl``.

    Raises:
        ValueError: ``beta < 0``, an unknown ``reconstruction``, or ``"bce"``
            with a linear output.
    """

    loss_terms = ("kl",)

    def __init__(self, *args: Any, beta: float = 1.0, reconstruction: str = "auto", **kwargs: Any) -> None:
        self.beta = check_non_negative("beta", beta)
        self.reconstruction = check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
        if reconstruction == "bce" and kwargs.get("output_activation", "sigmoid") != "sigmoid":
            raise ValueError(
                "reconstruction='bce' needs data in [0, 1] and output_activation='sigmoid'. "
                f"Received: output_activation={kwargs.get('output_activation')!r}"
            )
        super().__init__(*args, **kwargs)

    @property
    def reconstruction_kind(self) -> str:
        """``"bce"`` or ``"sse"``, with ``"auto"`` resolved."""
        if self.reconstruction != "auto":
            return self.reconstruction
        return "bce" if self.output_activation == "sigmoid" else "sse"

    def build_networks(self) -> None:
        encoder_layers, decoder_layers = mlp_layers(self)  # the last encoder layer is the mean head
        self.encoder, self.decoder = flat_io(self, encoder_layers, decoder_layers)
        trunk = self.encoder.get_layer("enc_code").input
        log_var = self.dense(self.latent_dim, None, name="enc_log_var")(trunk)
        # (mean, log-variance) shares every layer with self.encoder.
        self.gaussian_encoder = keras.Model(self.encoder.input, [self.encoder.output, log_var], name="gaussian_encoder")

    def call(self, x, training: bool = False) -> dict:
        mean, log_var = self.gaussian_encoder(x, training=training)
        if training:
            eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
            z = mean + ops.exp(0.5 * log_var) * eps
        else:
            z = mean
        return {"reconstruction": self.decoder(z, training=training), "z": z, "mean": mean, "log_var": log_var}

    def reconstruction_loss(self, target, outputs: dict):
        if self.reconstruction_kind == "bce":
            return losses.binary_crossentropy_sum(target, outputs["reconstruction"])
        return losses.sum_squared_error(target, outputs["reconstruction"])

    def extra_losses(self, x, outputs: dict, training: bool) -> list[LossTerm]:
        # kl is logged unweighted and enters the loss times beta.
        return [LossTerm("kl", losses.gaussian_kl(outputs["mean"], outputs["log_var"]), self.beta)]

    def sample(self, n: int, *, seed: int = 0) -> np.ndarray:
        """Decode ``n`` seeded draws from the prior N(0, I): shape (n, *input_shape)."""
        return self.decode(prior_codes(n, self.latent_dim, seed=seed))
