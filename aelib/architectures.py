"""The depth rule for fully connected parts and the seed study's presets.

With input size ``d`` and ``n`` hidden layers, widths fall linearly from ``d``
in ``n + 1`` equal steps; the last step lands on the code layer, which is not
part of the returned list. ``hidden_widths`` applies the rule (each width
truncated to a whole unit). The seed study's printed widths for d = 784 agree
with the rule at depths 1, 3, 4 (±1 unit), 6 and differ by a few units at
depths 2 and 5, so they are kept verbatim as presets and ``widths_for`` uses
them whenever d = 784.

Those presets end narrow (196 units at depth 3), so a code wider than the
last hidden layer would be capped by it. ``widths_for`` therefore takes a
``rule``: ``"seed"`` (presets, else the depth rule, as above), ``"interpolate"``
(widths fall linearly from ``d`` to the code size ``z`` in ``depth + 1`` equal
steps, rounded: ``int(round(d - i (d - z) / (depth + 1)))``, i = 1..depth) or
``"auto"`` (the seed widths while their narrowest is at least ``z``, else the
interpolation). ``widths_rule_used`` says which one ``"auto"`` picked.
"""
from __future__ import annotations

# docs/methods.md §2: widths before z, as the seed study used them.
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
#: Values of the ``widths`` option (``rule`` of :func:`widths_for`).
WIDTH_RULES: tuple[str, ...] = ("auto", "seed", "interpolate")


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


def seed_widths(input_dim: int, depth: int = DEFAULT_DEPTH) -> tuple[int, ...]:
    """The seed study's widths: the preset when ``input_dim`` is 784 (or the
    augmentation preset for 2048 at depth 3), else the depth rule."""
    if input_dim == 784 and depth in SEED_PRESETS:
        return SEED_PRESETS[depth]
    if input_dim == 2048 and depth == 3:
        return AUGMENTATION_WIDTHS
    return hidden_widths(input_dim, depth)


def interpolated_widths(input_dim: int, depth: int, latent_dim: int) -> tuple[int, ...]:
    """Widths falling linearly from ``input_dim`` to ``latent_dim`` in ``depth + 1``
    equal steps (the last step lands on the code): ``int(round(d - i (d - z) / (depth + 1)))``.

    Raises:
        ValueError: if ``input_dim < 2``, ``depth < 0`` or ``latent_dim < 1``.
    """
    _check_rule_args(input_dim, depth, latent_dim, "interpolate")
    d, z = input_dim, latent_dim
    return tuple(int(round(d - i * (d - z) / (depth + 1))) for i in range(1, depth + 1))


def widths_rule_used(input_dim: int, depth: int = DEFAULT_DEPTH, *, latent_dim: int | None = None,
                     rule: str = "auto") -> str:
    """``"seed"`` or ``"interpolate"``: the rule :func:`widths_for` applies.

    ``"auto"`` keeps the seed widths while their narrowest hidden width is at
    least ``latent_dim`` (always, when ``latent_dim`` is None or ``depth`` is 0),
    and interpolates otherwise, so no hidden layer is narrower than the code.

    Raises:
        ValueError: unknown ``rule``, bad sizes, or ``"interpolate"`` without ``latent_dim``.
    """
    _check_rule_args(input_dim, depth, latent_dim, rule)
    if rule != "auto":
        return rule
    seed = seed_widths(input_dim, depth)
    if latent_dim is None or not seed or min(seed) >= latent_dim:
        return "seed"
    return "interpolate"


def widths_for(input_dim: int, depth: int = DEFAULT_DEPTH, *, latent_dim: int | None = None,
               rule: str = "auto") -> tuple[int, ...]:
    """Hidden widths to build, widest first; the code layer (``latent_dim``) follows them.

    Args:
        input_dim: number of input values ``d``.
        depth: number of hidden layers.
        latent_dim: code size ``z``; needed by ``"interpolate"`` and used by ``"auto"``.
        rule: ``"auto"`` (default), ``"seed"`` or ``"interpolate"`` (module docstring).

    Raises:
        ValueError: as :func:`widths_rule_used`.
    """
    if widths_rule_used(input_dim, depth, latent_dim=latent_dim, rule=rule) == "interpolate":
        return interpolated_widths(input_dim, depth, latent_dim)
    return seed_widths(input_dim, depth)


def _check_rule_args(input_dim, depth, latent_dim, rule) -> None:
    if rule not in WIDTH_RULES:
        raise ValueError(f"Expected widths in {WIDTH_RULES}. Received: widths={rule!r}")
    if not isinstance(input_dim, int) or isinstance(input_dim, bool) or input_dim < 2:
        raise ValueError(f"Expected an integer input_dim >= 2. Received: input_dim={input_dim!r}")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"Expected an integer depth >= 0. Received: depth={depth!r}")
    if latent_dim is None:
        if rule == "interpolate":
            raise ValueError("widths='interpolate' needs the code size: pass latent_dim. Received: latent_dim=None")
    elif not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
        raise ValueError(f"Expected an integer latent_dim >= 1. Received: latent_dim={latent_dim!r}")
