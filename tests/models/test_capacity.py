"""Visible capacity: no family hides a layer narrower than its code (the
``widths`` option, ``effective_bottleneck()``, ``widths_rule_used``), and the
objective families share fcae's backbone (STUDY.md §1, "Objective or architecture")."""
import numpy as np
import pytest

from aelib.architectures import SEED_PRESETS
from aelib.models import build_model, get_model_class, list_models

DEPTH_RULE_FAMILIES = ("fcae", "dae", "sae", "conae", "vae", "aae", "mmae")
#: The families that differ from fcae only in their training objective.
OBJECTIVE_FAMILIES = ("dae", "sae", "conae", "vae", "aae", "mmae")
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


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("latent_dim", [2, 40, 100])
def test_objective_families_have_fcae_s_parameter_count_within_ten_percent(latent_dim, depth):
    """Counted by ``autoencoder_params()``: every weight on the path x → z → x̂, the variational family's
    log-variance head included, the adversarial family's discriminator not."""
    fcae = build_model("fcae", latent_dim=latent_dim, depth=depth).autoencoder_params()
    counts = {f: build_model(f, latent_dim=latent_dim, depth=depth).autoencoder_params() for f in OBJECTIVE_FAMILIES}
    off = {f: round(n / fcae, 3) for f, n in counts.items() if abs(n / fcae - 1) > 0.10}
    assert not off, f"parameters relative to fcae's {fcae} at z={latent_dim}, depth={depth}: {off}"
    for family in ("dae", "sae", "conae", "mmae"):  # the same layers as fcae's
        assert counts[family] == fcae, family


def test_autoencoder_params_leave_out_only_the_discriminator():
    aae = build_model("aae", latent_dim=10, depth=1)
    assert aae.autoencoder_params() == aae.count_params() - aae.discriminator.count_params()
    assert aae.autoencoder_params() == aae.encoder.count_params() + aae.decoder.count_params()
    vae = build_model("vae", latent_dim=10, depth=1)
    log_var = vae.gaussian_encoder.get_layer("enc_log_var").count_params()
    assert vae.autoencoder_params() == vae.encoder.count_params() + vae.decoder.count_params() + log_var
    assert log_var == (392 + 1) * 10


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
    assert build_model("conae", latent_dim=50, encoder="single", tied=True).effective_bottleneck() == 50


def test_bad_widths_value_names_the_allowed_ones():
    with pytest.raises(ValueError,
                       match=r"Expected widths in \('auto', 'seed', 'interpolate'\)\. Received: widths='wide'"):
        build_model("fcae", latent_dim=2, widths="wide")


# ----- architectures sized to fcae's budget (aelib.models.capacity) -------------------------------------------------
@pytest.mark.parametrize("family, latent_dim", [("cae", 2), ("cae", 40), ("cae", 100), ("rae", 40), ("mae", 40)])
def test_matched_builder_hits_fcae_s_budget_within_ten_percent(family, latent_dim):
    from aelib.models.capacity import CAPACITY_TOLERANCE, budget, matched_options

    target = budget(latent_dim, depth=1)
    assert target == build_model("fcae", latent_dim=latent_dim, depth=1).autoencoder_params()
    options = matched_options(family, latent_dim=latent_dim, depth=1)
    model = build_model(family, latent_dim=latent_dim, depth=1, **options)
    assert abs(model.autoencoder_params() / target - 1) <= CAPACITY_TOLERANCE
    assert model.effective_bottleneck() == latent_dim  # sized up or down, the code stays the narrowest layer
    native = build_model(family, latent_dim=latent_dim, depth=1).autoencoder_params()
    assert abs(native / target - 1) > CAPACITY_TOLERANCE or family == "cae"  # sizing was needed (cae at z=100 is
    # natively near fcae's count)


def test_matched_builder_explicit_target_and_refusals():
    from aelib.models.capacity import matched_options

    options = matched_options("cae", latent_dim=4, target=50_000, tolerance=0.02)
    assert abs(build_model("cae", latent_dim=4, **options).autoencoder_params() / 50_000 - 1) <= 0.02
    with pytest.raises(ValueError, match="No width knob for family 'fcae'. Families sized to a budget: cae, rae, mae"):
        matched_options("fcae", latent_dim=4)
    with pytest.raises(ValueError, match="within 10%"):
        matched_options("cae", latent_dim=4, target=50)  # below the smallest cae
    with pytest.raises(ValueError, match=r"\['filters'\] .* set by the width knob"):
        matched_options("cae", latent_dim=4, target=50_000, filters=(8, 16))
