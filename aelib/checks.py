"""Argument checks shared across aelib, with one wording for every error."""
from __future__ import annotations

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
