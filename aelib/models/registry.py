"""Registry of autoencoder families: ``name → class``, and each family's metadata from :mod:`aelib.families`."""
from __future__ import annotations

from collections.abc import Callable

from aelib.families import FAMILIES, FamilyInfo

_REGISTRY: dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator that registers a family under ``name``.

    Raises:
        ValueError: ``name`` taken by another class, or without an entry (display name, colour, marker,
            cost) in :data:`aelib.families.FAMILIES`.
    """

    def decorator(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"A family named {name!r} is already registered ({_REGISTRY[name].__name__}).")
        if name not in FAMILIES:
            raise ValueError(
                f"Family {name!r} ({cls.__name__}) has no entry in aelib.families.FAMILIES: add its display name, "
                f"short name, colour, marker and relative cost there. Known families: {', '.join(FAMILIES)}."
            )
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


def family_info(family: str) -> FamilyInfo:
    """Display name, abbreviation, colour, marker and relative cost of the registered ``family``.

    Raises:
        ValueError: for an unknown family, listing the known ones.
    """
    get_model_class(family)
    return FAMILIES[family]
