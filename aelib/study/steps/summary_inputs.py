"""Step 08's inputs: the study's tables (its settings only), the PCA baseline, the per-sample RMSE in the store
and the failures, read for :mod:`aelib.report`, which presents them."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aelib import report
from aelib.baselines import PCABaseline, pca_rmse
from aelib.io import atomic_write_csv
from aelib.metrics.reconstruction import rmse_per_sample
from aelib.study.failures import INVOCATION_ENV, read_failures
from aelib.study.steps.ood import COMPLEMENTARY, _eval_data
from aelib.study.study import Study

# The step tables the summary reads (for the line on rows of other settings it leaves out).
SUMMARY_TABLES = ("architecture_runs", "latent_sweep_runs", "rmse_by_z", "ood_rmse", "latent_quality", "generative")


def read_current(study: Study, name: str, *, current: bool = True) -> pd.DataFrame:
    """``tables/<name>.csv``: only the rows of the study's settings (see
    :meth:`Study.is_current`) unless ``current=False``; empty if absent."""
    path = study.tables / f"{name}.csv"
    if not path.is_file():
        return pd.DataFrame()
    try:
        frame = pd.read_csv(path, dtype={"setting": str})  # a hash of digits only stays text
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    return frame[study.is_current(frame)].reset_index(drop=True) if current and "family" in frame else frame


def copy_tables(study: Study, out: Path, names: Sequence[str]) -> None:
    """``tables/<name>.csv`` into ``out`` as they are, for the tables whose rows keep their own settings (the
    regularisation path's candidates, the matched architectures) and that the report does not rebuild; the
    path's rows only of the study's base setting."""
    for name in names:
        frame = read_current(study, name, current=False)
        if "base_setting" in frame:
            frame = frame[frame["base_setting"].astype(str) == study.settings.base_setting()]
        if not frame.empty:
            atomic_write_csv(out / f"{name}.csv", frame)


def left_out_settings(study: Study, names: Sequence[str] = SUMMARY_TABLES) -> pd.Series:
    """The setting of every row of the tables ``names`` that is not the study's (the summary leaves them out;
    "unrecorded" for a table without a setting column)."""
    left_out = [frame.loc[~study.is_current(frame), "setting"] if "setting" in frame
                else pd.Series("unrecorded", index=frame.index)
                for frame in (read_current(study, name, current=False) for name in names) if "family" in frame]
    return pd.concat(left_out) if left_out else pd.Series(dtype=str)


def pca_rows(study: Study, z_values: Sequence[int], complementary: Sequence[str]) -> pd.DataFrame:
    """The PCA baseline at ``z_values``: test RMSE on the study's data (role in-distribution) and on each
    complementary data set (role complementary; a set that cannot be loaded is left out)."""
    x_train, _, _ = study.data("train")
    x_test, _, info = study.data("test")
    others = {}
    for name in complementary:
        try:
            others[name] = study.data("test", dataset=name, n=min(1000, study.settings.n_test or 1000))[0]
        except Exception as err:  # noqa: BLE001 (any failure to load a complementary set leaves its column empty)
            print(f"PCA baseline: skipping {name}: {err}")
    test = ("test",)  # a key no data set name can take
    rmse = pca_rmse(x_train, {test: x_test, **others}, z_values)
    rows = []
    for (name, z), value in sorted(rmse.items(), key=lambda item: (item[0][1], item[0][0] != test)):
        if name == test:
            rows.append({"family": "pca", "latent_dim": z, "dataset": study.dataset, "role": "in-distribution",
                         "rmse_mean": value, "data_source": info["source"]})
        else:
            rows.append({"family": "pca", "latent_dim": z, "dataset": name, "role": "complementary",
                         "rmse_mean": value})
    return pd.DataFrame(rows)


class RunSamples:
    """Per-test-sample RMSE of the study's runs (:class:`aelib.report.Samples`): ``test_rmse.npy`` of a trained
    model (kind ``train``) and ``rmse.npy`` of its evaluation on complementary data (kind ``ood``), loaded once
    each."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.cache: dict[Path, np.ndarray] = {}
        self._ood: dict[tuple, Path] | None = None

    def _load(self, path: Path | None) -> np.ndarray | None:
        if path is None or not path.is_file():
            return None
        if path not in self.cache:
            self.cache[path] = np.load(path).astype(np.float64).reshape(-1)
        return self.cache[path]

    def train(self, family: str, z: int, seed: int, depth: int | None = None) -> np.ndarray | None:
        """The trained model's per-test-image RMSE; None when the store has none."""
        depth = None if depth is None or pd.isna(depth) else int(depth)
        spec = self.study.spec(family, int(z), int(seed), depth=depth)
        return self._load(self.study.store.path_for("train", spec.config()) / "test_rmse.npy")

    def ood(self, family: str, z: int, seed: int, dataset: str) -> np.ndarray | None:
        """The trained model's per-image RMSE on complementary data set ``dataset``; None when absent."""
        if self._ood is None:  # every complete ood run once: its model's training config, data set and role
            self._ood = {}
            folder = self.study.store.root / "ood"
            runs = sorted(folder.iterdir(), key=lambda p: (p / "metrics.json").stat().st_mtime
                          if (p / "metrics.json").is_file() else 0) if folder.is_dir() else []
            for run in runs:  # the newest last, so it wins
                if (run / "metrics.json").is_file() and (run / "rmse.npy").is_file():
                    config = json.loads((run / "config.json").read_text())
                    key = (json.dumps(config.get("train"), sort_keys=True, default=str), config.get("dataset"),
                           config.get("role"))
                    self._ood[key] = run / "rmse.npy"
        train = json.dumps(self.study.spec(family, int(z), int(seed)).config(), sort_keys=True, default=str)
        return self._load(self._ood.get((train, dataset, "complementary")))


