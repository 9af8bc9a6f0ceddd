"""Declared comparisons and rank tests across blocks (issue 27): writes ``summary/comparisons.csv``,
``summary/ranking_tests.csv`` and one critical-difference diagram per criterion, and returns the report's section.

*Declared comparisons*: each family against two references only — fcae, and PCA where PCA applies (reconstruction
of the test set and of each complementary data set) — per criterion and z, with a two-stage bootstrap interval
(:mod:`aelib.two_stage`: training seeds, then test images within each seed, paired across families) and a Holm
decision over the comparisons of one criterion. Criteria without per-image values (OOD detection, the latent
measures, the Fréchet distance of generated samples) have one value per seed: the bootstrap is over seeds alone.

*Rank tests*: per criterion a Friedman test over the blocks (z × data set × seed, one value per family each) with
the Nemenyi critical difference (:mod:`aelib.rank_tests`, Demšar 2006).

Takes the step tables as DataFrames, the per-image RMSE of the runs through a :class:`aelib.report.Samples` and
PCA's per-image RMSE through a callable (the study layer computes both).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aelib import plots, rank_tests, two_stage
from aelib.criteria import GENERATIVE, LATENT_MEASURES, TITLES, split_criterion
from aelib.report.comparisons import Samples
from aelib.report.runs import failed_runs
from aelib.report.tables import markdown, write_table

#: The two references of every declared comparison.
FCAE = "fcae"
PCA = "pca"
#: How a decision reads in the compact tables (a comparison that was not made: "n/a").
_SHORT = {"better": "better", "worse": "worse", "not distinguishable": "–"}
#: Fewer seeds than this and the seed stage of the bootstrap is called weak in the text.
_FEW_SEEDS = 6

#: ``pca_samples(z, dataset)``: PCA's per-image RMSE with z components (fitted on the training images) on the
#: study's test set (dataset None) or on complementary data set ``dataset``; None where it has none.
PCASamples = Callable[[int, "str | None"], "np.ndarray | None"]
#: ``fetch(family, z, seed)``: the units of one run (per-image RMSE, or the run's one value); None when absent.
_Fetch = Callable[[str, int, int], "np.ndarray | None"]


def _title(name: str) -> str:
    """"Latent structure (trustworthiness)" for ``latent_structure_trustworthiness``."""
    group, detail = split_criterion(name)
    title = TITLES.get(group, group.replace("_", " ").capitalize())
    return f"{title} ({detail})" if detail else title


def _usable(frame: pd.DataFrame | None, value: str, families: Sequence[str],
            failed: set[tuple[str, int, int]]) -> pd.DataFrame:
    """The rows of ``families`` with a ``value``, ``_bad`` set where the run failed
    (:func:`aelib.report.runs.failed_runs`) or the value is not finite."""
    if frame is None or frame.empty or value not in frame or "family" not in frame:
        return pd.DataFrame(columns=["family", "latent_dim", "seed", value, "_bad"])
    rows = frame[frame["family"].isin(families)].dropna(subset=[value, "latent_dim"])
    rows = rows.assign(latent_dim=rows["latent_dim"].astype(int),
                       seed=rows["seed"].fillna(0).astype(int) if "seed" in rows else 0)
    values = pd.to_numeric(rows[value], errors="coerce").to_numpy(dtype=float)
    keys = zip(rows["family"], rows["latent_dim"], rows["seed"])
    bad = [(f, z, s) in failed or not np.isfinite(v) for (f, z, s), v in zip(keys, values)]
    return rows.assign(_bad=bad)


# ------------------------------------------------------------------ declared comparisons


def _stacked(fetch: _Fetch, family: str, z: int, seeds: Sequence[int]) -> np.ndarray | None:
    """(n_seeds, n_units) of one family at z over ``seeds``; None when a run's units are absent, not finite or of
    different lengths."""
    arrays = [fetch(family, z, s) for s in seeds]
    if not arrays or any(a is None for a in arrays):
        return None
    arrays = [np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays]
    if len({len(a) for a in arrays}) != 1 or not all(np.all(np.isfinite(a)) for a in arrays):
        return None
    return np.stack(arrays)


def _criterion_comparisons(name: str, rows: pd.DataFrame, fetch: _Fetch, *, families: Sequence[str],
                           what: str | None, pca: Callable[[int], np.ndarray | None] | None, n_boot: int,
                           notes: list[str], detectable: dict) -> list[pd.DataFrame]:
    """The declared comparisons of one criterion, per z. ``what``: the images' name ("test", "emnist_letters")
    when the units are per-image values, None when each run has one value (units are seeds). A family with a
    failed run at a z is left out of that z; a PCA reference of another length than the families' is skipped."""
    tables = []
    for z, part in rows.groupby("latent_dim", sort=True):
        z = int(z)
        bad = set(part.loc[part["_bad"].astype(bool), "family"])
        seeds = {f: sorted(set(part.loc[part["family"] == f, "seed"])) for f in families
                 if f in set(part["family"]) and f not in bad}
        arrays = {f: _stacked(fetch, f, z, s) for f, s in seeds.items()}
        missing = [f for f, a in arrays.items() if a is None]
        if missing:
            notes.append(f"{name}, z = {z}: {', '.join(missing)} left out (per-image values absent or ragged)")
        arrays = {f: a for f, a in arrays.items() if a is not None}
        if bad:
            notes.append(f"{name}, z = {z}: {', '.join(sorted(bad))} left out (failed run or non-finite value)")
        reference = pca(z) if pca is not None else None
        if FCAE in arrays:
            detectable[(name, z)] = two_stage.detectable_difference(arrays[FCAE])
        skipped_pca = []
        fits = reference is not None and FCAE in arrays and len(reference) == arrays[FCAE].shape[1]
        batch = {f: v for f, v in arrays.items() if FCAE in arrays and seeds[f] == seeds[FCAE]
                 and v.shape == arrays[FCAE].shape and (what is not None or len(seeds[f]) >= 2)}
        if batch:  # the families with fcae's seeds and images: one set of resamples for all of them
            references = {FCAE: arrays[FCAE], **({PCA: reference} if fits else {})}
            tables.append(_compare(name, z, batch, references, what=what, n_boot=n_boot))
            skipped_pca += [] if fits or reference is None else list(batch)
        for family, values in arrays.items():
            if family in batch:
                continue
            if FCAE in arrays:
                common = [s for s in seeds[family] if s in set(seeds[FCAE])]
                a = values[[seeds[family].index(s) for s in common]]
                b = arrays[FCAE][[seeds[FCAE].index(s) for s in common]]
                if what is None and len(common) < 2:
                    notes.append(f"{name}, z = {z}: {family} against fcae on one common seed, nothing to resample")
                elif common and a.shape == b.shape:
                    tables.append(_compare(name, z, {family: a}, {FCAE: b}, what=what, n_boot=n_boot))
                else:
                    notes.append(f"{name}, z = {z}: {family} not compared with fcae (no common seeds or other "
                                 "images)")
            if reference is not None:
                if len(reference) == values.shape[1]:
                    tables.append(_compare(name, z, {family: values}, {PCA: reference}, what=what, n_boot=n_boot))
                else:
                    skipped_pca.append(family)
        if skipped_pca:
            notes.append(f"{name}, z = {z}: PCA reference skipped for {', '.join(skipped_pca)} (PCA has "
                         f"{len(reference)} images, the families' runs another number)")
        if FCAE not in arrays and arrays:
            notes.append(f"{name}, z = {z}: no fcae reference (fcae absent or left out)")
    return tables


