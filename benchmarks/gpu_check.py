"""GPU check: every family trained briefly on MNIST-sized data, with and without
op determinism, and from those the thesis profile's GPU hours.

For each family: two epochs on 60,000 images (tensorflow-datasets' MNIST when it
is prepared or can be downloaded, else the 4,000 offline training images
repeated to 60,000 — the table says which), batch 128, z = 40, 10 % held out for
validation as in the study, once with ``AELIB_DETERMINISTIC=1`` and once with 0.
The first epoch includes tracing; the second is the seconds per epoch. A third
run per family (determinism on) trains through ``keras.Model.fit`` instead of
aelib's training loop, for the loop's speed-up on the device. A family
without a deterministic GPU kernel falls back inside ``aelib.training.train``;
the ``deterministic`` column shows what actually ran.

The estimate covers the thesis profile's latent sweep (step 02: z grid × seeds
× families) and step 01's depth grid (fcae at its cost), each run for a typical
number of epochs to convergence: the median ``epochs_run`` per family in
results/quick/tables/latent_sweep_runs.csv where that column exists, else 100
(the output says which). Cost is taken as independent of z (measured at 40).
Tuning and the analysis steps are not included.

    python benchmarks/gpu_check.py            # on the GPU machine: a few minutes on an H200
    python benchmarks/gpu_check.py --smoke    # tiny sizes, runs on a CPU in a minute or two

Then concurrent training on the device: the same runs (every family at z = 2
and 10, exactly 3 epochs each, batch 64, the offline 4,000 images) trained
into fresh run stores one at a time and with 2 and 4 worker processes sharing
the GPU (``Study(workers=N)``; each worker takes GPU memory as it needs it),
with the throughput ratio and the largest test-RMSE difference between the
ways (``--workers``, ``--concurrent-epochs``; ``--workers 1`` skips it).

Writes benchmarks/results/gpu_check.csv and gpu_check_concurrent.csv
(--smoke: files in the temporary folder, unless --out is given) and prints
Markdown.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from aelib.data import load_dataset_with_info  # noqa: E402
from aelib.models import build_model, list_models  # noqa: E402
from aelib.study.device import device_info  # noqa: E402
from aelib.study.profiles import PROFILES  # noqa: E402
from aelib.training import TRAINING_LOOP_VARIABLE, EpochTimer, TrainConfig, train  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUNS_TABLE = REPO / "results" / "quick" / "tables" / "latent_sweep_runs.csv"
ASSUMED_EPOCHS = 100
MNIST_TRAIN = 60_000


def training_images(n: int) -> tuple[np.ndarray, str]:
    """``n`` MNIST training images and a sentence saying where they came from."""
    x, _, info = load_dataset_with_info("mnist", "train")
    source = info["source"]
    if len(x) >= n:
        return x[:n], f"{n:,} images from {source}"
    repeats = int(np.ceil(n / len(x)))
    return np.tile(x, (repeats, 1, 1, 1))[:n], (f"{len(x):,} images from {source} repeated to {n:,} "
                                                f"(tensorflow-datasets' MNIST was not available)")


def typical_epochs(families: list[str], table: Path) -> tuple[dict[str, float], str]:
    """Median epochs to convergence per family from a latent-sweep table, else ASSUMED_EPOCHS."""
    if table.is_file():
        runs = pd.read_csv(table)
        if "epochs_run" in runs and runs["epochs_run"].notna().any():
            median = runs.groupby("family")["epochs_run"].median()
            overall = float(runs["epochs_run"].median())
            epochs = {f: float(median.get(f, overall)) for f in families}
            shown = table.relative_to(REPO) if table.is_relative_to(REPO) else table
            return epochs, (f"median epochs_run per family from {shown} ({len(runs)} runs; "
                            f"families without runs take the overall median {overall:g})")
        why = f"{table.name} has no epochs_run column (written before training ran to convergence)"
    else:
        why = f"{table} does not exist"
    return {f: float(ASSUMED_EPOCHS) for f in families}, f"assumed {ASSUMED_EPOCHS} epochs per run: {why}"


def time_family(family: str, x: np.ndarray, *, deterministic: bool, epochs: int, batch_size: int,
                latent_dim: int, loop: str = "aelib") -> dict:
    """One timed training run; ``loop="keras-fit"`` trains through ``keras.Model.fit`` (the loop before issue 16)."""
    os.environ["AELIB_DETERMINISTIC"] = "1" if deterministic else "0"
    model = build_model(family, input_shape=x.shape[1:], latent_dim=latent_dim, seed=0)
    timer, record = EpochTimer(), {}
    config = TrainConfig(epochs=epochs, batch_size=batch_size, verbose=0, patience=epochs + 1, lr_patience=0)
    start = time.perf_counter()
    if loop == "keras-fit":
        os.environ[TRAINING_LOOP_VARIABLE] = "keras-fit"
    try:
        train(model, x, config, callbacks=[timer], record=record)
    finally:
        os.environ.pop(TRAINING_LOOP_VARIABLE, None)
    steady = timer.times[1:] or timer.times
    return {"family": family, "loop": loop, "determinism_requested": deterministic,
            "deterministic": record.get("deterministic"),
            "first_epoch_s": timer.times[0], "seconds_per_epoch": float(np.mean(steady)),
            "samples_per_s": (len(x) - round(len(x) * config.validation_fraction)) / float(np.mean(steady)),
            "total_s": time.perf_counter() - start,
            "n_params": int(model.count_params())}


def estimate(table: pd.DataFrame, epochs: dict[str, float], profile: str = "thesis") -> pd.DataFrame:
    """GPU hours of the profile's latent sweep and depth grid, with determinism on and off."""
    spec = PROFILES[profile]
    seeds = len(spec["common"]["seeds"])
    sweep_z = len(spec["02_latent_sweep"]["z_values"])
    arch = spec["01_architecture"]
    per_epoch = table.pivot(index="family", columns="determinism_requested", values="seconds_per_epoch")
    rows = []
    for family, costs in per_epoch.iterrows():
        runs = sweep_z * seeds
        rows.append({"part": "02 latent sweep", "family": family, "runs": runs, "epochs_per_run": epochs[family],
                     "gpu_hours_deterministic": runs * epochs[family] * costs.get(True, np.nan) / 3600,
                     "gpu_hours_nondeterministic": runs * epochs[family] * costs.get(False, np.nan) / 3600})
    for family in arch["arch_families"]:
        if family in per_epoch.index:
            runs = len(arch["depths"]) * len(arch["z_values"]) * seeds
            costs = per_epoch.loc[family]
            rows.append({"part": "01 depth grid", "family": family, "runs": runs, "epochs_per_run": epochs[family],
                         "gpu_hours_deterministic": runs * epochs[family] * costs.get(True, np.nan) / 3600,
                         "gpu_hours_nondeterministic": runs * epochs[family] * costs.get(False, np.nan) / 3600})
    out = pd.DataFrame(rows)
    total = {"part": "total", "family": "", "runs": int(out["runs"].sum()), "epochs_per_run": np.nan,
             "gpu_hours_deterministic": out["gpu_hours_deterministic"].sum(),
             "gpu_hours_nondeterministic": out["gpu_hours_nondeterministic"].sum()}
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (1,024 images, z = 8), for a CPU")
    parser.add_argument("--families", default="all", help="comma-separated families (default: all)")
    parser.add_argument("--n-images", type=int, help=f"training images (default: {MNIST_TRAIN:,}; --smoke 1,024)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per fit, the first includes tracing (default: 2)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128, the profiles')")
    parser.add_argument("--latent-dim", type=int, help="z (default: 40; --smoke 8)")
    parser.add_argument("--runs-table", type=Path, default=RUNS_TABLE,
                        help="latent-sweep runs table for epochs to convergence (default: results/quick's)")
    parser.add_argument("--out", type=Path, help="CSV to write (default: benchmarks/results/gpu_check.csv)")
    parser.add_argument("--workers", default=None,
                        help="worker counts for the concurrent-training check (default: 1,2,4; --smoke 1,2)")
    parser.add_argument("--concurrent-epochs", type=int, default=3, help="epochs per run there (default: 3)")
    args = parser.parse_args(argv)
    families = list_models() if args.families == "all" else [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = sorted(set(families) - set(list_models()))
    if unknown or not families:
        parser.error(f"Expected --families from {list_models()}. Received: {args.families!r}")
    counts = parse_workers(args.workers or ("1,2" if args.smoke else "1,2,4"), parser)
    n = args.n_images or (1024 if args.smoke else MNIST_TRAIN)
    latent_dim = args.latent_dim or (8 if args.smoke else 40)
    if min(n, args.epochs, args.batch_size, latent_dim) < 1 or args.epochs < 2:
        parser.error("Expected --n-images, --batch-size, --latent-dim >= 1 and --epochs >= 2")
    out = args.out or (Path(tempfile.gettempdir()) / "gpu_check_smoke.csv" if args.smoke
                       else HERE / "results" / "gpu_check.csv")

    device = device_info()
    x, data_note = training_images(n)
    print(f"gpu_check: {len(families)} families × determinism on/off, {args.epochs} epochs on {data_note}",
          file=sys.stderr, flush=True)
    rows = []
    for family in families:
        for deterministic, loop in ((True, "aelib"), (False, "aelib"), (True, "keras-fit")):
            row = time_family(family, x, deterministic=deterministic, epochs=args.epochs,
                              batch_size=args.batch_size, latent_dim=latent_dim, loop=loop)
            rows.append(row)
            print(f"  {family:<8} determinism {'on ' if deterministic else 'off'}, {loop} loop: "
                  f"{row['seconds_per_epoch']:.2f} s/epoch (first {row['first_epoch_s']:.1f} s)"
                  + ("" if row["deterministic"] == deterministic else " — no deterministic kernel, ran without"),
                  file=sys.stderr, flush=True)
    os.environ.pop("AELIB_DETERMINISTIC", None)
    table = pd.DataFrame(rows)
    fit_rows = table[table["loop"] == "keras-fit"].set_index("family")["seconds_per_epoch"]
    table = table[table["loop"] == "aelib"].reset_index(drop=True)
    gpus = device["gpus"] if isinstance(device["gpus"], list) else []
    table["device"] = ", ".join(g.get("name") or g["device"] for g in gpus) or f"CPU: {device['cpu']}"
    table["n_images"], table["batch_size"], table["latent_dim"] = len(x), args.batch_size, latent_dim
    table["data"] = data_note
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)

    epochs, epochs_note = typical_epochs(families, args.runs_table)
    hours = estimate(table, epochs)
    side = table.pivot(index="family", columns="determinism_requested", values="seconds_per_epoch")
    side = side.rename(columns={True: "s_per_epoch_deterministic", False: "s_per_epoch_nondeterministic"})
    side = side[["s_per_epoch_deterministic", "s_per_epoch_nondeterministic"]]
    side["slowdown"] = side["s_per_epoch_deterministic"] / side["s_per_epoch_nondeterministic"]
    side["ran_deterministic"] = table[table["determinism_requested"]].set_index("family")["deterministic"]
    side["s_per_epoch_keras_fit"] = fit_rows  # deterministic, through keras.Model.fit
    side["loop_speedup"] = side["s_per_epoch_keras_fit"] / side["s_per_epoch_deterministic"]
    side = side.reindex(families).reset_index()

    print(f"## GPU check{' (smoke)' if args.smoke else ''}\n")
    print(f"- device: {table['device'].iloc[0] if gpus else 'no GPU'}; CPU {device['cpu']} × {device['cpu_count']}")
    print(f"- TensorFlow build: {json.dumps(device['tensorflow_build'])}")
    print(f"- data: {data_note}; batch {args.batch_size}, z = {latent_dim}, {args.epochs} epochs per fit, "
          "10 % validation; seconds per epoch leave out the first (tracing)\n")
    print(side.to_markdown(index=False, floatfmt=".3g"))
    print(f"\n### Thesis profile, estimated GPU hours (this device)\n\nEpochs per run: {epochs_note}."
          + (" Smoke sizes: these hours mean nothing, only that the arithmetic runs." if args.smoke else "") + "\n")
    print(hours.to_markdown(index=False, floatfmt=".3g"))
    print(f"\nWrote {out}")

    if len(counts) > 1:
        concurrent = concurrent_check(families if not args.smoke else families[:2], counts, smoke=args.smoke,
                                      epochs=1 if args.smoke else args.concurrent_epochs)
        concurrent["device"] = table["device"].iloc[0]
        path = out.with_name(out.stem + "_concurrent.csv")
        concurrent.to_csv(path, index=False)
        print("\n### Concurrent training on this device\n")
        print(concurrent.to_markdown(index=False, floatfmt=".3g"))
        print(f"\nWrote {path}")
    return 0


