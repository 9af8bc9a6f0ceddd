"""List parameters as papermill's -p hands them over (strings, single numbers) made into lists, or refused with
the -y form."""
import pytest

from aelib.study.params import LIST_PARAMETERS, as_list, as_lists


@pytest.mark.parametrize("value, expected", [
    ('["fcae"]', ["fcae"]),  # what the parameter's comment suggests: the -p form of issue 30
    ("['fcae', 'vae']", ["fcae", "vae"]),
    ("[fcae, vae]", ["fcae", "vae"]),  # YAML without quotes
    ("fcae,vae", ["fcae", "vae"]),
    (" fcae , vae ,", ["fcae", "vae"]),
    ("fcae", ["fcae"]),
    (["fcae", "vae"], ["fcae", "vae"]),
    (("fcae",), ["fcae"]),
    ("all", "all"),  # kept as the word the code takes
])
def test_families_from_papermill_strings(value, expected):
    assert as_list("families", value, str) == expected


@pytest.mark.parametrize("name, value, expected", [
    ("z_values", "2,40", [2, 40]),
    ("z_values", "[2, 40, 100]", [2, 40, 100]),
    ("z_values", "(2, 40)", [2, 40]),
    ("seeds", 0, [0]),  # -p seeds 0 arrives as an int
    ("seeds", "0", [0]),
    ("seeds", [0.0, 1.0], [0, 1]),
    ("levels", "0,0.5,1", [0.0, 0.5, 1.0]),
    ("levels", 1, [1.0]),
    ("tune_learning_rates", "[]", []),
    ("tune_learning_rates", "1e-3,3e-4", [0.001, 0.0003]),
])
def test_numbers_from_papermill_strings(name, value, expected):
    out = as_list(name, value, LIST_PARAMETERS[name])
    assert out == expected and all(type(v) is LIST_PARAMETERS[name] for v in out)


@pytest.mark.parametrize("name, value, received", [
    ("seeds", "zero", "seeds='zero'"),
    ("z_values", "2.5", "z_values='2.5'"),
    ("z_values", [True], "z_values=[True]"),
    ("families", "", "families=''"),
    ("families", {"fcae": 1}, "families={'fcae': 1}"),
    ("seeds", None, "seeds=None"),
])
def test_what_is_not_a_list_is_refused_with_the_yaml_form(name, value, received):
    with pytest.raises(ValueError, match=rf"-y '{name}: \[") as err:
        as_list(name, value, LIST_PARAMETERS[name])
    assert f"Received: {received}" in str(err.value)


def test_as_lists_converts_only_the_list_parameters():
    params = {"families": "fcae,vae", "seeds": "0", "out_dir": "results/x", "depth": "auto", "n_train": 300}
    assert as_lists(params) == {"families": ["fcae", "vae"], "seeds": [0], "out_dir": "results/x", "depth": "auto",
                                "n_train": 300}
