"""Visible capacity: no family hides a layer narrower than its code (the
``widths`` option, ``effective_bottleneck()``, ``widths_rule_used``)."""
import numpy as np
import pytest

from aelib.architectures import SEED_PRESETS
from aelib.models import build_model, get_model_class, list_models

DEPTH_RULE_FAMILIES = ("fcae", "dae", "sae", "conae", "vae", "aae")
IMAGES = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")


def dense_widths(network) -> list[int]:
    return [layer.units for layer in network.layers if hasattr(layer, "units") and hasattr(layer, "kernel")]


@pytest.mark.parametrize("latent_dim", [2, 300])
@pytest.mark.parametrize("family", list_models())
def test_default_bottleneck_is_the_code(family, latent_dim):
    model = build_model(family, latent_dim=latent_dim)
    assert model.effective_bottleneck() == latent_dim
    expected = "n/a" if family not in DEPTH_RULE_FAMILIES else ("seed" if latent_dim == 2 else "interpolate")
    assert model.widths_rule_used == expected


@pytest.mark.parametrize("family", DEPTH_RULE_FAMILIES)
def test_seed_widths_cap_a_wide_code_and_say_so(family):
    model = build_model(family, latent_dim=300, widths="seed")
    assert model.widths_rule_used == "seed"
    assert model.effective_bottleneck() == 196  # the depth-3 preset's last layer
    assert 196 in dense_widths(model.decoder)
    auto = build_model(family, latent_dim=300)
    assert min(dense_widths(auto.decoder)) >= 300
    assert dense_widths(auto.decoder)[:3] == [421, 542, 663]  # 784 → 300 in four steps of 121, mirrored


@pytest.mark.parametrize("family", DEPTH_RULE_FAMILIES)
def test_widths_option_round_trips_and_builds_the_same_model(family, tmp_path):
    from aelib.models import load_model

    model = build_model(family, latent_dim=8, depth=2, widths="interpolate", seed=0)
    assert model.get_config()["widths"] == "interpolate"
    assert dense_widths(model.decoder)[:2] == [267, 525]  # 784 → 8 in steps of 258.67, rounded
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    assert again.widths_rule_used == "interpolate"
    np.testing.assert_allclose(again.reconstruct(IMAGES), model.reconstruct(IMAGES), atol=1e-6)


def test_configs_saved_before_the_option_load_with_seed_widths():
    config = build_model("fcae", latent_dim=300).get_config()
    del config["widths"]
    old = get_model_class("fcae").from_config(config)
    assert old.widths == "seed" and old.effective_bottleneck() == 196


@pytest.mark.parametrize("depth", sorted(SEED_PRESETS))
def test_effective_bottleneck_of_dense_stacks_is_the_narrowest_layer(depth):
    for latent_dim in (10, 150):
        model = build_model("vae", latent_dim=latent_dim, depth=depth, widths="seed")
        assert model.effective_bottleneck() == min(latent_dim, *SEED_PRESETS[depth])


def test_other_families_bottlenecks():
    assert build_model("vanilla", latent_dim=700).effective_bottleneck() == 700
    assert build_model("cae", latent_dim=700).effective_bottleneck() == 700
    assert build_model("cae", latent_dim=20, filters=(1, 1)).effective_bottleneck() == 20
    assert build_model("cae", latent_dim=60, filters=(1, 1)).effective_bottleneck() == 49  # the 7·7·1 map
    assert build_model("rae", latent_dim=50, units=16).effective_bottleneck() == 16
    assert build_model("mae", latent_dim=50, embed_dim=32).effective_bottleneck() == 32
    assert build_model("conae", latent_dim=50, tied=True).effective_bottleneck() == 50


def test_bad_widths_value_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"Expected widths in \('auto', 'seed', 'interpolate'\)\. Received: widths='wide'"):
        build_model("fcae", latent_dim=2, widths="wide")
