r"""ArviZ mixing statistics of persistent chains' energy traces (R-hat, bulk and tail ESS).

The implementation lives here, left of every layer, because both the training
loop (:func:`numpyro_ebm.learning.fit`, which records the statistics every epoch)
and :mod:`numpyro_ebm.diagnostics` (their public home,
:mod:`numpyro_ebm.diagnostics.mixing`) use it, and learning may not import
diagnostics (``tests/test_layering.py``). It imports nothing from the package.

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved :math:`\widehat{R}`
for assessing convergence of MCMC. *Bayesian Analysis* 16(2).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["chain_energy_diagnostics", "CHAIN_DIAGNOSTICS"]

CHAIN_DIAGNOSTICS = ("chain_rhat", "chain_ess_bulk", "chain_ess_tail")
"""History keys of the persistent chains' mixing diagnostics (see :func:`chain_energy_diagnostics`)."""


def chain_energy_diagnostics(trace, *, center: bool = True) -> dict[str, float]:
    r"""R-hat and bulk/tail effective sample sizes of persistent chains' energy traces.

    Parameters
    ----------
    trace
        Energies of the chains at successive steps, shape ``(n_steps, n_chains)``
        (the layout :func:`fit` stacks within an epoch).
    center
        Subtract, at every step, the mean energy over the chains before the
        diagnostics (needs at least two chains). During training the parameters
        move, so all the chains' energies drift together; the drift is common to
        every chain and says nothing about mixing, yet it would inflate the split
        R-hat (the two halves of each chain differ) and shrink the ESS (a trend
        looks like a long autocorrelation). What remains is each chain's energy
        relative to the others: stationary when the chains mix, offset for good
        when chains sit in modes of different energy.

    Returns
    -------
    dict
        ``chain_rhat``: rank-normalized split R-hat (``arviz.rhat``, method
        ``"rank"``, the larger of the bulk and the folded/tail R-hat);
        ``chain_ess_bulk``, ``chain_ess_tail``: ``arviz.ess`` with methods
        ``"bulk"`` and ``"tail"``, summed over the chains (at most about
        ``n_steps * n_chains``). NaN when there are fewer than 4 steps (ArviZ's
        minimum), when R-hat is asked of a single chain, or when the trace is not
        finite. Rank normalization bounds R-hat for chains that move: two groups of
        chains stuck at different energies give about 1.3 to 1.8 (depending on
        the split); chains frozen in distinct states give a huge or infinite value.

    Notes
    -----
    These describe how the chains behaved while the parameters changed under
    them, not a formal convergence test: R-hat assumes one fixed target.
    Splitting each chain in two (which the rank-normalized R-hat does) and the
    centering above remove the first-order effect of the moving target. The
    energy is a one-dimensional summary: chains stuck in different modes of the
    *same* energy look perfectly mixed to it.
    """
    trace = np.asarray(trace, dtype=np.float64)
    if trace.ndim != 2:
        raise ValueError(f"trace must have shape (n_steps, n_chains); got shape {trace.shape}")
    n_steps, n_chains = trace.shape
    result = dict.fromkeys(CHAIN_DIAGNOSTICS, math.nan)
    if n_steps < 4 or n_chains < 1 or not np.all(np.isfinite(trace)):
        return result
    chains = trace.T  # ArviZ's (chain, draw) layout
    if center and n_chains > 1:
        chains = chains - chains.mean(axis=0, keepdims=True)
    import arviz as az  # imported on first use: importing ArviZ takes a second or two

    # zero within-chain variance (frozen chains) divides by zero: R-hat is then inf or NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        if n_chains > 1:
            result["chain_rhat"] = float(az.rhat(chains, method="rank"))
        result["chain_ess_bulk"] = float(az.ess(chains, method="bulk"))
        result["chain_ess_tail"] = float(az.ess(chains, method="tail"))
    return result
