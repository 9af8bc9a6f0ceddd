"""Argument checks shared across aelib, with one wording for every error."""
from __future__ import annotations

import math
import numbers
from typing import Any


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not bool) ``>= minimum``.

    Raises:
        ValueError: "Expected {name} >= {minimum} (an integer). Received: {name}={value!r}".
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Expected {name} >= {minimum} (an integer). Received: {name}={value!r}")
    return int(value)


def check_non_negative(name: str, value: Any) -> float:
    """``value`` as a ``float`` if it is a finite real number (not bool) ``>= 0``.

    Raises:
        ValueError: "Expected {name} >= 0 (a finite number). Received: {name}={value!r}".
    """
    return check_float(name, value, minimum=0)


def check_choice(name: str, value: Any, allowed: tuple) -> Any:
    """``value`` if it is one of ``allowed``.

    Raises:
        ValueError: "Expected {name} in {allowed}. Received: {name}={value!r}".
    """
    if value not in allowed:
        raise ValueError(f"Expected {name} in {tuple(allowed)}. Received: {name}={value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0 or 1).

    Raises:
        ValueError: "Expected {name} to be True or False. Received: {name}={value!r}".
    """
    if not isinstance(value, bool):
        raise ValueError(f"Expected {name} to be True or False. Received: {name}={value!r}")
    return value


def check_auto_or_int(name: str, value: Any) -> int | str:
    """``"auto"``, or ``value`` as an ``int >= 1``.

    Raises:
        ValueError: "Expected {name}='auto' or an integer >= 1. Received: {name}={value!r}".
    """
    if value == "auto":
        return value
    try:
        return check_int(name, value)
    except ValueError:
        raise ValueError(f"Expected {name}='auto' or an integer >= 1. Received: {name}={value!r}") from None


def check_float(name: str, value: Any, *, minimum: float | None = None, above: float | None = None,
                maximum: float | None = None, below: float | None = None, note: str | None = None) -> float:
    """``value`` as a ``float`` if it is a finite real number (Python or NumPy, not bool) within the bounds.

    Args:
        name: the argument's name, for the message.
        value: what was received.
        minimum, above: lower bound, inclusive (``>=``) or strict (``>``); at most one of them.
        maximum, below: upper bound, inclusive (``<=``) or strict (``<``); at most one of them.
        note: what the number is, in the message's parentheses; by default "a finite number"
            when a side is open and nothing when both are bounded.

    Raises:
        ValueError: "Expected {bounds} ({note}). Received: {name}={value!r}", e.g.
            "Expected 0 <= mask_ratio < 1. Received: mask_ratio=1.2".
    """
    if minimum is not None and above is not None or maximum is not None and below is not None:
        raise ValueError(f"Expected at most one lower and one upper bound for {name}. Received: minimum={minimum!r}, "
                         f"above={above!r}, maximum={maximum!r}, below={below!r}")
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if ok:
        ok = ((minimum is None or value >= minimum) and (above is None or value > above)
              and (maximum is None or value <= maximum) and (below is None or value < below))
    if not ok:
        low = f"{minimum:g} <= " if minimum is not None else f"{above:g} < " if above is not None else ""
        high = f" <= {maximum:g}" if maximum is not None else f" < {below:g}" if below is not None else ""
        if low and high:
            bounds = f"{low}{name}{high}"
        elif low:
            bounds = f"{name} {'>=' if minimum is not None else '>'} {low.split()[0]}"
        elif high:
            bounds = f"{name}{high}"
        else:
            bounds = f"{name} to be a finite number"
        if note is None:
            note = "" if low and high or not (low or high) else "a finite number"
        raise ValueError(f"Expected {bounds}{f' ({note})' if note else ''}. Received: {name}={value!r}")
    return float(value)
