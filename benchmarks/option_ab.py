"""One family option's values, trained to convergence side by side in one run.

Each value of ``--option`` is trained at every ``--z`` and ``--seeds`` under the
quick profile's settings (batch 64, learning rate 1e-3, 0.1 % relative
improvement of the validation loss, learning rate halved after 3 epochs
without one, stop after 6, cap 600) on the 4,000 offline MNIST training
images, into one fresh run store, two runs at a time as the study trains them
(one thread each). The first value is the baseline. ``--options`` fixes the
family's other options (e.g. the ones step 01 chose).

    .venv/bin/python benchmarks/option_ab.py --family rae --option rows_per_step --values 1,2 --z 2,40
    .venv/bin/python benchmarks/option_ab.py --family mae --option xla --values false,true --z 2,40 \\
        --options '{"mask_ratio": 0.0}'

Writes benchmarks/results/option_ab_<family>_<option>.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("AELIB_OFFLINE", "1")

import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent


def ints(text: str, flag: str, parser: argparse.ArgumentParser) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        parser.error(f"Expected {flag} as comma-separated integers, e.g. 2,40. Received: {text!r}")


def value_of(text: str):
    """An option value from the command line: JSON where it parses (1, true, 0.5, "a"), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    from aelib.study.profiles import PROFILES
    from aelib.study.study import Study

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True)
    parser.add_argument("--option", required=True)
    parser.add_argument("--values", required=True, help="comma-separated, the baseline first")
    parser.add_argument("--options", default="{}", help="the family's other options, as JSON")
    parser.add_argument("--z", default="2,40")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", type=Path, help="study folder to train into and keep (default: a temporary one)")
    args = parser.parse_args()
    z_values, seeds = ints(args.z, "--z", parser), ints(args.seeds, "--seeds", parser)
    values = [value_of(v) for v in args.values.split(",")]
    try:
        fixed = json.loads(args.options)
    except json.JSONDecodeError as error:
        parser.error(f"Expected --options as a JSON object. Received: {args.options!r} ({error})")
    common = {k: v for k, v in PROFILES["quick"]["common"].items()
              if k in ("epochs", "batch_size", "learning_rate", "patience", "min_delta", "lr_patience", "lr_factor")}
    with tempfile.TemporaryDirectory() as scratch:
        study = Study(args.store or Path(scratch), depth=1, workers=args.workers, **common)
        specs = [study.spec(args.family, z, seed, options={**fixed, args.option: value})
                 for z in reversed(z_values) for seed in seeds for value in values]  # longest first
        start = time.perf_counter()
        results = study.train_specs(f"{args.family} {args.option}", specs, describe=lambda s: (
            f"{args.family} z={s.latent_dim} seed={s.seed} {args.option}={dict(s.options)[args.option]}"))
        wall = time.perf_counter() - start
    rows = []
    for spec, result in zip(specs, results):
        m = result.metrics or {}
        rows.append({"z": spec.latent_dim, "seed": spec.seed, "value": str(dict(spec.options)[args.option]),
                     "epochs": m.get("epochs_run"), "stopped_by": m.get("stopped_by"),
                     "s_per_epoch": m.get("seconds_per_epoch"), "seconds": m.get("train_seconds"),
                     "rmse": m.get("rmse_mean"), "n_params": m.get("n_params")})
    long = pd.DataFrame(rows)
    (HERE / "results").mkdir(exist_ok=True)
    long.to_csv(HERE / "results" / f"option_ab_{args.family}_{args.option}.csv", index=False)
    wide = long.pivot(index=["z", "seed"], columns="value", values=["epochs", "s_per_epoch", "seconds", "rmse"])
    wide.columns = [f"{name}_{value}" for name, value in wide.columns]
    base, *others = [str(v) for v in values]
    for other in others:
        wide[f"time_ratio_{other}"] = wide[f"seconds_{other}"] / wide[f"seconds_{base}"]
        wide[f"rmse_change_pct_{other}"] = 100 * (wide[f"rmse_{other}"] / wide[f"rmse_{base}"] - 1)
    print(f"{args.family}, {args.option} = {', '.join(map(str, values))} (baseline {base}); other options {fixed}; "
          f"{len(specs)} runs, {args.workers} at a time; wall {wall:.0f} s\n")
    print(wide.reset_index().to_markdown(index=False, floatfmt=".3g"))
    totals = long.groupby("value")["seconds"].sum()
    print("\nSum of training seconds: " + ", ".join(f"{v}: {s:.0f} s" for v, s in totals.items()))


if __name__ == "__main__":
    main()
