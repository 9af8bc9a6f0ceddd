"""Sparse AE (Ng, "Sparse autoencoder", CS294A lecture notes, Stanford 2011).

As in Ng's notes, the KL sparsity penalty sits on a **wide sigmoid hidden
layer**: by default the first (widest) encoder hidden layer uses a sigmoid,
so each unit's activation lies in (0, 1) and its mean over a batch, ρ̂_j, is
a firing rate, and the penalty is ``beta · Σ_j KL(ρ ‖ ρ̂_j)`` over that
layer's units (``losses.bernoulli_kl``). The other hidden layers stay ReLU
and the code is linear, as in ``fcae``, so z itself is not squeezed: a
penalty on a 2-unit sigmoid code asks both units to be nearly always off,
which strangles the code rather than making a wide representation sparse.
``sparsity_on="code"`` (the code is then a sigmoid and penalised) and
``"all"`` (every encoder hidden layer and the code, all sigmoid) remain as
options. An L1 activity penalty ``l1 · mean_n Σ_j |h_nj|`` on the same units
is an option too.

Default weights. Ng's notes use ρ = 0.05 and his exercises β = 3 (ρ = 0.1
for MNIST), with a reconstruction term ``½ Σ_i (x̂_i − x_i)²`` per sample summed over the d
values, and a KL summed over the hidden units. ``aelib`` reconstructs with the
mean over the d values, ``(1/d) Σ_i (x̂_i − x_i)²`` = (2/d) × Ng's term, and
keeps the KL as a sum over units, so the same per-unit balance is
β = 3 · 2/d ≈ 0.0077 on MNIST (d = 784). Checked against the MSE: at depth 3
the penalised layer has 588 units. At initialisation (ρ̂ ≈ 0.5) the KL is
about 0.5 nats per unit, ≈ 290 in all, i.e. 2–3 at β ≈ 0.01 against an MSE
near 0.07: the penalty dominates at first and drives the firing rates down,
as intended. Once the rates are near ρ it is small: with every ρ̂_j at 0.07
(ρ = 0.05) it is 588 · 0.0034 · 0.01 ≈ 0.02, the size of a trained MSE, and
it is 0 at ρ̂_j = ρ. So β = 0.01 (Ng's balance, rounded) holds the rates
within about ±0.02 of ρ without outweighing reconstruction. Measured (z = 10,
depth 3, 15 epochs on 3,000 MNIST images, batch 64; a short check, not a
tuning): test RMSE 0.162 at β = 0 (rates 0.23), 0.194 / 0.198 / 0.204 at
β = 0.001 / 0.003 / 0.01, every β > 0 holding the mean rate at 0.051 with the
weighted KL 1–4 % of the loss at the end: active, not dominating. In such a
short run the rates reach ρ by keeping every unit's activation low (none
above 0.5) rather than by a few units firing strongly. The KL sum grows with
the width of the penalised layer (and with ``latent_dim`` under
``sparsity_on="code"``), so β should follow the architecture; the study's
tuning stage picks it from a grid.

Departures from the notes: a deep MLP (the depth rule, ``widths`` option)
around the one sparse layer instead of a single hidden layer, no weight
decay term, a linear code, Adam with mini-batches, and ρ̂ estimated on each
batch rather than on the whole training set.
"""
from __future__ import annotations

from typing import Any

import keras
from keras import ops

from aelib import losses
from aelib.checks import check_choice, check_float, check_non_negative
from aelib.models.base import Autoencoder, LossTerm
from aelib.models.blocks import flat_io, mlp_layers
from aelib.models.registry import register_model

SPARSITY_TARGETS = ("hidden", "code", "all")
HIDDEN_ACTIVATIONS = ("relu", "sigmoid")


