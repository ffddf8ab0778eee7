r"""Comparing samplers on one target: :func:`compare_samplers` and :func:`plot_comparison`.

Every sampler gets the same number of steps; the table reports the time, the
energy/gradient evaluations and the ArviZ ESS and R-hat of the summaries
(:func:`~numpyro_ebm.diagnostics.inference_data.summarize`), and, given exact
moments (:mod:`~numpyro_ebm.diagnostics.exact_moments`), the error of the
estimates.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import PRNGKeyArray

from numpyro_ebm import _arviz, _checks, potentials, sharding
from numpyro_ebm.diagnostics.chains import (
    check_initial_positions,
    init_sampler_chains,
    resolve_vmap_chains,
)
from numpyro_ebm.diagnostics.conversion import to_inference_data
from numpyro_ebm.diagnostics.summaries import summarize
from numpyro_ebm.kernels import runner

__all__ = [
    "SamplerSpec",
    "NumPyroSpec",
    "COMPARISON_COLUMNS",
    "discrete_hmc_gibbs_spec",
    "compare_samplers",
    "plot_comparison",
]

# --------------------------------------------------------------------------------------
# Comparing samplers
# --------------------------------------------------------------------------------------

EvaluationCount = float | Callable[[Any], Any] | None


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    r"""A kernel of this project's contract, as :func:`compare_samplers` runs it.

    Attributes
    ----------
    algorithm
        A :class:`blackjax.base.SamplingAlgorithm` with ``init(position, params)``
        and ``step(rng_key, state, params)`` (every kernel in
        :mod:`numpyro_ebm.kernels`). Build gradient kernels with
        ``refresh=False``: the parameters are fixed during a comparison, and the
        refresh would spend one uncounted evaluation per step.
    batched
        The kernel takes the chain axis itself with one key for all chains
        (:mod:`~numpyro_ebm.kernels.rbm_gibbs`,
        :mod:`~numpyro_ebm.kernels.binary_gibbs`); otherwise chains are vmapped.
        The negation of ``vmap_chains``, the one chain-batching flag of
        :mod:`numpyro_ebm.kernels.runner`: give either (both are set after init).
    evaluations_per_step
        Energy (or energy-and-gradient) evaluations one chain spends per step: a
        number, or ``info -> array`` giving it per chain from the step's info.
        ``None`` (default) reads ``info.num_integration_steps`` when the info has
        it (BlackJAX's HMC and NUTS: one gradient per leapfrog step) and counts 1
        otherwise (MALA: one value and gradient at the proposal; random-walk
        Metropolis: one energy; Langevin: one gradient; block Gibbs of an RBM:
        one sweep, two matrix products, the cost of one free energy and its
        gradient). Single-site :mod:`~numpyro_ebm.kernels.binary_gibbs` evaluates
        the energy ``D + 1`` times per sweep: pass ``evaluations_per_step=D + 1``.
        The discrete proposals: :mod:`~numpyro_ebm.kernels.dmala` (DMALA, DULA) and
        :mod:`~numpyro_ebm.kernels.path_auxiliary` spend one value and gradient a
        step (counted 1); :mod:`~numpyro_ebm.kernels.locally_balanced` and
        :mod:`~numpyro_ebm.kernels.hamming_ball` report ``info.n_evaluations``
        (``D + 1`` a flip; the ball size), which the default reads.
    """

    algorithm: SamplingAlgorithm
    batched: bool | None = None
    evaluations_per_step: EvaluationCount = None
    vmap_chains: bool | None = None

    def __post_init__(self):
        vmap_chains = resolve_vmap_chains(self.vmap_chains, self.batched)
        object.__setattr__(self, "vmap_chains", vmap_chains)
        object.__setattr__(self, "batched", not vmap_chains)


@dataclasses.dataclass(frozen=True)
class NumPyroSpec:
    r"""A NumPyro MCMC kernel (e.g. ``DiscreteHMCGibbs``) as :func:`compare_samplers` runs it.

    The kernel is driven through NumPyro's kernel interface exactly as
    ``MCMC(kernel, num_warmup=burn_in, num_samples=n_steps,
    chain_method=jax.vmap)`` drives it (``kernel.init(key, burn_in, init, (),
    {})`` per chain, ``kernel.sample`` vmapped over chains, draws constrained by
    ``kernel.postprocess_fn``; warm-up adaptation, e.g. NUTS's step size, happens
    inside ``sample`` during the first ``burn_in`` steps), but inside the same
    ahead-of-time compiled loop as this project's kernels (checked: with the same
    key it gives the same draws as ``MCMC.run``). ``MCMC.run``
    re-traces its whole loop on every call (seconds of Python work that do not
    depend on the number of steps), so timing it would measure that rather than
    the sampler. Runs under JAX's standard dtype promotion, which NumPyro's
    internals need. The model must take no arguments (close over data).

    Attributes
    ----------
    kernel
        A ``numpyro.infer.MCMCKernel`` built on a model (see
        :func:`discrete_hmc_gibbs_spec` for a binary energy).
    site
        The sample site holding the state the summaries are computed from.
    evaluations_per_step
        Potential (or potential-and-gradient) evaluations one chain spends per
        step: a number, or ``{extra field: value} -> array`` computing it per
        chain from the fields named in ``extra_fields``. NumPyro's discrete Gibbs
        sweep over a binary site of ``D`` coordinates costs ``D`` evaluations
        (one per coordinate and value other than the current one); the NUTS block
        of ``DiscreteHMCGibbs`` adds ``hmc_state.num_steps`` gradients.
    init_params
        ``initial_positions -> init_params`` (values per chain, leading chain
        axis; unconstrained values for HMC sites, as for ``MCMC.run``). Default
        ``{site: initial_positions}``.
    extra_fields
        State fields to collect, dotted as in ``MCMC.run`` (``"hmc_state.diverging"``).
        Fields whose last component is ``accept_prob``, ``diverging`` or
        ``num_steps`` become the sample stats ``acceptance_rate``, ``diverging``
        and ``n_steps`` (feeding the table's acceptance and divergence columns).
    """

    kernel: Any
    site: str
    evaluations_per_step: float | Callable[[Mapping[str, Any]], Any] = 1.0
    init_params: Callable | None = None
    extra_fields: tuple[str, ...] = ()


def discrete_hmc_gibbs_spec(
    energy_fn: Callable,
    params,
    event_shape,
    *,
    site: str = "x",
    modified: bool = False,
) -> NumPyroSpec:
    r"""NumPyro's ``DiscreteHMCGibbs`` on a binary energy, ready for :func:`compare_samplers`.

    The model is one latent site ``site`` with density :math:`\propto e^{-E}` over
    :math:`\{0,1\}^D` (a binary :class:`numpyro_ebm.potentials.UnnormalizedEnergy`);
    it has no continuous site, so the NUTS block of ``DiscreteHMCGibbs(NUTS(model))``
    has nothing to move and a step is the discrete Gibbs block's: one sweep a step over the ``D`` coordinates in a random
    order, each redrawn from its exact conditional (``modified=True``: Liu's
    Metropolised proposal, which always proposes the other value). A sweep costs
    ``D`` potential evaluations. Initial values become ``int32``, as NumPyro's
    discrete proposals are integers.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` broadcasting over leading batch dimensions (the
        contract of :class:`~numpyro_ebm.potentials.UnnormalizedEnergy`), e.g.
        :func:`numpyro_ebm.energies.bernoulli_rbm.free_energy`.
    params
        Parameters of the energy (fixed).
    event_shape
        Shape of one configuration, e.g. ``(D,)``; an int ``D`` means ``(D,)``.
    site
        Name of the sample site.
    modified
        Use the modified (Metropolised) Gibbs proposal.
    """
    import numpyro
    from numpyro.infer import NUTS, DiscreteHMCGibbs

    event_shape = _checks.as_shape(event_shape, "event_shape")
    energy = potentials.UnnormalizedEnergy(energy_fn, params, event_shape, support="binary")

    def model():
        numpyro.sample(site, energy)

    # the energy cannot draw its own initial value: NumPyro traces the model once with
    # this one, and init_params (compare_samplers' initial positions) set each chain's start
    initialised = numpyro.handlers.substitute(model, data={site: jnp.zeros(event_shape, jnp.int32)})
    return NumPyroSpec(
        kernel=DiscreteHMCGibbs(NUTS(initialised), modified=modified),
        site=site,
        evaluations_per_step=float(math.prod(event_shape)),
        init_params=lambda positions: {site: jnp.asarray(positions).astype(jnp.int32)},
    )


def _default_evaluations(info):
    # kernels that know their own cost report it: BlackJAX's HMC/NUTS as integration
    # steps, the locally balanced and Hamming ball kernels as n_evaluations
    for field in ("num_integration_steps", "n_evaluations"):
        count = getattr(info, field, None)
        if count is not None:
            return count
    return 1.0


@dataclasses.dataclass
class _Run:
    idata: Any
    wall_time: float
    burn_in_time: float
    compile_time: float
    evaluations: float


def _timed_loop(transition: Callable, rng_key, states, params, n_steps: int, burn_in: int) -> _Run:
    """Burn-in, then ``n_steps`` recorded transitions, with one compiled executable.

    ``transition(states, key, params) -> (states, summaries, evaluations)`` moves all
    chains one step. The loop ``run(key, states, params, n, write)`` runs ``n``
    transitions (a dynamic count) and, when ``write``, stores their summaries and
    evaluation counts; it is compiled ahead of time once and called twice (burn-in
    without writing, then the recorded steps), each call timed on its own.
    """

    def run(rng_key, states, params, n, write):
        shapes = jax.eval_shape(transition, states, rng_key, params)[1:]
        buffer = jax.tree.map(lambda x: jnp.zeros((n_steps,) + x.shape, x.dtype), shapes)

        def body(t, carry):
            states, buffer = carry
            states, summaries, evals = transition(states, jax.random.fold_in(rng_key, t), params)
            index = jnp.minimum(t, n_steps - 1)
            buffer = jax.lax.cond(
                write,
                lambda b: jax.tree.map(
                    lambda column, row: column.at[index].set(row), b, (summaries, evals)
                ),
                lambda b: b,
                buffer,
            )
            return states, buffer

        return jax.lax.fori_loop(0, n, body, (states, buffer))

    key_burn, key_sample = jax.random.split(rng_key)
    start = time.perf_counter()
    compiled = jax.jit(run).lower(key_sample, states, params, jnp.int32(n_steps), True).compile()
    compile_time = time.perf_counter() - start
    burn_in_time = 0.0
    if burn_in:
        start = time.perf_counter()
        states = jax.block_until_ready(
            compiled(key_burn, states, params, jnp.int32(burn_in), False)[0]
        )
        burn_in_time = time.perf_counter() - start
    start = time.perf_counter()
    _, (summaries, evals) = jax.block_until_ready(
        compiled(key_sample, states, params, jnp.int32(n_steps), True)
    )
    wall_time = time.perf_counter() - start
    return _Run(
        to_inference_data(summaries),
        wall_time,
        burn_in_time,
        compile_time,
        float(np.sum(np.asarray(evals, np.float64))),
    )


def _total(value, n_chains: int):
    value = jnp.asarray(value, jnp.float32)
    return jnp.sum(jnp.broadcast_to(value, (n_chains,)))


def _placement(mesh, chain_axis, n_chains: int) -> Callable:
    """``place(states, params, batched)``: chains split over the mesh, params replicated (or
    as they are). A batched kernel's state is split along the chain axis it declares
    (``chain_dims``, e.g. a parallel-tempering state inside a spec's state); vmapped
    states have the chain axis first."""
    if mesh is None:
        return lambda states, params, batched=False: (states, params)

    def place(states, params, batched=False):
        dims = sharding.chain_dims(states) if batched else 0
        return (
            sharding.put_chains(states, mesh, chain_axis, dim=dims, count=n_chains),
            sharding.put_replicated(params, mesh),
        )

    return place


def _run_spec(
    rng_key, spec: SamplerSpec, initial_positions, params, n_steps, burn_in, record, place
) -> _Run:
    n_chains = check_initial_positions(initial_positions)
    states = init_sampler_chains(spec.algorithm, initial_positions, params, spec.batched)
    states, params = place(states, params, spec.batched)
    step = runner.step_chains(spec.algorithm, vmap_chains=spec.vmap_chains)
    count = spec.evaluations_per_step
    if count is None:
        count = _default_evaluations

    def transition(states, key, params):
        states, info = step(key, states, params)
        evals = count(info) if callable(count) else count
        return states, record(states, info, params), _total(evals, n_chains)

    return _timed_loop(transition, rng_key, states, params, n_steps, burn_in)


_NUMPYRO_STAT_NAMES = {
    "accept_prob": "acceptance_rate",
    "diverging": "diverging",
    "num_steps": "n_steps",
}


def _run_numpyro(
    rng_key, spec: NumPyroSpec, initial_positions, params, n_steps, burn_in, record, place
) -> _Run:
    import operator

    n_chains = check_initial_positions(initial_positions)
    init_params = (
        spec.init_params(initial_positions)
        if spec.init_params is not None
        else {spec.site: initial_positions}
    )
    kernel = spec.kernel
    fields = {name: operator.attrgetter(name) for name in spec.extra_fields}
    count = spec.evaluations_per_step
    key_init, key_run = jax.random.split(rng_key)
    # NumPyro's kernels mix integer and float arrays (e.g. NUTS divides by a step count)
    with jax.numpy_dtype_promotion("standard"):
        # as MCMC(..., chain_method=jax.vmap) does: one init per chain; NumPyro states
        # carry their own keys, so the loop's keys are not used
        keys = jax.random.split(key_init, n_chains)
        states = jax.vmap(lambda key, init: kernel.init(key, burn_in, init, (), {}))(
            keys, init_params
        )
        states, params = place(states, params)
        constrain = kernel.postprocess_fn((), {})

        def transition(states, key, params):
            states = jax.vmap(lambda state: kernel.sample(state, (), {}))(states)
            z = jax.vmap(constrain)(getattr(states, kernel.sample_field))
            extra = {name: get(states) for name, get in fields.items()}
            info = {}
            for name, value in extra.items():
                info.setdefault(_NUMPYRO_STAT_NAMES.get(name.rpartition(".")[2], name), value)
            evals = count(extra) if callable(count) else count
            return states, record(z[spec.site], info, params), _total(evals, n_chains)

        return _timed_loop(transition, key_run, states, params, n_steps, burn_in)


def _summary_rows(posterior: Mapping[str, Any], coords: Mapping[str, Sequence]) -> list[str]:
    """Row names ``az.summary`` gives the summaries (``name`` or ``name[label]``)."""
    rows = []
    for name, value in posterior.items():
        if value.ndim == 1:
            rows.append(name)
        else:
            dim = "chosen_unit" if name == "coordinate" else "direction"
            rows.extend(f"{name}[{label}]" for label in coords[dim])
    return rows


COMPARISON_COLUMNS = (
    "sampler",
    "n_chains",
    "n_draws",
    "wall_time_s",
    "burn_in_time_s",
    "compile_time_s",
    "evaluations",
    "ess_bulk",
    "ess_tail",
    "ess_bulk_per_s",
    "ess_tail_per_s",
    "ess_bulk_per_eval",
    "ess_tail_per_eval",
    "r_hat",
    "acceptance_rate",
    "divergences",
)
"""Columns of :func:`compare_samplers`' table, before the moment errors."""


def compare_samplers(
    rng_key: PRNGKeyArray,
    samplers: Mapping[str, SamplerSpec | NumPyroSpec | SamplingAlgorithm],
    initial_positions,
    params,
    *,
    n_steps: int,
    burn_in: int = 0,
    energy_fn: Callable | None = None,
    coordinates: Sequence | Mapping | None = None,
    projections=None,
    energy_name: str = "energy",
    exact_moments: Mapping[str, float] | None = None,
    return_inference_data: bool = False,
    mesh=None,
    chain_axis: str | None = None,
):
    r"""Run several samplers on one target with the same budget and tabulate their efficiency.

    Every sampler starts its chains from the same ``initial_positions``, runs
    ``burn_in`` transitions (discarded), then ``n_steps`` transitions per chain,
    all recorded. The budget is this number of steps, the same for every
    sampler, and the cost of a step differs (a NUTS trajectory against one
    Gibbs sweep); the table therefore reports the time and the number of
    energy/gradient evaluations the steps took, and the effective sample size
    per second and per evaluation, which are comparable.

    Each draw is summarised as by :func:`summarize` (``energy`` with
    ``energy_fn``, ``mean_activation``, optional ``coordinate`` and
    ``projection``); ESS and R-hat are ArviZ's rank-normalised estimates
    (Vehtari et al. 2021) over all chains, for every summary, and the table
    keeps the worst: the smallest ESS, the largest R-hat.

    Parameters
    ----------
    rng_key
        PRNG key (split into one key a sampler).
    samplers
        ``{name: spec}``: a :class:`SamplerSpec`, a bare ``SamplingAlgorithm``
        (= ``SamplerSpec(algorithm)``: vmapped chains, evaluations counted as
        documented there), or a :class:`NumPyroSpec` (NumPyro's ``MCMC``, e.g.
        :func:`discrete_hmc_gibbs_spec` as the off-the-shelf baseline for binary
        targets).
    initial_positions
        One position a chain on a leading chain axis, at least two chains (for
        R-hat). Floating-point arrays (0./1. for binary targets).
    params
        Parameters of the target, passed to every kernel's ``step`` (NumPyro
        kernels close over theirs) and to ``energy_fn``.
    n_steps
        Recorded transitions per chain (the budget).
    burn_in
        Transitions per chain run first and discarded; for NumPyro kernels this is
        ``num_warmup``, during which they also adapt (NUTS's step size). This
        project's kernels do not adapt: tune their step sizes beforehand.
    energy_fn
        ``energy_fn(params, x)`` of one configuration (scalar), for the
        ``energy`` summary (e.g. an RBM's free energy of the visible units).
    coordinates, projections, energy_name
        More summaries, as in :func:`summarize`.
    exact_moments
        ``{summary row: exact expectation}`` with rows as ``az.summary`` names
        them (``"energy"``, ``"mean_activation"``, ``"coordinate[3]"``...), e.g.
        from :func:`enumeration_moments` or :func:`quadrature_moments`. Adds the
        columns ``error_<row>`` (absolute error of the average over all chains
        and draws) and ``mcse_<row>`` (ArviZ's Monte Carlo standard error of that
        average, the scale the error should be compared with).
    return_inference_data
        Also return ``{name: ArviZ data}`` of the summaries (``InferenceData`` on
        ArviZ 0.23, ``DataTree`` on 1.x).
    mesh, chain_axis
        Optional :class:`jax.sharding.Mesh`: every sampler's chains are split
        over its axis ``chain_axis`` (default ``"chain"``; the chain count must
        be a multiple of its size), ``params`` replicated, as in
        :func:`run_chains`. Times are then those of the sharded runs.

    Returns
    -------
    pandas.DataFrame
        One row a sampler, columns :data:`COMPARISON_COLUMNS` then the moment
        errors: ``n_chains``; ``n_draws`` (per chain, ``n_steps``);
        ``wall_time_s`` (seconds of the ``n_steps`` transitions of all chains
        together, compilation excluded); ``burn_in_time_s``; ``compile_time_s``;
        ``evaluations`` (energy/gradient evaluations of the recorded transitions,
        all chains); ``ess_bulk``, ``ess_tail`` (smallest over the summaries);
        ``ess_bulk_per_s``, ``ess_tail_per_s`` (ESS / ``wall_time_s``);
        ``ess_bulk_per_eval``, ``ess_tail_per_eval`` (ESS / ``evaluations``);
        ``r_hat`` (largest); ``acceptance_rate`` (mean Metropolis acceptance
        probability, NaN for samplers without an accept step: Gibbs, unadjusted
        Langevin); ``divergences`` (number of divergent transitions, NaN when the
        sampler does not report them). With ``return_inference_data``, the pair
        ``(table, {name: InferenceData or DataTree})``.

    Notes
    -----
    Timing. Compilation is excluded: the burn-in loop and the sampling loop of
    every sampler (NumPyro's too, see :class:`NumPyroSpec`) are compiled ahead
    of time (``jax.jit(...).lower(...).compile()``, timed as
    ``compile_time_s``) and then each run once, so ``wall_time_s`` is pure
    execution. Samplers run one after another; their times are comparable only
    on an otherwise idle machine, and very short runs are dominated by noise.

    Evaluations count calls of the energy and calls of its value and gradient
    alike (a gradient costs a small multiple of an energy); see
    :class:`SamplerSpec` and :class:`NumPyroSpec` for the counts of each kernel.

    Examples
    --------
    >>> table = compare_samplers(
    ...     key, {"block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api(), batched=True),
    ...           "DiscreteHMCGibbs": discrete_hmc_gibbs_spec(bernoulli_rbm.free_energy, params, (D,))},
    ...     v0, params, n_steps=1000, burn_in=100, energy_fn=bernoulli_rbm.free_energy,
    ...     exact_moments=enumeration_moments(bernoulli_rbm.free_energy, params, D),
    ... )  # doctest: +SKIP
    >>> plot_comparison(table, "comparison.png")  # doctest: +SKIP
    """
    import pandas as pd

    for name, value, low in (("n_steps", n_steps, 4), ("burn_in", burn_in, 0)):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if not samplers:
        raise ValueError("samplers is empty; give at least one {name: spec}")
    specs = {}
    for name, spec in samplers.items():
        if isinstance(spec, SamplingAlgorithm):
            spec = SamplerSpec(spec)
        if not isinstance(spec, SamplerSpec | NumPyroSpec):
            raise TypeError(
                f"sampler {name!r}: expected a SamplerSpec, a NumPyroSpec or a blackjax "
                f"SamplingAlgorithm; got {type(spec).__name__}"
            )
        specs[str(name)] = spec
    n_chains = check_initial_positions(initial_positions)
    if n_chains < 2:
        raise ValueError(
            f"compare_samplers needs at least 2 chains (R-hat compares chains); got {n_chains}"
        )
    if mesh is not None:
        mesh, chain_axis = sharding.validate_chain_mesh(
            mesh, chain_axis, n_chains, "the number of chains"
        )
    place = _placement(mesh, chain_axis, n_chains)
    options = dict(
        energy_fn=energy_fn,
        coordinates=coordinates,
        projections=projections,
        energy_name=energy_name,
    )
    # the summaries of the initial positions name the table's rows: check exact_moments now
    probe = summarize(initial_positions, params=params, keep_full_state=False, **options)
    rows = _summary_rows(probe.posterior, dict(probe.coords))
    exact_moments = dict(exact_moments or {})
    unknown = [row for row in exact_moments if row not in rows]
    if unknown:
        raise ValueError(
            f"exact_moments has {unknown}, which are not summaries; the summaries are {rows}"
        )

    def record(states, info, params):
        return summarize(states, info, params=params, keep_full_state=False, **options)

    table, datasets = [], {}
    keys = jax.random.split(rng_key, len(specs))
    for key, (name, spec) in zip(keys, specs.items(), strict=True):
        if isinstance(spec, NumPyroSpec):
            run = _run_numpyro(
                key, spec, initial_positions, params, n_steps, burn_in, record, place
            )
        else:
            run = _run_spec(key, spec, initial_positions, params, n_steps, burn_in, record, place)
        datasets[name] = run.idata
        summary = _arviz.summary(run.idata)
        ess_bulk = float(summary["ess_bulk"].min())
        ess_tail = float(summary["ess_tail"].min())
        stats = _arviz.group(run.idata, "sample_stats")
        stat_names = set(stats.data_vars) if stats is not None else set()
        acceptance = "acceptance_rate" if "acceptance_rate" in stat_names else None
        diverging = "diverging" if "diverging" in stat_names else None
        row = {
            "sampler": name,
            "n_chains": n_chains,
            "n_draws": n_steps,
            "wall_time_s": run.wall_time,
            "burn_in_time_s": run.burn_in_time,
            "compile_time_s": run.compile_time,
            "evaluations": run.evaluations,
            "ess_bulk": ess_bulk,
            "ess_tail": ess_tail,
            "ess_bulk_per_s": ess_bulk / run.wall_time,
            "ess_tail_per_s": ess_tail / run.wall_time,
            "ess_bulk_per_eval": ess_bulk / run.evaluations,
            "ess_tail_per_eval": ess_tail / run.evaluations,
            "r_hat": float(summary["r_hat"].max()),
            "acceptance_rate": (
                float(stats[acceptance].mean()) if acceptance is not None else math.nan
            ),
            "divergences": (
                float(np.sum(np.asarray(stats[diverging]))) if diverging is not None else math.nan
            ),
        }
        for moment, value in exact_moments.items():
            row[f"error_{moment}"] = abs(float(summary.loc[moment, "mean"]) - float(value))
            row[f"mcse_{moment}"] = float(summary.loc[moment, "mcse_mean"])
        table.append(row)
    table = pd.DataFrame(table)
    return (table, datasets) if return_inference_data else table


# --------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


_PANELS = (
    ("ess_bulk_per_s", "bulk ESS / s", True),
    ("ess_tail_per_s", "tail ESS / s", True),
    ("ess_bulk_per_eval", "bulk ESS / evaluation", True),
    ("r_hat", "max R-hat", False),
    ("acceptance_rate", "acceptance rate", False),
)


def plot_comparison(table, path, *, title: str | None = None):
    r"""Bar charts of a :func:`compare_samplers` table, saved as a PNG (Agg backend).

    One panel a metric (bulk and tail ESS per second, bulk ESS per evaluation
    on log scales; R-hat with the 1.01 threshold; acceptance rate, unless no
    sampler has one), one bar a sampler, and one panel per moment with an exact
    answer: the absolute error, with a tick at two Monte Carlo standard errors
    (errors well beyond it are bias, not noise). Missing values (e.g. no
    acceptance rate for Gibbs) are marked "n/a".

    Parameters
    ----------
    table
        The ``pandas.DataFrame`` of :func:`compare_samplers`.
    path
        Output file (PNG).
    title
        Figure title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import pathlib

    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    names = [str(n) for n in table["sampler"]]
    moments = [c.removeprefix("error_") for c in table.columns if c.startswith("error_")]
    panels = [p for p in _PANELS if p[0] in table.columns and np.isfinite(table[p[0]]).any()] + [
        (f"error_{m}", f"|error| of E[{m}]", True) for m in moments
    ]
    n_cols = min(3, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(4.2 * n_cols, 0.35 * len(names) * n_rows + 1.6 * n_rows),
        squeeze=False,
    )
    y = np.arange(len(names))
    for ax, (column, label, log) in zip(axes.ravel(), panels, strict=False):
        values = table[column].to_numpy(np.float64)
        ok = np.isfinite(values) & ((values > 0) if log else True)
        ax.barh(y[ok], values[ok], color="C0" if not column.startswith("error_") else "C1")
        for i in np.flatnonzero(~ok):
            ax.text(0.02, y[i], "n/a", va="center", transform=ax.get_yaxis_transform())
        if column.startswith("error_"):
            mcse = table["mcse_" + column.removeprefix("error_")].to_numpy(np.float64)
            ax.plot(2 * mcse, y, "k|", markersize=14, label="2 MCSE")
            ax.legend(loc="best", fontsize="small", framealpha=0.6)
            shown = np.concatenate([values[ok], 2 * mcse[np.isfinite(mcse) & (mcse > 0)]])
            if shown.size:
                ax.set_xlim(shown.min() / 2, shown.max() * 2)
        if column == "r_hat":
            ax.axvline(1.01, color="k", linestyle="--", linewidth=1)
            finite = values[np.isfinite(values)]
            if finite.size:
                ax.set_xlim(min(0.99, finite.min() - 0.01), max(1.05, finite.max() + 0.01))
        if log and ok.any():
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(y, names)
        ax.set_ylim(len(names) - 0.5, -0.5)  # first sampler on top, every row shown
        ax.set_title(label, fontsize="medium")
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
