"""The recurrent family's two decoders, trained to convergence side by side in one run.

``decoder="repeat"`` (aelib's rae before 2026-12: a zero initial state, tanh(V z)
repeated as the input at every step) against ``decoder="state"`` (the default
since: the decoder's initial state is tanh(V z) and z is its input at every
step, as Cho et al.'s decoder starts from tanh(V' c) and reads c). Each is
trained at every ``--z`` and ``--seeds`` under the quick profile's settings
(batch 64, learning rate 1e-3, 0.1 % relative improvement of the validation
loss, learning rate halved after 3 epochs without one, stop after 6, cap
600) on the 4,000 offline MNIST training images, into one fresh run store,
two runs at a time as the study trains them (one thread each).

    .venv/bin/python benchmarks/rae_decoder.py [--z 10,40] [--seeds 0] [--store FOLDER]

Writes benchmarks/results/rae_decoder.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("AELIB_OFFLINE", "1")

import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
DECODERS = ("repeat", "state")  # the first is the baseline


def ints(text: str, flag: str, parser: argparse.ArgumentParser) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        parser.error(f"Expected {flag} as comma-separated integers, e.g. 10,40. Received: {text!r}")


def main() -> None:
    from aelib.study.profiles import PROFILES
    from aelib.study.study import Study

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--z", default="10,40")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", type=Path, help="study folder to train into and keep (default: a temporary one); "
                        "an interrupted run resumes there, its finished runs kept")
    args = parser.parse_args()
    z_values, seeds = ints(args.z, "--z", parser), ints(args.seeds, "--seeds", parser)
    common = {k: v for k, v in PROFILES["quick"]["common"].items()
              if k in ("epochs", "batch_size", "learning_rate", "patience", "min_delta", "lr_patience", "lr_factor")}
    with tempfile.TemporaryDirectory() as scratch:
        study = Study(args.store or Path(scratch), depth=1, workers=args.workers, **common)
        specs = [study.spec("rae", z, seed, options={"decoder": decoder})
                 for z in reversed(z_values) for seed in seeds for decoder in DECODERS]  # longest first
        start = time.perf_counter()
        results = study.train_specs("rae decoders", specs, describe=lambda s: f"rae z={s.latent_dim} seed={s.seed} "
                                    f"decoder={dict(s.options)['decoder']}")
        wall = time.perf_counter() - start
    rows = []
    for spec, result in zip(specs, results):
        m = result.metrics or {}
        rows.append({"z": spec.latent_dim, "seed": spec.seed, "decoder": dict(spec.options)["decoder"],
                     "epochs": m.get("epochs_run"), "stopped_by": m.get("stopped_by"),
                     "s_per_epoch": m.get("seconds_per_epoch"), "seconds": m.get("train_seconds"),
                     "rmse": m.get("rmse_mean"), "n_params": m.get("n_params")})
    long = pd.DataFrame(rows)
    (HERE / "results").mkdir(exist_ok=True)
    long.to_csv(HERE / "results" / "rae_decoder.csv", index=False)
    wide = long.pivot(index=["z", "seed"], columns="decoder", values=["epochs", "s_per_epoch", "seconds", "rmse"])
    wide.columns = [f"{value}_{decoder}" for value, decoder in wide.columns]
    wide["time_ratio"] = wide["seconds_state"] / wide["seconds_repeat"]
    wide["rmse_change_pct"] = 100 * (wide["rmse_state"] / wide["rmse_repeat"] - 1)
    print(f"{len(specs)} runs, {args.workers} at a time; wall {wall:.0f} s\n")
    print(wide.reset_index().to_markdown(index=False, floatfmt=".3g"))
    totals = long.groupby("decoder")["seconds"].sum()
    print("\nSum of training seconds: " + ", ".join(f"{d}: {s:.0f} s" for d, s in totals.items()))


if __name__ == "__main__":
    main()
