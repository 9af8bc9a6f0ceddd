"""The vanilla autoencoder (input → linear code → sigmoid output): the family contract."""
import pytest

from tests.models.harness import CONTRACT_LATENT_DIMS, run_family_test, run_seeded_training_test

FAMILY = "vanilla"


@pytest.mark.parametrize("latent_dim", CONTRACT_LATENT_DIMS)
def test_contract(latent_dim, tmp_path):
    run_family_test(FAMILY, latent_dim, tmp_path)


def test_seeded_training_repeats_with_any_steps_per_execution():
    run_seeded_training_test(FAMILY)