def ranking_inputs(study: Study) -> dict:
    """The keyword arguments of :func:`aelib.report.ranking_and_comparisons` but ``out``, ``families`` and
    ``chosen_z``: the step tables it ranks (this study's settings) and the per-sample RMSE."""
    return {"sweep_runs": read_current(study, "latent_sweep_runs"), "ood": read_current(study, "ood_rmse"),
            "latent": read_current(study, "latent_quality"), "generative": read_current(study, "generative"),
            "generative_samples": read_current(study, "generative_samples"), "samples": RunSamples(study),
            # PCA's latent measures (deterministic, no setting of its own): the latent ranking's reference
            "pca_latent": read_current(study, "latent_quality_pca", current=False)}


class PCASamples:
    """Per-image RMSE of the PCA baseline (the ``pca_samples`` of :func:`aelib.report.declared_section`): PCA with
    z components fitted on the study's training images (as :func:`pca_rows`), reconstructing the study's test
    set (``dataset`` None: the images of every run's ``test_rmse.npy``) or complementary data set ``dataset``
    loaded as step 05 loaded it (its ``n_eval`` images in ``ood``, the same stratified subset), so that PCA's
    image i is the families' image i. Each PCA is fitted once, each array computed once."""

    def __init__(self, study: Study, ood: pd.DataFrame | None = None) -> None:
        self.study = study
        self.n_eval: dict[str, int] = {}
        if ood is not None and not ood.empty and {"dataset", "role", "n_eval"} <= set(ood):
            comp = ood[(ood["role"] == COMPLEMENTARY) & ood["n_eval"].notna()]
            self.n_eval = {str(d): int(part["n_eval"].mode().iloc[0]) for d, part in comp.groupby("dataset")}
        self._pca: dict[int, PCABaseline | None] = {}
        self._images: dict[str | None, np.ndarray | None] = {}
        self._rmse: dict[tuple[int, str | None], np.ndarray | None] = {}

    def _fitted(self, z: int) -> PCABaseline | None:
        if z not in self._pca:
            x_train = self.study.data("train")[0]
            fits = z <= min(len(x_train), int(np.prod(np.shape(x_train)[1:])))
            self._pca[z] = PCABaseline(z).fit(x_train) if fits else None
        return self._pca[z]

    def _load(self, dataset: str | None) -> np.ndarray | None:
        if dataset not in self._images:
            if dataset is None:
                self._images[dataset] = self.study.data("test")[0]
            elif dataset not in self.n_eval:  # step 05 did not evaluate it: no family values to compare with
                self._images[dataset] = None
            else:
                try:
                    self._images[dataset] = _eval_data(self.study, dataset, COMPLEMENTARY, self.n_eval[dataset])[0]
                except Exception as err:  # noqa: BLE001 (as pca_rows: a set that cannot be loaded has no reference)
                    print(f"PCA per-image baseline: skipping {dataset}: {err}")
                    self._images[dataset] = None
        return self._images[dataset]

    def __call__(self, z: int, dataset: str | None = None) -> np.ndarray | None:
        """PCA's per-image RMSE with ``z`` components on the test set or ``dataset``; None where it has none."""
        key = (int(z), dataset)
        if key not in self._rmse:
            x = self._load(dataset)
            pca = self._fitted(int(z)) if x is not None else None
            self._rmse[key] = None if pca is None else rmse_per_sample(x, pca.reconstruct(x))
        return self._rmse[key]


