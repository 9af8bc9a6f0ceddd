"""What each criterion ranks, with bootstrap rank intervals, and every pair of families compared per criterion
and z (the numbers from :mod:`aelib.stats`); writes the ranking and pairwise tables of the summary.

Takes the step tables as DataFrames and the per-sample RMSE through a :class:`Samples` object (the study
layer reads both).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from aelib import stats
from aelib.criteria import GENERATIVE, GENERATIVE_BESIDE, LATENT_MEASURES
from aelib.report.ranking import (
    criterion_weights,
    excluded_text,
    long_ranking,
    rank_table,
    ranking_sensitivity,
    reference_text,
)
from aelib.report.runs import failed_runs, runs_text
from aelib.report.tables import markdown, write_table

#: The column :func:`ranking_and_comparisons` adds to a step table: the row is a run that failed
#: (:func:`aelib.report.runs.failed_runs`) or its value is not finite. A family with such a row is left out of a
#: criterion's ranking (``_common_cells``) and of the paired comparisons of that cell.
FAILED = "_failed"


class Samples(Protocol):
    """Per-test-sample RMSE of a study's runs (None where the file is absent)."""

    def train(self, family: str, z: int, seed: int, depth: int | None = None) -> np.ndarray | None:
        """The trained model's per-test-image RMSE."""

    def ood(self, family: str, z: int, seed: int, dataset: str) -> np.ndarray | None:
        """The per-image RMSE of the trained model on complementary data set ``dataset``."""


def _common_cells(frame: pd.DataFrame, keys: Sequence[str]) -> tuple[list[str], list[tuple], list[int]]:
    """Families, cells (values of ``keys``) and seeds such that every family has every (cell, seed).

    When no seed covers every cell every family has, the seed covering most cells is used with those cells.
    """
    if FAILED in frame:  # a family with a failed run here is left out (listed in `excluded`)
        frame = frame[~frame["family"].isin(frame.loc[frame[FAILED].astype(bool), "family"])]
    if frame.empty:
        return [], [], []
    families = list(dict.fromkeys(frame["family"]))
    have = [set(frame.loc[frame["family"] == f, [*keys, "seed"]].itertuples(index=False, name=None)) for f in families]
    common = set.intersection(*have)
    cells = sorted({c[:-1] for c in common})
    all_seeds = sorted({c[-1] for c in common})
    seeds = [s for s in all_seeds if all((*cell, s) in common for cell in cells)]
    if not seeds and all_seeds:
        best = max(all_seeds, key=lambda s: sum((*cell, s) in common for cell in cells))
        cells, seeds = [cell for cell in cells if (*cell, best) in common], [best]
    return families, cells, [int(s) for s in seeds]


def _seed_units(frame: pd.DataFrame, keys: Sequence[str],
                value: str) -> tuple[dict[str, np.ndarray], list[tuple], list[int]]:
    """family → one value per seed (the mean of ``value`` over the cells every family has), the cells, the seeds."""
    frame = _mark_non_finite(frame.dropna(subset=[value]), [value])
    families, cells, seeds = _common_cells(frame, keys)
    if not cells or not seeds:
        return {}, [], []
    table = frame.groupby(["family", *keys, "seed"])[value].mean()
    units = {f: np.array([np.mean([table[(f, *cell, s)] for cell in cells]) for s in seeds]) for f in families}
    return units, cells, seeds


def _mark_non_finite(frame: pd.DataFrame, values: Sequence[str]) -> pd.DataFrame:
    """``frame`` with :data:`FAILED` also set on rows where one of ``values`` is infinite (NaN is a missing
    value, dropped before)."""
    if frame.empty:
        return frame
    bad = ~np.isfinite(frame[list(values)].astype(float)).all(axis=1) & frame[list(values)].notna().all(axis=1)
    if not bad.any() and FAILED not in frame:
        return frame
    return frame.assign(**{FAILED: bad | (frame[FAILED].astype(bool) if FAILED in frame else False)})