def parse_workers(text: str, parser: argparse.ArgumentParser) -> list[int]:
    try:
        counts = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        parser.error(f"Expected --workers as comma-separated integers >= 1, e.g. 1,2,4. Received: {text!r}")
    return counts if counts[0] == 1 else [1, *counts]  # one at a time is the baseline


def concurrent_check(families: list[str], counts: list[int], *, smoke: bool, epochs: int) -> pd.DataFrame:
    """The same runs trained with each worker count (1 = one at a time, the baseline), side by side."""
    sys.path.insert(0, str(HERE))
    from concurrent_training import timed

    z_values, batch_size = ([2], 64) if smoke else ([2, 10], 64)
    n_train = 200 if smoke else None
    rows, baseline = [], None
    for workers in counts:
        print(f"  concurrent training: {workers} worker(s), {len(families) * len(z_values)} runs × {epochs} epochs",
              file=sys.stderr, flush=True)
        seconds, rmse = timed(families, z_values, epochs, workers, batch_size, n_train=n_train)
        if baseline is None:
            baseline = (seconds, rmse)
        rows.append({"workers": workers, "runs": len(rmse), "epochs_each": epochs, "batch_size": batch_size,
                     "wall_s": seconds, "runs_per_min": 60 * len(rmse) / seconds, "speedup": baseline[0] / seconds,
                     "max_rmse_diff_vs_one": max(abs(rmse[k] - baseline[1][k]) for k in rmse)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    sys.exit(main())
