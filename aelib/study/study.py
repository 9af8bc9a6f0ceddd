"""A study's grid: its units run through the run store (with progress and failure isolation), and its tables.

What the units are made from is :class:`aelib.study.settings.StudySettings`, resolved once; a
:class:`Study` holds those settings, the store and the folders, and runs what a step hands it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from aelib.checks import check_int
from aelib.families import FAMILY_COST
from aelib.io import atomic_write_csv, atomic_write_json, config_hash
from aelib.stats import t_interval
from aelib.study.claims import exclusive
from aelib.study.failures import GuardedRunStore, explain, log_failures
from aelib.study.progress import Progress
from aelib.study.provenance import record_step
from aelib.study.runs import TrainSpec, cached_dataset, load_trained
from aelib.study.settings import OPTIONS, StudySettings, check_families, check_latent_sizes, setting_record
from aelib.study.store import RunResult

# Columns that identify a row of a step's table (the others are measurements).
TABLE_KEYS = ("family", "dataset", "role", "depth", "latent_dim", "seed", "mode", "source", "sampler", "level",
              "measure", "setting")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of a step's grid: its store key, what evaluating it needs besides, and its progress line.

    ``config`` is the run's key in the store (a changed value is another run); ``params`` are
    inputs that do not change the result's identity; ``weight`` is its expected relative cost;
    ``model`` is the trained model it analyses, if any (trained first when the store lacks it).
    """

    what: str
    config: dict
    params: dict = dataclasses.field(default_factory=dict)
    weight: float = 1.0
    model: TrainSpec | None = None


class MissingModel(RuntimeError):
    """An analysis asked for a trained model the run store does not hold."""


def _describe_spec(spec: TrainSpec) -> str:
    return f"train {spec.family} z={spec.latent_dim} depth={spec.depth} seed={spec.seed}"


class StudyFailures(RuntimeError):
    """Some runs failed; everything else was computed and written."""


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


