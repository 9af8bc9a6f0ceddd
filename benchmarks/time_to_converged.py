"""Time to a converged model per family, under two training settings side by side in one run.

Every family at one z and seed is trained to convergence (the quick profile's
early stopping: 0.1 % relative improvement of the validation loss, learning
rate halved after 3 epochs without one, stop after 6, cap 600) on the 4,000
offline MNIST training images, once under each ``--batch-sizes`` value (the
first is the baseline), into one fresh run store, two runs at a time as the
study trains them (``Study(workers=2)``, one thread each). Each family uses
the options step 01 chose (``tuned_options.csv`` of ``--results``, so both
settings train the same model) and the depth of ``--depth``.

Seconds to a converged model are the run's training seconds (epochs × seconds
per epoch, the first epoch's tracing included); the test RMSE is the study's
(mean over test images of the per-image RMSE).

    .venv/bin/python benchmarks/time_to_converged.py [--batch-sizes 128,64] [--z 10] [--seed 0]

Writes benchmarks/results/time_to_converged.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("AELIB_OFFLINE", "1")

import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
FAMILIES = "vanilla,fcae,dae,vae,aae,sae,conae,cae,rae,mae"


def tuned_options(results: Path) -> dict[str, dict]:
    path = results / "tables" / "tuned_options.csv"
    if not path.is_file():
        return {}
    return {row.family: json.loads(row.options) for row in pd.read_csv(path).itertuples()}


def main() -> None:
    from aelib.study.profiles import PROFILES
    from aelib.study.study import Study

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", default="128,64", help="the first is the baseline")
    parser.add_argument("--families", default=FAMILIES)
    parser.add_argument("--z", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depth", type=int, default=1, help="depth of the fully connected families (default: 1)")
    parser.add_argument("--results", type=Path, default=HERE.parent / "results" / "quick",
                        help="study folder whose tuned_options.csv gives each family's options")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", type=Path, help="study folder to train into and keep (default: a temporary one); "
                        "an interrupted run resumes there, its finished runs kept")
    args = parser.parse_args()
    try:
        batch_sizes = [int(v) for v in args.batch_sizes.split(",")]
    except ValueError:
        parser.error(f"Expected --batch-sizes as comma-separated integers, e.g. 128,64. Received: {args.batch_sizes!r}")
    families = args.families.split(",")
    options = tuned_options(args.results)
    common = {k: v for k, v in PROFILES["quick"]["common"].items()
              if k in ("epochs", "learning_rate", "patience", "min_delta", "lr_patience", "lr_factor")}
    with tempfile.TemporaryDirectory() as scratch:
        study = Study(args.store or Path(scratch), depth=args.depth, workers=args.workers, **common)
        specs = []
        for batch_size in batch_sizes:
            for family in families:
                spec = study.spec(family, args.z, args.seed, options=options.get(family))
                specs.append(dataclasses.replace(spec, training=dataclasses.replace(spec.training,
                                                                                    batch_size=batch_size)))
        start = time.perf_counter()
        results = study.train_specs("time to converged", specs)
        wall = time.perf_counter() - start  # runs already in --store count their own seconds, not this wall time
    rows = []
    for spec, result in zip(specs, results):
        m = result.metrics or {}
        rows.append({"family": spec.family, "batch_size": spec.training.batch_size, "options": json.dumps(
            options.get(spec.family, {}), sort_keys=True), "epochs": m.get("epochs_run"),
            "stopped_by": m.get("stopped_by"),
            "s_per_epoch": m.get("seconds_per_epoch"), "seconds": m.get("train_seconds"), "rmse": m.get("rmse_mean")})
    long = pd.DataFrame(rows)
    base, *others = batch_sizes
    wide = long[long["batch_size"] == base].set_index("family")[["epochs", "s_per_epoch", "seconds", "rmse"]]
    for other in others:
        part = long[long["batch_size"] == other].set_index("family")[["epochs", "s_per_epoch", "seconds", "rmse"]]
        wide = wide.join(part.add_suffix(f"_b{other}"))
        wide[f"time_ratio_b{other}"] = wide[f"seconds_b{other}"] / wide["seconds"]
        wide[f"rmse_change_pct_b{other}"] = 100 * (wide[f"rmse_b{other}"] / wide["rmse"] - 1)
    wide = wide.rename(columns={c: f"{c}_b{base}" for c in ("epochs", "s_per_epoch", "seconds", "rmse")})
    (HERE / "results").mkdir(exist_ok=True)
    long.to_csv(HERE / "results" / "time_to_converged.csv", index=False)
    print(f"z = {args.z}, seed {args.seed}, depth {args.depth}, {args.workers} runs at a time; wall {wall:.0f} s\n")
    print(wide.reset_index().to_markdown(index=False, floatfmt=".3g"))
    totals = long.groupby("batch_size")["seconds"].sum()
    print("\nSum of training seconds: " + ", ".join(f"batch {b}: {s:.0f} s" for b, s in totals.items()))


if __name__ == "__main__":
    main()
