"""The report's findings in words, generated from the study's tables (step 8).

Pure functions: each takes DataFrames as the earlier steps and :mod:`aelib.report`
write them and returns Markdown, so the sentences stay true when the results
change. Two kinds of finding:

- per ranking criterion (``summary/ranking_by_criterion.csv`` and the paired
  tables ``summary/pairwise_*.csv``): the best family, the families not
  detectably different from it under the pairwise table's Holm decision, and
  how far behind the rest are, with the 95 % interval and what it is over;
- per claim of the seed study (depth 3; the VAE's latent space at z = 100; the
  augmentation peak at 10 %): reproduced, contradicted or not testable here,
  with the numbers.

A table that is missing gives a "cannot test" sentence naming the step that
writes it. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from aelib.stats import t_interval

# The seed study's claims (STUDY.md §2, §4, §6).
SEED_DEPTH = 3
SEED_LATENT_Z = 100
SEED_LATENT_FAMILY = "vae"
SEED_PEAK_P = 0.10
AUGMENTATION_EXPERIMENT = "topup_perturbation"
#: Level of the pairwise tables' Holm-corrected decisions (aelib.stats).
ALPHA = 0.05

# The step that writes each criterion's table, for "cannot test" sentences; generative_<mode> is "generative".
CRITERION_STEPS: dict[str, str] = {"reconstruction": "02 (latent sweep)", "ood_generalisation": "05 (complementary data)",
                                   "ood_detection": "05 (complementary data)", "latent_structure": "04 (latent space)",
                                   "generative": "06 (generative capacity)"}
CRITERION_TITLES: dict[str, str] = {"reconstruction": "Reconstruction", "ood_generalisation": "OOD generalisation",
                                    "ood_detection": "OOD detection", "latent_structure": "Latent structure",
                                    "generative": "Generative capacity"}
# What each criterion's pairwise table compares, per block.
BLOCK_QUANTITIES: dict[str, str] = {"reconstruction": "test RMSE", "ood_generalisation": "RMSE",
                                    "ood_detection": "ROC AUC", "latent_structure": "",
                                    "generative": "RMSE slope against p"}
# Direction of each projection measure (True: higher is better); mirrors aelib.report.LATENT_MEASURES, which the
# report passes in (importing aelib.report here would load TensorFlow).
LATENT_DIRECTIONS: dict[str, bool] = {"trustworthiness": True, "continuity": True, "stress_scaled": False,
                                      "neighborhood_hit": True, "shepard_goodness": True}
# How many tied families a sentence names one by one before it summarises them.
MAX_LISTED = 3
# A file older than ``since`` by more than this many seconds is a leftover of an earlier summary.
_MTIME_SLACK_S = 2.0

PAIRWISE_REQUIRED = ("latent_dim", "family_a", "family_b", "diff", "ci95_low", "ci95_high", "p", "reject", "over")
RANKING_REQUIRED = ("criterion", "family", "value", "rank")


# ------------------------------------------------------------------ formatting


def _num(x: float, digits: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    text = f"{x:.{digits}f}" if abs(x) < 1000 else f"{x:.4g}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # never "-0.0000"


def _interval(low: float, high: float, digits: int = 4) -> str:
    return f"[{_num(low, digits)}, {_num(high, digits)}]"


def _percent(p: float) -> str:
    return f"{p * 100:g} %"


def _names(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _z_list(zs: Sequence) -> str:
    return ", ".join(str(int(z)) for z in zs)


def _check_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"Expected {what} as a pandas DataFrame. Received: {type(frame).__name__}")
    missing = [c for c in required if c not in frame]
    if missing:
        raise ValueError(f"Expected {what} with columns {list(required)}. Received columns {list(frame.columns)} "
                         f"(missing {missing})")


def _as_bool(values: pd.Series) -> pd.Series:
    """``reject`` as written to CSV: booleans, or the strings True/False."""
    if values.dtype == bool:
        return values
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])


# ------------------------------------------------------------------ one block of a pairwise table


def block_comparison(rows: pd.DataFrame, *, higher_is_better: bool) -> dict:
    """The best family of one block of a pairwise table (every pair of its families, ``diff`` = a − b) and how
    every other family compares with it.

    Returns:
        ``best``; ``tested`` (the block has p-values); ``others``: one dict per other family, worst last, with
        ``family``, ``gap`` (its value minus the best's, mean over the units), ``low``/``high`` (the 95 % interval
        of that gap) and ``detectable`` (the pair's Holm decision).

    Raises:
        ValueError: missing columns, or a block whose pairs do not connect its families.
    """
    _check_columns(rows, ("family_a", "family_b", "diff", "ci95_low", "ci95_high", "p", "reject"), "a pairwise block")
    if rows.empty:
        raise ValueError("Expected at least one pair in a pairwise block. Received: an empty table")
    reject = _as_bool(rows["reject"])
    # each family's value relative to the first one: mean differences add up (mean of a − b = mean a − mean b)
    anchor = str(rows["family_a"].iloc[0])
    offset = {anchor: 0.0}
    pairs = list(zip(rows["family_a"].astype(str), rows["family_b"].astype(str), rows["diff"].astype(float)))
    for _ in range(len(pairs)):
        grew = False
        for a, b, d in pairs:
            if a in offset and b not in offset:
                offset[b], grew = offset[a] - d, True
            elif b in offset and a not in offset:
                offset[a], grew = offset[b] + d, True
        if not grew:
            break
    families = set(rows["family_a"].astype(str)) | set(rows["family_b"].astype(str))
    if set(offset) != families:
        raise ValueError(f"Expected the pairs of one block to connect all its families. Received pairs that leave "
                         f"{sorted(families - set(offset))} unconnected to {anchor}")
    best = sorted(offset, key=lambda f: (-offset[f] if higher_is_better else offset[f], f))[0]
    others = []
    for row, rej in zip(rows.itertuples(index=False), reject):
        a, b = str(row.family_a), str(row.family_b)
        if best not in (a, b):
            continue
        if a == best:  # diff = best − other: the other's gap is its negative
            other, gap, low, high = b, -float(row.diff), -float(row.ci95_high), -float(row.ci95_low)
        else:
            other, gap, low, high = a, float(row.diff), float(row.ci95_low), float(row.ci95_high)
        others.append({"family": other, "gap": gap, "low": low, "high": high, "detectable": bool(rej)})
    others.sort(key=lambda o: (abs(o["gap"]), o["family"]))
    return {"best": best, "tested": bool(rows["p"].notna().any()), "others": others}


def _shortfall(o: dict, higher_is_better: bool) -> tuple[float, float, float]:
    """How much worse ``o`` is than the best, in the measure's own direction made positive, with its interval."""
    if higher_is_better:
        return -o["gap"], -o["high"], -o["low"]
    return o["gap"], o["low"], o["high"]


def block_sentence(rows: pd.DataFrame, *, higher_is_better: bool, label: str, quantity: str = "") -> str:
    """One sentence for one tested block: ``"z = 10: **cae** lowest test RMSE; rae not detectably different
    (higher by 0.0000 [-0.0021, 0.0020]); every other family detectably higher, by at least 0.0074 (dae, …)"``.
    For a block without p-values (one seed) the sentence says the order is untested."""
    found = block_comparison(rows, higher_is_better=higher_is_better)
    best, others = found["best"], found["others"]
    most = "highest" if higher_is_better else "lowest"
    worse = "lower" if higher_is_better else "higher"
    head = f"{label}: **{best}** {most}" + (f" {quantity}" if quantity else "")
    if not others:
        return head + " (the only family)."
    if not found["tested"]:
        runner = others[0]
        gap, _, _ = _shortfall(runner, higher_is_better)
        return head + f", {runner['family']} next, {worse} by {_num(gap)} (untested)."
    tied = [o for o in others if not o["detectable"]]
    apart = [o for o in others if o["detectable"]]
    parts = [head]
    if tied:
        shown = [(o, _shortfall(o, higher_is_better)) for o in tied]
        if len(tied) <= MAX_LISTED:
            detail = "; ".join(f"{o['family']} {worse} by {_num(s)} {_interval(lo, hi)}" for o, (s, lo, hi) in shown)
        else:
            o, (s, lo, hi) = max(shown, key=lambda x: x[1][0])
            detail = f"up to {_num(s)} {_interval(lo, hi)}, {o['family']}"
        names = _names([o["family"] for o in tied])
        parts.append(f"{names} {'is' if len(tied) == 1 else 'are'} not detectably different ({detail})")
    if apart:
        o = apart[0]
        s, lo, hi = _shortfall(o, higher_is_better)
        if len(apart) == 1:
            parts.append(f"{o['family']} is detectably {worse}, by {_num(s)} {_interval(lo, hi)}")
        else:
            parts.append(f"every other family is detectably {worse}, by at least {_num(s)} ({o['family']}: "
                         f"{_interval(lo, hi)})")
    else:
        parts.append("no family is detectably different from it")
    return "; ".join(parts) + "."


# ------------------------------------------------------------------ one criterion


def _criterion_group(name: str) -> str:
    return "generative" if name.startswith("generative") else name


def _pairwise_for(criterion: str, pairwise: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    group = _criterion_group(criterion)
    table = pairwise.get(group) if pairwise else None
    if table is None or table.empty:
        return pd.DataFrame()
    if group == "generative" and "mode" in table:
        mode = criterion.removeprefix("generative_")
        table = table[table["mode"].astype(str) == mode]
    return table


def _block_detail(table: pd.DataFrame) -> str | None:
    return next((c for c in ("dataset", "measure") if c in table), None)


def criterion_finding(criterion: str, ranking: pd.DataFrame, pairwise: pd.DataFrame | None = None, *,
                      what: str = "", over: str = "",
                      latent_directions: Mapping[str, bool] | None = None) -> str:
    """A paragraph on one criterion: which family ranks first (``ranking``: the rows of
    ``summary/ranking_by_criterion.csv``), then per z the best family of the paired table
    (``summary/pairwise_<criterion>.csv``, already restricted to this criterion's mode for the generative ones)
    with the families tied with it under the Holm decision.

    Args:
        criterion: the criterion's name (``reconstruction``, ``generative_additive``, …).
        ranking: rows ``criterion, family, value, rank[, rank_low, rank_high, better, over]``; other
            criteria's rows are ignored.
        pairwise: the criterion's pairwise table, or None/empty when there is none.
        what, over: what is ranked and what its rank interval is over (``summary/ranking_criteria.csv``).
        latent_directions: measure → higher is better, for the latent-structure blocks
            (default :data:`LATENT_DIRECTIONS`).

    Raises:
        ValueError: a table without the columns named above.
    """
    _check_columns(ranking, RANKING_REQUIRED, "the ranking by criterion")
    group = _criterion_group(criterion)
    title = CRITERION_TITLES.get(group, criterion.replace("_", " ").capitalize())
    if criterion.startswith("generative_"):
        title += f", {criterion.removeprefix('generative_')} perturbation"
    rows = ranking[ranking["criterion"] == criterion].sort_values(["rank", "family"])
    if rows.empty:
        step = CRITERION_STEPS.get(group, "that writes it")
        return f"**{title}**: cannot test: step {step} did not run (no ranking for `{criterion}`).\n"
    better = str(rows["better"].iloc[0]) if "better" in rows else "lower"
    higher = better == "higher"
    over = over or (str(rows["over"].iloc[0]) if "over" in rows else "")
    firsts = rows[rows["rank"] == rows["rank"].min()]
    first_names = list(firsts["family"].astype(str))
    value = float(firsts["value"].iloc[0])
    text = f"**{title}** ({what + '; ' if what else ''}{better} is better): "
    text += f"**{_names(first_names)}** rank{'s' if len(first_names) == 1 else ''} first ({value:.4g}"
    low = firsts["rank_low"].iloc[0] if "rank_low" in firsts else math.nan
    if pd.notna(low):
        text += f", rank interval {int(low)}–{int(firsts['rank_high'].iloc[0])} over {over or 'resamples'}"
        reach = rows[(rows["rank_low"] <= 1) & ~rows["family"].isin(first_names)] if "rank_low" in rows else rows[:0]
        text += ")"
        if not reach.empty:
            text += f"; the rank interval reaches 1 also for {_names(list(reach['family'].astype(str)))}"
    else:
        text += "; " + (over if "no interval" in over else "no rank interval") + ")"
    rest = rows[~rows["family"].isin(first_names)]
    if not rest.empty:
        text += f"; next {rest['family'].iloc[0]} ({float(rest['value'].iloc[0]):.4g})"
    text += ".\n"
    if pairwise is None or pairwise.empty:
        return text + f"\nNo paired table for `{criterion}`: no per-z comparison.\n"
    _check_columns(pairwise, PAIRWISE_REQUIRED, f"the pairwise table of {criterion}")
    return text + _blocks_text(group, pairwise, higher_is_better=higher,
                               latent_directions=LATENT_DIRECTIONS if latent_directions is None else latent_directions)


def _blocks_text(group: str, table: pd.DataFrame, *, higher_is_better: bool,
                 latent_directions: Mapping[str, bool]) -> str:
    detail = _block_detail(table)
    keys = ["latent_dim", *([detail] if detail else []), "over"]
    quantity = BLOCK_QUANTITIES.get(group, "")
    tested_lines, untested_by_z, bests = [], {}, []
    blocks = list(table.groupby(keys, sort=True))
    undecidable = {}  # seed blocks whose sign-flip test cannot reach the Holm threshold with so few seeds
    for key, rows in blocks:
        over = (key if isinstance(key, tuple) else (key,))[-1]
        if str(over).startswith("seeds") and "n" in rows and rows["n"].notna().any():
            n = int(rows["n"].max())
            if 2.0 ** (1 - n) > ALPHA / max(len(rows), 1):
                undecidable[key] = (n, len(rows))
    cells_with_samples = {tuple(k[:-1]) if isinstance(k, tuple) else () for k, _ in blocks
                          if not str((k if isinstance(k, tuple) else (k,))[-1]).startswith("seeds")}
    for key, rows in blocks:
        z, *rest = key if isinstance(key, tuple) else (key,)
        d = rest[0] if detail else None
        over = rest[-1]
        if key in undecidable and tuple(key[:-1]) in cells_with_samples:
            continue  # the decision comes from the test-sample block of the same cell (said below)
        higher = latent_directions.get(str(d), True) if group == "latent_structure" else higher_is_better
        label = f"z = {int(z)}" + (f", {d}" if d is not None else "")
        found = block_comparison(rows, higher_is_better=higher)
        bests.append((d, found["best"], int(z)))
        if key in undecidable:
            found = {**found, "tested": False}
        if found["tested"]:
            n_pairs = len(rows)
            tested_lines.append((over, n_pairs, "- " + block_sentence(rows, higher_is_better=higher, label=label,
                                                                     quantity=quantity)))
        else:
            runner = found["others"][0] if found["others"] else None
            s = _shortfall(runner, higher)[0] if runner else math.nan
            lead = "" if not runner else (f" (tied with {runner['family']} to 4 decimals)" if _num(s) == _num(0.0)
                                          else f" (ahead of {runner['family']} by {_num(s)})")
            piece = f"{d + ' ' if d is not None else ''}**{found['best']}**" + lead
            untested_by_z.setdefault((int(z), over), []).append(piece)
    text = ""
    # the best per z in one line, per detail
    by_detail: dict = {}
    for d, best, z in bests:
        by_detail.setdefault(d, {}).setdefault(best, []).append(z)
    if tested_lines and len({z for _, _, z in bests}) > 1:
        summary = []
        for d, families in by_detail.items():
            listed = "; ".join(f"{f} at z = {_z_list(sorted(set(zs)))}" for f, zs in
                               sorted(families.items(), key=lambda kv: min(kv[1])))
            summary.append((f"{d}: " if d is not None else "") + listed)
        text += "\nBest per z: " + ". ".join(summary) + ".\n"
    if tested_lines:
        overs = sorted({o for o, _, _ in tested_lines})
        n_pairs = max(n for _, n, _ in tested_lines)
        text += (f"\nPaired differences to the best (mean over {', '.join(overs)}, with its 95 % bootstrap "
                 "interval, not adjusted for multiplicity; \"not detectably different\": the pairwise table's "
                 f"sign-flip test, Holm-corrected at 5 % over the {n_pairs} pair{'s' if n_pairs != 1 else ''} of each "
                 "block):\n\n" + "\n".join(line for _, _, line in tested_lines) + "\n")
    if untested_by_z:
        lines = [f"- z = {z}: " + "; ".join(pieces) for (z, _), pieces in sorted(untested_by_z.items())]
        overs = sorted({o for _, o in untested_by_z})
        why = ("too few seeds for the test to decide (below)" if any(str(o).startswith("seeds") for o in overs)
               else "no interval, so no difference is tested")
        text += ("\nBest per block, with the gap to the runner-up (" + ", ".join(overs)
                 + f": {why}):\n\n" + "\n".join(lines) + "\n")
    if undecidable:
        n, m = next(iter(undecidable.values()))
        text += (f"\nOver seeds ({n}), no pair can be declared different: the sign-flip test's smallest attainable "
                 f"p, 2^(1−{n}) = {2.0 ** (1 - n):.3g}, is above the Holm threshold {ALPHA:g}/{m} for the first of "
                 f"{m} pairs (it needs at least {_seeds_needed(m)} seeds). "
                 + ("Where a cell also has per-image values, its decisions above are over the test images of one "
                    "seed; the seed-to-seed spread shows in the rank intervals.\n" if cells_with_samples
                    else "The seed-to-seed spread shows in the rank intervals.\n"))
    return text


def _seeds_needed(pairs: int) -> int:
    """Fewest seeds with which a two-sided sign-flip test can reach the first Holm threshold over ``pairs``."""
    n = 2
    while 2.0 ** (1 - n) > ALPHA / max(pairs, 1):
        n += 1
    return n


# ------------------------------------------------------------------ the seed study's claims


def depth_claim(architecture: pd.DataFrame | None, *, family: str = "fcae", seed_depth: int = SEED_DEPTH) -> str:
    """Claim 1: the seed chose three hidden layers. ``architecture``: ``tables/architecture_runs.csv`` (one row
    per run, with ``seed``) or ``tables/architecture.csv`` (one row per depth and z): ``depth``,
    ``latent_dim``, ``rmse_mean`` and optionally ``family`` and ``seed``. The depth with the lowest test RMSE
    averaged over the z values every depth ran; with two or more seeds, the paired difference of depth
    ``seed_depth`` to the best over seeds (Student-t 95 %)."""
    title = f"1. **{_word_number(seed_depth).capitalize()} hidden layers** (the seed chose depth {seed_depth})"
    if architecture is None or architecture.empty:
        return f"{title}: **cannot test**: step 01 (architecture search) did not run.\n"
    _check_columns(architecture, ("depth", "latent_dim", "rmse_mean"), "the architecture table")
    frame = architecture
    if "family" in frame:
        frame = frame[frame["family"].astype(str) == family]
    frame = frame.dropna(subset=["rmse_mean"])
    if frame.empty:
        return f"{title}: **cannot test**: step 01 searched no depth for {family}.\n"
    frame = frame.assign(depth=frame["depth"].astype(int), latent_dim=frame["latent_dim"].astype(int))
    depths = sorted(frame["depth"].unique())
    if seed_depth not in depths:
        return (f"{title}: **cannot test**: depth {seed_depth} was not searched (depths run: "
                f"{_z_list(depths)}).\n")
    cells = frame.groupby(["depth", "latent_dim"])["rmse_mean"].mean().unstack("latent_dim")
    zs = [z for z in cells.columns if cells[z].notna().all()]
    if not zs:
        return f"{title}: **cannot test**: no z value was run at every depth.\n"
    per_depth = cells[zs].mean(axis=1)
    best = int(per_depth.idxmin())
    seed_value, best_value = float(per_depth[seed_depth]), float(per_depth[best])
    by_depth = ", ".join(f"{d}: {_num(v)}" for d, v in per_depth.items())
    per_z = ", ".join(f"z = {z} → {int(cells[z].idxmin())}" for z in zs)
    # paired over seeds: each seed's RMSE averaged over the same z values
    low = high = math.nan
    n_seeds = 1
    other = best if best != seed_depth else (int(per_depth.drop(seed_depth).idxmin()) if len(depths) > 1 else None)
    if "seed" in frame and other is not None:
        seeds = frame[frame["latent_dim"].isin(zs)].groupby(["depth", "seed"])["rmse_mean"].mean().unstack("seed")
        common = [s for s in seeds.columns if seeds.loc[[seed_depth, other], s].notna().all()]
        n_seeds = len(common)
        if n_seeds >= 2:
            _, low, high = t_interval((seeds.loc[seed_depth, common] - seeds.loc[other, common]).to_numpy())
    where = f"{family}'s test RMSE, mean over z = {_z_list(zs)}"
    numbers = f" By depth: {by_depth}. Best depth per z: {per_z}."
    noise = (f" Interval: Student-t 95 % over {n_seeds} seeds, paired." if n_seeds >= 2 else
             " One seed per cell: no interval, the gap is not tested against noise.")
    if best == seed_depth:
        text = f"{title}: **reproduced**: {where}, is lowest at depth {seed_depth} ({_num(seed_value)})"
        if other is not None:
            text += (f"; the next, depth {other}, is higher by {_num(float(per_depth[other]) - seed_value)}"
                     + (f" {_interval(-high, -low)}" if np.isfinite(low) else ""))
            if np.isfinite(low) and high > 0 > low:
                text += " (not detectably)"
        return text + "." + numbers + noise + "\n"
    gap = seed_value - best_value
    gap_text = f"higher by {_num(gap)} ({gap / best_value * 100:.1f} %)" + (
        f" {_interval(low, high)}" if np.isfinite(low) else "")
    if np.isfinite(low) and low <= 0:
        verdict = "**not reproduced**"
        tail = f"; depth {seed_depth} is {gap_text}, not detectably worse"
    else:
        verdict = "**contradicted**"
        tail = f"; depth {seed_depth} is {gap_text}"
    return (f"{title}: {verdict}: {where}, is lowest at depth {best} ({_num(best_value)}){tail}." + numbers
            + noise + "\n")


def _word_number(n: int) -> str:
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return words[n] if 0 <= n < len(words) else str(n)


def _latent_standing(means: pd.DataFrame, measures: Sequence[str], directions: Mapping[str, bool],
                     family: str) -> tuple[list[str], pd.Series]:
    """Per measure: the best family and ``family``'s place; and every family's mean rank over the measures."""
    pieces, ranks = [], []
    n = len(means)
    for m in measures:
        values = means[m].dropna()
        if values.empty:
            continue
        rank = values.rank(ascending=not directions[m], method="min")
        ranks.append(rank)
        best = str(rank.idxmin())
        piece = f"{m}: best {best} ({_num(float(values[best]))})"
        if family in rank.index and best != family:
            piece += f", {family} {int(rank[family])} of {n} ({_num(float(values[family]))})"
        elif family not in rank.index:
            piece += f", {family} not run"
        pieces.append(piece)
    mean_rank = pd.concat(ranks, axis=1).mean(axis=1).sort_values() if ranks else pd.Series(dtype=float)
    return pieces, mean_rank


def latent_claim(latent: pd.DataFrame | None, *, pairwise: pd.DataFrame | None = None, z: int = SEED_LATENT_Z,
                 family: str = SEED_LATENT_FAMILY, directions: Mapping[str, bool] | None = None) -> str:
    """Claim 2: the VAE at z = 100 gives the best-organised latent space. ``latent``:
    ``summary/latent_quality.csv`` or ``tables/latent_quality.csv`` (``family``, ``latent_dim`` and the
    projection measures; several seeds are averaged). The family with the best mean rank over the measures in
    ``directions`` (default :data:`LATENT_DIRECTIONS`) at ``z``; when ``z`` was not run, what the largest z
    run shows. ``pairwise`` (``summary/pairwise_latent_structure.csv``), when its block at that z is tested, says
    whether ``family`` is detectably behind the best on each measure."""
    directions = LATENT_DIRECTIONS if directions is None else directions
    title = f"2. **The {family.upper()} at z = {z} gives the best-organised latent space**"
    if latent is None or latent.empty:
        return f"{title}: **cannot test**: step 04 (latent space) did not run.\n"
    _check_columns(latent, ("family", "latent_dim"), "the latent-quality table")
    measures = [m for m in directions if m in latent and latent[m].notna().any()]
    if not measures:
        return (f"{title}: **cannot test**: the latent-quality table has none of the measures "
                f"{list(directions)}.\n")
    zs = sorted(int(v) for v in latent["latent_dim"].dropna().unique())
    means = latent.groupby(["latent_dim", "family"])[measures].mean()
    seeds = latent.groupby(["latent_dim", "family"])["seed"].nunique().max() if "seed" in latent else 1
    noise = (" One seed: no interval, the order is not tested against noise." if seeds < 2
             else f" Means over {int(seeds)} seeds.")
    shown_z = z if z in zs else zs[-1]
    pieces, mean_rank = _latent_standing(means.loc[shown_z], measures, directions, family)
    standing = "; ".join(pieces) + "."
    composite = (f"Mean rank over the {len(measures)} measures ({', '.join(measures)}): best "
                 f"{mean_rank.index[0]} ({mean_rank.iloc[0]:.1f})"
                 + (f", {family} {mean_rank[family]:.1f} (place {int(mean_rank.rank(method='min')[family])} of "
                    f"{len(mean_rank)})" if family in mean_rank.index and mean_rank.index[0] != family else "")
                 + ".")
    if z not in zs:
        return (f"{title}: **cannot test at z = {z}** (step 04 ran z = {_z_list(zs)}). At the largest z run, "
                f"{shown_z}: {standing} {composite}{noise}\n")
    if family not in mean_rank.index:
        return f"{title}: **cannot test**: {family} was not run at z = {z}. {standing}{noise}\n"
    first = mean_rank[mean_rank == mean_rank.min()].index
    behind = _detectably_behind(pairwise, z, family, measures, directions)
    if family in first:
        verdict = "**reproduced**"
        head = f"{family} has the best mean rank over the measures at z = {z}"
    elif behind is not None and not behind:
        verdict = "**not reproduced**"
        head = (f"{family} is not first at z = {z} but not detectably behind the best on any measure "
                "(Holm decisions in `summary/pairwise_latent_structure.csv`)")
    else:
        verdict = "**contradicted**"
        head = f"{mean_rank.index[0]}, not {family}, has the best mean rank over the measures at z = {z}"
        if behind:
            head += f"; {family} is detectably behind the best on {', '.join(behind)}"
    return f"{title}: {verdict}: {head}. {standing} {composite}{noise}\n"


def _detectably_behind(pairwise: pd.DataFrame | None, z: int, family: str, measures: Sequence[str],
                       directions: Mapping[str, bool]) -> list[str] | None:
    """The measures on which ``family`` is detectably behind the best at ``z``; None when untested."""
    if pairwise is None or pairwise.empty or "measure" not in pairwise:
        return None
    behind = []
    for m in measures:
        rows = pairwise[(pairwise["measure"] == m) & (pairwise["latent_dim"].astype(int) == z)]
        if rows.empty or rows["p"].isna().all():
            return None
        found = block_comparison(rows, higher_is_better=directions[m])
        if any(o["family"] == family and o["detectable"] for o in found["others"]):
            behind.append(m)
    return behind


def augmentation_claim(summary: pd.DataFrame | None, results: pd.DataFrame | None = None, *,
                       experiment: str = AUGMENTATION_EXPERIMENT, peak: float = SEED_PEAK_P) -> str:
    """Claim 3: augmentation peaks at 10 % perturbation. ``summary``: ``augmentation/augmentation_summary.csv``
    (``experiment``, ``value`` = p, ``n_seeds``, ``auc_mean`` and the paired difference to the baseline
    ``auc_delta_mean``, ``auc_delta_ci95_low``, ``auc_delta_ci95_high``, over seeds). ``results``
    (``augmentation_results.csv``: one AUC per seed) gives the paired differences between values of p
    (Student-t 95 % over seeds, uncorrected). A peak is detectable when it is detectably above the baseline and
    detectably above at least one other p."""
    title = f"3. **Augmentation peaks at {_percent(peak)} perturbation**"
    if summary is None or summary.empty:
        return f"{title}: **cannot test**: step 07 (augmentation) did not run.\n"
    _check_columns(summary, ("experiment", "value", "auc_mean", "auc_delta_ci95_low", "auc_delta_ci95_high"),
                   "the augmentation summary")
    rows = summary[summary["experiment"] == experiment].dropna(subset=["value", "auc_mean"])
    if rows.empty:
        return f"{title}: **cannot test**: step 07 did not run the `{experiment}` experiment.\n"
    sizes = sorted(rows["latent_dim"].dropna().astype(int).unique()) if "latent_dim" in rows else []
    if len(sizes) > 1:  # the feature autoencoder's z was swept: the claim is judged at each z on its own
        parts = []
        for z in sizes:
            keep = summary["latent_dim"].isna() | (summary["latent_dim"] == z) | (summary["experiment"] != experiment)
            keep_results = None
            if results is not None and not results.empty and "latent_dim" in results:
                keep_results = results[results["latent_dim"].isna() | (results["latent_dim"] == z)
                                       | (results["experiment"] != experiment)]
            text = augmentation_claim(summary[keep], keep_results, experiment=experiment, peak=peak)
            parts.append(f"   - feature autoencoder z = {z}: " + text.split(": ", 1)[1].strip())
        return f"{title}, judged at each z of the feature autoencoder ({', '.join(map(str, sizes))}):\n" + \
            "\n".join(parts) + "\n"
    rows = rows.assign(value=rows["value"].astype(float)).sort_values("value")
    top = rows.loc[rows["auc_mean"].idxmax()]
    p_top = float(top["value"])
    n_seeds = int(top["n_seeds"]) if "n_seeds" in rows and pd.notna(top["n_seeds"]) else 1
    stand_in = " (offline stand-in data)" if "stand_in" in rows and rows["stand_in"].astype(str).eq("True").any() else ""
    curve = ", ".join(f"{_percent(v)}: {_num(a)}" for v, a in zip(rows["value"], rows["auc_mean"]))
    base = summary[summary["experiment"] == "baseline"]["auc_mean"]
    base_text = f"; baseline {_num(float(base.iloc[0]))}" if not base.empty else ""
    numbers = f" Mean AUC by p{stand_in}: {curve}{base_text} ({n_seeds} seed{'s' if n_seeds != 1 else ''})."

    def vs_base(row) -> str:
        return (f"{'+' if row['auc_delta_mean'] >= 0 else ''}{_num(float(row['auc_delta_mean']))} "
                f"{_interval(float(row['auc_delta_ci95_low']), float(row['auc_delta_ci95_high']))}"
                if "auc_delta_mean" in row else _interval(float(row["auc_delta_ci95_low"]),
                                                          float(row["auc_delta_ci95_high"])))

    has_peak = any(math.isclose(v, peak) for v in rows["value"])
    if n_seeds < 2 or not np.isfinite(float(top["auc_delta_ci95_low"])):
        return (f"{title}: **cannot test**: one seed, no interval; the highest mean AUC is at p = {_percent(p_top)}."
                + numbers + "\n")
    above_base = float(top["auc_delta_ci95_low"]) > 0
    text_top = f"the highest mean AUC is at p = {_percent(p_top)} ({_num(float(top['auc_mean']))}; " \
               f"vs baseline {vs_base(top)})"
    below, paired = _below_peak(results, experiment, p_top)
    if paired:
        paired_text = (" Peak minus each other p (Student-t 95 % over seeds, paired, uncorrected): "
                       + ", ".join(f"{_percent(v)}: {_num(m)} {_interval(lo, hi)}" for v, (m, lo, hi) in paired.items())
                       + ".")
    else:
        paired_text = " Differences between values of p: not available (per-seed results missing)."
    detectable = above_base and (below is None or len(below) > 0)
    if not detectable:
        why = ("not detectably above the baseline" if not above_base else
               "not detectably above any other p")
        return (f"{title}: **not reproduced: no detectable peak**: {text_top}, {why}." + numbers + paired_text
                + f" Intervals over seeds ({n_seeds}).\n")
    if not has_peak:
        return (f"{title}: **cannot test at {_percent(peak)}**: p = {_percent(peak)} was not run; {text_top}."
                + numbers + paired_text + "\n")
    if math.isclose(p_top, peak):
        return f"{title}: **reproduced**: {text_top}." + numbers + paired_text + "\n"
    peak_detectably_lower = below is not None and any(math.isclose(v, peak) for v in below)
    if peak_detectably_lower or below is None:
        return (f"{title}: **contradicted**: {text_top}" + (f", and {_percent(peak)} is detectably lower"
                                                           if peak_detectably_lower else "") + "." + numbers
                + paired_text + "\n")
    return (f"{title}: **not reproduced**: {text_top}; {_percent(peak)} is not detectably below it." + numbers
            + paired_text + "\n")


def _below_peak(results: pd.DataFrame | None, experiment: str,
                p_top: float) -> tuple[list[float] | None, dict[float, tuple[float, float, float]]]:
    """The values of p detectably below the peak (paired over seeds), None without per-seed results; and the
    paired differences themselves."""
    if results is None or results.empty or not {"experiment", "value", "seed", "auc"} <= set(results):
        return None, {}
    part = results[results["experiment"] == experiment].dropna(subset=["value", "auc"])
    wide = part.assign(value=part["value"].astype(float)).pivot_table(index="seed", columns="value", values="auc")
    top = next((c for c in wide.columns if math.isclose(c, p_top)), None)
    if top is None:
        return None, {}
    below, paired = [], {}
    for v in wide.columns:
        if math.isclose(v, p_top):
            continue
        both = wide[[top, v]].dropna()
        if len(both) < 2:
            continue
        mean, lo, hi = t_interval((both[top] - both[v]).to_numpy())
        paired[float(v)] = (mean, lo, hi)
        if lo > 0:
            below.append(float(v))
    return (below if paired else None), paired


# ------------------------------------------------------------------ the section


def findings_section(*, ranking_by_criterion: pd.DataFrame | None = None,
                     ranking_criteria: pd.DataFrame | None = None,
                     pairwise: Mapping[str, pd.DataFrame] | None = None,
                     architecture: pd.DataFrame | None = None, latent_quality: pd.DataFrame | None = None,
                     augmentation_summary: pd.DataFrame | None = None,
                     augmentation_results: pd.DataFrame | None = None,
                     latent_directions: Mapping[str, bool] | None = None) -> str:
    """The report's ``## Findings`` section: one paragraph per criterion, then the seed study's claims.

    Every argument is a table as the study writes it (see :func:`read_tables`); a missing one (None or empty)
    gives "cannot test" sentences naming the step that writes it."""
    pairwise = dict(pairwise or {})
    ranking = ranking_by_criterion if ranking_by_criterion is not None else pd.DataFrame()
    described = ranking_criteria if ranking_criteria is not None else pd.DataFrame()
    parts = ["## Findings", "",
             "Generated from the tables (`aelib.findings`): the criteria from `summary/ranking_by_criterion.csv` "
             "and `summary/pairwise_*.csv`, the seed study's claims from the tables each names.", "",
             "### Which family is best, per criterion", ""]
    names = list(ranking["criterion"].drop_duplicates()) if not ranking.empty and "criterion" in ranking else []
    for expected in ("reconstruction", "ood_generalisation", "ood_detection", "latent_structure", "generative"):
        if not any(_criterion_group(n) == expected for n in names):
            names.append(expected)
    names.sort(key=lambda n: list(CRITERION_STEPS).index(_criterion_group(n)) if _criterion_group(n) in
               CRITERION_STEPS else len(CRITERION_STEPS))
    if ranking.empty:
        ranking = pd.DataFrame(columns=list(RANKING_REQUIRED))
    for name in names:
        what = over = ""
        if not described.empty and "criterion" in described:
            row = described[described["criterion"] == name]
            if not row.empty:
                what = str(row["what is ranked"].iloc[0]) if "what is ranked" in row else ""
                over = str(row["interval over"].iloc[0]) if "interval over" in row else ""
        parts.append(criterion_finding(name, ranking, _pairwise_for(name, pairwise), what=what, over=over,
                                       latent_directions=latent_directions))
    parts += ["### The seed study's claims", "",
              depth_claim(architecture),
              latent_claim(latent_quality, pairwise=pairwise.get("latent_structure"), directions=latent_directions),
              augmentation_claim(augmentation_summary, augmentation_results)]
    return "\n".join(parts)


def _read_csv(path: Path, since: float | None) -> pd.DataFrame:
    """The CSV, or an empty table when absent, unreadable or (with ``since``) left over from an earlier run."""
    if not path.is_file() or (since is not None and path.stat().st_mtime < since - _MTIME_SLACK_S):
        return pd.DataFrame()
    try:
        return pd.read_csv(path, dtype={"setting": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()


def read_tables(out_dir: Path | str, *, since: float | None = None) -> dict:
    """The tables :func:`findings_section` takes, read from a study's results folder (read-only).

    ``summary/`` files older than ``since`` (a :func:`time.time` value) are ignored: they are what an earlier
    summary wrote for a criterion this one no longer has. ``architecture`` comes from
    ``tables/architecture.csv`` (the last row per depth and z when several settings are kept there) and
    ``latent_quality`` from ``summary/latent_quality.csv``; the report passes its own, settings-filtered ones.

    Raises:
        ValueError: ``out_dir`` is not a folder.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ValueError(f"Expected a study's results folder. Received: out_dir={str(out_dir)!r} (not a folder)")
    summary = out_dir / "summary"
    pairwise = {}
    for path in sorted(summary.glob("pairwise_*.csv")):
        table = _read_csv(path, since)
        if not table.empty:
            pairwise[path.stem.removeprefix("pairwise_")] = table
    architecture = _read_csv(out_dir / "tables" / "architecture.csv", None)
    if not architecture.empty and {"family", "depth", "latent_dim"} <= set(architecture):
        architecture = architecture.drop_duplicates(["family", "depth", "latent_dim"], keep="last")
    return {"ranking_by_criterion": _read_csv(summary / "ranking_by_criterion.csv", since),
            "ranking_criteria": _read_csv(summary / "ranking_criteria.csv", since),
            "pairwise": pairwise,
            "architecture": architecture,
            "latent_quality": _read_csv(summary / "latent_quality.csv", since),
            "augmentation_summary": _read_csv(out_dir / "augmentation" / "augmentation_summary.csv", None),
            "augmentation_results": _read_csv(out_dir / "augmentation" / "augmentation_results.csv", None)}
