r"""The No-U-Turn Sampler on an energy, with BlackJAX's NUTS kernel.

A thin adapter: the target is :math:`p(x) \propto e^{-E(\theta, x)}`, the log
density :math:`-E(\theta, \cdot)` is built at call time by
:func:`numpyro_ebm.potentials.log_density_fn`, and the transition is
:func:`blackjax.mcmc.nuts.build_kernel` (iterative NUTS with multinomial
sampling of the trajectory). States are BlackJAX's
:class:`blackjax.mcmc.hmc.HMCState`, infos :class:`blackjax.mcmc.nuts.NUTSInfo`.

The parameters :math:`\theta` enter every step, ``step(rng_key, state, params)``,
so a learning loop can change them without recompiling. The state caches the
log density and its gradient at the current position; NUTS uses both (the
initial Hamiltonian and the first half step of momentum), so after a change of
:math:`\theta` a stale cache would bias the transition. By default
(``refresh=True``) the kernel re-evaluates them at the current :math:`\theta`
first, at the cost of one extra gradient evaluation per step; pass
``refresh=False`` when :math:`\theta` is fixed.

One state is one chain; run several with ``jax.vmap``. Positions may be arrays
or pytrees.

References
----------
Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn sampler: adaptively setting
path lengths in Hamiltonian Monte Carlo. *JMLR* 15.
Betancourt, M. (2017). A conceptual introduction to Hamiltonian Monte Carlo.
arXiv:1701.02434.
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax.mcmc.hmc as bj_hmc
import blackjax.mcmc.integrators as integrators
import blackjax.mcmc.nuts as bj_nuts
from blackjax.base import SamplingAlgorithm
from blackjax.mcmc.hmc import HMCState
from blackjax.mcmc.nuts import NUTSInfo
from jaxtyping import PRNGKeyArray

from numpyro_ebm.kernels import _blackjax_adapter as adapter

__all__ = ["HMCState", "NUTSInfo", "init", "build_kernel", "as_top_level_api"]


def init(position, params, energy_fn: Callable) -> HMCState:
    """BlackJAX's NUTS (= HMC) state at ``position`` for ``energy_fn(params, x)``, validated."""
    return adapter.init_state(bj_nuts.init, position, params, energy_fn)


def build_kernel(
    energy_fn: Callable,
    integrator: Callable = integrators.velocity_verlet,
    divergence_threshold: float = 1000,
    *,
    refresh: bool = True,
):
    """Return ``kernel(rng_key, state, params, step_size, inverse_mass_matrix=None, max_num_doublings=10)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x) -> scalar``; the target is :math:`e^{-E}`.
    integrator
        BlackJAX symplectic integrator (default velocity Verlet).
    divergence_threshold
        Energy error above which the trajectory stops as divergent.
    refresh
        Re-evaluate the state's cached log density and gradient at ``params``
        before each step (one extra gradient evaluation).

    Returns
    -------
    kernel
        ``kernel(rng_key, state, params, ...)`` with the sampler parameters of
        :func:`blackjax.mcmc.nuts.build_kernel`: ``step_size``, ``inverse_mass_matrix``
        (``None`` for the identity on the flattened position) and ``max_num_doublings``
        (a Python int: it sizes arrays inside the step). It returns
        ``(HMCState, NUTSInfo)``.
    """
    blackjax_kernel = bj_nuts.build_kernel(integrator, divergence_threshold)

    def kernel(
        rng_key: PRNGKeyArray,
        state: HMCState,
        params,
        step_size,
        inverse_mass_matrix=None,
        max_num_doublings: int = 10,
    ) -> tuple[HMCState, NUTSInfo]:
        adapter.check_no_float32_under_x64(
            state.position, "NUTS", "the U-turn checkpoints of blackjax/mcmc/termination.py"
        )
        logdensity_fn, state = adapter.prepare_state(bj_hmc.init, state, params, energy_fn, refresh)
        if inverse_mass_matrix is None:
            inverse_mass_matrix = adapter.identity_inverse_mass_matrix(state.position)
        step_size = adapter.in_position_dtype(step_size, state.position)
        inverse_mass_matrix = adapter.in_position_dtype(inverse_mass_matrix, state.position)
        return blackjax_kernel(
            rng_key, state, logdensity_fn, step_size, inverse_mass_matrix, max_num_doublings
        )

    return kernel


def as_top_level_api(
    energy_fn: Callable,
    step_size,
    inverse_mass_matrix=None,
    *,
    max_num_doublings: int = 10,
    divergence_threshold: float = 1000,
    integrator: Callable = integrators.velocity_verlet,
    refresh: bool = True,
) -> SamplingAlgorithm:
    """NUTS on ``energy_fn`` as a ``SamplingAlgorithm``: ``init(position, params)``,
    ``step(rng_key, state, params)``.

    The sampler parameters (see :func:`build_kernel`) are fixed here; there is no
    default ``step_size`` (it depends on the scale of the target).
    """
    kernel = build_kernel(energy_fn, integrator, divergence_threshold, refresh=refresh)

    def init_fn(position, params) -> HMCState:
        return init(position, params, energy_fn)

    def step_fn(rng_key: PRNGKeyArray, state: HMCState, params) -> tuple[HMCState, NUTSInfo]:
        return kernel(rng_key, state, params, step_size, inverse_mass_matrix, max_num_doublings)

    return SamplingAlgorithm(init_fn, step_fn)