class Study:
    """The grid of one study: its settings (resolved once), its run store, ``tables/`` and ``figures/``.

    ``out_dir`` holds ``runs/`` (the resumable run store), ``tables/``, ``figures/`` and ``provenance/``.
    ``Study(out_dir, **options)`` resolves :class:`StudySettings` from ``options`` (:data:`OPTIONS`);
    ``workers`` is how many training runs go at once (worker processes; None: ``AELIB_WORKERS``, else 2 on
    2+ cores).
    """

    OPTIONS = OPTIONS

    def __init__(self, out_dir: Path | str, *, workers: int | None = None, settings: StudySettings | None = None,
                 **options: Any) -> None:
        if settings is not None and options:
            raise ValueError(f"Expected settings or options, not both. Received options: {sorted(options)}")
        self.workers = workers
        if workers != 1:
            from aelib.study.parallel import share_gpus  # imports TensorFlow's device setup

            share_gpus()  # before this process loads data onto a GPU: worker processes will share it
        self.settings = settings if settings is not None else StudySettings.resolve(out_dir, **options)
        self.out_dir = self.settings.out_dir
        self.store = GuardedRunStore(self.out_dir / "runs")  # a bad run folder fails that run only
        self.tables = self.out_dir / "tables"
        self.figures = self.out_dir / "figures"
        for folder in (self.tables, self.figures):
            folder.mkdir(parents=True, exist_ok=True)
        self.results: list[RunResult] = []
        self._settings: dict[str, dict] = {}  # setting → the record it hashes, written beside the tables
        self._last_model: tuple = (None, None)  # (key, model) of loaded_model
        self.cache: dict = {}  # what a step's units share within this process (e.g. a loaded classifier)

    @property
    def dataset(self) -> str:
        return self.settings.dataset

    @property
    def depth(self) -> int:
        return self.settings.depth

    @contextlib.contextmanager
    def untuned(self):
        """Specs and settings without the tuned options, as step 01's architecture search uses them."""
        previous, self.settings = self.settings, self.settings.untuned()
        try:
            yield self
        finally:
            self.settings = previous

    def reread_settings(self) -> StudySettings:
        """Resolve the settings again from the same options: step 01 calls it after writing its depth and
        its tuned options, so its later stages and the steps in this process use them. Returns them."""
        self.settings = self.settings.reread()
        return self.settings

    def spec(self, family: str, latent_dim: int, seed: int = 0, **kwargs: Any) -> TrainSpec:
        """:meth:`StudySettings.spec`: the run of ``family`` at ``latent_dim`` and ``seed``."""
        return self.settings.spec(family, latent_dim, seed, **kwargs)

    def data(self, split: str, dataset: str | None = None, n: int | None = None):
        dataset = dataset or self.settings.dataset
        if n is None:
            n = self.settings.n_train if split == "train" else self.settings.n_test
        return cached_dataset(dataset, split, n)

    def setting(self, family: str, *, depth: int | None = None, data_source: str | None = None,
                vary: Sequence[str] = ()) -> str:
        """The ``setting`` of ``family``'s models under this study's settings (see :func:`setting_record`),
        its record kept for ``tables/settings/``."""
        key, record = self.settings.setting(family, depth=depth, data_source=data_source, vary=vary)
        self._settings[key] = record
        return key

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
        depths = frame["depth"] if "depth" in frame else pd.Series(float("nan"), index=frame.index)
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

    def run_all(self, label: str, items: list[tuple], weights=None, *,
                raise_if_all_fail: bool = True) -> list[RunResult]:
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
        """The trained model of this study's run of ``family`` at ``latent_dim`` and ``seed``, from the store.

        Never trains: a step's units name their models (``Unit.model``), and :meth:`evaluate_grid` trains the
        missing ones first, through the worker pool, saying so.

        Raises:
            MissingModel: the store holds no complete run of it (naming the run and what to do).
        """
        spec = self.spec(family, latent_dim, seed, depth=depth)
        status = self.store.status("train", spec.config())
        if status != "complete":
            path = self.store.path_for("train", spec.config())
            raise MissingModel(f"No trained model of {family} z={latent_dim} seed={seed} depth={spec.depth} in the "
                               f"run store (its run is {status}: {path}). Train it first: step 02 (latent sweep) "
                               "trains the study's models, or give the analysis unit its model (Unit.model).")
        return load_trained(self.store, spec)

    def ensure_models(self, label: str, specs: Sequence[TrainSpec]) -> list[TrainSpec]:
        """Train, through the worker pool and with progress, the models in ``specs`` the store lacks; says so.

        Returns:
            The specs that were missing.
        """
        wanted = list(dict.fromkeys(specs))
        missing = [s for s in wanted if self.store.status("train", s.config()) != "complete"]
        if missing:
            print(f"[{label}] {len(missing)} of the {len(wanted)} trained model(s) it analyses are not in the run "
                  "store: training them first, through the worker pool.", flush=True)
            self.train_specs(f"{label}: missing models", missing)
        return missing

    def _say_models(self, label: str, specs: Sequence[TrainSpec]) -> None:
        """One line per trained model a step analyses: which run (store key) it is."""
        wanted = list(dict.fromkeys(specs))
        if not wanted:
            return
        print(f"[{label}] analyses {len(wanted)} trained model(s) (run store keys):", flush=True)
        for spec in wanted:
            path = self.store.path_for("train", spec.config())
            print(f"  {spec.family} z={spec.latent_dim} depth={spec.depth} seed={spec.seed}: "
                  f"{path.relative_to(self.out_dir)}", flush=True)

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
            units = list(units)
            self._say_models(label, [u.model for u in units if u.model is not None])
            pending = [u for u in units if u.model is not None and self.store.status(kind, u.config) != "complete"]
            self.ensure_models(label, [u.model for u in pending])
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
        key = config_hash(self.spec(family, latent_dim, seed).config())
        if self._last_model[0] != key:
            self._last_model = (None, None)  # release the previous model before loading the next
            self._last_model = (key, self.model(family, latent_dim, seed))
        return self._last_model[1]

    def release_models(self) -> None:
        self._last_model = (None, None)

    def failures(self) -> list[RunResult]:
        return [r for r in self.results if r.status == "failed"]

    def record(self, step: str, parameters: dict[str, Any]) -> Path:
        """Write what ran (``provenance/<step>.json``): parameters, the resolved settings, versions, data
        sources, counts and failures (:func:`aelib.study.provenance.record_step`)."""
        sources = {}
        for split in ("train", "test"):
            try:
                sources[split] = self.data(split)[2]
            except Exception as err:  # provenance must not hide the real result
                sources[split] = {"error": str(err)}
        return record_step(self.out_dir, step, parameters, settings=self.settings.record(), sources=sources,
                           results=self.results)

    def finish(self, step: str, parameters: dict[str, Any]) -> dict:
        """Record the step; raise :class:`StudyFailures` listing failed runs (after all was written)."""
        path = self.record(step, parameters)
        info = json.loads(path.read_text())
        print(f"{step}: {info['runs']}; provenance in {path}")
        if info["failures"]:
            lines = "\n".join(f"  - {f['kind']} {f['config'].get('family')} z={f['config'].get('latent_dim')}: "
                              f"{f['error']} ({f['path']})" for f in info["failures"])
            raise StudyFailures(f"{len(info['failures'])} run(s) failed in {step}:\n{lines}")
        return info
