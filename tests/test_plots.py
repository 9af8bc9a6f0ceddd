"""Figures at thesis widths: page size of the PDFs, text of at least 8 pt, one style per family."""
import re
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from aelib import plots  # noqa: E402

FAMILIES = list(plots.FAMILY_ORDER[:10])


def test_figures_and_tables_import_without_tensorflow():
    """Family names, colours and markers come from the plain-data aelib.families, not from the models."""
    code = "import sys, aelib.plots, aelib.latex; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def _page_inches(pdf) -> tuple[float, float]:
    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf.read_bytes())
    assert box, f"no page size in {pdf}"
    return float(box.group(1)) / 72, float(box.group(2)) / 72


def _check(fig, stem, *, max_width=6.5, max_height=plots.MAX_HEIGHT):
    """Fit the figure as save_figure does, check every text is >= 8 pt, save it, check the PDF page size."""
    plots.fit_to_page(fig)
    sizes = {t.get_text(): t.get_fontsize() for t in plots._texts(fig)}
    assert sizes, "a figure without text"
    small = {text: size for text, size in sizes.items() if size < plots.MIN_FONT_PT}
    assert not small, f"text below {plots.MIN_FONT_PT} pt: {small}"
    labels = set(sizes)
    paths = plots.save_figure(fig, stem)
    width, height = _page_inches(paths[1])
    assert width <= max_width + 1e-6 and height <= max_height + 0.05, (stem.name, width, height)
    return labels, (width, height)


def test_family_styles_are_distinct_colour_blind_safe_and_named():
    colors = [plots.family_color(f) for f in plots.FAMILY_ORDER]
    markers = [plots.family_marker(f) for f in plots.FAMILY_ORDER]
    assert len(set(colors)) == len(colors) and len(set(markers)) == len(markers)
    # seaborn's "colorblind" palette as recorded (seaborn 0.13), the masked MLP's dark teal, then black for PCA:
    # a change of palette shows here
    assert [matplotlib.colors.to_hex(c) for c in colors] == [
        "#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9",
        "#005f73", "#000000"]
    class_rgb = {matplotlib.colors.to_rgb(c) for c in plots.CLASS_COLORS}
    assert len(class_rgb) == 10 and not class_rgb & {tuple(c) for c in colors}  # classes never look like families
    assert plots.family_label("conae") == "Contractive AE" and plots.family_label("pca (baseline)") == "PCA (baseline)"
    assert plots.family_sorted(["mae", "pca", "vanilla", "other"]) == ["vanilla", "mae", "pca", "other"]
    with pytest.raises(ValueError, match="width"):
        plots.subplots(1, 1, width=12)


def test_curves_at_full_width_with_display_names(tmp_path):
    rows = [{"family": f, "latent_dim": z, "rmse": 0.3 * z ** -0.3 + 0.01 * i, "lo": 0.1, "hi": 0.4}
            for i, f in enumerate(FAMILIES + ["pca"]) for z in (2, 10, 40)]
    fig = plots.curve_by_family(pd.DataFrame(rows), x="latent_dim", y="rmse", low="lo", high="hi",
                                title="A long title about reconstruction error against the latent size, on MNIST")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["Vanilla AE", "Fully connected AE", "Denoising AE"] and legend[-1] == "PCA"
    labels, (width, _) = _check(fig, tmp_path / "curve")
    assert width >= 5.5  # full width, not shrunk to a stamp


def test_generative_panels_one_per_z(tmp_path):
    gen = pd.DataFrame([{"family": f, "latent_dim": z, "level": p, "rmse_mean": 0.2 + p * i / 10}
                        for i, f in enumerate(FAMILIES) for z in (2, 40) for p in (0.0, 0.5, 1.0)])
    fig = plots.curve_panels(gen, panel="latent_dim", x="level", y="rmse_mean", logx=False,
                             panel_label=lambda z: f"z = {z}")
    assert sorted(fig.panels) == [2, 40] and [ax.get_title() for ax in fig.panels.values()] == ["z = 2", "z = 40"]
    fig.panels[2].axhline(0.3, label="Variational AE: prior samples")
    plots.figure_legend(fig, list(fig.panels.values()), loc="outside lower center", ncol=3)
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 11
    _check(fig, tmp_path / "panels")
    with pytest.raises(ValueError, match="latent_dim"):
        plots.curve_panels(gen.assign(latent_dim=np.nan), panel="latent_dim", x="level", y="rmse_mean")


