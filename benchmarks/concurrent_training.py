"""Training runs at once (worker processes) against one at a time, in the same run.

The same set of runs — the families of the latent sweep at two z, a fixed
number of epochs each (the early-stopping patience is set above the epoch cap,
so both ways do exactly the same updates) on the 4,000 offline MNIST images,
batch 128 (``--batch-size``) — is trained into two fresh run stores: once with ``workers=1``
(one model at a time, TensorFlow on every core: the baseline) and once with
``workers=N`` (N processes, cores/N threads each). Prints wall times, the
throughput ratio, and the largest difference in test RMSE between the two
(the results must agree up to float round-off).

    .venv/bin/python benchmarks/concurrent_training.py [--workers 2] [--epochs 4] [--families vanilla,fcae,vae,rae]

Writes benchmarks/results/concurrent_training.csv and prints a Markdown table.
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

OUT = Path(__file__).resolve().parent / "results"


def timed(families, z_values, epochs, workers, batch_size=128, n_train=None):
    """Seconds to train every family at every z for exactly ``epochs`` epochs with ``workers`` at once, and
    each run's test RMSE."""
    from aelib.study.study import Study

    with tempfile.TemporaryDirectory() as folder:
        study = Study(folder, epochs=epochs, patience=epochs + 1, lr_patience=epochs + 1, batch_size=batch_size,
                      workers=workers, depth=3, n_train=n_train)
        start = time.perf_counter()
        results = study.train_grid(f"workers={workers}", families, z_values)
        seconds = time.perf_counter() - start
    rmse = {(r.config["family"], r.config["latent_dim"]): r.metrics["rmse_mean"] for r in results}
    return seconds, rmse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2", help="worker counts to compare with one at a time, e.g. 2,3")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--families", default="vanilla,fcae,dae,vae,aae,sae,conae,cae,rae,mae")
    parser.add_argument("--z", default="2,10")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    families = args.families.split(",")
    z_values = [int(v) for v in args.z.split(",")]
    one_s, one = timed(families, z_values, args.epochs, 1, args.batch_size)
    runs = len(one)
    rows = [{"mode": "one at a time (baseline)", "workers": 1, "runs": runs, "epochs_each": args.epochs,
             "batch_size": args.batch_size, "wall_s": one_s, "runs_per_min": 60 * runs / one_s, "speedup": 1.0,
             "max_rmse_diff": 0.0}]
    for workers in [int(v) for v in str(args.workers).split(",")]:
        many_s, many = timed(families, z_values, args.epochs, workers, args.batch_size)
        rows.append({"mode": "worker processes", "workers": workers, "runs": runs, "epochs_each": args.epochs,
                     "batch_size": args.batch_size, "wall_s": many_s, "runs_per_min": 60 * runs / many_s,
                     "speedup": one_s / many_s, "max_rmse_diff": max(abs(one[k] - many[k]) for k in one)})
    table = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / "concurrent_training.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".3g"))
    print(f"\nmax_rmse_diff: largest |test RMSE difference| from one at a time over the {runs} runs "
          f"({', '.join(families)}; z {args.z}; {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
