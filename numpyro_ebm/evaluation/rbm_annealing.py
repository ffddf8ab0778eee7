r"""Annealed importance sampling (AIS) and reverse annealing (RAISE) for Bernoulli RBMs.

(Formerly ``numpyro_ebm.evaluation.ais``, which still imports.)

AIS (Neal 2001) estimates :math:`\log Z_B` of a target :math:`f_B` from a
tractable base :math:`p_A = f_A / Z_A` through the geometric path
:math:`f_\beta = f_A^{1-\beta} f_B^{\beta}`, :math:`0 = \beta_0 < \dots < \beta_K = 1`:
a run draws :math:`x_0 \sim p_A`, then for :math:`k = 1, \dots, K` adds
:math:`\log f_{\beta_k}(x_{k-1}) - \log f_{\beta_{k-1}}(x_{k-1})` to its log weight
and moves :math:`x_k \sim T_k(\cdot \mid x_{k-1})` with a transition that leaves
:math:`f_{\beta_k}` invariant. :math:`Z_A \cdot \mathrm{mean}(w)` is unbiased for
:math:`Z_B`, so :math:`\log \hat Z` is a stochastic *lower* bound (in
expectation), and a test log-likelihood :math:`-\bar F - \log \hat Z` built on it
tends to be too *high* when the chains do not mix.

For a Bernoulli RBM (Salakhutdinov & Murray 2008) the hidden units are summed
out: with the base model :math:`f_A(v) = e^{b_A^\top v}` (the hidden units free,
weights zero) and visible biases :math:`b_A` from the training data's base
rates,

.. math::

    \log f_\beta(v) = (1-\beta)\, b_A^\top v + \beta\, b^\top v
        + \sum_j \mathrm{softplus}\bigl(\beta (c_j + v^\top W_{:j})\bigr),

and :math:`T_k` is one block-Gibbs sweep of the RBM with weights and hidden
biases scaled by :math:`\beta_k` and visible biases
:math:`(1-\beta_k) b_A + \beta_k b`. The hidden pre-activations
:math:`c + v^\top W` of a state serve both its weight increment and the next
sweep's hidden draw, so a temperature costs two matmuls, as a Gibbs sweep does.

RAISE (Burda, Grosse & Salakhutdinov 2015) runs the same chain backwards from a
test vector :math:`v` and estimates :math:`\log p_\text{fwd}(v)` of the annealing
model (the distribution of AIS's final sample) with a stochastic lower bound;
since :math:`p_\text{fwd}` is a worse model than the RBM when the chains do not
mix, RAISE errs on the *low* side where AIS errs on the high side. When the two
disagree, the AIS figure is not to be trusted.

References
----------
Neal, R. M. (2001). Annealed importance sampling. *Statistics and Computing* 11.
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*.
Burda, Y., Grosse, R. & Salakhutdinov, R. (2015). Accurate and conservative
estimates of MRF log-likelihood using reverse annealing. *AISTATS*.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks, sharding
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import bernoulli_from_logits

__all__ = [
    "AISResult",
    "RAISEResult",
    "LogLikelihoodEstimate",
    "default_schedule",
    "check_schedule",
    "summarize_log_weights",
    "MIN_ESS_FRACTION",
    "reliability_problem",
    "base_rate_visible_bias",
    "anneal",
    "annealing_chunks",
    "kahan_add",
    "ais_bernoulli_rbm",
    "ais_bernoulli_rbm_family",
    "reverse_ais_bernoulli_rbm",
    "ais_log_likelihood_bernoulli_rbm",
    "raise_bernoulli_rbm",  # alias
    "log_likelihood_bernoulli_rbm",  # alias
]


class AISResult(NamedTuple):
    r"""What an AIS run estimates, with its uncertainty.

    Attributes
    ----------
    log_z
        :math:`\log \hat Z = \log Z_A + \log \mathrm{mean}(w)`.
    interval
        :math:`(\log(\hat Z - 3\hat\sigma), \log(\hat Z + 3\hat\sigma))`, with
        :math:`\hat\sigma` the standard error of :math:`\hat Z` (the
        :math:`\pm 3\sigma` interval of Salakhutdinov & Murray 2008); the lower
        end is :math:`-\infty` when :math:`3\hat\sigma \ge \hat Z`. It reflects the
        spread of the weights only: a run that never reached the target's modes
        can be confidently wrong (compare with RAISE).
    log_weights
        Log importance weight of every run, shape ``(n_runs,)``.
    log_z_base
        :math:`\log Z_A` of the base distribution.
    effective_sample_size
        :math:`(\sum w)^2 / \sum w^2`, between 1 and ``n_runs``.
    n_temperatures
        Length of the schedule (including :math:`\beta = 0` and :math:`1`).
    samples
        Final state of every run (after a last transition at :math:`\beta = 1`):
        approximate samples of the target, shape ``(n_runs, D)``.
    """

    log_z: Float[Array, ""]
    interval: tuple[Float[Array, ""], Float[Array, ""]]
    log_weights: Float[Array, " runs"]
    log_z_base: Float[Array, ""]
    effective_sample_size: Float[Array, ""]
    n_temperatures: int
    samples: Array


class RAISEResult(NamedTuple):
    r"""Reverse-annealing estimates of the log-likelihood of test vectors.

    Attributes
    ----------
    log_likelihoods
        :math:`\log \hat p_\text{fwd}(v)` per test vector, shape ``(n,)`` (the log
        of the mean of its runs' weights).
    mean
        Their mean: the estimated average test log-likelihood.
    standard_error
        Standard error of ``mean`` over test vectors (it includes the spread of
        the test vectors' own likelihoods).
    log_weights
        Every run's log weight, shape ``(n, n_runs)``.
    n_temperatures
        Length of the schedule.
    """

    log_likelihoods: Float[Array, " n"]
    mean: Float[Array, ""]
    standard_error: Float[Array, ""]
    log_weights: Float[Array, "n runs"]
    n_temperatures: int


class LogLikelihoodEstimate(NamedTuple):
    r"""Average log-likelihood :math:`\overline{-F(v)} - \log \hat Z` and its interval.

    Attributes
    ----------
    mean
        Average over the data of :math:`-F(v) - \log \hat Z`.
    interval
        ``mean`` with the :math:`\pm 3\sigma` interval of :math:`\log \hat Z`
        carried through (lower, upper); the sampling error of the data average
        itself is not included: the data are the data.
    per_example
        :math:`-F(v) - \log \hat Z` for every row.
    """

    mean: Float[Array, ""]
    interval: tuple[Float[Array, ""], Float[Array, ""]]
    per_example: Float[Array, " n"]


def default_schedule(
    n_temperatures: int = 14500, dtype=jnp.float32
) -> Float[Array, " temperatures"]:
    """The inverse temperatures of Salakhutdinov & Murray (2008).

    With the default 14,500: 500 evenly spaced in :math:`[0, 0.5)`, 4,000 in
    :math:`[0.5, 0.9)` and 10,000 in :math:`[0.9, 1]`, starting at exactly 0 and
    ending at exactly 1. Other lengths keep the three segments in the same
    proportions.
    """
    n_temperatures = _checks.check_int(n_temperatures, "n_temperatures", minimum=3)
    first = max(1, round(n_temperatures * 500 / 14500))
    second = max(1, round(n_temperatures * 4000 / 14500))
    third = max(1, n_temperatures - first - second)
    betas = np.concatenate(
        [
            np.linspace(0.0, 0.5, first, endpoint=False),
            np.linspace(0.5, 0.9, second, endpoint=False),
            # one temperature left (n_temperatures = 3): the target itself, not 0.9
            np.linspace(0.9, 1.0, third) if third > 1 else np.ones(1),
        ]
    )
    return jnp.asarray(betas, dtype=dtype)


def check_schedule(schedule, dtype=jnp.float32) -> Float[Array, " temperatures"]:
    """Validate a user schedule: 1-D, at least two entries, from 0 to 1, non-decreasing."""
    schedule = np.asarray(schedule, dtype=np.float64)
    if schedule.ndim != 1 or schedule.shape[0] < 2:
        raise ValueError(
            f"schedule must be a 1-D array of at least two inverse temperatures; got shape {schedule.shape}"
        )
    if not np.all(np.isfinite(schedule)):
        raise ValueError("schedule contains NaN or infinite values")
    if schedule[0] != 0.0 or schedule[-1] != 1.0:
        raise ValueError(
            f"schedule must start at 0 and end at 1 (base to target); got {schedule[0]} ... {schedule[-1]}"
        )
    if np.any(np.diff(schedule) < 0):
        raise ValueError("schedule must be non-decreasing")
    return jnp.asarray(schedule, dtype=dtype)


def summarize_log_weights(log_weights, log_z_base, n_temperatures: int, samples=None) -> AISResult:
    """Turn AIS log weights into :class:`AISResult` (estimate, interval, ESS)."""
    log_weights = jnp.asarray(log_weights)
    if log_weights.ndim != 1 or log_weights.shape[0] < 1:
        raise ValueError(f"log_weights must be 1-D and non-empty; got shape {log_weights.shape}")
    n = log_weights.shape[0]
    shift = jnp.max(log_weights)
    ratios = jnp.exp(log_weights - shift)
    mean = jnp.mean(ratios)
    # standard error of the mean weight (ddof=1; zero for a single run)
    spread = jnp.std(ratios, ddof=1) / jnp.sqrt(n) if n > 1 else jnp.zeros_like(mean)
    offset = log_z_base + shift
    log_z = jnp.log(mean) + offset
    lower = jnp.where(
        mean > 3 * spread, jnp.log(jnp.maximum(mean - 3 * spread, 0.0)) + offset, -jnp.inf
    )
    upper = jnp.log(mean + 3 * spread) + offset
    ess = jnp.sum(ratios) ** 2 / jnp.sum(ratios**2)
    return AISResult(
        log_z, (lower, upper), log_weights, jnp.asarray(log_z_base), ess, n_temperatures, samples
    )


MIN_ESS_FRACTION = 0.1
"""Below this fraction of the runs, the effective sample size makes an AIS estimate
untrustworthy (:func:`reliability_problem`)."""


def reliability_problem(result: AISResult) -> str | None:
    r"""Why ``result`` should not be reported as it stands, with the fix; None when fine.

    Two symptoms of too few runs or too coarse a schedule: an interval unbounded below
    (:math:`3\hat\sigma \ge \hat Z`: the weights are dominated by a few runs) and an
    effective sample size under :data:`MIN_ESS_FRACTION` of the runs. Neither proves the
    estimate wrong, but both say its interval means little. For a batched result
    (:func:`ais_bernoulli_rbm_family`) any member counts.

    Parameters
    ----------
    result
        An :class:`AISResult` (concrete values, not traced).

    Returns
    -------
    str or None
        A one-sentence explanation naming the numbers and the fix (more runs, more
        temperatures).
    """
    n_runs = int(np.shape(result.log_weights)[-1])
    lower = np.asarray(result.interval[0])
    ess = np.asarray(result.effective_sample_size)
    problems = []
    if np.any(np.isneginf(lower)):
        problems.append("its interval is unbounded below (3 standard errors exceed the estimate)")
    if np.any(ess < MIN_ESS_FRACTION * n_runs):
        problems.append(
            f"its effective sample size {float(np.min(ess)):.3g} is under "
            f"{MIN_ESS_FRACTION:.0%} of the {n_runs} runs"
        )
    if not problems:
        return None
    return (
        f"the AIS estimate is unreliable: {' and '.join(problems)}; run more AIS runs "
        f"or more temperatures (here {n_runs} runs and {result.n_temperatures} temperatures)"
    )


def base_rate_visible_bias(data, pseudo_count: float = 0.05) -> Float[Array, " visible"]:
    r"""Visible biases of the base-rate model: :math:`\mathrm{logit}` of the smoothed pixel means.

    ``(sum(v) + pseudo_count) / (n + 2 pseudo_count)`` keeps the biases finite for
    pixels that are always off (Salakhutdinov & Murray 2008 use the training
    data's marginals the same way).
    """
    data = _checks.check_array(data, "base_data", ndim_min=2)
    _checks.check_binary(data, "base_data")
    n = data.shape[0]
    mean = (jnp.sum(data, axis=0) + pseudo_count) / (n + 2 * pseudo_count)
    return jnp.log(mean) - jnp.log1p(-mean)


def _softplus_difference(pre, beta, beta_prev):
    r""":math:`\mathrm{softplus}(\beta x) - \mathrm{softplus}(\beta' x)` without cancellation.

    :math:`\mathrm{softplus}(a) = \max(a, 0) + \log(1 + e^{-|a|})`; the linear parts
    differ by exactly :math:`(\beta - \beta') \max(x, 0)`, leaving two terms below
    :math:`\log 2` whose rounding errors are tiny, where the plain difference of two
    softplus values of size :math:`|x|` would lose digits at every one of the many
    small temperature steps.
    """
    magnitude = jnp.abs(pre)
    return (
        (beta - beta_prev) * jnp.maximum(pre, 0.0)
        + jnp.log1p(jnp.exp(-beta * magnitude))
        - jnp.log1p(jnp.exp(-beta_prev * magnitude))
    )


def _log_f_increment(params, base_bias, v, pre, beta, beta_prev):
    r""":math:`\log f_\beta(v) - \log f_{\beta'}(v)` per row, given ``pre = c + v W``."""
    # a sum, not a matvec: the base biases may differ per run (ais_bernoulli_rbm_family)
    visible = (beta - beta_prev) * jnp.sum(v * (params.b - base_bias), axis=-1)
    return visible + jnp.sum(_softplus_difference(pre, beta, beta_prev), axis=-1)


def _sweep(rng_key, params, base_bias, pre, beta):
    """One Gibbs sweep at inverse temperature ``beta``; returns ``(v, c + v W)``."""
    key_hidden, key_visible = jax.random.split(rng_key)
    dtype = pre.dtype
    hidden = bernoulli_from_logits(key_hidden, beta * pre, dtype)
    visible_logits = beta * (hidden @ params.W.T) + ((1 - beta) * base_bias + beta * params.b)
    visible = bernoulli_from_logits(key_visible, visible_logits, dtype)
    return visible, visible @ params.W + params.c


class _Carry(NamedTuple):
    visible: Array
    pre: Array
    log_weights: Array
    compensation: Array  # Kahan compensation of log_weights


def kahan_add(total, compensation, value):
    """Compensated summation: 14,500 float32 increments lose no more than a few ulp."""
    y = value - compensation
    t = total + y
    return t, (t - total) - y


@partial(jax.jit, static_argnames=("reverse",))
def _anneal_chunk(rng_key, params, base_bias, carry: _Carry, betas, betas_prev, reverse: bool):
    """Scan over one chunk of the schedule (forward AIS or reverse RAISE steps)."""

    def forward(carry: _Carry, xs):
        key, beta, beta_prev = xs
        increment = _log_f_increment(params, base_bias, carry.visible, carry.pre, beta, beta_prev)
        log_weights, compensation = kahan_add(carry.log_weights, carry.compensation, increment)
        visible, pre = _sweep(key, params, base_bias, carry.pre, beta)
        return _Carry(visible, pre, log_weights, compensation), None

    def backward(carry: _Carry, xs):
        key, beta, beta_prev = xs
        visible, pre = _sweep(key, params, base_bias, carry.pre, beta)
        increment = _log_f_increment(params, base_bias, visible, pre, beta, beta_prev)
        log_weights, compensation = kahan_add(carry.log_weights, carry.compensation, -increment)
        return _Carry(visible, pre, log_weights, compensation), None

    keys = jax.random.split(rng_key, betas.shape[0])
    return jax.lax.scan(backward if reverse else forward, carry, (keys, betas, betas_prev))[0]


def _anneal_rbm(
    rng_key, params, base_bias, carry, schedule, mesh, chain_axis, *, reverse, progress
):
    """Place the runs on ``mesh`` (when given) and anneal them with the fused RBM chunks:
    forward (AIS, base to target) or reverse (RAISE, target to base)."""
    if mesh is not None:
        carry = sharding.put_chains(carry, mesh, chain_axis)
        params, base_bias = sharding.put_replicated((params, base_bias), mesh)
    return anneal(
        rng_key,
        _rbm_chunks(params, base_bias, reverse=reverse),
        carry,
        schedule,
        reverse=reverse,
        progress=progress,
        description="RAISE" if reverse else "AIS",
    )


def _rbm_chunks(params, base_bias, *, reverse: bool):
    """:func:`anneal`'s ``run_chunk`` for the fused Bernoulli-RBM sweep."""

    def run_chunk(rng_key, carry, betas, betas_prev):
        return _anneal_chunk(rng_key, params, base_bias, carry, betas, betas_prev, reverse)

    return run_chunk


def annealing_chunks(n_steps: int, n_chunks: int):
    """``(start, stop)`` of ``n_chunks`` (at most ``n_steps``) near-equal chunks of
    ``range(n_steps)``: equal lengths keep a chunked scan to at most two compilations."""
    bounds = np.linspace(0, n_steps, min(n_chunks, n_steps) + 1).round().astype(int)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def anneal(
    rng_key: PRNGKeyArray,
    run_chunk,
    carry,
    schedule: Float[Array, " temperatures"],
    *,
    reverse: bool,
    progress: bool = False,
    description: str = "AIS",
):
    r"""The one annealing driver: all :math:`K` steps of ``schedule``, in chunks.

    Forward step :math:`k` pairs :math:`(\beta_k, \beta_{k-1})`; reverse (RAISE,
    :func:`numpyro_ebm.evaluation.annealing.reverse_ais`) runs the same pairs from
    :math:`k = K` down to 1. ``run_chunk(rng_key, carry, betas, betas_prev) -> carry``
    makes the steps of one chunk (a compiled scan: the fused RBM sweep of this module or
    the generic transitions of :mod:`numpyro_ebm.evaluation.annealing`); each chunk gets
    its own key split from ``rng_key``. With ``progress`` the schedule runs in 50
    chunks of equal length (at most two compilations) and a progress bar ticks per
    chunk; without, in one. ``carry.log_weights`` must exist (the bar waits on it).
    """
    betas, betas_prev = schedule[1:], schedule[:-1]
    if reverse:
        betas, betas_prev = betas[::-1], betas_prev[::-1]
    n_steps = betas.shape[0]
    chunks = annealing_chunks(n_steps, 50 if progress else 1)
    keys = jax.random.split(rng_key, len(chunks))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, desc=description, unit="temp")
    try:
        for key, (start, stop) in zip(keys, chunks, strict=True):
            carry = run_chunk(key, carry, betas[start:stop], betas_prev[start:stop])
            if bar is not None:
                carry.log_weights.block_until_ready()
                bar.update(stop - start)
    finally:
        if bar is not None:
            bar.close()
    return carry


def _validated_params(params):
    if not isinstance(params, bernoulli_rbm.BernoulliRBMParams):
        raise TypeError(
            f"params must be a bernoulli_rbm.BernoulliRBMParams; got {type(params).__name__}"
        )
    for name, value in zip(params._fields, params, strict=True):
        _checks.check_array(value, f"params.{name}", ndim_min=1)
    dtype = params.W.dtype
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), params)


