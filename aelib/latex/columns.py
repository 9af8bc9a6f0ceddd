"""What each column of a result table is: its header, kind, precision, direction, and how a value is written."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aelib.criteria import split_criterion
from aelib.latex.text import escape


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
# Each criterion group's words (aelib.criteria decides a criterion's group and mode): its column header, its
# abbreviation, and the abbreviation before a mode ("gen. (add.)" for generative_additive).
_GROUP_WORDS = {"reconstruction": ("Recon-\nstruction", "recon.", "recon."),
                "ood_generalisation": ("OOD gener-\nalisation", "OOD gen.", "OOD gen."),
                "ood_detection": ("OOD\ndetection", "OOD det.", "OOD det."),
                "latent_structure": ("Latent\nstructure", "latent", "latent"),
                "generative": ("Generative", "generative", "gen.")}
INT_NAMES = re.compile(r"^(n|n_.*|.*_n|seed|depth|latent_dim|epochs_run|best_epoch|levels_used|n_params|"
                       r"effective_bottleneck|rank.*|.*_rank_.*|max_shift|count|.*_count|criteria_missing|of|missing)$")
LOWER = re.compile(r"(^|_)(rmse|frechet|stress|rank|rel_error|error|loss)($|_)|^rank|_rank$|mean_rank")
HIGHER = re.compile(r"(^|_)(auc|auroc|trustworthiness|continuity|neighborhood|shepard|probe|accuracy|"
                    r"label_consistency)($|_)")


def criterion_header(name: str) -> str | None:
    """Column header of criterion ``name`` ("Generative\\n(additive)"), or None when its group is not one of
    :data:`aelib.criteria.GROUPS`."""
    group, mode = split_criterion(name)
    if group not in _GROUP_WORDS:
        return None
    return _GROUP_WORDS[group][0] + (f"\n({mode.replace('_', ' ')})" if mode else "")


def _criterion_short(name: str) -> str:
    group, mode = split_criterion(name)
    if group not in _GROUP_WORDS:
        return escape(name.replace("_", " "))
    _, short, before_mode = _GROUP_WORDS[group]
    return f"{before_mode} ({mode[:3]}.)" if mode else short


def column_header(name: str) -> str:
    """The header of column ``name``: declared (:data:`HEADERS`), a criterion's, or its words capitalised."""
    if name in HEADERS:
        return HEADERS[name]
    m = re.fullmatch(r"z=(\d+)", name)
    if m:
        return f"$z={m.group(1)}$"
    criterion = criterion_header(name.removeprefix("rank_"))
    if criterion is not None:
        return criterion
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


def column_direction(name: str) -> str | None:
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


def column_kind(name: str, values: pd.Series) -> tuple[str, int]:
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


def format_number(v, kind: str, digits: int, *, scientific: bool = False) -> str:
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


def number_latex(text: str) -> str:
    m = re.fullmatch(r"(−?[\d.]+)×10\^(-?\d+)", text)
    if m:
        return f"${m.group(1).replace('−', '-')}\\times 10^{{{m.group(2)}}}$"
    return escape(text).replace(r"\textless{}", "$<$")


def interval_columns(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
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



def symmetric_interval(frame: pd.DataFrame, col: str, low: str, high: str) -> bool:
    both = frame[[col, low, high]].apply(pd.to_numeric, errors="coerce").dropna()
    if both.empty:
        return False
    up, down = both[high] - both[col], both[col] - both[low]
    return bool(np.allclose(up, down, rtol=1e-6, atol=1e-12))

