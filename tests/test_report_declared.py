"""Declared comparisons (each family against fcae and PCA) and rank tests across blocks (aelib.report.declared)."""
import re

import numpy as np
import pandas as pd
import pytest

from aelib.criteria import LATENT_MEASURES
from aelib.report.declared import declared_section
from aelib.two_stage import COMPARISON_COLUMNS

FAMILIES = ["fcae", "dae", "vae"]  # dae: much better than fcae everywhere; vae: identical to fcae
ZS = [2, 8]
SEEDS = [0, 1, 2]
DATASETS = ["emnist_letters", "fashion_mnist"]
N_TEST, N_OOD = 200, 100
N_BOOT = 1000


def _fcae(z: int, seed: int, n: int, salt: int) -> np.ndarray:
    """fcae's per-image RMSE: image effects shared by the seeds, a seed effect and noise."""
    images = 0.25 + np.random.default_rng(salt).normal(0, 0.03, n)
    return images - 0.01 * np.log2(z) + 0.01 * (seed - 1) + np.random.default_rng(salt + 10 * seed + z).normal(
        0, 0.005, n)


def _per_image(family: str, z: int, seed: int, n: int, salt: int) -> np.ndarray:
    base = _fcae(z, seed, n, salt)
    return base * 0.5 if family == "dae" else base.copy()


class FakeSamples:
    def train(self, family, z, seed, depth=None):
        return _per_image(family, z, seed, N_TEST, 1)

    def ood(self, family, z, seed, dataset):
        return _per_image(family, z, seed, N_OOD, 2 + DATASETS.index(dataset))


def pca_samples(z, dataset):
    """PCA worse than every family; of another length than the families' on fashion_mnist (skipped)."""
    n = N_TEST if dataset is None else (N_OOD if dataset == "emnist_letters" else N_OOD + 7)
    return 0.4 + np.random.default_rng(z).normal(0, 0.01, n)


def _shift(family: str, value: float, step: float) -> float:
    return value + step if family == "dae" else value


