"""Shared helpers for statistical tests."""

import numpy as np
from scipy import stats


def chisquare_counts(observed, expected_probs, min_expected=5.0):
    """Pearson chi-square p-value of ``observed`` counts against ``expected_probs``.

    Cells with expected count below ``min_expected`` are pooled into one cell
    (in increasing order of expectation) so the asymptotic law holds.
    """
    observed = np.asarray(observed, dtype=np.float64)
    expected = np.asarray(expected_probs, dtype=np.float64) * observed.sum()
    order = np.argsort(expected)
    small = np.cumsum(expected[order]) < min_expected
    # pool the smallest cells until the pooled cell itself reaches min_expected
    n_small = int(np.searchsorted(~small, True)) + 1 if small.any() else 0
    if n_small:
        pooled = order[:n_small]
        keep = order[n_small:]
        observed = np.append(observed[keep], observed[pooled].sum())
        expected = np.append(expected[keep], expected[pooled].sum())
    return stats.chisquare(observed, expected).pvalue


def configuration_index(states):
    """Index of each binary row ``x`` as ``sum_j x_j 2^j`` (matches exact.binary_states)."""
    states = np.asarray(states).astype(np.int64)
    return states @ (1 << np.arange(states.shape[-1], dtype=np.int64))
