"""The depth search at several training-set sizes: does the best depth of fcae depend on how much data it has?

The quick study chooses its depth on 3,600 MNIST training images, where the seed study used 60,000. This
experiment runs step 01's depth search (fcae, the depths given, z = 10 and 40, several seeds, depth chosen on
validation RMSE, never test) on the real Fashion-MNIST at several training-set sizes, all in one folder
(``results/depth_by_size`` by default, one run store; each size is its own setting), and writes there:

- ``depth_by_size_runs.csv``: one row per run, with its ``n_train``;
- ``depth_by_size.csv``: per ``n_train``, depth and z, the mean validation and test RMSE over seeds with their
  spread (min, max), and whether the depth is the best on validation at that size and z;
- ``depth_by_size.png`` and ``REPORT.md``.

It trains through the study's own machinery (run store, worker pool, convergence), so an interrupted run resumes.
Usage (about 4k, 15k and all 60k images: 3,600, 13,500 and 54,000 fitted, the rest held out for early stopping)::

    .venv/bin/python scripts/depth_by_size.py --sizes 4000 15000 60000 --depths 1 2 3 6 --seeds 0 1
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aelib import plots  # noqa: E402
from aelib.report.tables import markdown  # noqa: E402
from aelib.study.profiles import PROFILES  # noqa: E402
from aelib.study.steps import architecture  # noqa: E402
from aelib.study.study import Study  # noqa: E402
from aelib.training import TRAINING_FIELDS  # noqa: E402


def train_sizes(args: argparse.Namespace) -> pd.DataFrame:
    """Run the depth search at each size, writing the outputs after each (so an interrupted experiment leaves the
    sizes it finished reported); the runs' rows with their ``n_train``."""
    common = PROFILES["quick"]["common"]
    training = {k: common[k] for k in TRAINING_FIELDS}
    frames = []
    for n in args.sizes:
        start = time.perf_counter()
        print(f"=== n_train = {n} ({args.dataset}) ===", flush=True)
        study = Study(args.out, workers=args.workers, dataset=args.dataset, n_train=n, depth=1, **training)
        architecture.search(study, families=["fcae"], depths=args.depths, z_values=args.z, seeds=args.seeds)
        runs = pd.read_csv(study.tables / "architecture_runs.csv", dtype={"setting": str})
        runs = runs[study.is_current(runs)].copy()
        runs.insert(0, "n_train", n)
        runs["n_fit"] = len(study.data("train")[0]) - int(round(len(study.data("train")[0])
                                                                * training["validation_fraction"]))
        frames.append(runs)
        print(f"=== n_train = {n}: {len(runs)} runs, {time.perf_counter() - start:.0f} s so far ===", flush=True)
        write_outputs(args, pd.concat(frames, ignore_index=True))
    return pd.concat(frames, ignore_index=True)


def cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean (and min, max) validation and test RMSE over seeds per size, depth and z; the best depth on validation."""
    keys = ["n_train", "latent_dim", "depth"]
    table = runs.groupby(keys, as_index=False).agg(
        n_seeds=("seed", "nunique"), val_rmse=("val_rmse", "mean"), val_rmse_min=("val_rmse", "min"),
        val_rmse_max=("val_rmse", "max"), rmse_mean=("rmse_mean", "mean"), rmse_min=("rmse_mean", "min"),
        rmse_max=("rmse_mean", "max"), epochs_run=("epochs_run", "mean"))
    best = table.loc[table.groupby(["n_train", "latent_dim"])["val_rmse"].idxmin(), keys]
    table["best_on_validation"] = table.set_index(keys).index.isin(best.set_index(keys).index)
    return table


def reading(table: pd.DataFrame) -> list[str]:
    """One line per size and z: the best depth on validation, and whether its lead over depth 1 and the runner-up
    is larger than the spread over seeds (the seeds' ranges do not overlap)."""
    lines = []
    for (n, z), part in table.groupby(["n_train", "latent_dim"]):
        part = part.sort_values("val_rmse")
        best, second = part.iloc[0], part.iloc[1] if len(part) > 1 else None
        apart = second is not None and best["val_rmse_max"] < second["val_rmse_min"]
        line = (f"- n_train = {n:,}, z = {z}: best depth {int(best['depth'])} (validation RMSE {best['val_rmse']:.4f}, "
                f"test {best['rmse_mean']:.4f})")
        if second is not None:
            line += (f"; next depth {int(second['depth'])} at {second['val_rmse']:.4f} — "
                     + ("the seeds' ranges do not overlap" if apart else
                        f"within the spread over {int(best['n_seeds'])} seeds (ranges overlap): not a clear winner"))
        lines.append(line + ".")
    return lines


def figure(table: pd.DataFrame, path: Path) -> None:
    """Validation RMSE against depth, one line per training-set size, one panel per z."""
    import matplotlib.pyplot as plt

    zs = sorted(table["latent_dim"].unique())
    fig, axes = plt.subplots(1, len(zs), figsize=(plots.FULL_WIDTH, plots.FULL_WIDTH * 0.4), squeeze=False)
    for ax, z in zip(axes[0], zs):
        for n, part in table[table["latent_dim"] == z].groupby("n_train"):
            part = part.sort_values("depth")
            ax.errorbar(part["depth"], part["val_rmse"],
                        yerr=[part["val_rmse"] - part["val_rmse_min"], part["val_rmse_max"] - part["val_rmse"]],
                        marker="o", capsize=2, label=f"n_train = {n:,}")
        ax.set_title(f"z = {z}")
        ax.set_xlabel("hidden layers (depth)")
        ax.set_xticks(sorted(table["depth"].unique()))
    axes[0][0].set_ylabel("validation RMSE (mean; bars: seed range)")
    axes[0][-1].legend(fontsize="small")
    fig.suptitle("fcae: validation RMSE against depth at three training-set sizes")
    plots.save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "depth_by_size")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 15000, 60000])
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 6])
    parser.add_argument("--z", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=None, help="training processes (default: the study's)")
    args = parser.parse_args(argv)
    problem = check_data(args.dataset, args.sizes)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    train_sizes(args)
    print((args.out / "REPORT.md").read_text(encoding="utf-8"))
    return 0


