"""The depth rule for fully connected parts and the seed study's presets.

With input size ``d`` and ``n`` hidden layers, widths fall linearly from ``d``
in ``n + 1`` equal steps; the last step lands on the code layer, which is not
part of the returned list. ``hidden_widths`` applies the rule (each width
truncated to a whole unit). The seed study's printed widths for d = 784 agree
with the rule at depths 1, 3, 4 (±1 unit), 6 and differ by a few units at
depths 2 and 5, so they are kept verbatim as presets and ``widths_for`` uses
them whenever d = 784.
"""
from __future__ import annotations

# STUDY.md §2: widths before z, as the seed study used them.
SEED_PRESETS: dict[int, tuple[int, ...]] = {
    1: (392,),
    2: (523, 260),
    3: (588, 392, 196),
    4: (627, 470, 313, 156),
    5: (654, 524, 394, 264, 134),
    6: (672, 560, 448, 336, 224, 112),
}
AUGMENTATION_WIDTHS: tuple[int, ...] = (1536, 1024, 512)
DEFAULT_DEPTH = 3
MAX_DEPTH = 6


def hidden_widths(input_dim: int, depth: int = DEFAULT_DEPTH) -> tuple[int, ...]:
    """Hidden layer widths of an encoder by the depth rule.

    Args:
        input_dim: number of input values ``d`` (784 for a flattened 28×28 image).
        depth: number of hidden layers ``n`` (0 gives no hidden layer).

    Returns:
        ``n`` widths, from widest to narrowest; the code layer follows them.

    Raises:
        ValueError: if ``input_dim < 2`` or ``depth`` is negative or leaves a
            width below one unit.
    """
    if not isinstance(input_dim, int) or input_dim < 2:
        raise ValueError(f"Expected an integer input_dim >= 2. Received: input_dim={input_dim!r}")
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"Expected an integer depth >= 0. Received: depth={depth!r}")
    widths = tuple(_seed_width(input_dim, depth, i) for i in range(1, depth + 1))
    if depth and widths[-1] < 1:
        raise ValueError(
            f"depth={depth} leaves no room for hidden units with input_dim={input_dim}; "
            f"use a depth below {input_dim - 1}."
        )
    return widths


def _seed_width(d: int, n: int, i: int) -> int:
    return int(d - i * d / (n + 1))


def widths_for(input_dim: int, depth: int = DEFAULT_DEPTH) -> tuple[int, ...]:
    """Widths to build: the seed preset when ``input_dim`` is 784 (or the
    augmentation preset for 2048 at depth 3), else the depth rule."""
    if input_dim == 784 and depth in SEED_PRESETS:
        return SEED_PRESETS[depth]
    if input_dim == 2048 and depth == 3:
        return AUGMENTATION_WIDTHS
    return hidden_widths(input_dim, depth)
