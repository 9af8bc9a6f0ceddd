"""The report's section on generation judged on samples (step 06's ``generative_samples`` and ``judge`` tables):
writes ``summary/generative_samples.csv`` and ``summary/judge.csv`` and says what they hold."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from aelib.criteria import GENERATIVE
from aelib.report.tables import mark_capped, markdown, over_seeds, write_table

#: The judge's test accuracy docs/methods.md asks for (on MNIST).
JUDGE_TARGET_ACCURACY = 0.98
#: Per-run columns of ``summary/generative_samples.csv`` (those present are kept, in this order).
SAMPLE_COLUMNS = ("family", "latent_dim", "seed", "sampler", "frechet", "precision", "recall", "density", "coverage",
                  "class_entropy", "max_class_share", "n_samples", "n_reference", "k", "n_components",
                  "gmm_converged", "judge_test_accuracy", "setting")
SCORES = ("frechet", "precision", "recall", "density", "coverage", "class_entropy", "max_class_share")


def _judge_text(judge: pd.DataFrame) -> str:
    if judge.empty or "test_accuracy" not in judge or pd.isna(judge["test_accuracy"].iloc[0]):
        return "The judge's accuracy is not recorded (`tables/judge.csv` is missing)."
    row = judge.iloc[-1]
    accuracy = float(row["test_accuracy"])
    verdict = ("meets" if accuracy >= JUDGE_TARGET_ACCURACY else "**falls short of**")
    about = [f"`{row['architecture']}`"] if pd.notna(row.get("architecture")) else []
    if pd.notna(row.get("n_train")) and pd.notna(row.get("n_validation")):
        about.append(f"trained on {int(row['n_train'])} images, {int(row['n_validation'])} more held out for early "
                     "stopping")
    if pd.notna(row.get("epochs_run")) and pd.notna(row.get("best_epoch")):
        about.append(f"stopped by {str(row.get('stopped_by', '')).replace('_', ' ')} after {int(row['epochs_run'])} "
                     f"epochs, best epoch {int(row['best_epoch'])}")
    on = f"the {int(row['n_test'])} real test images" if pd.notna(row.get("n_test")) else "the real test images"
    return (f"The judge (a small CNN{': ' + '; '.join(about) if about else ''}) scores **{accuracy:.4f}** on {on}, "
            f"which {verdict} the {JUDGE_TARGET_ACCURACY:.2f} docs/methods.md asks for.")


def _floor_row(judge: pd.DataFrame) -> dict | None:
    if judge.empty or not any(f"{s}_real" in judge for s in SCORES):
        return None
    row = judge.iloc[-1]
    return {"family": "real (floor)", "latent_dim": "–", "sampler": "training images",
            **{s: row.get(f"{s}_real") for s in SCORES}}


def samples_section(out: Path, samples: pd.DataFrame, judge: pd.DataFrame, capped: set[tuple[str, int]],
                    data: str) -> str:
    """Write ``summary/generative_samples.csv`` (one row per family, z, seed and sampler) and
    ``summary/judge.csv`` (the judge's accuracy and the real-versus-real floor of every score); return the
    report's section: the scores per family, z and sampler (mean over seeds) beside the floor.

    Args:
        out: the summary folder.
        samples: step 06's ``generative_samples`` table (the study's settings); judge: its ``judge`` table.
        capped: (family, z) cells whose training hit the epoch cap (marked); data: the data, for the captions.
    """
    judge = judge if judge is not None else pd.DataFrame()
    if not judge.empty:
        write_table(judge, out / "judge", caption="The judge classifier: its accuracy, and the real-versus-real "
                    "floor of every sample score (real training images against real test images)", data=data)
    title = "## Generative capacity: samples\n\n"
    if samples is None or samples.empty or "sampler" not in samples:
        return title + "_Step 06 has not written generative_samples.csv yet._\n\n" + _judge_text(judge) + "\n"
    per_run = samples[[c for c in SAMPLE_COLUMNS if c in samples]].sort_values(
        ["family", "latent_dim", "sampler", "seed"]).reset_index(drop=True)
    first = per_run.iloc[0]
    k = int(first["k"]) if "k" in per_run and pd.notna(first["k"]) else None
    components = per_run.loc[per_run["sampler"] == "gmm", "n_components"].dropna() if "n_components" in per_run \
        else pd.Series(dtype=float)
    write_table(per_run, out / "generative_samples",
                caption=f"Generated samples scored against real test images in the judge's features "
                        f"(precision, recall, density and coverage with k = {k})", data=data)
    scores = [s for s in SCORES if s in per_run]
    means = per_run.groupby(["family", "latent_dim", "sampler"], sort=True)[scores].mean().reset_index()
    floor = _floor_row(judge)
    shown = mark_capped(means, capped)
    if floor is not None:
        shown = pd.concat([shown, pd.DataFrame([floor])], ignore_index=True)
    n = int(first["n_samples"]) if "n_samples" in per_run else None
    gmm = (f"{int(components.iloc[0])}-component full-covariance Gaussian mixture" if not components.empty
           else "Gaussian mixture")
    figures = "".join(f"\n![{family} {sampler}](../figures/generative_samples_{family}_{sampler}.png)\n"
                      for family, sampler in means[["family", "sampler"]].drop_duplicates().itertuples(index=False))
    return (title + f"Samplers: `gmm`, every family: {n} codes drawn from a {gmm} fitted (EM, seeded) to the "
            "codes of the training images after training (Ghosh et al. 2020), then decoded; `prior`, vae and aae: "
            f"{n} decoded draws from the prior. Scored against the real test images in the judge's penultimate "
            "features: Fréchet distance (lower is better); improved precision and recall (Kynkäänniemi et al. "
            f"2019) and density and coverage (Naeem et al. 2020), k-NN balls with k = {k} (higher is better; "
            "density ≈ 1 for samples spread like the real data); the class spread of the judge's predictions "
            "(entropy normalised by log 10, 1 = every class equally often; largest class share). Precision alone "
            "does not reveal collapse: a decoder that emits one plausible image has precision near 1, and recall, "
            "coverage and class entropy near 0. The last row is "
            f"the real-versus-real floor at the same n: {n} real training images against the real test images. "
            f"The ranking's generative criterion is the `{GENERATIVE['score']}` of the `{GENERATIVE['sampler']}` "
            f"sampler. Each value is the {over_seeds(per_run)}; every run in `summary/generative_samples.csv`, "
            "the judge in `summary/judge.csv`.\n\n" + _judge_text(judge) + "\n\n" + markdown(shown) + figures)
