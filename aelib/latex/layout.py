"""The layout engine: the type size, wrapping and column split that fit a table to the text width, and its LaTeX.

A :class:`Part` is one table to set (formatted plain cells, which are bold, its columns). :func:`fit` chooses the
largest type (:data:`SIZES`) and the wrap widths that fit a width in pt, from estimated text widths;
:func:`split_columns` cuts a table that fits at no size into even chunks that each repeat the key columns;
:func:`render` writes one part through pandas' ``Styler.to_latex`` (a ``longtable`` when asked).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aelib.latex.columns import Column, number_latex
from aelib.latex.text import escape, text_width

# (command, font size in pt, \tabcolsep in pt): the sizes a table may be set in, largest first
SIZES = (("", 10.0, 6.0), (r"\small", 9.0, 5.0), (r"\footnotesize", 8.0, 4.0))
WRAP_MIN_PT = 90.0  # narrowest a wrapping text column is made
WRAP_FROM_CHARS = 28  # text columns whose longest cell is longer than this may wrap


@dataclass
class Part:
    """One table to set: formatted plain cells, which are bold, and its columns."""
    cells: pd.DataFrame  # plain text
    bold: pd.DataFrame  # bool
    columns: list[Column]
    blank_repeats: int = 0  # leading key columns whose repeats are left blank
    breaks: list[int] = field(default_factory=list)  # body rows before which a little space goes
    groups: Sequence[str] = ()  # the blocks the best values were found within
    keys: Sequence[str] = ()  # identifying columns, repeated in every part when the columns are split


def _header_lines(header: str) -> list[str]:
    return header.split("\n")


def _plain(latex: str) -> str:
    """Rough plain text of a header written in LaTeX, for its width."""
    text = re.sub(r"\\mathrm\{([^}]*)\}", r"\1", latex)
    text = re.sub(r"\\(Delta|pm|times)", "X", text)
    text = text.replace("{[}", "[").replace("{]}", "]").replace("\\%", "%").replace("$", "")
    return re.sub(r"[\\{}_^]", "", text)


def _widths(part: Part, size: float, *, wrap_to: float | None = None) -> list[float]:
    widths = []
    for col in part.columns:
        cell = max((text_width(t, size, bold=b) for t, b in zip(part.cells[col.name], part.bold[col.name])), default=0)
        head = max(text_width(_plain(line), size) for line in _header_lines(col.header))
        if col.wrap and wrap_to is not None:
            cell = min(cell, wrap_to)
            head = min(head, wrap_to)
        widths.append(max(cell, head))
    return widths


def fit(part: Part, budget: float, *, sizes: Sequence[int] | None = None) -> tuple[int, dict[str, float]] | None:
    """(index into SIZES, wrap width per wrapping column) that fits ``budget``, or None; ``sizes``: the SIZES
    indices to try (default all, largest type first)."""
    budget *= 0.97  # the widths are estimates
    for index in (range(len(SIZES)) if sizes is None else sizes):
        _, size, sep = SIZES[index]
        pad = 2 * sep * len(part.columns)
        natural = _widths(part, size)
        if sum(natural) + pad <= budget:
            return index, {}
        wrapping = [i for i, c in enumerate(part.columns) if c.wrap]
        if wrapping:
            fixed = sum(w for i, w in enumerate(natural) if i not in wrapping)
            room = (budget - pad - fixed) / len(wrapping)
            if room >= WRAP_MIN_PT * size / 10:
                return index, {part.columns[i].name: room for i in wrapping}
    return None


def split_columns(part: Part, budget: float) -> list[Part]:
    """Column chunks that each fit, as even in width as they can be, every chunk repeating the leading key
    (text) columns."""
    keys = [c for c in part.columns if c.name in part.keys]
    rest = [c for c in part.columns if c not in keys]
    _, size, sep = SIZES[-1]
    budget *= 0.97
    key_width = sum(_widths(Part(part.cells, part.bold, keys), size)) + 2 * sep * len(keys)
    widths = [_widths(Part(part.cells, part.bold, [c]), size, wrap_to=WRAP_MIN_PT)[0] + 2 * sep for c in rest]
    room = max(budget - key_width, max(widths, default=0.0))
    n = 1
    while True:  # the fewest chunks whose widest fits: contiguous chunks minimising the widest (small n, m)
        best = _even_chunks(widths, n)
        if max(sum(widths[a:b]) for a, b in best) <= room or n >= len(rest):
            break
        n += 1
    blank = part.blank_repeats if len(keys) >= part.blank_repeats else 0
    return [Part(part.cells, part.bold, keys + rest[a:b], blank, part.breaks, part.groups, part.keys)
            for a, b in best]


def _even_chunks(widths: Sequence[float], n: int) -> list[tuple[int, int]]:
    """``n`` contiguous (start, end) chunks of ``widths`` with the smallest largest sum (dynamic programming)."""
    m = len(widths)
    n = max(1, min(n, m))
    prefix = np.concatenate([[0.0], np.cumsum(widths)])
    cost = np.full((n + 1, m + 1), np.inf)
    cut = np.zeros((n + 1, m + 1), dtype=int)
    cost[0, 0] = 0.0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            for i in range(k - 1, j):
                value = max(cost[k - 1, i], prefix[j] - prefix[i])
                if value < cost[k, j]:
                    cost[k, j], cut[k, j] = value, i
    chunks, j = [], m
    for k in range(n, 0, -1):
        chunks.append((int(cut[k, j]), j))
        j = cut[k, j]
    return chunks[::-1]


def _header_latex(col: Column, align: str) -> str:
    lines = _header_lines(col.header)
    if len(lines) == 1:
        return lines[0]
    return f"\\begin{{tabular}}[b]{{@{{}}{align}@{{}}}}" + "\\\\".join(lines) + "\\end{tabular}"


def render(part: Part, *, caption: str, label: str, size_index: int, wraps: Mapping[str, float],
            long: bool) -> str:
    """LaTeX of one table through ``Styler.to_latex``."""
    size_cmd, _, sep = SIZES[size_index]
    cells = part.cells[[c.name for c in part.columns]].copy()
    if part.blank_repeats:
        for j, col in enumerate(part.columns[:part.blank_repeats]):
            lead = part.cells[[c.name for c in part.columns[:j + 1]]].astype(str).agg("\x00".join, axis=1)
            cells.loc[lead.eq(lead.shift()), col.name] = ""
    headers = []
    for col in part.columns:
        align = "c" if col.kind != "text" else "l"
        headers.append(_header_latex(col, "l" if col.kind == "text" else "r" if align == "c" else align))
    column_format = "".join(f"p{{{wraps[c.name]:.0f}pt}}" if c.name in wraps else c.align for c in part.columns)
    cells.columns = pd.Index(range(len(part.columns)))
    bold = part.bold[[c.name for c in part.columns]].copy()
    bold.columns = cells.columns

    def cell_latex(text, kind):
        if text == "":
            return ""
        return number_latex(text) if kind not in ("text",) else escape(text)

    styler = cells.style.hide(axis="index")
    styler = styler.format({j: (lambda v, k=c.kind: cell_latex(v, k)) for j, c in enumerate(part.columns)})
    styler = styler.apply(lambda _: np.where(bold.to_numpy(), "textbf:--rwrap;", ""), axis=None)
    styler = styler.relabel_index([h.replace("{", "{{").replace("}", "}}") for h in headers], axis="columns")
    if long:
        body = styler.to_latex(environment="longtable", hrules=True, caption=caption, label=label,
                               column_format=column_format)
        short = caption.split(". ")[0].rstrip(".")
        body = body.replace(f"\\caption[]{{{caption}}}", f"\\caption[]{{{short} (continued)}}")
        body = body.replace("Continued on next page", "continued on next page")
        body = _add_breaks(body, part.breaks, "\\endlastfoot")
        setup = (size_cmd + "\n" if size_cmd else "") + f"\\setlength{{\\tabcolsep}}{{{sep:g}pt}}\n"
        return "\\begingroup\n" + setup + body + "\\endgroup\n"
    styles = ([{"selector": size_cmd.lstrip("\\"), "props": ":;"}] if size_cmd else []) + [
        {"selector": "setlength", "props": f":{{\\tabcolsep}}{{{sep:g}pt}};"}]
    styler = styler.set_table_styles(styles, overwrite=False)
    body = styler.to_latex(hrules=True, caption=caption, label=label, column_format=column_format,
                           position_float="centering", position="htbp")
    return _add_breaks(body, part.breaks, "\\midrule")


def _add_breaks(latex: str, breaks: Sequence[int], after: str) -> str:
    """``\\addlinespace`` before the given body rows (0-based), counting rows after the line ``after``."""
    if not breaks:
        return latex
    lines = latex.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == after) + 1
    wanted, out, row = set(breaks), lines[:start], 0
    for line in lines[start:]:
        if row in wanted and line.rstrip().endswith("\\\\"):
            out.append("\\addlinespace")
        out.append(line)
        if line.rstrip().endswith("\\\\"):
            row += 1
    return "\n".join(out)

