"""The report's findings in words, generated from the study's tables (step 8).

Pure functions: each takes DataFrames as the earlier steps and :mod:`aelib.report` write them and returns
Markdown, so the sentences stay true when the results change. Three kinds of finding:

- per ranking criterion (:mod:`~aelib.findings.ranking`; ``summary/ranking_by_criterion.csv`` and the paired
  tables ``summary/pairwise_*.csv``): the best family, the families not distinguishable from it under the
  pairwise table's Holm decision, and how far behind the rest are, with the 95 % interval and what it is over;
- per claim of the seed study (:mod:`~aelib.findings.claims`; depth 3; the VAE's latent space at z = 100; the
  augmentation peak at 10 %): reproduced, contradicted, not testable here, not tested against noise (one seed) or
  underpowered (an interval wider than the effect claimed), with the numbers and the data they were made on;
- complementary data against PCA at the same z (:mod:`~aelib.findings.ood`), stand-in data named.

:mod:`~aelib.findings.section` assembles them into the ``## Findings`` section and reads the tables from a
results folder. A table that is missing gives a "cannot test" sentence naming the step that writes it. Nothing
here imports TensorFlow. The names below are the package's public interface.
"""
from aelib.findings.claims import (
    AUGMENTATION_EXPERIMENT,
    SEED_DEPTH,
    SEED_LATENT_FAMILY,
    SEED_LATENT_Z,
    SEED_N_TRAIN,
    SEED_PEAK_EFFECT,
    SEED_PEAK_P,
    augmentation_claim,
    depth_claim,
    latent_claim,
    minimum_detectable_effect,
)
from aelib.findings.ood import pca_finding, stand_ins_of
from aelib.findings.ranking import ALPHA, block_comparison, block_sentence, criterion_finding
from aelib.findings.section import findings_section, read_tables

__all__ = ["ALPHA", "AUGMENTATION_EXPERIMENT", "SEED_DEPTH", "SEED_LATENT_FAMILY", "SEED_LATENT_Z", "SEED_N_TRAIN",
           "SEED_PEAK_EFFECT", "SEED_PEAK_P", "augmentation_claim", "block_comparison", "block_sentence",
           "criterion_finding", "depth_claim", "findings_section", "latent_claim", "minimum_detectable_effect",
           "pca_finding", "read_tables", "stand_ins_of"]
