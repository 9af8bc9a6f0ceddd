"""The ``aelib`` command line: its options parsed and checked, each command handed to :mod:`aelib.study.commands`.

Which units run is :mod:`aelib.study.planning`, running them with papermill
:mod:`aelib.study.execution`, as Slurm jobs :mod:`aelib.study.slurm`.
"""
from __future__ import annotations

import argparse
import math
import re
import sys

from aelib.study import commands
from aelib.study.profiles import PROFILES

# What `aelib --help` says.
DESCRIPTION = """Run the study's step notebooks through papermill.

    aelib run [--profile quick] [--families fcae,vae] [--steps 02,04] [--z 2,10,40]
              [--dataset mnist] [--out results/quick] [--shard i/n] [--executor local|slurm] [--dry-run]
              [--models]            # then each family's notebook (notebooks/models/<family>.ipynb)
    aelib list                      # families with their options, steps, profiles with their parameters
    aelib report [--out DIR]        # rebuild the summary (step 08: tables, figures, REPORT.md)
    aelib plan --session-hours 12   # split the training into sessions of that length (an estimate)
    aelib check [--out DIR] [--repair]   # verify every run folder; quarantine damaged ones

``aelib`` is the installed command; ``python -m aelib.study.cli`` is the same.

Every step writes into the same resumable run store, so a study that was
interrupted (kill -9 included) is simply started again: complete runs are
skipped, half-written ones redone. A failing step is recorded and the others
go on; the exit status is non-zero if anything failed.
"""


def parse_time(text: str) -> int:
    """Minutes for ``--time``: minutes ("90"), H:MM:SS ("12:00:00") or D-H:MM:SS ("1-12:00:00"), rounded up."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{1,2}):(\d{1,2})", text.strip())
    if text.strip().isdigit():
        minutes = int(text)
    elif match and int(match[3]) < 60 and int(match[4]) < 60:
        days, hours, mins, secs = (int(g or 0) for g in match.groups())
        minutes = math.ceil(((days * 24 + hours) * 60 + mins) + secs / 60)
    else:
        raise argparse.ArgumentTypeError(f"expected minutes (90), H:MM:SS (12:00:00) or D-H:MM:SS (1-12:00:00). "
                                         f"Received: {text!r}")
    if minutes < 1:
        raise argparse.ArgumentTypeError(f"expected a time limit of at least 1 minute. Received: {text!r}")
    return minutes


def parse_mem(text: str) -> str:
    """Slurm's ``--mem`` for ``--mem``: an integer with K, M, G or T (a B after it is allowed); no unit means G."""
    match = re.fullmatch(r"(\d+)\s*(?:([KMGT])B?)?", text.strip(), re.IGNORECASE)
    if not match or int(match[1]) < 1:
        raise argparse.ArgumentTypeError(f"expected memory per job as an integer with K, M, G or T, e.g. 32G or "
                                         f"500M (no unit: G). Received: {text!r}")
    return f"{int(match[1])}{(match[2] or 'G').upper()}"


EXAMPLES = """examples:
  aelib run                                  # quick profile: every family and step, offline on CPUs
  aelib run --families fcae,vae --steps 02,04 --z 2,40
  aelib run --profile thesis --out /content/drive/MyDrive/aelib   # the seed's grids (GPU), results on Drive
  aelib run --shard 0/3                      # this machine's third of the families
  aelib run --executor slurm --partition gpu --account proj --mem 32G --time 12:00:00 \\
            --setup "module load cuda"       # one Slurm job per (family, step), requeued when preempted
  aelib plan --session-hours 12 --gpu-speedup 20   # the thesis profile in 12-hour sessions (an estimate)
  aelib run --models                         # every step, then one notebook per family (run_all.sh does)
  aelib run --steps models --families vae    # only the family notebooks: they read the study's runs
  aelib run --dry-run                        # print the plan
  aelib list                                 # families and their options, steps, profiles
  aelib report --out results/quick           # rebuild tables, figures and REPORT.md (step 08)

Results go to results/<profile> of the checkout when aelib runs from one,
else to ./results/<profile> under the current directory."""


