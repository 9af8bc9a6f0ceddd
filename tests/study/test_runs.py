"""Run keys that cannot go stale (issue 29, item 1): the data loaded, the family's code and the training loop."""
import numpy as np
import pytest

from aelib.models import versions
from aelib.study import runs
from aelib.study.failures import GuardedRunStore
from aelib.study.runs import TrainSpec, cached_dataset, ensure_trained
from aelib.training import TrainConfig

TINY = {"n_train": 200, "n_test": 50, "training": TrainConfig(epochs=1, batch_size=64)}


@pytest.fixture
def fresh_data():
    """The process's data cache emptied before and after (a test that swaps the data leaves none of it behind)."""
    cached_dataset.cache_clear()
    yield
    cached_dataset.cache_clear()


def _other_data_same_name(monkeypatch):
    """Other images under the same data set name and source label (as other IDX files in AELIB_DATA_DIR)."""
    load = runs.load_dataset_with_info

    def other(name, split, n=None, seed=0):
        x, y, info = load(name, split, n=n, seed=seed)
        return np.ascontiguousarray(x[::-1]) * np.float32(0.5), y[::-1].copy(), info

    monkeypatch.setattr(runs, "load_dataset_with_info", other)
    cached_dataset.cache_clear()


def test_the_key_holds_the_data_loaded_the_family_version_and_the_training_loop(fresh_data):
    config = TrainSpec.make("fcae", 2, **TINY).config()
    x, y, info = cached_dataset("mnist", "train", 200)
    assert config["data"] == {"source": info["source"], "train_sha256": runs.array_sha256(x, y),
                              "test_sha256": cached_dataset("mnist", "test", 50)[2]["sha256"]}
    assert config["implementation"] == {"family_version": versions.family_version("fcae"), "training_loop": "aelib"}


def test_specs_of_every_family_are_hashable_and_keep_their_keys(fresh_data):
    from aelib.models import list_models

    specs = [TrainSpec.make(family, 2, **TINY) for family in list_models()]
    specs.append(TrainSpec.make("cae", 2, options={"filters": [32, 64]}, **TINY))  # the default, given as a list
    assert len(dict.fromkeys(specs)) == len(specs) - 1  # one spec: the lists units name their models by dedupe
    assert TrainSpec.make("cae", 2, options={"filters": [16, 32]}, **TINY) != specs[-1]
    config = TrainSpec.make("cae", 2, **TINY).config()
    assert config["options"]["filters"] == [32, 64]  # as config.json holds it (the key did not change)


def test_other_data_under_the_same_name_is_another_run_and_is_trained(tmp_path, monkeypatch, fresh_data):
    store = GuardedRunStore(tmp_path)
    spec = TrainSpec.make("fcae", 2, **TINY)
    first = ensure_trained(store, spec)
    assert first.status == "complete"
    assert ensure_trained(store, spec).status == "skipped"  # the same data: reused
    _other_data_same_name(monkeypatch)
    assert spec.config()["data"]["source"] == first.config["data"]["source"]  # the same label...
    second = ensure_trained(store, spec)
    assert second.status == "complete" and second.path != first.path  # ...other data: trained, not reused
    assert second.metrics["rmse_mean"] != first.metrics["rmse_mean"]


def test_a_bumped_family_version_or_another_training_loop_is_another_key(monkeypatch, fresh_data):
    spec = TrainSpec.make("fcae", 2, **TINY)
    before = spec.config()
    monkeypatch.setitem(versions.VERSIONS, "fcae", (versions.VERSIONS["fcae"][0] + 1, versions.VERSIONS["fcae"][1]))
    bumped = spec.config()
    assert bumped["implementation"]["family_version"] != before["implementation"]["family_version"]
    monkeypatch.undo()
    assert spec.config() == before
    monkeypatch.setenv("AELIB_TRAINING_LOOP", "keras-fit")
    assert spec.config()["implementation"]["training_loop"] == "keras-fit"


def test_data_that_does_not_load_fails_the_run_with_one_line(tmp_path, monkeypatch, fresh_data):
    def broken(name, split, n=None, seed=0):
        raise OSError(28, "No space left on device", "/data/train-images-idx3-ubyte")

    monkeypatch.setattr(runs, "load_dataset_with_info", broken)
    result = ensure_trained(GuardedRunStore(tmp_path), TrainSpec.make("fcae", 2, **TINY))
    assert result.status == "failed" and result.error.startswith("Disk full")


def test_a_worker_that_loads_other_data_than_the_key_says_fails_the_run(tmp_path, monkeypatch, fresh_data):
    spec = TrainSpec.make("fcae", 2, **TINY)
    key = spec.config()
    _other_data_same_name(monkeypatch)
    with pytest.raises(ValueError, match="is not the data of the run's key"):
        runs._train_fn(spec, key)(tmp_path)


# ------------------------------------------------------------------ the loop's name (part of the key)

@pytest.mark.parametrize("value, name", [(None, "aelib"), ("keras-fit", "keras-fit"), (" keras-fit\n", "keras-fit"),
                                         ("", "aelib"), ("keras", "aelib")])
