"""The judge that scores decoded images (step 06): a small CNN trained to convergence once per study data.

Its penultimate-layer (``features``) activations are the feature space of every sample score — Fréchet
distance, improved precision and recall, density and coverage (an FID-like space on a domain classifier, not
Inception, so values are not comparable with published FIDs) — and its predictions give the label consistency
and the class spread. It trains on the study's training split minus a stratified validation part, with small
random shifts (and slight rotations and zooms) of the training images and label smoothing 0.1, until the
validation loss stops improving (early stopping, best weights kept, learning rate halved on plateaus). Its test
accuracy is reported beside every score (``judge.csv``); docs/methods.md asks ≥ 0.98 on MNIST. On the quick profile's
offline data (3,600 training images, 400 for validation, 1,000 test images) it stopped after 37 epochs (best
27) at 0.987 test accuracy, the same in two runs; 4 minutes on two CPU cores shared with other work (load 3-5).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aelib.data import stratified_indices
from aelib.metrics.generative import frechet_distance
from aelib.models.inference import forward
from aelib.study.study import Study, Unit

# Change when the architecture, augmentation or training below change, so old runs are not reused.
CLASSIFIER_VERSION = "judge2-cnn32x2-64x2-f128-aug-ls-es"
FEATURE_LAYER = "features"
#: The judge's training settings (part of its run key).
JUDGE_TRAINING = {"batch_size": 64, "learning_rate": 1e-3, "validation_fraction": 0.1, "patience": 10,
                  "min_delta": 1e-4, "lr_patience": 3, "lr_factor": 0.5, "label_smoothing": 0.1, "shift_px": 2,
                  "rotation": 0.03, "zoom": 0.1, "dropout": 0.3}
#: The most epochs the judge may train (early stopping normally ends it long before).
MAX_EPOCHS = 100


def build_classifier(input_shape: tuple[int, ...], num_classes: int, *, seed: int = 0,
                     training: dict | None = None):
    """Augmentation (active in training only: shifts of up to ``shift_px`` pixels, rotations up to
    ``rotation`` of a turn, zooms up to ``zoom``), two blocks of two 3×3 ReLU convolutions (32 then 64 filters)
    each followed by 2×2 max pooling, dropout, a 128-unit ReLU ``features`` layer, dropout, softmax."""
    import keras

    t = {**JUDGE_TRAINING, **(training or {})}
    init = lambda k: keras.initializers.GlorotUniform(seed=seed + k)  # noqa: E731
    inputs = keras.Input(shape=input_shape)
    shift = t["shift_px"] / input_shape[0]
    x = keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 101)(inputs)
    x = keras.layers.RandomRotation(t["rotation"], fill_mode="constant", seed=seed + 102)(x)
    x = keras.layers.RandomZoom(t["zoom"], fill_mode="constant", seed=seed + 103)(x)
    layer = 0
    for filters in (32, 64):
        for _ in range(2):
            layer += 1
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init(layer))(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(t["dropout"], seed=seed + 104)(x)
    x = keras.layers.Dense(128, activation="relu", name=FEATURE_LAYER, kernel_initializer=init(10))(x)
    x = keras.layers.Dropout(t["dropout"], seed=seed + 105)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                                 kernel_initializer=init(11))(x)
    return keras.Model(inputs, outputs, name="classifier")


class Classifier:
    """A trained classifier with its feature extractor."""

    def __init__(self, path: Path) -> None:
        import keras

        self.model = keras.saving.load_model(path, compile=False)
        self.features_model = keras.Model(self.model.inputs,
                                          [self.model.get_layer(FEATURE_LAYER).output, self.model.outputs[0]])

    @property
    def num_classes(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def __call__(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(penultimate features, predicted labels)."""
        feats, probs = forward(self.features_model, np.asarray(x, dtype="float32"), batch_size=batch_size)
        return np.asarray(feats, dtype=np.float64), np.argmax(probs, axis=1)


def unit(study: Study, *, epochs: int = MAX_EPOCHS, seed: int = 0) -> Unit:
    """The judge's run (store kind ``"classifier"``): one per study data, epoch cap and seed."""
    config = {"dataset": study.dataset, "n_train": study.settings.n_train, "n_test": study.settings.n_test,
              "max_epochs": int(epochs), **JUDGE_TRAINING, "seed": int(seed), "architecture": CLASSIFIER_VERSION}
    return Unit(f"judge classifier (early stopping, at most {epochs} epochs)", config)


def split_validation(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and of the (stratified) validation part of a training split."""
    y = np.asarray(y)
    n_val = max(int(round(fraction * len(y))), 1)
    val = np.sort(stratified_indices(y, n_val, seed))
    keep = np.ones(len(y), dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep), val


def train(study: Study, unit: Unit, run_dir: Path) -> dict:
    """Train the judge on the study's training split (a validation part held out for early stopping); keep it,
    its test features, its accuracies and the Fréchet distance between real training and test features (the
    floor a generator can hope for, at the test set's size)."""
    import keras

    config = unit.config
    seed = int(config["seed"])
    x_all, y_all, info = study.data("train")
    x_test, y_test, _ = study.data("test")
    x_all, y_all = np.asarray(x_all, dtype="float32"), np.asarray(y_all)
    fit_idx, val_idx = split_validation(y_all, config["validation_fraction"], seed)
    keras.utils.set_random_seed(seed)
    model = build_classifier(x_all.shape[1:], int(info["num_classes"]), seed=seed, training=config)
    # label smoothing keeps the validation loss from rising with over-confidence while accuracy still improves
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=float(config["label_smoothing"]))
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]), loss=loss, metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(config["patience"]),
                                         min_delta=float(config["min_delta"]), restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=float(config["lr_factor"]),
                                                patience=int(config["lr_patience"]),
                                                min_delta=float(config["min_delta"]))
    onehot = np.eye(int(info["num_classes"]), dtype="float32")[y_all]
    history = model.fit(x_all[fit_idx], onehot[fit_idx], validation_data=(x_all[val_idx], onehot[val_idx]),
                        epochs=int(config["max_epochs"]), batch_size=int(config["batch_size"]), verbose=0,
                        shuffle=True, callbacks=[stop, plateau])
    tmp = run_dir / "classifier.partial.keras"
    model.save(tmp)
    tmp.replace(run_dir / "classifier.keras")
    clf = Classifier(run_dir / "classifier.keras")
    feats_test, pred_test = clf(x_test)
    _, pred_val = clf(x_all[val_idx])
    _, pred_fit = clf(x_all[fit_idx])
    feats_train, _ = clf(x_all[stratified_indices(y_all, min(len(x_test), len(x_all)), 0)])
    np.save(run_dir / "features_test.npy", feats_test.astype("float32"))
    val_loss = np.asarray(history.history["val_loss"], dtype=float)
    epochs_run = len(val_loss)
    return {"test_accuracy": float(np.mean(pred_test == np.asarray(y_test))),
            "validation_accuracy": float(np.mean(pred_val == y_all[val_idx])),
            "train_accuracy": float(np.mean(pred_fit == y_all[fit_idx])),
            "epochs_run": epochs_run,
            "best_epoch": int(getattr(stop, "best_epoch", np.argmin(val_loss))) + 1,  # the weights kept
            "stopped_by": "early_stopping" if epochs_run < int(config["max_epochs"]) else "epoch_cap",
            "frechet_real_floor": frechet_distance(feats_train, feats_test),
            "n_train": int(len(fit_idx)), "n_validation": int(len(val_idx)), "n_test": int(len(x_test)),
            "data_source": info["source"]}
