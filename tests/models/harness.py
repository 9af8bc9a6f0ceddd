"""The contract every autoencoder family honours, as functions each family's test file calls (as Keras' layer tests
call ``run_layer_test``): shapes, a finite loss with every term logged, a save and reload that reproduces
``predict``, seeded training that repeats, and options that round-trip through the config or fail clearly.

``tests/models/test_contract.py`` checks that every registered family has its test file and that it runs
:func:`run_family_test` and :func:`run_seeded_training_test`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aelib.models import build_model, get_model_class, load_model
from aelib.training import train

X = np.random.default_rng(0).random((24, 28, 28, 1)).astype("float32")
CONTRACT_LATENT_DIMS = (2, 40)


def run_family_test(family: str, latent_dim: int, tmp_path: Path) -> None:
    """Build ``family`` at ``latent_dim``: code and reconstruction shapes, the code is the bottleneck, one epoch's
    finite loss with every term (and its validation value) in the history, a ``.keras`` round trip that encodes,
    reconstructs and configures identically, and samples of the right shape where the family samples."""
    model = build_model(family, input_shape=(28, 28, 1), latent_dim=latent_dim, seed=1)
    assert model.encode(X).shape == (len(X), latent_dim)
    assert model.reconstruct(X).shape == X.shape
    assert model.effective_bottleneck() == latent_dim  # no hidden layer narrower than the code by default
    assert model.widths_rule_used in ("seed", "interpolate", "n/a")
    history = train(model, X, epochs=1, batch_size=8, validation_fraction=0.25, verbose=0, seed=3)
    assert np.isfinite(history["loss"]).all()
    for term in ("reconstruction", *model.loss_terms):
        assert term in history.columns, f"{family}: loss term {term!r} missing from history {list(history.columns)}"
        assert f"val_{term}" in history.columns
        assert np.isfinite(history[term]).all()
    path = tmp_path / f"{family}.keras"
    model.save(path)
    again = load_model(path)
    np.testing.assert_allclose(again.reconstruct(X), model.reconstruct(X), atol=1e-6)
    np.testing.assert_allclose(again.encode(X), model.encode(X), atol=1e-6)
    assert again.get_config() == model.get_config()
    if hasattr(model, "sample"):
        assert model.sample(5, seed=0).shape == (5, 28, 28, 1)


def run_seeded_training_test(family: str) -> None:
    """Same seed → same weights; running 4 steps per call (the last call short: 5 steps an epoch) changes nothing
    either."""
    weights = []
    for steps_per_execution in (1, 4, 4):
        model = build_model(family, input_shape=(28, 28, 1), latent_dim=3, seed=5)
        train(model, X[:20], epochs=2, batch_size=4, validation_fraction=0.0, verbose=0, seed=7,
              steps_per_execution=steps_per_execution)
        weights.append(model.get_weights())
    for one, four, again in zip(*weights):
        np.testing.assert_array_equal(four, again)
        np.testing.assert_allclose(four, one, rtol=1e-5, atol=1e-6)


def assert_bad_option(family: str, options: dict[str, Any], message: str) -> None:
    """Building ``family`` with ``options`` (on 28 × 28 images unless they say otherwise) raises a ValueError
    whose text contains ``message``."""
    options = {"input_shape": (28, 28, 1), **options}
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model(family, latent_dim=2, **options)


def assert_config_round_trip(family: str, options: dict[str, Any], images: np.ndarray) -> None:
    """A model of ``family`` with ``options`` rebuilt from its config has the same config and encodes the same."""
    model = build_model(family, latent_dim=3, depth=1, **options)
    again = get_model_class(family).from_config(model.get_config())
    assert again.get_config() == model.get_config()
    np.testing.assert_allclose(again.encode(images[:2]), model.encode(images[:2]), atol=1e-6)


def assert_options_round_trip(family: str, options: dict[str, Any]) -> None:
    """``options()`` gives back the options a model of ``family`` was built with, also after ``from_config``."""
    model = build_model(family, latent_dim=2, depth=1, **options)
    assert model.options() == options
    assert get_model_class(family).from_config(model.get_config()).options() == options
