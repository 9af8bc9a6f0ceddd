"""Op determinism is a setting (AELIB_DETERMINISTIC), and a GPU without a
deterministic kernel trains again without it instead of failing."""
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from aelib.models import build_model
from aelib.training import set_seed, train

X = np.random.default_rng(0).random((40, 28, 28, 1)).astype("float32")
MISSING = "A deterministic GPU implementation of UnsortedSegmentSum is not currently available."


def _train(model, record):
    return train(model, X, epochs=2, batch_size=8, validation_fraction=0.25, patience=50, verbose=0, record=record)


def _failing_first(monkeypatch, error):
    """The training loop, first training an epoch (the weights move), then raising ``error``."""
    import dataclasses

    import aelib.training

    real_fit, calls = aelib.training._fit, []

    def fit(model, x, x_val, config, callbacks):
        calls.append(config)
        if len(calls) == 1:
            real_fit(model, x, x_val, dataclasses.replace(config, epochs=1), [])
            raise error
        return real_fit(model, x, x_val, config, callbacks)

    monkeypatch.setattr(aelib.training, "_fit", fit)
    return calls


def test_the_setting_turns_op_determinism_off(monkeypatch):
    from tensorflow.python.framework import config as tf_config

    monkeypatch.setenv("AELIB_DETERMINISTIC", "0")
    assert set_seed(0) is False and not tf_config.is_op_determinism_enabled()
    record: dict = {}
    _train(build_model("vanilla", latent_dim=2, seed=0), record)
    assert record["deterministic"] is False
    monkeypatch.delenv("AELIB_DETERMINISTIC")
    assert set_seed(0) is True and tf_config.is_op_determinism_enabled()


def test_a_missing_deterministic_kernel_retrains_from_scratch_without_determinism(monkeypatch):
    monkeypatch.setenv("AELIB_DETERMINISTIC", "0")
    expected_record: dict = {}
    expected = _train(build_model("vanilla", latent_dim=2, seed=0), expected_record)
    monkeypatch.delenv("AELIB_DETERMINISTIC")
    model = build_model("vanilla", latent_dim=2, seed=0)
    calls = _failing_first(monkeypatch, tf.errors.UnimplementedError(None, None, MISSING))
    record: dict = {}
    with pytest.warns(RuntimeWarning, match="UnsortedSegmentSum.*without op determinism"):
        history = _train(model, record)
    assert len(calls) == 2 and record["deterministic"] is False and expected_record["deterministic"] is False
    # the retry starts from the initial weights with a fresh optimizer: the same run as one without determinism
    pd.testing.assert_frame_equal(history, expected)


def test_other_errors_are_not_retried(monkeypatch):
    model = build_model("vanilla", latent_dim=2, seed=0)
    calls = _failing_first(monkeypatch, tf.errors.UnimplementedError(None, None, "Some op is not implemented."))
    with pytest.raises(tf.errors.UnimplementedError, match="Some op"):
        _train(model, {})
    assert len(calls) == 1
