"""How a profile's training splits into sessions of a given length (``aelib plan``).

An estimate, not a measurement: a family's training time is its relative cost
to a converged model (``FAMILY_COST``, fcae = 1) times the number of models the
profile trains for it, times an absolute scale in seconds per unit of cost,
measured from a results folder's latent-sweep runs or given by the user.
Families are packed into the fewest sessions that fit (first-fit decreasing);
each session is one ``aelib run --families …`` command.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aelib.checks import check_float
from aelib.families import FAMILY_COST
from aelib.study.steps import numbers

# The steps each session runs for its families (the per-family steps); the study-wide ones (07 trains its
# own models, 08 summarises every family) run once, after the last session.
SESSION_STEPS = numbers("family")
FINAL_STEPS = numbers("study")
# The table whose runs give the absolute scale (train_seconds per family and z).
RUNS_TABLE = Path("tables") / "latent_sweep_runs.csv"


@dataclass(frozen=True)
class Scale:
    """Seconds per unit of ``FAMILY_COST`` and where that number comes from."""
    seconds_per_unit: float
    source: str
    converged: bool | None = None  # whether the measured runs trained to convergence (None: given, not measured)
    n_train: tuple[str, ...] = ()  # the measured runs' training-set sizes


@dataclass(frozen=True)
class Session:
    """One session of a plan: the families it trains and its estimated hours."""
    families: list[str]
    hours: float
    repeats: int = 1  # > 1: one family longer than a session; the same command resumes where the last stopped
    depth_search: bool = False  # carries step 01's depth search


def family_cost(family: str) -> float:
    """Relative cost of one converged model of ``family`` (fcae = 1; 1 for a family not yet measured)."""
    return FAMILY_COST.get(family, 1.0)


def tuning_runs(family: str, *, grids: Mapping[str, tuple[str, Sequence]], learning_rates: Sequence[float]) -> int:
    """Models step 01's tuning trains for ``family``, counted as ``aelib.study.tuning.candidates`` does."""
    n = (len(grids[family][1]) if family in grids else 1) * max(1, len(learning_rates))
    return n if n > 1 else 0


def scale_from_runs(table: Path) -> Scale | None:
    """Seconds per unit of cost from a runs table: the sum of ``train_seconds`` over the sum of the
    runs' ``FAMILY_COST``, over the runs early stopping ended (all runs of a table written before
    training ran to convergence, flagged as such); None when there is no usable row."""
    if not table.is_file():
        return None
    with open(table, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    converged = bool(rows) and "stopped_by" in rows[0]
    if converged:
        rows = [r for r in rows if r.get("stopped_by") == "early_stopping"]
    seconds = units = 0.0
    used = 0
    n_train, sources, epochs = set(), set(), []
    for row in rows:
        try:
            value = float(row.get("train_seconds") or "nan")
        except ValueError:
            continue
        if not math.isfinite(value) or value <= 0 or not row.get("family"):
            continue
        seconds += value
        units += family_cost(row["family"])
        used += 1
        n_train.add(row.get("n_train_used") or "?")
        sources.add(row.get("data_source") or "?")
        try:
            epochs.append(float(row.get("epochs_run") or row.get("epochs_trained") or "nan"))
        except ValueError:
            pass
    if units <= 0:
        return None
    epochs = sorted(e for e in epochs if math.isfinite(e))
    median = f", median {epochs[len(epochs) // 2]:g} epochs" if epochs else ""
    runs = "converged runs" if converged else "runs NOT trained to convergence (no stopped_by column)"
    return Scale(seconds / units, f"{used} {runs} in {table} (n_train "
                                  f"{', '.join(sorted(n_train))}, data {', '.join(sorted(sources))}{median}; "
                                  "on the machine that trained them)", converged=converged,
                 n_train=tuple(sorted(n_train)))


def pack_sessions(hours: Mapping[str, float], capacity: float, *, first: float = 0.0) -> list[Session]:
    """Families into the fewest sessions of at most ``capacity`` hours (first-fit decreasing).

    Args:
        hours: estimated hours per family.
        capacity: hours one session may hold.
        first: hours session 1 carries before any family (step 01's depth search).

    Returns:
        Sessions in the order to run them, every family in exactly one. A family
        longer than ``capacity`` gets a session of its own, to repeat ``repeats`` times.

    Raises:
        ValueError: for a capacity that is not positive or negative hours.
    """
    check_float("capacity", capacity, above=0, note="hours per session")
    bad = {f: h for f, h in hours.items() if not h >= 0}
    if bad or not first >= 0:
        raise ValueError(f"Expected hours >= 0. Received: {bad or {'first': first}}")
    order = list(hours)
    bins: list[list[str]] = [[]]
    loads = [first]
    for family in sorted(order, key=lambda f: (-hours[f], order.index(f))):
        slot = next((i for i, load in enumerate(loads) if load + hours[family] <= capacity), None)
        if slot is None:
            if not bins[0] and len(bins) == 1 and first == 0.0:
                slot = 0  # an empty first session: a family longer than any session goes there
            else:
                bins.append([])
                loads.append(0.0)
                slot = len(bins) - 1
        bins[slot].append(family)
        loads[slot] += hours[family]
    if not bins[0] and len(bins) > 1:  # the depth search alone overfills a session: it goes with the lightest
        lightest = min(range(1, len(bins)), key=loads.__getitem__)
        loads[lightest] += loads[0]
        keep = [lightest] + [i for i in range(1, len(bins)) if i != lightest]
        bins, loads = [bins[i] for i in keep], [loads[i] for i in keep]
    return [Session(families=sorted(b, key=order.index), hours=load, repeats=max(1, math.ceil(load / capacity)),
                    depth_search=i == 0 and first > 0) for i, (b, load) in enumerate(zip(bins, loads)) if b]