def _resolve_base_bias(params, base_visible_bias, base_data):
    if base_visible_bias is not None and base_data is not None:
        raise ValueError("give base_visible_bias or base_data, not both")
    dtype = params.W.dtype
    if base_data is not None:
        base_data = bernoulli_rbm.validate_visible(params, base_data, "base_data")
        return base_rate_visible_bias(base_data).astype(dtype)
    if base_visible_bias is None:
        return jnp.zeros(params.n_visible, dtype)
    base_visible_bias = _checks.check_array(base_visible_bias, "base_visible_bias", ndim_min=1)
    if base_visible_bias.shape != (params.n_visible,):
        raise ValueError(
            f"base_visible_bias must have shape ({params.n_visible},); got {base_visible_bias.shape}"
        )
    return base_visible_bias.astype(dtype)


def _log_z_base(base_bias, n_hidden: int):
    # f_0(v) = exp(b_A' v) * 2^K: the K free hidden units each contribute log 2
    return jnp.sum(jax.nn.softplus(base_bias), axis=-1) + n_hidden * math.log(2.0)


def ais_bernoulli_rbm(
    rng_key: PRNGKeyArray,
    params: bernoulli_rbm.BernoulliRBMParams,
    *,
    n_runs: int = 100,
    schedule=None,
    base_visible_bias=None,
    base_data=None,
    progress: bool = False,
    mesh=None,
    chain_axis: str | None = None,
) -> AISResult:
    r"""Estimate :math:`\log Z` of a Bernoulli RBM by AIS (Salakhutdinov & Murray 2008).

    Parameters
    ----------
    rng_key
        PRNG key.
    params
        The RBM. The estimate runs in the dtype of ``params.W`` (float64 when
        x64 is enabled and the parameters are float64).
    n_runs
        Independent annealing runs, all advanced together (one matmul per layer).
    schedule
        Inverse temperatures from 0 to 1, non-decreasing; default
        :func:`default_schedule` (14,500 temperatures).
    base_visible_bias
        Visible biases :math:`b_A` of the base model (weights zero, hidden units
        free). Default zero (the uniform distribution).
    base_data
        Binary training data whose smoothed base rates give :math:`b_A`
        (:func:`base_rate_visible_bias`): the recommended base, which starts the
        runs near the data's marginals and gives much tighter estimates.
    progress
        Show a tqdm progress bar (the schedule then runs in 50 compiled chunks).
    mesh, chain_axis
        Optional :class:`jax.sharding.Mesh`: the runs are split over its axis
        ``chain_axis`` (default ``"chain"``; ``n_runs`` must be a multiple of its
        size), the parameters replicated. Every run draws the same random numbers
        whatever the number of devices (see :mod:`numpyro_ebm.sharding`).

    Returns
    -------
    AISResult
    """
    params = _validated_params(params)
    n_runs = _checks.check_int(n_runs, "n_runs", minimum=1)
    if mesh is not None:
        mesh, chain_axis = sharding.validate_chain_mesh(mesh, chain_axis, n_runs, "n_runs")
    dtype = params.W.dtype
    schedule = (
        default_schedule(dtype=dtype) if schedule is None else check_schedule(schedule, dtype)
    )
    base_bias = _resolve_base_bias(params, base_visible_bias, base_data)
    key_init, key_anneal, key_final = jax.random.split(rng_key, 3)
    visible = bernoulli_from_logits(
        key_init, jnp.broadcast_to(base_bias, (n_runs, params.n_visible)), dtype
    )
    zeros = jnp.zeros(n_runs, dtype)
    carry = _Carry(visible, visible @ params.W + params.c, zeros, zeros)
    carry = _anneal_rbm(key_anneal, params, base_bias, carry, schedule, mesh, chain_axis,
                        reverse=False, progress=progress)  # fmt: skip
    return summarize_log_weights(
        carry.log_weights,
        _log_z_base(base_bias, params.n_hidden),
        int(schedule.shape[0]),
        samples=carry.visible,
    )


