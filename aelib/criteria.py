"""The ranking's criteria: their groups, weights and words, and the one rule mapping a criterion to its group.

A *group* answers one question of the study (reconstruction, OOD generalisation, OOD detection, latent
structure, generative capacity, smoothness under latent perturbation). A group may have several *criteria*,
named ``<group>_<mode>``: smoothness has one per perturbation mode (``smoothness_additive``,
``smoothness_relative``). Every module that
groups criteria (:mod:`aelib.report`, :mod:`aelib.findings`, :mod:`aelib.latex`) uses
:func:`criterion_group` / :func:`split_criterion`. Plain data: no pandas, no TensorFlow.
"""
from __future__ import annotations

from collections.abc import Iterable

#: The groups, in the order the report presents them.
GROUPS: tuple[str, ...] = ("reconstruction", "ood_generalisation", "ood_detection", "latent_structure", "generative",
                           "smoothness")

# Weight of each criterion group in the overall rank, a weighted mean of the criterion ranks. Equal weights, with
# one declared exception: OOD detection (high AUROC) rewards exactly what OOD generalisation (low OOD RMSE)
# penalises — a model that reconstructs unfamiliar images well flags them poorly — so the two are never averaged
# together (NEVER_COMBINED): detection gets its own ranking and weight 0 here, and `ranking_sensitivity` shows the
# overall rank with detection in generalisation's place. Generative capacity is judged on samples (GENERATIVE);
# the slopes of RMSE against a latent perturbation describe the decoder's smoothness and robustness and weigh 0:
# a decoder that ignores its code has a flat curve and would rank first on them (docs/methods.md §4, step 7). A
# criterion whose group is not here weighs 1; criteria sharing a group (the perturbation modes of smoothness)
# share its weight equally, so a group counts once however many criteria it has.
RANKING_WEIGHTS: dict[str, float] = {"reconstruction": 1.0, "latent_structure": 1.0, "ood_generalisation": 1.0,
                                     "ood_detection": 0.0, "generative": 1.0, "smoothness": 0.0}
NEVER_COMBINED: tuple[tuple[str, str], ...] = (("ood_generalisation", "ood_detection"),)
#: Groups that describe a model rather than judge it (weight 0 for that reason, not for NEVER_COMBINED): a family
#: is not "strong" or "weak" on them.
DESCRIPTORS: tuple[str, ...] = ("smoothness",)
# The projection measures whose ranks make the one latent-structure criterion (their mean rank), with their
# direction (True: higher is better). The class probes are left out: they measure class separation, not structure.
LATENT_MEASURES: dict[str, bool] = {"trustworthiness": True, "continuity": True, "stress_scaled": False,
                                    "neighborhood_hit": True, "shepard_goodness": True}
# The generative criterion: the sampler and score it ranks (lower is better), and the scores shown beside it
# (higher is better). Every family has a GMM sampler (a Gaussian mixture fitted to its training codes), so the
# criterion compares all families on the same kind of samples; the prior's samples (vae, aae) are shown, not ranked.
GENERATIVE: dict[str, str] = {"sampler": "gmm", "score": "frechet"}
GENERATIVE_BESIDE: tuple[str, ...] = ("precision", "recall", "density", "coverage")

#: The step that writes each group's table, for "cannot test" sentences.
STEPS: dict[str, str] = {"reconstruction": "02 (latent sweep)", "ood_generalisation": "05 (complementary data)",
                         "ood_detection": "05 (complementary data)", "latent_structure": "04 (latent space)",
                         "generative": "06 (generative capacity)", "smoothness": "06 (generative capacity)"}
#: Each group's title in sentences.
TITLES: dict[str, str] = {"reconstruction": "Reconstruction", "ood_generalisation": "OOD generalisation",
                          "ood_detection": "OOD detection", "latent_structure": "Latent structure",
                          "generative": "Generative capacity (sample quality)",
                          "smoothness": "Smoothness / robustness under latent perturbation"}


def criterion_group(name: str, groups: Iterable[str] | None = None) -> str:
    """The group of criterion ``name`` among ``groups`` (default :data:`GROUPS`; a weights mapping works too):
    ``name`` itself when it is a group, else the longest group it starts with followed by ``_``, else itself
    (an undeclared criterion is a group of its own)."""
    groups = GROUPS if groups is None else tuple(groups)
    if name in groups:
        return name
    prefixes = [g for g in groups if name.startswith(f"{g}_")]
    return max(prefixes, key=len) if prefixes else name


def split_criterion(name: str, groups: Iterable[str] | None = None) -> tuple[str, str]:
    """``(group, mode)`` of criterion ``name``: ``("smoothness", "additive")`` for ``smoothness_additive``,
    ``(name, "")`` for a group itself (:func:`criterion_group` decides)."""
    group = criterion_group(name, groups)
    return group, name[len(group) + 1:] if name != group else ""


def criterion_title(name: str) -> str:
    """The criterion in words: its group's title, with the perturbation mode for a mode of a group
    ("Smoothness / robustness under latent perturbation, additive perturbation"); an undeclared one from its
    name."""
    group, mode = split_criterion(name)
    title = TITLES.get(group, group.replace("_", " ").capitalize())
    return title + (f", {mode} perturbation" if mode else "")
