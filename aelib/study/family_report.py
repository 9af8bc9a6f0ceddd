"""One family through the methodology: what its notebook (``notebooks/models/<family>.ipynb``) shows.

A :class:`FamilyReport` reads what the study computed for one family: the step tables (``tables/``, this
study's settings only), the runs the tables were built from (the images the steps kept: reconstructions,
UMAP views, decoded perturbed codes, samples) and the summary's ranking (``summary/``). Where a step's table
lacks some of the family's (z, seed) cells, it runs that step's ``run(study, families=[family], ...)`` first,
so missing models train through the study's own machinery (worker pool, progress, run store) and a notebook
opened alone, on Colab say, works. The step's parameters other than z and seeds are the profile's, so its
runs are the study's own (same keys: nothing is redone); the figures the step draws then go to
``figures/models/<family>/steps/``, never over the study's. Its own figures go to ``figures/models/<family>/``
and are shown inline in a notebook.

Which z each part shows: a step whose profile grid is the sweep's takes every z of ``z_values``; a step with a
narrower grid (generation at z = 2 and 40, UMAP at 2, 40 and 100) the part of its grid within ``z_values``.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from aelib import criteria, plots
from aelib.io import config_hash
from aelib.models import build_model
from aelib.study import steps
from aelib.study.planning import MODEL_NOTEBOOK_STEP
from aelib.study.profiles import MATCHED_PARAMETERS, step_parameters
from aelib.study.study import Study, StudyFailures, aggregate_seeds, check_families, check_latent_sizes

#: The table each step the family notebook reads writes, and the store kind of its runs.
STEP_TABLES = {"02_latent_sweep": ("latent_sweep_runs", "train"),
               "03_reconstruction": ("reconstruction_spread", "reconstruction"),
               "04_latent_space": ("latent_quality", "latent"),
               "05_ood_reconstruction": ("ood_rmse", "ood"),
               "06_generative": ("generative", "generative")}
#: The generative step's table of generated samples (decoded draws from a Gaussian mixture fitted to the training
#: codes, and from the prior), one row per (family, z, seed, sampler); the real-data floors are tables/judge.csv.
SAMPLES_TABLE = "generative_samples"
#: Its scores (lower Fréchet distance, higher precision, recall, density and coverage are better).
SAMPLE_SCORES = ("frechet", "precision", "recall", "density", "coverage", "class_entropy", "max_class_share")
LATENT_KEYS = ("k", "n_points", "umap")  # what a latent-space run adds to its model's key


def _display(obj) -> None:
    """Show ``obj`` in a notebook (nothing outside IPython)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    if get_ipython() is not None:
        display(obj)


