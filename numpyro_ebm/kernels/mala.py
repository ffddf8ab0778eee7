r"""Metropolis-adjusted Langevin algorithm on an energy, with BlackJAX's MALA kernel.

A thin adapter: the target is :math:`p(x) \propto e^{-E(\theta, x)}`, the log
density :math:`-E(\theta, \cdot)` is built at call time by
:func:`numpyro_ebm.potentials.log_density_fn`, and the transition is
:func:`blackjax.mcmc.mala.build_kernel`: the proposal
:math:`x' = x + h \nabla \log p(x) + \sqrt{2h}\,\xi` with step size :math:`h`,
followed by a Metropolis-Hastings correction for the asymmetric proposal.
States and infos are BlackJAX's :class:`blackjax.mcmc.mala.MALAState` and
:class:`blackjax.mcmc.mala.MALAInfo`.

The parameters :math:`\theta` enter every step, ``step(rng_key, state, params)``.
The state caches the log density and its gradient at the current position, and
MALA uses both (the drift of the proposal and the acceptance ratio). By default
(``refresh=True``) the kernel re-evaluates them at the current :math:`\theta`
before each step, so a change of :math:`\theta` between steps is safe; this
costs one extra gradient evaluation per step. Pass ``refresh=False`` when
:math:`\theta` is fixed.

One state is one chain; run several with ``jax.vmap``. Positions may be arrays
or pytrees.

References
----------
Besag, J. (1994). Comments on "Representations of knowledge in complex systems"
by U. Grenander and M. I. Miller. *JRSS B* 56.
Roberts, G. O. & Tweedie, R. L. (1996). Exponential convergence of Langevin
distributions and their discrete approximations. *Bernoulli* 2(4).
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax.mcmc.mala as bj_mala
from blackjax.base import SamplingAlgorithm
from blackjax.mcmc.mala import MALAInfo, MALAState
from jaxtyping import PRNGKeyArray

from numpyro_ebm.kernels import _blackjax_adapter as adapter

__all__ = ["MALAState", "MALAInfo", "init", "build_kernel", "as_top_level_api"]


def init(position, params, energy_fn: Callable) -> MALAState:
    """BlackJAX's MALA state at ``position`` for ``energy_fn(params, x)``, validated."""
    return adapter.init_state(bj_mala.init, position, params, energy_fn)


def build_kernel(energy_fn: Callable, *, refresh: bool = True):
    r"""Return ``kernel(rng_key, state, params, step_size) -> (MALAState, MALAInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x) -> scalar``; the target is :math:`e^{-E}`.
    refresh
        Re-evaluate the state's cached log density and gradient at ``params``
        before each step (one extra gradient evaluation).

    Notes
    -----
    ``step_size`` is BlackJAX's :math:`h` in
    :math:`x' = x + h \nabla \log p(x) + \sqrt{2h}\,\xi` (so the proposal's
    standard deviation is :math:`\sqrt{2h}`).
    """
    blackjax_kernel = bj_mala.build_kernel()

    def kernel(
        rng_key: PRNGKeyArray, state: MALAState, params, step_size
    ) -> tuple[MALAState, MALAInfo]:
        adapter.check_no_float32_under_x64(
            state.position, "MALA", "the proposal noise of blackjax.util.generate_gaussian_noise"
        )
        logdensity_fn, state = adapter.prepare_state(
            bj_mala.init, state, params, energy_fn, refresh
        )
        step_size = adapter.in_position_dtype(step_size, state.position)
        return blackjax_kernel(rng_key, state, logdensity_fn, step_size)

    return kernel


def as_top_level_api(energy_fn: Callable, step_size, *, refresh: bool = True) -> SamplingAlgorithm:
    """MALA on ``energy_fn`` as a ``SamplingAlgorithm``: ``init(position, params)``,
    ``step(rng_key, state, params)`` with the ``step_size`` fixed here (no default:
    it depends on the scale of the target)."""
    kernel = build_kernel(energy_fn, refresh=refresh)

    def init_fn(position, params) -> MALAState:
        return init(position, params, energy_fn)

    def step_fn(rng_key: PRNGKeyArray, state: MALAState, params) -> tuple[MALAState, MALAInfo]:
        return kernel(rng_key, state, params, step_size)

    return SamplingAlgorithm(init_fn, step_fn)
