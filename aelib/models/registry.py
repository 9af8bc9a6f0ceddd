"""Registry of autoencoder families: ``name → builder``."""
from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator that registers a family under ``name``."""

    def decorator(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"A family named {name!r} is already registered ({_REGISTRY[name].__name__}).")
        cls.family = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def list_models() -> list[str]:
    """Keys of every registered family, in registration order."""
    return list(_REGISTRY)


def get_model_class(family: str) -> type:
    """The class registered under ``family``.

    Raises:
        ValueError: for an unknown family, listing the known ones.
    """
    try:
        return _REGISTRY[family]
    except (KeyError, TypeError):
        raise ValueError(
            f"Could not interpret family identifier: {family!r}. Known families: {', '.join(list_models())}."
        ) from None
