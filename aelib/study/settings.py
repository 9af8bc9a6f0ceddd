"""A study's settings, resolved once: which models its steps train and analyse, and where each choice came from.

:class:`StudySettings` is frozen. It holds the user's options (data set, subset sizes, training fields,
family options) and what step 01 decided under them (the depth and each family's tuned options), read
from ``tables/`` once, when the settings are resolved. A notebook prints :meth:`StudySettings.describe`,
so its output says exactly which models it analysed; nothing later re-reads the tables behind its back.
"""
from __future__ import annotations

import dataclasses
import json
import types
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from aelib.architectures import DEFAULT_DEPTH
from aelib.checks import check_int
from aelib.data.catalog import DEFAULT_DATASET, NUM_CLASSES, min_training_size
from aelib.io import config_hash
from aelib.models import list_models, model_options
from aelib.study.runs import TrainSpec, cached_dataset
from aelib.training import TRAINING_FIELDS, TrainConfig

# Configuration fields that rows of one setting may differ in (see setting_record).
WITHIN_SETTING = ("latent_dim", "seed")
# The user's options a study takes besides the training fields: the keyword arguments of resolve().
STUDY_FIELDS = ("dataset", "depth", "n_train", "n_test", "family_options")
#: Every option a study is made from (its constructor's keywords, a notebook's study parameters).
OPTIONS = (*STUDY_FIELDS, *TRAINING_FIELDS)

DEPTH_FROM_USER = "set by the user"
DEPTH_FROM_SEARCH = "the lowest mean validation RMSE of fcae in step 01's depth search"
DEPTH_DEFAULT = "the seed study's default; step 01 has not run under these settings"
TUNED_NONE = "none: step 01's tuning has not run under these settings"


def check_families(families: Sequence[str] | str) -> list[str]:
    """Family keys from a list or a comma-separated string (``"all"``: every registered family)."""
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


def check_training_size(dataset: str, n_train: int, validation_fraction: float) -> int:
    """``n_train`` if its validation split can hold every class of ``dataset`` (one image each), else ValueError.

    Early stopping and tuning read the validation split; with fewer images than classes in it, a class is
    missing from what selects every model.
    """
    need = min_training_size(dataset, validation_fraction)
    if n_train < need:
        raise ValueError(f"Expected n_train >= {need} for {dataset}: its validation split (validation_fraction="
                         f"{validation_fraction}) needs at least one image of each of its {NUM_CLASSES[dataset]} "
                         f"classes. Received: n_train={n_train}")
    return n_train


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