def check_data(dataset: str, sizes: list[int]) -> str | None:
    """Why the experiment cannot run on ``dataset`` at ``sizes`` (the data cannot be loaded, or a size is larger
    than its training split), or None."""
    from aelib.data import load_dataset

    try:
        x, _ = load_dataset(dataset, "train")
    except Exception as err:  # noqa: BLE001 — any failure to load is reported with what to do
        return (f"cannot load the {dataset!r} training split: {err}. The experiment needs the real data set; "
                "see README.md, \"Data\", for where aelib looks for it offline.")
    too_big = [n for n in sizes if n > len(x)]
    if too_big or any(n < 100 for n in sizes):
        return (f"Expected training-set sizes between 100 and the {len(x):,} images of {dataset!r}'s training split. "
                f"Received: --sizes {' '.join(map(str, sizes))}")
    return None


def by_size(table: pd.DataFrame) -> list[str]:
    """One line per z: the depth chosen on validation at each training-set size, smallest size first."""
    lines = []
    for z, part in table[table["best_on_validation"]].groupby("latent_dim"):
        chosen = "; ".join(f"depth {int(row.depth)} at {int(row.n_train):,}"
                           for row in part.sort_values("n_train").itertuples())
        lines.append(f"- z = {z}: {chosen}.")
    return lines


def write_outputs(args: argparse.Namespace, runs: pd.DataFrame) -> None:
    """The tables, the figure and REPORT.md of the sizes run so far."""
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "depth_by_size_runs.csv", index=False)
    table = cells(runs)
    table.to_csv(args.out / "depth_by_size.csv", index=False)
    figure(table, args.out / "depth_by_size")
    sizes = sorted(runs["n_train"].unique())
    shown = table.drop(columns=["val_rmse_min", "val_rmse_max", "rmse_min", "rmse_max"])
    text = "\n".join([
        "# Depth by training-set size",
        "",
        f"fcae's depth search (depths {', '.join(map(str, args.depths))}; z = {', '.join(map(str, args.z))}; seeds "
        f"{', '.join(map(str, args.seeds))}) on the real {args.dataset} at training-set sizes "
        f"{', '.join(f'{n:,}' for n in sizes)} (10 % of each held out for early stopping and for choosing the "
        "depth; test RMSE on the full test split, reported, never used to choose). Training as the quick profile "
        "(batch 64, Adam 1e-3, early stopping). The fit sees "
        + ", ".join(f"{int(n):,}" for n in runs.groupby("n_train")["n_fit"].first())
        + " images. Built by `scripts/depth_by_size.py` on this machine's two CPU cores, two runs at once: the "
        f"{len(runs)} runs' own training times add up to {runs['train_seconds'].sum() / 3600:.1f} h "
        "(a shared machine: not a benchmark; runs already in the store are reused).",
        "",
        "![depth by size](depth_by_size.png)",
        "",
        "The depth chosen on validation, by training-set size:",
        "",
        *by_size(table),
        "",
        "Per size and z, the best depth and how clearly it leads:",
        "",
        *reading(table),
        "",
        *([f"Not run yet: training-set sizes {', '.join(f'{n:,}' for n in args.sizes if n not in sizes)} (rerun the "
           "command: runs already in the store are reused).", ""] if set(args.sizes) - set(sizes) else []),
        markdown(shown),
        "",
        "Files: `depth_by_size.csv` (per size, depth and z), `depth_by_size_runs.csv` (one row per run), "
        "`tables/` (the study's own tables of the search, one setting per size).",
        "",
    ])
    (args.out / "REPORT.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
