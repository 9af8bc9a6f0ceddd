"""The classifier that judges decoded images (step 06): a small CNN trained once per study data.

Its penultimate-layer features give the Fréchet distance (an FID-like score on a
domain classifier, not Inception, so values are not comparable with published
FIDs) and its predictions the label consistency and class spread.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aelib.data import stratified_indices
from aelib.metrics.generative import frechet_distance
from aelib.study.study import Study, Unit

CLASSIFIER_VERSION = "cnn16-32-f64"  # change when the architecture below changes, so old runs are not reused
FEATURE_LAYER = "features"


def build_classifier(input_shape: tuple[int, ...], num_classes: int, *, seed: int = 0):
    """A small CNN: two conv/pool blocks, a 64-unit ``features`` layer, softmax."""
    import keras

    init = lambda k: keras.initializers.GlorotUniform(seed=seed + k)  # noqa: E731
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init(1))(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init(2))(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu", name=FEATURE_LAYER, kernel_initializer=init(3))(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities", kernel_initializer=init(4))(x)
    return keras.Model(inputs, outputs, name="classifier")


class Classifier:
    """A trained classifier with its feature extractor."""

    def __init__(self, path: Path) -> None:
        import keras

        self.model = keras.saving.load_model(path, compile=False)
        self.features_model = keras.Model(self.model.inputs, [self.model.get_layer(FEATURE_LAYER).output, self.model.outputs[0]])

    def __call__(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(penultimate features, predicted labels)."""
        feats, probs = self.features_model.predict(np.asarray(x, dtype="float32"), batch_size=batch_size, verbose=0)
        return np.asarray(feats, dtype=np.float64), np.argmax(probs, axis=1)


def unit(study: Study, *, epochs: int = 3, seed: int = 0) -> Unit:
    """The classifier's run (store kind ``"classifier"``): one per study data, epochs and seed."""
    config = {"dataset": study.dataset, "n_train": study.n_train, "n_test": study.n_test, "epochs": int(epochs),
              "batch_size": 128, "learning_rate": 1e-3, "seed": int(seed), "architecture": CLASSIFIER_VERSION}
    return Unit(f"classifier ({epochs} epochs)", config)


def train(study: Study, unit: Unit, run_dir: Path) -> dict:
    """Train the classifier on the study's training split; keep it, its test features, accuracy and the
    Fréchet distance between real training and test features (the floor a generator can hope for)."""
    import keras

    epochs, seed = unit.config["epochs"], unit.config["seed"]
    x_train, y_train, info = study.data("train")
    x_test, y_test, _ = study.data("test")
    keras.utils.set_random_seed(int(seed))
    model = build_classifier(x_train.shape[1:], int(info["num_classes"]), seed=int(seed))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(np.array(x_train), np.array(y_train), epochs=int(epochs), batch_size=128, verbose=0, shuffle=True)
    tmp = run_dir / "classifier.partial.keras"
    model.save(tmp)
    tmp.replace(run_dir / "classifier.keras")
    clf = Classifier(run_dir / "classifier.keras")
    feats_test, pred_test = clf(x_test)
    feats_train, _ = clf(x_train[stratified_indices(np.asarray(y_train), min(len(x_test), len(x_train)), 0)])
    np.save(run_dir / "features_test.npy", feats_test.astype("float32"))
    return {"test_accuracy": float(np.mean(pred_test == y_test)),
            "train_accuracy_last_epoch": float(history.history["accuracy"][-1]),
            "frechet_real_floor": frechet_distance(feats_train, feats_test),
            "n_train": int(len(x_train)), "n_test": int(len(x_test)), "data_source": info["source"]}
