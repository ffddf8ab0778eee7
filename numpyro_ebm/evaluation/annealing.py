r"""Annealed importance sampling (AIS) and reverse annealing for any energy.

The generic counterpart of :mod:`numpyro_ebm.evaluation.rbm_annealing` (which is
specialised to Bernoulli RBMs): any energy :math:`E(\theta, x)` on vectors
:math:`x \in \mathbb{R}^D` or :math:`\{0,1\}^D`, any of the project's kernels as
transitions. AIS (Neal 2001) estimates :math:`\log Z` of
:math:`f_1(x) = e^{-E(\theta, x)}` from a *normalised* tractable base
:math:`p_0` (:class:`GaussianBase` for continuous energies,
:class:`BernoulliBase` for binary ones, so :math:`\log Z_0 = 0`) along the
geometric path

.. math::

    f_\beta(x) = p_0(x)^{1-\beta} e^{-\beta E(\theta, x)}, \qquad
    0 = \beta_0 \le \beta_1 \le \dots \le \beta_K = 1,

i.e. the annealed energy :math:`E_\beta(x) = \beta E(\theta, x) - (1-\beta)\log p_0(x)`
(:func:`annealed_energy`). A run draws :math:`x_0 \sim p_0`, then for
:math:`k = 1, \dots, K` adds

.. math::

    \log f_{\beta_k}(x_{k-1}) - \log f_{\beta_{k-1}}(x_{k-1})
        = -(\beta_k - \beta_{k-1})\bigl(E(\theta, x_{k-1}) + \log p_0(x_{k-1})\bigr)

to its log weight and moves :math:`x_k \sim T_k(\cdot \mid x_{k-1})` with a
transition that leaves :math:`f_{\beta_k}` invariant: ``sampler`` applied to the
annealed energy, e.g. :mod:`~numpyro_ebm.kernels.mala` or
:mod:`~numpyro_ebm.kernels.hmc` for continuous energies and
:mod:`~numpyro_ebm.kernels.binary_gibbs` for binary ones. The mean weight is
unbiased for :math:`Z`, so :math:`\log \hat Z` is a stochastic lower bound.

The kernels receive ``(params, beta)`` as their parameters at call time, so the
whole schedule runs in one compiled ``lax.scan`` (or, with a progress bar, in
50 chunks of equal length: at most two compilations).

Reverse annealing (:func:`reverse_ais`, RAISE: Burda, Grosse & Salakhutdinov
2015) starts at a data point at :math:`\beta = 1`, anneals back to the base and
returns a stochastic lower bound of the log-likelihood of the data under the
annealing model; when it disagrees with AIS, the AIS estimate is not to be
trusted.

References
----------
Neal, R. M. (2001). Annealed importance sampling. *Statistics and Computing* 11.
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*.
Grosse, R., Maddison, C. J. & Salakhutdinov, R. (2013). Annealing between
distributions by averaging moments. *NeurIPS*.
Burda, Y., Grosse, R. & Salakhutdinov, R. (2015). Accurate and conservative
estimates of MRF log-likelihood using reverse annealing. *AISTATS*.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks, potentials, sharding
from numpyro_ebm.evaluation import rbm_annealing
from numpyro_ebm.evaluation.rbm_annealing import AISResult, RAISEResult
from numpyro_ebm.kernels import bernoulli_from_logits, runner

__all__ = [
    "GaussianBase",
    "BernoulliBase",
    "DEFAULT_N_TEMPERATURES",
    "annealed_energy",
    "ais",
    "reverse_ais",
]

DEFAULT_N_TEMPERATURES = 1000
"""Length of the default schedule, :func:`numpyro_ebm.evaluation.rbm_annealing.default_schedule`
with 1,000 temperatures (the proportions of Salakhutdinov & Murray 2008: 34 in
:math:`[0, 0.5)`, 276 in :math:`[0.5, 0.9)`, 690 in :math:`[0.9, 1]`). A generic
transition (several gradient evaluations) costs more than an RBM's Gibbs sweep,
hence the shorter default; check the estimate against a longer schedule and
against :func:`reverse_ais`."""

_LOG_2PI = math.log(2.0 * math.pi)


class GaussianBase(NamedTuple):
    r"""Diagonal Gaussian base :math:`p_0(x) = \prod_i \mathcal{N}(x_i; \mu_i, \sigma_i^2)`.

    Attributes
    ----------
    mean
        :math:`\mu`, shape ``(D,)``.
    std
        :math:`\sigma > 0`, shape ``(D,)``.

    A base wider than the target keeps the importance weights of the first
    temperatures bounded; :meth:`from_data` with ``scale > 1`` gives one.
    """

    mean: Float[Array, " dim"]
    std: Float[Array, " dim"]

    def sample(self, rng_key: PRNGKeyArray, n: int) -> Float[Array, "n dim"]:
        """``n`` independent draws, shape ``(n, D)``, in the dtype of ``mean``."""
        noise = jax.random.normal(rng_key, (n, *self.mean.shape), self.mean.dtype)
        return (
            jnp.broadcast_to(self.mean, noise.shape)
            + jnp.broadcast_to(self.std, noise.shape) * noise
        )

    def log_prob(self, x: Float[Array, "*batch dim"]) -> Float[Array, "*batch"]:
        r"""Normalised :math:`\log p_0(x)`, summed over the last axis."""
        mean = jnp.broadcast_to(self.mean, x.shape)
        std = jnp.broadcast_to(self.std, x.shape)
        z = (x - mean) / std
        return jnp.sum(-0.5 * z**2 - jnp.log(std) - 0.5 * _LOG_2PI, axis=-1)

    @classmethod
    def from_data(cls, data, *, scale: float = 1.0, min_std: float = 1e-3) -> GaussianBase:
        """Mean and ``scale`` times the standard deviation (``ddof=1``) of ``data`` ``(n, D)``.

        Standard deviations below ``min_std`` are raised to it, so a constant
        coordinate does not give a degenerate base.
        """
        data = _checks.check_array(data, "data", ndim_min=2)
        if data.ndim != 2 or data.shape[0] < 2:
            raise ValueError(
                f"data must have shape (n, D) with n >= 2 rows; got {tuple(data.shape)}"
            )
        if not scale > 0 or not min_std > 0:
            raise ValueError(f"scale and min_std must be positive; got {scale} and {min_std}")
        std = jnp.maximum(scale * jnp.std(data, axis=0, ddof=1), min_std)
        return cls(jnp.mean(data, axis=0), std.astype(data.dtype))


class BernoulliBase(NamedTuple):
    r"""Factorised Bernoulli base :math:`p_0(x) = \prod_i \sigma(\ell_i)^{x_i} \sigma(-\ell_i)^{1 - x_i}`.

    Attributes
    ----------
    logits
        :math:`\ell`, shape ``(D,)``; zeros give the uniform distribution on
        :math:`\{0,1\}^D`.
    """

    logits: Float[Array, " dim"]

    def sample(self, rng_key: PRNGKeyArray, n: int) -> Float[Array, "n dim"]:
        """``n`` independent draws of 0/1, shape ``(n, D)``, in the dtype of ``logits``."""
        logits = jnp.broadcast_to(self.logits, (n, *self.logits.shape))
        return bernoulli_from_logits(rng_key, logits)

    def log_prob(self, x: Float[Array, "*batch dim"]) -> Float[Array, "*batch"]:
        r"""Normalised :math:`\log p_0(x)` of 0/1 vectors, summed over the last axis."""
        logits = jnp.broadcast_to(self.logits, x.shape)
        return jnp.sum(
            jnp.where(x == 1, jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)), axis=-1
        )

    @classmethod
    def from_data(cls, data, *, pseudo_count: float = 0.05) -> BernoulliBase:
        """Logits of the smoothed unit means of binary ``data`` ``(n, D)``
        (:func:`numpyro_ebm.evaluation.rbm_annealing.base_rate_visible_bias`): finite even for
        units that are always on or off."""
        return cls(rbm_annealing.base_rate_visible_bias(data, pseudo_count))


annealed_energy = potentials.annealed_energy
"""The energy of the geometric path, ``fn((params, beta), x)``: defined once, below the
kernels, in :func:`numpyro_ebm.potentials.annealed_energy` (this name is an alias kept for
existing code)."""


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------


def _validate_base(base):
    """Check the base; return it with array fields, its dimension ``D`` and dtype."""
    if isinstance(base, GaussianBase):
        mean = _checks.check_array(base.mean, "base.mean", ndim_min=1)
        std = _checks.check_array(base.std, "base.std", ndim_min=1)
        if mean.ndim != 1 or std.shape != mean.shape:
            raise ValueError(
                "base.mean and base.std must both have shape (D,); got "
                f"{tuple(mean.shape)} and {tuple(std.shape)}"
            )
        if mean.dtype != std.dtype:
            raise TypeError(
                f"base.mean and base.std must share a dtype; got {mean.dtype} and {std.dtype}"
            )
        if _checks.is_concrete(std) and not np.all(np.asarray(std) > 0):
            raise ValueError("base.std must be positive everywhere")
        return GaussianBase(mean, std), mean.shape[0], mean.dtype
    if isinstance(base, BernoulliBase):
        logits = _checks.check_array(base.logits, "base.logits", ndim_min=1)
        if logits.ndim != 1:
            raise ValueError(f"base.logits must have shape (D,); got {tuple(logits.shape)}")
        return BernoulliBase(logits), logits.shape[0], logits.dtype
    if not (callable(getattr(base, "sample", None)) and callable(getattr(base, "log_prob", None))):
        raise TypeError(
            "base must be a GaussianBase or a BernoulliBase (or a pytree, e.g. a NamedTuple, "
            "with sample(rng_key, n) and a normalised log_prob(x)); got "
            f"{type(base).__name__}"
        )
    # n stays a Python int (eval_shape would trace it, and a base may use it as a shape)
    out = jax.eval_shape(lambda key: base.sample(key, 1), jax.random.key(0))
    if len(out.shape) != 2 or out.shape[0] != 1:
        raise ValueError(f"base.sample(rng_key, 1) must have shape (1, D); got {out.shape}")
    return base, out.shape[1], out.dtype


def _validate_params(params):
    """Raise for NaN or inf in any concrete floating-point leaf of ``params``."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if isinstance(leaf, jax.Array | np.ndarray) and jnp.issubdtype(leaf.dtype, jnp.floating):
            _checks.check_array(leaf, f"params{jax.tree_util.keystr(path)}", ndim_min=0)


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _resolve_schedule(schedule, n_temperatures, dtype):
    if schedule is not None and n_temperatures is not None:
        raise ValueError("give schedule or n_temperatures, not both")
    if schedule is None:
        n = DEFAULT_N_TEMPERATURES if n_temperatures is None else n_temperatures
        return rbm_annealing.default_schedule(_check_positive_int(n, "n_temperatures"), dtype)
    return rbm_annealing.check_schedule(schedule, dtype)