def test_learning_curves_relative_to_first_epoch(tmp_path):
    hist = pd.DataFrame([{"family": f, "seed": s, "epoch": e, "val_loss": 0.08 / e ** 0.5}
                         for f in FAMILIES[:3] for s in (0, 1) for e in range(1, 30)])
    fig = plots.learning_curves(hist, title="z = 10")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and all(line.get_ydata()[0] == 1.0 for line in ax.get_lines())
    assert len(ax.get_lines()) == 6 and len(fig.legends[0].get_texts()) == 3  # each family once in the legend
    _check(fig, tmp_path / "learning_curves_z10")
    with pytest.raises(ValueError, match="val_loss"):
        plots.learning_curves(hist.drop(columns="val_loss"))


def test_image_grids_fit_the_text_width(tmp_path):
    images = np.random.default_rng(0).uniform(size=(10, 28, 28, 1))
    fig = plots.family_reconstructions(images, {f: images for f in reversed(FAMILIES)}, z=2, digits=range(10))
    labels, (width, height) = _check(fig, tmp_path / "reconstructions_by_family_z2")
    assert {"original", "Vanilla AE", "Masked AE", "Fully connected AE"} <= labels and width >= 5.5
    fig = plots.image_grid([images] * 8, ["original"] + [f"p={p}%" for p in range(7)], title="decoded codes")
    _check(fig, tmp_path / "grid")


def test_umap_grid_fits_a_page_with_a_class_legend(tmp_path):
    rng = np.random.default_rng(0)
    panels = [{"family": f, "z": z, "embedding": rng.normal(size=(200, 2)), "labels": rng.integers(0, 10, 200)}
              for f in FAMILIES for z in (2, 40, 100)]  # the thesis profile's three z
    fig = plots.embedding_grid(panels, title="codes by digit class")
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in range(10)]
    assert legend.get_title().get_text() == "digit class"
    _check(fig, tmp_path / "latent_umap", max_width=plots.FULL_WIDTH + 0.1)


@pytest.mark.parametrize("better", ["lower", "higher"])
def test_heatmaps_have_a_colour_bar_and_darker_is_better(tmp_path, better):
    table = pd.DataFrame([[0.1, 0.2], [0.3, 0.4]], index=["fcae", "vae"], columns=[10, 40])
    fig = plots.heatmap(table, better=better, label="test RMSE")
    assert len(fig.axes) == 2 and "darker = better" in fig.axes[1].get_ylabel()  # the colour bar says it
    mesh = fig.axes[0].collections[0]
    luminance = mesh.get_facecolors()[:, :3] @ [0.299, 0.587, 0.114]
    values = mesh.get_array().ravel()
    best = values.argmin() if better == "lower" else values.argmax()
    assert luminance.argmin() == best
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["Fully connected AE", "Variational AE"]
    _check(fig, tmp_path / f"heat_{better}")


def test_an_oversized_figure_is_fitted_when_saved(tmp_path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax in axes.flat:
        ax.plot([1, 2], [3, 4], label="a line")
        ax.set_title("small", fontsize=5)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6)
    _check(fig, tmp_path / "oversized")


@pytest.mark.slow
def test_study_steps_draw_learning_curves_and_the_family_panel(tmp_path):
    from aelib.study.steps.reconstruction import run as reconstruction_grids
    from aelib.study.steps.sweep import run as latent_sweep
    from aelib.study.study import Study

    study = Study(tmp_path, epochs=1, n_train=200, n_test=50)
    latent_sweep(study, families=["fcae"], z_values=[2], seeds=[0])
    reconstruction_grids(study, families=["fcae"], z_values=[2], grid_seed=0)
    pdfs = {p.stem: p for p in (tmp_path / "figures").glob("*.pdf")}
    assert {"learning_curves_z2", "reconstructions_by_family_z2", "rmse_vs_z", "reconstructions_fcae"} <= set(pdfs)
    for name, pdf in pdfs.items():
        width, height = _page_inches(pdf)
        assert width <= 6.5 and height <= plots.MAX_HEIGHT + 0.05, (name, width, height)
