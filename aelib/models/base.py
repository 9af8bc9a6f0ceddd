"""The common interface of every autoencoder family.

A family subclasses :class:`Autoencoder`, builds ``self.encoder`` (x → z) and
``self.decoder`` (z → x̂) as functional Keras models in ``build_networks``,
and adds its own loss terms in ``extra_losses`` as :class:`LossTerm` s (name,
value, weight): each value is logged under its name and enters the loss times
its weight. Keras' own ``train_step`` and ``test_step`` call ``compute_loss``,
so validation loss includes every term; each term has its own
``keras.metrics.Mean`` and so its own column in ``history``.

Options are the keyword-only arguments of a family's ``__init__``, with their
defaults there, validated there (the checks of :mod:`aelib.checks`) and kept
as attributes of the same name (or the one ``option_attributes`` names):
:meth:`Autoencoder.option_defaults` and :meth:`Autoencoder.options` read
them, and so do ``model_options`` and ``get_config``.

Family metadata (display name, abbreviation, figure colour and marker,
relative training cost) are plain data in :mod:`aelib.families`, read through
:func:`aelib.models.registry.family_info`.

Families that build fully connected stacks by the depth rule (docs/methods.md §2)
get their widths from :meth:`Autoencoder.depth_rule_widths`, which applies the
``widths`` option (``"auto"``, ``"seed"``, ``"interpolate"``; see
:mod:`aelib.architectures`) and records what it built, so
``widths_rule_used`` and ``effective_bottleneck()`` can report it.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, NamedTuple

import keras
import numpy as np

from aelib import losses
from aelib.architectures import DEFAULT_DEPTH, WIDTH_RULES, widths_for, widths_rule_used
from aelib.checks import check_int
from aelib.models.inference import forward


class LossTerm(NamedTuple):
    """A family's extra loss term: logged as ``value`` under ``name``, added to the loss as ``weight * value``."""

    name: str
    value: Any
    weight: float = 1.0