def _check_energy(energy_fn, params, n_dim, dtype, vmap_chains, n_chains):
    """The energy must give a scalar per vmapped chain or ``(n_chains,)`` for a batch."""
    shape = (n_dim,) if vmap_chains else (n_chains, n_dim)
    out = jax.eval_shape(energy_fn, params, jax.ShapeDtypeStruct(shape, dtype))
    expected = () if vmap_chains else (n_chains,)
    if not isinstance(out, jax.ShapeDtypeStruct) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, jax.ShapeDtypeStruct) else out
        how = (
            "a scalar for one position (vmap_chains=True)"
            if vmap_chains
            else f"shape {expected} for a batch of positions (vmap_chains=False)"
        )
        raise ValueError(f"energy_fn must return {how}; got {got} for x of shape {shape}")
    if out.dtype != dtype:
        raise TypeError(
            f"energy_fn returns {out.dtype} for {jnp.dtype(dtype)} positions (the base's dtype); "
            "give the base and the parameters the same dtype"
        )


def _check_sampler(sampler, energy_fn, base):
    """Raise unless ``sampler(annealed_energy(...))`` is a SamplingAlgorithm-like pair."""
    if isinstance(sampler, SamplingAlgorithm) or not callable(sampler):
        raise TypeError(
            "sampler must be a function energy_fn -> SamplingAlgorithm, e.g. "
            "lambda fn: mala.as_top_level_api(fn, step_size=0.1) or "
            "binary_gibbs.as_top_level_api; it is applied to the annealed energy"
        )
    algorithm = sampler(annealed_energy(energy_fn, base))
    if not (
        callable(getattr(algorithm, "init", None)) and callable(getattr(algorithm, "step", None))
    ):
        raise TypeError(
            f"sampler(energy_fn) must return a SamplingAlgorithm; got {type(algorithm).__name__}"
        )
    return algorithm