class FamilyReport:
    """One family of a study, part by part (each method draws its figures and returns its numbers).

    Args:
        study: the study (its settings decide the models).
        family: the registry key.
        profile: whose step parameters (``step_parameters``) the steps run with.
        z_values: latent sizes; seeds: training seeds.
        step_options: per step, parameters that differ from the profile's, e.g.
            ``{"06_generative": {"n_samples": 200}}`` (they change the runs' keys: the study's runs are not reused).
    """

    def __init__(self, study: Study, family: str, *, profile: str, z_values: Sequence[int], seeds: Sequence[int],
                 step_options: dict | None = None) -> None:
        (self.family,) = check_families([family])
        self.study = study
        self.profile = profile
        step_parameters(profile, MODEL_NOTEBOOK_STEP)  # an unknown profile fails here, naming the known ones
        self.z_values = check_latent_sizes(z_values)
        self.seeds = [int(s) for s in seeds]
        if not self.seeds or min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"Expected distinct training seeds >= 0. Received: seeds={list(seeds)!r}")
        self.step_options = dict(step_options or {})
        unknown = sorted(set(self.step_options) - set(STEP_TABLES))
        if unknown:
            raise ValueError(f"Expected step_options for the steps {', '.join(STEP_TABLES)}. Received: {unknown}")
        self.folder = study.out_dir / "figures" / "models" / self.family
        self.ran: list[str] = []  # the steps this report ran (cells missing from their tables)

    # ------------------------------------------------------------------ the steps' runs

    def step_params(self, step: str) -> dict:
        """The keyword arguments of ``step``'s ``run`` for this family: the profile's, this report's z and seeds,
        then ``step_options``."""
        profile = step_parameters(self.profile, step)
        sweep_grid = step_parameters(self.profile, MODEL_NOTEBOOK_STEP)["z_values"]
        grid = profile.get("z_values", sweep_grid)
        inside = [z for z in grid if z in self.z_values]
        params = {**profile, "families": [self.family], "seeds": self.seeds,
                  "z_values": self.z_values if grid == sweep_grid or not inside else inside}
        if "grid_seed" in params and params["grid_seed"] not in self.seeds:
            params["grid_seed"] = self.seeds[0]
        for name in MATCHED_PARAMETERS:  # the sweep's matched-capacity runs are not this family's story
            params.pop(name, None)
        params.update(self.step_options.get(step, {}))
        taken = set(inspect.signature(steps.module(step).run).parameters) - {"study"}
        return {k: v for k, v in params.items() if k in taken}

    def cells(self, step: str) -> set[tuple[int, int]]:
        """The (z, seed) cells of ``step`` this report needs."""
        params = self.step_params(step)
        seeds = [params["grid_seed"]] if "grid_seed" in params and "seeds" not in params else params["seeds"]
        return {(int(z), int(s)) for z in params["z_values"] for s in seeds}

    def rows(self, step_or_table: str) -> pd.DataFrame:
        """This family's rows of a step's table (or of table ``step_or_table``) under the study's settings."""
        name = STEP_TABLES[step_or_table][0] if step_or_table in STEP_TABLES else step_or_table
        path = self.study.tables / f"{name}.csv"
        try:
            frame = pd.read_csv(path, dtype={"setting": str})
        except (FileNotFoundError, pd.errors.EmptyDataError):
            return pd.DataFrame()
        if frame.empty or "family" not in frame:
            return pd.DataFrame()
        frame = frame[frame["family"] == self.family]
        return frame[self.study.is_current(frame)].reset_index(drop=True)

    def ensure(self, step: str, table: str | None = None) -> pd.DataFrame:
        """This family's rows of ``step``'s table (or of another ``table`` the step writes); runs the step for this
        family first when some of its (z, seed) cells are missing (nothing is redone: the run store skips what
        is complete)."""
        table = table or STEP_TABLES[step][0]
        have = self.rows(table)
        found = set(zip(have["latent_dim"].astype(int), have["seed"].astype(int))) if not have.empty else set()
        missing = sorted(self.cells(step) - found)
        if not missing:
            return have
        print(f"{steps.get(step).title}: {self.family} lacks {len(missing)} cell(s) (z, seed) {missing} in "
              f"tables/{table}.csv; running the step for {self.family}.", flush=True)
        self.ran.append(step)
        figures, self.study.figures = self.study.figures, self.folder / "steps"  # the study's figures stay as they are
        try:
            steps.module(step).run(self.study, **self.step_params(step))
        except StudyFailures as err:  # every run failed; study.finish lists them at the end of the notebook
            print(f"{step} failed for {self.family}: {err}", flush=True)
        finally:
            self.study.figures = figures
        return self.rows(table)

    def runs(self, step_or_table: str) -> list:
        """The complete runs listed for a step's table (or table ``step_or_table``) that analysed this family's
        models under the study's settings, as :class:`RunResult` (config, metrics, folder)."""
        name, kind = STEP_TABLES.get(step_or_table, (step_or_table, None))
        index = self.study.store.root / ".tables" / name
        listed: dict[str, Any] = {}
        for path in sorted(index.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if index.is_dir() else ():
            with contextlib.suppress(ValueError, OSError):
                listed.update(json.loads(path.read_text()))
        keys, out = {}, []
        for relative in listed:
            run = self.study.store.result_at(self.study.store.root / relative)
            if run is None or run.config.get("family") != self.family:
                continue
            model = run.config.get("train")
            if model is None:  # a training run, or a latent run holding its model's key beside its own fields
                model = {k: v for k, v in run.config.items() if k not in LATENT_KEYS}
            cell = (int(run.config["latent_dim"]), int(run.config["seed"]))
            if cell not in keys:
                keys[cell] = config_hash(self.study.spec(self.family, *cell).config())
            if config_hash(model) == keys[cell]:
                out.append(run)
        return out

    def _show(self, fig, name: str) -> Path:
        """Save ``fig`` as ``figures/models/<family>/<name>.png`` and ``.pdf``; show it in a notebook."""
        png = plots.save_figure(fig, self.folder / name)[0]
        with contextlib.suppress(ImportError):
            from IPython.display import Image

            _display(Image(filename=str(png)))
        return png

    @property
    def label(self) -> str:
        return plots.family_label(self.family)

    # ------------------------------------------------------------------ the parts of the notebook

    def architecture(self) -> pd.DataFrame:
        """The family's models at each z (untrained, from the study's settings): parameter count, the
        autoencoder's share (without discriminators), the effective bottleneck and widths; the layers at one z."""
        rows, shown = [], None
        x_shape = self.study.data("train")[0].shape[1:]
        for z in self.z_values:
            spec = self.study.spec(self.family, z, self.seeds[0])
            model = build_model(self.family, input_shape=x_shape, latent_dim=z, depth=spec.depth, seed=spec.seed,
                                **dict(spec.options))
            rows.append({"latent_dim": z, "n_params": int(model.count_params()),
                         "autoencoder_params": int(model.autoencoder_params()),
                         "effective_bottleneck": int(model.effective_bottleneck()),
                         "widths_rule": getattr(model, "widths_rule_used", None),
                         "depth": spec.depth, "options": json.dumps(dict(spec.options), sort_keys=True)})
            if shown is None or z == sorted(self.z_values)[len(self.z_values) // 2]:
                shown = (z, model)
        z, model = shown
        print(f"{self.label} ({self.family}) at z = {z}, depth {rows[0]['depth']}: its networks layer by layer.")
        for part in ("encoder", "decoder", *(f"auxiliary {i}" for i in range(len(model.auxiliary_networks())))):
            network = getattr(model, part, None) if not part.startswith("auxiliary") \
                else model.auxiliary_networks()[int(part.split()[1])]
            if network is None:
                continue
            layers = pd.DataFrame([{"layer": layer.name, "type": type(layer).__name__,
                                    "output shape": str(tuple(getattr(layer, "output", None).shape)
                                                        if hasattr(layer, "output") else ""),
                                    "parameters": int(layer.count_params())} for layer in network.layers])
            print(f"\n{part} ({int(network.count_params()):,} parameters)")
            if _in_notebook():
                _display(layers)
            else:
                print(layers.to_string(index=False))
        return pd.DataFrame(rows)

    def rmse_against_z(self) -> pd.DataFrame:
        """Test RMSE against z (log axis; mean over seeds, 95 % interval) beside PCA and the mean image."""
        runs = self.ensure("02_latent_sweep")
        if runs.empty:
            print("No training runs of this family under these settings.")
            return runs
        table = aggregate_seeds(runs, ["family", "latent_dim"], ["rmse_mean"])
        extra = [c for c in ("pca_rmse", "mean_image_rmse", "n_params", "epochs_run") if c in runs]
        table = table.merge(runs.groupby("latent_dim", as_index=False)[extra].mean(), on="latent_dim", how="left")
        shown = table.assign(family=self.family)
        if "pca_rmse" in table:
            pca = table[["latent_dim", "pca_rmse"]].rename(columns={"pca_rmse": "rmse_mean"}).assign(family="pca")
            shown = pd.concat([shown, pca], ignore_index=True)
        fig = plots.curve_by_family(shown, x="latent_dim", y="rmse_mean", low="rmse_mean_ci95_low",
                                    high="rmse_mean_ci95_high", xlabel="latent size z (log)", ylabel="test RMSE",
                                    title=f"{self.label}: test RMSE against z ({_over(table)})")
        if "mean_image_rmse" in table:
            fig.axes[0].axhline(float(table["mean_image_rmse"].mean()), color="0.4", lw=0.8, ls=":",
                                label="mean image")
            plots.figure_legend(fig)
        self._show(fig, "rmse_vs_z")
        return table.drop(columns=["family", "setting"], errors="ignore")

    def reconstructions(self) -> pd.DataFrame:
        """Originals and their reconstructions for each z (the models of step 03's seed), and the spread of
        per-image RMSE."""
        spread = self.ensure("03_reconstruction")
        runs = {int(r.config["latent_dim"]): r for r in self.runs("03_reconstruction")
                if (int(r.config["latent_dim"]), int(r.config["seed"])) in self.cells("03_reconstruction")}
        if not runs:
            print("No reconstruction runs of this family under these settings.")
            return spread
        x_test = self.study.data("test")[0]
        first = runs[min(runs)]
        rows = [x_test[first.config["picks"]]] + [np.load(runs[z].path / "reconstructions.npy") for z in sorted(runs)]
        fig = plots.image_grid(rows, ["original", *(f"z={z}" for z in sorted(runs))],
                               title=f"{self.label}: test images and their reconstructions "
                                     f"(seed {first.config['seed']})")
        self._show(fig, "reconstructions")
        return spread.drop(columns=["family", "setting"], errors="ignore")

    def umap(self) -> None:
        """The codes of the test points at the UMAP sizes, coloured by class (UMAP above z = 2)."""
        self.ensure("04_latent_space")
        views = [r for r in self.runs("04_latent_space")
                 if r.config.get("umap") and (r.path / "embedding.npy").is_file()]
        panels = [{"family": self.family, "z": int(r.config["latent_dim"]), "labels": np.load(r.path / "labels.npy"),
                   "embedding": np.load(r.path / "embedding.npy"),
                   "how": "codes" if int(r.config["latent_dim"]) <= 2 else "UMAP of codes"} for r in views]
        if not panels:
            umap_z = self.step_params("04_latent_space")["umap_z"]
            print(f"No UMAP view of this family: the profile draws z = {umap_z}, none of them in z_values = "
                  f"{self.z_values}.")
            return
        panels = sorted({p["z"]: p for p in panels}.values(), key=lambda p: p["z"])
        self._show(embedding_row(panels, title=f"{self.label}: test codes coloured by class "
                                               f"(seed {self.step_params('04_latent_space')['seeds'][0]})"),
                   "latent_umap")

    def latent_measures(self) -> pd.DataFrame:
        """The five projection measures against z (mean over seeds with a 95 % t-interval), the other families'
        means in grey behind."""
        rows = self.ensure("04_latent_space")
        measures = [m for m in criteria.LATENT_MEASURES if m in rows]
        if rows.empty or not measures:
            print("No latent-space measures of this family under these settings.")
            return rows
        table = aggregate_seeds(rows, ["family", "latent_dim"], measures)
        others = _read(self.study.tables / f"{STEP_TABLES['04_latent_space'][0]}.csv")
        if not others.empty:
            others = others[(others["family"] != self.family) & self.study.is_current(others)]
        fig, axes = plots.subplots(2, 3, width="full", height=4.6, constrained=True)
        for ax, measure in zip(axes.flat, measures):
            for _, part in others.groupby("family") if not others.empty else ():
                mean = part.groupby("latent_dim")[measure].mean()
                ax.plot(mean.index, mean.values, color="0.8", lw=0.8, label="other families")
            plots.curve_by_family(table, x="latent_dim", y=measure, low=f"{measure}_ci95_low",
                                  high=f"{measure}_ci95_high", ax=ax, xlabel="z (log)", ylabel="",
                                  title=measure.replace("_", " ") + (" ↑" if criteria.LATENT_MEASURES[measure]
                                                                     else " ↓"))
        for ax in list(axes.flat)[len(measures):]:
            ax.set_visible(False)
        fig.suptitle(f"{self.label}: the latent space as a projection of the images ({_over(table)}; "
                     "↑ higher is better)")
        plots.figure_legend(fig, axes.flat[:len(measures)], loc="outside lower center", ncol=3)
        self._show(fig, "latent_measures_vs_z")
        return pd.DataFrame([{"measure": m, "better": "higher" if criteria.LATENT_MEASURES[m] else "lower",
                              "latent_dim": row["latent_dim"], "n_seeds": row["n_seeds"], "mean": row[m],
                              "ci95_low": row[f"{m}_ci95_low"], "ci95_high": row[f"{m}_ci95_high"]}
                             for m in measures for _, row in table.iterrows()])

    def complementary(self) -> pd.DataFrame:
        """RMSE against z on the study's test data and on each complementary data set; their images."""
        rows = self.ensure("05_ood_reconstruction")
        if rows.empty:
            print("No complementary-data runs of this family under these settings.")
            return rows
        stand_in = rows["stand_in"].astype(str) == "True" if "stand_in" in rows else [False] * len(rows)
        rows = rows.assign(label=[f"{d} (test split, trained on)" if role == "in-distribution"
                                  else f"{d} (stand-in)" if s else d
                                  for d, role, s in zip(rows["dataset"], rows["role"], stand_in)])
        table = aggregate_seeds(rows, ["label", "role", "latent_dim"], ["rmse_mean", "auroc"])
        fig = plots.curve_by_family(table, x="latent_dim", y="rmse_mean", low="rmse_mean_ci95_low",
                                    high="rmse_mean_ci95_high", hue="label", xlabel="latent size z (log)",
                                    ylabel="RMSE", title=f"{self.label} trained on {self.study.dataset}: RMSE in "
                                                         f"and out of distribution ({_over(table)})")
        self._show(fig, "ood_rmse_vs_z")
        seed = self.step_params("05_ood_reconstruction")["seeds"][0]
        runs = [r for r in self.runs("05_ood_reconstruction") if r.config["role"] != "in-distribution"
                and int(r.config["seed"]) == seed and int(r.config["latent_dim"]) in self.z_values]
        for dataset in sorted({r.config["dataset"] for r in runs}):
            shown = sorted((r for r in runs if r.config["dataset"] == dataset), key=lambda r: r.config["latent_dim"])
            with np.load(shown[0].path / "examples.npz") as first:
                images = [first["original"]]
            for run in shown:
                with np.load(run.path / "examples.npz") as saved:
                    images.append(saved["reconstruction"])
            fig = plots.image_grid(images, ["original", *(f"z={r.config['latent_dim']}" for r in shown)],
                                   title=f"{self.label} on {shown[0].metrics.get('label', dataset)} (seed {seed})")
            self._show(fig, f"ood_reconstructions_{dataset}")
        return table.drop(columns=["setting"], errors="ignore")

    def perturbation(self) -> pd.DataFrame:
        """Decoded perturbed codes for p from 0 to 100 % at the generation sizes, and RMSE to the originals
        against p for each perturbation form (smoothness and robustness of the decoder, not generation)."""
        rows = self.ensure("06_generative")
        rows = rows[rows["source"] == "perturbed"] if not rows.empty else rows
        if rows.empty:
            print("No perturbation runs of this family under these settings.")
            return rows
        table = aggregate_seeds(rows, ["mode", "latent_dim", "level"], ["rmse_mean"])
        zs = sorted(table["latent_dim"].unique())
        fig, axes = plots.subplots(1, len(zs), width="full", height=2.8, constrained=True, sharey=True)
        for ax, z in zip(axes.flat, zs):
            plots.curve_by_family(table[table["latent_dim"] == z], x="level", y="rmse_mean", low="rmse_mean_ci95_low",
                                  high="rmse_mean_ci95_high", hue="mode", logx=False, ax=ax, title=f"z = {z}",
                                  xlabel="maximum perturbation p",
                                  ylabel="RMSE to the original" if ax is axes.flat[0] else "")
        fig.suptitle(f"{self.label}: decoded perturbed codes (relative z·(1+u), additive z + u·σ; u ~ U(−p, p); "
                     f"{_over(table)})")
        plots.figure_legend(fig, loc="outside lower center", ncol=2)
        self._show(fig, "perturbation_rmse_vs_p")
        seed = min(int(s) for s in rows["seed"])
        for run in sorted(self.runs("06_generative"), key=lambda r: (r.config["latent_dim"], r.config.get("mode", ""))):
            config = run.config
            drawn = config.get("source") == "perturbed" and int(config["seed"]) == seed
            if not drawn or not (run.path / "grid.npy").is_file():
                continue
            grid = np.load(run.path / "grid.npy")
            labels = ["original", *(f"p={100 * p:.0f}%" for p in config["levels"])]
            fig = plots.image_grid(list(grid), labels, title=f"{self.label}, z = {config['latent_dim']}: decoded "
                                                             f"perturbed codes ({config['mode']}, seed {seed})")
            self._show(fig, f"perturbation_grid_z{config['latent_dim']}_{config['mode']}")
        return table.drop(columns=["setting"], errors="ignore")

    def samples(self) -> pd.DataFrame:
        """Generated samples: draws decoded from a density fitted to the training codes (``gmm``) and, for a family
        with a prior, from the prior; their scores against real test images in the judge classifier's features,
        with the real-versus-real floor of each score (``tables/judge.csv``) in the last row."""
        rows = self.ensure("06_generative", SAMPLES_TABLE)
        if rows.empty or "sampler" not in rows:
            print(f"No tables/{SAMPLES_TABLE}.csv rows of {self.family} under these settings: the generative step "
                  "that made this study's runs did not sample (its perturbation curves are above).")
            return rows
        scores = [c for c in SAMPLE_SCORES if c in rows]
        table = aggregate_seeds(rows, ["sampler", "latent_dim"], scores)
        judge = _read(self.study.tables / "judge.csv")
        if not judge.empty:
            floor = {s: judge[f"{s}_real"].iloc[-1] for s in scores if f"{s}_real" in judge}
            table = pd.concat([table, pd.DataFrame([{"sampler": "real (floor)", **floor}])], ignore_index=True)
        shown = {}
        for run in self.runs(SAMPLES_TABLE):
            if int(run.config["seed"]) == self.seeds[0] and (run.path / "samples.npy").is_file():
                shown.setdefault(int(run.config["latent_dim"]), {})[run.config["sampler"]] = run.path / "samples.npy"
        for z, files in sorted(shown.items()):
            samplers = sorted(files, key=lambda name: (name != "gmm", name))
            fig = plots.image_grid([np.load(files[name]) for name in samplers],
                                   [{"gmm": "GMM on codes"}.get(name, name) for name in samplers],
                                   title=f"{self.label}, z = {z}: decoded samples (seed {self.seeds[0]})")
            self._show(fig, f"samples_z{z}")
        keep = ["sampler", "latent_dim", "n_seeds", *(c for c in table.columns if any(c.startswith(s) for s in scores))]
        return table[[c for c in keep if c in table]]

    def standing(self) -> pd.DataFrame:
        """The family's rank on each criterion of the summary (``summary/ranking_by_criterion.csv``) with its
        95 % bootstrap interval, and one line on its strengths and weaknesses."""
        ranking = _read(self.study.out_dir / "summary" / "ranking_by_criterion.csv")
        if ranking.empty or "family" not in ranking:
            print("No summary/ranking_by_criterion.csv yet: the summary (step 08) has not run on this folder "
                  "(`aelib report --out <folder>` builds it from the runs).")
            return ranking
        ranking = ranking[ranking["rank"].notna()]  # families left out for failed runs and references: not ranked
        n = ranking.groupby("criterion")["family"].nunique()
        mine = ranking[ranking["family"] == self.family].copy()
        if mine.empty:
            print(f"{self.family} is not in the summary's ranking (it ranked {sorted(set(ranking['family']))}).")
            return mine
        mine["of"] = mine["criterion"].map(n)
        mine.insert(0, "criterion (what is ranked)", [criteria.criterion_title(c) for c in mine["criterion"]])
        print(strengths_line(self.label, mine))
        return mine[["criterion (what is ranked)", "value", "better", "rank", "rank_low", "rank_high", "of",
                     "over"]].reset_index(drop=True)


def strengths_line(label: str, ranks: pd.DataFrame) -> str:
    """One sentence from a family's ranks (columns ``criterion``, ``rank``, ``rank_low``, ``rank_high``, ``of``):
    a criterion is a strength when the whole rank interval lies in the best third of the families ranked, a
    weakness when it lies in the worst third; ``(rank 2 of 11, interval 1–3)`` for each."""
    strong, weak, described = [], [], []
    for row in ranks.itertuples(index=False):
        third = max(1, math.ceil(row.of / 3))
        low = row.rank if pd.isna(row.rank_low) else row.rank_low
        high = row.rank if pd.isna(row.rank_high) else row.rank_high
        text = (f"{criteria.criterion_title(row.criterion).lower()} (rank {int(row.rank)} of {int(row.of)}, "
                f"interval {int(low)}–{int(high)})")
        if criteria.criterion_group(row.criterion) in criteria.DESCRIPTORS:
            described.append(text)  # a description of the decoder, not a merit (criteria.DESCRIPTORS)
        elif high <= third:
            strong.append(text)
        elif low > row.of - third:
            weak.append(text)
    parts = [f"strong on {', '.join(strong)}" if strong else "in the best third on no criterion",
             f"weak on {', '.join(weak)}" if weak else "in the worst third on no criterion"]
    tail = f"; descriptors, not merits: {', '.join(described)}" if described else ""
    return (f"{label}: {parts[0]}; {parts[1]}{tail} (rank intervals: 95 % bootstrap, "
            "summary/ranking_by_criterion.csv).")


def embedding_row(panels: Sequence[dict], *, title: str = ""):
    """2-D views of one family's codes side by side, one per z (``z``, ``embedding``, ``labels``, ``how``), points
    coloured by class, one class legend below."""
    fig, axes = plots.subplots(1, len(panels), width="full", height=2.9, constrained=True)
    classes = sorted({int(c) for p in panels for c in np.unique(p["labels"])})
    colors = {c: plots.CLASS_COLORS[i % len(plots.CLASS_COLORS)] for i, c in enumerate(classes)}
    for ax, panel in zip(axes.flat, panels):
        emb = np.asarray(panel["embedding"])
        ax.scatter(emb[:, 0], emb[:, 1], c=[colors[int(c)] for c in panel["labels"]], s=2, alpha=0.8, linewidths=0,
                   rasterized=True)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_title(f"z = {panel['z']} ({panel['how']})", fontsize=plots.MIN_FONT_PT + 1)
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=colors[c], label=str(c)) for c in classes]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, title="class",
               handletextpad=0.1, columnspacing=0.8)
    if title:
        fig.suptitle(title)
    return fig


def _over(table: pd.DataFrame) -> str:
    n = int(table["n_seeds"].max()) if "n_seeds" in table and not table.empty else 1
    return f"mean over {n} training seeds, 95 % t-interval" if n > 1 else "one training seed"


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"setting": str})
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    return get_ipython() is not None
