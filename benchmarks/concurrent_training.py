"""Training runs at once (worker processes) against one at a time, in the same run.

The same set of runs — the families of the latent sweep at two z, a fixed
number of epochs each (the early-stopping patience is set above the epoch cap,
so both ways do exactly the same updates) on the 4,000 offline MNIST images,
batch 128 (``--batch-size``) — is trained into fresh run stores: one model at a time through
``keras.Model.fit`` (TensorFlow on every core: the baseline), one at a time
through aelib's own training loop, and with ``workers=N`` (N processes,
cores/N threads each, aelib's loop). Prints wall times, the throughput ratio
against the baseline, and the largest difference in test RMSE from aelib's
loop one at a time (the results must agree up to float round-off).

    .venv/bin/python benchmarks/concurrent_training.py [--workers 2] [--epochs 4] [--families vanilla,fcae,vae,rae]

``--sweep RESULTS`` trains the latent sweep of a finished study instead: its
runs (every family, z and seed of ``tables/latent_sweep_runs.csv``), each for
``--scale`` (default 0.1) times the epochs it took there to converge, at that
study's depth, batch size and tuned options — the sweep's own mix of families
and run lengths, scaled down.

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


def timed_sweep(results: Path, scale: float, workers: int):
    """Seconds to train a study's latent-sweep runs for ``scale`` × their converged epochs, ``workers`` at once,
    and each run's test RMSE."""
    import dataclasses
    import json

    from time_to_converged import tuned_options  # this folder's script: one reader of tuned_options.csv

    from aelib.study.study import Study

    runs = pd.read_csv(results / "tables" / "latent_sweep_runs.csv")
    options = tuned_options(results)
    tuned = results / "tables" / "tuned_options.csv"
    rates = dict(pd.read_csv(tuned)[["family", "learning_rate"]].values) if tuned.is_file() else {}
    settings = json.loads((results / "provenance" / "02_latent_sweep.json").read_text())["parameters"]
    with tempfile.TemporaryDirectory() as folder:
        study = Study(folder, batch_size=int(settings["batch_size"]), learning_rate=float(settings["learning_rate"]),
                      depth=int(runs["depth"].iloc[0]), workers=workers)
        specs = []
        for row in runs.itertuples():
            epochs = max(1, round(scale * row.epochs_run))
            spec = study.spec(row.family, int(row.latent_dim), int(row.seed), options=options.get(row.family),
                              learning_rate=rates.get(row.family))
            training = dataclasses.replace(spec.training, epochs=epochs, patience=epochs + 1, lr_patience=epochs + 1)
            specs.append(dataclasses.replace(spec, training=training))
        start = time.perf_counter()
        results_ = study.train_specs(f"workers={workers}", specs)
        seconds = time.perf_counter() - start
    rmse = {(r.config["family"], r.config["latent_dim"], r.config["seed"]): r.metrics["rmse_mean"] for r in results_}
    return seconds, rmse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2", help="worker counts to compare with one at a time, e.g. 2,3")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--families", default="vanilla,fcae,dae,vae,aae,sae,conae,cae,rae,mae")
    parser.add_argument("--z", default="2,10")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sweep", type=Path, help="a finished study folder: train its latent sweep's runs instead")
    parser.add_argument("--scale", type=float, default=0.1, help="with --sweep: share of each run's epochs")
    args = parser.parse_args()
    if args.sweep:
        return main_sweep(args)
    families = args.families.split(",")
    z_values = [int(v) for v in args.z.split(",")]
    runs = compare(lambda workers: timed(families, z_values, args.epochs, workers, args.batch_size), args.workers,
                   {"epochs_each": args.epochs, "batch_size": args.batch_size}, "concurrent_training.csv")
    print(f"\nmax_rmse_diff: largest |test RMSE difference| from one at a time over the {runs} runs "
          f"({', '.join(families)}; z {args.z}; {os.cpu_count()} cores)")


def compare(timer, worker_counts: str, extra: dict, csv_name: str) -> int:
    """``timer(workers) -> (seconds, {run: test RMSE})``: one at a time through ``keras.Model.fit`` (the
    baseline), one at a time through aelib's training loop, then aelib's loop at each of ``worker_counts``;
    writes and prints the table, returns the number of runs. ``max_rmse_diff`` is against aelib's loop one at
    a time (Keras' fit orders the samples differently, so its models differ by more than round-off)."""
    from aelib.training import TRAINING_LOOP_VARIABLE

    os.environ[TRAINING_LOOP_VARIABLE] = "keras-fit"  # inherited by worker processes; read at each run
    try:
        fit_s, fit = timer(1)
    finally:
        del os.environ[TRAINING_LOOP_VARIABLE]
    one_s, one = timer(1)
    runs = len(one)

    def row(mode, loop, workers, seconds, rmse):
        return {"mode": mode, "loop": loop, "workers": workers, "runs": runs,
                **extra, "wall_s": seconds, "runs_per_min": 60 * runs / seconds, "speedup": fit_s / seconds,
                "max_rmse_diff": max(abs(one[k] - rmse[k]) for k in one)}

    rows = [row("one at a time, keras fit (baseline)", "keras fit", 1, fit_s, fit),
            row("one at a time", "aelib", 1, one_s, one)]
    for workers in [int(v) for v in str(worker_counts).split(",")]:
        many_s, many = timer(workers)
        rows.append(row("worker processes", "aelib", workers, many_s, many))
    table = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / csv_name, index=False)
    print(table.to_markdown(index=False, floatfmt=".3g"))
    return runs


def main_sweep(args) -> None:
    if not (args.sweep / "tables" / "latent_sweep_runs.csv").is_file():
        raise SystemExit(f"--sweep {args.sweep}: no tables/latent_sweep_runs.csv there; give a study folder whose "
                         "step 02 has run (e.g. results/quick).")
    if not 0 < args.scale <= 1:
        raise SystemExit(f"--scale {args.scale}: expected a share of each run's epochs in (0, 1], e.g. 0.05.")
    epochs = int(sum(max(1, round(args.scale * e)) for e in
                     pd.read_csv(args.sweep / "tables" / "latent_sweep_runs.csv")["epochs_run"]))
    runs = compare(lambda workers: timed_sweep(args.sweep, args.scale, workers), args.workers,
                   {"epochs_total": epochs}, "concurrent_training_sweep.csv")
    print(f"\nThe latent sweep of {args.sweep} ({runs} runs), each for {args.scale} x its converged epochs; "
          f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
