"""The commands of ``aelib``: run, list, report, plan and check, each from its parsed options.

Each takes the ``argparse.Namespace`` of its subcommand (see
:mod:`aelib.study.cli`) and returns what the command prints, or prints it and
returns the exit status: 0 done, 1 something failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from aelib.io import atomic_write_json
from aelib.study.audit import check_store
from aelib.study.claims import invocation_lease
from aelib.study.execution import invocation_scope, log_step_execution, run_local
from aelib.study.failures import STEP_STARTED_ENV, explain
from aelib.study.planning import MODELS, default_out, is_model_unit, plan
from aelib.study.profiles import PROFILES
from aelib.study.progress import format_seconds
from aelib.study.sessions import (
    FINAL_STEPS,
    RUNS_TABLE,
    SESSION_STEPS,
    Scale,
    family_cost,
    pack_sessions,
    scale_from_runs,
    tuning_runs,
)
from aelib.study.slurm import SLURM_ONLY, run_slurm
from aelib.study.steps import STEPS


def run_study(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """``aelib run``: plan the units, run them here or as Slurm jobs, record the invocation; the exit status."""
    try:
        given = [f"--{name}" for name in SLURM_ONLY if getattr(args, name) is not None]
        if given and args.executor != "slurm":
            raise ValueError(f"{', '.join(given)} apply to --executor slurm only. Received: --executor {args.executor}")
        units = plan(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.executor != "local" and any(is_model_unit(u) for u in units):
        # a Slurm job per notebook would wait in the queue longer than the notebook takes
        units = [u for u in units if not is_model_unit(u)]
        print(f"aelib run: the family notebooks do not run with --executor {args.executor}; run them where the "
              f"results are, after the jobs: aelib run --steps {MODELS} --out {units[0]['out_dir'] if units else '…'}"
              " (they read the study's runs and train nothing that is there)", flush=True)
    if args.dry_run:
        for unit in units:
            print(unit["step"], json.dumps(unit["parameters"]))
        return 0
    start = time.perf_counter()
    n_models = sum(is_model_unit(u) for u in units)
    print(f"aelib study: profile {args.profile}, {len(units) - n_models} step(s)"
          + (f" and {n_models} family notebook(s)" if n_models else "")
          + f", results in {units[0]['out_dir'] if units else '-'}", flush=True)
    tag = f"-shard{args.shard.replace('/', 'of')}" if args.shard else ""
    # the lease: other shards' summaries wait for it; the scope: failed runs are logged under this invocation
    with invocation_lease(units[0]["out_dir"], tag) if units else nullcontext(), invocation_scope() as invocation:
        if args.executor == "local":
            records = run_local(units, tag=tag)
        else:
            records = run_slurm(units, args)
    failed = [r for r in records if r["status"] != "complete"]
    total = time.perf_counter() - start
    print(f"\nStudy finished in {format_seconds(total)}: {len(records) - len(failed)} step run(s) complete, "
          f"{len(failed)} failed.")
    for r in failed:
        print(f"  FAILED {r['step']}: {r.get('error')} (see {r.get('executed')})")
    n_failed_runs = sum(len(r.get("failed_runs") or []) for r in records)
    if n_failed_runs:
        print(f"  {n_failed_runs} run(s) failed; their causes are listed at the end of each step above and in "
              "provenance/failures.jsonl")
    if units and not record_invocation(Path(units[0]["out_dir"]), invocation, args.profile,
                                       sys.argv[1:] if argv is None else argv, total, records, tag=tag):
        return 1
    return 1 if failed else 0


def record_invocation(out_dir: Path, invocation: str, profile: str, argv: list[str], seconds: float,
                      records: list[dict], *, tag: str = "", latest: bool = True) -> bool:
    """Append the invocation to ``provenance/invocations.jsonl`` (and, when ``latest``, write it as
    ``study<tag>.json``, the options a later ``aelib report`` takes); False, with a message, when it cannot."""
    provenance = out_dir / "provenance"
    record = {"invocation": invocation, "profile": profile, "argv": argv,
              "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": seconds, "steps": records}
    try:
        if latest:
            atomic_write_json(provenance / f"study{tag}.json", record)
        with open(provenance / "invocations.jsonl", "a", encoding="utf-8") as log:  # every invocation, a line each
            steps = [{k: r.get(k) for k in ("step", "status", "seconds")} for r in records]
            log.write(json.dumps({**record, "steps": steps}) + "\n")
    except OSError as err:
        print(f"error: could not record the invocation: {explain(err)}", file=sys.stderr)
        return False
    return True


def last_run_options(out_dir: Path, parser: argparse.ArgumentParser) -> argparse.Namespace | None:
    """The options of the last ``run`` logged in ``out_dir/provenance/invocations.jsonl``, or None."""
    log = out_dir / "provenance" / "invocations.jsonl"
    if not log.is_file():
        return None
    for line in reversed(log.read_text(encoding="utf-8").splitlines()):
        try:
            argv = json.loads(line).get("argv") or []
        except ValueError:
            continue
        if argv[:1] == ["run"]:
            try:
                return parser.parse_args(argv)
            except SystemExit:  # options of an older version
                return None
    return None


def report_unit(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """The step-08 unit for ``aelib report``: given options, else the last run's, else the profile's."""
    out_dir = Path(args.out or default_out(args.profile or "quick")).resolve()
    if not (out_dir / "tables").is_dir():
        raise ValueError(f"No study results in {out_dir} (no tables/ folder). Run `aelib run --out {out_dir}` first, "
                         "or pass the results folder with --out.")
    last = last_run_options(out_dir, parser)
    names = ("profile", "families", "z", "dataset", "epochs", "n_train", "n_test", "seeds")
    merged = {name: getattr(args, name) if getattr(args, name) is not None else getattr(last, name, None)
              for name in names}
    merged["profile"] = merged["profile"] or "quick"
    inherited = [name for name in names if getattr(args, name) is None and getattr(last, name, None) is not None]
    if inherited:
        print("aelib report: options of the last run: "
              + " ".join(f"--{n.replace('_', '-')} {merged[n]}" for n in inherited), flush=True)
    ns = argparse.Namespace(**merged, steps="08", out=str(out_dir), shard=None, dry_run=False)
    return plan(ns)[0]


def run_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``aelib report``: rebuild the summary of a results folder; the exit status."""
    try:
        unit = report_unit(args, parser)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"aelib report: rebuilding the summary of {unit['out_dir']} (profile {unit['parameters']['profile']})",
          flush=True)
    out_dir = Path(unit["out_dir"])
    with invocation_scope() as invocation:  # its REPORT row and its logged time are this invocation's
        os.environ[STEP_STARTED_ENV] = repr(time.time())
        start = time.perf_counter()
        try:
            path = summarize(unit)
        finally:
            os.environ.pop(STEP_STARTED_ENV, None)
        seconds = time.perf_counter() - start
        log_step_execution(out_dir, unit["step"], tag="", status="complete", seconds=seconds)
        # logged, not the latest run's options: study.json keeps the options of the last `aelib run`
        if not record_invocation(out_dir, invocation, unit["parameters"]["profile"], ["report", *sys.argv[2:]],
                                 seconds, [{"step": unit["step"], "status": "complete", "seconds": seconds}],
                                 latest=False):
            return 1
    print(f"aelib report: wrote {path}")
    return 0