def _compare(name: str, z: int, values: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray], *,
             what: str | None, n_boot: int) -> pd.DataFrame:
    """:func:`aelib.two_stage.declared_comparisons` of ``values`` (the same seeds and units) against
    ``references``, ``over`` saying what the interval is over."""
    n_seeds, n_units = next(iter(values.values())).shape
    if what is None:
        over = f"{n_seeds} seeds (one value each), bootstrap over seeds"
    else:
        over = f"{n_seeds} seeds × {n_units} {what} images, two-stage bootstrap"
    table = two_stage.declared_comparisons(values, references, criterion=name, latent_dim=z, over=over,
                                           n_boot=n_boot)
    table.loc[table["reference"] == PCA, "over"] = over + "; PCA deterministic"
    return table.assign(_n_seeds=n_seeds)


def comparisons_table(*, sweep_runs: pd.DataFrame, ood: pd.DataFrame, latent: pd.DataFrame,
                      generative_samples: pd.DataFrame | None, samples: Samples, pca_samples: PCASamples | None,
                      families: Sequence[str], n_boot: int = two_stage.N_BOOT
                      ) -> tuple[pd.DataFrame, dict[str, bool], list[str], dict]:
    """The declared comparisons of every criterion with their Holm decisions (see :func:`declared_section`).

    Returns:
        The table (:data:`aelib.two_stage.COMPARISON_COLUMNS` and ``_n_seeds``), each criterion's direction
        (True: lower is better), notes on what was left out, and ``(criterion, z) →`` the smallest difference
        fcae's seeds could detect (:func:`aelib.two_stage.detectable_difference`).
    """
    families = list(dict.fromkeys(families))
    runs = sweep_runs if sweep_runs is not None else pd.DataFrame()
    failed = failed_runs(runs[runs["family"].isin(families)] if "family" in runs else runs)
    failed_keys = {(f, int(z), int(s)) for f, z, s in zip(failed["family"], failed["latent_dim"], failed["seed"])}
    lower: dict[str, bool] = {}
    notes: list[str] = []
    detectable: dict = {}
    tables: list[pd.DataFrame] = []
    common = {"families": families, "n_boot": n_boot, "notes": notes, "detectable": detectable}

    def add(name: str, lower_is_better: bool, rows: pd.DataFrame, fetch: _Fetch, what: str | None = None,
            pca=None) -> None:
        if rows.empty:
            return
        found = _criterion_comparisons(name, rows, fetch, what=what, pca=pca, **common)
        if found:
            lower[name] = lower_is_better
            tables.extend(found)

    def one_value(rows: pd.DataFrame, column: str) -> _Fetch:
        table = rows[~rows["_bad"].astype(bool)].groupby(["family", "latent_dim", "seed"])[column].mean()

        def fetch(family: str, z: int, seed: int) -> np.ndarray | None:
            key = (family, z, seed)
            return np.array([float(table[key])]) if key in table.index else None
        return fetch

    depth = runs.groupby("family")["depth"].first() if {"family", "depth"} <= set(runs) else pd.Series(dtype=float)
    add("reconstruction", True, _usable(runs, "rmse_mean", families, failed_keys),
        lambda f, z, s: samples.train(f, z, s, depth.get(f)), what="test",
        pca=(lambda z: pca_samples(z, None)) if pca_samples is not None else None)
    comp = ood[ood["role"] == "complementary"] if ood is not None and "role" in ood else pd.DataFrame()
    for dataset in sorted(set(comp["dataset"])) if "dataset" in comp else []:
        part = comp[comp["dataset"] == dataset]
        add(f"ood_generalisation_{dataset}", True, _usable(part, "rmse_mean", families, failed_keys),
            lambda f, z, s, d=dataset: samples.ood(f, z, s, d), what=str(dataset),
            pca=(lambda z, d=dataset: pca_samples(z, d)) if pca_samples is not None else None)
        rows = _usable(part, "auroc", families, failed_keys)
        add(f"ood_detection_{dataset}", False, rows, one_value(rows, "auroc"))
    for measure, higher in LATENT_MEASURES.items():
        rows = _usable(latent, measure, families, failed_keys)
        add(f"latent_structure_{measure}", not higher, rows, one_value(rows, measure))
    gen = generative_samples if generative_samples is not None else pd.DataFrame()
    if "sampler" in gen:
        rows = _usable(gen[gen["sampler"] == GENERATIVE["sampler"]], GENERATIVE["score"], families, failed_keys)
        add("generative", True, rows, one_value(rows, GENERATIVE["score"]))
    if not tables:
        return pd.DataFrame(columns=[*two_stage.COMPARISON_COLUMNS, "_n_seeds"]), lower, notes, detectable
    table = two_stage.holm_decisions(pd.concat(tables, ignore_index=True), by=("criterion",), lower_is_better=lower)
    return table, lower, notes, detectable


