"""aelib's training loop against ``keras.Model.fit``, in the same run.

Every family at z = 10, depth 1, batch 64, its default options, on the 4,000
offline MNIST training images with the study's 10 % validation split, trained
for exactly ``--epochs`` epochs (patience above the cap) once through
``keras.Model.fit`` (``AELIB_TRAINING_LOOP=keras-fit``, the loop the study
used before) and once through :func:`aelib.training.train`'s own loop, the two
alternating family by family. Seconds per epoch are the median over the
epochs after the first (which includes tracing), validation included; the
first epoch's seconds are reported beside them.

``--threads`` sets TensorFlow's thread pools before anything runs: 1 is what
each of the study's two worker processes uses, 2 what one process alone uses.

    .venv/bin/python benchmarks/training_loop.py [--threads 1] [--epochs 6] [--families fcae,rae]

Writes benchmarks/results/training_loop_<threads>t.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("AELIB_OFFLINE", "1")

OUT = Path(__file__).resolve().parent / "results"


def per_epoch(family: str, loop: str, x, epochs: int) -> tuple[float, float, float]:
    """Median seconds per epoch after the first, the first epoch's seconds (tracing included) and the last
    validation loss, for one training run."""
    import numpy as np

    from aelib.models import build_model
    from aelib.training import TRAINING_LOOP_VARIABLE, EpochTimer, train

    os.environ[TRAINING_LOOP_VARIABLE] = loop
    try:
        model = build_model(family, latent_dim=10, depth=1, seed=0)
        timer = EpochTimer()
        history = train(model, x, epochs=epochs, batch_size=64, patience=epochs + 1, lr_patience=epochs + 1,
                        verbose=0, seed=0, callbacks=[timer])
    finally:
        os.environ.pop(TRAINING_LOOP_VARIABLE, None)
    return float(np.median(timer.times[1:])), float(timer.times[0]), float(history["val_loss"].iloc[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--families", default="vanilla,fcae,dae,vae,aae,sae,conae,cae,rae,mae")
    args = parser.parse_args()
    if args.threads < 1 or args.epochs < 2:
        raise SystemExit(f"Expected --threads >= 1 and --epochs >= 2 (the first epoch is left out). Received: "
                         f"--threads {args.threads} --epochs {args.epochs}.")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import pandas as pd

    from aelib.data import load_dataset

    x, _ = load_dataset("mnist", "train")
    rows = []
    for family in args.families.split(","):
        fit_s, fit_first, fit_val = per_epoch(family, "keras-fit", x, args.epochs)
        own_s, own_first, own_val = per_epoch(family, "", x, args.epochs)
        rows.append({"family": family, "threads": args.threads, "keras_fit_s_per_epoch": fit_s,
                     "aelib_loop_s_per_epoch": own_s, "speedup": fit_s / own_s,
                     "keras_fit_first_epoch_s": fit_first, "aelib_loop_first_epoch_s": own_first,
                     "keras_fit_val_loss": fit_val, "aelib_loop_val_loss": own_val})
        print(f"{family}: fit {fit_s:.3f} s, aelib loop {own_s:.3f} s per epoch ({fit_s / own_s:.2f}x); first epoch "
              f"(tracing) {fit_first:.2f} s and {own_first:.2f} s", flush=True)
    table = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / f"training_loop_{args.threads}t.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".3g"))
    total_fit, total_own = table["keras_fit_s_per_epoch"].sum(), table["aelib_loop_s_per_epoch"].sum()
    print(f"\nSum over the families: {total_fit:.2f} s per epoch with keras fit, {total_own:.2f} s with aelib's "
          f"loop ({total_fit / total_own:.2f}x); {args.threads} thread(s), {args.epochs} epochs, batch 64, z = 10.")


if __name__ == "__main__":
    main()
