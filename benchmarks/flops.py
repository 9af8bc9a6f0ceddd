"""Arithmetic of each family's training epoch against this machine's matmul rate, measured in the same run.

Measures, in one run:
  * the machine's float32 matmul rate ("peak"): a 2048×2048 product with NumPy (``a @ b``) and with
    TensorFlow (``tf.linalg.matmul``, after a warm-up), best of a few, 2·n³ FLOPs per product; the higher
    of the two is the peak;
  * each family's FLOPs per training epoch, counted from the built model's layer shapes (below);
  * seconds per epoch of ``aelib.training.train`` (aelib's own loop) and of ``keras.Model.fit`` on the same
    model, data and batch size (``AELIB_TRAINING_LOOP=keras-fit``, as ``training_loop.py``; both at
    ``steps_per_execution`` 16), validation off, the median of ``--epochs`` epochs after one warm-up
    epoch (tracing);
  * the achieved GFLOP/s of aelib's loop, its fraction of the peak and a verdict on what limits it.

How FLOPs are counted. Multiply-adds (MACs) of one sample's forward pass, layer by layer, from the input
and output shapes of every layer on the training path (encoder with any heads, decoder):

  * Dense: in·out per position (× the positions of a sequence input, e.g. per patch);
  * Conv1D/2D/3D: k_h·k_w·c_in·c_out per output position (÷ groups);
  * Conv2DTranspose (and 1D/3D): k_h·k_w·c_in·c_out per *input* position: each input pixel scatters one
    kernel, so with stride s this is 1/s² of the count per output position;
  * GRU: 3·(in + units)·units, LSTM: 4·(…), SimpleRNN: 1·(…), per time step, × steps;
    TimeDistributed: its layer × steps; Bidirectional: 2 × its layer;
  * attention (Keras ``MultiHeadAttention`` and the masked family's ``TransformerBlock``): the
    projections as Dense layers plus the QKᵀ and AV products, 2·L²·d for L tokens of width d;
  * biases, activations, softmax, layer norms, embeddings added, pooling, reshapes, noise, masks and the
    loss: not counted (elementwise, O(size) against the products' O(size·width)), nor the optimiser's
    update (about ten FLOPs per parameter per step, i.e. per batch of 64 samples).

FLOPs = 2 × MACs. A training step costs ≈ 3 × the forward pass (forward, then backward for the weights
and for the inputs; the first layer needs no input gradient, so 3× slightly overstates it). Families whose
objective adds passes, counted where they can be:

  * conae (deep encoder, λ > 0): the default random-projection estimate adds an encoder forward pass and
    one backward pass per projection, and the training step differentiates through them: + 3·(projections
    + 1)·(encoder forward) per sample; the exact Jacobian (``jacobian="autodiff"``) is ``latent_dim``
    backward passes: + 3·z·(encoder forward); the closed-form penalty (one-layer encoder) is elementwise and
    not counted;
  * aae: the reconstruction phase (3 × encoder and decoder), the discriminator phase (an encoder forward,
    the discriminator forward and backward on prior draws and on codes) and the generator phase (encoder
    and discriminator forward and backward): 3·decoder + 7·encoder + 9·discriminator;
  * mae: the encoder's transformer blocks see only the visible patches in training (4 of 16 by default);
  * dae, mmae: the same network on noisy or masked inputs (the corruption is not counted); vae: the
    log-variance head is counted, the sampling and the KL are not.

Per epoch: FLOPs per sample × the training samples (validation off).

Verdict (``limited_by``): ``fraction_of_peak`` = (arithmetic time at peak) / (measured time) = aelib
GFLOP/s ÷ peak. At 0.3 or more: "arithmetic". Below, the step time is mostly not arithmetic (fixed cost
per kernel and per step, memory traffic): "memory/recurrence (sequential steps)" for a model with a
recurrent layer, else "overhead (small kernels)".

    .venv/bin/python benchmarks/flops.py [--families all] [--z 40] [--depth 1] [--batch-size 64] [--epochs 3]
        [--n 4000]

Writes benchmarks/results/flops.csv and flops.md and prints the table.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("AELIB_OFFLINE", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"

#: Gate multiplier of each recurrent layer: matrix products of (in + units) × units per step.
RNN_GATES = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}
#: fraction_of_peak at or above which a family is called arithmetic-bound.
ARITHMETIC_FRACTION = 0.3
#: A training step as a multiple of the forward pass (forward, backward for weights and for inputs).
TRAINING_MULTIPLIER = 3


# ----- counting ------------------------------------------------------------------------------------------
def _size(shape) -> int:
    return int(math.prod(int(s) for s in shape))


def _dims(tensor) -> tuple[int, ...]:
    """Per-sample shape (batch axis dropped)."""
    return tuple(int(s) for s in tensor.shape[1:])


def dense_macs(in_features: int, units: int, positions: int = 1) -> int:
    return positions * in_features * units


def attention_macs(tokens: int, dim: int, mlp_hidden: int = 0) -> int:
    """A transformer block on ``tokens`` tokens of width ``dim``: Q, K, V and output projections (4·L·d²),
    QKᵀ and AV (2·L²·d), and the MLP (2·L·d·hidden)."""
    return 4 * tokens * dim * dim + 2 * tokens * tokens * dim + 2 * tokens * dim * mlp_hidden


def layer_macs(layer, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...],
               tokens: int | None = None) -> int | None:
    """Multiply-adds of one call of ``layer`` on one sample, from its per-sample input and output shapes;
    0 for layers whose cost is negligible (no weights, or elementwise weights); None for a layer with
    weights this counter does not know. ``tokens`` replaces the sequence length of a transformer block."""
    name = type(layer).__name__
    x = in_shapes[0] if in_shapes else ()
    if isinstance(layer, keras.layers.Dense) or name == "TiedDense":
        return dense_macs(x[-1], out_shape[-1], _size(out_shape[:-1]))
    if name.endswith("Transpose") and hasattr(layer, "kernel_size"):  # Conv1D/2D/3DTranspose
        return _size(layer.kernel_size) * x[-1] * out_shape[-1] * _size(x[:-1])
    if name in ("Conv1D", "Conv2D", "Conv3D"):
        groups = getattr(layer, "groups", 1) or 1
        return _size(layer.kernel_size) * (x[-1] // groups) * out_shape[-1] * _size(out_shape[:-1])
    if name in RNN_GATES:
        steps, features = x[0], x[-1]
        return steps * RNN_GATES[name] * (features + layer.units) * layer.units
    if isinstance(layer, keras.layers.TimeDistributed):
        inner = layer_macs(layer.layer, [x[1:]], out_shape[1:])
        return None if inner is None else x[0] * inner
    if isinstance(layer, keras.layers.Bidirectional):
        inner = layer_macs(layer.forward_layer, in_shapes, out_shape[:-1] + (out_shape[-1] // 2,))
        return None if inner is None else 2 * inner
    if isinstance(layer, keras.layers.MultiHeadAttention):
        query, value = in_shapes[0], in_shapes[1] if len(in_shapes) > 1 else in_shapes[0]
        lq, lv = _size(query[:-1]), _size(value[:-1])
        heads, key_dim = layer.num_heads, layer.key_dim
        value_dim = layer.value_dim or key_dim
        return (lq * query[-1] * heads * key_dim + lv * value[-1] * heads * key_dim
                + lv * value[-1] * heads * value_dim + heads * lq * lv * (key_dim + value_dim)
                + lq * heads * value_dim * out_shape[-1])
    if name == "TransformerBlock":  # aelib.models.mae
        length = x[0] if tokens is None else tokens
        return attention_macs(length, layer.dim, layer.fc1.units)
    if not layer.weights or name in ("LayerNormalization", "BatchNormalization", "LearnedEmbedding"):
        return 0
    return None


def network_macs(networks, tokens: dict[str, int] | None = None) -> tuple[int, list[str]]:
    """Forward multiply-adds per sample of the union of functional ``networks`` (each node once, so
    networks that share layers are not counted twice), and the names of layers it could not count.
    ``tokens``: layer name → sequence length to count that layer at (the masked family's visible patches)."""
    tokens = tokens or {}
    seen, total, uncounted = set(), 0, []
    for network in networks:
        for nodes in network._nodes_by_depth.values():
            for node in nodes:
                if id(node) in seen:
                    continue
                seen.add(id(node))
                layer = node.operation
                if isinstance(layer, keras.Model):  # a nested model: its own nodes
                    macs, missing = network_macs([layer], tokens)
                    total += macs
                    uncounted += missing
                    continue
                macs = layer_macs(layer, [_dims(t) for t in node.input_tensors], _dims(node.outputs[0]),
                                  tokens.get(layer.name))
                if macs is None:
                    uncounted.append(layer.name)
                else:
                    total += macs
    return total, uncounted


def training_macs(model) -> dict:
    """Multiply-adds of one training step per sample for an aelib model, with what was counted.

    Returns:
        ``forward`` (the training path's forward pass), ``encoder`` (the encoder's forward),
        ``auxiliary`` (the discriminator's forward, aae), ``step`` (the training step), ``counted`` (a
        short note) and ``uncounted`` (layers with weights the counter does not know).
    """
    tokens = {}
    if model.family == "mae":
        tokens = {block.name: model.num_visible for block in model.encoder_blocks}
    networks = [getattr(model, "gaussian_encoder", None) or model.encoder, model.decoder]
    forward, uncounted = network_macs(networks, tokens)
    encoder, _ = network_macs([model.encoder], tokens)
    auxiliary = 0
    for net in model.auxiliary_networks():
        macs, missing = network_macs([net])
        auxiliary += macs
        uncounted += missing
    step = TRAINING_MULTIPLIER * forward
    counted = "3×forward"
    if model.family == "conae":
        if model.lam > 0 and getattr(model, "uses_projection", False):
            passes = model.projections + 1  # the VJPs' forward pass and one backward pass each
            step += TRAINING_MULTIPLIER * passes * encoder
            counted += f" + Jacobian estimate: 3·{passes}·encoder ({model.projections} projection)"
        elif model.lam > 0 and not model.uses_closed_form:
            step += TRAINING_MULTIPLIER * model.latent_dim * encoder
            counted += f" + Jacobian: 3·z·encoder (z = {model.latent_dim})"
        else:
            counted += " (closed-form penalty not counted)"
    elif model.family == "aae":
        step += 4 * encoder + 3 * TRAINING_MULTIPLIER * auxiliary
        counted += " + adversarial phases: 4·encoder + 9·discriminator"
    elif model.family == "mae":
        counted += f"; encoder blocks on {model.num_visible} of {model.num_patches} patches"
    elif model.family in ("dae", "mmae"):
        counted += " (noise/masking not counted)"
    elif model.family == "vae":
        counted += " incl. log-variance head (sampling, KL not counted)"
    elif model.family == "sae":
        counted += " (sparsity penalty not counted)"
    return {"forward": forward, "encoder": encoder, "auxiliary": auxiliary, "step": step, "counted": counted,
            "uncounted": uncounted}


def has_recurrence(model) -> bool:
    return any(type(getattr(layer, "layer", layer)).__name__ in RNN_GATES
               for net in (model.encoder, model.decoder) for layer in net.layers)


def limited_by(fraction_of_peak: float, recurrent: bool) -> str:
    """The verdict rule of the module docstring."""
    if fraction_of_peak >= ARITHMETIC_FRACTION:
        return "arithmetic"
    return "memory/recurrence (sequential steps)" if recurrent else "overhead (small kernels)"


# ----- measuring -----------------------------------------------------------------------------------------
def matmul_rates(n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """Best-of-``repeats`` float32 GFLOP/s of an n×n product with NumPy and with TensorFlow."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    flops = 2 * n**3

    def best(product) -> float:
        product()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            product()
            times.append(time.perf_counter() - start)
        return flops / min(times) / 1e9

    ta, tb = tf.constant(a), tf.constant(b)
    return best(lambda: a @ b), best(lambda: tf.linalg.matmul(ta, tb).numpy())


def seconds_per_epoch(family: str, x: np.ndarray, args, loop: str) -> float:
    """Median seconds of ``args.epochs`` epochs after one warm-up epoch, aelib's loop or keras fit."""
    from aelib.models import build_model
    from aelib.training import TRAINING_LOOP_VARIABLE, EpochTimer, TrainConfig, train

    model = build_model(family, latent_dim=args.z, depth=args.depth, seed=0)
    timer = EpochTimer()
    config = TrainConfig(epochs=args.epochs + 1, batch_size=args.batch_size, validation_fraction=0.0, verbose=0,
                         patience=args.epochs + 2, lr_patience=args.epochs + 2)
    if loop == "keras-fit":
        os.environ[TRAINING_LOOP_VARIABLE] = "keras-fit"
    try:
        train(model, x, config, callbacks=[timer])
    finally:
        os.environ.pop(TRAINING_LOOP_VARIABLE, None)
    return float(np.median(timer.times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="all")
    parser.add_argument("--z", type=int, default=40, help="latent_dim")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--n", type=int, default=4000, help="training images (offline MNIST)")
    parser.add_argument("--matmul-n", type=int, default=2048, help="side of the matmul that measures the peak")
    args = parser.parse_args()
    if args.epochs < 1:
        raise SystemExit(f"Expected --epochs >= 1 (timed epochs after a warm-up). Received: --epochs {args.epochs}")
    import pandas as pd
    import tensorflow as tf

    from aelib.data import load_dataset
    from aelib.models import build_model, list_models

    families = list_models() if args.families == "all" else args.families.split(",")
    numpy_gflops, tf_gflops = matmul_rates(args.matmul_n)
    peak = max(numpy_gflops, tf_gflops)
    print(f"matmul {args.matmul_n}² float32: NumPy {numpy_gflops:.1f}, TensorFlow {tf_gflops:.1f} GFLOP/s "
          f"(peak {peak:.1f})", file=sys.stderr, flush=True)
    x, _ = load_dataset("mnist", "train", n=args.n)
    steps = math.ceil(len(x) / args.batch_size)
    rows = []
    for family in families:
        model = build_model(family, latent_dim=args.z, depth=args.depth, seed=0)
        count = training_macs(model)
        flops_per_sample = 2 * count["step"]
        gflop_epoch = flops_per_sample * len(x) / 1e9
        aelib_s = seconds_per_epoch(family, x, args, "aelib")
        keras_s = seconds_per_epoch(family, x, args, "keras-fit")
        aelib_gflops = gflop_epoch / aelib_s
        fraction = aelib_gflops / peak
        rows.append({
            "family": family, "params": model.count_params(), "gflop_per_epoch": gflop_epoch,
            "aelib_s_per_epoch": aelib_s, "keras_s_per_epoch": keras_s, "aelib_gflops": aelib_gflops,
            "fraction_of_peak": fraction, "limited_by": limited_by(fraction, has_recurrence(model)),
            "counted": count["counted"] + (f"; NOT counted: {', '.join(count['uncounted'])}"
                                           if count["uncounted"] else ""),
            "mflop_per_sample": flops_per_sample / 1e6, "forward_mflop_per_sample": 2 * count["forward"] / 1e6,
            "ms_per_step": 1e3 * aelib_s / steps, "arithmetic_ms_per_step_at_peak": 1e3 * gflop_epoch / peak / steps,
            "keras_gflops": gflop_epoch / keras_s,
        })
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, file=sys.stderr,
              flush=True)
    table = pd.DataFrame(rows)
    for key, value in (("numpy_matmul_gflops", numpy_gflops), ("tf_matmul_gflops", tf_gflops), ("peak_gflops", peak),
                       ("latent_dim", args.z), ("depth", args.depth), ("batch_size", args.batch_size),
                       ("n_samples", len(x)), ("timed_epochs", args.epochs), ("cores", os.cpu_count())):
        table[key] = value
    header = (f"{len(x)} samples, batch {args.batch_size}, z = {args.z}, depth {args.depth}, validation off, "
              f"median of {args.epochs} epoch(s) after a warm-up; {os.cpu_count()} cores, TF {tf.__version__}, "
              f"Keras {keras.__version__}.\nmatmul {args.matmul_n}² float32: NumPy {numpy_gflops:.1f} GFLOP/s, "
              f"TensorFlow {tf_gflops:.1f} GFLOP/s; peak = {peak:.1f} GFLOP/s.\n")
    shown = ["family", "params", "gflop_per_epoch", "aelib_s_per_epoch", "keras_s_per_epoch", "aelib_gflops",
             "fraction_of_peak", "limited_by", "counted"]
    markdown = table[shown].to_markdown(index=False, floatfmt=".3g")
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / "flops.csv", index=False)
    (OUT / "flops.md").write_text(header + "\n" + markdown + "\n")
    print(header)
    print(markdown)


if __name__ == "__main__":
    main()
