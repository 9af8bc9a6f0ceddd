"""How the findings word numbers, intervals and lists, and how they check the tables they are given."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def fmt_num(x: float, digits: int = 4) -> str:
    """``x`` to ``digits`` decimals ("–" when not finite, never "-0.0000")."""
    if x is None or not np.isfinite(x):
        return "–"
    text = f"{x:.{digits}f}" if abs(x) < 1000 else f"{x:.4g}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # never "-0.0000"


def fmt_interval(low: float, high: float, digits: int = 4) -> str:
    """"[low, high]" with :func:`fmt_num`."""
    return f"[{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def fmt_percent(p: float) -> str:
    """A share as a percentage: 0.1 → "10 %"."""
    return f"{p * 100:g} %"


def name_list(names: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def z_list(zs: Sequence) -> str:
    """The z values as integers, comma-separated."""
    return ", ".join(str(int(z)) for z in zs)


def check_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raise ValueError naming ``what`` unless ``frame`` is a DataFrame with every column of ``required``."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"Expected {what} as a pandas DataFrame. Received: {type(frame).__name__}")
    missing = [c for c in required if c not in frame]
    if missing:
        raise ValueError(f"Expected {what} with columns {list(required)}. Received columns {list(frame.columns)} "
                         f"(missing {missing})")


def as_bool(values: pd.Series) -> pd.Series:
    """``reject`` as written to CSV: booleans, or the strings True/False."""
    if values.dtype == bool:
        return values
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])
