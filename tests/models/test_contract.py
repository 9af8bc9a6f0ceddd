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


@pytest.mark.parametrize("family", list_models())
def test_family_seeded_training_repeats_with_any_steps_per_execution(family):
    """Same seed → same weights; running 4 steps per call (the last call
    short: 5 steps an epoch) changes nothing either."""
    weights = []
    for steps_per_execution in (1, 4, 4):
        model = build_model(family, input_shape=(28, 28, 1), latent_dim=3, seed=5)
        train(model, X[:20], epochs=2, batch_size=4, validation_fraction=0.0, verbose=0, seed=7,
              steps_per_execution=steps_per_execution)
        weights.append(model.get_weights())
    for one, four, again in zip(*weights):
        np.testing.assert_array_equal(four, again)
        np.testing.assert_allclose(four, one, rtol=1e-5, atol=1e-6)
