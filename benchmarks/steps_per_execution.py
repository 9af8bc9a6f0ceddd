"""Does running several training steps per call (``TrainConfig.steps_per_execution``)
save time? Each family is trained as in the study (4,000 offline MNIST images,
10 % validation, batch 64, z = 20) with 1 and with 16 steps per call,
alternating, ``--repeats`` times; the first epoch (tracing) is left out and the
minimum over repeats is compared (run-to-run noise here is 10–20 %).

    .venv/bin/python benchmarks/steps_per_execution.py [--families fcae,vae] [--repeats 3]

Writes benchmarks/results/steps_per_execution.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402

from aelib.data import load_dataset  # noqa: E402
from aelib.models import build_model  # noqa: E402
from aelib.training import EpochTimer, TrainConfig, train  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--families", default="fcae,vae,aae,cae,mae")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    args = parser.parse_args()
    x, _ = load_dataset("mnist", "train")
    rows = []
    for repeat in range(args.repeats):
        for family in args.families.split(","):
            for steps in (1, 16):
                model = build_model(family, latent_dim=20, seed=0)
                timer = EpochTimer()
                config = TrainConfig(epochs=args.epochs + 1, batch_size=64, verbose=0, steps_per_execution=steps)
                train(model, x, config, callbacks=[timer])
                rows.append({"family": family, "steps_per_execution": steps, "repeat": repeat,
                             "seconds_per_epoch": sum(timer.times[1:]) / args.epochs})
                print(f"repeat {repeat + 1}/{args.repeats} {family} steps/call={steps}: "
                      f"{rows[-1]['seconds_per_epoch']:.3f} s/epoch", file=sys.stderr, flush=True)
    raw = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    raw.to_csv(OUT / "steps_per_execution.csv", index=False)
    best = raw.pivot_table(index="family", columns="steps_per_execution", values="seconds_per_epoch", aggfunc="min")
    best.columns = [f"s/epoch, {c} step(s) per call (min)" for c in best.columns]
    best["speed-up"] = best.iloc[:, 0] / best.iloc[:, 1]
    print(f"{len(x)} images, batch 64, z = 20, {args.repeats} repeats, {os.cpu_count()} cores\n")
    print(best.to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
