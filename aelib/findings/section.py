"""The report's ``## Findings`` section, assembled from the findings per criterion and the seed study's claims,
and the tables it reads from a study's results folder."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from aelib.criteria import GROUPS, criterion_group
from aelib.findings.capacity import matched_finding, objectives_finding
from aelib.findings.claims import augmentation_claim, depth_claim, latent_claim
from aelib.findings.ood import pca_finding, stand_ins_of
from aelib.findings.ranking import RANKING_REQUIRED, criterion_finding, pairwise_for

# A file older than ``since`` by more than this many seconds is a leftover of an earlier summary.
_MTIME_SLACK_S = 2.0


def findings_section(*, ranking_by_criterion: pd.DataFrame | None = None,
                     ranking_criteria: pd.DataFrame | None = None,
                     pairwise: Mapping[str, pd.DataFrame] | None = None,
                     architecture: pd.DataFrame | None = None, latent_quality: pd.DataFrame | None = None,
                     augmentation_summary: pd.DataFrame | None = None,
                     augmentation_results: pd.DataFrame | None = None,
                     ood_ratio: pd.DataFrame | None = None,
                     comparisons: pd.DataFrame | None = None,
                     depth_by_size: pd.DataFrame | None = None,
                     architectures_matched: pd.DataFrame | None = None,
                     latent_directions: Mapping[str, bool] | None = None) -> str:
    """The report's ``## Findings`` section: one paragraph per criterion, then the seed study's claims.

    Every argument is a table as the study writes it (see :func:`read_tables`); a missing one (None or empty)
    gives "cannot test" sentences naming the step that writes it. ``ood_ratio`` (``summary/ood_ratio.csv``) adds
    the comparison with PCA after OOD generalisation and names the stand-in data sets on every line about them."""
    pairwise = dict(pairwise or {})
    stand_ins = stand_ins_of(ood_ratio)
    ranking = ranking_by_criterion if ranking_by_criterion is not None else pd.DataFrame()
    described = ranking_criteria if ranking_criteria is not None else pd.DataFrame()
    parts = ["## Findings", "",
             "Generated from the tables (`aelib.findings`): the criteria from `summary/ranking_by_criterion.csv`, "
             "`summary/comparisons.csv` (family-level statements: the only ones that say \"detectably\") and "
             "`summary/pairwise_*.csv` (instance-level evidence: how one seed's models, or the seeds, differ on "
             "these units), the seed study's claims from the tables each names.", "",
             "### Which family is best, per criterion", ""]
    names = list(ranking["criterion"].drop_duplicates()) if not ranking.empty and "criterion" in ranking else []
    for expected in GROUPS:
        if not any(criterion_group(n) == expected for n in names):
            names.append(expected)
    names.sort(key=lambda n: GROUPS.index(criterion_group(n)) if criterion_group(n) in GROUPS else len(GROUPS))
    if ranking.empty:
        ranking = pd.DataFrame(columns=list(RANKING_REQUIRED))
    for name in names:
        what = over = ""
        if not described.empty and "criterion" in described:
            row = described[described["criterion"] == name]
            if not row.empty:
                what = str(row["what is ranked"].iloc[0]) if "what is ranked" in row else ""
                over = str(row["interval over"].iloc[0]) if "interval over" in row else ""
        parts.append(criterion_finding(name, ranking, pairwise_for(name, pairwise), what=what, over=over,
                                       comparisons=comparisons, latent_directions=latent_directions,
                                       stand_ins=stand_ins))
        if name == "ood_generalisation":
            parts.append(pca_finding(ood_ratio))
    parts += ["### Objective or architecture", "", objectives_finding(comparisons),
              matched_finding(architectures_matched)]
    parts += ["### The seed study's claims", "",
              depth_claim(architecture, by_size=depth_by_size),
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
    ``tables/architecture_runs.csv`` (one row per run, the last per depth, z and seed when several settings are
    kept there; ``tables/architecture.csv`` when there is none) and ``latent_quality`` from
    ``summary/latent_quality.csv``; the report passes its own, settings-filtered ones.

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
    architecture = _read_csv(out_dir / "tables" / "architecture_runs.csv", None)
    if architecture.empty:
        architecture = _read_csv(out_dir / "tables" / "architecture.csv", None)
    keys = [k for k in ("family", "depth", "latent_dim", "seed") if k in architecture]
    if not architecture.empty and {"family", "depth", "latent_dim"} <= set(keys):
        architecture = architecture.drop_duplicates(keys, keep="last")
    return {"ranking_by_criterion": _read_csv(summary / "ranking_by_criterion.csv", since),
            "ranking_criteria": _read_csv(summary / "ranking_criteria.csv", since),
            "ood_ratio": _read_csv(summary / "ood_ratio.csv", since),
            "comparisons": _read_csv(summary / "comparisons.csv", since),
            "architectures_matched": _read_csv(summary / "architectures_matched_by_z.csv", since),
            # the data-size experiment beside the study (scripts/depth_by_size.py), when there is one
            "depth_by_size": _read_csv(out_dir.parent / "depth_by_size" / "depth_by_size.csv", None),
            "pairwise": pairwise,
            "architecture": architecture,
            "latent_quality": _read_csv(summary / "latent_quality.csv", since),
            "augmentation_summary": _read_csv(out_dir / "augmentation" / "augmentation_summary.csv", None),
            "augmentation_results": _read_csv(out_dir / "augmentation" / "augmentation_results.csv", None)}