def test_the_training_loop_name_is_the_rule_train_follows(monkeypatch, value, name):
    from aelib import training

    if value is None:
        monkeypatch.delenv("AELIB_TRAINING_LOOP", raising=False)
    else:
        monkeypatch.setenv("AELIB_TRAINING_LOOP", value)
    assert training.training_loop_name() == name
    assert runs.implementation("fcae")["training_loop"] == name

    class Picked(Exception):
        pass

    def loop(picked):
        def fit(*args):
            raise Picked(picked)
        return fit

    monkeypatch.setattr(training, "_fit", loop("aelib"))
    monkeypatch.setattr(training, "_keras_fit", loop("keras-fit"))
    from aelib.models import build_model

    model = build_model("fcae", input_shape=(28, 28, 1), latent_dim=2)
    with pytest.raises(Picked) as picked:
        training.train(model, np.zeros((20, 28, 28, 1), "float32"), TrainConfig(epochs=1, batch_size=10))
    assert str(picked.value) == name  # the loop train() runs is the one the key names


# ------------------------------------------------------------------ load_trained: loads, never trains


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory):
    """A store holding one complete tiny fcae run (copied by each test that damages it)."""
    cached_dataset.cache_clear()
    root = tmp_path_factory.mktemp("trained") / "runs"
    result = ensure_trained(GuardedRunStore(root), TrainSpec.make("fcae", 2, **TINY))
    assert result.status == "complete"
    return root


def _copy(trained_store, tmp_path):
    import shutil

    shutil.copytree(trained_store, tmp_path / "runs")
    store = GuardedRunStore(tmp_path / "runs")
    spec = TrainSpec.make("fcae", 2, **TINY)
    return store, spec, store.path_for("train", spec.config())


def test_load_trained_loads_the_saved_model_and_never_trains_a_missing_one(trained_store, tmp_path):
    store, spec, path = _copy(trained_store, tmp_path)
    model = runs.load_trained(store, spec)
    x_test = cached_dataset("mnist", "test", TINY["n_test"])[0]
    from aelib.metrics.reconstruction import rmse_per_sample

    rmse = rmse_per_sample(x_test, model.reconstruct(x_test))
    np.testing.assert_allclose(rmse, np.load(path / "test_rmse.npy"), rtol=1e-4, atol=1e-6)  # the model trained

    other = TrainSpec.make("fcae", 3, **TINY)  # not in the store
    with pytest.raises(runs.ModelUnavailable, match=r"No trained model of fcae z=3 depth=3 seed=0: its run is "
                                                    r"missing \(.*\)\. Train it first"):
        runs.load_trained(store, other)
    assert not store.path_for("train", other.config()).exists()  # nothing trained, nothing written


def test_a_saved_model_that_does_not_load_is_discarded_under_its_claim_and_not_retrained(trained_store, tmp_path,
                                                                                        monkeypatch):
    store, spec, path = _copy(trained_store, tmp_path)
    (path / "model.keras").write_bytes(b"not a keras file")
    claimed = []
    discard = store.discard
    monkeypatch.setattr(store, "discard", lambda kind, config: claimed.append(config) or discard(kind, config))
    with pytest.raises(runs.ModelUnavailable, match=r"The saved model of fcae z=2 depth=3 seed=0 does not load "
                                                    r"\(.*model\.keras\)\. Its run is marked not complete: run the "
                                                    r"step again to retrain it\."):
        runs.load_trained(store, spec)
    assert claimed == [spec.config()]  # through RunStore.discard (which holds the run's claim)
    assert store.status("train", spec.config()) == "partial" and not (path / "metrics.json").exists()
    assert (path / "model.keras").read_bytes() == b"not a keras file"  # not retrained here
    assert not list(path.parent.glob("*.claim"))  # the claim was released
    with pytest.raises(runs.ModelUnavailable, match="its run is partial"):
        runs.load_trained(store, spec)
    assert ensure_trained(store, spec).status == "complete"  # the step's run retrains it
    assert runs.load_trained(store, spec).latent_dim == 2


def test_load_trained_refuses_forged_metrics_and_a_linked_model_without_deleting_anything(trained_store, tmp_path):
    import json

    store, spec, path = _copy(trained_store, tmp_path)
    metrics = json.loads((path / "metrics.json").read_text())
    (path / "metrics.json").write_text(json.dumps({**metrics, "rmse_mean": 1e308}))
    with pytest.raises(runs.ModelUnavailable, match=r"Not loading the model of fcae z=2 .*Invalid metrics file"):
        runs.load_trained(store, spec)
    assert json.loads((path / "metrics.json").read_text())["rmse_mean"] == 1e308  # left for `aelib check --repair`

    (path / "metrics.json").write_text(json.dumps(metrics))
    outside = tmp_path / "outside.keras"
    (path / "model.keras").rename(outside)
    (path / "model.keras").symlink_to(outside)
    with pytest.raises(runs.ModelUnavailable, match=r"through a link: .*model\.keras is a symbolic link"):
        runs.load_trained(store, spec)
    assert (path / "metrics.json").exists() and outside.is_file()
