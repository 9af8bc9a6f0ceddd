import os

os.environ.setdefault("AELIB_OFFLINE", "1")  # tests never wait for dataset servers
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402


def _noise(seed: int, n: int, scale: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, n)


def fabricate_study(folder):
    """A study folder with the step tables and per-sample files of three families at z = 2 and 8, one seed,
    written by hand (no training): fcae and dae hard to tell apart, vae clearly worse. Returns (study, families)."""
    from aelib.study.store import atomic_write_json
    from aelib.study.study import Study

    study = Study(folder, epochs=1, n_train=200, n_test=100)
    families, zs = ["fcae", "vae", "dae"], [2, 8]
    level = {"fcae": 0.10, "vae": 0.16, "dae": 0.1001}
    base = 0.2 + _noise(20, 100, 0.03)
    sweep, by_z, ood, latent, gen, samples = [], [], [], [], [], []
    for i, family in enumerate(families):
        setting = study.setting(family)
        for z in zs:
            spec = study.spec(family, z, 0)
            rmse = (base + level[family] - 0.01 * np.log2(z) + _noise(30 + 10 * i + z, 100, 0.002)).astype("float32")
            run = study.store.path_for("train", spec.config())
            run.mkdir(parents=True)
            np.save(run / "test_rmse.npy", rmse)
            sweep.append({"family": family, "depth": study.depth, "latent_dim": z, "seed": 0, "setting": setting,
                          "rmse_mean": float(rmse.mean()), "stopped_by": "early_stopping"})
            half = 1.96 * float(rmse.std(ddof=1)) / np.sqrt(len(rmse))  # as step 02 gives one seed's interval
            by_z.append({"family": family, "depth": study.depth, "latent_dim": z, "setting": setting, "n_seeds": 1,
                         "rmse_mean": float(rmse.mean()), "rmse_mean_ci95_low": float(rmse.mean()) - half,
                         "rmse_mean_ci95_high": float(rmse.mean()) + half,
                         "interval": "95% over test samples (one seed)"})
            for dataset in ("emnist_letters", "fashion_mnist"):
                ood_rmse = base[:50] + 2 * level[family] + _noise(40 + i + z, 50, 0.002)
                ood_run = study.store.root / "ood" / f"{family}-{z}-{dataset}"
                atomic_write_json(ood_run / "config.json", {"kind": "ood", "family": family, "latent_dim": z,
                                                            "seed": 0, "dataset": dataset, "role": "complementary",
                                                            "train": spec.config()})
                np.save(ood_run / "rmse.npy", ood_rmse.astype("float32"))
                atomic_write_json(ood_run / "metrics.json", {"rmse_mean": float(ood_rmse.mean())})
                ood.append({"family": family, "latent_dim": z, "seed": 0, "setting": setting, "dataset": dataset,
                            "role": "complementary", "rmse_mean": float(ood_rmse.mean()), "auroc": 0.6 + 0.1 * i})
            latent.append({"family": family, "latent_dim": z, "seed": 0, "setting": setting,
                           "trustworthiness": 0.9 - 0.1 * i, "continuity": 0.8, "stress_scaled": 0.2 + 0.05 * i,
                           "neighborhood_hit": 0.7, "shepard_goodness": 0.6})
            for p in (0.0, 0.5, 1.0):
                gen.append({"family": family, "latent_dim": z, "seed": 0, "setting": setting, "mode": "relative",
                            "source": "perturbed", "level": p, "rmse_mean": 0.1 + (0.1 + 0.05 * i) * p})
            for sampler in ("gmm", "prior") if family == "vae" else ("gmm",):  # in the same order as the slopes
                samples.append({"family": family, "latent_dim": z, "seed": 0, "setting": setting, "sampler": sampler,
                                "frechet": 20.0 + 10 * i + (5 if sampler == "prior" else 0), "precision": 0.7 - 0.1 * i,
                                "recall": 0.6 - 0.1 * i, "density": 0.9, "coverage": 0.8, "class_entropy": 0.99,
                                "max_class_share": 0.12, "n_samples": 100, "n_reference": 100, "k": 5,
                                "n_components": 10 if sampler == "gmm" else None})
    for name, rows in (("latent_sweep_runs", sweep), ("rmse_by_z", by_z), ("ood_rmse", ood),
                       ("latent_quality", latent), ("generative", gen), ("generative_samples", samples)):
        study.write_table(name, pd.DataFrame(rows))
    study.write_table("judge", pd.DataFrame([{"dataset": "mnist", "test_accuracy": 0.985, "n_train": 180,
                                              "n_validation": 20, "n_test": 100, "floor_n_samples": 100, "k": 5,
                                              "frechet_real": 2.0, "precision_real": 0.8, "recall_real": 0.8,
                                              "density_real": 1.0, "coverage_real": 0.95}]))
    return study, families


@pytest.fixture(scope="module")
def fake_study(tmp_path_factory):
    """:func:`fabricate_study` once per test module (tests that change its tables use ``fresh_fake_study``)."""
    return fabricate_study(tmp_path_factory.mktemp("ranked"))


@pytest.fixture
def fresh_fake_study(tmp_path):
    """:func:`fabricate_study` in this test's own folder."""
    return fabricate_study(tmp_path / "study")
