"""The report's sections on how the models were trained: convergence, the depth used, tuning, the sanity gates
and each model's capacity."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from aelib import gates
from aelib.report.tables import mark_capped, markdown, write_table

#: Why a run is left out of every ranking (:func:`failed_runs`), in the words the report uses.
FAILS_MEAN_IMAGE = "fails beats_mean_image"
NON_FINITE = "non-finite output"


def _is_false(value) -> bool:
    """A gate cell that failed: False as a boolean or as the text a CSV gives back."""
    return value is False or value is np.False_ or str(value).strip().lower() == "false"


def _gate_failures_per_row(runs: pd.DataFrame) -> pd.Series:
    """Per row of ``runs``, the gates it fails (a list; ``non-finite output`` first when its test RMSE is not
    finite or training stopped on a non-finite loss); ``beats_mean_image`` is computed from ``rmse_mean`` and
    ``mean_image_rmse`` where the row has no gate column (steps 01's runs)."""
    out = []
    for _, row in runs.iterrows():
        failed = []
        rmse = pd.to_numeric(pd.Series([row.get("rmse_mean")]), errors="coerce").iloc[0]
        if ("rmse_mean" in row and not np.isfinite(rmse)) or str(row.get("stopped_by")) == "non_finite":
            failed.append(NON_FINITE)
        for gate in gates.GATES:
            value = row.get(f"gate_{gate}")
            if gate == "beats_mean_image" and (value is None or (not isinstance(value, str) and pd.isna(value))):
                reference = pd.to_numeric(pd.Series([row.get("mean_image_rmse")]), errors="coerce").iloc[0]
                value = bool(rmse < reference) if np.isfinite(rmse) and np.isfinite(reference) else None
            if value is not None and _is_false(value):
                failed.append(gate)
        out.append(failed)
    return pd.Series(out, index=runs.index, dtype=object)


def gates_recorded(runs: pd.DataFrame) -> pd.Series:
    """Per row: whether ``beats_mean_image`` can be judged (a gate column, or the test and mean-image RMSE)."""
    if runs.empty:
        return pd.Series(dtype=bool)
    known = pd.Series(False, index=runs.index)
    if "gate_beats_mean_image" in runs:
        known |= runs["gate_beats_mean_image"].notna()
    if {"rmse_mean", "mean_image_rmse"} <= set(runs):
        known |= runs["mean_image_rmse"].notna()
    return known


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs left out of every ranking: those that fail ``beats_mean_image`` (their test RMSE is not below
    the mean-image predictor's) or whose output is not finite.

    Args:
        runs: one row per trained model (step 02's ``latent_sweep_runs``): ``family``, ``latent_dim``, ``seed``
            and ``gate_beats_mean_image`` or ``rmse_mean`` with ``mean_image_rmse`` (``stopped_by`` optional).

    Returns:
        ``family``, ``latent_dim``, ``seed``, ``reason`` (:data:`FAILS_MEAN_IMAGE` or :data:`NON_FINITE`), one row
        per run, sorted; empty when none fails or ``runs`` lacks those columns.
    """
    columns = ["family", "latent_dim", "seed", "reason"]
    if runs.empty or not {"family", "latent_dim"} <= set(runs):
        return pd.DataFrame(columns=columns)
    rows = []
    for (_, row), failed in zip(runs.iterrows(), _gate_failures_per_row(runs)):
        reasons = [r for r in (NON_FINITE, "beats_mean_image") if r in failed]
        if reasons:
            rows.append({"family": row["family"], "latent_dim": int(row["latent_dim"]),
                         "seed": int(row["seed"]) if pd.notna(row.get("seed")) else 0,
                         "reason": NON_FINITE if reasons[0] == NON_FINITE else FAILS_MEAN_IMAGE})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.drop_duplicates(["family", "latent_dim", "seed"]).sort_values(columns[:3]).reset_index(drop=True)


def runs_text(runs: pd.DataFrame, context: pd.DataFrame | None = None) -> str:
    """Runs in words, seeds gathered per family and z: ``"conae z=2 seeds 0, 1; vae z=40 seed 3"`` (with the
    depth where a family's runs in ``context``, default ``runs``, have several)."""
    if runs.empty:
        return ""
    context = runs if context is None or "depth" not in context else context
    several = (context.groupby("family")["depth"].nunique() > 1) if "depth" in runs else pd.Series(dtype=bool)
    parts = []
    keys = ["family", *(["depth"] if "depth" in runs else []), "latent_dim"]
    for key, part in runs.groupby(keys, sort=True, dropna=False):
        family, *rest = key
        depth = f" depth {int(rest[0])}" if len(rest) == 2 and several.get(family, False) else ""
        seeds = sorted({int(s) for s in part["seed"].dropna()}) if "seed" in part else []
        seed_text = (f" seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}" if seeds else "")
        parts.append(f"{family}{depth} z={int(rest[-1])}{seed_text}")
    return "; ".join(parts)


def convergence_section(trained: pd.DataFrame, table_rows: dict[str, int] | None = None) -> str:
    """The report's opening line: how many training runs converged — stopped by early stopping **and** passing
    the sanity gates — and which did not.

    ``trained`` holds one row per distinct run (``step`` names every step that uses it; step 02's rows carry the
    gate columns, the others are judged on ``beats_mean_image`` from their test and mean-image RMSE);
    ``table_rows`` the row count of each table they come from, so the text matches what a reader counts there."""
    early, total, others = gates.convergence_summary(trained)
    if total == 0:
        return "_No training runs recorded yet._\n"
    if "stopped_by" not in trained:
        return f"**Convergence unknown for {total} runs** (trained before runs recorded how they stopped).\n"
    stopped_early = trained["stopped_by"] == "early_stopping"
    failures = _gate_failures_per_row(trained)
    failing = stopped_early & failures.map(bool)
    converged = int(stopped_early.sum() - failing.sum())
    unknown = int((stopped_early & ~gates_recorded(trained)).sum())
    text = (f"**{converged} of {total} distinct training runs converged** (stopped by early stopping **and** "
            f"passing the sanity gates): {early} of {total} early-stopped (the validation loss improved by less "
            "than the relative threshold for `patience` epochs; the best epoch's weights kept); "
            f"{early - int(failing.sum())} of those pass the gates")
    if failing.any():
        by_gate: dict[str, list] = {}
        for index in trained.index[failing]:
            for gate in failures[index]:
                by_gate.setdefault(gate, []).append(index)
        pieces = [f"{len(rows)} fail{'s' if len(rows) == 1 else ''} "
                  + (f"`{gate}`" if gate != NON_FINITE else "with non-finite output")
                  + f": {runs_text(trained.loc[rows], trained)}" for gate, rows in by_gate.items()]
        text += "; " + "; ".join(pieces)
        if any(g in by_gate for g in ("beats_mean_image", NON_FINITE)):
            text += (" (a model no better than predicting the mean image has failed: step 02's such runs are left "
                     "out of every ranking, *Ranking with uncertainty*)")
    text += "."
    if unknown:
        text += f" The gates were not recorded for {unknown} of them (counted as passing)."
    text += " Steps 01 (architecture search and tuning) and 02, every family, z and seed."
    rows = sum((table_rows or {}).values())
    if rows > total:
        shared = trained["step"].str.contains(" + ", regex=False).sum() if "step" in trained else 0
        text += (f" The tables hold {rows} rows for them (" + ", ".join(f"`{k}` {v}" for k, v in table_rows.items())
                 + f"): {shared} runs are used by two steps and appear in both.")
    if not others.empty:
        n_rows = sum(len(s.split(" + ")) for s in others["step"]) if "step" in others else len(others)
        runs = f"{len(others)} run" + ("s" if len(others) != 1 else "")
        one = len(others) == 1
        text += (f"\n\n**{runs} did not converge** ({n_rows} row{'' if n_rows == 1 else 's'} in the tables): "
                 f"{'it' if one else 'they'} stopped at the epoch cap, still improving, and "
                 + ("its numbers are those of an unconverged model" if one
                    else "their numbers are those of unconverged models") +
                 f". {'It is' if one else 'They are'} marked "
                 f"{gates.CAP_MARK} wherever {'its' if one else 'their'} numbers appear:\n\n" + markdown(others))
    else:
        text += " None hit the epoch cap.\n"
    epochs = trained.groupby("family")["epochs_run"].agg(["min", "median", "max"]) if "epochs_run" in trained else None
    if epochs is not None and not epochs.empty:
        epochs.columns = ["epochs min", "epochs median", "epochs max"]
        text += "\nEpochs run per family (steps 01–02):\n\n" + markdown(epochs.reset_index(), digits=4)
    return text + "\n"


def architecture_section(arch_runs: pd.DataFrame, best: pd.DataFrame, *, depth: int, depth_source: str) -> str:
    """Which depth the fully connected families used, and why.

    Args:
        arch_runs: step 01's ``architecture_runs`` (the study's settings).
        best: step 01's ``architecture_best`` rows of the study's depth search (``family``, ``best_depth``).
        depth, depth_source: the depth the study used and where it came from.
    """
    text = (f"## Architecture\n\nThe objective families (fcae, dae, sae, conae, vae, aae, mmae) share one MLP "
            f"backbone of depth **{depth}** ({depth_source}). Widths follow docs/methods.md §2: the seed's presets "
            "for d = 784 while their narrowest hidden layer is at least z, else widths falling linearly from the "
            "input to z (`widths=\"auto\"`; `summary/capacity.csv` names the rule each model used).\n")
    if not arch_runs.empty and "depth" in arch_runs:
        grid = arch_runs.groupby(["depth", "latent_dim"])["rmse_mean"].mean().unstack("latent_dim")
        grid.columns = [f"z={c}" for c in grid.columns]
        grid["mean"] = grid.mean(axis=1)
        text += ("\nStep 01, fcae test RMSE by depth (every run converged unless marked in the list above):\n\n"
                 + markdown(grid.reset_index()) + "\n![architecture](../figures/architecture_fcae.png)\n")
    if not best.empty:
        on = best["selected_on"].iloc[0] if "selected_on" in best else "test RMSE"
        text += f"\nBest depth by mean {on} over the z values: " + ", ".join(
            f"{r.family} → {int(r.best_depth)}" for r in best.itertuples()) + ".\n"
    return text


def tuning_section(table: pd.DataFrame, out: Path, *, learning_rate: float,
                   family_options: Mapping[str, Mapping], rule: str = "") -> str:
    """Each family's tuned setting: the candidates (the unregularised value 0 among them) with their validation
    RMSE, the declared rule, and the choice; writes ``out/tuning``.

    Args:
        table: step 01's ``tuning`` rows of the study's base setting (empty when it did not tune).
        learning_rate: the study's learning rate (a candidate with another one says so).
        family_options: options the user fixed per family (not tuned).
        rule: the tuning rule in words (``aelib.study.tuning.RULE_STRONGEST``).
    """
    if table.empty:
        return "## Tuning\n\n_Step 01 has not tuned the families under these settings; they use their defaults._\n"
    columns = ["family", "option", "value", "learning_rate", "val_rmse", "val_rmse_ratio", "within_tolerance",
               "rmse_mean", "stopped_by", "epochs_run", "chosen"]
    shown = table[[c for c in columns if c in table]].sort_values(["family", "value", "learning_rate"])
    write_table(shown, out / "tuning", caption="Tuning at one z: each family's key setting, the unregularised "
                "value 0 among the candidates, and the rule's choice (validation RMSE, never test)")
    chosen = shown[shown["chosen"].astype(str) == "True"]
    picks = ", ".join(f"{r.family} {r.option} = {r.value:g}" + (f" (lr {r.learning_rate:g})"
                      if r.learning_rate != learning_rate else "") for r in chosen.itertuples())
    off = [r.family for r in chosen.itertuples() if r.value == 0]
    z = int(table["latent_dim"].iloc[0])
    rules = sorted(set(table["rule"].dropna().astype(str))) if "rule" in table else []
    text = (f"## Tuning\n\nAt z = {z}, each family's key setting was trained over a small declared grid that "
            "includes the unregularised value 0 (`aelib.study.tuning.DEFAULT_GRIDS`), and chosen on the "
            "**validation** RMSE (the split held out from the training data, never the test set) by the rule: "
            f"**{'; '.join(rules) or rule or 'lowest validation RMSE'}**. Reconstruction alone prefers no "
            "regulariser, so the rule keeps the strongest one that costs little reconstruction. "
            f"Chosen: {picks}.\n")
    if off:
        text += (f"\nNo regulariser survives the rule for {', '.join(off)}: every non-zero value costs more than the "
                 "tolerance, so these families train as their unregularised objective (a finding).\n")
    user = {f: o for f, o in family_options.items() if o}
    if user:
        text += f"\nOptions fixed by the user (not tuned): {user}.\n"
    if shown["stopped_by"].astype(str).eq("epoch_cap").any():
        text += (f"\n{gates.CAP_MARK}: stopped at the epoch cap, still improving: its validation RMSE is that of an "
                 "unconverged model.\n")
    return text + "\n" + markdown(mark_capped(shown, set()))


def regularisers_section(activity: pd.DataFrame, out: Path, *, path_figure: Path | None = None) -> str:
    """Whether each regulariser is active (``regulariser_activity``: the family's measure beside fcae's); a
    regulariser whose measure is not apart from fcae's is named. Writes ``out/regulariser_activity``."""
    text = "## Regularisers at work\n\n"
    if path_figure is not None and path_figure.is_file():
        text += ("The regularisation path (validation RMSE against strength at the tuning z, the tolerance "
                 f"shaded, the choice ringed):\n\n![regularisation path](../figures/{path_figure.name})\n\n")
    if activity.empty or "measure" not in activity:
        return text + "_No activity measures under these settings (step 02 measures them)._\n"
    keys = ["family", "measure", "latent_dim"]
    mean = activity.groupby(keys, as_index=False)[["value", "fcae_value"]].mean()
    n = activity.groupby(keys)["seed"].nunique().rename("n_seeds").reset_index()
    mean = mean.merge(n, on=keys)
    mean["ratio_to_fcae"] = mean["value"] / mean["fcae_value"]
    write_table(mean, out / "regulariser_activity", caption="Each regulariser's measure beside fcae's (mean over "
                "seeds): is the regulariser active?")
    inactive = mean[(mean["ratio_to_fcae"] - 1).abs() < 0.05]
    text += ("Each objective family's own measure (sae: mean hidden activation; conae: the standardised Jacobian "
             "mean_j ‖∂z_j/∂x‖²/Var(z_j) of the encoder, and ‖J‖_F; vae: KL "
             "per dimension and active units; aae: MMD of the codes to the prior; dae: RMSE on corrupted inputs; "
             "masked families: RMSE on masked patches) beside the same measure of fcae at the same z and seed.")
    if not inactive.empty:
        text += (" **Not measurably active** (within 5 % of fcae's value): "
                 + ", ".join(f"{r.family} {r.measure} at z = {int(r.latent_dim)}" for r in inactive.itertuples()) + ".")
    return text + "\n\n" + markdown(mean) + "\n"


def gates_and_capacity_sections(runs: pd.DataFrame, out: Path) -> list[str]:
    """Sanity gates per run (failures are findings) and each model's capacity."""
    if runs.empty:
        return []
    sections = []
    gate_cols = [f"gate_{g}" for g in gates.GATES if f"gate_{g}" in runs]
    if gate_cols:
        failed = gates.gate_failures(runs)
        checked = {g: int(runs[f"gate_{g}"].notna().sum()) for g in gates.GATES if f"gate_{g}" in runs}
        passed = {g: checked[g] - int((failed["gate"] == g).sum()) for g in checked}
        lines = [f"- `{g}`: {passed[g]} of {checked[g]} runs pass" for g in checked]
        text = ("## Sanity gates\n\nEach trained model against the obvious baselines at its own z (test RMSE): "
                "every model below the mean-image predictor; `vanilla` within "
                f"{gates.VANILLA_PCA_TOLERANCE:.0%} of PCA or better; `fcae` below PCA at every "
                f"z ≤ {gates.FCAE_PCA_MAX_Z}.\n\n"
                + "\n".join(lines) + "\n\n")
        if failed.empty:
            text += "No gate failed.\n"
        else:
            write_table(failed, out / "gate_failures",
                        caption="Runs that fail a sanity gate (test RMSE against the baseline)")
            text += "**Failing gates (findings, not hidden):**\n\n" + markdown(failed)
            left = failed_runs(runs)
            if not left.empty:
                text += (f"\nLeft out of every ranking (a model no better than the mean image, or with non-finite "
                         f"output, has failed; `excluded` in `summary/ranking_by_criterion.csv`): {runs_text(left)}. "
                         "The other gates are findings only: those runs stay ranked.\n")
        sections.append(text)
    cap_cols = [c for c in ("n_params", "effective_bottleneck", "widths_rule") if c in runs]
    if cap_cols:
        cap = runs.groupby(["family", "latent_dim"])[cap_cols].first().reset_index()
        write_table(cap, out / "capacity", caption="Parameter count and effective bottleneck (narrowest width from "
                    "input through z to output) of each model")
        params = cap.pivot(index="family", columns="latent_dim", values="n_params")
        params.columns = [f"z={c}" for c in params.columns]
        text = ("## Capacity\n\nParameters per model (`summary/capacity.csv` also gives the effective bottleneck — the "
                "narrowest width on the path from input through z to output — and the widths rule used).\n\n"
                + markdown(params.reset_index(), digits=7))
        if "effective_bottleneck" in cap:
            narrow = cap[cap["effective_bottleneck"].notna() & (cap["effective_bottleneck"] < cap["latent_dim"])]
            text += ("\nEvery model's effective bottleneck is its z.\n" if narrow.empty else
                     "\n**Models whose bottleneck is narrower than z** (z adds nothing beyond it):\n\n"
                     + markdown(narrow))
        sections.append(text)
    return sections