def reverse_ais_bernoulli_rbm(
    rng_key: PRNGKeyArray,
    params: bernoulli_rbm.BernoulliRBMParams,
    data: Float[Array, "n visible"],
    *,
    n_runs: int = 1,
    schedule=None,
    n_temperatures: int | None = None,
    base_visible_bias=None,
    base_data=None,
    progress: bool = False,
    mesh=None,
    chain_axis: str | None = None,
) -> RAISEResult:
    r"""Conservative log-likelihood estimates by reverse annealing (RAISE).

    Each test vector :math:`v` starts a chain at :math:`\beta = 1`; for
    :math:`k = K, \dots, 1` it moves :math:`x_{k-1} \sim T_k(\cdot \mid x_k)` (the
    sweep at :math:`\beta_k`, which is reversible, so it is its own reversal) and
    the log weight collects :math:`-[\log f_{\beta_k}(x_{k-1}) - \log f_{\beta_{k-1}}(x_{k-1})]`,
    starting from :math:`\log f_1(v) - \log Z_A`. The weight is an unbiased
    estimate of :math:`p_\text{fwd}(v)`, the probability of :math:`v` under
    forward AIS with the same schedule, so its log is a stochastic lower bound of
    :math:`\log p_\text{fwd}(v)` (Burda, Grosse & Salakhutdinov 2015).

    Parameters
    ----------
    rng_key
        PRNG key.
    params
        The RBM.
    data
        Binary test vectors, shape ``(n, D)``.
    n_runs
        Reverse runs per test vector; the estimate per vector is the log of the
        mean of its weights.
    schedule, n_temperatures
        The annealing schedule (as for :func:`ais_bernoulli_rbm`), or
        ``n_temperatures`` for :func:`default_schedule` with that many
        temperatures.
    base_visible_bias, base_data
        The base model, as for :func:`ais_bernoulli_rbm`.
    progress
        Show a tqdm progress bar.
    mesh, chain_axis
        Optional :class:`jax.sharding.Mesh`: the ``n * n_runs`` reverse runs are
        split over its axis ``chain_axis`` (default ``"chain"``; ``n * n_runs``
        must be a multiple of its size), as in :func:`ais_bernoulli_rbm`.
    """
    params = _validated_params(params)
    dtype = params.W.dtype
    data = bernoulli_rbm.validate_visible(params, data, "data")
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, {params.n_visible}); got {data.shape}")
    n_runs = _checks.check_int(n_runs, "n_runs", minimum=1)
    if mesh is not None:
        mesh, chain_axis = sharding.validate_chain_mesh(
            mesh,
            chain_axis,
            data.shape[0] * n_runs,
            "the number of reverse runs (len(data) * n_runs)",
        )
    if schedule is not None and n_temperatures is not None:
        raise ValueError("give schedule or n_temperatures, not both")
    if schedule is None:
        schedule = default_schedule(n_temperatures or 14500, dtype)
    schedule = check_schedule(schedule, dtype)
    base_bias = _resolve_base_bias(params, base_visible_bias, base_data)
    n = data.shape[0]
    visible = jnp.repeat(data.astype(dtype), n_runs, axis=0)
    pre = visible @ params.W + params.c
    log_f_target = visible @ params.b + jnp.sum(jax.nn.softplus(pre), axis=-1)
    start = log_f_target - _log_z_base(base_bias, params.n_hidden)
    carry = _Carry(visible, pre, start, jnp.zeros_like(start))
    carry = _anneal_rbm(rng_key, params, base_bias, carry, schedule, mesh, chain_axis,
                        reverse=True, progress=progress)  # fmt: skip
    log_weights = carry.log_weights.reshape(n, n_runs)
    per_example = jax.nn.logsumexp(log_weights, axis=1) - math.log(n_runs)
    standard_error = (
        jnp.std(per_example, ddof=1) / jnp.sqrt(n) if n > 1 else jnp.asarray(jnp.nan, dtype)
    )
    return RAISEResult(
        per_example, jnp.mean(per_example), standard_error, log_weights, int(schedule.shape[0])
    )


