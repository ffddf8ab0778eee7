r"""Hamiltonian Monte Carlo on an energy, with BlackJAX's HMC kernel.

A thin adapter: the target is :math:`p(x) \propto e^{-E(\theta, x)}`, the log
density :math:`-E(\theta, \cdot)` is built at call time by
:func:`numpyro_ebm.potentials.log_density_fn`, and the transition is
:func:`blackjax.mcmc.hmc.build_kernel` (momentum resampling, ``num_integration_steps``
leapfrog steps, Metropolis correction). States and infos are BlackJAX's own
:class:`blackjax.mcmc.hmc.HMCState` and :class:`blackjax.mcmc.hmc.HMCInfo`.

The parameters :math:`\theta` enter every step, ``step(rng_key, state, params)``,
so a learning loop can change them without recompiling. Because the state caches
the log density and its gradient at the current position, by default
(``refresh=True``) the kernel re-evaluates them at the current :math:`\theta`
before the step; without that, after a change of :math:`\theta` the Metropolis
test would compare the proposal's new log density with the old one and the
chain would not leave :math:`p_\theta` invariant. The refresh costs one extra
gradient evaluation per step; pass ``refresh=False`` when :math:`\theta` is fixed.

One state is one chain (the energy of one position must be a scalar); run
several chains with ``jax.vmap`` over ``init`` and ``step``. Positions may be
arrays or pytrees (e.g. dicts of arrays).

References
----------
Duane, S., Kennedy, A. D., Pendleton, B. J. & Roweth, D. (1987). Hybrid Monte
Carlo. *Physics Letters B* 195(2).
Neal, R. M. (2011). MCMC using Hamiltonian dynamics. In *Handbook of Markov
Chain Monte Carlo*, ch. 5.
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax.mcmc.hmc as bj_hmc
import blackjax.mcmc.integrators as integrators
from blackjax.base import SamplingAlgorithm
from blackjax.mcmc.hmc import HMCInfo, HMCState
from jaxtyping import PRNGKeyArray

from numpyro_ebm.kernels import _blackjax_adapter as adapter

__all__ = ["HMCState", "HMCInfo", "init", "build_kernel", "as_top_level_api"]


def init(position, params, energy_fn: Callable) -> HMCState:
    """BlackJAX's HMC state at ``position`` for the energy ``energy_fn(params, x)``.

    ``position`` (array or pytree) is validated: floating dtype, finite values,
    scalar energy, finite energy and gradient.
    """
    return adapter.init_state(bj_hmc.init, position, params, energy_fn)


def build_kernel(
    energy_fn: Callable,
    integrator: Callable = integrators.velocity_verlet,
    divergence_threshold: float = 1000,
    *,
    refresh: bool = True,
):
    """Return ``kernel(rng_key, state, params, step_size, inverse_mass_matrix=None, num_integration_steps=10)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x) -> scalar``; the target is :math:`e^{-E}`.
    integrator
        BlackJAX symplectic integrator (default velocity Verlet, i.e. leapfrog).
    divergence_threshold
        Energy error above which a transition is flagged divergent.
    refresh
        Re-evaluate the state's cached log density and gradient at ``params``
        before each step (one extra gradient evaluation). Needed whenever
        ``params`` may differ from those the state was built or last stepped with.

    Returns
    -------
    kernel
        ``kernel(rng_key, state, params, ...)`` with the sampler parameters of
        :func:`blackjax.mcmc.hmc.build_kernel`: ``step_size``, ``inverse_mass_matrix``
        (``None`` for the identity on the flattened position; a vector is a diagonal, a
        matrix a dense inverse mass matrix) and ``num_integration_steps``. It returns
        ``(HMCState, HMCInfo)``.
    """
    blackjax_kernel = bj_hmc.build_kernel(integrator, divergence_threshold)

    def kernel(
        rng_key: PRNGKeyArray,
        state: HMCState,
        params,
        step_size,
        inverse_mass_matrix=None,
        num_integration_steps: int = 10,
    ) -> tuple[HMCState, HMCInfo]:
        logdensity_fn, state = adapter.prepare_state(bj_hmc.init, state, params, energy_fn, refresh)
        if inverse_mass_matrix is None:
            inverse_mass_matrix = adapter.identity_inverse_mass_matrix(state.position)
        step_size = adapter.in_position_dtype(step_size, state.position)
        inverse_mass_matrix = adapter.in_position_dtype(inverse_mass_matrix, state.position)
        return blackjax_kernel(
            rng_key, state, logdensity_fn, step_size, inverse_mass_matrix, num_integration_steps
        )

    return kernel


def as_top_level_api(
    energy_fn: Callable,
    step_size,
    inverse_mass_matrix=None,
    num_integration_steps: int = 10,
    *,
    divergence_threshold: float = 1000,
    integrator: Callable = integrators.velocity_verlet,
    refresh: bool = True,
) -> SamplingAlgorithm:
    """HMC on ``energy_fn`` as a ``SamplingAlgorithm``: ``init(position, params)``,
    ``step(rng_key, state, params)``.

    The sampler parameters (see :func:`build_kernel`) are fixed here; to change
    them per call (e.g. during step-size adaptation) use :func:`build_kernel`.
    There is no default ``step_size``: it depends on the scale of the target.
    ``num_integration_steps=10`` is a common starting point, to be tuned.
    """
    kernel = build_kernel(energy_fn, integrator, divergence_threshold, refresh=refresh)

    def init_fn(position, params) -> HMCState:
        return init(position, params, energy_fn)

    def step_fn(rng_key: PRNGKeyArray, state: HMCState, params) -> tuple[HMCState, HMCInfo]:
        return kernel(rng_key, state, params, step_size, inverse_mass_matrix, num_integration_steps)

    return SamplingAlgorithm(init_fn, step_fn)
