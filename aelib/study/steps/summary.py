"""Step 08: the consolidated tables, rankings, findings and ``REPORT.md``.

Reads the tables steps 01–07 wrote (this study's settings only;
:mod:`aelib.study.steps.summary_inputs`), waits for other invocations still working on the folder, and has
:mod:`aelib.report` and :mod:`aelib.findings` write ``summary/`` (CSV, Markdown and LaTeX tables), the summary
figures in ``figures/`` and ``REPORT.md``.

``summary/`` is written as a unit: built in a fresh sibling folder (``.summary.building-<pid>``) and put in
place of the old one at the end (:func:`swap_in`), so a summary killed part-way leaves the previous
``summary/`` whole, never a mix of old and new files. The next summary clears what a killed one left
(:func:`recover`). One summary at a time builds in a results folder (a claim on ``.summary.lock``).
``REPORT.md`` (one file, replaced atomically) is written after the swap, from the new ``summary/``.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from aelib import findings, report
from aelib.io import atomic_write_text
from aelib.study import tuning
from aelib.study.claims import claim_timeout, exclusive, mark_summarising, read_claim
from aelib.study.failures import INVOCATION_ENV, STEP_STARTED_ENV
from aelib.study.steps import summary_inputs as inputs
from aelib.study.study import Study, check_families, check_latent_sizes

SUMMARY = "summary"
#: This step's name: REPORT's row for it is this invocation's, still running while the report is written.
STEP = "08_summary"
BUILDING = ".summary.building"  # + "-<pid>": the summary being built
REPLACED = ".summary.replaced"  # the previous summary, between the two renames of swap_in
LOCK = ".summary.lock"


def run(study: Study, *, families: Sequence[str] | str = "all", z_values: Sequence[int], chosen_z: Sequence[int],
        profile: str, complementary: Sequence[str]) -> pd.DataFrame:
    """Write the consolidated tables, figures and ``REPORT.md`` from what steps 01–07 wrote; return the ranking."""
    families = check_families(families)
    z_values = check_latent_sizes(z_values)
    chosen_z = check_latent_sizes(chosen_z)
    incomplete = _wait_for_others(study, families, chosen_z)
    holder = read_claim(study.out_dir / LOCK)
    if holder is not None and not holder.stale():
        print(f"summary: waiting for the other summary of this folder ({holder.describe()})", flush=True)
    with exclusive(study.out_dir / LOCK, poll=0.5, label="summary", timeout=claim_timeout()):
        recover(study.out_dir)
        out = study.out_dir / f"{BUILDING}-{os.getpid()}"
        out.mkdir(parents=True)
        try:
            ranking, sections, opening, seen = _build(study, out, incomplete, families=families,
                                                      z_values=z_values, chosen_z=chosen_z,
                                                      complementary=complementary)
        except BaseException:
            _remove(out)
            raise
        swap_in(out, study.out_dir / SUMMARY)
        # the findings in words (aelib.findings) read the new summary/ tables, after the convergence lines
        opening += "\n" + findings.findings_section(**{**findings.read_tables(study.out_dir), **seen}) + "\n"
        text = report.report_text(study.out_dir, profile, ranking, sections, inputs.failures_table(study),
                                  opening=opening, invocation=os.environ.get(INVOCATION_ENV),
                                  running=(STEP, _started()))
        atomic_write_text(study.out_dir / "REPORT.md", text)
    print(f"Wrote {study.out_dir / 'REPORT.md'} and tables in {study.out_dir / SUMMARY}")
    return ranking


def _started() -> float | None:
    """When this step's execution began (set by ``aelib run`` for the kernel), or None outside it."""
    try:
        return float(os.environ[STEP_STARTED_ENV])
    except (KeyError, ValueError):
        return None


