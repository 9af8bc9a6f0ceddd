"""Adversarial AE (Makhzani, Shlens, Jaitly, Goodfellow, Frey, "Adversarial
Autoencoders", arXiv 2015 / ICLR 2016 workshop): a deterministic autoencoder
whose code distribution q(z) is pushed towards a prior p(z) by a discriminator.

Each training batch has the paper's two phases:

1. reconstruction — encoder and decoder minimise the reconstruction error;
2. regularisation — (a) the discriminator learns to tell prior draws (real)
   from codes of the batch (fake), binary cross-entropy; (b) the encoder, as
   the generator, is updated to make the discriminator call its codes real
   (the non-saturating loss −log D(E(x))).

Each phase has its own Adam optimiser. Adam's steps do not depend on the scale
of a loss, so a weight on the generator loss would change nothing; how hard
the prior is enforced is set instead by the generator's learning rate,
``generator_lr_scale`` times the autoencoder's. Measured at z = 10, 5 epochs
on 3,600 MNIST images, batch 32 (test RMSE; fcae alone 0.165):
scale 1 → 0.239 (codes std 1.23), 0.3 → 0.173 (codes std 0.99, discriminator
loss 1.37 ≈ 2 ln 2, i.e. q(z) hard to tell from the prior), 0.1 → 0.162
(codes std 1.73, the discriminator wins), 0 → 0.163 (std 6.2). Hence the
default 0.3.

Encoder and decoder are the ``fcae`` networks (depth rule, docs/methods.md §2,
``widths`` option). With two extra optimisers this is the one family with its
own ``train_step`` and ``test_step`` (the Keras GAN guide's pattern).

Departures from the source: the depth-rule ReLU MLPs instead of two layers of
1,000 units, a 256-unit discriminator instead of 1,000, Adam with the
generator's learning rate scaled (above) instead of SGD with momentum, and a
deterministic encoder only (the paper's Gaussian-posterior and universal
approximator variants are not built).
"""
from __future__ import annotations

import numbers
from types import SimpleNamespace
from typing import Any

import keras
import numpy as np
from keras import ops

from aelib.checks import check_choice, check_int, check_non_negative
from aelib.models.base import Autoencoder
from aelib.models.blocks import flat_io, mlp_layers, prior_codes
from aelib.models.registry import register_model

PRIORS = ("normal", "uniform")
DISCRIMINATOR_LAYERS = 2
#: Adam β₁ of the adversarial optimisers, the usual GAN choice (Radford et al. 2016).
ADVERSARIAL_BETA_1 = 0.5


def _bce_with_logits(target_value: float, logits):
    return ops.mean(ops.binary_crossentropy(ops.full_like(logits, target_value), logits, from_logits=True))