def tables(failed: tuple | None = None) -> dict:
    """The step tables of the fake samples: 3 families × 2 z × 3 seeds (× 2 data sets)."""
    samples = FakeSamples()
    sweep, ood, latent, gen = [], [], [], []
    for f in FAMILIES:
        for z in ZS:
            for s in SEEDS:
                key = {"family": f, "latent_dim": z, "seed": s}
                rmse = float(samples.train(f, z, s).mean())
                sweep.append({**key, "depth": 1, "rmse_mean": rmse, "mean_image_rmse": 0.5,
                              "gate_beats_mean_image": (f, z, s) != failed})
                for d in DATASETS:
                    ood.append({**key, "dataset": d, "role": "complementary", "n_eval": N_OOD,
                                "rmse_mean": float(samples.ood(f, z, s, d).mean()),
                                "auroc": _shift(f, 0.7 + 0.01 * s + 0.001 * z, 0.2)})
                latent.append({**key, **{m: _shift(f, 0.5 + 0.02 * s + 0.001 * z, 0.3 if higher else -0.3)
                                         for m, higher in LATENT_MEASURES.items()}})
                gen.append({**key, "sampler": "gmm", "frechet": _shift(f, 50.0 + 3 * s + z, -30.0)})
    return {"sweep_runs": pd.DataFrame(sweep), "ood": pd.DataFrame(ood), "latent": pd.DataFrame(latent),
            "generative_samples": pd.DataFrame(gen)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("declared")
    text = declared_section(out / "summary", **tables(), samples=FakeSamples(), pca_samples=pca_samples,
                            families=FAMILIES, figures=out / "figures", n_boot=N_BOOT)
    return out, text, pd.read_csv(out / "summary" / "comparisons.csv"), pd.read_csv(out / "summary" /
                                                                                     "ranking_tests.csv")


def _criteria() -> list[str]:
    return ["reconstruction", *[f"ood_{k}_{d}" for d in DATASETS for k in ("generalisation", "detection")],
            *[f"latent_structure_{m}" for m in LATENT_MEASURES], "generative"]


def test_comparisons_are_exactly_families_times_references(written):
    _, _, table, _ = written
    assert list(table.columns) == COMPARISON_COLUMNS
    assert sorted(set(table["criterion"])) == sorted(_criteria())
    with_pca = {"reconstruction", "ood_generalisation_emnist_letters"}  # fashion_mnist: PCA has other images
    for criterion in _criteria():
        references = ["fcae", "pca"] if criterion in with_pca else ["fcae"]
        expected = sorted((f, r) for f in FAMILIES for r in references if f != r)
        for z in ZS:
            part = table[(table["criterion"] == criterion) & (table["latent_dim"] == z)]
            assert sorted(zip(part["family"], part["reference"])) == expected, (criterion, z)
    assert not ((table["family"] == "fcae") & (table["reference"] == "fcae")).any()


def test_a_much_better_family_is_better_and_an_identical_one_is_not_distinguishable(written):
    _, _, table, _ = written
    against_fcae = table[table["reference"] == "fcae"].set_index(["criterion", "latent_dim", "family"])
    for criterion in _criteria():
        for z in ZS:
            assert against_fcae.loc[(criterion, z, "dae"), "decision"] == "better", criterion
            identical = against_fcae.loc[(criterion, z, "vae")]
            assert identical["decision"] == "not distinguishable"
            assert identical["estimate"] == 0.0
    # PCA is worse than every family: each family is better than PCA
    assert set(table.loc[table["reference"] == "pca", "decision"]) == {"better"}
    assert table["p_adjusted"].ge(table["p_value"]).all()
    recon = table[table["criterion"] == "reconstruction"]["over"].iloc[0]
    assert recon.startswith(f"{len(SEEDS)} seeds × {N_TEST} test images, two-stage")
    assert table.loc[table["criterion"] == "generative", "over"].iloc[0] == (
        f"{len(SEEDS)} seeds (one value each), bootstrap over seeds")


def test_ranking_tests_one_row_per_criterion_with_its_blocks(written):
    out, _, _, tests = written
    blocks = {"reconstruction": len(ZS) * len(SEEDS), "ood_generalisation": len(ZS) * len(DATASETS) * len(SEEDS),
              "ood_detection": len(ZS) * len(DATASETS) * len(SEEDS), "generative": len(ZS) * len(SEEDS),
              **{f"latent_structure_{m}": len(ZS) * len(SEEDS) for m in LATENT_MEASURES}}
    assert sorted(tests["criterion"]) == sorted(blocks)
    assert dict(zip(tests["criterion"], tests["n_blocks"])) == blocks
    assert (tests["n_families"] == len(FAMILIES)).all()
    assert (tests["critical_difference"] > 0).all()
    for criterion in blocks:
        assert (out / "figures" / f"cd_{criterion}.png").is_file()
        assert (out / "figures" / f"cd_{criterion}.pdf").is_file()


def test_section_says_detectably_only_for_decision_rows(written):
    _, text, table, tests = written
    assert text.startswith("## Declared comparisons and rank tests")
    lines = re.findall(r"^- (\w+) detectably (better|worse) than (\w+) at (.*)$", text, flags=re.MULTILINE)
    said = [(f, d, r, z) for f, d, r, rest in lines for z in re.findall(r"z = (\d+) \(", rest)]
    decided = table[table["decision"].isin(["better", "worse"])]
    assert len(said) == len(decided)
    keys = {(f, d, "PCA" if r == "pca" else r, str(z))
            for f, d, r, z in zip(decided["family"], decided["decision"], decided["reference"], decided["latent_dim"])}
    assert set(said) <= keys
    assert text.count("detectably") == len(lines)
    assert not any(f == "vae" and r == "fcae" for f, _, r, _ in said)
    assert f"not distinguishable at {len(SEEDS)} seeds" in text
    assert f"With {len(SEEDS)} seeds the seed stage is weak" in text
    assert "PCA reference skipped" in text and "fashion_mnist" in text
    for criterion in tests["criterion"]:
        assert f"](../figures/cd_{criterion}.png)" in text
    assert text.count("χ²_F = ") == len(tests)


@pytest.fixture
def no_figure_files(monkeypatch):
    """The CD diagrams drawn but not saved (their files are checked once, above): keeps the tests fast."""
    import matplotlib.pyplot as plt

    from aelib import plots

    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: plt.close(fig))


