r"""Gaussian random-walk Metropolis-Hastings on an energy, with BlackJAX's kernel.

A thin adapter: the target is :math:`p(x) \propto e^{-E(\theta, x)}`, the log
density :math:`-E(\theta, \cdot)` is built at call time by
:func:`numpyro_ebm.potentials.log_density_fn`, and the transition is BlackJAX's
additive-step random walk (:func:`blackjax.mcmc.random_walk.build_additive_step`)
with the Gaussian step :func:`blackjax.mcmc.random_walk.normal`:
:math:`x' = x + \Sigma^{1/2}\xi`, accepted with probability
:math:`\min(1, p(x')/p(x))`. States and infos are BlackJAX's
:class:`blackjax.mcmc.random_walk.RWState` and
:class:`blackjax.mcmc.random_walk.RWInfo`.

The parameters :math:`\theta` enter every step, ``step(rng_key, state, params)``.
The state caches :math:`\log p(x)` at the current position, and the acceptance
ratio uses it; by default (``refresh=True``) the kernel re-evaluates it at the
current :math:`\theta` before each step (one extra energy evaluation, no
gradient), so changing :math:`\theta` between steps is safe. Pass
``refresh=False`` when :math:`\theta` is fixed.

One state is one chain; run several with ``jax.vmap``. Positions may be arrays
or pytrees.

References
----------
Metropolis, N., Rosenbluth, A. W., Rosenbluth, M. N., Teller, A. H. & Teller, E.
(1953). Equation of state calculations by fast computing machines. *J. Chem.
Phys.* 21(6).
Hastings, W. K. (1970). Monte Carlo sampling methods using Markov chains and
their applications. *Biometrika* 57(1).
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax.mcmc.random_walk as bj_rw
from blackjax.base import SamplingAlgorithm
from blackjax.mcmc.random_walk import RWInfo, RWState
from jaxtyping import PRNGKeyArray

from numpyro_ebm.kernels import _blackjax_adapter as adapter

__all__ = ["RWState", "RWInfo", "init", "build_kernel", "as_top_level_api"]


def init(position, params, energy_fn: Callable) -> RWState:
    """BlackJAX's random-walk state at ``position`` for ``energy_fn(params, x)``, validated."""
    return adapter.init_state(bj_rw.init, position, params, energy_fn)


def build_kernel(energy_fn: Callable, *, refresh: bool = True):
    r"""Return ``kernel(rng_key, state, params, step_size) -> (RWState, RWInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x) -> scalar``; the target is :math:`e^{-E}`.
    refresh
        Re-evaluate the state's cached log density at ``params`` before each step
        (one extra energy evaluation).

    Notes
    -----
    ``step_size`` is BlackJAX's ``sigma`` of :func:`blackjax.mcmc.random_walk.normal`,
    applied to the flattened position: a scalar or a vector is the standard
    deviation of the Gaussian step (per coordinate), a matrix :math:`L` gives the
    step :math:`L\xi` (covariance :math:`LL^\top`).
    """
    blackjax_kernel = bj_rw.build_additive_step()

    def kernel(rng_key: PRNGKeyArray, state: RWState, params, step_size) -> tuple[RWState, RWInfo]:
        logdensity_fn, state = adapter.prepare_state(bj_rw.init, state, params, energy_fn, refresh)
        step_size = adapter.in_position_dtype(step_size, state.position)
        return blackjax_kernel(rng_key, state, logdensity_fn, bj_rw.normal(step_size))

    return kernel


def as_top_level_api(energy_fn: Callable, step_size, *, refresh: bool = True) -> SamplingAlgorithm:
    """Random-walk Metropolis on ``energy_fn`` as a ``SamplingAlgorithm``:
    ``init(position, params)``, ``step(rng_key, state, params)`` with the proposal
    scale ``step_size`` fixed here (see :func:`build_kernel`; no default)."""
    kernel = build_kernel(energy_fn, refresh=refresh)

    def init_fn(position, params) -> RWState:
        return init(position, params, energy_fn)

    def step_fn(rng_key: PRNGKeyArray, state: RWState, params) -> tuple[RWState, RWInfo]:
        return kernel(rng_key, state, params, step_size)

    return SamplingAlgorithm(init_fn, step_fn)
