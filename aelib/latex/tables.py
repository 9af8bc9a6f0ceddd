"""Result tables as LaTeX: each table's specification, its cells formatted and the best values bold, and the text.

:func:`table_latex` turns a result table (the frame its CSV holds) into the text of a ``.tex`` file: family keys
become display names (:mod:`aelib.families`), each column is formatted by its kind (:mod:`aelib.latex.columns`),
the best value per column is bold within each block, constant descriptive columns move to the caption, and the
layout engine (:mod:`aelib.latex.layout`) fits the result to the text width.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aelib import families
from aelib.data.catalog import TITLES
from aelib.latex.columns import (
    HEADERS,
    Column,
    column_direction,
    column_header,
    column_kind,
    criterion_header,
    format_number,
    interval_columns,
    symmetric_interval,
)
from aelib.latex.layout import SIZES, WRAP_FROM_CHARS, Part, fit, render, split_columns
from aelib.latex.text import caption_text

TEXT_WIDTH_PT = 455.24  # 16 cm in TeX points
LONG_TABLE_ROWS = 40  # more body rows than this: a longtable, which breaks across pages
# Descriptive columns: when one value throughout, said in the caption instead of a column.
DESCRIPTIVE = ("data_source", "stand_in", "data_stand_in", "feature_model", "ci_method", "interval", "over",
               "widths_rule", "dataset", "n_train_used", "n_test_used", "latent_dim", "better", "weight")
HIDDEN = ("setting", "decision", "reject", "run_dir", "base_setting")  # never shown (reject: shown as bold)
# Row keys: blocks of equal keys are compared for the best value (families within a block).
GROUP_KEYS = ("criterion", "measure", "dataset", "mode", "latent_dim", "level", "seed")


@dataclass
class Spec:
    """Per-table choices that the column rules do not make (by the table's file name)."""
    keys: Sequence[str] = ()  # key columns, shown first in this order (repeats blanked in long tables)
    sort: bool = False  # sort rows by keys (families in the study's order)
    better: Mapping[str, str] = field(default_factory=dict)  # direction per column (overrides the rules)
    pattern_better: str | None = None  # direction of the "z=…" columns
    group: Sequence[str] | None = None  # blocks compared for the best value (default: GROUP_KEYS present)
    drop: Sequence[str] = ()
    # several tables, each with a caption note and column directions
    split: Callable[[pd.DataFrame], list[tuple[pd.DataFrame, str, dict[str, str]]]] | None = None
    note: str = ""


def _split_ranking(frame: pd.DataFrame) -> list[tuple[pd.DataFrame, str, dict[str, str]]]:
    """The ranking as two tables: ranks with their intervals, and the value each criterion ranks."""
    criteria = [c.removeprefix("rank_") for c in frame.columns
                if c.startswith("rank_") and c != "rank_overall" and not c.endswith(("_low", "_high"))
                and not c.startswith(("rank_without_", "rank_with_")) and c.removeprefix("rank_") in frame]
    ranks = frame[["family"] + [c for c in frame.columns if c.startswith("rank_") and not c.startswith("rank_with")
                                and c != "rank_overall"] + [c for c in ("mean_rank", "rank_overall", "criteria_missing")
                                                          if c in frame]]
    better = {}
    for c in criteria:  # the direction each criterion was ranked in: where its rank 1 lies
        values, rank = pd.to_numeric(frame[c], errors="coerce"), pd.to_numeric(frame[f"rank_{c}"], errors="coerce")
        first = values[rank == rank.min()]
        if not first.empty and values.nunique() > 1:
            better[c] = "lower" if np.isclose(first.iloc[0], values.min()) else "higher"
    values = frame[["family"] + criteria]
    return [(ranks, ("Cells: rank (1 = best) with its 95\\% bootstrap interval in brackets where one was "
                     "computed; bold: the best per column."), {}),
            (values, ("The value each criterion ranks (what it is, and which direction is better: the criteria "
                      "table); bold: rank 1."), better)]


SPECS: dict[str, Spec] = {
    "rmse_by_z": Spec(keys=("family",), pattern_better="lower"),
    "ood_rmse": Spec(keys=("dataset", "family"), sort=True, pattern_better="lower", group=("dataset",)),
    "ood_auroc": Spec(keys=("dataset", "family"), sort=True, pattern_better="higher", group=("dataset",)),
    "generative": Spec(keys=("mode", "latent_dim", "level", "family"), sort=True),
    "generative_degradation": Spec(keys=("mode", "latent_dim", "seed", "family"), sort=True),
    "latent_quality": Spec(keys=("latent_dim", "family"), sort=True),
    "tuning": Spec(keys=("family", "option"), group=("family",)),
    "capacity": Spec(keys=("family", "latent_dim"), sort=True),
    "ranking": Spec(split=_split_ranking),
    "ranking_by_criterion": Spec(keys=("criterion", "better", "weight", "over", "family"), group=("criterion",)),
    "ranking_sensitivity": Spec(keys=("family",)),
    "pairwise_reconstruction": Spec(keys=("latent_dim", "family_a", "family_b"), group=()),
    "pairwise_ood_generalisation": Spec(keys=("dataset", "latent_dim", "family_a", "family_b"), group=()),
    "pairwise_ood_detection": Spec(keys=("dataset", "latent_dim", "family_a", "family_b"), group=()),
    "pairwise_latent_structure": Spec(keys=("measure", "latent_dim", "family_a", "family_b"), group=()),
    "pairwise_generative": Spec(keys=("mode", "latent_dim", "family_a", "family_b"), group=()),
    "augmentation": Spec(keys=("experiment", "swept", "value"), group=()),
    "rmse_power_law_heldout": Spec(keys=("family", "latent_dim"), sort=True, group=("latent_dim",)),
    "reconstruction_spread": Spec(keys=("latent_dim", "family"), sort=True),
}


def _sort_key(col: pd.Series) -> pd.Series:
    if col.name in ("family", "family_a", "family_b"):
        return col.map(families.rank)  # the study's order of the families, the baseline after them
    return col


def _best_mask(frame: pd.DataFrame, columns: list[Column], groups: Sequence[str]) -> pd.DataFrame:
    """Bold cells: per column with a direction, the best value within each block of ``groups`` (the PCA baseline
    not ranked). A column whose direction is "row" takes it from the block's ``better`` column."""
    bold = pd.DataFrame(False, index=frame.index, columns=[c.name for c in columns])
    family = frame["family"].astype(str) if "family" in frame else pd.Series("", index=frame.index)
    candidates = ~family.str.startswith("pca")
    blocks = ([frame.index] if not groups
              else list(frame.groupby(list(groups), sort=False, dropna=False).groups.values()))
    for col in columns:
        if col.better is None or col.name not in frame:
            continue
        values = frame[col.name]
        if not pd.api.types.is_numeric_dtype(values):  # text such as "0.2128 ± 0.0030": its leading number
            values = values.astype(str).str.replace("−", "-").str.extract(r"^\s*(-?\d+\.?\d*)")[0]
        values = pd.to_numeric(values, errors="coerce")
        values = values.where(candidates)
        for idx in blocks:
            part = values.loc[idx].dropna()
            better = col.better
            if better == "row":
                better = str(frame.loc[idx, "better"].iloc[0]) if "better" in frame else ""
            if len(part) < 2 or part.nunique() < 2 or better not in ("lower", "higher"):
                continue
            best = part.min() if better == "lower" else part.max()
            bold.loc[part.index[np.isclose(part, best, rtol=1e-12, atol=0)], col.name] = True
    return bold


DATASET_NAMES = TITLES  # the data sets' names in tables (aelib.data.catalog)
NOTE_LABELS = {"data_source": "data source", "feature_model": "feature model", "ci_method": "interval",
               "interval": "interval", "over": "interval over", "widths_rule": "widths rule", "dataset": "data set",
               "n_train_used": "training images", "n_test_used": "test images", "better": "better",
               "weight": "weight"}


def _prepare(frame: pd.DataFrame, spec: Spec, *, short_names: bool,
             better: Mapping[str, str] | None = None) -> tuple[Part, list[str]]:
    """Format ``frame`` (one table) into plain cells; return it and caption notes (constant descriptive columns)."""
    notes = []
    frame = frame.copy()
    if "reject" in frame:  # a detectable pair: its difference is shown bold
        frame["__reject"] = frame["reject"].astype(str).str.lower().isin(["true", "1", "1.0"])
    intervals = interval_columns(frame)
    stds = [f"{v.removesuffix('_mean')}_std" for v in intervals]  # the interval says it; the spread is in the CSV
    frame = frame.drop(columns=[c for c in (*HIDDEN, *spec.drop, *stds) if c in frame])
    for col in [c for c in DESCRIPTIVE if c in frame and c not in spec.keys]:
        values = frame[col].dropna().astype(str).unique()
        if len(frame) > 1 and len(values) == 1:
            value = values[0]
            if col in ("stand_in", "data_stand_in"):
                notes.append("stand-in data (an offline substitute, not the named data set)"
                             if value.lower() in ("true", "1") else "")
            elif col == "latent_dim":
                notes.append(f"$z = {value}$")
            else:
                shown = DATASET_NAMES.get(value, value) if col == "dataset" else value
                notes.append(f"{NOTE_LABELS.get(col, col.replace('_', ' '))}: {shown}")
            frame = frame.drop(columns=col)
    notes = [n for n in notes if n]
    if spec.sort and spec.keys:
        keys = [k for k in spec.keys if k in frame]
        frame = frame.sort_values(keys, key=_sort_key, kind="stable")
    frame = frame.reset_index(drop=True)
    reject = frame.pop("__reject") if "__reject" in frame else None

    intervals = interval_columns(frame)
    folded = {c for pair in intervals.values() for c in pair}
    order = [k for k in spec.keys if k in frame] + [c for c in frame.columns if c not in spec.keys]
    columns = []
    for col in order:
        if col in folded:
            continue
        kind, digits = column_kind(col, frame[col])
        direction = (better or {}).get(col, spec.better.get(col, column_direction(col)))
        if re.fullmatch(r"z=\d+", col) and spec.pattern_better:
            direction = spec.pattern_better
        elif kind in ("text", "bool"):
            direction = None
        if col == "value" and "better" in frame:
            direction = "row"
        low, high = intervals.get(col, (None, None))
        header = column_header(col)
        if col.endswith("_mean") and col not in HEADERS and col.removesuffix("_mean") in HEADERS:
            header = HEADERS[col.removesuffix("_mean")]
        if low and "CI" not in header and not symmetric_interval(frame, col, low, high):
            header += "\n{[}95\\% CI{]}"
        columns.append(Column(col, header, kind, digits, direction, low, high))

    cells = pd.DataFrame(index=frame.index)
    for col in columns:
        if col.kind == "text":
            text = frame[col.name].map(lambda v: "–" if pd.isna(v) else str(v))
            if col.name in ("family", "family_a", "family_b"):
                text = text.map(lambda v: families.display_name(v, short=short_names))
            elif col.name == "criterion":
                text = text.map(lambda v: (criterion_header(v) or v).replace("-\n", "").replace("\n", " "))
            elif col.name == "dataset":
                text = text.map(lambda v: DATASET_NAMES.get(v, v))
            cells[col.name] = text
            col.wrap = bool(len(text)) and text.map(len).max() > WRAP_FROM_CHARS
            continue
        values = frame[col.name] if col.kind == "bool" else pd.to_numeric(frame[col.name], errors="coerce")
        finite = values[np.isfinite(values)] if col.kind != "bool" else values
        scientific = (col.kind == "float" and not finite.empty and 0 < finite.abs().max() < 10 ** -col.digits)
        shown = []
        symmetric = col.low is not None and symmetric_interval(frame, col.name, col.low, col.high)
        lows = pd.to_numeric(frame[col.low], errors="coerce") if col.low else None
        highs = pd.to_numeric(frame[col.high], errors="coerce") if col.high else None
        for i in frame.index:
            text = format_number(values.at[i], col.kind, col.digits, scientific=scientific)
            if col.low is not None:
                lo, hi = lows.at[i], highs.at[i]
                if pd.notna(lo) and pd.notna(hi):
                    if symmetric:
                        text += " ± " + format_number(hi - values.at[i], col.kind, col.digits, scientific=scientific)
                    else:
                        text += (f" [{format_number(lo, col.kind, col.digits, scientific=scientific)}, "
                                 f"{format_number(hi, col.kind, col.digits, scientific=scientific)}]")
            shown.append(text)
        cells[col.name] = shown

    if any(c.low and symmetric_interval(frame, c.name, c.low, c.high) for c in columns):
        notes.insert(0, "values a ± b: the value and half its 95% interval")
    groups = spec.group if spec.group is not None else [g for g in GROUP_KEYS if g in frame]
    bold = _best_mask(frame, columns, [g for g in groups if g in frame])
    if reject is not None and "diff" in bold:
        bold["diff"] = reject.to_numpy()
    keys = [k for k in spec.keys if k in frame]
    if not keys:  # the leading short text columns identify a row
        for col in columns:
            if col.kind != "text" or col.wrap or re.fullmatch(r"z=\d+", col.name):
                break
            keys.append(col.name)
    part = Part(cells, bold, columns, groups=[g for g in groups if g in frame], keys=keys)
    if keys and len(frame) > 12:
        lead = keys[:-1]
        part.blank_repeats = len(lead)
        if lead:
            first = frame[lead[0]].astype(str)
            part.breaks = [i for i in range(1, len(frame)) if first.iloc[i] != first.iloc[i - 1]]
    return part, notes



def table_latex(frame: pd.DataFrame, name: str, *, caption: str, data: str = "",
                text_width: float = TEXT_WIDTH_PT) -> str:
    """The ``.tex`` text of one result table (one or more ``table``/``longtable`` environments).

    Args:
        frame: the table as its CSV holds it.
        name: its file name without suffix (picks the specification in :data:`SPECS`; the label is ``tab:name``).
        caption: what the table shows; plain text, ``$…$`` math allowed (see :func:`caption_text`).
        data: on which data, appended to the caption ("MNIST test set, …").
        text_width: the width in pt the table must fit.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame. Received: {type(frame).__name__}")
    if text_width <= 100:
        raise ValueError(f"Expected text_width > 100 pt. Received: text_width={text_width}")
    spec = SPECS.get(name, Spec())
    label = f"tab:{name}"
    if frame.empty or len(frame.columns) == 0:
        return (f"\\begin{{table}}[htbp]\n\\centering\n\\caption{{{caption_text(caption)} (no rows)}}\n"
                f"\\label{{{label}}}\n\\end{{table}}\n")
    pieces = spec.split(frame) if spec.split else [(frame, "", {})]
    out = []
    for k, (piece, piece_note, better) in enumerate(pieces):
        part, notes = _prepare(piece, spec, short_names=False, better=better)
        fitted = fit(part, text_width)
        if fitted is None:  # abbreviated family names, if that is enough; else the full names, split
            short, short_notes = _prepare(piece, spec, short_names=True, better=better)
            if fit(short, text_width) is not None:
                part, notes, fitted = short, short_notes, fit(short, text_width)
        if fitted is not None:
            parts = [(part, fitted)]
        else:  # split the columns; every part in the same type size, the largest all of them fit in
            chunks = split_columns(part, text_width)
            size_index = max((fit(p, text_width) or (len(SIZES) - 1, {}))[0] for p in chunks)
            parts = [(p, (size_index, (fit(p, text_width, sizes=[size_index]) or (size_index, {}))[1]))
                     for p in chunks]
        for j, (sub, (size_index, wraps)) in enumerate(parts):
            text = caption_text(caption).rstrip(". ") + "."
            if k == 0 and j == 0:
                extra = "; ".join(caption_text(n) for n in notes)
                if extra:
                    text += " " + extra[:1].upper() + extra[1:] + "."
                if data:
                    text += " " + caption_text(data).rstrip(". ") + "."
                if part.bold.to_numpy().any() and not piece_note:
                    text += " " + _bold_note(name, part) + "."
                if spec.note:
                    text += " " + caption_text(spec.note)
            if piece_note:
                text += " " + piece_note
            if len(parts) > 1:
                text += f" (Part {j + 1} of {len(parts)}.)"
            sub_label = label if k == 0 and j == 0 else f"{label}:{k + 1}.{j + 1}"
            out.append(render(sub, caption=text, label=sub_label, size_index=size_index, wraps=wraps,
                               long=len(sub.cells) > LONG_TABLE_ROWS))
    return "\n".join(out)


def _bold_note(name: str, part: Part) -> str:
    if name.startswith("pairwise_"):
        return "Bold: a detectable difference (Holm-corrected, 5\\%)"
    if "family" in part.groups:
        return "Bold: each family's best"
    what = "family" if "family" in part.cells else "value"
    within = ", ".join({"latent_dim": "z", "dataset": "data set"}.get(g, g.replace("_", " ")) for g in part.groups)
    baseline = part.cells["family"].str.startswith("PCA").any() if "family" in part.cells else False
    return (f"Bold: the best {what} per column" + (f" at each {within}" if within else "")
            + (" (the PCA baseline not ranked)" if baseline else ""))

