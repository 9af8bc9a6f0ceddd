"""LaTeX tables for the thesis: readable, compiling, and no wider than the text.

:func:`table_latex` turns a result table (the frame its CSV holds) into the
text of a ``.tex`` file to ``\\input``, through pandas' ``Styler.to_latex``:

- family keys become display names ("Contractive AE"), column names headers;
- each column gets its own precision (RMSE to 4 decimals, ranks and counts as
  integers, p-values in %), a value with its interval columns one cell
  ("0.2128 ± 0.0030" when the interval is symmetric, "3 [2, 4]" when not);
- the best value per column is bold where the column has a direction (lower
  or higher is better), compared within each z, data set, mode, … block;
- constant descriptive columns (data source, stand-in, interval) move to the
  caption, which is escaped (``_``, ``^``, ``%``, unicode) and says what the
  bold and the ± mean;
- the layout is chosen to fit :data:`TEXT_WIDTH_PT` (16 cm): smaller type
  (down to ``\\footnotesize``, 8 pt), long text in wrapping columns, then the
  columns split over several tables; long tables become ``longtable``.

The preamble the tables need is :data:`PREAMBLE` (booktabs and longtable;
array for wrapping columns). :func:`check_tables` compiles ``.tex`` files in
that preamble with pdflatex and reports errors and overfull lines, so that
``python -m aelib.latex results/quick/summary/*.tex`` checks a study's tables.
"""
from __future__ import annotations

import functools
import math
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

TEXT_WIDTH_PT = 455.24  # 16 cm in TeX points
LONG_TABLE_ROWS = 40  # more body rows than this: a longtable, which breaks across pages



@functools.lru_cache(maxsize=None)
def family_names(*, short: bool = False) -> dict[str, str]:
    """Display names of the families (from their classes, :func:`aelib.models.family_info`) and the PCA
    baseline, in the study's order; ``short``: the abbreviations, for tables that would not fit the names.
    Read on first use, so compiling tables (``python -m aelib.latex``) does not load the models."""
    from aelib.models import family_info, list_models

    return {**{f: getattr(family_info(f), "short_name" if short else "display_name") for f in list_models()},
            "pca": "PCA"}


def __getattr__(name: str):
    """``FAMILY_NAMES`` and ``FAMILY_SHORT``: :func:`family_names`, on first use."""
    if name in ("FAMILY_NAMES", "FAMILY_SHORT"):
        return family_names(short=name == "FAMILY_SHORT")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

PREAMBLE = r"""\documentclass{report}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage[a4paper,textwidth=16cm,vmargin=2.5cm]{geometry}
\usepackage{booktabs,longtable,multirow,siunitx,graphicx,xcolor,amsmath,array}
"""

# (command, font size in pt, \tabcolsep in pt): the sizes a table may be set in, largest first
SIZES = (("", 10.0, 6.0), (r"\small", 9.0, 5.0), (r"\footnotesize", 8.0, 4.0))
WRAP_MIN_PT = 90.0  # narrowest a wrapping text column is made
WRAP_FROM_CHARS = 28  # text columns whose longest cell is longer than this may wrap


def family_name(key: str, *, short: bool = False) -> str:
    """Display name of a family key ("conae" → "Contractive AE"); keeps a suffix such as
    " (baseline)", and returns unknown names unchanged."""
    text = str(key)
    names = family_names(short=short)
    head, sep, rest = text.partition(" ")
    if head in names:
        return names[head] + sep + rest
    return text


# ------------------------------------------------------------------ escaping

_UNICODE = {
    "±": r"$\pm$", "−": r"$-$", "×": r"$\times$", "·": r"$\cdot$", "≤": r"$\le$", "≥": r"$\ge$", "≈": r"$\approx$",
    "→": r"$\to$", "←": r"$\leftarrow$", "‖": r"$\|$", "∞": r"$\infty$", "√": r"$\surd$", "∈": r"$\in$",
    "α": r"$\alpha$", "β": r"$\beta$", "γ": r"$\gamma$", "δ": r"$\delta$", "ε": r"$\varepsilon$", "λ": r"$\lambda$",
    "μ": r"$\mu$", "ρ": r"$\rho$", "σ": r"$\sigma$", "τ": r"$\tau$", "Δ": r"$\Delta$", "Σ": r"$\Sigma$",
    "†": r"\dag{}", "‡": r"\ddag{}", "…": r"\dots{}", "–": "--", "—": "---", "\u2009": r"\,", "\u00a0": "~",
    "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}", "¹": r"\textsuperscript{1}",
    "⁻": r"\textsuperscript{$-$}",
    "‘": "`", "’": "'", "“": "``", "”": "''", "°": r"\textdegree{}",
}
_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}"}