@keras.saving.register_keras_serializable(package="aelib")
@register_model("sae")
class SparseAE(Autoencoder):
    """MLP autoencoder with a KL sparsity penalty on a wide sigmoid layer.

    Args:
        rho: target mean activation ρ of each penalised unit, in (0, 1).
        beta: weight β of the KL sparsity penalty, >= 0 (0 turns it off).
            Default 0.01 (module docstring).
        l1: weight of the L1 activity penalty on the penalised units, >= 0
            (0, the default, turns it off; the ``l1`` column then logs 0).
        sparsity_on: ``"hidden"`` (default) penalises the first (widest)
            encoder hidden layer, which is a sigmoid, and needs ``depth >= 1``;
            ``"code"`` makes the code a sigmoid and penalises it; ``"all"``
            penalises every encoder hidden layer and the sigmoid code, which
            needs ``hidden_activation="sigmoid"``.
        hidden_activation: ``"relu"`` (default) or ``"sigmoid"`` for the
            other hidden layers of encoder and decoder.
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    Raises:
        ValueError: ``rho`` outside (0, 1), a negative weight, an unknown
            option value, ``"all"`` without sigmoid hidden layers, or
            ``"hidden"`` with ``depth=0``.
    """

    loss_terms = ("sparsity", "l1")

    def __init__(
        self,
        *args: Any,
        rho: float = 0.05,
        beta: float = 0.01,
        l1: float = 0.0,
        sparsity_on: str = "hidden",
        hidden_activation: str = "relu",
        **kwargs: Any,
    ) -> None:
        self.rho = check_float("rho", rho, above=0, below=1)
        self.beta = check_non_negative("beta", beta)
        self.l1 = check_non_negative("l1", l1)
        self.sparsity_on = check_choice("sparsity_on", sparsity_on, SPARSITY_TARGETS)
        self.hidden_activation = check_choice("hidden_activation", hidden_activation, HIDDEN_ACTIVATIONS)
        if sparsity_on == "all" and hidden_activation != "sigmoid":
            raise ValueError(
                "sparsity_on='all' needs activations in (0, 1): expected hidden_activation='sigmoid'. "
                f"Received: hidden_activation={hidden_activation!r}"
            )
        super().__init__(*args, **kwargs)

    def build_networks(self) -> None:
        hidden = self.sparsity_on == "hidden"
        if hidden and self.depth == 0:
            raise ValueError(
                "sparsity_on='hidden' penalises the first hidden layer: expected depth >= 1 "
                "(or sparsity_on='code'). Received: depth=0"
            )
        enc_layers, dec_layers = mlp_layers(
            self,
            hidden_activation=self.hidden_activation,
            code_activation=None if hidden else "sigmoid",
            first_hidden_activation="sigmoid" if hidden else None,
        )
        self.encoder, self.decoder = flat_io(self, enc_layers, dec_layers)
        penalised = {"hidden": enc_layers[:1], "code": enc_layers[-1:], "all": enc_layers}[self.sparsity_on]
        self.penalised_layers = tuple(layer.name for layer in penalised)
        # Same layers, exposing the penalised activations and the code, so call() needs one pass.
        self.penalised_model = keras.Model(
            self.encoder.inputs, [*(layer.output for layer in penalised), self.encoder.output],
            name="penalised_activations",
        )

    def call(self, x, training: bool = False) -> dict:
        *activations, z = self.penalised_model(x, training=training)
        return {"reconstruction": self.decoder(z, training=training), "z": z, "activations": activations}

    def extra_losses(self, x, outputs: dict, training: bool) -> list[LossTerm]:
        sparsity = 0.0
        l1 = 0.0
        for h in outputs["activations"]:
            sparsity = sparsity + losses.bernoulli_kl(self.rho, ops.mean(h, axis=0))
            if self.l1 > 0:
                l1 = l1 + ops.mean(ops.sum(ops.abs(h), axis=-1))
        # History logs the weighted penalties, as the study's tables always have.
        return [LossTerm("sparsity", self.beta * sparsity),
                LossTerm("l1", self.l1 * ops.convert_to_tensor(l1, dtype="float32"))]
