"""The contract every family must honour (HOUSE_STYLE: one test over list_models())."""
import numpy as np
import pytest

from aelib.models import build_model, list_models, load_model
from aelib.training import train

X = np.random.default_rng(0).random((24, 28, 28, 1)).astype("float32")


@pytest.mark.parametrize("latent_dim", [2, 40])
@pytest.mark.parametrize("family", list_models())
def test_family_contract(family, latent_dim, tmp_path):
    model = build_model(family, input_shape=(28, 28, 1), latent_dim=latent_dim, seed=1)
    assert model.encode(X).shape == (len(X), latent_dim)
    assert model.reconstruct(X).shape == X.shape
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
    if hasattr(model, "sample"):
        assert model.sample(5, seed=0).shape == (5, 28, 28, 1)


@pytest.mark.parametrize("family", list_models())
def test_family_seeded_step_repeats(family):
    weights = []
    for _ in range(2):
        model = build_model(family, input_shape=(28, 28, 1), latent_dim=3, seed=5)
        train(model, X[:16], epochs=1, batch_size=8, validation_fraction=0.0, verbose=0, seed=7)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
