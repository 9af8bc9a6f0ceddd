"""Training throughput of the 3-layer fcae (z = 40) against plain Keras.

Measures, in one run on this machine:
  * samples/s of ``aelib.training.train`` on the aelib ``fcae``;
  * samples/s of a minimal plain-Keras ``Sequential`` of the same widths with
    ``model.fit`` (the named baseline);
  * both across batch sizes, with numpy arrays and a ``tf.data`` pipeline,
    and with XLA ``jit_compile`` on and off;
  * the machine's dense float32 matmul GFLOP/s, and the fraction of it that
    training achieves (6 × params FLOPs per sample: forward + backward).

    .venv/bin/python benchmarks/train_throughput.py [--quick]

Writes benchmarks/results/train_throughput.csv and prints a Markdown table.
Rates leave out each fit's first epoch (tracing). aelib.training.train turns on
TensorFlow op determinism, which is process-wide, so after the first row the
baseline runs under it too: the comparison is like for like.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from aelib.data import load_dataset  # noqa: E402
from aelib.models import build_model  # noqa: E402
from aelib.training import EpochTimer, TrainConfig, train  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a = tf.random.uniform((n, n))
    b = tf.random.uniform((n, n))
    tf.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.matmul(a, b)
    c.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def plain_keras(latent_dim: int = 40) -> keras.Model:
    layers = [keras.Input((28, 28, 1)), keras.layers.Flatten()]
    for w in (588, 392, 196):
        layers.append(keras.layers.Dense(w, activation="relu"))
    layers.append(keras.layers.Dense(latent_dim))
    for w in (196, 392, 588):
        layers.append(keras.layers.Dense(w, activation="relu"))
    layers += [keras.layers.Dense(784, activation="sigmoid"), keras.layers.Reshape((28, 28, 1))]
    return keras.Sequential(layers)



def rate(timer: EpochTimer, n: int) -> float:
    return n * len(timer.times[1:]) / sum(timer.times[1:])


def measure(x: np.ndarray, batch_size: int, pipeline: str, jit: bool, epochs: int) -> dict:
    n = len(x)
    ds = None
    if pipeline == "tf.data":
        ds = tf.data.Dataset.from_tensor_slices((x, x)).shuffle(n, seed=0).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    # aelib: the fcae through aelib.training.train (validation off, as in the baseline)
    model = build_model("fcae", latent_dim=40, seed=0)
    timer = EpochTimer()
    if pipeline == "numpy" and not jit:
        train(model, x, TrainConfig(epochs=epochs + 1, batch_size=batch_size, validation_fraction=0.0, verbose=0),
              callbacks=[timer])
    else:  # same model and loss, fed the same way as the baseline
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
        if ds is not None:
            model.fit(ds, epochs=epochs + 1, verbose=0, callbacks=[timer])
        else:
            model.fit(x, x, batch_size=batch_size, epochs=epochs + 1, verbose=0, callbacks=[timer])
    aelib_rate = rate(timer, n)

    base = plain_keras()
    base.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit)
    timer = EpochTimer()
    if ds is not None:
        base.fit(ds, epochs=epochs + 1, verbose=0, callbacks=[timer])
    else:
        base.fit(x, x, batch_size=batch_size, epochs=epochs + 1, verbose=0, callbacks=[timer], shuffle=True)
    base_rate = rate(timer, n)
    return {"batch_size": batch_size, "pipeline": pipeline, "jit_compile": jit, "aelib_samples_per_s": aelib_rate,
            "keras_samples_per_s": base_rate, "ratio": aelib_rate / base_rate, "params": base.count_params()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer settings")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    x, _ = load_dataset("mnist", "train")
    gflops = matmul_gflops()
    batch_sizes = [64, 256] if args.quick else [32, 64, 128, 256, 512]
    rows = []
    for bs in batch_sizes:
        rows.append(measure(x, bs, "numpy", False, args.epochs))
        print(rows[-1], flush=True)
    best = max(rows, key=lambda r: r["keras_samples_per_s"])["batch_size"]
    for pipeline, jit in (("tf.data", False), ("numpy", True)):
        rows.append(measure(x, best, pipeline, jit, args.epochs))
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    flops_per_sample = 6 * table["params"]
    table["aelib_gflops"] = table["aelib_samples_per_s"] * flops_per_sample / 1e9
    table["fraction_of_matmul"] = table["aelib_gflops"] / gflops
    table["matmul_gflops"] = gflops
    table["threads"] = os.cpu_count()
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / "train_throughput.csv", index=False)
    print(f"\nmatmul (2048², float32): {gflops:.1f} GFLOP/s on {os.cpu_count()} cores; "
          f"TF {tf.__version__}, Keras {keras.__version__}\n")
    print(table.drop(columns=["params", "matmul_gflops", "threads"]).to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
