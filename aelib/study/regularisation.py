"""The regularisers, shown at work (docs/methods.md §1, "Tuning that keeps the regulariser").

- :func:`path`: the regularisation path of step 01's tuning. For every candidate of a family's grid at the
  tuning z: its validation RMSE (and its ratio to the unregularised model's, with the tolerance of the tuning
  rule), a latent measure — the accuracy of a k-NN probe fitted on the training codes and scored on the
  validation codes — and the family's own activity measures (:mod:`aelib.metrics.regularisers`), all on the
  validation split. ``tables/regularisation_path.csv`` and ``figures/regularisation_path``.
- :func:`activity`: every measure of :mod:`aelib.metrics.regularisers` on the study's trained models (each
  family, z and seed of the latent sweep), beside fcae's at the same z and seed, on a subset of the test
  split. ``tables/regulariser_activity.csv`` (``family, latent_dim, seed, setting, measure, value, fcae_value,
  target``).
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from aelib import plots
from aelib.io import config_hash
from aelib.metrics import regularisers
from aelib.metrics.reconstruction import rmse_per_sample
from aelib.study.runs import TrainSpec, load_trained
from aelib.study.study import Study, StudyFailures, Unit, check_families, check_latent_sizes
from aelib.training import validation_split

#: Neighbours of the k-NN probe on validation codes (the k of step 04).
PROBE_K = 7
#: Test images the activity measures use.
ACTIVITY_POINTS = 1000
PATH_KEYS = ["family", "option", "value", "learning_rate", "latent_dim", "seed", "base_setting"]
ACTIVITY_COLUMNS = ["family", "latent_dim", "seed", "setting", "measure", "value", "fcae_value", "target"]


# ----- the regularisation path (step 01) ---------------------------------------------------------------------------
def path(study: Study, specs: Sequence[TrainSpec], tuning: pd.DataFrame, *, tolerance: float) -> pd.DataFrame:
    """Measure every tuning candidate in ``specs`` on the validation split; write the path's table and figure.

    Args:
        specs: the candidates' training specs (one per row of ``tuning`` with an option).
        tuning: the tuning table of the study's base setting (:func:`aelib.study.tuning.tuning_rows`), whose
            validation RMSE, rule columns and choice the path's rows carry.
        tolerance: the tuning rule's tolerance, shaded in the figure.
    """
    if not specs or tuning.empty:
        return pd.DataFrame()
    units = [Unit(f"path {s.family} " + ", ".join(f"{k}={v}" for k, v in s.options if k == _option(tuning, s.family))
                  + f" lr={s.learning_rate:g}",
                  {**s.config(), "measure": "regularisation_path", "k": PROBE_K}, model=s) for s in specs]
    table, _ = study.evaluate_grid("01 regularisation path", "regularisation_path", units, evaluate_path,
                                   table="regularisation_path", rows=functools.partial(path_rows, tuning=tuning),
                                   raise_if_all_fail=False)
    if table is not None and not table.empty:
        path_figure(study, table[table["base_setting"].isin(tuning["base_setting"].unique())], tolerance=tolerance)
    return table


def _option(tuning: pd.DataFrame, family: str) -> str | None:
    options = tuning.loc[tuning["family"] == family, "option"].dropna()
    return options.iloc[0] if len(options) else None


def evaluate_path(study: Study, unit: Unit, run_dir) -> dict:
    """The candidate's validation RMSE, k-NN probe accuracy on validation codes and activity measures."""
    spec = unit.model
    model = load_trained(study.store, spec)
    x_train, y_train, info = study.data("train")
    train_idx, val_idx = validation_split(len(x_train), spec.training.validation_fraction, spec.seed)
    if len(val_idx) == 0:
        raise ValueError("The regularisation path is measured on the validation split, and this study keeps none "
                         f"(validation_fraction={spec.training.validation_fraction}).")
    x_val, y_val = x_train[val_idx], y_train[val_idx]
    from sklearn.neighbors import KNeighborsClassifier

    codes_val = model.encode(x_val)
    knn = KNeighborsClassifier(n_neighbors=unit.config["k"]).fit(model.encode(x_train[train_idx]), y_train[train_idx])
    row = {"val_rmse": float(rmse_per_sample(x_val, model.reconstruct(x_val)).mean()),
           "probe_knn_accuracy": float(knn.score(codes_val, y_val)), "data_source": info["source"]}
    for measure in regularisers.activity(model, x_val, seed=spec.seed):
        row[measure["measure"]] = measure["value"]
    return row


