"""Training stops by convergence and records how it stopped; sanity gates."""
import math

import numpy as np
import pandas as pd
import pytest

from aelib import gates
from aelib.models import build_model
from aelib.training import TrainConfig, convergence_record, train

X = np.random.default_rng(0).random((40, 28, 28, 1)).astype("float32")


def _train(**overrides):
    model = build_model("vanilla", input_shape=(28, 28, 1), latent_dim=2, seed=0)
    record: dict = {}
    history = train(model, X, verbose=0, batch_size=8, validation_fraction=0.25, seed=0, record=record, **overrides)
    return model, history, record


def test_a_run_that_hits_the_cap_is_recorded_as_such():
    _, history, record = _train(epochs=2, patience=50, lr_patience=50)
    assert record["stopped_by"] == "epoch_cap"
    assert record["epochs_run"] == 2 == len(history)
    assert record["best_epoch"] in (1, 2)


def test_no_improvement_stops_early_after_patience_and_keeps_the_best_epoch():
    # a learning rate this small cannot lower the validation loss by 0.1 %
    model, history, record = _train(epochs=50, learning_rate=1e-9, patience=3, lr_patience=10, min_delta=1e-3)
    assert record["stopped_by"] == "early_stopping"
    assert record["best_epoch"] == 1
    assert record["epochs_run"] == 4  # the best epoch, then `patience` epochs without improvement


def test_plateau_halves_every_learning_rate_and_records_the_last():
    _, history, record = _train(epochs=50, learning_rate=1e-9, patience=5, lr_patience=2, lr_factor=0.5)
    # waits 1..5 after the best epoch: halved at wait 2 and 4
    assert record["epochs_run"] == 6
    assert math.isclose(record["final_learning_rate"], 1e-9 * 0.25, rel_tol=1e-5)
    assert history["learning_rate"].iloc[0] == pytest.approx(1e-9, rel=1e-5)


def test_the_best_weights_are_restored():
    model, history, record = _train(epochs=6, learning_rate=0.05, patience=50, lr_patience=50)
    best = int(np.argmin(history["val_loss"].to_numpy())) + 1
    assert record["best_epoch"] == best
    val = X[np.sort(np.random.default_rng(0).permutation(len(X))[:10])]
    loss = float(np.mean((model.reconstruct(val) - val) ** 2))
    assert loss == pytest.approx(history["val_loss"].min(), rel=1e-3)


def test_convergence_record_on_a_constructed_history():
    history = pd.DataFrame({"val_loss": [4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.8]})
    out = convergence_record(history, stopped_by="early_stopping", best_epoch=11, final_learning_rate=1e-4)
    # last 10 % of 11 epochs → 2 epochs: 0.9 → 0.8
    assert out["val_loss_rel_change_last10pct"] == pytest.approx(-0.1 / 0.9)
    assert out["epochs_run"] == 11 and out["best_epoch"] == 11


def test_bad_convergence_settings_are_refused():
    with pytest.raises(ValueError, match="min_delta"):
        TrainConfig(min_delta=-0.1)
    with pytest.raises(ValueError, match="lr_factor"):
        TrainConfig(lr_factor=0.0)
    with pytest.raises(ValueError, match="lr_patience"):
        TrainConfig(lr_patience=-1)


def test_gates_on_a_constructed_case():
    runs = pd.DataFrame({
        "family": ["vanilla", "vanilla", "fcae", "fcae", "fcae", "vae"],
        "latent_dim": [2, 40, 10, 20, 40, 2],
        "seed": [0] * 6,
        "rmse_mean": [0.240, 0.120, 0.15, 0.21, 0.20, 0.30],
        "mean_image_rmse": [0.256] * 6,
    })
    pca = {2: 0.232, 10: 0.178, 20: 0.20, 40: 0.111}
    out = gates.add_gates(runs, pca)
    assert list(out["gate_beats_mean_image"]) == [True, True, True, True, True, False]
    # vanilla: 0.240 <= 1.05 * 0.232 = 0.2436 passes; 0.120 > 1.05 * 0.111 fails
    assert list(out["gate_vanilla_near_pca"][:2]) == [True, False]
    assert out["gate_vanilla_near_pca"][2:].isna().all()
    # fcae beats PCA at z <= 20 only is checked: 0.15 < 0.178 passes, 0.21 > 0.20 fails, z = 40 not checked
    assert list(out["gate_fcae_beats_pca"][2:4]) == [True, False]
    assert pd.isna(out["gate_fcae_beats_pca"][4])
    failed = gates.gate_failures(out)
    assert sorted(zip(failed["family"], failed["latent_dim"], failed["gate"])) == [
        ("fcae", 20, "fcae_beats_pca"), ("vae", 2, "beats_mean_image"), ("vanilla", 40, "vanilla_near_pca")]


