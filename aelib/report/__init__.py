"""Step 8's presentation: the consolidated comparison over families as tables, sections and ``REPORT.md``.

Every table is written three ways — CSV for machines, LaTeX (booktabs, ready to ``\\input``) for the thesis,
Markdown for the report. The modules take DataFrames and paths (the study layer,
:mod:`aelib.study.steps.summary`, reads the study's tables and store and calls them):

- :mod:`~aelib.report.tables`: writing a table three ways; cells, captions and epoch-cap marks;
- :mod:`~aelib.report.runs`: convergence, depth, tuning, sanity gates (and the runs they leave out of every
  ranking) and capacity;
- :mod:`~aelib.report.capacity`: the objective families on one backbone, the architectures at matched capacity;
- :mod:`~aelib.report.results`: one section per criterion (reconstruction and its spread, complementary data,
  latent space, smoothness under latent perturbation, augmentation);
- :mod:`~aelib.report.generation`: generation judged on samples, and the judge;
- :mod:`~aelib.report.prediction`: power laws of RMSE(z), extrapolation in z, criteria from RMSE;
- :mod:`~aelib.report.comparisons`: what each criterion ranks, rank intervals and paired comparisons;
- :mod:`~aelib.report.declared`: each family against fcae and PCA (two-stage intervals, Holm), rank tests;
- :mod:`~aelib.report.ranking`: the ranking per criterion and overall, its sensitivity, table and figure;
- :mod:`~aelib.report.document`: REPORT.md itself (what ran, completeness, failures, files).

The names below are the package's public interface.
"""
from aelib.report.capacity import capacity_matched_section
from aelib.report.comparisons import Samples, generative_degradation, ranking_and_comparisons
from aelib.report.declared import declared_section
from aelib.report.document import (
    COMPLETENESS_KEYS,
    incomplete_note,
    invocation_lines,
    missing_rows,
    other_settings_note,
    report_text,
)
from aelib.report.generation import samples_section
from aelib.report.prediction import performance_prediction_section
from aelib.report.ranking import criterion_weights, plot_ranks, rank_table, ranking_overview, ranking_sensitivity
from aelib.report.results import (
    augmentation_section,
    generative_section,
    latent_section,
    ood_ratio_table,
    ood_section,
    reconstruction_section,
    spread_section,
)
from aelib.report.runs import (
    architecture_section,
    convergence_section,
    failed_runs,
    gates_and_capacity_sections,
    regularisers_section,
    runs_text,
    tuning_section,
)
from aelib.report.tables import (
    capped_cells,
    data_text,
    fmt_ci,
    mark_capped,
    markdown,
    ood_sources_text,
    over_seeds,
    write_table,
)

__all__ = ["COMPLETENESS_KEYS", "Samples", "architecture_section", "augmentation_section", "capacity_matched_section",
           "capped_cells", "convergence_section", "criterion_weights", "data_text", "declared_section", "failed_runs",
           "fmt_ci", "gates_and_capacity_sections", "generative_degradation", "generative_section", "incomplete_note",
           "invocation_lines", "latent_section", "mark_capped", "markdown", "missing_rows", "ood_ratio_table",
           "ood_section", "ood_sources_text", "other_settings_note", "over_seeds", "performance_prediction_section",
           "plot_ranks", "rank_table", "ranking_and_comparisons", "ranking_overview", "ranking_sensitivity",
           "reconstruction_section", "regularisers_section", "report_text", "runs_text", "samples_section",
           "spread_section", "tuning_section", "write_table"]