@keras.saving.register_keras_serializable(package="aelib")
@register_model("aae")
class AdversarialAE(Autoencoder):
    """Adversarial autoencoder with a Gaussian (or uniform) prior on the code.

    Args:
        prior: ``"normal"`` (default, N(0, I)) or ``"uniform"`` (U(−1, 1) per coordinate).
        generator_lr_scale: learning rate of the encoder's generator update
            relative to the autoencoder's (>= 0; 0 turns the regularisation
            off). Default 0.3, see the module docstring.
        discriminator_units: width of each of the discriminator's two ReLU
            hidden layers. Default 256 (the paper used 1000 for MNIST; 256
            is ample for codes of at most a few hundred values and is faster).
        **kwargs: see :class:`~aelib.models.base.Autoencoder`.

    History columns: ``reconstruction`` (MSE), ``discriminator`` (BCE on prior
    draws plus BCE on codes), ``generator`` (−log D(E(x)) averaged), and
    ``loss``, equal to ``reconstruction``; validation computes all of them
    without any update. ``loss`` leaves the adversarial terms out on purpose:
    they measure a two-player game, not progress — the generator term is
    lowest in the first epoch, before the discriminator has learnt anything,
    so an early-stopping loss of reconstruction + generator restored
    first-epoch weights (5 epochs of MNIST, z = 10: test RMSE 0.265, worse
    than the mean image's 0.256).

    Raises:
        ValueError: unknown ``prior``, ``generator_lr_scale < 0`` or
            ``discriminator_units < 1``.
    """

    loss_terms = ("discriminator", "generator")

    def __init__(self, *args: Any, prior: str = "normal", generator_lr_scale: float = 0.3,
                 discriminator_units: int = 256, **kwargs: Any) -> None:
        self.prior = check_choice("prior", prior, PRIORS)
        self.generator_lr_scale = check_non_negative("generator_lr_scale", generator_lr_scale)
        self.discriminator_units = check_int("discriminator_units", discriminator_units)
        super().__init__(*args, **kwargs)
        self.total_tracker = keras.metrics.Mean(name="loss")

    def build_networks(self) -> None:
        self.encoder, self.decoder = flat_io(self, *mlp_layers(self))
        z_in = keras.Input((self.latent_dim,), name="z")
        h = z_in
        for i in range(DISCRIMINATOR_LAYERS):
            h = self.dense(self.discriminator_units, "relu", name=f"disc_dense_{i}")(h)
        logits = self.dense(1, None, name="disc_logit")(h)
        self.discriminator = keras.Model(z_in, logits, name="discriminator")

    def auxiliary_networks(self) -> tuple:
        """The discriminator: trained with the model, never on the path x → z → x̂."""
        return (self.discriminator,)

    # ----- training -----------------------------------------------------------
    def compile(self, optimizer="adam", *, discriminator_optimizer=None, generator_optimizer=None,
                **kwargs: Any) -> None:
        """Compile with the autoencoder optimiser plus one for the discriminator
        and one for the encoder's generator update. Those not given are copies
        of ``optimizer``; the generator's copy has its (numeric) learning rate
        scaled by ``generator_lr_scale``."""
        super().compile(optimizer=optimizer, **kwargs)

        def copy(name: str, scale: float = 1.0):
            config = dict(self.optimizer.get_config(), name=name)
            if isinstance(config.get("learning_rate"), numbers.Real):
                config["learning_rate"] = config["learning_rate"] * scale
            return self.optimizer.__class__.from_config(config)

        # A plain namespace, not an attribute Keras walks when saving: .keras
        # files keep the weights (and the main optimiser, as every family) but
        # not these two states, which load_model(compile=False) never reads.
        self._adversarial = SimpleNamespace(
            discriminator=discriminator_optimizer or copy("discriminator_optimizer"),
            generator=generator_optimizer or copy("generator_optimizer", self.generator_lr_scale),
        )
        # Built here, outside tf.function, so no variable is created while tracing.
        self._adversarial.discriminator.build(self.discriminator.trainable_variables)
        self._adversarial.generator.build(self.encoder.trainable_variables)

    def training_optimizers(self) -> list:
        """Every optimiser a training step uses (the learning-rate schedule scales them all)."""
        adversarial = getattr(self, "_adversarial", None)
        return [self.optimizer, *((adversarial.discriminator, adversarial.generator) if adversarial else ())]

    def compile_for_training(self, config) -> None:
        """Called by :func:`aelib.training.train`: Adam at ``config.learning_rate``
        for reconstruction and discriminator, times ``generator_lr_scale`` for
        the generator; β₁ = 0.5 in the adversarial phases."""
        lr = config.learning_rate
        self.compile(
            optimizer=keras.optimizers.Adam(lr, name="autoencoder_optimizer"),
            discriminator_optimizer=keras.optimizers.Adam(
                lr, beta_1=ADVERSARIAL_BETA_1, name="discriminator_optimizer"
            ),
            generator_optimizer=keras.optimizers.Adam(
                lr * self.generator_lr_scale, beta_1=ADVERSARIAL_BETA_1, name="generator_optimizer"
            ),
            steps_per_execution=config.steps_per_execution,
        )

    @property
    def metrics(self) -> list:
        return [self.total_tracker, *self.trackers.values()]

    def _prior_draws(self, n):
        shape = (n, self.latent_dim)
        if self.prior == "uniform":
            return keras.random.uniform(shape, minval=-1.0, maxval=1.0, seed=self.seed_generator)
        return keras.random.normal(shape, seed=self.seed_generator)

    def _discriminator_loss(self, z_real, z_fake, training: bool):
        return (_bce_with_logits(1.0, self.discriminator(z_real, training=training))
                + _bce_with_logits(0.0, self.discriminator(z_fake, training=training)))

    def _generator_loss(self, z_fake, training: bool):
        return _bce_with_logits(1.0, self.discriminator(z_fake, training=training))

    def _log(self, reconstruction, discriminator, generator) -> dict:
        self.trackers["reconstruction"].update_state(reconstruction)
        self.trackers["discriminator"].update_state(discriminator)
        self.trackers["generator"].update_state(generator)
        self.total_tracker.update_state(reconstruction)  # see the class docstring
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data) -> dict:
        import tensorflow as tf  # the only TensorFlow-specific code of the package's models: three tapes

        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        target = x if y is None else y
        encoder_vars = self.encoder.trainable_variables
        autoencoder_vars = encoder_vars + self.decoder.trainable_variables
        discriminator_vars = self.discriminator.trainable_variables

        # Phase 1: reconstruction.
        with tf.GradientTape() as tape:
            x_hat = self.decoder(self.encoder(x, training=True), training=True)
            reconstruction = self.reconstruction_loss(target, {"reconstruction": x_hat})
        self.optimizer.apply_gradients(zip(tape.gradient(reconstruction, autoencoder_vars), autoencoder_vars))

        # Phase 2a: discriminator, prior draws real, codes fake.
        z_fake = ops.stop_gradient(self.encoder(x, training=True))
        z_real = self._prior_draws(ops.shape(x)[0])
        with tf.GradientTape() as tape:
            discriminator = self._discriminator_loss(z_real, z_fake, training=True)
        self._adversarial.discriminator.apply_gradients(
            zip(tape.gradient(discriminator, discriminator_vars), discriminator_vars)
        )

        # Phase 2b: the encoder tries to make its codes pass for prior draws.
        with tf.GradientTape() as tape:
            generator = self._generator_loss(self.encoder(x, training=True), training=True)
        self._adversarial.generator.apply_gradients(zip(tape.gradient(generator, encoder_vars), encoder_vars))
        return self._log(reconstruction, discriminator, generator)

    def test_step(self, data) -> dict:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        target = x if y is None else y
        z = self.encoder(x, training=False)
        reconstruction = self.reconstruction_loss(target, {"reconstruction": self.decoder(z, training=False)})
        discriminator = self._discriminator_loss(self._prior_draws(ops.shape(x)[0]), z, training=False)
        generator = self._generator_loss(z, training=False)
        return self._log(reconstruction, discriminator, generator)

    def sample(self, n: int, *, seed: int = 0) -> np.ndarray:
        """Decode ``n`` seeded draws from the prior: shape (n, *input_shape)."""
        return self.decode(prior_codes(n, self.latent_dim, seed=seed, prior=self.prior))
