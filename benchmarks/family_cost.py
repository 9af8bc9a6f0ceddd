"""Seconds per epoch and samples per second of every family on this CPU.

Same data (the offline MNIST training split, 4,000 images), same batch size,
z = 40, validation off; the first epoch (tracing) is left out. Each family's
cost is also given relative to ``fcae``.

    .venv/bin/python benchmarks/family_cost.py [--batch-size 64] [--epochs 3] [--families fcae,vae]
        [--variant conae:jacobian=chain] [--variant fcae:train.steps_per_execution=1]

A ``--variant`` adds a row for a family built with other options, or trained
with other ``TrainConfig`` fields (keys starting ``train.``); values are read
as JSON where they parse, else as strings. It is timed in the same run as the
defaults, so the two can be compared side by side.

Writes benchmarks/results/family_cost.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402

from aelib.data import load_dataset  # noqa: E402
from aelib.models import build_model, list_models  # noqa: E402
from aelib.training import EpochTimer, TrainConfig, train  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"



def parse_variant(text: str) -> tuple[str, dict]:
    """``"conae:jacobian=autodiff;lam=0.001"`` → ``("conae", {"jacobian": "autodiff", "lam": 0.001})``."""
    family, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(";")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant: expected key=value, received {item!r} in {text!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return family, options


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--latent-dim", type=int, default=40)
    parser.add_argument("--families", default="all")
    parser.add_argument("--variant", action="append", default=[], help="family:key=value[;key=value]")
    args = parser.parse_args()
    families = list_models() if args.families == "all" else args.families.split(",")
    runs = [(family, {}) for family in families] + [parse_variant(v) for v in args.variant]
    x, _ = load_dataset("mnist", "train")
    rows = []
    for family, options in runs:
        model_options = {k: v for k, v in options.items() if not k.startswith("train.")}
        train_options = {k[len("train."):]: v for k, v in options.items() if k.startswith("train.")}
        model = build_model(family, latent_dim=args.latent_dim, seed=0, **model_options)
        timer = EpochTimer()
        config = TrainConfig(epochs=args.epochs + 1, batch_size=args.batch_size, validation_fraction=0.0, verbose=0)
        train(model, x, config, callbacks=[timer], **train_options)
        per_epoch = sum(timer.times[1:]) / args.epochs
        rows.append({"family": family, "options": json.dumps(options) if options else "",
                     "seconds_per_epoch": per_epoch, "samples_per_s": len(x) / per_epoch,
                     "first_epoch_s": timer.times[0], "params": model.count_params()})
        print(rows[-1], file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    plain_fcae = (table.family == "fcae") & (table.options == "")
    if plain_fcae.any():
        table["cost_vs_fcae"] = table["seconds_per_epoch"] / float(table.loc[plain_fcae, "seconds_per_epoch"].iloc[0])
    table["batch_size"] = args.batch_size
    table["latent_dim"] = args.latent_dim
    table["n_samples"] = len(x)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / "family_cost.csv", index=False)
    print(f"{len(x)} samples, batch {args.batch_size}, z = {args.latent_dim}, {os.cpu_count()} cores\n")
    print(table.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
