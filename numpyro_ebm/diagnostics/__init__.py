r"""ArviZ everywhere: one conversion from any chain output to ArviZ's own container.

Chains of this project's kernels, of BlackJAX's kernels and of NumPyro's ``MCMC``
become ArviZ data with ``(chain, draw)`` dimensions and ArviZ's sample-stat
names, so ``az.summary``, ``az.plot_trace``, ``az.plot_autocorr``,
``az.plot_rank`` and ``az.plot_energy`` work on it directly. The container is
the installed ArviZ line's native one: :class:`arviz.InferenceData` on ArviZ
0.23 (Python 3.11), :class:`xarray.DataTree` on ArviZ 1.x (Python >= 3.12),
with the same groups and names; ``docs/arviz_versions.md`` says what differs
(on 1.x, 0.23's ``az.plot_trace`` is ``az.plot_trace_dist``).

A state of an energy-based model is often high-dimensional (784 pixels), and
per-pixel R-hat tables and trace plots are unreadable. The ``posterior`` group
therefore holds only named summaries of the state, each one value per chain and
draw (or a short labelled vector), so plain ``az.summary(idata)``,
``az.plot_trace(idata)`` and ``az.plot_rank(idata)`` show exactly these:

``energy``
    :math:`E(\theta, x)` of the position (``energy_fn`` given); for an RBM pass
    the free energy (and ``energy_name="free_energy"`` if you like).
``mean_activation``
    Mean over all units of the position (the magnetisation of spins).
``coordinate``
    Chosen coordinates of the position, dimension ``chosen_unit`` labelled by
    index or by name (``az.summary`` rows ``coordinate[406]``).
``projection``
    Dot products with chosen directions (e.g. principal components of the data),
    dimension ``direction`` labelled by position or by name (``projection[pc1]``).
The full position lives in its own group, ``state`` (``keep_full_state=True``,
the default): ``idata.state["position"]`` with dimensions ``(chain, draw,
unit)`` (a multi-dimensional position has ``unit_dim_0, unit_dim_1, ...``; a
pytree position one variable ``position_<key>`` a leaf; :func:`from_numpyro`
keeps the site's own name). ArviZ accepts such extra groups (no warning) and
every function that takes a ``group`` argument reads it, e.g.
``az.summary(idata, group="state")`` for the per-unit table,
``az.extract(idata, group="state")`` for draws stacked over chains, or
``idata.state["position"].sel(chain=0)``; ``idata.to_netcdf`` saves it too.

The ``sample_stats`` group holds, under ArviZ's names (see
:data:`SAMPLE_STAT_NAMES`): ``lp`` (log density of the position, up to a
constant), ``acceptance_rate``, ``diverging``, ``energy`` (the *Hamiltonian*
energy, which ``az.plot_energy`` and the BFMI use; not the model energy),
``n_steps``, ``tree_depth``, ``step_size``, plus every other info field that has
one value per chain and draw, under its own name (``is_accepted``, ``n_flipped``...),
and the fields an info declares with extra dimensions in its ``sample_stat_dims``
(parallel tempering's per-pair swap acceptance, dimension ``ladder_pair``).

Layout. Stacking the output of ``lax.scan`` over steps of vmapped (or batched)
chains gives arrays shaped ``(draw, chain, ...)``; that is the default
(``chain_axis=1``). Pass ``chain_axis=0`` for ``(chain, draw, ...)`` and
``chain_axis=None`` for a single chain ``(draw, ...)``. :func:`run_chains` runs
any :class:`blackjax.base.SamplingAlgorithm` over several chains and returns
exactly this layout; with ``record=partial(summarize, ...)`` it stores only the
summaries, so memory does not grow with the dimension of the state.

Comparing samplers. :func:`compare_samplers` runs several kernels (this
project's, and NumPyro's ``DiscreteHMCGibbs`` through :class:`NumPyroSpec`) on
one target with the same number of steps and tabulates ESS per second and per
evaluation, R-hat, acceptance, divergences and, when the exact answer is known
(:func:`enumeration_moments`, :func:`quadrature_moments`), the error of the
estimated moments; :func:`plot_comparison` draws the table.

Modules
-------
:mod:`~numpyro_ebm.diagnostics.summaries`
    Named per-draw summaries of chain output: :func:`summarize`.
:mod:`~numpyro_ebm.diagnostics.conversion`
    Conversion to ArviZ: :func:`to_inference_data`.
:mod:`~numpyro_ebm.diagnostics.numpyro_mcmc`
    A NumPyro ``MCMC`` run as ArviZ data: :func:`from_numpyro`.
:mod:`~numpyro_ebm.diagnostics.inference_data`
    The three above under their old common import path.
:mod:`~numpyro_ebm.diagnostics.chains`
    Running chains: :func:`run_chains`.
:mod:`~numpyro_ebm.diagnostics.comparison`
    Sampler comparison: :class:`SamplerSpec`, :class:`NumPyroSpec`,
    :func:`discrete_hmc_gibbs_spec`, :func:`compare_samplers`, :func:`plot_comparison`.
:mod:`~numpyro_ebm.diagnostics.exact_moments`
    Exact-moment oracles: :func:`enumeration_moments`, :func:`quadrature_moments`.
:mod:`~numpyro_ebm.diagnostics.mixing`
    Mixing of persistent training chains: :func:`chain_energy_diagnostics`.

References
----------
Gelman, A. & Rubin, D. B. (1992). Inference from iterative simulation using
multiple sequences. *Statistical Science* 7(4).
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved :math:`\widehat{R}`
for assessing convergence of MCMC. *Bayesian Analysis* 16(2).
Betancourt, M. (2016). Diagnosing suboptimal cotangent disintegrations in
Hamiltonian Monte Carlo. arXiv:1604.00695.
Kumar, R., Carroll, C., Hartikainen, A. & Martin, O. (2019). ArviZ a unified
library for exploratory analysis of Bayesian models in Python. *JOSS* 4(33).
Liu, J. S. (1996). Peskun's theorem and a modified discrete-state Gibbs sampler.
*Biometrika* 83(3).
"""