def ais_log_likelihood_bernoulli_rbm(
    params: bernoulli_rbm.BernoulliRBMParams, data, estimate: AISResult
) -> LogLikelihoodEstimate:
    r"""Average test log-likelihood :math:`\overline{-F(v)} - \log \hat Z` with the AIS interval."""
    params = _validated_params(params)
    data = bernoulli_rbm.validate_visible(params, data, "data")
    neg_free = -jax.jit(bernoulli_rbm.free_energy)(params, data.astype(params.W.dtype))
    per_example = neg_free - estimate.log_z
    mean = jnp.mean(neg_free)
    lower, upper = estimate.interval
    return LogLikelihoodEstimate(mean - estimate.log_z, (mean - upper, mean - lower), per_example)


def ais_bernoulli_rbm_family(
    rng_key: PRNGKeyArray,
    params: bernoulli_rbm.BernoulliRBMParams,
    hidden_biases: Float[Array, "models hidden"],
    base_visible_biases: Float[Array, "models visible"],
    *,
    n_runs: int = 100,
    schedule=None,
    progress: bool = False,
) -> AISResult:
    r""":math:`\log Z` of ``m`` Bernoulli RBMs that share ``W`` and ``b`` but not their hidden biases.

    RBM ``i`` has weights ``params.W``, visible biases ``params.b`` and hidden
    biases ``hidden_biases[i]``; its AIS base is
    :math:`f_A(v) = e^{b_{A,i}^\top v}` with ``base_visible_biases[i]``. All
    ``m * n_runs`` runs anneal together as in :func:`ais_bernoulli_rbm` (two
    matmuls per temperature over all of them). This is how the partition
    function of a DBM's hidden layers with :math:`v` clamped is estimated for many
    test vectors at once (:func:`numpyro_ebm.evaluation.deep.ais_log_likelihood_dbm`).

    Returns
    -------
    AISResult
        With a leading axis of length ``m`` on ``log_z``, both ends of
        ``interval``, ``log_weights`` (``(m, n_runs)``), ``log_z_base``,
        ``effective_sample_size`` and ``samples`` (``(m, n_runs, D)``).
    """
    params = _validated_params(params)
    n_runs = _checks.check_int(n_runs, "n_runs", minimum=1)
    dtype = params.W.dtype
    K = params.n_hidden
    hidden_biases = _checks.check_array(hidden_biases, "hidden_biases", ndim_min=2)
    if hidden_biases.ndim != 2 or hidden_biases.shape[1] != K:
        raise ValueError(f"hidden_biases must have shape (m, {K}); got {hidden_biases.shape}")
    m = hidden_biases.shape[0]
    base = _checks.check_array(base_visible_biases, "base_visible_biases", ndim_min=2)
    if base.shape != (m, params.n_visible):
        raise ValueError(
            f"base_visible_biases must have shape ({m}, {params.n_visible}); got {base.shape}"
        )
    schedule = (
        default_schedule(dtype=dtype) if schedule is None else check_schedule(schedule, dtype)
    )
    hidden = jnp.repeat(hidden_biases.astype(dtype), n_runs, axis=0)
    base = jnp.repeat(base.astype(dtype), n_runs, axis=0)
    family = params._replace(c=hidden)
    key_init, key_anneal = jax.random.split(rng_key)
    visible = bernoulli_from_logits(key_init, base, dtype)
    zeros = jnp.zeros(m * n_runs, dtype)
    carry = _Carry(visible, visible @ family.W + family.c, zeros, zeros)
    carry = anneal(
        key_anneal,
        _rbm_chunks(family, base, reverse=False),
        carry,
        schedule,
        reverse=False,
        progress=progress,
        description="AIS",
    )
    log_z_base = _log_z_base(base, K).reshape(m, n_runs)[:, 0]

    def summary(log_weights, log_z_base, samples):
        result = summarize_log_weights(log_weights, log_z_base, 0, samples)
        return result._replace(n_temperatures=None)

    result = jax.vmap(summary)(
        carry.log_weights.reshape(m, n_runs),
        log_z_base,
        carry.visible.reshape(m, n_runs, params.n_visible),
    )
    return result._replace(n_temperatures=int(schedule.shape[0]))


# Old names, kept as aliases for existing code (one word order: method, quantity, model).
raise_bernoulli_rbm = reverse_ais_bernoulli_rbm
"""Alias of :func:`reverse_ais_bernoulli_rbm` (RAISE is reverse AIS: the old name)."""
log_likelihood_bernoulli_rbm = ais_log_likelihood_bernoulli_rbm
"""Alias of :func:`ais_log_likelihood_bernoulli_rbm` (the old name, which collided with
:func:`numpyro_ebm.evaluation.exact.log_likelihood_bernoulli_rbm`: an array there, an
estimate here)."""