def path_rows(study: Study, results, *, tuning: pd.DataFrame) -> pd.DataFrame:
    """One row per measured candidate: the tuning table's columns for it, then its path measures."""
    measured = pd.DataFrame([{"family": r.config["family"], "latent_dim": r.config["latent_dim"],
                              "seed": r.config["seed"], "learning_rate": r.config["learning_rate"],
                              "setting": study.setting_of({k: v for k, v in r.config.items()
                                                           if k not in ("measure", "k")},
                                                          r.metrics.get("data_source")),
                              **{k: v for k, v in r.metrics.items() if k not in ("val_rmse", "data_source", "seconds")}}
                             for r in results])
    if measured.empty:
        return measured
    keys = ["family", "latent_dim", "seed", "learning_rate", "setting"]
    shown = [c for c in ("option", "value", "val_rmse", "reference_val_rmse", "val_rmse_ratio", "within_tolerance",
                         "chosen", "base_setting") if c in tuning]
    frame = tuning[keys + shown].merge(measured, on=keys, how="inner")
    first = ["family", "option", "value", "learning_rate", "latent_dim", "seed", "setting", *shown[2:]]
    first = list(dict.fromkeys(first))
    return frame[first + sorted(c for c in frame.columns if c not in first)].sort_values(
        ["family", "value", "learning_rate"]).reset_index(drop=True)


