"""Registry of autoencoder families: ``name → builder``, and each family's metadata."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

_REGISTRY: dict[str, type] = {}
#: Class attributes every registered family sets (see :class:`FamilyInfo`).
METADATA = ("display_name", "short_name", "color", "marker", "relative_cost")


@dataclass(frozen=True)
class FamilyInfo:
    """What figures, tables and the study's scheduler know about a family.

    Attributes:
        key: the registry key ("conae").
        display_name: name in figures and tables ("Contractive AE").
        short_name: abbreviation for tables that would not fit the display name ("ConAE").
        color: figure colour, a hex string.
        marker: matplotlib marker of the family's points.
        relative_cost: seconds to a converged model relative to fcae.
    """

    key: str
    display_name: str
    short_name: str
    color: str
    marker: str
    relative_cost: float


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator that registers a family under ``name``.

    Raises:
        ValueError: ``name`` taken by another class, or a metadata attribute
            (:data:`METADATA`) left unset.
    """

    def decorator(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"A family named {name!r} is already registered ({_REGISTRY[name].__name__}).")
        missing = [attr for attr in METADATA if not getattr(cls, attr, None)]
        if missing:
            raise ValueError(
                f"Family {name!r} ({cls.__name__}) does not set {', '.join(missing)}: "
                f"give the class every one of {', '.join(METADATA)}."
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
    """Display name, abbreviation, colour, marker and relative cost of ``family``.

    Raises:
        ValueError: for an unknown family, listing the known ones.
    """
    cls = get_model_class(family)
    return FamilyInfo(family, *(getattr(cls, attr) for attr in METADATA))