def _build(study: Study, out: Path, incomplete: str, *, families: list[str], z_values: list[int],
           chosen_z: list[int], complementary: Sequence[str]) -> tuple[pd.DataFrame, list[str], str, dict]:
    """Write the summary tables into ``out`` (and the summary figures); returns the ranking, the report's
    sections, its opening lines and the step tables the findings take beside the summary's."""
    # only this study's settings are summarised: say what else is there
    other_settings = report.other_settings_note(inputs.left_out_settings(study))
    sections: list[str] = [other_settings] if other_settings else []
    # convergence, sanity gates and capacity of every trained model
    sweep_runs, arch_runs, trained, table_rows = inputs.trained_runs(study, families)
    opening = incomplete + report.convergence_section(trained, table_rows)
    capped = report.capped_cells(sweep_runs)
    data = report.data_text(sweep_runs, study.dataset)  # for the LaTeX captions
    sections += [report.architecture_section(arch_runs, inputs.architecture_best(study), depth=study.depth,
                                             depth_source=study.settings.depth_source),
                 report.tuning_section(inputs.tuning_table(study), out,
                                       learning_rate=study.settings.training.learning_rate,
                                       family_options=study.settings.family_options, rule=tuning.RULE_STRONGEST),
                 report.regularisers_section(_of(inputs.read_current(study, "regulariser_activity"), families), out,
                                             path_figure=study.figures / "regularisation_path.png"),
                 *report.gates_and_capacity_sections(sweep_runs, out),
                 report.capacity_matched_section(  # matched runs keep their own (width) settings
                     _of(inputs.read_current(study, "architectures_matched", current=False), [*families, "fcae"]),
                     sweep_runs, out)]
    inputs.copy_tables(study, out, ("regularisation_path", "architectures_matched"))
    # one section per criterion, then the performance prediction
    by_z, ood, gen = (_of(inputs.read_current(study, name), families)
                      for name in ("rmse_by_z", "ood_rmse", "generative"))
    latent = inputs.read_current(study, "latent_quality")
    pca = inputs.pca_rows(study, z_values, complementary)
    sections += [report.reconstruction_section(out, by_z, pca, capped, data, figures=study.figures,
                                               dataset=study.dataset),
                 report.spread_section(inputs.read_current(study, "reconstruction_spread"), out, families, capped,
                                       figures=study.figures),
                 report.ood_section(out, ood, pca, capped, data, runs=sweep_runs),
                 report.latent_section(latent, out, families, chosen_z, capped, data,
                                       pca_latent=inputs.read_current(study, "latent_quality_pca", current=False)),
                 report.generative_section(out, gen, capped, data),
                 report.samples_section(out, _of(inputs.read_current(study, "generative_samples"), families),
                                        inputs.read_current(study, "judge"), capped, data),
                 report.augmentation_section(out, study.out_dir / "augmentation"),
                 report.performance_prediction_section(out, by_z=by_z, pca=pca, runs=sweep_runs, ood=ood,
                                                       latent=latent, gen=gen)]
    # paired comparisons and the ranking with its uncertainty (aelib.stats)
    ranked = inputs.ranking_inputs(study)
    ranking, ranking_sections = report.ranking_and_comparisons(out, **ranked, families=families, chosen_z=chosen_z,
                                                               pca=pca)
    sections.extend(ranking_sections)
    if not ranking.empty:
        report.plot_ranks(ranking, study.figures / "ranking")
    sections.append(report.declared_section(out, **inputs.declared_inputs(study, ranked), families=families,
                                            figures=study.figures))
    return ranking, sections, opening, {"architecture": arch_runs, "latent_quality": _of(latent, families)}


def swap_in(built: Path, target: Path) -> None:
    """Put the folder ``built`` in the place of ``target`` (whether or not there is one yet).

    Two renames: ``target`` to :data:`REPLACED` beside it, then ``built`` to ``target``; then the old one
    is deleted. A kill between the two renames leaves no ``target`` but the old one whole under
    :data:`REPLACED`, which :func:`recover` puts back.
    """
    replaced = target.with_name(REPLACED)
    if target.exists() or target.is_symlink():
        os.replace(target, replaced)
    os.replace(built, target)
    _remove(replaced)


def recover(out_dir: Path) -> list[str]:
    """Clear what a summary killed part-way left in ``out_dir`` (call it holding :data:`LOCK`): a folder
    it was building is deleted; the previous ``summary/``, when the kill came between the two renames of
    :func:`swap_in`, is put back. Returns (and prints) what was done."""
    out_dir = Path(out_dir)
    target, replaced = out_dir / SUMMARY, out_dir / REPLACED
    done = []
    if replaced.exists() or replaced.is_symlink():
        if target.exists() or target.is_symlink():  # killed after the swap: the new summary is in place
            _remove(replaced)
            done.append(f"removed {REPLACED} (the summary before the last one)")
        else:  # killed between the renames: the old summary, whole
            os.replace(replaced, target)
            done.append(f"put the previous summary back from {REPLACED}")
    for left in sorted(out_dir.glob(f"{BUILDING}-*")):
        _remove(left)
        done.append(f"removed {left.name} (a summary killed while it was being built)")
    for line in done:
        print(f"summary: {line}", flush=True)
    return done


def _remove(path: Path) -> None:
    """Delete the folder (or file, or link: never followed) ``path``, if there is one."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path)


def _of(frame: pd.DataFrame, families: Sequence[str]) -> pd.DataFrame:
    """The rows of ``families`` (an empty table as it is)."""
    return frame[frame["family"].isin(families)] if not frame.empty else frame


def _wait_for_others(study: Study, families: Sequence[str], chosen_z: Sequence[int]) -> str:
    """Wait (bounded) for other shards or sessions still writing into this folder; the note on what is missing."""
    mark_summarising()  # two summaries never wait for each other
    still_active = study.store.wait_for_others()
    missing = inputs.missing_rows(study, families, chosen_z)
    incomplete = report.incomplete_note(missing, still_active)
    if incomplete:
        print("summary: INCOMPLETE: " + ("; ".join(f"{r.family} lacks {r.missing} of {r.of} rows of {r.table}"
                                                   for r in missing.itertuples()) or "complete so far")
              + (f"; {len(still_active)} other process(es) still working" if still_active else ""), flush=True)
    return incomplete
