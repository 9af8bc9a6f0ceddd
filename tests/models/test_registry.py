import numpy as np
import pytest

from aelib import families
from aelib.models import Autoencoder, FamilyInfo, build_model, family_info, list_models, load_model, model_options
from aelib.models.registry import register_model


def test_unknown_family_lists_known_ones():
    with pytest.raises(ValueError, match="Could not interpret family identifier: 'nope'.*fcae"):
        build_model("nope", latent_dim=2)


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True])
def test_bad_latent_dim(latent_dim):
    with pytest.raises(ValueError, match="latent_dim"):
        build_model("fcae", latent_dim=latent_dim)


def test_latent_dim_larger_than_input():
    with pytest.raises(ValueError, match="latent_dim=785 does not fit"):
        build_model("fcae", input_shape=(28, 28, 1), latent_dim=785)


def test_unknown_option_is_a_value_error():
    with pytest.raises(ValueError, match="Bad option for family 'fcae'"):
        build_model("fcae", latent_dim=2, colour="blue")


def test_wrong_input_shape_and_nan():
    model = build_model("vanilla", latent_dim=2)
    with pytest.raises(ValueError, match=r"Received: shape=\(3, 10\)"):
        model.encode(np.zeros((3, 10), "float32"))
    bad = np.zeros((2, 28, 28, 1), "float32")
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.encode(bad)
    with pytest.raises(ValueError, match=r"codes of shape \(n, 2\)"):
        model.decode(np.zeros((2, 3), "float32"))


def test_flattened_inputs_are_accepted():
    model = build_model("vanilla", latent_dim=2)
    x = np.random.default_rng(0).random((4, 784)).astype("float32")
    np.testing.assert_allclose(model.encode(x), model.encode(x.reshape(4, 28, 28, 1)))


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No saved model"):
        load_model(tmp_path / "absent.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="Could not load the model"):
        load_model(bad)


def test_list_models_starts_with_skeleton_families():
    assert list_models()[:2] == ["vanilla", "fcae"]


def test_registry_and_families_table_list_the_same_families_in_the_same_order():
    assert list_models() == list(families.FAMILIES)
    assert families.ORDER == (*list_models(), "pca")


def test_family_info_comes_from_the_families_table_and_is_distinct():
    infos = [family_info(f) for f in list_models()]
    assert family_info("conae") == FamilyInfo("conae", "Contractive AE", "ConAE", "#ece133", ">", 2.8)
    assert infos == [families.FAMILIES[f] for f in list_models()]
    for field in ("display_name", "short_name", "color", "marker"):
        values = [getattr(info, field) for info in infos + [families.PCA]]
        assert len(set(values)) == len(values), f"{field} repeats: {values}"
    assert all(info.relative_cost > 0 for info in infos)
    with pytest.raises(ValueError, match="Could not interpret family identifier: 'nope'"):
        family_info("nope")
    with pytest.raises(ValueError, match="Could not interpret family identifier: 'nope'"):
        families.info("nope")


def test_display_names_keep_suffixes_and_other_names():
    assert families.display_name("conae (baseline)") == "Contractive AE (baseline)"
    assert families.display_name("conae", short=True) == "ConAE"
    assert families.display_name("pca") == "PCA" and families.display_name("other") == "other"
    assert sorted(["other", "pca", "mae", "vanilla x"], key=families.rank) == ["vanilla x", "mae", "pca", "other"]


def test_a_family_without_metadata_is_refused():
    class Bare(Autoencoder):
        pass

    with pytest.raises(ValueError, match="Family 'bare' .* has no entry in aelib.families.FAMILIES"):
        register_model("bare")(Bare)
    assert "bare" not in list_models()


@pytest.mark.parametrize("family", list_models())
def test_options_are_the_init_keywords(family):
    """One declaration: ``model_options`` (the registry) and ``options()`` (the config) read the same keywords."""
    base = set(model_options("vanilla"))
    model = build_model(family, latent_dim=2)
    assert set(model.options()) == set(model_options(family)) - base
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in model_options(family).items() if k not in base}
    assert model.options() == defaults
