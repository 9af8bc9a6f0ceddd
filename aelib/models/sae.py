"""Sparse AE (Ng, CS294A lecture notes 2011).

The code layer uses a sigmoid, so each code unit's activation lies in (0, 1)
and its mean over a batch, ρ̂_j, can be read as a firing rate. The sparsity
penalty is ``beta · Σ_j KL(ρ ‖ ρ̂_j)`` (``losses.bernoulli_kl``); an L1
activity penalty ``l1 · mean_n Σ_j |h_nj|`` on the same units is an option.
Hidden layers follow the depth rule (ReLU by default, as in ``fcae``); with
``sparsity_on="all"`` and sigmoid hidden layers the KL term covers every
hidden layer as well as the code, as in Ng's one-hidden-layer notes.

Default weights. Ng uses ρ = 0.05 and β = 3 with a reconstruction term
``½ Σ_i (x̂_i − x_i)²`` per sample. ``aelib`` reconstructs with the mean over
the d values, ``(1/d) Σ_i (x̂_i − x_i)²``, which is 2/d times Ng's term; the
same balance is β ≈ 3 · 2 / 784 ≈ 0.008 on MNIST, so the default is
``beta=0.01``. Because the KL is a sum over units, its size grows with
``latent_dim``: at initialisation (ρ̂ ≈ 0.5) it is about 0.5 per unit.
"""
from __future__ import annotations

import math
import numbers

import keras
from keras import ops

from aelib import losses
from aelib.models.base import Autoencoder
from aelib.models.fcae import mlp_layers
from aelib.models.registry import register_model
from aelib.models.vanilla import flat_io

SPARSITY_TARGETS = ("code", "all")
HIDDEN_ACTIVATIONS = ("relu", "sigmoid")


def _check_weight(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Expected {name} >= 0 (a finite number). Received: {name}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="aelib")
@register_model("sae")
class SparseAE(Autoencoder):
    """MLP autoencoder with a sigmoid code and a KL sparsity penalty.

    Args:
        rho: target mean activation ρ of each penalised unit, in (0, 1).
        beta: weight β of the KL sparsity penalty, >= 0 (0 turns it off).
        l1: weight of the L1 activity penalty on the penalised units, >= 0
            (0, the default, turns it off; the ``l1`` column then logs 0).
        sparsity_on: ``"code"`` penalises the code layer only; ``"all"`` also
            every hidden layer, which needs ``hidden_activation="sigmoid"``.
        hidden_activation: ``"relu"`` (default) or ``"sigmoid"`` for the
            hidden layers of encoder and decoder.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.
    """

    loss_terms = ("sparsity", "l1")

    def __init__(
        self,
        input_shape=(28, 28, 1),
        latent_dim: int = 2,
        *,
        rho: float = 0.05,
        beta: float = 0.01,
        l1: float = 0.0,
        sparsity_on: str = "code",
        hidden_activation: str = "relu",
        **kwargs,
    ) -> None:
        if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not (0.0 < rho < 1.0):
            raise ValueError(f"Expected 0 < rho < 1. Received: rho={rho!r}")
        if sparsity_on not in SPARSITY_TARGETS:
            raise ValueError(f"Expected sparsity_on in {SPARSITY_TARGETS}. Received: sparsity_on={sparsity_on!r}")
        if hidden_activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"Expected hidden_activation in {HIDDEN_ACTIVATIONS}. Received: hidden_activation={hidden_activation!r}"
            )
        if sparsity_on == "all" and hidden_activation != "sigmoid":
            raise ValueError(
                "sparsity_on='all' needs activations in (0, 1): expected hidden_activation='sigmoid'. "
                f"Received: hidden_activation={hidden_activation!r}"
            )
        self.rho = float(rho)
        self.beta = _check_weight("beta", beta)
        self.l1 = _check_weight("l1", l1)
        self.sparsity_on = sparsity_on
        self.hidden_activation = hidden_activation
        super().__init__(input_shape, latent_dim, **kwargs)

    def build_networks(self) -> None:
        enc_layers, dec_layers = mlp_layers(self, hidden_activation=self.hidden_activation, code_activation="sigmoid")
        self.encoder, self.decoder = flat_io(self, enc_layers, dec_layers)
        # Same layers, also exposing the hidden activations, so call() needs one pass.
        penalised = enc_layers if self.sparsity_on == "all" else enc_layers[-1:]
        self.penalised_model = keras.Model(
            self.encoder.inputs, [layer.output for layer in penalised], name="penalised_activations"
        )

    def call(self, x, training: bool = False) -> dict:
        activations = self.penalised_model(x, training=training)
        if not isinstance(activations, (list, tuple)):
            activations = [activations]
        z = activations[-1]
        return {"reconstruction": self.decoder(z, training=training), "z": z, "activations": list(activations)}

    def extra_losses(self, x, outputs: dict, training: bool) -> dict:
        sparsity = 0.0
        l1 = 0.0
        for h in outputs["activations"]:
            sparsity = sparsity + losses.bernoulli_kl(self.rho, ops.mean(h, axis=0))
            if self.l1 > 0:
                l1 = l1 + ops.mean(ops.sum(ops.abs(h), axis=-1))
        return {"sparsity": self.beta * sparsity, "l1": self.l1 * ops.convert_to_tensor(l1, dtype="float32")}

    def options(self) -> dict:
        return {
            "rho": self.rho,
            "beta": self.beta,
            "l1": self.l1,
            "sparsity_on": self.sparsity_on,
            "hidden_activation": self.hidden_activation,
        }