def _left_out(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Family → its rows marked :data:`FAILED` (``latent_dim``, ``seed``): what a criterion built on ``frame``
    leaves out."""
    if frame.empty or FAILED not in frame:
        return {}
    failed = frame[frame[FAILED].astype(bool)]
    return {str(f): part[["latent_dim", "seed"]].drop_duplicates().sort_values(["latent_dim", "seed"])
            for f, part in failed.groupby("family", sort=False)}


def _seeds_text(seeds: Sequence[int]) -> str:
    return f"seeds ({len(seeds)}: {', '.join(map(str, seeds))})"


def _cells_text(cells: Sequence[tuple], names: Sequence[str]) -> str:
    values = [sorted({c[i] for c in cells}) for i in range(len(names))]
    return "; ".join(f"{name} = {', '.join(map(str, v))}" for name, v in zip(names, values))


def _aligned(arrays: Mapping[str, np.ndarray | None]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays present, finite and of the most common length; and the families left out."""
    present = {f: a for f, a in arrays.items() if a is not None and np.all(np.isfinite(a))}
    if not present:
        return {}, list(arrays)
    length = pd.Series({f: len(a) for f, a in present.items()}).mode().iloc[0]
    kept = {f: a for f, a in present.items() if len(a) == length}
    return kept, [f for f in arrays if f not in kept]


def _pairwise_block(values: Mapping[str, np.ndarray], *, over: str, keys: dict, strata=None) -> pd.DataFrame | None:
    """:func:`aelib.stats.pairwise_table` with the block's keys in front; None for fewer than two families."""
    values = {f: v for f, v in values.items() if np.all(np.isfinite(v))}
    if len(values) < 2:
        return None
    table = stats.pairwise_table(values, over=over, strata=strata)
    for i, (k, v) in enumerate(keys.items()):
        table.insert(i, k, v)
    return table


def _cell_pairwise(frame: pd.DataFrame, keys: Sequence[str], value: str, samples=None, *,
                   label: dict | None = None) -> list[pd.DataFrame]:
    """Pairwise tables per cell (values of ``keys``): over the test samples of one seed when ``samples``
    (``(family, cell, seed) → array``) gives them (families without that file are left out of the block), and
    over seeds where the families there have two or more in common; a global measure with one seed gives rows
    that say so. ``label``: columns put in front."""
    blocks = []
    frame = _mark_non_finite(frame.dropna(subset=[value]), [value])
    for cell, part in frame.groupby(list(keys), sort=True):
        cell = cell if isinstance(cell, tuple) else (cell,)
        front = {**(label or {}), **dict(zip(keys, cell))}
        families, _, seeds = _common_cells(part, [])
        if samples is not None and seeds:
            arrays, _ = _aligned({f: samples(f, cell, seeds[0]) for f in families})
            block = _pairwise_block(arrays, over=f"test samples (seed {seeds[0]})", keys=front)
            if block is not None:
                blocks.append(block)
        if len(seeds) >= 2 or samples is None:
            per_seed = part[part["seed"].isin(seeds)].groupby(["family", "seed"])[value].mean()
            units = {f: per_seed[f].reindex(seeds).to_numpy() for f in families}
            over = "seeds" if len(seeds) >= 2 else "one seed"
            block = _pairwise_block(units, over=over, keys=front) if seeds else None
            if block is not None:
                blocks.append(block)
    return blocks


def _ranked(name: str, table: pd.DataFrame, *, better: str, what: str, over: str,
            excluded: Mapping[str, pd.DataFrame] | None = None, reference: pd.DataFrame | None = None) -> dict:
    """One ranked criterion. ``excluded``: family → the failed runs that kept it out (:func:`_left_out`);
    ``reference``: rows shown beside the ranking, never ranked (``family``, ``value``, ``over``)."""
    found = {"name": name, "table": table, "better": better, "what": what, "over": over, "reference": reference}
    if excluded is not None:  # else ranking_and_comparisons lists the failed runs of the families not ranked
        found["excluded"] = dict(excluded)
    return found


def _reconstruction_criterion(runs: pd.DataFrame, samples: Samples) -> tuple[dict | None, list[pd.DataFrame]]:
    if runs.empty:
        return None, []
    units, cells, seeds = _seed_units(runs, ["latent_dim"], "rmse_mean")
    depth = runs.groupby("family")["depth"].first() if "depth" in runs else pd.Series(dtype=float)

    def train(family: str, cell: tuple, seed: int) -> np.ndarray | None:
        return samples.train(family, cell[0], seed, depth.get(family))

    pairwise = _cell_pairwise(runs, ["latent_dim"], "rmse_mean", samples=train)
    if not units:
        return None, pairwise
    where = _cells_text(cells, ["z"])
    what = f"test RMSE, mean over {where}"
    if len(seeds) >= 2:
        over = f"{_seeds_text(seeds)}; each seed's test RMSE"
    else:
        per_family = {}
        for f in units:  # each test image's RMSE averaged over z (the same images at every z)
            per_z = [train(f, cell, seeds[0]) for cell in cells]
            ok = all(a is not None for a in per_z) and len({len(a) for a in per_z}) == 1
            per_family[f] = np.mean(per_z, axis=0) if ok else None
        arrays, missing = _aligned(per_family)
        if not missing:
            units, over = arrays, f"test samples ({len(next(iter(arrays.values())))} images, seed {seeds[0]})"
        else:
            over = f"one seed: no interval (per-sample RMSE missing for {', '.join(missing)})"
    table = stats.rank_intervals(units, lower_is_better=True)
    return _ranked("reconstruction", table, better="lower", what=what, over=over,
                   excluded=_left_out(_mark_non_finite(runs, ["rmse_mean"]))), pairwise


def stand_in_datasets(ood: pd.DataFrame) -> dict[str, str]:
    """Complementary data sets loaded from a stand-in (``stand_in`` true in ``ood``): name → source."""
    if ood.empty or "stand_in" not in ood or "dataset" not in ood:
        return {}
    rows = ood[ood["stand_in"].astype(str).str.strip().str.lower() == "true"]
    source = rows["data_source"] if "data_source" in rows else rows["dataset"]
    return {str(d): str(s) for d, s in zip(rows["dataset"], source)}


def _datasets_text(cells: Sequence[tuple], stand_ins: Mapping[str, str]) -> str:
    """"data set = emnist_letters (stand-in: font-rendered-stand-in), fashion_mnist"."""
    names = sorted({str(c[1]) for c in cells})
    return "data set = " + ", ".join(n + (f" (stand-in: {stand_ins[n]})" if n in stand_ins else "") for n in names)


def _pca_reference(pca: pd.DataFrame | None, cells: Sequence[tuple]) -> pd.DataFrame | None:
    """PCA's complementary-data RMSE averaged over the same (z, data set) cells as the families', as a reference
    row; None when PCA lacks one of them."""
    if pca is None or pca.empty or not {"latent_dim", "dataset", "rmse_mean"} <= set(pca):
        return None
    rows = pca[pca["role"] == "complementary"] if "role" in pca else pca
    value = rows.groupby(["latent_dim", "dataset"])["rmse_mean"].mean()
    if not cells or any((int(z), d) not in value.index for z, d in cells):
        return None
    return pd.DataFrame([{"family": "pca", "value": float(np.mean([value[(int(z), d)] for z, d in cells])),
                          "over": "reference: PCA fitted on the training data at each z (deterministic, no "
                                  "seeds); not ranked"}])


def _ood_criteria(ood: pd.DataFrame, samples: Samples,
                  pca: pd.DataFrame | None = None) -> tuple[list[dict], dict[str, list[pd.DataFrame]]]:
    comp = ood[ood["role"] == "complementary"] if "role" in ood else pd.DataFrame()
    if comp.empty:
        return [], {}
    stand_ins = stand_in_datasets(comp)

    def ood_samples(family: str, cell: tuple, seed: int) -> np.ndarray | None:
        return samples.ood(family, cell[0], seed, cell[1])

    keys = ["latent_dim", "dataset"]
    pairwise = {"ood_generalisation": _cell_pairwise(comp, keys, "rmse_mean", samples=ood_samples),
                "ood_detection": _cell_pairwise(comp, keys, "auroc") if "auroc" in comp else []}
    ranked = []
    units, cells, seeds = _seed_units(comp, keys, "rmse_mean")
    if units:
        what = (f"RMSE on complementary data, mean over {_cells_text(cells, ['z'])}; "
                f"{_datasets_text(cells, stand_ins)}")
        over = f"{_seeds_text(seeds)}; each seed's mean RMSE" if len(seeds) >= 2 else "one seed: no interval"
        strata = None
        if len(seeds) < 2:
            datasets = sorted({c[1] for c in cells})
            per_family, missing = {}, []
            for f in units:
                parts = []
                for d in datasets:
                    arrays = [ood_samples(f, c, seeds[0]) for c in cells if c[1] == d]
                    if any(a is None for a in arrays) or len({len(a) for a in arrays}) != 1:
                        parts = None
                        break
                    parts.append(np.mean(arrays, axis=0))
                if parts is None:
                    missing.append(f)
                else:
                    per_family[f] = parts
            lengths = {tuple(len(p) for p in parts) for parts in per_family.values()}
            if not missing and len(lengths) == 1:
                units = {f: np.concatenate(parts) for f, parts in per_family.items()}
                strata = np.concatenate([[d] * n for d, n in zip(datasets, next(iter(lengths)))])
                over = (f"test samples ({len(strata)} complementary images, seed {seeds[0]}; resampled within "
                        "each data set)")
            elif missing:
                over = f"one seed: no interval (per-sample RMSE missing for {', '.join(missing)})"
        table = stats.rank_intervals(units, lower_is_better=True, strata=strata)
        ranked.append(_ranked("ood_generalisation", table, better="lower", what=what, over=over,
                              excluded=_left_out(_mark_non_finite(comp, ["rmse_mean"])),
                              reference=_pca_reference(pca, cells)))
    if "auroc" in comp:
        units, cells, seeds = _seed_units(comp, keys, "auroc")
        if units:
            what = ("ROC AUC of per-sample RMSE (complementary vs test data), mean over "
                    + _cells_text(cells, ["z"]) + "; " + _datasets_text(cells, stand_ins))
            over = _seeds_text(seeds) if len(seeds) >= 2 else "one seed: no interval"
            ranked.append(_ranked("ood_detection", stats.rank_intervals(units, lower_is_better=False),
                                  better="higher", what=what, over=over,
                                  excluded=_left_out(_mark_non_finite(comp.dropna(subset=["auroc"]), ["auroc"]))))
    return ranked, pairwise


def _latent_reference(pca_latent: pd.DataFrame | None, per_measure: Mapping, cells: Sequence[tuple],
                      measures: Sequence[str]) -> pd.DataFrame | None:
    """PCA's latent composite on the families' scale: each measure averaged over the same z, standardised with
    the families' mean and spread (the composite's own), then averaged — a reference row, never ranked."""
    if pca_latent is None or pca_latent.empty or "latent_dim" not in pca_latent:
        return None
    rows = pca_latent[pca_latent["latent_dim"].isin([c[0] for c in cells])]
    if rows["latent_dim"].nunique() != len(cells) or any(m not in rows for m in measures):
        return None
    directions = {m: LATENT_MEASURES[m] for m in measures}
    scales = stats.measure_scales({m: per_measure[m] for m in measures}, higher_is_better=directions)
    value = stats.standardised_score({m: float(rows[m].mean()) for m in measures}, scales,
                                     higher_is_better=directions)
    return pd.DataFrame([{"family": "pca", "value": value,
                          "over": "reference: PCA with the same z (deterministic), standardised on the families' "
                                  "scale"}])


def _latent_criterion(latent: pd.DataFrame,
                      pca_latent: pd.DataFrame | None = None) -> tuple[dict | None, list[pd.DataFrame]]:
    measures = [m for m in LATENT_MEASURES if m in latent and latent[m].notna().any()]
    if latent.empty or not measures:
        return None, []
    pairwise = []
    for m in measures:
        pairwise += _cell_pairwise(latent, ["latent_dim"], m, label={"measure": m})
    frame = _mark_non_finite(latent.dropna(subset=measures), measures)
    families, cells, seeds = _common_cells(frame, ["latent_dim"])
    if not families:
        return None, pairwise
    frame = frame[frame["latent_dim"].isin([c[0] for c in cells]) & frame["seed"].isin(seeds)]
    per_measure = {m: _seed_units(frame, ["latent_dim"], m)[0] for m in measures}
    table = stats.standardised_composite(per_measure, higher_is_better={m: LATENT_MEASURES[m] for m in measures})
    what = (f"mean of {', '.join(measures)}, each standardised against its spread over families and seeds (in "
            f"standard deviations, sign turned so that higher is better; each averaged over "
            f"{_cells_text(cells, ['z'])}); an effect-size composite, not a mean of ranks")
    over = (f"{_seeds_text(seeds)}; the seeds resampled, every measure's standardisation kept" if len(seeds) >= 2
            else "one seed: no interval")
    return _ranked("latent_structure", table, better="higher", what=what, over=over,
                   excluded=_left_out(frame),
                   reference=_latent_reference(pca_latent, per_measure, cells, measures)), pairwise


def generative_degradation(gen: pd.DataFrame) -> pd.DataFrame:
    """Per (family, mode, z, seed): the slope of each score against p over the levels p > 0, relative to p = 0
    (:func:`aelib.stats.degradation_slope`): ``rmse_slope`` (RMSE to the original images; the ranked one),
    and where present ``label_consistency_slope`` and ``frechet_slope``. Prior samples (no level) are left out."""
    perturbed = gen[gen["level"].notna()] if "level" in gen else pd.DataFrame()
    if "source" in perturbed:
        perturbed = perturbed[perturbed["source"].fillna("perturbed") == "perturbed"]
    if perturbed.empty:
        return pd.DataFrame()
    perturbed = perturbed.assign(mode=perturbed["mode"].fillna("unknown") if "mode" in perturbed else "unknown")
    scores = [c for c in ("rmse_mean", "label_consistency", "frechet") if c in perturbed]
    rows = []
    for (family, mode, z, seed), part in perturbed.groupby(["family", "mode", "latent_dim", "seed"], sort=True):
        part = part.groupby("level")[scores].mean().reset_index()
        row = {"family": family, "mode": mode, "latent_dim": z, "seed": seed,
               "levels_used": int((part["level"] > 0).sum())}
        for score in scores:
            try:
                row[f"{score.removesuffix('_mean')}_slope"] = stats.degradation_slope(part["level"], part[score])
            except ValueError:
                row[f"{score.removesuffix('_mean')}_slope"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _smoothness_criteria(degradation: pd.DataFrame) -> tuple[list[dict], list[pd.DataFrame]]:
    """One criterion per perturbation mode (``smoothness_<mode>``): the slope of test RMSE against p. A
    descriptor of the decoder's smoothness and robustness, weight 0 (:data:`aelib.criteria.RANKING_WEIGHTS`)."""
    if degradation.empty or "rmse_slope" not in degradation:
        return [], []
    ranked, pairwise = [], []
    for mode, part in degradation.groupby("mode", sort=True):
        pairwise += _cell_pairwise(part, ["latent_dim"], "rmse_slope", label={"mode": mode})
        units, cells, seeds = _seed_units(part, ["latent_dim"], "rmse_slope")
        if not units:
            continue
        what = (f"{mode} perturbation: slope of test RMSE against p over p > 0, relative to p = 0, mean over "
                f"{_cells_text(cells, ['z'])} (smoothness / robustness of the decoder, not generation: a decoder "
                "that ignores its code has a flat curve)")
        over = _seeds_text(seeds) if len(seeds) >= 2 else "one seed: no interval"
        ranked.append(_ranked(f"smoothness_{mode}", stats.rank_intervals(units, lower_is_better=True),
                              better="lower", what=what, over=over))
    return ranked, pairwise


def _generative_criterion(samples: pd.DataFrame) -> tuple[dict | None, list[pd.DataFrame]]:
    """The generative criterion (:data:`aelib.criteria.GENERATIVE`): the Fréchet distance of the GMM samples
    in the judge's features, lower is better, mean over the z every family has; precision and recall are
    described beside it, not combined into the rank."""
    score, sampler = GENERATIVE["score"], GENERATIVE["sampler"]
    if samples.empty or score not in samples or "sampler" not in samples:
        return None, []
    part = samples[samples["sampler"] == sampler]
    pairwise = _cell_pairwise(part, ["latent_dim"], score, label={"sampler": sampler})
    units, cells, seeds = _seed_units(part, ["latent_dim"], score)
    if not units:
        return None, pairwise
    first = part.iloc[0]
    how = (f"{int(first['n_samples'])} samples" if "n_samples" in part and pd.notna(first["n_samples"])
           else "samples")
    if "n_components" in part and pd.notna(first["n_components"]):
        how += f" decoded from a {int(first['n_components'])}-component Gaussian mixture fitted to the training codes"
    k = f"k = {int(first['k'])}" if "k" in part and pd.notna(first["k"]) else "k undeclared"
    beside = [c for c in GENERATIVE_BESIDE if c in part]
    what = (f"Fréchet distance of GMM samples in the judge's features: {how}, against the real test images, mean "
            f"over {_cells_text(cells, ['z'])}"
            + (f"; {' and '.join(beside[:2])} (k-NN balls, {k}) beside it in summary/generative_samples.csv, "
               "not combined into the rank" if beside else ""))
    over = _seeds_text(seeds) if len(seeds) >= 2 else "one seed: no interval"
    return _ranked("generative", stats.rank_intervals(units, lower_is_better=True), better="lower", what=what,
                   over=over, excluded=_left_out(_mark_non_finite(part.dropna(subset=[score]), [score]))), pairwise


def _detectable_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per criterion, block and unit: detectable differences out of the pairs compared, one column per z."""
    rows = []
    for name, table in tables.items():
        detail = next((c for c in ("dataset", "measure", "mode") if c in table), None)
        for (over, z, *rest), part in table.groupby(["over", "latent_dim", *([detail] if detail else [])], sort=True):
            tested = part["p"].notna().sum()
            rows.append({"criterion": name, "detail": rest[0] if rest else "", "over": over, "z": f"z={z}",
                         "cell": f"{int(part['reject'].sum())}/{len(part)}" if tested else f"–/{len(part)}"})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    order = list(dict.fromkeys(frame["z"]))
    wide = frame.pivot_table(index=["criterion", "detail", "over"], columns="z", values="cell", aggfunc="first")
    wide = wide[sorted(order, key=lambda c: int(c[2:]))].reset_index().fillna("")
    position = {name: i for i, name in enumerate(tables)}
    return wide.iloc[np.argsort(wide["criterion"].map(position).to_numpy(), kind="stable")].reset_index(drop=True)


def ranking_and_comparisons(out: Path, *, sweep_runs: pd.DataFrame, ood: pd.DataFrame, latent: pd.DataFrame,
                            generative: pd.DataFrame, samples: Samples, families: Sequence[str],
                            chosen_z: Sequence[int], pca: pd.DataFrame | None = None,
                            generative_samples: pd.DataFrame | None = None,
                            pca_latent: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Criteria grouped and ranked with bootstrap intervals, every pair of families compared per criterion and
    z; writes the ranking, pairwise and sensitivity tables in ``out``; returns the ranking and the report sections.

    Args:
        out: the summary folder.
        sweep_runs, ood, latent, generative, generative_samples: the step tables ``latent_sweep_runs``,
            ``ood_rmse``, ``latent_quality``, ``generative`` (perturbation: the smoothness descriptors) and
            ``generative_samples`` (the generative criterion) (the study's settings; empty or None when a step has
            not run).
        samples: the per-sample RMSE of the runs, for intervals and comparisons over test images.
        families: the families ranked, in the order pairs are formed; chosen_z: the z of the latent criterion.
        pca: the PCA baseline rows (``latent_dim``, ``dataset``, ``role``, ``rmse_mean``): a reference row beside
            the OOD generalisation ranking, never ranked.
        pca_latent: PCA's latent measures at each z (``latent_quality_pca``): a reference row beside the latent
            structure ranking, never ranked.

    A run of ``sweep_runs`` that fails ``beats_mean_image`` or has non-finite output
    (:func:`aelib.report.runs.failed_runs`), and a row whose value is not finite, is failed: its family is left out
    of every criterion whose cells hold it and of the paired comparisons of that cell, and listed in the
    ``excluded`` column of ``ranking_by_criterion`` (and of ``ranking``).
    """
    order = {f: i for i, f in enumerate(families)}
    failed = failed_runs(sweep_runs[sweep_runs["family"].isin(families)] if "family" in sweep_runs else sweep_runs)
    failed_keys = set(zip(failed["family"], failed["latent_dim"].astype(int), failed["seed"].astype(int)))

    def keep(frame: pd.DataFrame) -> pd.DataFrame:  # the families asked for, in their order (pairs: a before b)
        if "family" not in frame:
            return pd.DataFrame()
        frame = frame[frame["family"].isin(families)]
        frame = frame.iloc[np.argsort(frame["family"].map(order).to_numpy(), kind="stable")]
        if failed_keys and {"latent_dim", "seed"} <= set(frame):  # failed runs marked, left out by _common_cells
            frame = frame.assign(**{FAILED: [(f, int(z), int(s)) in failed_keys for f, z, s in
                                             zip(frame["family"], frame["latent_dim"], frame["seed"].fillna(-1))]})
        return frame

    ranked: list[dict] = []
    pairwise: dict[str, list[pd.DataFrame]] = {}

    criterion, pairwise["reconstruction"] = _reconstruction_criterion(keep(sweep_runs), samples)
    ranked += [criterion] if criterion else []
    found, blocks = _ood_criteria(keep(ood), samples, pca)
    ranked += found
    pairwise.update(blocks)
    latent = keep(latent)
    latent = latent[latent["latent_dim"].isin(chosen_z)] if not latent.empty else latent
    criterion, pairwise["latent_structure"] = _latent_criterion(latent, pca_latent)
    ranked += [criterion] if criterion else []
    degradation = generative_degradation(keep(generative).drop(columns=FAILED, errors="ignore"))
    if not degradation.empty:
        write_table(degradation, out / "generative_degradation",
                    caption="Slope of each score against the perturbation p over p $>$ 0, relative to p = 0")
    criterion, pairwise["generative"] = _generative_criterion(
        keep(generative_samples if generative_samples is not None else pd.DataFrame()))
    ranked += [criterion] if criterion else []
    found, pairwise["smoothness"] = _smoothness_criteria(keep(degradation))
    ranked += found

    sections = []
    written = {name: pd.concat(blocks, ignore_index=True) for name, blocks in pairwise.items() if blocks}
    for name, table in written.items():
        write_table(table, out / f"pairwise_{name}",
                    caption=f"Paired differences between families: {name.replace('_', ' ')}")
    if written:
        summary = _detectable_summary(written)
        sections.append(
            "## Paired comparisons\n\nEvery pair of families per criterion and z: the mean difference a − b with a "
            f"95 % percentile bootstrap interval ({stats.N_BOOT} paired resamples) and a paired sign-flip test, "
            "Holm-corrected at 5 % over the pairs of one block (one criterion, z, data set/measure/mode and unit). "
            "*Over test samples*: per-sample RMSE of one seed's models on the same images — how sure the "
            "difference is for these trained models, not for a retrained one. *Over seeds*: one value per training "
            "seed (fewer than 6 seeds can never reach 5 % with the sign-flip test). AUROC, the projection measures, "
            "the sample scores and the perturbation slopes have no per-sample values: with one seed they get no "
            "interval (\"one seed\", "
            "shown –). Cells: detectable differences / pairs. Decisions in words (\"fcae lower than vae by …\" or "
            "\"no detectable difference\"): " + ", ".join(f"`summary/pairwise_{n}.csv`" for n in written) + ".\n\n"
            + markdown(summary))
    if not ranked:
        return pd.DataFrame(), sections

    for r in ranked:  # a criterion built without the failure marks: its families with failed runs were left out
        r.setdefault("excluded", {f: part[["latent_dim", "seed"]] for f, part in failed.groupby("family")
                                  if f not in set(r["table"]["family"])})
    listed = [f for f in families if any(f in r["excluded"] for r in ranked)]  # never ranked, listed
    criteria = {r["name"]: r["table"].set_index("family")["value"].reindex(
        list(r["table"]["family"]) + [f for f in listed if f not in set(r["table"]["family"])]) for r in ranked}
    better = {r["name"]: r["better"] == "higher" for r in ranked}
    ranking = rank_table(criteria, better, intervals={r["name"]: r["table"] for r in ranked})
    excluded_all = {f: runs_text(failed[failed["family"] == f]) for f in listed}
    if listed:
        ranking["excluded"] = ranking["family"].map(excluded_all).fillna("")
    weights = criterion_weights(list(criteria))
    write_table(ranking, out / "ranking", caption="Rank of each family per criterion (1 = best) with its 95\\% "
                "bootstrap interval, and overall (weighted mean rank)")
    long = long_ranking(ranked, weights)
    write_table(long, out / "ranking_by_criterion", caption="Rank per criterion with its 95\\% bootstrap interval; "
                "families left out for failed runs (excluded) and reference rows (not ranked) below")
    described = pd.DataFrame([{"criterion": r["name"], "what is ranked": r["what"], "better": r["better"],
                               "interval over": r["over"], "weight": weights[r["name"]]} for r in ranked])
    write_table(described, out / "ranking_criteria",
                caption="The ranking's criteria, what each interval is over, weights")
    sensitivity = ranking_sensitivity(ranking)
    write_table(sensitivity, out / "ranking_sensitivity", caption="Overall rank with each criterion left out in turn")
    sections.append(
        "## Ranking with uncertainty\n\nOne criterion per question, none counted twice: reconstruction; latent-space "
        "structure as one composite; OOD generalisation and OOD detection as two separate rankings, never averaged "
        "together; generative capacity as the quality of generated samples (the Fréchet distance of samples "
        "decoded from a Gaussian mixture fitted to each model's training codes, in the judge classifier's "
        "features; precision and recall beside it). The slope of RMSE under latent perturbation (p > 0 only, "
        "relative to p = 0, one per perturbation mode) describes smoothness and robustness and has weight 0: a "
        "decoder that ignores its code has a flat curve. Rank intervals: the units below resampled "
        f"jointly for all families ({stats.N_BOOT} times), families reranked each time, 2.5–97.5 % of each "
        "family's rank (`summary/ranking_by_criterion.csv`).\n\n" + markdown(described)
        + "\nSensitivity: the overall rank with each weighted criterion left out in turn"
        + (" (and with OOD detection in place of OOD generalisation)"
           if any(c.startswith("rank_with_") for c in sensitivity) else "")
        + "; `max_shift` is the largest change.\n\n" + markdown(sensitivity)
        + excluded_text(ranked, failed) + reference_text(ranked))
    return ranking, sections