@partial(jax.jit, static_argnames=("energy_fn", "sampler"))
def _vmapped_init(positions, params_and_beta, base, *, energy_fn, sampler):
    algorithm = sampler(annealed_energy(energy_fn, base))
    return jax.vmap(algorithm.init, in_axes=(0, None))(positions, params_and_beta)


def _init_states(energy_fn, sampler, base, positions, params_and_beta, vmap_chains):
    """Validate on concrete input, then build the state of every chain."""
    algorithm = _check_sampler(sampler, energy_fn, base)
    if vmap_chains:
        algorithm.init(positions[0], params_and_beta)  # concrete checks (vmap skips them)
        state = _vmapped_init(
            positions, params_and_beta, base, energy_fn=energy_fn, sampler=sampler
        )
    else:
        state = algorithm.init(positions, params_and_beta)
    got = getattr(state, "position", None)
    if got is None or getattr(got, "shape", None) != positions.shape:
        raise TypeError(
            "the sampler's state must have a `position` array of the shape it was initialised "
            f"with, {tuple(positions.shape)}; got "
            f"{None if got is None else getattr(got, 'shape', type(got).__name__)}"
        )
    return state


def _check_log_weights(log_weights, what: str):
    bad = np.isnan(np.asarray(log_weights))
    if bad.any():
        raise ValueError(
            f"{what} produced NaN log weights in {int(bad.sum())} of {bad.size} runs: the energy "
            "or the sampler returned NaN (an energy that is NaN or infinite where the base puts "
            "mass, or a step size so large that the chains diverge)"
        )


