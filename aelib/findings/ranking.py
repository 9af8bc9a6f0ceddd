"""Findings per ranking criterion: the best family, the families not distinguishable from it under the
pairwise table's Holm decision, and how far behind the rest are."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from aelib.criteria import LATENT_MEASURES, STEPS, criterion_title, split_criterion
from aelib.findings.wording import as_bool, check_columns, fmt_interval, fmt_num, name_list, z_list

#: Level of the pairwise tables' Holm-corrected decisions (aelib.stats).
ALPHA = 0.05
# What each criterion group's pairwise table compares, per block.
BLOCK_QUANTITIES: dict[str, str] = {"reconstruction": "test RMSE", "ood_generalisation": "RMSE",
                                    "ood_detection": "ROC AUC", "latent_structure": "",
                                    "generative": "Fréchet distance of GMM samples in the judge's features",
                                    "smoothness": "RMSE slope against p"}
# How many tied families a sentence names one by one before it summarises them.
MAX_LISTED = 3

PAIRWISE_REQUIRED = ("latent_dim", "family_a", "family_b", "diff", "ci95_low", "ci95_high", "p", "reject", "over")
RANKING_REQUIRED = ("criterion", "family", "value", "rank")


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
    check_columns(rows, ("family_a", "family_b", "diff", "ci95_low", "ci95_high", "p", "reject"), "a pairwise block")
    if rows.empty:
        raise ValueError("Expected at least one pair in a pairwise block. Received: an empty table")
    reject = as_bool(rows["reject"])
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
    """One sentence for one tested block: ``"z = 10: **cae** lowest test RMSE; rae is not distinguishable here
    (higher by 0.0000 [-0.0021, 0.0020]); every other family is higher on these units, by at least 0.0074 (dae,
    …)"``: instance-level evidence over the block's units (one seed's test images, or the seeds).
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
        return head + f", {runner['family']} next, {worse} by {fmt_num(gap)} (untested)."
    tied = [o for o in others if not o["detectable"]]
    apart = [o for o in others if o["detectable"]]
    parts = [head]
    if tied:
        shown = [(o, _shortfall(o, higher_is_better)) for o in tied]
        if len(tied) <= MAX_LISTED:
            detail = "; ".join(f"{o['family']} {worse} by {fmt_num(s)} {fmt_interval(lo, hi)}"
                               for o, (s, lo, hi) in shown)
        else:
            o, (s, lo, hi) = max(shown, key=lambda x: x[1][0])
            detail = f"up to {fmt_num(s)} {fmt_interval(lo, hi)}, {o['family']}"
        names = name_list([o["family"] for o in tied])
        parts.append(f"{names} {'is' if len(tied) == 1 else 'are'} not distinguishable here ({detail})")
    if apart:
        o = apart[0]
        s, lo, hi = _shortfall(o, higher_is_better)
        if len(apart) == 1:
            parts.append(f"{o['family']} is {worse} on these units, by {fmt_num(s)} {fmt_interval(lo, hi)}")
        else:
            parts.append(f"every other family is {worse} on these units, by at least {fmt_num(s)} ({o['family']}: "
                         f"{fmt_interval(lo, hi)})")
    else:
        parts.append("no family is distinguishable from it here")
    return "; ".join(parts) + "."


# ------------------------------------------------------------------ one criterion