def _char(c: str) -> str:
    if c in _SPECIAL:
        return _SPECIAL[c]
    if c in _UNICODE:
        return _UNICODE[c]
    if ord(c) < 128 or (ord(c) < 256 and unicodedata.category(c).startswith("L")):
        return c  # ASCII, and the Latin-1 letters T1 fonts have
    plain = unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode()
    return "".join(_SPECIAL.get(p, p) for p in plain)


def escape(text) -> str:
    """Plain text (a table cell) as LaTeX: every special character escaped, unicode symbols mapped."""
    return "".join(_char(c) for c in str(text))


def caption_text(text: str) -> str:
    """A caption as LaTeX. Plain text is escaped as :func:`escape` does, but ``$…$`` stays math, already escaped
    characters (``\\%``, ``\\_``, …) and commands (``\\textbf{…}``) stay as written, and ``^{…}``/``^x`` outside
    math become superscripts, so "a z^{-b}", "95\\%" and "rmse_mean" all compile."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "$":
            end = text.find("$", i + 1)
            if end > i:
                out.append(text[i:end + 1])
                i = end + 1
                continue
            out.append(r"\$")
        elif c == "\\" and i + 1 < n:
            m = re.match(r"\\([a-zA-Z]+)(\{[^{}]*\})*", text[i:])
            if m:  # a command and its arguments, as written
                out.append(m.group(0))
                i += len(m.group(0))
                continue
            out.append(text[i:i + 2] if text[i + 1] in "%_&#${} ," else r"\textbackslash{}")
            i += 2 if text[i + 1] in "%_&#${} ," else 1
            continue
        elif c == "^":
            m = re.match(r"\^(\{[^{}]*\}|[A-Za-z0-9+\-−]+)", text[i:])
            if m:
                inner = m.group(1).strip("{}").replace("−", "-")
                out.append("$^{" + re.sub(r"[^A-Za-z0-9+\-*/.,() ]", "", inner) + "}$")
                i += len(m.group(0))
                continue
            out.append(_char(c))
        else:
            out.append(_char(c))
        i += 1
    return "".join(out)


# ------------------------------------------------------------------ widths


# Computer Modern roman widths at 10 pt (em = 10 pt), for estimating how wide a column is set.
_LOWER = dict(zip("abcdefghijklmnopqrstuvwxyz", [5.0, 5.56, 4.44, 5.56, 4.44, 3.06, 5.0, 5.56, 2.78, 3.06, 5.28, 2.78,
                                                  8.33, 5.56, 5.0, 5.56, 5.28, 3.92, 3.94, 3.89, 5.56, 5.28, 7.22,
                                                  5.28, 5.28, 4.44]))
_OTHER = {" ": 3.33, ".": 2.78, ",": 2.78, ":": 2.78, ";": 2.78, "(": 3.89, ")": 3.89, "[": 2.78, "]": 2.78,
          "-": 3.33, "/": 5.0, "'": 2.78, "=": 7.78, "+": 7.78, "*": 5.0, "%": 8.33, "?": 4.72, "!": 2.78,
          "M": 9.17, "W": 10.28, "m": 8.33, "w": 7.22, "±": 7.78, "−": 7.78, "×": 7.78, "†": 4.44, "\u2009": 1.67,
          "–": 5.0, "—": 10.0, "<": 7.78, ">": 7.78, "≥": 7.78, "≤": 7.78, "…": 10.0, "·": 2.78}


def text_width(text: str, size_pt: float = 10.0, *, bold: bool = False) -> float:
    """Estimated width in pt of plain ``text`` set in Computer Modern at ``size_pt`` (slightly generous)."""
    width = 0.0
    for c in str(text):
        if c in _LOWER:
            width += _LOWER[c]
        elif c in _OTHER:
            width += _OTHER[c]
        elif c.isdigit():
            width += 5.0
        elif c.isupper():
            width += 7.5
        else:
            width += 5.5
    return width * size_pt / 10.0 * (1.12 if bold else 1.0) * 1.03


# ------------------------------------------------------------------ what each column is


@dataclass
class Column:
    """How one displayed column is formatted: ``kind`` is text, int, float, percent, general or interval."""
    name: str
    header: str
    kind: str = "float"
    digits: int = 4
    better: str | None = None  # "lower", "higher" or None (no bold)
    low: str | None = None  # interval columns folded into this one
    high: str | None = None
    wrap: bool = False

    @property
    def align(self) -> str:
        return "l" if self.kind == "text" else "r"


HEADERS = {
    "family": "Family", "family_a": "Family A", "family_b": "Family B", "latent_dim": "$z$", "seed": "Seed",
    "n": "$n$", "n_seeds": "Seeds", "mode": "Mode", "level": "Perturb.\n$p$", "dataset": "Data set",
    "measure": "Measure", "criterion": "Criterion", "depth": "Depth", "option": "Option", "value": "Value",
    "rmse_mean": "RMSE", "rmse": "RMSE", "val_rmse": "Val.\nRMSE", "learning_rate": "Learning\nrate",
    "label_consistency": "Label\nconsistency", "frechet": "Fréchet\ndistance", "rmse_slope": "RMSE\nslope",
    "label_consistency_slope": "Label cons.\nslope", "frechet_slope": "Fréchet\nslope", "levels_used": "Levels",
    "trustworthiness": "Trust-\nworthiness", "continuity": "Conti-\nnuity", "stress_seed": "Stress\n(seed)",
    "stress_scaled": "Stress\n(scaled)", "neighborhood_hit": "Neighb.\nhit",
    "neighborhood_hit_self": "Neighb.\nhit (self)", "shepard_goodness": "Shepard\ngoodness",
    "probe_logreg_accuracy": "Probe\nlog. reg.", "probe_knn_accuracy": "Probe\n$k$-NN",
    "diff": "Difference\n{[}95\\% CI{]}", "p": "$p$ (\\%)", "p_holm": "$p_{\\mathrm{Holm}}$\n(\\%)",
    "auroc": "AUROC", "n_params": "Parameters", "effective_bottleneck": "Effective\nbottleneck",
    "widths_rule": "Widths", "epochs_run": "Epochs", "best_epoch": "Best\nepoch", "stopped_by": "Stopped by",
    "chosen": "Chosen", "mean_rank": "Mean\nrank", "rank_overall": "Overall\nrank", "max_shift": "Max.\nshift",
    "rank": "Rank {[}95\\% CI{]}", "weight": "Weight", "better": "Better", "over": "Interval over",
    "n_z": "$z$ values", "a": "$a$", "b": "$b$", "c": "$c$", "r2": "$R^2$", "observed": "Observed",
    "predicted": "Predicted",
    "rel_error": "Rel. error\n(\\%)", "heldout_n": "Held out", "heldout_mean_abs_rel_error": "Mean |rel.\nerror| (\\%)",
    "heldout_max_abs_rel_error": "Max |rel.\nerror| (\\%)", "experiment": "Experiment", "swept": "Swept",
    "auc": "AUC", "auc_delta": "$\\Delta$AUC", "auc_rare": "AUC (rare)", "auc_rare_delta": "$\\Delta$AUC\n(rare)",
    "n_synthetic_mean": "Synthetic\nimages", "gate": "Gate", "reference": "Reference",
    "reference_rmse": "Reference\nRMSE",
    "what is ranked": "What is ranked", "interval over": "Interval over", "note": "Note",
}
CRITERIA = {"reconstruction": "Recon-\nstruction", "ood_generalisation": "OOD gener-\nalisation",
            "ood_detection": "OOD\ndetection", "latent_structure": "Latent\nstructure",
            "generative_additive": "Generative\n(additive)", "generative_relative": "Generative\n(relative)"}
# Descriptive columns: when one value throughout, said in the caption instead of a column.
DESCRIPTIVE = ("data_source", "stand_in", "data_stand_in", "feature_model", "ci_method", "interval", "over",
               "widths_rule", "dataset", "n_train_used", "n_test_used", "latent_dim", "better", "weight")
HIDDEN = ("setting", "decision", "reject", "run_dir", "base_setting")  # never shown (reject: shown as bold)
# Row keys: blocks of equal keys are compared for the best value (families within a block).
GROUP_KEYS = ("criterion", "measure", "dataset", "mode", "latent_dim", "level", "seed")
INT_NAMES = re.compile(r"^(n|n_.*|.*_n|seed|depth|latent_dim|epochs_run|best_epoch|levels_used|n_params|"
                       r"effective_bottleneck|rank.*|.*_rank_.*|max_shift|count|.*_count|criteria_missing|of|missing)$")
LOWER = re.compile(r"(^|_)(rmse|frechet|stress|rank|rel_error|error|loss)($|_)|^rank|_rank$|mean_rank")
HIGHER = re.compile(r"(^|_)(auc|auroc|trustworthiness|continuity|neighborhood|shepard|probe|accuracy|"
                    r"label_consistency)($|_)")


def _criterion_short(name: str) -> str:
    short = {"reconstruction": "recon.", "ood_generalisation": "OOD gen.", "ood_detection": "OOD det.",
             "latent_structure": "latent", "generative": "generative", "generative_additive": "gen. (add.)",
             "generative_relative": "gen. (rel.)"}
    return short.get(name, escape(name.replace("_", " ")))


def _header(name: str) -> str:
    if name in HEADERS:
        return HEADERS[name]
    m = re.fullmatch(r"z=(\d+)", name)
    if m:
        return f"$z={m.group(1)}$"
    if name.removeprefix("rank_") in CRITERIA:
        return CRITERIA[name.removeprefix("rank_")]
    if name.startswith("rank_without_"):
        return "Without\n" + _criterion_short(name.removeprefix("rank_without_"))
    m = re.fullmatch(r"rank_with_(.+)_for_(.+)", name)
    if m:
        return f"{_criterion_short(m.group(1))}\nfor {_criterion_short(m.group(2))}"
    words = name.replace("_", " ")
    for short, shown in (("rmse", "RMSE"), ("auroc", "AUROC"), ("auc", "AUC"), ("ood", "OOD"), ("ci95", "95% CI"),
                         ("pca", "PCA"), ("id ", "ID ")):
        words = re.sub(rf"\b{short.strip()}\b", shown.strip(), words)
    words = words[:1].upper() + words[1:]
    return escape(words)


def _direction(name: str) -> str | None:
    if name in ("label_consistency_slope",):
        return "higher"  # less negative: degrades less
    if name in ("n_params", "effective_bottleneck", "diff", "level", "value", "weight", "n", "seed", "latent_dim",
                "r2", "a", "b", "c", "observed", "predicted", "n_synthetic_mean", "max_shift") or name.startswith("n_"):
        return None
    if name.endswith(("_std", "_low", "_high")):
        return None
    if LOWER.search(name):
        return "lower"
    if HIGHER.search(name):
        return "higher"
    return None


def _kind(name: str, values: pd.Series) -> tuple[str, int]:
    """(kind, digits) of a column from its name and values."""
    if pd.api.types.is_bool_dtype(values) or (values.notna().any() and
                                              all(isinstance(v, (bool, np.bool_)) for v in values.dropna())):
        return "bool", 0
    if not pd.api.types.is_numeric_dtype(values):
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum() and values.notna().any():
            values = numeric  # numbers stored as text
        else:
            return "text", 0
    finite = values.dropna()
    finite = finite[np.isfinite(finite.astype(float))]
    if name in ("p", "p_holm") or name.startswith("p_"):
        return "percent", 1
    if name.endswith("rel_error"):
        return "percent", 1
    whole = finite.empty or bool(np.all(np.isclose(finite, np.round(finite))))
    if INT_NAMES.match(name) and whole:
        return "int", 0
    if name == "mean_rank":
        return "float", 2
    if name in ("level", "value", "learning_rate", "weight") or name.endswith("_lr"):
        return "general", 4
    if re.search(r"(^|_)rmse($|_)", name) or name.endswith("_slope") or name in ("a", "b", "c", "r2", "diff"):
        return "float", 4
    if re.search(r"frechet|seconds", name):
        return "float", 2
    if HIGHER.search(name) or "stress" in name:
        return "float", 3
    if whole and (finite.abs() >= 1).all() and not finite.empty:
        return "int", 0
    big = float(finite.abs().max()) if not finite.empty else 0.0
    return "float", (4 if big < 10 else 2 if big < 1000 else 0)


def _number(v, kind: str, digits: int, *, scientific: bool = False) -> str:
    """A value as plain text with a true minus sign and thin-space thousands; '–' when missing.
    ``scientific``: a column of tiny values, shown as 8.6×10^-6 rather than 0.0000."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if kind == "bool":
        return "yes" if bool(v) else "no"
    v = float(v)
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if kind == "percent":
        pct = 100 * v
        text = "<0.1" if 0 < pct < 0.05 else f"{pct:.{digits}f}"
    elif kind == "int":
        text = f"{round(v):,}".replace(",", "\u2009") if abs(v) >= 10000 else f"{round(v)}"
    elif kind == "general":
        text = f"{v:.{digits}g}"
    elif scientific and v != 0:
        mant, exp = f"{v:.1e}".split("e")
        return f"{mant.replace('-', '−')}×10^{int(exp)}"
    else:
        text = f"{v:,.{digits}f}".replace(",", "\u2009") if abs(v) >= 10000 else f"{v:.{digits}f}"
        if float(text.replace("\u2009", "")) == 0:
            text = text.lstrip("-")  # no "-0.0000"
    return text.replace("-", "−")