def summarize(unit: dict) -> Path:
    """Step 08 in this process, as its notebook runs it; returns the REPORT.md path."""
    # both import TensorFlow: not needed for --help
    from aelib.study.settings import check_families
    from aelib.study.steps.summary import run as summarize_study
    from aelib.study.study import Study

    params = unit["parameters"]
    study = Study(Path(unit["out_dir"]), **{k: v for k, v in params.items() if k in Study.OPTIONS})
    summarize_study(study, families=check_families(params["families"]), z_values=params["z_values"],
                    chosen_z=params["chosen_z"], profile=params["profile"], complementary=params["complementary"])
    study.record(unit["step"], params)
    return study.out_dir / "REPORT.md"


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def session_plan(args: argparse.Namespace) -> tuple[str, int]:
    """What ``aelib plan`` prints, and its exit status (2 when there is no absolute scale)."""
    from aelib.study.tuning import DEFAULT_GRIDS, check_grids  # imports TensorFlow: not needed for --help

    for name in ("session_hours", "gpu_speedup", "seconds_per_unit"):
        value = getattr(args, name)
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ValueError(f"Expected --{name.replace('_', '-')} > 0. Received: {value}")
    if not 0 < args.fill <= 1:
        raise ValueError(f"Expected --fill in (0, 1]. Received: {args.fill}")
    ns = argparse.Namespace(profile=args.profile, families=args.families, z=args.z, seeds=args.seeds, steps="01,02",
                            dataset=None, epochs=None, n_train=None, n_test=None, out=args.out, shard=None,
                            dry_run=True)
    p01, p02 = (unit["parameters"] for unit in plan(ns))
    families = p02["families"]
    sweep = len(p02["z_values"]) * len(p02["seeds"])
    grids = check_grids(DEFAULT_GRIDS if p01["tune_grids"] is None else p01["tune_grids"])
    rates = p01["tune_learning_rates"] or [p01["learning_rate"]]
    models = {f: sweep + tuning_runs(f, grids=grids, learning_rates=rates) for f in families}
    units = {f: family_cost(f) * models[f] for f in families}
    depth_models = len(p01["depths"]) * len(p01["z_values"]) * len(p01["seeds"])
    depth_units = sum(family_cost(f) for f in p01["arch_families"]) * depth_models

    if args.seconds_per_unit is not None:
        scale = Scale(args.seconds_per_unit, "--seconds-per-unit")
    else:
        folder = Path(args.measured) if args.measured else default_out(args.profile)
        if not args.measured and not (folder / RUNS_TABLE).is_file():
            folder = default_out("quick")
        scale = scale_from_runs(folder / RUNS_TABLE)
    basis = (f"FAMILY_COST (relative seconds to a converged model, fcae = 1; aelib.families) × models (step 02: "
             f"{len(p02['z_values'])} z × {len(p02['seeds'])} seed(s) = {sweep}, plus step 01's tuning candidates)")
    lines = [f"aelib plan: profile {args.profile}, {len(families)} families, sessions of {args.session_hours:g} h."]
    if scale is None:
        rows = [[f, f"{family_cost(f):g}", str(models[f]), f"{units[f]:.0f}"] for f in families]
        lines += ["", (f"A RELATIVE estimate only: no measured scale ({folder / RUNS_TABLE} not found). "
                       f"Cost = {basis}; step 01's depth search adds {depth_units:.0f}."), "",
                  *_text_table(["family", "cost", "models", "cost × models"], rows), "",
                  ("Give --seconds-per-unit (seconds one fcae model takes to converge on the sessions' machine) or "
                   "--from a results folder with that table to pack the families into sessions.")]
        return "\n".join(lines), 2
    caveats = []
    if scale.converged is False:
        caveats.append("the measured runs did not train to convergence, so these hours are too low (FAMILY_COST is "
                       "for converged models): run the study into that folder first, or give --seconds-per-unit.")
    if scale.converged is not None:
        own = {default_out(args.profile).resolve(), *([Path(args.out).resolve()] if args.out else [])}
        target = p02["n_train"]
        mismatch = folder.resolve() not in own if target is None else str(target) not in scale.n_train
        if mismatch:
            caveats.append(f"the scale was measured with n_train {', '.join(scale.n_train)}; profile {args.profile} "
                           f"trains on {target or 'the whole training split (60,000 MNIST images when downloaded)'}: "
                           "training time grows about in proportion. Give --seconds-per-unit, or --from a folder "
                           "of this profile after its first session.")
    to_hours = scale.seconds_per_unit / args.gpu_speedup / 3600
    hours = {f: units[f] * to_hours for f in families}
    capacity = args.session_hours * args.fill
    sessions = pack_sessions(hours, capacity, first=depth_units * to_hours)
    common = ["aelib", "run", "--profile", args.profile]
    for name in ("z", "seeds", "out"):
        if getattr(args, name) is not None:
            common += [f"--{name}", getattr(args, name)]
    rows = []
    for i, session in enumerate(sessions, 1):
        command = shlex.join([*common, "--families", ",".join(session.families), "--steps", SESSION_STEPS])
        rows.append([str(i), ",".join(session.families) + (" + depth search" if session.depth_search else ""),
                     f"{session.hours:.2f}" + (f" (×{session.repeats})" if session.repeats > 1 else ""), command])
    family_rows = [[f, f"{family_cost(f):g}", str(models[f]), f"{hours[f]:.2f}"] for f in families]
    lines += [
        "",
        (f"AN ESTIMATE, not a measurement. Training hours = {basis} × {scale.seconds_per_unit:.3g} s per unit "
         f"(from {scale.source}) ÷ {args.gpu_speedup:g} (--gpu-speedup). Session 1 also carries step 01's depth "
         f"search ({'+'.join(p01['arch_families'])}: {len(p01['depths'])} depths × {len(p01['z_values'])} z × "
         f"{len(p01['seeds'])} seed(s) = {depth_models} models, {depth_units * to_hours:.1f} h). Not in the hours: the "
         f"analysis steps 03-06, notebook start-up, steps {FINAL_STEPS} (once, at the end); hence sessions are "
         f"filled to {capacity:.1f} h (--fill {args.fill:g}). Hours add up the models' training times; a machine "
         "training several at once (AELIB_WORKERS) finishes sooner."),
        *(["", "Check the scale:", *(f"  - {c}" for c in caveats)] if caveats else []),
        "",
        *_text_table(["family", "cost", "models", "est. hours"], family_rows),
        "",
        *_text_table(["session", "families", "est. hours", "command"], rows),
        "",
        f"After the last session: {shlex.join([*common, '--steps', FINAL_STEPS])}",
        "",
        ("Run session 1 first: its step 01 picks the depth every family uses. The others may then run one after "
         "another or in parallel, into the same results folder. A session cut short is simply run again: complete "
         "runs are skipped."),
    ]
    if any(s.repeats > 1 for s in sessions):
        lines.append("(×k): longer than one session; run the same command k times, each resumes where the last "
                     "stopped.")
    lines.append("Families are listed per session (--families) rather than --shard i/n, which splits them "
                 "round-robin without regard to their cost.")
    return "\n".join(lines), 0


