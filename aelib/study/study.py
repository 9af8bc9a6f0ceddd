"""A study: where its results go, how its models are trained, and what it ran."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from aelib.architectures import DEFAULT_DEPTH
from aelib.checks import check_int
from aelib.io import atomic_write_csv, atomic_write_json, config_hash
from aelib.models import family_info, list_models, model_options
from aelib.stats import t_interval
from aelib.study.integrity import GuardedRunStore, explain, log_failures
from aelib.study.progress import Progress
from aelib.study.runs import TRAINING_KEYS, TrainSpec, cached_dataset, load_trained
from aelib.study.store import RunResult, exclusive
from aelib.training import TrainConfig

# Seconds to a converged model relative to fcae (each family's ``relative_cost``; the quick profile's latent
# sweep, depth 1, batch 64, two CPU cores; rounded): the time-left estimate, and the order of concurrent runs
# (longest first).
FAMILY_COST = {f: family_info(f).relative_cost for f in list_models()}

# Columns that identify a row of a step's table (the others are measurements).
TABLE_KEYS = ("family", "dataset", "role", "depth", "latent_dim", "seed", "mode", "source", "level", "setting")
# Configuration fields that rows of one setting may differ in (see setting_record).
WITHIN_SETTING = ("latent_dim", "seed")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of a step's grid: its store key, what evaluating it needs besides, and its progress line.

    ``config`` is the run's key in the store (a changed value is another run); ``params`` are
    inputs that do not change the result's identity; ``weight`` is its expected relative cost.
    """

    what: str
    config: dict
    params: dict = dataclasses.field(default_factory=dict)
    weight: float = 1.0


def _describe_spec(spec: TrainSpec) -> str:
    return f"train {spec.family} z={spec.latent_dim} depth={spec.depth} seed={spec.seed}"


class StudyFailures(RuntimeError):
    """Some runs failed; everything else was computed and written."""


def check_families(families: Sequence[str] | str) -> list[str]:
    if isinstance(families, str):
        families = list_models() if families == "all" else [f.strip() for f in families.split(",") if f.strip()]
    families = list(families)
    if not families:
        raise ValueError("Expected at least one family. Received: families=[]")
    for family in families:
        model_options(family)  # ValueError naming the known ones
    return families


def check_latent_sizes(z_values: Iterable[int]) -> list[int]:
    z_values = list(z_values)
    bad = [z for z in z_values if isinstance(z, bool) or not isinstance(z, (int, np.integer)) or z < 1]
    if bad or not z_values:
        raise ValueError(f"Expected latent sizes as integers >= 1. Received: z_values={z_values!r}")
    return [int(z) for z in z_values]


def setting_record(config: dict, data_source: str | None, *, vary: Sequence[str] = ()) -> tuple[str, dict]:
    """The ``setting`` of a trained model and the record it hashes.

    A setting is everything that changes a trained model's result except its
    latent size and seed: the training configuration (family and its options,
    data set, depth, epochs, batch size, learning rate, patience, subset sizes
    and whatever :class:`TrainSpec` holds) without ``latent_dim``, ``seed`` and
    the ``vary`` fields, plus the source the training data came from. Rows of
    one setting may be compared across z and pooled across seeds; rows of
    different settings never are.

    Args:
        config: a run's training configuration (``TrainSpec.config()``).
        data_source: where its training data came from (the run's ``data_source``).
        vary: further fields the rows of a table span (e.g. ``("depth",)``).

    Returns:
        ``(hash, record)``: a 10-hex-digit :func:`config_hash` of ``record``.
    """
    record = {k: v for k, v in config.items() if k not in (*WITHIN_SETTING, *vary)}
    record["data_source"] = data_source
    return config_hash(record), record


