"""Each autoencoder family's metadata as plain data: display name, abbreviation, colour, marker and relative cost.

The one table of what figures, tables and the study's scheduler know about a family, kept apart from the
models so that drawing a figure or writing a table does not import TensorFlow. The registry
(:mod:`aelib.models.registry`) registers exactly these keys, in this order (the order of ``list_models()``),
and :func:`aelib.models.family_info` returns these entries.

>>> from aelib.families import FAMILIES, display_name
>>> FAMILIES["conae"].marker, display_name("conae (baseline)")
('>', 'Contractive AE (baseline)')
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyInfo:
    """What figures, tables and the study's scheduler know about a family.

    Attributes:
        key: the registry key ("conae").
        display_name: name in figures and tables ("Contractive AE").
        short_name: abbreviation for tables that would not fit the display name ("ConAE").
        color: figure colour, a hex string.
        marker: matplotlib marker of the family's points.
        relative_cost: seconds to a converged model relative to fcae (the quick profile's latent sweep,
            depth 1, batch 64, two runs at a time on two CPU cores; rounded); 0 for the untrained PCA baseline.
    """

    key: str
    display_name: str
    short_name: str
    color: str
    marker: str
    relative_cost: float


# The study's order of the families. Colours: the ten of seaborn's "colorblind" palette (Okabe–Ito-like), then a
# dark teal for the masked MLP (the masked-input objective on fcae's backbone, beside mae's light blue).
FAMILIES: dict[str, FamilyInfo] = {info.key: info for info in (
    FamilyInfo("vanilla", "Vanilla AE", "Vanilla", "#0173b2", "o", 0.7),
    FamilyInfo("fcae", "Fully connected AE", "FCAE", "#de8f05", "s", 1.0),
    FamilyInfo("dae", "Denoising AE", "DAE", "#029e73", "^", 1.1),
    FamilyInfo("cae", "Convolutional AE", "CAE", "#d55e00", "v", 5.0),
    FamilyInfo("vae", "Variational AE", "VAE", "#cc78bc", "D", 1.0),
    FamilyInfo("aae", "Adversarial AE", "AAE", "#ca9161", "P", 1.5),
    FamilyInfo("rae", "Recurrent AE", "RAE", "#fbafe4", "X", 8.0),
    FamilyInfo("sae", "Sparse AE", "SAE", "#949494", "<", 1.6),
    FamilyInfo("conae", "Contractive AE", "ConAE", "#ece133", ">", 2.8),
    FamilyInfo("mae", "Masked AE", "MAE", "#56b4e9", "h", 2.6),
    FamilyInfo("mmae", "Masked MLP AE", "MMAE", "#005f73", "p", 1.1),
)}
#: The PCA baseline, shown beside the families (black, a star, dashed in figures); not a registered model.
PCA = FamilyInfo("pca", "PCA", "PCA", "#000000", "*", 0.0)
#: Each family's expected cost relative to fcae: the time-left estimate, the order of concurrent runs (longest
#: first) and the session plan.
FAMILY_COST: dict[str, float] = {key: info.relative_cost for key, info in FAMILIES.items()}
#: The objective families: fcae's depth-rule MLP backbone with an objective of their own (docs/methods.md §1,
#: "Objective or architecture"), fcae first as their unregularised reference.
OBJECTIVE_FAMILIES: tuple[str, ...] = ("fcae", "dae", "sae", "conae", "vae", "aae", "mmae")
#: Every key figures and tables know, in the order they are shown: the families, then the baseline.
ORDER: tuple[str, ...] = (*FAMILIES, PCA.key)


def info(key: str) -> FamilyInfo:
    """The metadata of family ``key`` or of the PCA baseline ("pca").

    Raises:
        ValueError: for an unknown key, listing the known ones.
    """
    if key == PCA.key:
        return PCA
    try:
        return FAMILIES[key]
    except (KeyError, TypeError):
        raise ValueError(f"Could not interpret family identifier: {key!r}. Known families: {', '.join(ORDER)}.") \
            from None


def names(*, short: bool = False) -> dict[str, str]:
    """Key → display name of every family and the PCA baseline, in :data:`ORDER`; ``short``: the abbreviations,
    for tables that would not fit the names."""
    return {k: (i.short_name if short else i.display_name) for k, i in ((k, info(k)) for k in ORDER)}


def base_key(name: str) -> str:
    """The family key a shown name starts with ("pca (baseline)" → "pca")."""
    return str(name).split(" ")[0]


def display_name(name: str, *, short: bool = False) -> str:
    """Display name of a family key ("conae" → "Contractive AE"), keeping a suffix such as " (baseline)";
    other names are returned unchanged."""
    text = str(name)
    head, sep, rest = text.partition(" ")
    if head in ORDER:
        return getattr(info(head), "short_name" if short else "display_name") + sep + rest
    return text


def rank(name: str) -> int:
    """Position of a (suffixed) family key in :data:`ORDER`; ``len(ORDER)`` for other names, so they sort last."""
    return ORDER.index(base_key(name)) if base_key(name) in ORDER else len(ORDER)