def test_convergence_summary_lists_the_runs_that_did_not_converge():
    records = pd.DataFrame({"family": ["a", "b", "c"], "latent_dim": [2, 2, 2], "seed": [0, 0, 0],
                            "stopped_by": ["early_stopping", "epoch_cap", "early_stopping"],
                            "epochs_run": [40, 300, 50], "best_epoch": [34, 300, 44]})
    converged, total, others = gates.convergence_summary(records)
    assert (converged, total) == (2, 3)
    assert list(others["family"]) == ["b"]


def test_inputs_on_the_wrong_scale_are_refused_before_training():
    model = build_model("fcae", input_shape=(28, 28, 1), latent_dim=2, seed=0)
    with pytest.raises(ValueError, match=r"Expected inputs in \[0, 1\].*Received: values from 0 to 255"):
        train(model, np.floor(X * 256).clip(0, 255), epochs=1, verbose=0)


def test_the_plateau_schedule_scales_every_optimizer_of_the_adversarial_family():
    from aelib.training import compile_model, optimizers_of

    model = build_model("aae", input_shape=(28, 28, 1), latent_dim=2, seed=0)
    compile_model(model, TrainConfig(learning_rate=1e-3))
    names = [o.name for o in optimizers_of(model)]
    assert names == ["autoencoder_optimizer", "discriminator_optimizer", "generator_optimizer"]
    record: dict = {}
    train(model, X, verbose=0, batch_size=8, validation_fraction=0.25, epochs=50, learning_rate=1e-9, patience=3,
          lr_patience=1, lr_factor=0.5, record=record)
    rates = [float(np.asarray(o.learning_rate)) for o in optimizers_of(model)]
    assert record["epochs_run"] == 4  # halved after waits 1 and 2, stopped at 3
    assert rates == pytest.approx([1e-9 / 4, 1e-9 / 4, 1e-9 * model.generator_lr_scale / 4], rel=1e-4)


@pytest.mark.parametrize("family", ["fcae", "vae", "aae"])
def test_the_training_loop_does_what_keras_fit_does_on_the_same_sample_order(family):
    """aelib's loop (several steps per call, a short last batch, validation each epoch) against
    ``keras.Model.fit`` given the same samples in the same order without shuffling: the same
    weights and the same logged losses after an epoch."""
    import keras

    from aelib.training import SHUFFLE_STREAM, compile_model, set_seed, validation_split

    x = X[:26]  # 21 training samples (5 batches of 4 and one of 1), 5 for validation
    config = TrainConfig(epochs=1, batch_size=4, validation_fraction=0.2, seed=3, steps_per_execution=2, verbose=0)
    ours = build_model(family, input_shape=(28, 28, 1), latent_dim=3, seed=5)
    history = train(ours, x, config)

    theirs = build_model(family, input_shape=(28, 28, 1), latent_dim=3, seed=5)
    set_seed(3)  # as train() does, after the model is built
    compile_model(theirs, config)
    train_idx, val_idx = validation_split(len(x), 0.2, 3)
    ordered = x[train_idx][np.random.default_rng([3, SHUFFLE_STREAM]).permutation(len(train_idx))]
    fit = theirs.fit(ordered, ordered, batch_size=4, epochs=1, shuffle=False, verbose=0,
                     validation_data=(x[val_idx], x[val_idx]))
    # Six Adam steps move weights by up to 6e-3; 1e-5 is round-off (Adam divides tiny gradients by their own size)
    for mine, keras_weights in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weights, rtol=0, atol=1e-5)
    assert set(fit.history) | {"epoch", "learning_rate"} == set(history.columns)
    for name, values in fit.history.items():
        assert history[name].iloc[0] == pytest.approx(values[0], rel=1e-5), name
    assert keras.ops.convert_to_numpy(ours.optimizer.iterations) == 6


def test_the_sample_order_follows_the_training_seed():
    """The sample order is a seeded permutation per epoch: two runs with one seed match, another seed differs."""
    def weights(seed):
        model = build_model("vanilla", input_shape=(28, 28, 1), latent_dim=3, seed=5)
        train(model, X[:22], epochs=2, batch_size=4, validation_fraction=0.0, verbose=0, seed=seed)
        return np.concatenate([w.ravel() for w in model.get_weights()])

    np.testing.assert_array_equal(weights(1), weights(1))
    assert not np.allclose(weights(1), weights(2))  # same initial weights (model seed 5), other order