# --------------------------------------------------------------------------------------
# the annealing loop
# --------------------------------------------------------------------------------------


class _Carry(NamedTuple):
    state: Any
    log_weights: Array
    compensation: Array  # Kahan compensation of log_weights


@partial(jax.jit, static_argnames=("energy_fn", "sampler", "n_steps", "vmap_chains"))
def _anneal_chunk(
    rng_key,
    params,
    base,
    carry,
    betas,
    betas_prev,
    reverse,
    *,
    energy_fn,
    sampler,
    n_steps,
    vmap_chains,
):
    """Scan over one chunk of temperatures (forward AIS or reverse steps).

    Compiled once per (energy_fn, sampler, shapes) and reused across calls, by AIS
    and reverse annealing alike: the base, the parameters, the temperatures and the
    direction ``reverse`` (a boolean array) are arguments.
    """
    algorithm = sampler(annealed_energy(energy_fn, base))
    gap = potentials.energy_gap(energy_fn, base)

    def log_ratio(x):
        # log f_1(x) - log f_0(x) = -E(x) - log p_0(x), minus the path's slope G(x)
        def one(x):
            return -gap(params, x)

        return jax.vmap(one)(x) if vmap_chains else one(x)

    def move(key, state, beta):
        return runner.run_sampler(
            key,
            algorithm,
            state,
            (params, beta),
            n_steps,
            vmap_chains=vmap_chains,
            transform=runner.final_state_only,
        )[0]

    def body(carry: _Carry, xs):
        # forward: increment at the state before the move, added;
        # reverse: increment at the state after the move, subtracted
        key, beta, beta_prev = xs
        state = move(key, carry.state, beta)
        x = jnp.where(reverse, state.position, carry.state.position)
        # zero (not 0 * inf) for repeated temperatures
        value = jnp.where(beta == beta_prev, 0.0, (beta - beta_prev) * log_ratio(x))
        value = jnp.where(reverse, -value, value)
        log_weights, compensation = rbm_annealing.kahan_add(
            carry.log_weights, carry.compensation, value
        )
        return _Carry(state, log_weights, compensation), None

    keys = jax.random.split(rng_key, betas.shape[0])
    return jax.lax.scan(body, carry, (keys, betas, betas_prev))[0]


