"""Vectorised statistics for faceaudit: intervals, cluster bootstrap, tests, power."""

from faceaudit.stats.bootstrap import (
    ClusterPatterns,
    bias_corrected_interval,
    bootstrap_cell_totals,
    compress_clusters,
    exceedance_pvalue,
    null_group_totals,
    percentile_interval,
)
from faceaudit.stats.power import minimum_detectable_difference, required_n
from faceaudit.stats.proportions import newcombe_interval, proportion_estimate, wilson_interval
from faceaudit.stats.significance import (
    CORRECTION_NAMES,
    adjust_pvalues,
    homogeneity_pvalue,
    two_proportion_pvalue,
)
from faceaudit.stats.simulate import simulate_predictions

__all__ = [
    "CORRECTION_NAMES",
    "ClusterPatterns",
    "adjust_pvalues",
    "bias_corrected_interval",
    "bootstrap_cell_totals",
    "compress_clusters",
    "exceedance_pvalue",
    "homogeneity_pvalue",
    "minimum_detectable_difference",
    "newcombe_interval",
    "null_group_totals",
    "percentile_interval",
    "proportion_estimate",
    "required_n",
    "simulate_predictions",
    "two_proportion_pvalue",
    "wilson_interval",
]