def _frozen(mapping: Mapping) -> Mapping:
    return types.MappingProxyType({k: dict(v) if isinstance(v, Mapping) else v for k, v in dict(mapping).items()})


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """What decides a study's models, resolved once (:meth:`resolve`); every step reads it, none changes it.

    Attributes:
        out_dir: the results folder (its ``tables/`` hold step 01's choices).
        dataset, n_train, n_test: the data the models train and are tested on (None: the whole split).
        training: the training fields, checked (:class:`TrainConfig`).
        family_options: the user's options per family; they win over tuned ones.
        data_source: where the training data came from (the loader's ``source``).
        depth, depth_source: the depth of the depth rule, and where it came from.
        depth_auto: whether the depth is step 01's choice (``depth="auto"``) rather than the user's.
        tuned, tuned_learning_rates: step 01's choices per family under these settings (empty when untuned).
        tuned_source: where they came from.
    """

    out_dir: Path
    dataset: str
    n_train: int | None
    n_test: int | None
    training: TrainConfig
    family_options: Mapping[str, Mapping]
    data_source: str
    depth: int
    depth_source: str
    depth_auto: bool
    tuned: Mapping[str, Mapping]
    tuned_learning_rates: Mapping[str, float]
    tuned_source: str

    @classmethod
    def resolve(cls, out_dir: Path | str, *, dataset: str = DEFAULT_DATASET, depth: int | str = "auto",
                n_train: int | None = None, n_test: int | None = None, family_options: Mapping | None = None,
                **training: Any) -> "StudySettings":
        """The settings of a study in ``out_dir``: the user's options, then the depth and tuned options that
        step 01 wrote under them (read once, here).

        Raises:
            ValueError: an unknown training field or family, or a bad value (named with what was received).
        """
        unknown = sorted(set(training) - set(TRAINING_FIELDS))
        if unknown:
            raise ValueError(f"Unknown study option(s) {unknown}. Options a study takes: {', '.join(OPTIONS)}.")
        family_options = dict(family_options or {})
        bad = set(family_options) - set(list_models())
        if bad:
            raise ValueError(f"family_options names unknown families: {sorted(bad)}. Known: {list_models()}")
        train_config = TrainConfig(**training)  # checked here, carried whole
        n_train = None if n_train is None else check_training_size(dataset, check_int("n_train", n_train),
                                                                   train_config.validation_fraction)
        n_test = None if n_test is None else check_int("n_test", n_test)
        data_source = cached_dataset(dataset, "train", n_train)[2]["source"]
        base = cls(out_dir=Path(out_dir), dataset=dataset, n_train=n_train, n_test=n_test, training=train_config,
                   family_options=_frozen(family_options), data_source=data_source, depth=DEFAULT_DEPTH,
                   depth_source=DEPTH_DEFAULT, depth_auto=depth == "auto", tuned=_frozen({}),
                   tuned_learning_rates=_frozen({}), tuned_source=TUNED_NONE)
        if depth != "auto":
            base = dataclasses.replace(base, depth=check_int("depth", depth), depth_source=DEPTH_FROM_USER)
        else:
            searched = base._searched_depth()
            if searched is not None:
                base = dataclasses.replace(base, depth=searched, depth_source=DEPTH_FROM_SEARCH)
        return base._with_tuned()

    def reread(self) -> "StudySettings":
        """The same options resolved again: what step 01 has written since (its depth, then its tuning)."""
        return StudySettings.resolve(self.out_dir, **self.options())

    def options(self) -> dict:
        """The user's options these settings were resolved from (:data:`OPTIONS`)."""
        return {"dataset": self.dataset, "depth": "auto" if self.depth_auto else self.depth, "n_train": self.n_train,
                "n_test": self.n_test, "family_options": {k: dict(v) for k, v in self.family_options.items()},
                **{k: getattr(self.training, k) for k in TRAINING_FIELDS}}

    def untuned(self) -> "StudySettings":
        """These settings without step 01's tuned options (as its depth search and tuning train)."""
        return dataclasses.replace(self, tuned=_frozen({}), tuned_learning_rates=_frozen({}),
                                   tuned_source="none: untuned (step 01's search and tuning candidates)")

    @property
    def tables(self) -> Path:
        return self.out_dir / "tables"

    def spec(self, family: str, latent_dim: int, seed: int = 0, *, depth: int | None = None,
             options: dict | None = None, learning_rate: float | None = None) -> TrainSpec:
        """The run of ``family`` at ``latent_dim`` and ``seed``: tuned options, then the user's, then ``options``."""
        chosen = {**self.tuned.get(family, {}), **self.family_options.get(family, {}), **(options or {})}
        if learning_rate is None:
            learning_rate = self.tuned_learning_rates.get(family, self.training.learning_rate)
        training = self.training if learning_rate == self.training.learning_rate else \
            dataclasses.replace(self.training, learning_rate=learning_rate)
        return TrainSpec.make(family, latent_dim, options=chosen, dataset=self.dataset,
                              depth=self.depth if depth is None else depth, seed=seed, training=training,
                              n_train=self.n_train, n_test=self.n_test)

    def base_setting(self) -> str:
        """Hash of the study-wide training settings that a tuning result holds for (no family options)."""
        record = {"dataset": self.dataset, "depth": self.depth,
                  **{k: getattr(self.training, k) for k in TRAINING_FIELDS},
                  "n_train": self.n_train, "n_test": self.n_test, "data_source": self.data_source}
        return config_hash(record)

    def setting(self, family: str, *, depth: int | None = None, data_source: str | None = None,
                vary: Sequence[str] = ()) -> tuple[str, dict]:
        """``(hash, record)`` of ``family``'s models under these settings (:func:`setting_record`)."""
        config = self.spec(family, 1, depth=depth).config()  # any z: a setting leaves it out
        return setting_record(config, self.data_source if data_source is None else data_source, vary=vary)

    def describe(self) -> str:
        """The resolved settings as lines a notebook prints: which models its steps analyse, and why."""
        lines = [f"Study settings ({self.out_dir}):",
                 f"  data: {self.dataset} from {self.data_source}; n_train={self.n_train}, n_test={self.n_test}",
                 "  training: " + ", ".join(f"{k}={getattr(self.training, k)}" for k in TRAINING_FIELDS),
                 f"  depth: {self.depth} ({self.depth_source})",
                 f"  tuned options: {self.tuned_source}"]
        for family in sorted(set(self.tuned) | set(self.tuned_learning_rates)):
            lr = self.tuned_learning_rates.get(family)
            lines.append(f"    {family}: {json.dumps(dict(self.tuned.get(family, {})), sort_keys=True)}"
                         + (f", learning_rate={lr:g}" if lr is not None else ""))
        for family, options in sorted(self.family_options.items()):
            lines.append(f"  user options {family}: {json.dumps(dict(options), sort_keys=True)} (win over tuned)")
        return "\n".join(lines)

    def record(self) -> dict:
        """The resolved settings as plain data (for provenance)."""
        return {**self.options(), "depth": self.depth, "depth_source": self.depth_source,
                "data_source": self.data_source, "tuned_source": self.tuned_source,
                "tuned": {k: dict(v) for k, v in self.tuned.items()},
                "tuned_learning_rates": dict(self.tuned_learning_rates)}

    def _read_table(self, name: str, **dtypes) -> pd.DataFrame | None:
        path = self.tables / f"{name}.csv"
        if not path.is_file():
            return None
        try:
            return pd.read_csv(path, dtype=dtypes or None)
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            return None  # an unreadable table counts as not written

    def _searched_depth(self) -> int | None:
        """The depth step 01's search found best for fcae under these settings (any depth: its setting omits it)."""
        best = self._read_table("architecture_best", setting=str)
        if best is None or "setting" not in best or "family" not in best or "best_depth" not in best:
            return None
        wanted = self.untuned().setting("fcae", vary=("depth",))[0]
        best = best[(best["family"] == "fcae") & (best["setting"] == wanted)]
        return None if best.empty else int(best["best_depth"].iloc[-1])

    def _with_tuned(self) -> "StudySettings":
        """These settings with the options step 01's tuning chose under them, if it ran."""
        table = self._read_table("tuned_options", base_setting=str)
        if table is None or table.empty or "base_setting" not in table:
            return self
        base = self.base_setting()
        tuned, rates = {}, {}
        for row in table[table["base_setting"] == base].itertuples():
            tuned[row.family] = json.loads(row.options)
            if not pd.isna(row.learning_rate) and float(row.learning_rate) != self.training.learning_rate:
                rates[row.family] = float(row.learning_rate)
        if not tuned:
            return self
        return dataclasses.replace(self, tuned=_frozen(tuned), tuned_learning_rates=_frozen(rates),
                                   tuned_source=f"tables/tuned_options.csv (step 01's tuning, base setting {base})")