@jax.jit
def _summarize(log_weights, samples) -> AISResult:
    """:func:`numpyro_ebm.evaluation.rbm_annealing.summarize_log_weights` with log Z_0 = 0, compiled
    (one compilation instead of some thirty eager ones)."""
    zero = jnp.zeros((), log_weights.dtype)
    return rbm_annealing.summarize_log_weights(log_weights, zero, 0, samples=samples)


def _generic_chunks(params, base, *, reverse: bool, static: dict):
    """:func:`numpyro_ebm.evaluation.rbm_annealing.anneal`'s ``run_chunk`` for any energy and sampler."""
    direction = jnp.asarray(reverse)

    def run_chunk(rng_key, carry, betas, betas_prev):
        return _anneal_chunk(rng_key, params, base, carry, betas, betas_prev, direction, **static)

    return run_chunk


def ais(
    rng_key: PRNGKeyArray,
    energy_fn: Callable,
    params,
    base,
    sampler: Callable[[Callable], SamplingAlgorithm],
    *,
    n_runs: int = 100,
    schedule=None,
    n_temperatures: int | None = None,
    n_steps_per_temperature: int = 1,
    vmap_chains: bool = True,
    progress: bool = False,
    mesh=None,
    chain_axis: str | None = None,
) -> AISResult:
    r"""Estimate :math:`\log Z = \log \int e^{-E(\theta, x)}\,dx` (or a sum) by AIS.

    Parameters
    ----------
    rng_key
        PRNG key.
    energy_fn
        ``energy_fn(params, x)``: a scalar for one position ``x`` of shape ``(D,)``
        (``vmap_chains=True``), or shape ``(n,)`` for a batch ``(n, D)``
        (``vmap_chains=False``). Its dtype must be the base's. It is a static
        argument of the compiled loop: pass the same function object to reuse the
        compilation.
    params
        Parameters :math:`\theta` of the energy (a pytree; fixed during the run).
    base
        The normalised base :math:`p_0` (:class:`GaussianBase`, :class:`BernoulliBase`,
        or another pytree with ``sample(rng_key, n)`` and a normalised
        ``log_prob(x)``); the closer to the target, the tighter the estimate.
    sampler
        ``energy_fn -> SamplingAlgorithm``, applied to :func:`annealed_energy`;
        its ``step(rng_key, state, params)`` must leave :math:`e^{-E}` invariant
        for the ``params`` of the call, e.g.
        ``lambda fn: mala.as_top_level_api(fn, step_size=0.05)``,
        ``lambda fn: hmc.as_top_level_api(fn, 0.1, num_integration_steps=5)``, or
        ``binary_gibbs.as_top_level_api``. The BlackJAX adapters must keep
        ``refresh=True`` (their default): the temperature changes at every step.
        The state must expose ``position``. Like ``energy_fn`` it is static:
        define it once (not as a new lambda per call) to reuse the compilation.
    n_runs
        Independent annealing runs.
    schedule, n_temperatures
        Inverse temperatures from 0 to 1, non-decreasing; or the length of
        :func:`numpyro_ebm.evaluation.rbm_annealing.default_schedule`. Default:
        :data:`DEFAULT_N_TEMPERATURES` (1,000).
    n_steps_per_temperature
        Transitions at each temperature.
    vmap_chains
        ``True``: one state per run, the sampler vmapped over runs (the BlackJAX
        adapters). ``False``: one state holding all runs as a leading dimension
        (Gibbs kernels such as :mod:`~numpyro_ebm.kernels.binary_gibbs`, faster).
    progress
        Show a tqdm progress bar (the schedule then runs in 50 compiled chunks).
    mesh, chain_axis
        Optional :class:`jax.sharding.Mesh`: the runs are split over its axis
        ``chain_axis`` (default ``"chain"``; ``n_runs`` must be a multiple of its
        size), parameters and base replicated; the numbers do not depend on the
        device count (see :mod:`numpyro_ebm.sharding`).

    Returns
    -------
    AISResult
        With ``log_z_base = 0`` and ``samples`` the final states of the runs,
        shape ``(n_runs, D)``.

    Raises
    ------
    ValueError
        For a bad schedule, ``n_runs``, ``n_steps_per_temperature``, energy output
        shape, NaN in the parameters or the base, or NaN log weights.
    TypeError
        For a bad base or sampler, or mismatched dtypes.
    """
    n_runs = _check_positive_int(n_runs, "n_runs")
    n_steps = _check_positive_int(n_steps_per_temperature, "n_steps_per_temperature")
    if mesh is not None:
        mesh, chain_axis = sharding.validate_chain_mesh(mesh, chain_axis, n_runs, "n_runs")
    base, n_dim, dtype = _validate_base(base)
    _validate_params(params)
    schedule = _resolve_schedule(schedule, n_temperatures, dtype)
    _check_energy(energy_fn, params, n_dim, dtype, vmap_chains, n_runs)
    key_init, key_anneal = jax.random.split(rng_key)
    positions = base.sample(key_init, n_runs)
    state = _init_states(energy_fn, sampler, base, positions, (params, schedule[0]), vmap_chains)
    zeros = jnp.zeros(n_runs, dtype)
    static = dict(
        energy_fn=energy_fn,
        sampler=sampler,
        n_steps=n_steps,
        vmap_chains=bool(vmap_chains),
    )
    carry = _Carry(state, zeros, zeros)
    if mesh is not None:
        carry = sharding.put_chains(carry, mesh, chain_axis)
        params, base = sharding.put_replicated((params, base), mesh)
    carry = rbm_annealing.anneal(
        key_anneal,
        _generic_chunks(params, base, reverse=False, static=static),
        carry,
        schedule,
        reverse=False,
        progress=progress,
        description="AIS",
    )
    _check_log_weights(carry.log_weights, "AIS")
    result = _summarize(carry.log_weights, carry.state.position)
    return result._replace(n_temperatures=int(schedule.shape[0]))