def _number_latex(text: str) -> str:
    m = re.fullmatch(r"(−?[\d.]+)×10\^(-?\d+)", text)
    if m:
        return f"${m.group(1).replace('−', '-')}\\times 10^{{{m.group(2)}}}$"
    return escape(text).replace(r"\textless{}", "$<$")


def _interval_columns(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Value column → its (low, high) columns: x with x_ci95_low/high or x_low/high; ``diff`` with ci95_low/high;
    ``auc_mean`` with auc_ci95_low/high."""
    found = {}
    for col in frame.columns:
        for low_sfx, high_sfx in (("_ci95_low", "_ci95_high"), ("_low", "_high")):
            if col.endswith(low_sfx):
                base = col[: -len(low_sfx)]
                high = base + high_sfx
                if high not in frame:
                    continue
                for value in (base, f"{base}_mean", base.removesuffix("_mean")):
                    if value in frame and value not in found:
                        found[value] = (col, high)
                        break
    if "ci95_low" in frame and "ci95_high" in frame:  # a bare interval: of the column just before it
        before = list(frame.columns)[max(0, list(frame.columns).index("ci95_low") - 1)]
        value = "diff" if "diff" in frame else before
        if value not in ("ci95_low", "ci95_high") and pd.api.types.is_numeric_dtype(frame[value]):
            found[value] = ("ci95_low", "ci95_high")
    return found


# ------------------------------------------------------------------ table specifications


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
    return [(ranks, "Cells: rank (1 = best) with its 95\\% bootstrap interval in brackets where one was computed; "
                    "bold: the best per column.", {}),
            (values, "The value each criterion ranks (what it is, and which direction is better: the criteria "
                     "table); bold: rank 1.", better)]


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
        rank = {f: i for i, f in enumerate(family_names())}
        return col.map(lambda f: rank.get(str(f).split(" ")[0], len(rank)))
    return col


# ------------------------------------------------------------------ rendering


@dataclass
class _Part:
    """One table to set: formatted plain cells, which are bold, and its columns."""
    cells: pd.DataFrame  # plain text
    bold: pd.DataFrame  # bool
    columns: list[Column]
    blank_repeats: int = 0  # leading key columns whose repeats are left blank
    breaks: list[int] = field(default_factory=list)  # body rows before which a little space goes
    groups: Sequence[str] = ()  # the blocks the best values were found within
    keys: Sequence[str] = ()  # identifying columns, repeated in every part when the columns are split


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


DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "emnist_letters": "EMNIST letters",
                 "kmnist": "KMNIST", "emnist": "EMNIST"}
NOTE_LABELS = {"data_source": "data source", "feature_model": "feature model", "ci_method": "interval",
               "interval": "interval", "over": "interval over", "widths_rule": "widths rule", "dataset": "data set",
               "n_train_used": "training images", "n_test_used": "test images", "better": "better",
               "weight": "weight"}


def _prepare(frame: pd.DataFrame, spec: Spec, *, short_names: bool,
             better: Mapping[str, str] | None = None) -> tuple[_Part, list[str]]:
    """Format ``frame`` (one table) into plain cells; return it and caption notes (constant descriptive columns)."""
    notes = []
    frame = frame.copy()
    if "reject" in frame:  # a detectable pair: its difference is shown bold
        frame["__reject"] = frame["reject"].astype(str).str.lower().isin(["true", "1", "1.0"])
    intervals = _interval_columns(frame)
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

    intervals = _interval_columns(frame)
    folded = {c for pair in intervals.values() for c in pair}
    order = [k for k in spec.keys if k in frame] + [c for c in frame.columns if c not in spec.keys]
    columns = []
    for col in order:
        if col in folded:
            continue
        kind, digits = _kind(col, frame[col])
        direction = (better or {}).get(col, spec.better.get(col, _direction(col)))
        if re.fullmatch(r"z=\d+", col) and spec.pattern_better:
            direction = spec.pattern_better
        elif kind in ("text", "bool"):
            direction = None
        if col == "value" and "better" in frame:
            direction = "row"
        low, high = intervals.get(col, (None, None))
        header = _header(col)
        if col.endswith("_mean") and col not in HEADERS and col.removesuffix("_mean") in HEADERS:
            header = HEADERS[col.removesuffix("_mean")]
        if low and "CI" not in header and not _symmetric(frame, col, low, high):
            header += "\n{[}95\\% CI{]}"
        columns.append(Column(col, header, kind, digits, direction, low, high))

    cells = pd.DataFrame(index=frame.index)
    for col in columns:
        if col.kind == "text":
            text = frame[col.name].map(lambda v: "–" if pd.isna(v) else str(v))
            if col.name in ("family", "family_a", "family_b"):
                text = text.map(lambda v: family_name(v, short=short_names))
            elif col.name == "criterion":
                text = text.map(lambda v: CRITERIA.get(v, v).replace("-\n", "").replace("\n", " "))
            elif col.name == "dataset":
                text = text.map(lambda v: DATASET_NAMES.get(v, v))
            cells[col.name] = text
            col.wrap = bool(len(text)) and text.map(len).max() > WRAP_FROM_CHARS
            continue
        values = frame[col.name] if col.kind == "bool" else pd.to_numeric(frame[col.name], errors="coerce")
        finite = values[np.isfinite(values)] if col.kind != "bool" else values
        scientific = (col.kind == "float" and not finite.empty and 0 < finite.abs().max() < 10 ** -col.digits)
        shown = []
        symmetric = col.low is not None and _symmetric(frame, col.name, col.low, col.high)
        lows = pd.to_numeric(frame[col.low], errors="coerce") if col.low else None
        highs = pd.to_numeric(frame[col.high], errors="coerce") if col.high else None
        for i in frame.index:
            text = _number(values.at[i], col.kind, col.digits, scientific=scientific)
            if col.low is not None:
                lo, hi = lows.at[i], highs.at[i]
                if pd.notna(lo) and pd.notna(hi):
                    if symmetric:
                        text += " ± " + _number(hi - values.at[i], col.kind, col.digits, scientific=scientific)
                    else:
                        text += (f" [{_number(lo, col.kind, col.digits, scientific=scientific)}, "
                                 f"{_number(hi, col.kind, col.digits, scientific=scientific)}]")
            shown.append(text)
        cells[col.name] = shown

    if any(c.low and _symmetric(frame, c.name, c.low, c.high) for c in columns):
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
    part = _Part(cells, bold, columns, groups=[g for g in groups if g in frame], keys=keys)
    if keys and len(frame) > 12:
        lead = keys[:-1]
        part.blank_repeats = len(lead)
        if lead:
            first = frame[lead[0]].astype(str)
            part.breaks = [i for i in range(1, len(frame)) if first.iloc[i] != first.iloc[i - 1]]
    return part, notes


def _symmetric(frame: pd.DataFrame, col: str, low: str, high: str) -> bool:
    both = frame[[col, low, high]].apply(pd.to_numeric, errors="coerce").dropna()
    if both.empty:
        return False
    up, down = both[high] - both[col], both[col] - both[low]
    return bool(np.allclose(up, down, rtol=1e-6, atol=1e-12))


def _header_lines(header: str) -> list[str]:
    return header.split("\n")


def _plain(latex: str) -> str:
    """Rough plain text of a header written in LaTeX, for its width."""
    text = re.sub(r"\\mathrm\{([^}]*)\}", r"\1", latex)
    text = re.sub(r"\\(Delta|pm|times)", "X", text)
    text = text.replace("{[}", "[").replace("{]}", "]").replace("\\%", "%").replace("$", "")
    return re.sub(r"[\\{}_^]", "", text)


def _widths(part: _Part, size: float, *, wrap_to: float | None = None) -> list[float]:
    widths = []
    for col in part.columns:
        cell = max((text_width(t, size, bold=b) for t, b in zip(part.cells[col.name], part.bold[col.name])), default=0)
        head = max(text_width(_plain(line), size) for line in _header_lines(col.header))
        if col.wrap and wrap_to is not None:
            cell = min(cell, wrap_to)
            head = min(head, wrap_to)
        widths.append(max(cell, head))
    return widths


def _layout(part: _Part, budget: float, *, sizes: Sequence[int] | None = None) -> tuple[int, dict[str, float]] | None:
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


def _split_columns(part: _Part, budget: float) -> list[_Part]:
    """Column chunks that each fit, as even in width as they can be, every chunk repeating the leading key
    (text) columns."""
    keys = [c for c in part.columns if c.name in part.keys]
    rest = [c for c in part.columns if c not in keys]
    _, size, sep = SIZES[-1]
    budget *= 0.97
    key_width = sum(_widths(_Part(part.cells, part.bold, keys), size)) + 2 * sep * len(keys)
    widths = [_widths(_Part(part.cells, part.bold, [c]), size, wrap_to=WRAP_MIN_PT)[0] + 2 * sep for c in rest]
    room = max(budget - key_width, max(widths, default=0.0))
    n = 1
    while True:  # the fewest chunks whose widest fits: contiguous chunks minimising the widest (small n, m)
        best = _even_chunks(widths, n)
        if max(sum(widths[a:b]) for a, b in best) <= room or n >= len(rest):
            break
        n += 1
    blank = part.blank_repeats if len(keys) >= part.blank_repeats else 0
    return [_Part(part.cells, part.bold, keys + rest[a:b], blank, part.breaks, part.groups, part.keys)
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


def _render(part: _Part, *, caption: str, label: str, size_index: int, wraps: Mapping[str, float],
            long: bool) -> str:
    """LaTeX of one table through ``Styler.to_latex``."""
    size_cmd, size, sep = SIZES[size_index]
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
        return _number_latex(text) if kind not in ("text",) else escape(text)

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
        fitted = _layout(part, text_width)
        if fitted is None:  # abbreviated family names, if that is enough; else the full names, split
            short, short_notes = _prepare(piece, spec, short_names=True, better=better)
            if _layout(short, text_width) is not None:
                part, notes, fitted = short, short_notes, _layout(short, text_width)
        if fitted is not None:
            parts = [(part, fitted)]
        else:  # split the columns; every part in the same type size, the largest all of them fit in
            chunks = _split_columns(part, text_width)
            size_index = max((_layout(p, text_width) or (len(SIZES) - 1, {}))[0] for p in chunks)
            parts = [(p, (size_index, (_layout(p, text_width, sizes=[size_index]) or (size_index, {}))[1]))
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
            out.append(_render(sub, caption=text, label=sub_label, size_index=size_index, wraps=wraps,
                               long=len(sub.cells) > LONG_TABLE_ROWS))
    return "\n".join(out)


def _bold_note(name: str, part: _Part) -> str:
    if name.startswith("pairwise_"):
        return "Bold: a detectable difference (Holm-corrected, 5\\%)"
    if "family" in part.groups:
        return "Bold: each family's best"
    what = "family" if "family" in part.cells else "value"
    within = ", ".join({"latent_dim": "z", "dataset": "data set"}.get(g, g.replace("_", " ")) for g in part.groups)
    baseline = part.cells["family"].str.startswith("PCA").any() if "family" in part.cells else False
    return (f"Bold: the best {what} per column" + (f" at each {within}" if within else "")
            + (" (the PCA baseline not ranked)" if baseline else ""))


# ------------------------------------------------------------------ checking


@dataclass
class TableCheck:
    """What compiling one ``.tex`` file gave: LaTeX errors and the largest overfull line (pt)."""
    path: Path
    errors: list[str]
    overfull_pt: float

    @property
    def ok(self) -> bool:
        return not self.errors


def pdflatex() -> str | None:
    """The pdflatex executable, or None when it is not installed."""
    return shutil.which("pdflatex")


def check_tables(paths: Sequence[str | Path], *, timeout: float = 300.0,
                 pdf: str | Path | None = None) -> list[TableCheck]:
    """Compile every ``.tex`` in ``paths`` in one document with :data:`PREAMBLE`; per file, its errors and overfull.
    ``pdf``: where to keep the compiled document (to look at), if anywhere.

    Raises:
        FileNotFoundError: pdflatex is not installed, or a path does not exist.
    """
    exe = pdflatex()
    if exe is None:
        raise FileNotFoundError("pdflatex not found: install texlive-latex-recommended, texlive-latex-extra, "
                                "texlive-science and texlive-fonts-recommended (apt-packages.txt)")
    paths = [Path(p).resolve() for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"No such table file(s): {missing}")
    body = "".join(f"\\typeout{{AELIB-TABLE {i}}}\n\\input{{{p.as_posix()}}}\n\\clearpage\n"
                   for i, p in enumerate(paths))
    document = PREAMBLE + "\\begin{document}\n" + body + "\\typeout{AELIB-TABLE END}\n\\end{document}\n"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tables.tex").write_text(document, encoding="utf-8")
        for _ in range(2):  # longtable settles its column widths over two runs (the .aux file)
            subprocess.run([exe, "-interaction=nonstopmode", "-no-shell-escape", "tables.tex"], cwd=tmp,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout / 2, check=False)
        log = (Path(tmp) / "tables.log").read_text(encoding="latin-1", errors="replace")
        if pdf is not None and (Path(tmp) / "tables.pdf").is_file():
            shutil.copyfile(Path(tmp) / "tables.pdf", pdf)
    results = [TableCheck(p, [], 0.0) for p in paths]
    current = None
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"AELIB-TABLE (\d+|END)", line)
        if m:
            current = None if m.group(1) == "END" else results[int(m.group(1))]
            continue
        if current is None:
            if line.startswith("!"):
                results[0].errors.append("(preamble) " + line)
            continue
        if line.startswith("!"):
            current.errors.append(" ".join([line] + lines[i + 1:i + 3]).strip())
        m = re.search(r"Overfull \\hbox \(([\d.]+)pt too wide\)", line)
        if m:
            current.overfull_pt = max(current.overfull_pt, float(m.group(1)))
    if not any("AELIB-TABLE END" in line for line in lines):
        results[-1].errors.append("pdflatex stopped before the end of the document")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    paths = list(argv if argv is not None else sys.argv[1:])
    if not paths or any(p in ("-h", "--help") for p in paths):
        print("usage: python -m aelib.latex TABLE.tex [...]  (compiles each table in a thesis preamble; "
              "exit 1 when one fails or is wider than the text)", file=sys.stderr)
        return 2
    try:
        checks = check_tables(paths)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"aelib.latex: {err}", file=sys.stderr)
        return 2
    bad = 0
    for check in checks:
        status = "ok" if check.ok and check.overfull_pt <= 1.0 else "FAIL"
        bad += status != "ok"
        print(f"{status:4}  {check.path}  overfull {check.overfull_pt:.1f}pt" +
              ("".join(f"\n      {e}" for e in check.errors)))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