def run_plan(args: argparse.Namespace) -> int:
    """``aelib plan``: print the session plan; the exit status (2 for bad input or no absolute scale)."""
    try:
        text, code = session_plan(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text)
    return code


def run_check(args: argparse.Namespace) -> int:
    """``aelib check``: 0 when the store is sound (or was repaired), 1 when damage is left, 2 for bad input."""
    if args.out is not None and not args.out.strip():
        print(f"error: Expected a value for --out. Received: {args.out!r}", file=sys.stderr)
        return 2
    out_dir = Path(args.out or default_out(args.profile)).resolve()
    if not (args.tmp_age >= 0 and math.isfinite(args.tmp_age)):
        print(f"error: Expected --tmp-age >= 0 (minutes). Received: {args.tmp_age}", file=sys.stderr)
        return 2
    try:
        report = check_store(out_dir, models=args.models, repair=args.repair, tmp_age=args.tmp_age * 60)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 1 if report.unrepaired else 0


def _short(value: object) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else repr(value)


def describe() -> str:
    """What ``aelib list`` prints: families and options, steps, profiles and parameters."""
    from aelib.models import list_models, model_options  # imports TensorFlow: not needed for --help

    lines = ["Families (--families; their options go into family_options, defaults shown):"]
    for family in list_models():
        options = ", ".join(f"{k}={_short(v)}" for k, v in model_options(family).items())
        lines.append(f"  {family:<8} {options}")
    lines += ["", "Steps (--steps takes names or numbers):"]
    for step in STEPS:
        lines.append(f"  {step.name:<22} {step.title}")
    lines.append(f"  {MODELS:<22} the family notebooks, notebooks/models/<family>.ipynb (also --models: after the "
                 "steps)")
    lines += ["", "Profiles (--profile; --z, --epochs, --seeds, --n-train, --n-test replace their values):"]
    for profile, steps in PROFILES.items():
        lines.append(f"  {profile}")
        for part, params in steps.items():
            lines.append(f"    {part}: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))
    return "\n".join(lines)