def pairwise_for(criterion: str, pairwise: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``criterion`` in the pairwise tables (group → table): its group's table, restricted to its
    mode for a mode of a group (``smoothness_additive``: the ``additive`` rows); empty when there is none."""
    group, mode = split_criterion(criterion)
    table = pairwise.get(group) if pairwise else None
    if table is None or table.empty:
        return pd.DataFrame()
    if mode and "mode" in table:
        table = table[table["mode"].astype(str) == mode]
    return table


def _block_detail(table: pd.DataFrame) -> str | None:
    return next((c for c in ("dataset", "measure") if c in table), None)


def dataset_label(name, stand_ins: Mapping[str, str] | None) -> str:
    """A data set's name, with "(stand-in: <source>)" when it was loaded from a stand-in."""
    name = str(name)
    return name + (f" (stand-in: {stand_ins[name]})" if stand_ins and name in stand_ins else "")


def _split_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A criterion's rows of ``ranking_by_criterion``: the ranked families, those left out for failed runs
    (``excluded``), and the reference rows (``reference``, e.g. PCA)."""
    excluded = (rows["excluded"].fillna("").astype(str).str.strip() != "") if "excluded" in rows \
        else pd.Series(False, index=rows.index)
    reference = as_bool(rows["reference"].fillna(False)) if "reference" in rows \
        else pd.Series(False, index=rows.index)
    ranked = ~excluded & ~reference & rows["rank"].notna()
    return rows[ranked], rows[excluded & ~reference], rows[reference]


def _left_out_text(excluded: pd.DataFrame) -> str:
    if excluded.empty:
        return ""
    names = list(excluded["family"].astype(str))
    return (f" Not ranked here: {name_list(names)} — left out for failed runs "
            f"({'; '.join(excluded['excluded'].astype(str))}: no better than the mean image, or non-finite "
            "output) and listed in `excluded`.")


def _reference_text(reference: pd.DataFrame, ranked: pd.DataFrame, higher: bool) -> str:
    pieces = []
    for row in reference.itertuples():
        value = float(row.value)
        ahead = ranked[(ranked["value"] > value) if higher else (ranked["value"] < value)]
        standing = (f"better than every ranked family ({len(ranked)})" if ahead.empty
                    else f"{len(ahead)} of the {len(ranked)} ranked families do better")
        pieces.append(f" Reference (not ranked): **{row.family}** {value:.4g}, {standing}.")
    return "".join(pieces)


def declared_for(criterion: str, comparisons: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of ``summary/comparisons.csv`` that belong to ranking criterion ``criterion``: its own name, or
    its name followed by ``_`` (``latent_structure_trustworthiness`` for ``latent_structure``)."""
    if comparisons is None or comparisons.empty or "criterion" not in comparisons:
        return pd.DataFrame()
    names = comparisons["criterion"].astype(str)
    return comparisons[(names == criterion) | names.str.startswith(f"{criterion}_")]


def declared_text(rows: pd.DataFrame, *, stand_ins: Mapping[str, str] | None = None) -> str:
    """Per criterion and z, the declared comparisons in words: each family "detectably better/worse" than fcae or
    PCA only where ``summary/comparisons.csv`` decided so (two-stage interval excluding 0 and the Holm-adjusted
    test over seeds rejecting); every other family "not distinguishable at n seeds", with the widest interval
    half-width among them (what those seeds could resolve)."""
    check_columns(rows, ("criterion", "latent_dim", "family", "reference", "estimate", "ci_low", "ci_high",
                         "decision", "over"), "the declared comparisons")
    lines = []
    for (name, z), part in rows.groupby(["criterion", "latent_dim"], sort=True):
        pieces = []
        for reference, ref_rows in part.groupby("reference", sort=False):
            said = []
            for decision in ("better", "worse"):
                hit = ref_rows[ref_rows["decision"] == decision]
                if not hit.empty:
                    said.append(f"detectably {decision}: " + ", ".join(
                        f"{r.family} ({fmt_num(r.estimate)} {fmt_interval(r.ci_low, r.ci_high)})"
                        for r in hit.itertuples()))
            rest = ref_rows[~ref_rows["decision"].isin(["better", "worse"])]
            if not rest.empty:
                n = _seeds_in(str(rest["over"].iloc[0]))
                half = float(((rest["ci_high"] - rest["ci_low"]) / 2).max())
                said.append(f"not distinguishable at {n}: {name_list(list(rest['family'].astype(str)))}"
                            + (f" (interval half-widths up to {fmt_num(half)})" if np.isfinite(half) else ""))
            pieces.append(f"against {reference} — " + "; ".join(said))
        sub = str(name).split("_", 2)[-1] if str(name).count("_") >= 2 else ""
        label = f"z = {int(z)}" + (f", {dataset_label(sub, stand_ins)}" if sub else "")
        lines.append(f"- {label}: " + ". ".join(pieces) + ".")
    over = str(rows["over"].iloc[0]) if not rows.empty else ""
    return ("\nDeclared comparisons (`summary/comparisons.csv`: each family against fcae and, where it applies, "
            f"PCA at the same z; estimate family − reference with its two-stage 95 % interval over {over}; "
            "\"detectably\" only where the Holm-adjusted paired t-test over seeds rejects and the interval "
            "excludes 0):\n\n" + "\n".join(lines) + "\n")


def _seeds_in(over: str) -> str:
    """"3 seeds" from an ``over`` text such as "3 seeds × 10000 test images …" (else "these seeds")."""
    match = re.search(r"(\d+) seeds?", over)
    return f"{match.group(1)} seed{'s' if match.group(1) != '1' else ''}" if match else "these seeds"


def criterion_finding(criterion: str, ranking: pd.DataFrame, pairwise: pd.DataFrame | None = None, *,
                      what: str = "", over: str = "", comparisons: pd.DataFrame | None = None,
                      latent_directions: Mapping[str, bool] | None = None,
                      stand_ins: Mapping[str, str] | None = None) -> str:
    """A paragraph on one criterion: which family ranks first (``ranking``: the rows of
    ``summary/ranking_by_criterion.csv``), then per z the best family of the paired table
    (``summary/pairwise_<criterion>.csv``, already restricted to this criterion's mode for the smoothness ones)
    with the families tied with it under the Holm decision.

    Args:
        criterion: the criterion's name (``reconstruction``, ``generative``, ``smoothness_additive``, …).
        ranking: rows ``criterion, family, value, rank[, rank_low, rank_high, better, over]``; other
            criteria's rows are ignored.
        pairwise: the criterion's pairwise table, or None/empty when there is none: instance-level evidence.
        comparisons: ``summary/comparisons.csv``; its rows of this criterion give the family-level statements
            (:func:`declared_text`), the only ones that say "detectably".
        what, over: what is ranked and what its rank interval is over (``summary/ranking_criteria.csv``).
        latent_directions: measure → higher is better, for the latent-structure blocks
            (default :data:`aelib.criteria.LATENT_MEASURES`).
        stand_ins: data set → its stand-in source, named on every line about that data set.

    Rows with ``excluded`` (families left out for failed runs) are named, never ranked; rows with ``reference``
    true (PCA beside OOD generalisation) are shown beside the ranking.

    Raises:
        ValueError: a table without the columns named above.
    """
    check_columns(ranking, RANKING_REQUIRED, "the ranking by criterion")
    group = split_criterion(criterion)[0]
    title = criterion_title(criterion)
    rows = ranking[ranking["criterion"] == criterion].sort_values(["rank", "family"])
    if rows.empty:
        step = STEPS.get(group, "that writes it")
        return f"**{title}**: cannot test: step {step} did not run (no ranking for `{criterion}`).\n"
    better = str(rows["better"].iloc[0]) if "better" in rows else "lower"
    rows, excluded, reference = _split_rows(rows)
    if rows.empty:
        return (f"**{title}**: no family ranked." + _left_out_text(excluded)
                + _reference_text(reference, rows, better == "higher") + "\n")
    higher = better == "higher"
    over = over or (str(rows["over"].iloc[0]) if "over" in rows else "")
    firsts = rows[rows["rank"] == rows["rank"].min()]
    first_names = list(firsts["family"].astype(str))
    value = float(firsts["value"].iloc[0])
    text = f"**{title}** ({what + '; ' if what else ''}{better} is better): "
    text += f"**{name_list(first_names)}** rank{'s' if len(first_names) == 1 else ''} first ({value:.4g}"
    low = firsts["rank_low"].iloc[0] if "rank_low" in firsts else math.nan
    if pd.notna(low):
        text += f", rank interval {int(low)}–{int(firsts['rank_high'].iloc[0])} over {over or 'resamples'}"
        reach = rows[(rows["rank_low"] <= 1) & ~rows["family"].isin(first_names)] if "rank_low" in rows else rows[:0]
        text += ")"
        if not reach.empty:
            text += f"; the rank interval reaches 1 also for {name_list(list(reach['family'].astype(str)))}"
    else:
        text += "; " + (over if "no interval" in over else "no rank interval") + ")"
    rest = rows[~rows["family"].isin(first_names)]
    if not rest.empty:
        text += f"; next {rest['family'].iloc[0]} ({float(rest['value'].iloc[0]):.4g})"
    text += "." + _reference_text(reference, rows, higher) + _left_out_text(excluded) + "\n"
    declared = declared_for(criterion, comparisons)
    if not declared.empty:
        text += declared_text(declared, stand_ins=stand_ins)
    if pairwise is None or pairwise.empty:
        return text + f"\nNo paired table for `{criterion}`: no per-z comparison.\n"
    check_columns(pairwise, PAIRWISE_REQUIRED, f"the pairwise table of {criterion}")
    return text + _blocks_text(group, pairwise, higher_is_better=higher,
                               latent_directions=LATENT_MEASURES if latent_directions is None else latent_directions,
                               stand_ins=stand_ins)


def _blocks_text(group: str, table: pd.DataFrame, *, higher_is_better: bool,
                 latent_directions: Mapping[str, bool], stand_ins: Mapping[str, str] | None = None) -> str:
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
        shown = dataset_label(d, stand_ins) if detail == "dataset" else d
        label = f"z = {int(z)}" + (f", {shown}" if d is not None else "")
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
            lead = "" if not runner else (f" (tied with {runner['family']} to 4 decimals)" if fmt_num(s) == fmt_num(0.0)
                                          else f" (ahead of {runner['family']} by {fmt_num(s)})")
            piece = f"{str(shown) + ' ' if d is not None else ''}**{found['best']}**" + lead
            untested_by_z.setdefault((int(z), over), []).append(piece)
    text = ""
    # the best per z in one line, per detail
    by_detail: dict = {}
    for d, best, z in bests:
        by_detail.setdefault(d, {}).setdefault(best, []).append(z)
    if tested_lines and len({z for _, _, z in bests}) > 1:
        summary = []
        for d, families in by_detail.items():
            listed = "; ".join(f"{f} at z = {z_list(sorted(set(zs)))}" for f, zs in
                               sorted(families.items(), key=lambda kv: min(kv[1])))
            shown = dataset_label(d, stand_ins) if detail == "dataset" else d
            summary.append((f"{shown}: " if d is not None else "") + listed)
        text += "\nBest per z: " + ". ".join(summary) + ".\n"
    if tested_lines:
        overs = sorted({o for o, _, _ in tested_lines})
        n_pairs = max(n for _, n, _ in tested_lines)
        text += (f"\nInstance-level evidence: paired differences to the best (mean over {', '.join(overs)}, with "
                 "its 95 % bootstrap interval, not adjusted for multiplicity; \"not distinguishable here\": the "
                 "pairwise table's "
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
