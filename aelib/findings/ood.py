"""Findings on complementary data against the PCA baseline (``summary/ood_ratio.csv``): where every family
reconstructs unfamiliar data worse than PCA fitted on the training data at the same z, and the ratio of OOD to
in-distribution RMSE as a descriptor. Stand-in data is named on every line that uses it."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from aelib.findings.wording import as_bool, check_columns, fmt_num, name_list, z_list

OOD_RATIO_REQUIRED = ("family", "latent_dim", "dataset", "ood_rmse", "in_rmse", "ratio")
REFERENCE = "pca"


def stand_ins_of(ood_ratio: pd.DataFrame | None) -> dict[str, str]:
    """Data set → its stand-in source (``stand_in`` true in ``summary/ood_ratio.csv``; "stand-in" when the
    source is not recorded)."""
    if ood_ratio is None or ood_ratio.empty or not {"dataset", "stand_in"} <= set(ood_ratio):
        return {}
    rows = ood_ratio[as_bool(ood_ratio["stand_in"].fillna(False))]
    sources = rows["data_source"] if "data_source" in rows else pd.Series("", index=rows.index)
    return {str(d): (str(s) if pd.notna(s) and str(s) else "stand-in") for d, s in zip(rows["dataset"], sources)}


def _label(dataset: str, stand_ins: Mapping[str, str]) -> str:
    return f"**{dataset}**" + (f" (stand-in: {stand_ins[dataset]})" if dataset in stand_ins else "")


def pca_finding(ood_ratio: pd.DataFrame | None) -> str:
    """One line per complementary data set: at which z every family's OOD RMSE (mean over its seeds) is above
    PCA's — "every family is worse than PCA on fashion_mnist at z = 2, 10, 40" — and at which z some family
    beats PCA; then the OOD / in-distribution ratio (a descriptor, not ranked). "" without PCA rows.

    Args:
        ood_ratio: ``summary/ood_ratio.csv`` (``family``, ``latent_dim``, ``dataset``, ``ood_rmse``, ``in_rmse``,
            ``ratio``; ``n_seeds``, ``stand_in``, ``data_source`` optional), with ``pca`` rows.

    Raises:
        ValueError: a table without the columns named above.
    """
    if ood_ratio is None or ood_ratio.empty:
        return ""
    check_columns(ood_ratio, OOD_RATIO_REQUIRED, "the OOD ratio table")
    frame = ood_ratio.assign(latent_dim=ood_ratio["latent_dim"].astype(int), family=ood_ratio["family"].astype(str))
    pca = frame[frame["family"] == REFERENCE]
    families = frame[frame["family"] != REFERENCE]
    if pca.empty or families.empty:
        return ""
    stand_ins = stand_ins_of(frame)
    seeds = sorted({int(n) for n in families["n_seeds"].dropna()}) if "n_seeds" in families else []
    seeds_text = (f"{seeds[0]} seed{'s' if seeds[0] != 1 else ''}" if len(seeds) == 1
                  else f"{seeds[0]}–{seeds[-1]} seeds" if seeds else "the seeds run")
    lines = []
    for dataset, part in families.groupby("dataset", sort=True):
        reference = pca[pca["dataset"] == dataset].set_index("latent_dim")["ood_rmse"]
        worse_all, beaten = [], []
        for z, cell in part.groupby("latent_dim", sort=True):
            if z not in reference.index:
                continue
            best = cell.loc[cell["ood_rmse"].idxmin()]
            ahead = cell[cell["ood_rmse"] < reference[z]].sort_values("ood_rmse")
            if ahead.empty:
                worse_all.append((z, float(reference[z]), str(best["family"]), float(best["ood_rmse"]), len(cell)))
            else:
                beaten.append((z, float(reference[z]), list(ahead["family"]), len(cell)))
        if not worse_all and not beaten:
            continue
        pieces = []
        if worse_all:
            counts = sorted({w[4] for w in worse_all})
            pieces.append(f"every family ({'–'.join(map(str, counts[::max(1, len(counts) - 1)]))}) is worse than PCA "
                          f"at z = {z_list([w[0] for w in worse_all])} (PCA "
                          + ", ".join(fmt_num(w[1]) for w in worse_all) + " against the best family's "
                          + ", ".join(f"{fmt_num(w[3])} ({w[2]})" for w in worse_all) + ")")
        for z, value, ahead, n in beaten:
            pieces.append(f"at z = {z}, {len(ahead)} of {n} families beat PCA ({fmt_num(value)}): "
                          + name_list(ahead))
        ratios = part["ratio"].replace([np.inf, -np.inf], np.nan).dropna()
        pca_ratio = pca[pca["dataset"] == dataset]["ratio"].dropna()
        ratio_text = (f" OOD / in-distribution RMSE (a descriptor, not ranked): families {ratios.min():.2f}–"
                      f"{ratios.max():.2f}" + (f", PCA {pca_ratio.min():.2f}–{pca_ratio.max():.2f}"
                                                 if not pca_ratio.empty else "") + "."
                      if not ratios.empty else "")
        lines.append(f"- {_label(str(dataset), stand_ins)}: " + "; ".join(pieces) + "." + ratio_text)
    if not lines:
        return ""
    return ("\nAgainst PCA fitted on the training data at the same z (`summary/ood_ratio.csv`; each family's RMSE "
            f"is the mean over {seeds_text}, runs failing the gates left out; not a test, PCA has no seeds):\n\n"
            + "\n".join(lines) + "\n")
