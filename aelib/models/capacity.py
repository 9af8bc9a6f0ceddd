"""Architectures at matched capacity (docs/methods.md §1, "Objective or architecture"): cae, rae and mae sized to fcae's
parameter budget at the same z and depth, within ±10 %.

Each architecture family has one width knob, an integer that scales every width of the model at once, with the
rest of the architecture (depths, kernel, patch size, heads) at its defaults:

- ``cae``: the channels ``filters = (w, 2w)`` (native ``(32, 64)``: w = 32);
- ``rae``: the recurrent state ``units = w`` (native ``max(64, z)``);
- ``mae``: the token widths ``embed_dim = 4w`` and ``decoder_dim = 4·⌈w/2⌉`` (multiples of the 4 heads; native
  ``max(64, z)`` and 32).

The parameter count grows with the knob, so :func:`matched_options` bisects it for the count nearest the budget
(fcae's :meth:`~aelib.models.base.Autoencoder.autoencoder_params` by default) and refuses a result off by more
than the tolerance. The knob never goes below what keeps the code the narrowest layer (an rae state or an mae
token at least ``latent_dim`` wide).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from aelib.architectures import DEFAULT_DEPTH
from aelib.checks import check_float, check_int

#: The matched counts' largest relative distance from the budget.
CAPACITY_TOLERANCE = 0.10


@dataclasses.dataclass(frozen=True)
class WidthKnob:
    """How one family's widths follow the knob ``w`` (``options(w, latent_dim)``), and the knob's range."""

    options: Callable[[int, int], dict]
    smallest: Callable[[int], int]
    largest: int
    describe: str


def _half_up(w: int) -> int:
    return -(-w // 2)


WIDTH_KNOBS: dict[str, WidthKnob] = {
    "cae": WidthKnob(lambda w, z: {"filters": (w, 2 * w)}, lambda z: 1, 2048, "filters = (w, 2w)"),
    "rae": WidthKnob(lambda w, z: {"units": w}, lambda z: z, 8192, "units = w"),
    "mae": WidthKnob(lambda w, z: {"embed_dim": 4 * w, "decoder_dim": 4 * _half_up(w)},
                     lambda z: -(-z // 4), 1024, "embed_dim = 4w, decoder_dim = 4⌈w/2⌉"),
}


def budget(latent_dim: int, *, depth: int = DEFAULT_DEPTH, input_shape=(28, 28, 1), widths: str = "auto") -> int:
    """fcae's parameter count at ``latent_dim`` and ``depth``: the budget the architectures are matched to."""
    from aelib.models import build_model

    return build_model("fcae", input_shape=input_shape, latent_dim=latent_dim, depth=depth,
                       widths=widths).autoencoder_params()


def matched_options(family: str, *, latent_dim: int, target: int | None = None, depth: int = DEFAULT_DEPTH,
                    input_shape=(28, 28, 1), tolerance: float = CAPACITY_TOLERANCE, **options: Any) -> dict:
    """The options that size ``family`` to ``target`` parameters (default: :func:`budget`) within ``tolerance``.

    Args:
        options: the family's other options, kept fixed (they must not be the knob's).

    Returns:
        The knob's options (e.g. ``{"filters": (96, 192)}``), to pass to ``build_model`` with ``options``.

    Raises:
        ValueError: a family without a width knob (naming those with one), a bad target or tolerance, or no
            knob value within the tolerance.
    """
    from aelib.models import build_model

    if family not in WIDTH_KNOBS:
        raise ValueError(f"No width knob for family {family!r}. Families sized to a budget: {', '.join(WIDTH_KNOBS)}.")
    knob = WIDTH_KNOBS[family]
    latent_dim = check_int("latent_dim", latent_dim)
    target = budget(latent_dim, depth=depth, input_shape=input_shape) if target is None else check_int("target", target)
    tolerance = check_float("tolerance", tolerance, minimum=0)
    clash = sorted(set(options) & set(knob.options(1, latent_dim)))
    if clash:
        raise ValueError(f"Options {clash} of {family!r} are set by the width knob ({knob.describe}); leave them out.")
    counts: dict[int, int] = {}

    def count(w: int) -> int:
        if w not in counts:
            model = build_model(family, input_shape=input_shape, latent_dim=latent_dim, depth=depth,
                                **options, **knob.options(w, latent_dim))
            counts[w] = model.autoencoder_params()
        return counts[w]

    low = high = knob.smallest(latent_dim)
    while count(high) < target and high < knob.largest:  # double up to the first knob over the target
        low, high = high + 1, min(2 * high, knob.largest)
    while low < high:  # then bisect for the smallest knob with count >= target
        mid = (low + high) // 2
        if count(mid) < target:
            low = mid + 1
        else:
            high = mid
    best = min((w for w in (low - 1, low) if w >= knob.smallest(latent_dim)),
               key=lambda w: abs(count(w) - target))
    if abs(count(best) - target) > tolerance * target:
        raise ValueError(f"No width of {family!r} ({knob.describe}) has {target} parameters within {tolerance:.0%} at "
                         f"latent_dim={latent_dim}: the nearest, w={best}, has {count(best)}.")
    return knob.options(best, latent_dim)