def test_failed_run_leaves_the_family_out_of_that_z(tmp_path, no_figure_files):
    text = declared_section(tmp_path / "summary", **tables(failed=("dae", 2, 1)), samples=FakeSamples(),
                            pca_samples=pca_samples, families=FAMILIES, figures=tmp_path / "figures", n_boot=200)
    table = pd.read_csv(tmp_path / "summary" / "comparisons.csv")
    assert not ((table["family"] == "dae") & (table["latent_dim"] == 2)).any()
    assert ((table["family"] == "dae") & (table["latent_dim"] == 8)).sum() == len(_criteria()) + 2
    tests = pd.read_csv(tmp_path / "summary" / "ranking_tests.csv").set_index("criterion")
    assert (tests["n_families"] == 2).all()  # dae left out of every criterion's rank test, as the ranking does
    assert "dae left out (failed run" in text


def test_no_fcae_and_no_pca_still_writes_the_tables(tmp_path, no_figure_files):
    frames = tables()
    frames = {k: v[v["family"] != "fcae"] for k, v in frames.items()}
    text = declared_section(tmp_path / "summary", **frames, samples=FakeSamples(), pca_samples=None,
                            families=FAMILIES, figures=tmp_path / "figures", n_boot=200)
    table = pd.read_csv(tmp_path / "summary" / "comparisons.csv")
    assert table.empty and list(table.columns) == COMPARISON_COLUMNS
    assert "No declared comparison could be made" in text
    assert len(pd.read_csv(tmp_path / "summary" / "ranking_tests.csv")) == 9


class FakeStudy:
    """``data`` as :class:`aelib.study.study.Study` gives it: a stratified-like subset of n images, the same for
    the same n."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.sets = {("train", None): rng.random((60, 4, 4, 1)), ("test", None): rng.random((40, 4, 4, 1)),
                     ("test", "fashion_mnist"): rng.random((50, 4, 4, 1))}
        self.loaded = []

    def data(self, split, dataset=None, n=None):
        x = self.sets[(split, dataset)]
        self.loaded.append((split, dataset, n))
        x = x if n is None else x[:n]
        return x, np.zeros(len(x), dtype=int), {"source": "fake"}


def test_pca_samples_are_per_image_rmse_on_the_images_step_05_used():
    from aelib.baselines import PCABaseline
    from aelib.metrics.reconstruction import rmse_per_sample
    from aelib.study.steps.summary_inputs import PCASamples

    study = FakeStudy()
    ood = pd.DataFrame({"family": ["fcae"], "dataset": ["fashion_mnist"], "role": ["complementary"], "n_eval": [30]})
    pca = PCASamples(study, ood)
    fitted = PCABaseline(3).fit(study.sets[("train", None)])
    test = study.sets[("test", None)]
    np.testing.assert_allclose(pca(3, None), rmse_per_sample(test, fitted.reconstruct(test)))
    comp = pca(3, "fashion_mnist")
    assert comp.shape == (30,)  # the n_eval images step 05 evaluated, not pca_rows' 1000
    subset = study.sets[("test", "fashion_mnist")][:30]
    np.testing.assert_allclose(comp, rmse_per_sample(subset, fitted.reconstruct(subset)))
    assert pca(3, "emnist_letters") is None  # step 05 did not evaluate it
    assert pca(17, None) is None  # more components than 16 pixels
    assert pca(3, None) is pca(3, None)  # computed once


def test_a_family_with_fewer_seeds_is_compared_over_the_seeds_it_shares(tmp_path, no_figure_files):
    frames = {k: v[~((v["family"] == "dae") & (v["seed"] == 2))] for k, v in tables().items()}
    declared_section(tmp_path / "summary", **frames, samples=FakeSamples(), pca_samples=pca_samples,
                     families=FAMILIES, figures=tmp_path / "figures", n_boot=200)
    table = pd.read_csv(tmp_path / "summary" / "comparisons.csv")
    recon = table[table["criterion"] == "reconstruction"].set_index(["latent_dim", "family", "reference"])
    assert recon.loc[(2, "dae", "fcae"), "over"] == f"2 seeds × {N_TEST} test images, two-stage bootstrap"
    assert recon.loc[(2, "dae", "pca"), "over"].startswith("2 seeds")
    assert recon.loc[(2, "vae", "fcae"), "over"].startswith("3 seeds")
    assert len(recon) == 10