def reverse_ais(
    rng_key: PRNGKeyArray,
    energy_fn: Callable,
    params,
    base,
    sampler: Callable[[Callable], SamplingAlgorithm],
    data,
    *,
    n_runs: int = 1,
    schedule=None,
    n_temperatures: int | None = None,
    n_steps_per_temperature: int = 1,
    vmap_chains: bool = True,
    progress: bool = False,
    mesh=None,
    chain_axis: str | None = None,
) -> RAISEResult:
    r"""Conservative log-likelihood estimates by reverse annealing (RAISE) for any energy.

    Each data point :math:`v` starts a chain at :math:`\beta_K = 1`; for
    :math:`k = K, \dots, 1` it moves :math:`x_{k-1} \sim R_k(\cdot \mid x_k)`
    (``n_steps_per_temperature`` transitions of ``sampler`` at :math:`\beta_k`)
    and subtracts :math:`\log f_{\beta_k}(x_{k-1}) - \log f_{\beta_{k-1}}(x_{k-1})`
    from a log weight that starts at :math:`\log f_1(v) - \log Z_0 = -E(\theta, v)`
    (Burda, Grosse & Salakhutdinov 2015).

    **What it estimates.** If every :math:`R_k` leaves :math:`f_{\beta_k}` invariant,
    the weight is an unbiased estimate of :math:`p_\text{fwd}(v)`, the density (or
    probability) of :math:`v` as the final state of *forward* AIS from the same
    base with the same schedule whose transitions are the time reversals
    :math:`\tilde R_k(x' \mid x) = R_k(x \mid x') f_{\beta_k}(x') / f_{\beta_k}(x)`
    (which leave :math:`f_{\beta_k}` invariant too). Its log is therefore a
    stochastic lower bound of :math:`\log p_\text{fwd}(v)`; and for data drawn
    from the model, :math:`\mathbb{E}[\log p_\text{fwd}(v)] \le \mathbb{E}[\log p(v)]`
    (Gibbs' inequality), so on average the estimate errs low, where AIS-based
    log-likelihoods err high.

    - Kernels satisfying detailed balance are their own reversal, and so are
      their powers: Metropolis-Hastings-corrected MALA
      (:mod:`~numpyro_ebm.kernels.mala`), HMC with momentum resampling
      (:mod:`~numpyro_ebm.kernels.hmc`), random-walk Metropolis
      (:mod:`~numpyro_ebm.kernels.random_walk`), random-scan Gibbs. With the same
      ``sampler``, :math:`p_\text{fwd}` is exactly the model of :func:`ais`.
    - A systematic-scan Gibbs sweep is not reversible: its reversal is the sweep
      in reverse site order. To estimate :math:`p_\text{fwd}` of
      ``ais(..., sampler=binary_gibbs.as_top_level_api)``, pass
      ``sampler=lambda fn: binary_gibbs.as_top_level_api(fn, reverse=True)``.
      Passing the forward sweep is not an approximation either: it is exact for
      forward AIS with reverse-order sweeps, an equally valid annealing model.
    - Transitions that do not leave :math:`f_\beta` invariant (the unadjusted
      :mod:`~numpyro_ebm.kernels.langevin`) invalidate AIS and RAISE alike.

    Parameters
    ----------
    rng_key
        PRNG key.
    energy_fn, params, base, sampler, schedule, n_temperatures, n_steps_per_temperature, vmap_chains, progress
        As for :func:`ais` (the reverse chain visits the schedule backwards).
    data
        Points :math:`v`, shape ``(n, D)``, cast to the base's dtype; binary
        (0/1) when the base is a :class:`BernoulliBase`. The energy must be
        finite at each of them.
    n_runs
        Reverse runs per data point; the estimate per point is the log of the
        mean of its weights.
    mesh, chain_axis
        As for :func:`ais`; ``len(data) * n_runs`` must be a multiple of the axis size.

    Returns
    -------
    RAISEResult
        ``log_likelihoods`` per data point, their ``mean`` and its
        ``standard_error`` over the data, ``log_weights`` of shape ``(n, n_runs)``.
    """
    n_runs = _check_positive_int(n_runs, "n_runs")
    n_steps = _check_positive_int(n_steps_per_temperature, "n_steps_per_temperature")
    base, n_dim, dtype = _validate_base(base)
    _validate_params(params)
    schedule = _resolve_schedule(schedule, n_temperatures, dtype)
    data = _checks.check_array(data, "data", ndim_min=1)
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError(f"data must have shape (n, {n_dim}); got {tuple(data.shape)}")
    _checks.check_last_dim(data, n_dim, "data", "dimensions")
    if isinstance(base, BernoulliBase):
        _checks.check_binary(data, "data")
    data = data.astype(dtype)
    n = data.shape[0]
    if mesh is not None:
        mesh, chain_axis = sharding.validate_chain_mesh(
            mesh, chain_axis, n * n_runs, "the number of reverse runs (len(data) * n_runs)"
        )
    positions = jnp.repeat(data, n_runs, axis=0)
    _check_energy(energy_fn, params, n_dim, dtype, vmap_chains, n)
    if vmap_chains:
        energy = jax.vmap(energy_fn, in_axes=(None, 0))(params, data)
    else:
        energy = energy_fn(params, data)
    bad = ~np.isfinite(np.asarray(energy))
    if bad.any():
        raise ValueError(
            f"the energy is not finite at {int(bad.sum())} data point(s), e.g. row "
            f"{int(np.argmax(bad))}: RAISE starts its chains there"
        )
    state = _init_states(energy_fn, sampler, base, positions, (params, schedule[-1]), vmap_chains)
    start = -jnp.repeat(energy, n_runs)
    static = dict(
        energy_fn=energy_fn,
        sampler=sampler,
        n_steps=n_steps,
        vmap_chains=bool(vmap_chains),
    )
    carry = _Carry(state, start, jnp.zeros_like(start))
    if mesh is not None:
        carry = sharding.put_chains(carry, mesh, chain_axis)
        params, base = sharding.put_replicated((params, base), mesh)
    carry = rbm_annealing.anneal(
        rng_key,
        _generic_chunks(params, base, reverse=True, static=static),
        carry,
        schedule,
        reverse=True,
        progress=progress,
        description="RAISE",
    )
    _check_log_weights(carry.log_weights, "RAISE")
    log_weights = carry.log_weights.reshape(n, n_runs)
    per_example = jax.nn.logsumexp(log_weights, axis=1) - math.log(n_runs)
    standard_error = (
        jnp.std(per_example, ddof=1) / jnp.sqrt(n) if n > 1 else jnp.asarray(jnp.nan, dtype)
    )
    return RAISEResult(
        per_example, jnp.mean(per_example), standard_error, log_weights, int(schedule.shape[0])
    )
