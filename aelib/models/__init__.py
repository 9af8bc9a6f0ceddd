"""Autoencoder families, registered by key.

>>> from aelib.models import build_model, list_models
>>> model = build_model("fcae", input_shape=(28, 28, 1), latent_dim=40)
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from aelib._quiet import import_tensorflow

import_tensorflow()  # before Keras loads it: no C++ start-up lines on the screen

import keras  # noqa: E402

from aelib.families import FAMILIES, FamilyInfo  # noqa: E402
from aelib.models.base import Autoencoder, LossTerm  # noqa: E402
from aelib.models.registry import family_info, get_model_class, list_models, register_model  # noqa: E402

# Importing a family module (named as its key) registers it; the order of aelib.families is that of list_models().
FAMILY_MODULES = tuple(FAMILIES)
for _name in FAMILY_MODULES:
    importlib.import_module(f"aelib.models.{_name}")


def build_model(family: str, *, input_shape=(28, 28, 1), latent_dim: int, **options: Any) -> Autoencoder:
    """Build an untrained autoencoder of ``family``.

    Raises:
        ValueError: unknown family (listing the known ones), ``latent_dim < 1``,
            a latent size that does not fit the input, or a bad option.
    """
    cls = get_model_class(family)
    allowed = model_options(family)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Bad option for family {family!r}: {', '.join(unknown)}. Options it takes: {', '.join(sorted(allowed))}."
        )
    return cls(input_shape=input_shape, latent_dim=latent_dim, **options)


def model_options(family: str) -> dict[str, Any]:
    """Every keyword option of ``family`` with its default value (:meth:`Autoencoder.option_defaults`).

    Raises:
        ValueError: for an unknown family, listing the known ones.
    """
    return get_model_class(family).option_defaults()


def load_model(path: str | Path) -> Autoencoder:
    """Load a ``.keras`` file written by ``model.save``; a clear error if it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved model at {path}. Train the run again (the study redoes incomplete runs).")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:  # corrupt zip, wrong file, incompatible config
        raise ValueError(f"Could not load the model saved at {path}: {err}. "
                         "Delete the file and rerun the study.") from err


__all__ = ["Autoencoder", "FamilyInfo", "LossTerm", "build_model", "family_info", "get_model_class", "list_models",
           "load_model", "model_options", "register_model"]
