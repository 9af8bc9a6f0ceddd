"""Tests of aelib.augmentation.synthetic: the top-up rule and decode(perturb(encode(x)))."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aelib.augmentation.synthetic import synthesize, top_up_counts, top_up_sources


def test_top_up_counts_reaches_target_and_leaves_common_classes():
    labels = np.array(["a"] * 25 + ["b"] * 3 + ["c"] * 20 + ["d"] * 19 + ["e"])
    counts = top_up_counts(labels, 20)
    assert counts == {"a": 0, "b": 17, "c": 0, "d": 1, "e": 19}
    sources = top_up_sources(labels, 20, seed=0)
    after = pd.Series(np.concatenate([labels, labels[sources]])).value_counts()
    assert after["a"] == 25 and after["c"] == 20  # untouched
    assert after["b"] == after["d"] == after["e"] == 20  # exactly the target
    b_sources = sources[labels[sources] == "b"]
    assert np.bincount(b_sources - 25).tolist() in ([6, 6, 5], [6, 5, 6], [5, 6, 6])  # originals used evenly
    with pytest.raises(ValueError, match="target=0"):
        top_up_counts(labels, 0)


def test_synthetic_samples_decode_perturbed_codes_of_their_class():
    from aelib.models import build_model
    from aelib.perturbation import perturb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 16)).astype(np.float32)
    labels = np.repeat([0, 1, 2], [8, 3, 1])
    model = build_model("fcae", input_shape=(16,), latent_dim=4, output_activation="linear", seed=0)
    codes = model.encode(x)
    sources = top_up_sources(labels, 5, seed=1)
    assert sorted(labels[sources].tolist()) == [1, 1, 2, 2, 2, 2]
    synthetic = synthesize(model, codes, sources, max_fraction=0.2, seed=3)
    expected = model.decode(perturb(codes[sources], 0.2, seed=3))
    np.testing.assert_allclose(synthetic, expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(synthetic, model.decode(codes[sources]), atol=1e-4)  # really perturbed
    with pytest.raises(ValueError, match="max_fraction"):
        synthesize(model, codes, sources, max_fraction=1.5)