# ------------------------------------------------------------------ rank tests


def _blocks(rows: pd.DataFrame, keys: Sequence[str], value: str, families: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """Blocks × families of one criterion: families with a failed run in it left out (as the ranking does),
    then blocks where a family lacks a value dropped. Returns the blocks and a note on what was left out."""
    bad = sorted(set(rows.loc[rows["_bad"].astype(bool), "family"]), key=list(families).index)
    rows = rows[~rows["family"].isin(bad)]
    if rows.empty:
        return pd.DataFrame(), ""
    wide = rows.pivot_table(index=list(keys), columns="family", values=value, aggfunc="mean")
    wide = wide[[f for f in families if f in wide.columns]]
    complete = wide.dropna()
    said = []
    if bad:
        said.append(f"left out for failed runs: {', '.join(bad)}")
    if len(complete) < len(wide):
        said.append(f"{len(wide) - len(complete)} of {len(wide)} blocks dropped (a family lacks a value)")
    return complete, "; ".join(said)


def rank_tests_table(*, sweep_runs: pd.DataFrame, ood: pd.DataFrame, latent: pd.DataFrame,
                     generative_samples: pd.DataFrame | None, families: Sequence[str]
                     ) -> tuple[pd.DataFrame, dict[str, pd.Series], dict[str, str]]:
    """Per criterion the Friedman test over its blocks with the Nemenyi critical difference.

    Blocks: reconstruction (z × seed, test RMSE), OOD generalisation and detection (z × data set × seed,
    complementary RMSE and AUROC), each latent measure (z × seed) and the generative score (z × seed).

    Returns:
        The table (:data:`aelib.rank_tests.RANKING_TEST_COLUMNS`), criterion → mean ranks (best first) and
        criterion → a note on what was left out ("too few" where no test could be made).
    """
    families = list(dict.fromkeys(families))
    runs = sweep_runs if sweep_runs is not None else pd.DataFrame()
    failed = failed_runs(runs[runs["family"].isin(families)] if "family" in runs else runs)
    failed_keys = {(f, int(z), int(s)) for f, z, s in zip(failed["family"], failed["latent_dim"], failed["seed"])}
    comp = ood[ood["role"] == "complementary"] if ood is not None and "role" in ood else pd.DataFrame()
    gen = generative_samples if generative_samples is not None else pd.DataFrame()
    gen = gen[gen["sampler"] == GENERATIVE["sampler"]] if "sampler" in gen else pd.DataFrame()
    zs = ["latent_dim", "seed"]
    criteria = [("reconstruction", runs, zs, "rmse_mean", True),
                ("ood_generalisation", comp, ["latent_dim", "dataset", "seed"], "rmse_mean", True),
                ("ood_detection", comp, ["latent_dim", "dataset", "seed"], "auroc", False),
                *[(f"latent_structure_{m}", latent, zs, m, not higher) for m, higher in LATENT_MEASURES.items()],
                ("generative", gen, zs, GENERATIVE["score"], True)]
    rows, ranks, notes = [], {}, {}
    for name, frame, keys, value, lower in criteria:
        usable = _usable(frame, value, families, failed_keys)
        if usable.empty or any(k not in usable for k in keys):
            continue
        blocks, note = _blocks(usable, keys, value, families)
        if blocks.shape[0] < 2 or blocks.shape[1] < 2:
            notes[name] = "too few blocks or families for a test" + (f" ({note})" if note else "")
            continue
        row, mean_ranks = rank_tests.ranking_test(blocks, criterion=name, lower_is_better=lower)
        rows.append(row)
        ranks[name] = mean_ranks
        notes[name] = note
    table = pd.DataFrame(rows, columns=rank_tests.RANKING_TEST_COLUMNS)
    return table, ranks, notes


# ------------------------------------------------------------------ the section


def _decision_table(part: pd.DataFrame, families: Sequence[str], detectable: Mapping) -> pd.DataFrame:
    """family × z: the decision against fcae / against PCA ("better", "worse", "–" not distinguishable, "n/a" not
    compared); a last row with the smallest difference fcae's seeds could detect where a comparison is "–"."""
    name = part["criterion"].iloc[0]
    refs = [r for r in (FCAE, PCA) if r in set(part["reference"])]
    zs = sorted(int(z) for z in set(part["latent_dim"]))
    decided = {(f, int(z), r): d for f, z, r, d in zip(part["family"], part["latent_dim"], part["reference"],
                                                      part["decision"])}
    shown = [f for f in families if f in set(part["family"])]
    rows = [{"family": f, **{f"z = {z}": " / ".join(_SHORT.get(decided.get((f, z, r)), "n/a") for r in refs)
                             for z in zs}} for f in shown]
    if any((name, z) in detectable for z in zs):
        rows.append({"family": "smallest Δ fcae's seeds detect", **{
            f"z = {z}": _number(detectable.get((name, z)))
            if ((part["latent_dim"] == z) & (part["decision"] == "not distinguishable")).any() else "" for z in zs}})
    return pd.DataFrame(rows)


def _number(value) -> str:
    return "– (one seed)" if value is None or not np.isfinite(value) else f"{value:.3g}"


def _decision_lines(part: pd.DataFrame) -> list[str]:
    """One line per family, reference and decision with its z (the only place the section says "detectably")."""
    decided = part[part["decision"].isin(["better", "worse"])]
    lines = []
    for (family, reference, decision), rows in decided.groupby(["family", "reference", "decision"], sort=False):
        ref = "PCA" if reference == PCA else reference
        cells = "; ".join(f"z = {int(r.latent_dim)} (Δ = {r.estimate:+.4g}, 95 % interval {r.ci_low:.4g} to "
                          f"{r.ci_high:.4g}, Holm-adjusted p = {r.p_adjusted:.2g})"
                          for r in rows.sort_values("latent_dim").itertuples(index=False))
        lines.append(f"- {family} detectably {decision} than {ref} at {cells}.")
    return lines


def _seeds_words(counts: Sequence[int]) -> str:
    low, high = min(counts), max(counts)
    return f"{low} seeds" if low == high else f"{low}–{high} seeds"


def _comparisons_text(table: pd.DataFrame, lower: Mapping[str, bool], notes: Sequence[str],
                      families: Sequence[str], detectable: Mapping) -> str:
    if table.empty:
        return ("No declared comparison could be made (no criterion had a family and a reference, fcae or PCA, over "
                "common seeds and images)." + ("\n\nLeft out: " + "; ".join(notes) + "." if notes else "") + "\n")
    counts = sorted({int(n) for n in table["_n_seeds"]})
    n = max(counts)
    distinct = math.comb(2 * n - 1, n)
    weak = (f"With {_seeds_words(counts)} the seed stage is weak: it resamples from only {distinct} distinct seed "
            "sets, so the intervals are rough and a difference that retraining with other seeds would erase can "
            "still look stable; the smallest difference the seeds could detect is given where a comparison is not "
            "distinguishable. " if n < _FEW_SEEDS else "")
    parts = [f"Each family against two references only — fcae, and PCA with the same z where PCA applies "
             "(reconstruction of the test set and of each complementary data set) — per criterion and z; "
             "`summary/comparisons.csv` holds every comparison. Estimate: family − reference. The 95 % interval is "
             "a two-stage bootstrap: the training seeds are resampled, then the test images within each resampled "
             "seed, with the same draws for the family and its reference (criteria with one value per run — OOD "
             "detection, the latent measures, the generative score — are resampled over seeds alone). The test "
             "is over seeds, the unit a claim about a family generalises over: a paired t-test of the per-seed "
             "differences (n seeds − 1 degrees of freedom; a bootstrap p-value would reject far too often with "
             "this few seeds). A comparison is a decision only when its Holm-adjusted p (over all comparisons "
             "of one criterion) is below 5 % and the interval excludes 0; every other one is not "
             f"distinguishable at the seeds it had. {weak}Cells: the decision against fcae / against PCA "
             "(\"–\": not distinguishable, \"n/a\": "
             "not compared); the last row: the smallest difference fcae's seeds could detect (a rough normal "
             "approximation from the spread of its per-seed means), where a cell is \"–\".\n"]
    for name, part in table.groupby("criterion", sort=False):
        n_here = _seeds_words(sorted({int(v) for v in part["_n_seeds"]}))
        better = "lower" if lower.get(name, True) else "higher"
        lines = _decision_lines(part)
        undecided = (part["decision"] == "not distinguishable").sum()
        rest = (f"- {'Every other' if lines else 'Every'} comparison of this criterion ({undecided}): not "
                f"distinguishable at {n_here}." if undecided else "")
        over = part.loc[part["reference"] == FCAE, "over"] if (part["reference"] == FCAE).any() else part["over"]
        over = over.iloc[0].removesuffix("; PCA deterministic")
        parts.append(f"### {_title(name)}: `{name}` ({better} is better; {over})\n\n"
                     + markdown(_decision_table(part, families, detectable)) + "\n"
                     + "\n".join([*lines, rest]).strip() + "\n")
    if notes:
        parts.append("Left out: " + "; ".join(notes) + ".\n")
    return "\n".join(parts)


def _rank_tests_text(table: pd.DataFrame, ranks: Mapping[str, pd.Series], notes: Mapping[str, str]) -> str:
    parts = ["### Rank tests across blocks\n\nPer criterion a Friedman test over the blocks (z × seed; z × data set "
             "× seed for OOD), one value per family in each, families ranked within each block (ties share the "
             "average rank), with the Nemenyi critical difference CD at 5 % (Demšar 2006): families whose mean "
             "ranks differ by less than CD are not distinguishable. Blocks share seeds and models, so they are not "
             "independent: read the test as a summary of consistency, not as a test of families in general "
             "(`summary/ranking_tests.csv`).\n"]
    for row in table.itertuples(index=False):
        name = row.criterion
        order = ranks[name]
        groups = rank_tests.cd_groups(order.to_dict(), row.critical_difference)
        tied = "; ".join("{" + ", ".join(g) + "}" for g in groups if len(g) > 1)
        note = notes.get(name, "")
        parts.append(f"- **{_title(name)}** (`{name}`): χ²_F = {row.friedman_statistic:.3g}, "
                     f"p = {row.friedman_p:.2g}, CD = {row.critical_difference:.3g} over {int(row.n_blocks)} "
                     f"blocks; families whose mean ranks differ by less than CD are not distinguishable. Mean ranks: "
                     + ", ".join(f"{f} {r:.2f}" for f, r in order.items())
                     + (f". Not distinguishable: {tied}" if tied else "") + (f" ({note})" if note else "") + ".\n\n"
                     f"  ![CD diagram, {name}](../figures/cd_{name}.png)\n")
    for name, note in notes.items():
        if name not in set(table["criterion"]) and note:
            parts.append(f"- `{name}`: no test ({note}).\n")
    return "\n".join(parts)


def declared_section(out: Path, *, sweep_runs: pd.DataFrame, ood: pd.DataFrame, latent: pd.DataFrame,
                     generative_samples: pd.DataFrame | None, samples: Samples, pca_samples: PCASamples | None,
                     families: Sequence[str], figures: Path, n_boot: int = two_stage.N_BOOT) -> str:
    """Write ``comparisons`` and ``ranking_tests`` (csv, tex, md) in ``out`` and a CD diagram per criterion in
    ``figures`` (``cd_<criterion>``); return the report's section "Declared comparisons and rank tests".

    Args:
        out: the summary folder; figures: the study's figure folder.
        sweep_runs, ood, latent, generative_samples: the step tables ``latent_sweep_runs``, ``ood_rmse``,
            ``latent_quality`` and ``generative_samples`` (the study's settings; empty or None when a step has not
            run).
        samples: the per-image RMSE of the runs (:class:`aelib.report.Samples`).
        pca_samples: ``pca_samples(z, dataset)`` → PCA's per-image RMSE with z components on the test set
            (dataset None) or a complementary data set (the same images as the families'), None where absent;
            None: no PCA reference.
        families: the families compared, in this order (fcae among them for the fcae reference).
        n_boot: bootstrap resamples of every comparison.

    Criteria: ``reconstruction``, ``ood_generalisation_<data set>`` (per-image RMSE; references fcae and PCA),
    ``ood_detection_<data set>``, ``latent_structure_<measure>`` (the five measures separately) and
    ``generative`` (one value per seed; reference fcae). A failed run (:func:`aelib.report.runs.failed_runs`) or
    a non-finite value leaves its family out of that criterion at that z (and out of the criterion's rank test).
    """
    families = list(dict.fromkeys(families))
    table, lower, notes, detectable = comparisons_table(
        sweep_runs=sweep_runs, ood=ood, latent=latent, generative_samples=generative_samples, samples=samples,
        pca_samples=pca_samples, families=families, n_boot=n_boot)
    write_table(table[two_stage.COMPARISON_COLUMNS], out / "comparisons",
                caption="Declared comparisons: each family against fcae and PCA per criterion and z, estimate "
                        "family $-$ reference with its 95\\% two-stage bootstrap interval, Holm decision per "
                        "criterion")
    tests, ranks, test_notes = rank_tests_table(sweep_runs=sweep_runs, ood=ood, latent=latent,
                                                generative_samples=generative_samples, families=families)
    write_table(tests, out / "ranking_tests",
                caption="Friedman test per criterion over its blocks (z $\\times$ data set $\\times$ seed) with "
                        "the Nemenyi critical difference (Demšar 2006)")
    for row in tests.itertuples(index=False):
        fig = plots.cd_diagram(ranks[row.criterion].to_dict(), row.critical_difference,
                               title=f"{_title(row.criterion)}: mean rank over {int(row.n_blocks)} blocks")
        plots.save_figure(fig, Path(figures) / f"cd_{row.criterion}")
    return ("## Declared comparisons and rank tests\n\n"
            + _comparisons_text(table, lower, notes, families, detectable) + "\n"
            + _rank_tests_text(tests, ranks, test_notes))