from numpyro_ebm.diagnostics import (
    chains,
    comparison,
    conversion,
    exact_moments,
    inference_data,
    mixing,
    numpyro_mcmc,
    summaries,
)
from numpyro_ebm.diagnostics.chains import run_chains
from numpyro_ebm.diagnostics.comparison import (
    COMPARISON_COLUMNS,
    NumPyroSpec,
    SamplerSpec,
    compare_samplers,
    discrete_hmc_gibbs_spec,
    plot_comparison,
)
from numpyro_ebm.diagnostics.exact_moments import enumeration_moments, quadrature_moments
from numpyro_ebm.diagnostics.inference_data import (
    NUMPYRO_EXTRA_FIELDS,
    SAMPLE_STAT_NAMES,
    ChainSummaries,
    from_numpyro,
    summarize,
    to_inference_data,
)
from numpyro_ebm.diagnostics.mixing import CHAIN_DIAGNOSTICS, chain_energy_diagnostics

__all__ = [
    "ChainSummaries",
    "SAMPLE_STAT_NAMES",
    "NUMPYRO_EXTRA_FIELDS",
    "summarize",
    "to_inference_data",
    "from_numpyro",
    "run_chains",
    "SamplerSpec",
    "NumPyroSpec",
    "COMPARISON_COLUMNS",
    "discrete_hmc_gibbs_spec",
    "compare_samplers",
    "enumeration_moments",
    "quadrature_moments",
    "plot_comparison",
    "chain_energy_diagnostics",
    "CHAIN_DIAGNOSTICS",
    "chains",
    "comparison",
    "exact_moments",
    "inference_data",
    "summaries",
    "conversion",
    "numpyro_mcmc",
    "mixing",
]