def declared_inputs(study: Study, ranked: dict) -> dict:
    """The keyword arguments of :func:`aelib.report.declared_section` but ``out``, ``families`` and ``figures``:
    the step tables and the runs' per-image RMSE already read for the ranking (``ranked``, from
    :func:`ranking_inputs`: each file is read once), and PCA's per-image RMSE."""
    names = ("sweep_runs", "ood", "latent", "generative_samples", "samples")
    return {**{name: ranked[name] for name in names}, "pca_samples": PCASamples(study, ranked["ood"])}


def missing_rows(study: Study, families: Sequence[str], chosen_z: Sequence[int]) -> pd.DataFrame:
    """:func:`aelib.report.missing_rows` over the study's tables (its settings only)."""
    tables = {name: read_current(study, name) for name in report.COMPLETENESS_KEYS}
    return report.missing_rows(tables, families, chosen_z)


def failures_table(study: Study) -> pd.DataFrame:
    """Runs that failed: those the store holds as failed, and every failure of the invocation writing the report
    (``aelib.study.failures``: damaged folders, full disks and runs that were retried leave no ``failed.json``)."""
    frame = study.store.failures()
    invocation = os.environ.get(INVOCATION_ENV)
    logged = pd.DataFrame(read_failures(study.out_dir, invocation=invocation) if invocation else [])
    if not logged.empty:
        frame = pd.concat([logged, frame], ignore_index=True)
        frame = frame.drop_duplicates(["run_dir", "error"], keep="first")
    columns = [c for c in ("step", "kind", "family", "latent_dim", "seed", "error") if c in frame]
    return frame[columns] if not frame.empty else frame


def tuning_table(study: Study) -> pd.DataFrame:
    """Step 01's tuning rows of the study's base setting (every candidate); empty when it did not tune."""
    table = read_current(study, "tuning", current=False)
    if table.empty or "base_setting" not in table:
        return pd.DataFrame()
    return table[table["base_setting"].astype(str) == study.settings.base_setting()]


def architecture_best(study: Study) -> pd.DataFrame:
    """Step 01's best depth per family, of the depth search under the study's settings."""
    best = read_current(study, "architecture_best", current=False)
    if "setting" in best and not best.empty:
        best = best[best["setting"] == study.setting("fcae", vary=("depth",))]
    return best


def trained_runs(study: Study, families: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                                                 dict[str, int]]:
    """The sweep's and the depth search's runs, every trained model once (a run shared by steps counts once,
    ``step`` naming them all), and the row count of each table they come from."""
    sweep_runs = read_current(study, "latent_sweep_runs")
    with study.untuned():  # step 01 searches depth before tuning
        arch_runs = read_current(study, "architecture_runs")
    if not sweep_runs.empty:
        sweep_runs = sweep_runs[sweep_runs["family"].isin(families)]
    tuning_runs = read_current(study, "tuning", current=False)
    if not tuning_runs.empty and "base_setting" in tuning_runs:  # a table from before base settings: all its rows
        tuning_runs = tuning_runs[tuning_runs["base_setting"].astype(str) == study.settings.base_setting()]
    if not tuning_runs.empty:  # which candidate a tuning run was, and the depth it used
        tuned = [f"{o}={v:g}" if isinstance(v, (int, float)) else f"{o}={v}"
                 for o, v in zip(tuning_runs["option"], tuning_runs["value"])]
        tuning_runs = tuning_runs.assign(depth=study.depth, tuned=tuned)
    parts = [f.assign(step=label) for f, label in ((arch_runs, "01 architecture"), (tuning_runs, "01 tuning"),
                                                   (sweep_runs, "02 sweep")) if not f.empty]
    trained = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    table_rows = {label: len(f) for f, label in ((arch_runs, "architecture_runs"), (tuning_runs, "tuning"),
                                                (sweep_runs, "latent_sweep_runs")) if not f.empty}
    if not trained.empty:  # a run shared by two steps (the setting holds the depth and options) counts once
        id_cols = [c for c in ("family", "latent_dim", "seed", "setting") if c in trained]
        groups = trained.groupby(id_cols, dropna=False)
        trained["step"] = groups["step"].transform(" + ".join)
        for column in ("tuned", "best_epoch"):  # each table records some of them: keep what any of the rows knows
            if column in trained:
                trained[column] = groups[column].transform("first")
        trained = trained.drop_duplicates(id_cols, keep="last")
    return sweep_runs, arch_runs, trained, table_rows