@keras.saving.register_keras_serializable(package="aelib")
class Autoencoder(keras.Model):
    """Base class: ``encode``, ``decode``, ``reconstruct``, ``.keras`` round trip.

    Args:
        input_shape: shape of one sample, e.g. ``(28, 28, 1)`` or ``(2048,)``.
        latent_dim: size of the code ``z``.
        depth: hidden layers of fully connected parts (docs/methods.md §2 depth rule).
        widths: how those layers' widths are chosen: ``"auto"`` (default; the
            seed presets unless their narrowest layer is narrower than
            ``latent_dim``, then ``"interpolate"``), ``"seed"`` (the presets
            and depth rule as the seed study used them) or ``"interpolate"``
            (linear from the input size down to ``latent_dim``). Families
            without depth-rule layers ignore it (``widths_rule_used == "n/a"``).
        seed: seed of every initialiser and random draw inside the model.
        output_activation: ``"sigmoid"`` for data in [0, 1], ``"linear"`` for
            unbounded features.
    """

    family: str = "base"
    #: Names of the loss terms besides ``reconstruction`` this family logs.
    loss_terms: tuple[str, ...] = ()
    #: Largest code size a family allows relative to the input size.
    max_latent_ratio: float = 1.0
    #: Option name → attribute holding its value, where the two differ.
    option_attributes: dict[str, str] = {}

    def __init__(
        self,
        input_shape: tuple[int, ...] = (28, 28, 1),
        latent_dim: int = 2,
        *,
        depth: int = DEFAULT_DEPTH,
        widths: str = "auto",
        seed: int = 0,
        output_activation: str = "sigmoid",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or self.family, **kwargs)
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        try:
            shape = tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            raise ValueError("Expected input_shape as a tuple of positive ints. "
                             f"Received: input_shape={input_shape!r}") from None
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"Expected input_shape as a tuple of positive ints. Received: input_shape={input_shape!r}")
        self.sample_shape = shape
        self.input_dim = int(math.prod(shape))
        self.latent_dim = check_int("latent_dim", latent_dim)
        max_latent = int(self.input_dim * self.max_latent_ratio)
        if self.latent_dim > max_latent:
            raise ValueError(
                f"latent_dim={self.latent_dim} does not fit family {self.family!r} with input_shape={shape} "
                f"({self.input_dim} values): expected latent_dim <= {max_latent}."
            )
        self.depth = check_int("depth", depth, 0)
        if widths not in WIDTH_RULES:
            raise ValueError(f"Expected widths in {WIDTH_RULES}. Received: widths={widths!r}")
        self.widths = widths
        # Filled by depth_rule_widths() while build_networks runs.
        self._widths_rule_used = "n/a"
        self._depth_rule_widths: tuple[int, ...] = ()
        self.seed = int(seed)
        if output_activation not in ("sigmoid", "linear"):
            raise ValueError(
                "Expected output_activation in ('sigmoid', 'linear'). "
                f"Received: output_activation={output_activation!r}"
            )
        self.output_activation = output_activation
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self._init_seed = self.seed
        self.trackers = {
            term: keras.metrics.Mean(name=term) for term in ("reconstruction", *self.loss_terms)
        }
        self.build_networks()
        self.built = True

    # ----- to override -------------------------------------------------
    def build_networks(self) -> None:
        """Create ``self.encoder`` and ``self.decoder`` (functional models)."""
        raise NotImplementedError

    def extra_losses(self, x, outputs: dict, training: bool) -> list[LossTerm]:
        """Family-specific loss terms, one per name in ``loss_terms``."""
        return []

    def reconstruction_loss(self, target, outputs: dict):
        """Mean squared error over every value of every sample of ``outputs["reconstruction"]``."""
        return losses.mse(target, outputs["reconstruction"])

    def effective_bottleneck(self) -> int:
        """Narrowest width on the path input → z → output.

        Here the code and any depth-rule hidden layers; families with other
        layers on the path (cae, rae, mae, conae) override it.
        """
        return int(min((self.latent_dim, *self._depth_rule_widths)))

    def auxiliary_networks(self) -> tuple:
        """Networks a family trains beside the autoencoder that ``encode``/``decode`` never use (the
        adversarial family's discriminator); their weights are not the autoencoder's capacity."""
        return ()

    def autoencoder_params(self) -> int:
        """Parameters of the autoencoder itself: every weight of the model (encoder, decoder and code heads
        such as the variational family's mean and log-variance) less those of :meth:`auxiliary_networks`.
        The count the study compares capacity by (docs/methods.md §1, "Objective or architecture")."""
        return int(self.count_params() - sum(net.count_params() for net in self.auxiliary_networks()))

    @property
    def widths_rule_used(self) -> str:
        """``"seed"`` or ``"interpolate"`` for families with depth-rule layers, else ``"n/a"``."""
        return self._widths_rule_used

    # ----- helpers for subclasses --------------------------------------
    def depth_rule_widths(self) -> tuple[int, ...]:
        """Hidden widths of a fully connected stack by the depth rule and the
        ``widths`` option (widest first); records the rule used."""
        self._widths_rule_used = widths_rule_used(self.input_dim, self.depth, latent_dim=self.latent_dim,
                                                  rule=self.widths)
        self._depth_rule_widths = widths_for(self.input_dim, self.depth, latent_dim=self.latent_dim, rule=self.widths)
        return self._depth_rule_widths

    def next_initializer_seed(self) -> int:
        self._init_seed += 1
        return self._init_seed

    def dense(self, units: int, activation: str | None = None, name: str | None = None) -> keras.layers.Dense:
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.next_initializer_seed()),
            name=name,
        )

    # ----- forward pass and losses --------------------------------------
    def call(self, x, training: bool = False) -> dict:
        z = self.encoder(x, training=training)
        return {"reconstruction": self.decoder(z, training=training), "z": z}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = x if y is None else y
        reconstruction = self.reconstruction_loss(target, y_pred)
        self.trackers["reconstruction"].update_state(reconstruction)
        total = 0.0 + reconstruction
        for term in self.extra_losses(x, y_pred, training):
            self.trackers[term.name].update_state(term.value)
            total = total + term.weight * term.value
        for loss in self.losses:  # activity regularisers, if a family uses them
            total = total + loss
        return total

    # ----- numpy interface -----------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x, dtype="float32")
        if x.shape[1:] != self.sample_shape:
            if x.ndim >= 2 and int(np.prod(x.shape[1:])) == self.input_dim:
                x = x.reshape((x.shape[0], *self.sample_shape))
            else:
                raise ValueError(
                    f"Expected inputs of shape (n, {', '.join(map(str, self.sample_shape))}) for {self.family!r}. "
                    f"Received: shape={x.shape}"
                )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"Inputs contain NaN or infinite values ({int((~np.isfinite(x)).sum())} of {x.size}).")
        return x

    def encode(self, x, *, batch_size: int = 512) -> np.ndarray:
        """Codes of ``x``: an array of shape (n, latent_dim)."""
        x = self._check_input(x)
        return np.asarray(forward(self.encoder, x, batch_size=batch_size), dtype="float32")

    def decode(self, z, *, batch_size: int = 512) -> np.ndarray:
        """Decoded samples of shape (n, *input_shape)."""
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"Expected codes of shape (n, {self.latent_dim}). Received: shape={z.shape}")
        if not np.all(np.isfinite(z)):
            raise ValueError("Codes contain NaN or infinite values.")
        return np.asarray(forward(self.decoder, z, batch_size=batch_size), dtype="float32")

    def reconstruct(self, x, *, batch_size: int = 512) -> np.ndarray:
        """``decode(encode(x))`` on clean inputs, without any training-time noise."""
        return self.decode(self.encode(x, batch_size=batch_size), batch_size=batch_size)

    # ----- serialisation ---------------------------------------------------
    def get_config(self) -> dict:
        return {
            "input_shape": list(self.sample_shape),
            "latent_dim": self.latent_dim,
            "depth": self.depth,
            "widths": self.widths,
            "seed": self.seed,
            "output_activation": self.output_activation,
            "name": self.name,
            **self.options(),
        }

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """Every keyword option with its default: the base class's, then the family's."""
        options: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None or not issubclass(klass, Autoencoder):
                continue
            for name, param in inspect.signature(init).parameters.items():
                if name in ("self", "input_shape", "latent_dim", "name") or param.kind in (param.VAR_KEYWORD,
                                                                                           param.VAR_POSITIONAL):
                    continue
                options[name] = param.default
        return options

    def options(self) -> dict:
        """The family's own options (not the base class's), as passed to ``__init__``; tuples as lists."""
        base = Autoencoder.option_defaults()
        values = {}
        for name in self.option_defaults():
            if name not in base:
                value = getattr(self, self.option_attributes.get(name, name))
                values[name] = list(value) if isinstance(value, tuple) else value
        return values

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config.pop("trainable", None)
        config.pop("dtype", None)
        # Files saved before the widths option existed were built with the seed widths.
        config.setdefault("widths", "seed")
        return cls(**config)