def path_figure(study: Study, table: pd.DataFrame, *, tolerance: float) -> None:
    """Per family: validation RMSE relative to the unregularised model's against the strength (grid positions,
    labelled with the values), the rule's tolerance band shaded and its choice ringed; the k-NN probe accuracy
    on the right axis."""
    families = plots.family_sorted(table["family"].unique())
    if not families:
        return
    ncols = min(4, len(families))
    nrows = -(-len(families) // ncols)
    fig, axes = plots.subplots(nrows, ncols, width="full", height=min(plots.MAX_HEIGHT, 2.0 * nrows + 0.6))
    for ax, family in zip(axes.flat, families):
        part = table[table["family"] == family].sort_values("value")
        part = part.loc[part.groupby("value")["val_rmse"].idxmin()]  # each value's best learning rate
        x = np.arange(len(part))
        ratio = part["val_rmse_ratio"].astype(float)
        ax.axhspan(ratio.min() if ratio.min() < 1 else 1.0, 1.0 + tolerance, color="0.9", lw=0, zorder=0)
        ax.axhline(1.0 + tolerance, color="0.5", lw=0.6, ls=":")
        ax.plot(x, ratio, color=plots.family_color(family), marker=plots.family_marker(family))
        chosen = part["chosen"].astype(str) == "True"
        ax.scatter(x[chosen.to_numpy()], ratio[chosen], s=70, facecolors="none", edgecolors="k", lw=1.0, zorder=3,
                   clip_on=False)
        ax.margins(x=0.15, y=0.1)
        ax.set_xticks(x, [f"{v:g}" for v in part["value"]], rotation=45, fontsize="x-small")
        ax.set_xlabel(str(part["option"].iloc[0]))
        ax.set_title(plots.family_label(family), fontsize="small")
        ax.yaxis.set_major_locator(MaxNLocator(4))
        if "probe_knn_accuracy" in part and part["probe_knn_accuracy"].notna().any():
            twin = ax.twinx()
            twin.plot(x, part["probe_knn_accuracy"], color="0.35", lw=0.8, ls="--", marker=".")
            twin.tick_params(labelsize="x-small")
            twin.yaxis.set_major_locator(MaxNLocator(3))
            twin.grid(False)
    for ax in list(axes.flat)[len(families):]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel("val. RMSE / unregularised")
    z = int(table["latent_dim"].iloc[0])
    fig.suptitle(f"Regularisation path at z = {z} ({study.dataset}): validation RMSE relative to the unregularised "
                 f"model (shaded: within {tolerance:.0%}; ringed: the rule's choice), k-NN probe accuracy on "
                 "validation codes dashed (right axis)")
    fig.tight_layout()
    plots.save_figure(fig, study.figures / "regularisation_path")


# ----- activity of the study's models (step 02) ----------------------------------------------------------------------
def activity(study: Study, *, families: Sequence[str] | str, z_values: Sequence[int], seeds: Sequence[int],
             n_points: int = ACTIVITY_POINTS) -> pd.DataFrame:
    """Each regularised family's activity measures at each z and seed, beside fcae's (trained first where the store
    lacks it); writes ``tables/regulariser_activity.csv``. Only models the store holds complete are measured: a
    family run that failed is reported by the step that trained it, not retrained here."""
    families = [f for f in check_families(families) if f in regularisers.MEASURES]
    z_values = check_latent_sizes(z_values)
    complete = lambda spec: study.store.status("train", spec.config()) == "complete"  # noqa: E731
    # the models the sweep trained (a failed one is reported there, not retrained here)
    cells = [(f, z, s) for f in families for z in z_values for s in seeds if complete(study.spec(f, z, s))]
    try:
        study.ensure_models("02 regulariser activity", [study.spec("fcae", z, s) for _, z, s in cells])
    except StudyFailures as err:  # no fcae to compare with: the measures wait for a run that trains it
        print(f"[02 regulariser activity] fcae could not be trained, so nothing is measured: {err}", flush=True)
    cells = [(f, z, s) for f, z, s in cells if complete(study.spec("fcae", z, s))]
    n_used = len(study.data("test", n=n_points)[1])
    units = [Unit(f"regulariser activity {f} z={z} seed={s}",
                  {**study.spec(f, z, s).config(), "measure": "regulariser_activity", "n_points": n_used,
                   "reference": config_hash(study.spec("fcae", z, s).config())},
                  {"n_points": n_points}, model=study.spec(f, z, s))
             for f, z, s in cells]
    if not units:
        return pd.DataFrame(columns=ACTIVITY_COLUMNS)
    table, _ = study.evaluate_grid("02 regulariser activity", "regulariser_activity", units, evaluate_activity,
                                   table="regulariser_activity", rows=activity_rows, raise_if_all_fail=False)
    study.release_models()
    return table


def evaluate_activity(study: Study, unit: Unit, run_dir) -> dict:
    """The family's measures on the test subset, with fcae's of the same z and seed."""
    config = unit.config
    x_test, _, info = study.data("test", n=unit.params["n_points"])
    model = load_trained(study.store, unit.model)
    reference = study.model("fcae", config["latent_dim"], config["seed"])
    rows = regularisers.activity(model, x_test, reference=reference, seed=config["seed"])
    return {"measures": rows, "data_source": info["source"]}


def activity_rows(study: Study, results) -> pd.DataFrame:
    rows = []
    for r in results:
        setting = study.setting_of({k: v for k, v in r.config.items() if k not in ("measure", "n_points", "reference")},
                                   r.metrics.get("data_source"))
        for measure in r.metrics.get("measures", []):
            rows.append({"family": r.config["family"], "latent_dim": r.config["latent_dim"], "seed": r.config["seed"],
                         "setting": setting, **measure})
    return pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)
