"""Same-artist pairs, the symmetric pair model, and its fixed-budget training.

Pairs are drawn anchor by anchor: every item with at least one admissible
same-class partner is the anchor of ``pairs_per_item`` positive pairs
(partner drawn uniformly among the admissible items of its class) and as many
negative pairs (partner drawn uniformly among the items of every other
class). So positives and negatives are exactly balanced and a class
contributes pairs in proportion to its size — which is what topping up rare
classes changes. A partner is admissible when it is another item of the
class *and* of another group: with ``groups`` = the original each item comes
from, a synthetic (or duplicated) sample is never a positive pair with its own
source, nor with another sample made from that source.

Training is counted in updates, not epochs (:class:`PairModelTrainer`): every
condition of a comparison gets the same number of Adam updates of the same
batch size, however many pairs it has, so more data never means more training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aelib.checks import check_int

PAIR_MODEL_DEFAULTS: dict[str, Any] = {
    "hidden": 64,
    "dropout": 0.2,
    "epochs": 10,
    "batch_size": 128,
    "learning_rate": 1e-3,
}


def draw_pairs(
    labels,
    *,
    pairs_per_item: int = 1,
    seed: int | Sequence[int] = 0,
    groups=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced same-class / different-class pairs of item indices.

    Args:
        labels: class of each item, shape (n,).
        pairs_per_item: positive pairs (and as many negative ones) per anchor.
        seed: seed (or seed sequence) of ``numpy.random.default_rng``.
        groups: optional group of each item, shape (n,) (e.g. the index of the
            original a synthetic sample was made from, and its own index for an
            original). Two items of the same class and group are never a
            positive pair. None: every item is its own group (no self-pairs only).

    Returns:
        ``(pairs, y)``: int64 (m, 2) indices into ``labels`` and int64 (m,)
        with 1 for same class, 0 for different; positives first.

    Raises:
        ValueError: fewer than two classes, no admissible same-class pair,
            ``groups`` of another shape, or a bad ``pairs_per_item``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"Expected labels of shape (n,). Received: shape={labels.shape}")
    check_int("pairs_per_item", pairs_per_item)
    n = len(labels)
    if groups is None:
        group = np.arange(n)
    else:
        groups = np.asarray(groups)
        if groups.shape != labels.shape:
            raise ValueError(
                f"Expected groups of the labels' shape {labels.shape}. Received: groups of shape {groups.shape}"
            )
        group = np.unique(groups, return_inverse=True)[1].reshape(-1)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if len(classes) < 2:
        raise ValueError(
            f"Expected items of at least two classes for different-class pairs. Received: {len(classes)} class(es)"
        )
    rng = np.random.default_rng(seed)
    order = np.lexsort((group, inverse))  # items grouped by class, and by group inside a class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # Runs of equal (class, group) in that order: each item's run start (relative to its class) and length.
    key_c, key_g = inverse[order], group[order]
    new_run = np.concatenate([[True], (np.diff(key_c) != 0) | (np.diff(key_g) != 0)])
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.concatenate([run_start, [n]]))
    own_start = np.empty(n, dtype=np.int64)
    own_len = np.empty(n, dtype=np.int64)
    own_start[order] = run_start[run_id] - starts[key_c]
    own_len[order] = run_len[run_id]
    eligible = counts[inverse] - own_len  # same-class items of other groups
    if eligible.max() < 1:
        raise ValueError(
            "Expected at least one class with two items (of different groups) for same-class pairs. "
            f"Received: {len(classes)} classes of sizes {counts.tolist()[:10]}, no admissible partner"
        )

    anchors = np.repeat(np.flatnonzero(eligible >= 1), pairs_per_item)
    c = inverse[anchors]
    # Positive partner: one of the class's items outside the anchor's own group block.
    r = (rng.random(len(anchors)) * eligible[anchors]).astype(np.int64)
    r += (r >= own_start[anchors]) * own_len[anchors]
    positives = order[starts[c] + r]
    # Negative partner: one of the n - count items outside the anchor's class block.
    r = (rng.random(len(anchors)) * (n - counts[c])).astype(np.int64)
    r += (r >= starts[c]) * counts[c]
    negatives = order[r]
    pairs = np.concatenate([np.stack([anchors, positives], 1), np.stack([anchors, negatives], 1)]).astype(np.int64)
    y = np.concatenate([np.ones(len(anchors), np.int64), np.zeros(len(anchors), np.int64)])
    return pairs, y


def build_pair_model(dim: int, *, hidden: int = 64, dropout: float = 0.2, seed: int = 0):
    """Symmetric pair model: ``[|a − b|, a ⊙ b]`` → Dense(hidden, ReLU) → Dropout → Dense(1, sigmoid).

    Both inputs enter only through symmetric functions, so score(a, b) = score(b, a).
    """
    import keras  # deferred: Keras loads TensorFlow

    a = keras.Input((dim,), name="a")
    b = keras.Input((dim,), name="b")
    h = keras.layers.Concatenate(name="symmetric")([keras.ops.abs(a - b), a * b])
    h = keras.layers.Dense(hidden, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(h)
    if dropout:
        h = keras.layers.Dropout(dropout, seed=seed)(h)
    out = keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)
    )(h)
    return keras.Model([a, b], out, name="pair_model")


def default_updates(n_pairs: int, *, epochs: int, batch_size: int) -> int:
    """Updates of ``epochs`` passes over ``n_pairs`` pairs in batches of ``batch_size`` (last batch completed)."""
    return int(epochs) * math.ceil(int(n_pairs) / int(batch_size))


def update_schedule(n_pairs: int, *, n_updates: int, batch_size: int, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Which pairs each update sees: seeded permutations of ``range(n_pairs)``
    laid end to end (one per pass) and cut into ``n_updates`` full batches.

    Returns:
        int64 array (n_updates, batch_size). Every pair is seen ⌊k⌋ or ⌈k⌉
        times, k = n_updates · batch_size / n_pairs.
    """
    n_pairs = check_int("n_pairs", n_pairs)
    n_updates = check_int("n_updates", n_updates)
    batch_size = check_int("batch_size", batch_size)
    rng = np.random.default_rng(seed)
    need = n_updates * batch_size
    passes = -(-need // n_pairs)
    stream = np.concatenate([rng.permutation(n_pairs) for _ in range(passes)])[:need]
    return stream.reshape(n_updates, batch_size).astype(np.int64)


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(PAIR_MODEL_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown pair model option(s) {unknown}. Options: {sorted(PAIR_MODEL_DEFAULTS)}")
    return {**PAIR_MODEL_DEFAULTS, **options}


class PairModelTrainer:
    """One compiled pair model, trained again from the same start for each condition.

    Every :meth:`fit` first restores the weights, the dropout seed state and
    the Adam state (moments, iteration count) of construction time, then runs
    exactly ``n_updates`` updates. So conditions compared under one seed start
    from the same initial weights and differ only by their training pairs, and
    the model is traced once rather than once per condition.

    Options (defaults in ``PAIR_MODEL_DEFAULTS``): hidden, dropout, epochs
    (only for the default number of updates), batch_size, learning_rate.
    """

    def __init__(self, dim: int, *, seed: int = 0, **options: Any) -> None:
        import keras  # deferred: Keras loads TensorFlow

        from aelib.training import set_seed  # deferred: aelib.training loads Keras

        self.options = _check_options(options)
        self.dim = check_int("dim", dim)
        self.seed = int(seed)
        set_seed(self.seed)
        self.model = build_pair_model(
            self.dim, hidden=self.options["hidden"], dropout=self.options["dropout"], seed=self.seed
        )
        self.model.compile(keras.optimizers.Adam(self.options["learning_rate"]), "binary_crossentropy")
        self.model.optimizer.build(self.model.trainable_variables)
        self._state = [v for v in (*self.model.variables, *self.model.optimizer.variables)]
        self._initial = [keras.ops.convert_to_numpy(v.value).copy() for v in self._state]

    def reset(self) -> None:
        """Put back the state the trainer was built with."""
        for variable, value in zip(self._state, self._initial):
            variable.assign(value)

    def fit(self, features, pairs, y, *, n_updates: int | None = None, seed: int | Sequence[int] = 0):
        """Reset, then train on ``features[pairs]`` for ``n_updates`` batches of
        ``batch_size`` pairs (None: ``epochs`` passes, see :func:`default_updates`).

        Returns:
            The trained model (the trainer's own: the next ``fit`` overwrites it).
        """
        features = np.asarray(features, dtype=np.float32)
        pairs = np.asarray(pairs, dtype=np.int64)
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"Expected features of shape (n, {self.dim}). Received: shape={features.shape}")
        if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) != len(y) or len(pairs) == 0:
            raise ValueError(
                f"Expected pairs of shape (m, 2), m >= 1, and m labels. Received: pairs {pairs.shape}, y {y.shape}"
            )
        batch_size = self.options["batch_size"]
        if n_updates is None:
            n_updates = default_updates(len(pairs), epochs=self.options["epochs"], batch_size=batch_size)
        schedule = update_schedule(len(pairs), n_updates=n_updates, batch_size=batch_size, seed=seed)
        self.reset()
        for batch in schedule:
            p = pairs[batch]
            self.model.train_on_batch([features[p[:, 0]], features[p[:, 1]]], y[batch])
        return self.model


def train_pair_model(features, pairs, y, *, seed: int = 0, n_updates: int | None = None, **options: Any):
    """Build and train a pair model on ``features[pairs]`` with binary cross-entropy (Adam)
    for ``n_updates`` updates (None: ``epochs`` passes over the pairs).

    Options (defaults in ``PAIR_MODEL_DEFAULTS``): hidden, dropout, epochs, batch_size, learning_rate.
    """
    features = np.asarray(features, dtype=np.float32)
    trainer = PairModelTrainer(features.shape[1], seed=seed, **options)
    return trainer.fit(features, pairs, y, n_updates=n_updates, seed=seed)


def pair_scores(model, features, pairs, *, batch_size: int = 4096) -> np.ndarray:
    """Same-artist probability of each pair (eager calls: no retracing across models)."""
    import keras  # deferred: Keras loads TensorFlow

    features = np.asarray(features, dtype=np.float32)
    out = [
        keras.ops.convert_to_numpy(
            model([features[pairs[i : i + batch_size, 0]], features[pairs[i : i + batch_size, 1]]], training=False)
        ).reshape(-1)
        for i in range(0, len(pairs), batch_size)
    ]
    return np.concatenate(out).astype(np.float64)