def aggregate_seeds(frame: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Mean and 95 % t-interval over seeds for each ``values`` column, per ``keys``
    (and per ``setting`` when the frame has one, so different settings are never pooled)."""
    keys = list(keys) + (["setting"] if "setting" in frame and "setting" not in keys else [])
    rows = []
    for key, part in frame.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key))
        row["n_seeds"] = int(part["seed"].nunique()) if "seed" in part else len(part)
        for value in values:
            if value not in part:
                continue
            mean, low, high = t_interval(part[value].dropna(), finite_only=False, one_value="mean")
            row[value] = mean
            row[f"{value}_ci95_low"] = low
            row[f"{value}_ci95_high"] = high
        rows.append(row)
    return pd.DataFrame(rows)


@dataclasses.dataclass
class Study:
    """Settings shared by the steps of one study and the folders it writes.

    ``out_dir`` holds ``runs/`` (the resumable run store), ``tables/``,
    ``figures/`` and ``provenance/``.
    """

    out_dir: Path
    dataset: str = "mnist"
    depth: int | str = "auto"
    # training settings: their defaults are TrainConfig's (the study's profiles set their own)
    epochs: int = TrainConfig.epochs
    batch_size: int = TrainConfig.batch_size
    learning_rate: float = TrainConfig.learning_rate
    patience: int = TrainConfig.patience
    min_delta: float = TrainConfig.min_delta
    lr_patience: int = TrainConfig.lr_patience
    lr_factor: float = TrainConfig.lr_factor
    validation_fraction: float = TrainConfig.validation_fraction
    n_train: int | None = None
    n_test: int | None = None
    family_options: dict = dataclasses.field(default_factory=dict)
    workers: int | None = None  # training runs at once (worker processes); None: AELIB_WORKERS, else 2 on 2+ cores

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.workers != 1:
            from aelib.study.parallel import share_gpus

            share_gpus()  # before this process loads data onto a GPU: worker processes will share it
        self.training = TrainConfig(**{k: getattr(self, k) for k in TRAINING_KEYS})  # checked here, carried whole
        self.store = GuardedRunStore(self.out_dir / "runs")  # a bad run folder fails that run only
        self.tables = self.out_dir / "tables"
        self.figures = self.out_dir / "figures"
        for folder in (self.tables, self.figures):
            folder.mkdir(parents=True, exist_ok=True)
        unknown = set(self.family_options) - set(list_models())
        if unknown:
            raise ValueError(f"family_options names unknown families: {sorted(unknown)}. Known: {list_models()}")
        self.results: list[RunResult] = []
        self._settings: dict[str, dict] = {}  # setting → the record it hashes, written beside the tables
        self.tuned: dict[str, dict] = {}  # family → options chosen by step 01's tuning (user options win)
        self.tuned_learning_rates: dict[str, float] = {}
        self._use_tuned = True
        self._last_model: tuple = (None, None)  # (key, model) of loaded_model
        self.cache: dict = {}  # what a step's units share within this process (e.g. a loaded classifier)
        self.depth_auto = self.depth == "auto"
        self.depth, self.depth_source = self._resolve_depth(self.depth)
        self.load_tuned()

    @contextlib.contextmanager
    def untuned(self):
        """Specs and settings without the tuned options, as step 01's architecture search uses them."""
        previous, self._use_tuned = self._use_tuned, False
        try:
            yield self
        finally:
            self._use_tuned = previous

    def refresh_depth(self) -> None:
        """Pick up the depth step 01 just found (when the depth is ``"auto"``)."""
        if self.depth_auto:
            self.depth, self.depth_source = self._resolve_depth("auto")

    def base_setting(self) -> str:
        """Hash of the study-wide training settings that a tuning result holds for (no family options)."""
        record = {k: getattr(self, k) for k in ("dataset", "depth", "epochs", "batch_size", "learning_rate", "patience",
                                                "min_delta", "lr_patience", "lr_factor", "validation_fraction",
                                                "n_train", "n_test")}
        record["data_source"] = self.data("train")[2]["source"]
        return config_hash(record)

    def load_tuned(self) -> None:
        """Options (and learning rates) chosen by step 01's tuning under these settings, if it ran."""
        path = self.tables / "tuned_options.csv"
        self.tuned, self.tuned_learning_rates = {}, {}
        if not path.is_file():
            return
        try:
            table = pd.read_csv(path, dtype={"base_setting": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            return
        if table.empty or "base_setting" not in table:
            return
        for row in table[table["base_setting"] == self.base_setting()].itertuples():
            options = json.loads(row.options)
            self.tuned[row.family] = options
            if not pd.isna(row.learning_rate) and float(row.learning_rate) != self.learning_rate:
                self.tuned_learning_rates[row.family] = float(row.learning_rate)

    def _resolve_depth(self, depth) -> tuple[int, str]:
        """``"auto"``: the depth step 01 found best for fcae under these settings, else the seed's 3."""
        if depth != "auto":
            return check_int("depth", depth), "set by the user"
        path = self.tables / "architecture_best.csv"
        if path.is_file():
            try:
                best = pd.read_csv(path, dtype={"setting": str})
                best = best[best["family"] == "fcae"]
                if "setting" in best and not best.empty:
                    self.depth = DEFAULT_DEPTH  # any depth: the setting of architecture_best leaves it out
                    with self.untuned():
                        best = best[best["setting"] == self.setting("fcae", vary=("depth",))]
                if not best.empty:
                    chosen = int(best["best_depth"].iloc[-1])
                    return chosen, "the best mean test RMSE of fcae in step 01 (architecture search)"
            except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
                pass  # an unreadable table falls back to the default below
        return DEFAULT_DEPTH, "the seed study's default; step 01 has not run under these settings"

    def spec(self, family: str, latent_dim: int, seed: int = 0, *, depth: int | None = None,
             options: dict | None = None, learning_rate: float | None = None) -> TrainSpec:
        """The run of ``family`` at ``latent_dim`` and ``seed``: tuned options, then the user's, then ``options``."""
        tuned = self.tuned.get(family, {}) if self._use_tuned else {}
        chosen = {**tuned, **self.family_options.get(family, {}), **(options or {})}
        if learning_rate is None:
            learning_rate = self.tuned_learning_rates.get(family, self.learning_rate) if self._use_tuned else self.learning_rate
        training = self.training if learning_rate == self.learning_rate else \
            dataclasses.replace(self.training, learning_rate=learning_rate)
        return TrainSpec.make(family, latent_dim, options=chosen, dataset=self.dataset,
                              depth=self.depth if depth is None else depth, seed=seed, training=training,
                              n_train=self.n_train, n_test=self.n_test)

    def data(self, split: str, dataset: str | None = None, n: int | None = None):
        dataset = dataset or self.dataset
        if n is None:
            n = self.n_train if split == "train" else self.n_test
        return cached_dataset(dataset, split, n)

    def setting(self, family: str, *, depth: int | None = None, data_source: str | None = None,
                vary: Sequence[str] = ()) -> str:
        """The ``setting`` of ``family``'s models under this study's settings (see :func:`setting_record`).

        ``data_source`` defaults to the current source of the study's training data.
        """
        if data_source is None:
            data_source = self.data("train")[2]["source"]
        config = self.spec(family, 1, depth=depth).config()  # any z: a setting leaves it out
        return self.setting_of(config, data_source, vary=vary)

    def setting_of(self, config: dict, data_source: str | None, *, vary: Sequence[str] = ()) -> str:
        """The setting of a run's configuration (:func:`setting_record`), its record kept for ``tables/settings/``."""
        key, record = setting_record(config, data_source, vary=vary)
        self._settings[key] = record
        return key

    def is_current(self, frame: pd.DataFrame) -> pd.Series:
        """Which rows of ``frame`` were made under this study's settings.

        A row is current when its ``setting`` is :meth:`setting` of its family
        (at its depth where the table has a ``depth`` column). Rows without a
        setting (written before tables recorded one) or of unknown families are not.
        """
        if frame.empty or "setting" not in frame or "family" not in frame:
            return pd.Series(False, index=frame.index, dtype=bool)
        depths = frame["depth"] if "depth" in frame else pd.Series(np.nan, index=frame.index)
        wanted: dict[tuple, str | None] = {}
        current = []
        for family, depth, setting in zip(frame["family"], depths, frame["setting"]):
            depth = None if pd.isna(depth) else int(depth)
            if (family, depth) not in wanted:
                try:
                    wanted[(family, depth)] = self.setting(family, depth=depth)
                except ValueError:  # a family (or option) no longer registered
                    wanted[(family, depth)] = None
            current.append(setting == wanted[(family, depth)])
        return pd.Series(current, index=frame.index, dtype=bool)

    def run_all(self, label: str, items: list[tuple], weights=None, *, raise_if_all_fail: bool = True) -> list[RunResult]:
        """Run ``(description, thunk)`` pairs with progress; failures are kept, not raised.

        ``weights``: the runs' expected relative costs, for the time-left estimate.
        ``raise_if_all_fail``: when every item failed, raise :class:`StudyFailures` naming the causes (False where
        the step goes on without them).
        """
        progress = Progress(len(items), label=label, weights=weights)
        out = []
        for what, thunk in items:
            progress.starting(what)
            try:
                result = thunk()
            except Exception as err:  # an error outside the store's own handling: this item fails, the rest go on
                result = RunResult("step", {"what": what}, self.out_dir, "failed", error=f"{what}: {explain(err)}")
            progress.update(result)
            out.append(result)
        print(progress.summary(), flush=True)
        self.results.extend(out)
        self._after_runs(label, out, raise_if_all_fail=raise_if_all_fail)
        return out

    def train_specs(self, label: str, specs: list[TrainSpec], describe=None) -> list[RunResult]:
        """Train each spec unless complete, with progress (weighted by family cost), ``workers`` at once."""
        from aelib.study.parallel import default_workers, train_runs

        describe = describe or (lambda s: f"train {s.family} z={s.latent_dim} seed={s.seed}")
        weights = [FAMILY_COST.get(spec.family, 1.0) for spec in specs]
        progress = Progress(len(specs), label=label, weights=weights)
        workers = default_workers() if self.workers is None else check_int("workers", self.workers)
        out = train_runs(self.store, specs, progress=progress, describe=describe, weights=weights, workers=workers)
        print(progress.summary(), flush=True)
        self.results.extend(out)
        self._after_runs(label, out)
        return out

    def _after_runs(self, label: str, results: list[RunResult], *, raise_if_all_fail: bool = True) -> None:
        """Log the failed runs (``provenance/failures.jsonl``); when every run failed, raise
        :class:`StudyFailures` with their causes, since the step has nothing to go on with."""
        failed = [r for r in results if r.status == "failed"]
        if failed:
            log_failures(self.out_dir, failed, label=label)
        if not raise_if_all_fail or not results or len(failed) < len(results):
            return
        by_cause: dict[str, list[RunResult]] = {}
        for r in failed:
            by_cause.setdefault(str(r.error), []).append(r)
        causes = "; ".join(f"{error[:300]} [{len(runs)} run(s), e.g. {runs[0].path}]"
                           for error, runs in list(by_cause.items())[:3])
        more = f"; and {len(by_cause) - 3} other cause(s)" if len(by_cause) > 3 else ""
        raise StudyFailures(f"Every run of {label} failed ({len(failed)} run(s)), so the step has nothing to go on "
                            f"with. Cause: {causes}{more}")

    def train_grid(self, label: str, families, z_values, seeds=(0,), depths=None) -> list[RunResult]:
        families = check_families(families)
        z_values = check_latent_sizes(z_values)
        depths = [None] if depths is None else list(depths)
        specs = [self.spec(family, z, seed, depth=depth)
                 for family in families for depth in depths for z in z_values for seed in seeds]
        show_depth = depths != [None]
        return self.train_specs(label, specs, describe=lambda s: f"train {s.family} z={s.latent_dim}"
                                + (f" depth={s.depth}" if show_depth else "") + f" seed={s.seed}")

    def model(self, family: str, latent_dim: int, seed: int = 0, *, depth: int | None = None):
        return load_trained(self.store, self.spec(family, latent_dim, seed, depth=depth))

    def evaluate_grid(self, label: str, kind: str, units: Sequence, evaluate=None, *, table: str | None = None,
                      rows=None, context: Sequence[dict] | None = None, describe=None,
                      raise_if_all_fail: bool = True) -> tuple[pd.DataFrame | None, list[RunResult]]:
        """Run every unit through the run store, with progress and failure isolation, and build its table.

        Args:
            label: the progress label, e.g. ``"04 latent space"``.
            kind: the store kind of the units' runs. ``"train"``: ``units`` are :class:`TrainSpec` and are
                trained (``workers`` at once); otherwise ``units`` are :class:`Unit` and each runs
                ``evaluate(study, unit, run_dir) -> metrics`` unless its run is complete.
            table: the table the runs go into (``tables/<table>.csv``), or None for none.
            rows: ``rows(study, results) -> DataFrame``: the table's rows from complete runs.
            context: per unit, what its table row needs to know besides its run (e.g. which tuning
                candidate it was); kept with the table's list of runs, as ``RunResult.context``.
            describe: the progress line of a training spec (``"train"`` only).
            raise_if_all_fail: when every unit failed, raise :class:`StudyFailures` naming the causes.

        The table is built from the store alone (:meth:`runs_table`): the runs this invocation
        evaluated and those other invocations (shards, Slurm jobs, earlier sessions) evaluated into it.

        Returns:
            ``(table or None, results in the order of units)``.
        """
        if kind == "train":
            results = self.train_specs(label, list(units), describe=describe or _describe_spec)
        else:
            items = [(u.what, functools.partial(self.store.run, kind, u.config, functools.partial(evaluate, self, u)))
                     for u in units]
            results = self.run_all(label, items, [u.weight for u in units], raise_if_all_fail=raise_if_all_fail)
        if table is None:
            return None, results
        if context is not None:
            for result, extra in zip(results, context, strict=True):
                result.context = dict(extra)
        return self.runs_table(table, results, rows), results

    def runs_table(self, name: str, results: Sequence[RunResult], rows) -> pd.DataFrame:
        """``tables/<name>.csv`` rebuilt from the run store: ``rows(study, runs)`` over every complete run
        that any invocation evaluated into ``name``.

        Which runs a table holds is kept in the store (``runs/.tables/<name>/``: one list of run
        folders per set of runs evaluated), never the rows themselves, so every number in a table
        comes from a run's own ``metrics.json`` and files. Runs of different settings (a ``setting``
        column, see :meth:`setting`) are different rows; the rows are sorted by their keys.
        """
        index = self.store.root / ".tables" / name
        ran = {str(r.path.relative_to(self.store.root)): r.context or {} for r in results
               if r.metrics is not None and r.path.is_relative_to(self.store.root)}
        if ran:
            ran = dict(sorted(ran.items()))
            atomic_write_json(index / f"{config_hash(ran)}.json", ran)
        # one process at a time reads the lists and writes the table, so none writes it without another's runs
        with exclusive(index / ".lock", label=f"table {name}"):
            listed: dict[str, dict] = {}
            for path in sorted(index.glob("*.json"), key=lambda p: p.stat().st_mtime_ns):
                try:
                    listed.update(json.loads(path.read_text()))
                except (ValueError, TypeError):
                    continue  # a damaged list is ignored; its runs are still in the store
            runs = []
            for relative, extra in listed.items():
                run = self.store.result_at(self.store.root / relative)
                if run is not None:
                    run.context = extra
                    runs.append(run)
            return self.write_table(name, rows(self, runs))

    def write_table(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Write ``tables/<name>.csv``, rows sorted by their keys (the last row of a key wins), and the
        record of each ``setting`` it names under ``tables/settings/``. An empty frame leaves a table
        that other invocations wrote as it is. Returns what was written."""
        path = self.tables / f"{name}.csv"
        if frame.empty and path.is_file():  # every run failed this time: keep what earlier runs wrote
            try:
                return pd.read_csv(path, dtype={"setting": str})
            except (pd.errors.EmptyDataError, pd.errors.ParserError):
                return frame
        if frame.empty or "family" not in frame:
            atomic_write_csv(path, frame)
            return frame
        for setting in frame["setting"].dropna().unique() if "setting" in frame else ():
            record = self.tables / "settings" / f"{setting}.json"
            if setting in self._settings and not record.is_file():
                atomic_write_json(record, self._settings[setting])
        keys = [c for c in TABLE_KEYS if c in frame]
        frame = frame.drop_duplicates(keys, keep="last").sort_values(keys, kind="stable").reset_index(drop=True)
        atomic_write_csv(path, frame)
        return frame

    def loaded_model(self, family: str, latent_dim: int, seed: int = 0):
        """:meth:`model`, keeping the last one loaded (the units of a grid come model by model)."""
        key = (family, int(latent_dim), int(seed), self.depth, id(self.tuned))
        if self._last_model[0] != key:
            self._last_model = (None, None)  # release the previous model before loading the next
            self._last_model = (key, self.model(family, latent_dim, seed))
        return self._last_model[1]

    def release_models(self) -> None:
        self._last_model = (None, None)

    def failures(self) -> list[RunResult]:
        return [r for r in self.results if r.status == "failed"]

    def record(self, step: str, parameters: dict[str, Any]) -> Path:
        """Write what ran: parameters, library versions, data sources, counts and failures."""
        import keras
        import sklearn
        import tensorflow as tf

        from aelib.study.device import device_info

        sources = {}
        for split in ("train", "test"):
            try:
                sources[split] = self.data(split)[2]
            except Exception as err:  # provenance must not hide the real result
                sources[split] = {"error": str(err)}
        counts = {s: sum(r.status == s for r in self.results) for s in ("complete", "skipped", "failed")}
        info = {
            "step": step,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "parameters": parameters,
            "data_sources": sources,
            "runs": counts,
            "failures": [{"kind": r.kind, "config": r.config, "error": r.error, "path": str(r.path)} for r in self.failures()],
            "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                         "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__},
            "machine": platform.platform(),
            "device": device_info(),  # CPU model, GPUs, TensorFlow's CUDA/cuDNN build
        }
        tag = os.environ.get("AELIB_SHARD_TAG", "")  # a shard's own file (aelib.study.store.invocation_lease)
        if tag:
            info["shard"] = tag.lstrip("-")
        path = self.out_dir / "provenance" / f"{step}{tag}.json"
        atomic_write_json(path, info)
        return path

    def finish(self, step: str, parameters: dict[str, Any]) -> dict:
        """Record the step; raise :class:`StudyFailures` listing failed runs (after all was written)."""
        path = self.record(step, parameters)
        info = json.loads(path.read_text())
        print(f"{step}: {info['runs']}; provenance in {path}")
        if info["failures"]:
            lines = "\n".join(f"  - {f['kind']} {f['config'].get('family')} z={f['config'].get('latent_dim')}: {f['error']}"
                              f" ({f['path']})" for f in info["failures"])
            raise StudyFailures(f"{len(info['failures'])} run(s) failed in {step}:\n{lines}")
        return info
