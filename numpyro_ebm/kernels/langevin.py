r"""Unadjusted Langevin algorithm (ULA) on an energy, with BlackJAX's Euler solver.

One step is BlackJAX's Euler-Maruyama step of the overdamped Langevin diffusion,
:func:`blackjax.mcmc.diffusions.overdamped_langevin`,

.. math::

    x' = x + h \nabla \log p(x) + \sqrt{2h}\,\xi
       = x - h \nabla_x E(\theta, x) + \sqrt{2h}\,\xi,
    \qquad \xi \sim \mathcal N(0, I),

with no Metropolis correction (the proposal of MALA, always accepted). The log
density :math:`-E(\theta, \cdot)` is built at call time by
:func:`numpyro_ebm.potentials.log_density_fn`. This is the sampler of
short-run/persistent Langevin training of energy-based models.

ULA is biased: its stationary law is not :math:`p` but approaches it as
:math:`h \to 0`. For a Gaussian :math:`\mathcal N(0, \sigma^2)` the chain is
the AR(1) recursion :math:`x' = (1 - h/\sigma^2)\,x + \sqrt{2h}\,\xi`, whose
stationary variance is :math:`v = 2h / (1 - (1 - h/\sigma^2)^2) =
\sigma^2 / (1 - h / (2\sigma^2))` (stable for :math:`h < 2\sigma^2`).

The state is BlackJAX's :class:`blackjax.mcmc.diffusions.DiffusionState`
(position, log density and its gradient, the gradient being what the next step
needs). BlackJAX has no info type for this solver; :class:`LangevinInfo` only
flags steps that left the domain of finite energy. The state caches the gradient
of the log density at the current position, and the next step moves along it:
by default (``refresh=True``) the kernel re-evaluates it at the current
:math:`\theta` before each step, so changing :math:`\theta` between steps is
safe. This costs one extra gradient evaluation per step (two in total, since
BlackJAX's step ends by evaluating the gradient at the new position); pass
``refresh=False`` when :math:`\theta` is fixed (one gradient per step).

``blackjax.sgmcmc.sgld`` performs the same update but carries a bare position
and takes a gradient estimator and a minibatch; the diffusion solver used here
is the full-gradient version, and its state matches the other adapters'.

One state is one chain; run several with ``jax.vmap``. Positions may be arrays
or pytrees.

References
----------
Roberts, G. O. & Tweedie, R. L. (1996). Exponential convergence of Langevin
distributions and their discrete approximations. *Bernoulli* 2(4).
Durmus, A. & Moulines, E. (2017). Nonasymptotic convergence analysis for the
unadjusted Langevin algorithm. *Annals of Applied Probability* 27(3).
Nijkamp, E., Hill, M., Zhu, S.-C. & Wu, Y. N. (2019). Learning non-convergent
non-persistent short-run MCMC toward energy-based model. *NeurIPS*.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import blackjax.mcmc.diffusions as bj_diffusions
import blackjax.mcmc.mala as bj_mala
import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from blackjax.mcmc.diffusions import DiffusionState
from jaxtyping import Array, Bool, PRNGKeyArray

from numpyro_ebm.kernels import _blackjax_adapter as adapter

__all__ = ["LangevinState", "LangevinInfo", "init", "build_kernel", "as_top_level_api"]

LangevinState = DiffusionState
"""BlackJAX's :class:`blackjax.mcmc.diffusions.DiffusionState`
``(position, logdensity, logdensity_grad)``."""


class LangevinInfo(NamedTuple):
    """What one ULA step reports.

    is_divergent
        The new log density is not finite (NaN or infinite): the step size is too
        large for the curvature of the energy, or the chain left its domain.
    """

    is_divergent: Bool[Array, ""]


def _blackjax_init(position, logdensity_fn: Callable) -> DiffusionState:
    # BlackJAX's value-and-gradient initialisation (shared with MALA), as a DiffusionState.
    return DiffusionState(*bj_mala.init(position, logdensity_fn))


def init(position, params, energy_fn: Callable) -> DiffusionState:
    """BlackJAX's diffusion state at ``position`` for ``energy_fn(params, x)``, validated."""
    return adapter.init_state(_blackjax_init, position, params, energy_fn)


def build_kernel(energy_fn: Callable, *, refresh: bool = True):
    r"""Return ``kernel(rng_key, state, params, step_size) -> (DiffusionState, LangevinInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x) -> scalar``; the target is :math:`e^{-E}`.
    refresh
        Re-evaluate the state's cached log density and gradient at ``params``
        before each step (one extra gradient evaluation).

    Notes
    -----
    ``step_size`` is :math:`h` in :math:`x' = x + h \nabla \log p(x) + \sqrt{2h}\,\xi`.
    """

    def kernel(
        rng_key: PRNGKeyArray, state: DiffusionState, params, step_size
    ) -> tuple[DiffusionState, LangevinInfo]:
        logdensity_fn, state = adapter.prepare_state(
            _blackjax_init, state, params, energy_fn, refresh
        )
        one_step = bj_diffusions.overdamped_langevin(jax.value_and_grad(logdensity_fn))
        new_state = one_step(rng_key, state, adapter.in_position_dtype(step_size, state.position))
        return new_state, LangevinInfo(~jnp.isfinite(new_state.logdensity))

    return kernel


def as_top_level_api(energy_fn: Callable, step_size, *, refresh: bool = True) -> SamplingAlgorithm:
    """ULA on ``energy_fn`` as a ``SamplingAlgorithm``: ``init(position, params)``,
    ``step(rng_key, state, params)`` with the ``step_size`` :math:`h` fixed here
    (no default: it depends on the scale of the target)."""
    kernel = build_kernel(energy_fn, refresh=refresh)

    def init_fn(position, params) -> DiffusionState:
        return init(position, params, energy_fn)

    def step_fn(
        rng_key: PRNGKeyArray, state: DiffusionState, params
    ) -> tuple[DiffusionState, LangevinInfo]:
        return kernel(rng_key, state, params, step_size)

    return SamplingAlgorithm(init_fn, step_fn)