def _study_options(parser: argparse.ArgumentParser, *, profile_default: str | None) -> None:
    """Options that say what the study is: shared by ``run`` and ``report``."""
    parser.add_argument("--profile", default=profile_default, choices=sorted(PROFILES),
                        help="grids and training settings: quick (offline, CPU) or thesis (the seed's grids, GPU) "
                             f"(default: {profile_default or 'that of the last run, else quick'})")
    parser.add_argument("--families", help="comma-separated family keys (see `aelib list`) (default: all)")
    parser.add_argument("--z", help="comma-separated latent sizes (default: the profile's grid)")
    parser.add_argument("--dataset", help="training dataset: mnist, fashion_mnist, emnist_letters (default: mnist)")
    parser.add_argument("--epochs", type=int,
                        help="maximum epochs; training stops at convergence (default: the profile's)")
    parser.add_argument("--n-train", type=int, help="training samples, a stratified subset (default: the whole split)")
    parser.add_argument("--n-test", type=int, help="test samples, a stratified subset (default: the whole split)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    parser.add_argument("--out", help="results folder, e.g. a Google Drive folder (default: results/<profile>)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aelib", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,list,report,plan,check}")
    run = sub.add_parser("run", help="run the step notebooks (resumable)", epilog=EXAMPLES,
                         description="Run the study's step notebooks through papermill; complete runs are skipped.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _study_options(run, profile_default="quick")
    run.add_argument("--steps", help="comma-separated steps, names or numbers 01-08, and 'models' for the family "
                                     "notebooks (default: all steps)")
    run.add_argument("--models", action=argparse.BooleanOptionalAction, default=False,
                     help="after the steps, execute each family's notebook (notebooks/models/<family>.ipynb): its "
                          "story through the methodology, from the study's runs; it trains only what is missing "
                          "(default: no; run_all.sh passes --models, --no-models turns it off)")
    run.add_argument("--shard", help="i/n: run only shard i of n, families split round-robin (default: 0/1)")
    # submitit-local: the jobs as local processes
    run.add_argument("--executor", default="local", choices=["local", "slurm", "submitit-local"],
                     help="where the step units run (default: local: on this machine; the analysis steps 03-07 and "
                          "the family notebooks two at a time on two cores or more, AELIB_LANES=1 one at a time)")
    run.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    run.add_argument("--gpus", type=int, default=1, help="GPUs per Slurm job (default: 1)")
    run.add_argument("--cpus", type=int, default=4, help="CPUs per Slurm job (default: 4)")
    run.add_argument("--time", "--timeout-min", type=parse_time, default=240, metavar="TIME",
                     help="time limit per job: minutes, H:MM:SS or D-H:MM:SS; a job that reaches it is requeued (up "
                          "to 3 times) and resumes (default: 240)")
    run.add_argument("--account", help="Slurm account to charge (default: yours)")
    run.add_argument("--mem", type=parse_mem, help="memory per Slurm job, e.g. 32G or 500M (default: the cluster's)")
    run.add_argument("--setup", action="append", metavar="COMMAND",
                     help="shell line run before each Slurm job, e.g. 'module load cuda/12.2'; repeat it for "
                          "several, or join them with ';'")
    run.add_argument("--array-parallelism", type=int, default=16,
                     help="Slurm jobs of one array running at once (default: 16)")
    run.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    sub.add_parser("list", help="families with their options and defaults, steps, profiles with their parameters",
                   description="List the families (with their options and defaults), the steps and the profiles.")
    report = sub.add_parser(
        "report", help="rebuild the summary (step 08) from the runs in a results folder",
        description="Rebuild the consolidated tables, figures and REPORT.md (step 08) from the complete runs in "
                    "--out, without training. Options not given are those of the folder's last `run` (from "
                    "provenance/invocations.jsonl), so the summary picks the same settings' rows.",
        epilog="examples:\n  aelib report                          # results/quick\n"
               "  aelib report --out /content/drive/MyDrive/aelib",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _study_options(report, profile_default=None)
    check = sub.add_parser(
        "check", help="verify every run folder of a results folder; --repair quarantines the damaged ones",
        description="Verify every run folder under --out/runs: config.json, metrics.json, history and the other "
                    "files parse, the saved models load, and the configuration hashes to the folder's name. "
                    "Report damaged runs and temporary files left by killed writes; with --repair move the "
                    "damaged runs to --out/quarantine/ (the next `aelib run` redoes them) and delete those files. "
                    "Exit status 1 when damage was found and not repaired.",
        epilog="examples:\n  aelib check --out results/quick\n  aelib check --out results/quick --repair --no-models",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--out", help="results folder (default: results/<profile>)")
    check.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                       help="whose default results folder to check when --out is not given (default: quick)")
    check.add_argument("--repair", action="store_true",
                       help="move damaged runs to <out>/quarantine/ and delete stale temporary files")
    check.add_argument("--no-models", dest="models", action="store_false",
                       help="check that the saved models are whole archives without loading them (faster)")
    check.add_argument("--tmp-age", type=float, default=5.0, metavar="MINUTES",
                       help="a temporary file (.<name>.*.tmp) older than this was left by a killed write "
                            "(default: 5)")
    session = sub.add_parser(
        "plan", help="split the profile's training into sessions of a given length (an estimate)",
        description="Estimate the training time of each family (FAMILY_COST × models × a measured scale) and pack "
                    "the families into the fewest sessions that fit; print one `aelib run` command per session.",
        epilog="examples:\n  aelib plan --session-hours 12                         # thesis profile, measured scale\n"
               "  aelib plan --session-hours 12 --gpu-speedup 20        # sessions on a GPU\n"
               "  aelib plan --session-hours 4 --seconds-per-unit 30    # 30 s per fcae model on that machine",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    session.add_argument("--session-hours", type=float, required=True, help="length of one session in hours")
    session.add_argument("--profile", default="thesis", choices=sorted(PROFILES), help="(default: thesis)")
    session.add_argument("--families", help="comma-separated family keys (default: all)")
    session.add_argument("--z", help="comma-separated latent sizes (default: the profile's grid)")
    session.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    session.add_argument("--out", help="the results folder the sessions share, passed on to their commands")
    session.add_argument("--gpu-speedup", type=float, default=1.0,
                         help="how many times faster the sessions' machine trains than the measured one (default: 1)")
    session.add_argument("--seconds-per-unit", type=float,
                         help="seconds one fcae model takes to converge (cost 1); replaces the measured scale")
    session.add_argument("--from", dest="measured",
                         help="results folder whose tables/latent_sweep_runs.csv gives the scale "
                              "(default: results/<profile> if it has that table, else results/quick)")
    session.add_argument("--fill", type=float, default=0.8,
                         help="share of a session the estimated training may fill; the rest is for the analysis "
                              "steps, start-up and the estimate's error (default: 0.8)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``aelib``: parse ``argv`` (the command line when None) and run its command; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        print(commands.describe())
        return 0
    if args.command == "plan":
        return commands.run_plan(args)
    if args.command == "check":
        return commands.run_check(args)
    if args.command == "report":
        return commands.run_report(args, parser)
    return commands.run_study(args, argv)


if __name__ == "__main__":
    sys.exit(main())
