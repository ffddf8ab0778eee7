r"""Tuning a parallel-tempering ladder: :func:`geometric_ladder`, :func:`tune_ladder`,
:func:`adapt_ladder` (BlackJAX keeps such tuning apart from the kernels, in ``adaptation/``).

A ladder whose adjacent pairs reject swaps equally often maximises the round-trip rate of
non-reversible (DEO) parallel tempering for a given number of replicas; the rejection
rates of a pilot run estimate the communication barrier that spacing equalises.

References
----------
Syed, S., Bouchard-Côté, A., Deligiannidis, G. & Doucet, A. (2021).
Non-reversible parallel tempering: a scalable highly parallel MCMC scheme.
*Journal of the Royal Statistical Society: Series B* 84(2), 2022.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm.kernels import runner
from numpyro_ebm.kernels.parallel_tempering import PTState, TemperedParams

__all__ = ["LadderTuning", "geometric_ladder", "tune_ladder", "adapt_ladder", "round_trip_rate"]


def geometric_ladder(n_replicas: int, min_inverse_temperature: float, dtype=jnp.float32):
    """``n_replicas`` inverse temperatures spaced geometrically from ``min_inverse_temperature`` to 1.

    A common starting ladder (equal ratios :math:`\\beta_{k+1}/\\beta_k`) before
    :func:`tune_ladder`; with ``min_inverse_temperature = 0`` the first entry is
    0 and the rest are geometric from ``1 / 2**(n_replicas - 2)``.
    """
    if isinstance(n_replicas, bool) or not isinstance(n_replicas, int) or n_replicas < 2:
        raise ValueError(f"n_replicas must be an integer >= 2; got {n_replicas!r}")
    if not 0.0 <= min_inverse_temperature < 1.0:
        raise ValueError(
            f"min_inverse_temperature must lie in [0, 1); got {min_inverse_temperature}"
        )
    if min_inverse_temperature == 0.0:
        rest = np.geomspace(0.5 ** max(n_replicas - 2, 0), 1.0, n_replicas - 1)
        return jnp.asarray(np.concatenate([[0.0], rest]), dtype)
    return jnp.asarray(np.geomspace(min_inverse_temperature, 1.0, n_replicas), dtype)


class LadderTuning(NamedTuple):
    """What :func:`tune_ladder` found.

    inverse_temperatures
        The new ladder, equally spaced in the cumulative barrier.
    barrier
        :math:`\\hat\\Lambda = \\sum_k r_k`, the global communication barrier.
    cumulative_barrier
        :math:`\\hat\\Lambda(\\beta_k) = \\sum_{j<k} r_j` at the old ladder.
    suggested_n_replicas
        :math:`\\lceil 2\\hat\\Lambda\\rceil + 1` (at least 2): with that many
        replicas, equally spaced in the barrier, every pair rejects about half of
        its swaps, the rule of thumb of Syed et al. (2021), who show the
        round-trip rate of DEO is within a small factor of its optimum
        :math:`1/(2 + 2\\Lambda)` from there on.
    round_trip_rate
        :func:`round_trip_rate` of the old ladder's rejection rates.
    """

    inverse_temperatures: Float[Array, " ladder"]
    barrier: float
    cumulative_barrier: np.ndarray
    suggested_n_replicas: int
    round_trip_rate: float


def round_trip_rate(rejection_rates) -> float:
    """Round trips per step and replica of DEO swaps: :math:`(2 + 2\\sum_k r_k/(1 - r_k))^{-1}`.

    Syed et al. (2021), Theorem 3, for stationary replicas whose swap events are
    independent ("efficient local exploration"); an upper bound in practice.
    """
    r = np.asarray(rejection_rates, dtype=np.float64)
    with np.errstate(divide="ignore"):
        total = np.sum(r / (1 - r))
    return float(1.0 / (2.0 + 2.0 * total))


def tune_ladder(
    inverse_temperatures, rejection_rates, n_replicas: int | None = None
) -> LadderTuning:
    r"""A ladder whose adjacent pairs have equal rejection rates (Syed et al. 2021, Sec. 5).

    The rejection rate of a pair estimates the integral of the local
    communication barrier :math:`\lambda(\beta)` between its temperatures, so
    :math:`\hat\Lambda(\beta_k) = \sum_{j<k} r_j` is the cumulative barrier at
    the old ladder. It is interpolated monotonically (piecewise linearly; a
    strictly increasing floor keeps it invertible where no swap was ever
    rejected) and inverted at ``n_replicas`` equally spaced levels
    :math:`\hat\Lambda(1)\, k/(n-1)`: the new :math:`\beta_k` then share the
    barrier equally, which maximises the round-trip rate for a given number of
    replicas (Syed et al. 2021, Sec. 5.1, schedule optimisation). The end points
    :math:`\beta_0` and 1 stay.

    Parameters
    ----------
    inverse_temperatures
        The pilot ladder, shape ``(K,)``.
    rejection_rates
        Mean rejection rate :math:`1 - \bar\alpha_k` of each adjacent pair,
        shape ``(K-1,)`` (e.g. ``1 - info.swap_acceptance.mean(axis=(0, 1))``
        over a pilot run's stacked infos).
    n_replicas
        Length of the new ladder (default: ``K``); see ``suggested_n_replicas``.
    """
    betas = np.asarray(inverse_temperatures, dtype=np.float64)
    rates = np.asarray(rejection_rates, dtype=np.float64)
    if betas.ndim != 1 or betas.shape[0] < 2:
        raise ValueError(f"inverse_temperatures must have shape (K,), K >= 2; got {betas.shape}")
    if rates.shape != (betas.shape[0] - 1,):
        raise ValueError(
            f"rejection_rates must have shape (K-1,) = ({betas.shape[0] - 1},); got {rates.shape}"
        )
    if not np.all(np.isfinite(rates)) or np.any(rates < 0) or np.any(rates > 1):
        raise ValueError(f"rejection_rates must lie in [0, 1]; got {rates}")
    if np.any(np.diff(betas) < 0):
        raise ValueError(f"inverse_temperatures must be non-decreasing; got {betas}")
    n = betas.shape[0] if n_replicas is None else n_replicas
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n_replicas must be an integer >= 2; got {n_replicas!r}")
    cumulative = np.concatenate([[0.0], np.cumsum(rates)])
    barrier = float(cumulative[-1])
    # a tiny increasing floor keeps the interpolant strictly increasing (invertible)
    span = max(barrier, 1.0)
    floor = 1e-9 * span * np.linspace(0.0, 1.0, betas.shape[0])
    levels = np.linspace(0.0, cumulative[-1] + floor[-1], int(n))
    new = np.interp(levels, cumulative + floor, betas)
    new[0], new[-1] = betas[0], betas[-1]
    new = np.maximum.accumulate(new)
    dtype = inverse_temperatures.dtype if hasattr(inverse_temperatures, "dtype") else jnp.float32
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.float32
    return LadderTuning(
        jnp.asarray(new, dtype),
        barrier,
        cumulative,
        max(2, int(math.ceil(2 * barrier)) + 1),
        round_trip_rate(rates),
    )


def adapt_ladder(
    rng_key: PRNGKeyArray,
    algorithm: SamplingAlgorithm,
    state: PTState,
    params,
    inverse_temperatures,
    *,
    n_rounds: int = 4,
    n_steps: int = 64,
    vmap_chains: bool = False,
):
    """Tune the ladder by pilot rounds of doubling length (Syed et al. 2021, Algorithm 4).

    Round ``r`` (from 0) runs ``n_steps * 2**r`` steps of ``algorithm`` (a
    parallel-tempering ``SamplingAlgorithm`` from :func:`as_top_level_api`) at the
    current ladder, averages the rejection rates over its steps and chains, and
    moves the ladder with :func:`tune_ladder` (same number of replicas). The
    ladder is a call-time argument and the rounds run in chunks of ``n_steps``,
    so everything shares one compiled chunk.

    Parameters
    ----------
    vmap_chains
        ``True`` when ``state`` is a batch of single-chain PT states (a leading
        chain axis on every leaf), stepped with ``jax.vmap``.

    Returns
    -------
    state
        The state after the last round.
    inverse_temperatures
        The tuned ladder.
    tuning
        The last round's :class:`LadderTuning` (with the barrier estimate and
        ``suggested_n_replicas`` for the next run).
    """
    for value, name in ((n_rounds, "n_rounds"), (n_steps, "n_steps")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")

    def rejection_rates(state, info):
        axes = tuple(range(info.swap_acceptance.ndim - 1))
        return jnp.mean(1 - info.swap_acceptance, axis=axes)

    @jax.jit
    def chunk(key, state, params, betas):
        state, rates = runner.run_sampler(
            key,
            algorithm,
            state,
            TemperedParams(params, betas),
            n_steps,
            vmap_chains=vmap_chains,
            transform=rejection_rates,
        )
        return state, jnp.mean(rates, axis=0)

    betas = jnp.asarray(inverse_temperatures)
    tuning = None
    for round_index in range(n_rounds):
        n_chunks = 2**round_index
        total = 0.0
        for c in range(n_chunks):
            key = jax.random.fold_in(jax.random.fold_in(rng_key, round_index), c)
            state, rates = chunk(key, state, params, betas)
            total = total + np.asarray(rates, dtype=np.float64)
        tuning = tune_ladder(betas, total / n_chunks)
        betas = tuning.inverse_temperatures.astype(betas.dtype)
    return state, betas, tuning
