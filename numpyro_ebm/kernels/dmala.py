r"""Discrete Langevin proposals: DMALA and DULA for binary units.

Zhang, Liu & Liu (2022) carry the Langevin proposal to discrete spaces. For a
target :math:`p(x) \propto e^{-E(\theta, x)}` whose energy is differentiable in
:math:`x`, every unit is updated *independently* and in parallel from

.. math::

    q_i(x'_i \mid x) \propto \exp\Bigl(-\tfrac12 \nabla_x E(x)_i\,(x'_i - x_i)
        - \frac{(x'_i - x_i)^2}{2\alpha}\Bigr), \qquad x'_i \in \{x_i, \bar x_i\},

so unit :math:`i` flips with probability
:math:`\sigma\bigl(\tilde d_i(x)/2 - \delta^2/(2\alpha)\bigr)`, where
:math:`\tilde d_i(x) = -\nabla_x E(x)_i (\bar x_i - x_i)` is the Taylor estimate of
:math:`\log p(x_{\neg i}) - \log p(x)` (as in
:mod:`~numpyro_ebm.kernels.gibbs_with_gradients`), :math:`\delta^2 = (\bar x_i -
x_i)^2` the squared length of a flip (1 for 0/1 units, 4 for spins) and
:math:`\alpha > 0` the *step size*. Small steps flip few units; large ones flip
every unit the gradient favours.

- **DMALA** (``adjusted=True``) accepts :math:`x'` with the Metropolis-Hastings
  probability :math:`\min\bigl(1, e^{E(x) - E(x')} q(x \mid x') / q(x' \mid x)\bigr)`
  (the reverse proposal needs the gradient at :math:`x'`), which leaves :math:`p`
  exactly invariant.
- **DULA** (``adjusted=False``, :func:`dula`) always moves: it is biased, with an
  error that vanishes as :math:`\alpha \to 0` and the energy becomes linear. Its
  info still reports the probability the Metropolis-Hastings test *would* have
  given (free: the gradient at :math:`x'` is needed for the next step anyway), a
  gauge of the discretisation error.

The step size is an argument of every call, ``kernel(rng_key, state, params,
step_size)`` (BlackJAX's MALA convention), so it can be tuned without recompiling;
:func:`as_top_level_api` fixes it for the project's three-argument ``step``.
:func:`adapt_step_size` tunes it, apart from the kernel as BlackJAX keeps its
adaptation: dual averaging (Hoffman & Gelman 2014, BlackJAX's
:func:`blackjax.adaptation.step_size.dual_averaging_adaptation`) towards the
acceptance the paper recommends, about 0.5-0.6 (default 0.55).

The state is :class:`~numpyro_ebm.kernels.gibbs_with_gradients.GibbsWithGradientsState`
(position, energy and gradient cached there): a step costs one energy-and-gradient
evaluation at :math:`x'`, plus one with ``refresh=True`` (default, needed when
``params`` change between steps, as under parallel tempering).

References
----------
Zhang, R., Liu, X. & Liu, Q. (2022). A Langevin-like sampler for discrete
distributions. *ICML*.
Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn sampler. *JMLR* 15.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.kernels import gibbs_with_gradients as gwg
from numpyro_ebm.kernels.gibbs_with_gradients import GibbsWithGradientsState, MultiFlipInfo

__all__ = [
    "StepSizeAdaptationInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
    "dula",
    "adapt_step_size",
]


def init(
    position: Float[Array, "*chains units"], params, energy_fn: Callable, *, spins: bool = False
) -> GibbsWithGradientsState:
    """Gibbs with gradients' :func:`~numpyro_ebm.kernels.gibbs_with_gradients.init` (binary units or spins)."""
    return gwg.init(position, params, energy_fn, spins=spins)


def _check_step_size(step_size):
    if _checks.is_concrete(step_size):
        value = np.asarray(step_size)
        if value.ndim != 0 or not np.isfinite(value) or float(value) <= 0:
            raise ValueError(f"step_size must be a positive finite scalar; got {step_size!r}")


def build_kernel(
    energy_fn: Callable, *, adjusted: bool = True, spins: bool = False, refresh: bool = True
):
    """Return ``kernel(rng_key, state, params, step_size) -> (GibbsWithGradientsState, MultiFlipInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)``, differentiable in ``x``, broadcasting over
        leading chain dimensions; the target is :math:`e^{-E}`.
    adjusted
        DMALA (Metropolis-Hastings test, exact) or DULA (``False``: always move).
    spins
        Units in :math:`\\{-1, +1\\}` instead of :math:`\\{0, 1\\}` (a flip then has
        squared length 4, so the same :math:`\\alpha` flips less).
    refresh
        Recompute the cached energy and gradient at ``params`` before the step.
    """
    adjusted, spins, refresh = bool(adjusted), bool(spins), bool(refresh)
    squared_flip_length = 4.0 if spins else 1.0

    def evaluate(params, position):
        return GibbsWithGradientsState(position, *gwg.energy_and_grad(energy_fn, params, position))

    def flip_logits(state, step_size):
        estimates = gwg.flip_log_ratio_estimates(state.position, state.energy_grad, spins)
        return 0.5 * estimates - squared_flip_length / (2 * step_size)

    def log_prob(logits, flips):
        # independent Bernoulli flips: log sigma(l) where flipped, log sigma(-l) where not
        return jnp.sum(jax.nn.log_sigmoid(jnp.where(flips, logits, -logits)), axis=-1)

    def kernel(
        rng_key: PRNGKeyArray, state: GibbsWithGradientsState, params, step_size
    ) -> tuple[GibbsWithGradientsState, MultiFlipInfo]:
        _check_step_size(step_size)
        if refresh:
            state = evaluate(params, state.position)
        key_flip, key_accept = jax.random.split(rng_key)
        position = state.position
        step_size = jnp.asarray(step_size).astype(position.dtype)
        forward = flip_logits(state, step_size)
        flips = jax.random.uniform(key_flip, forward.shape, forward.dtype) < jax.nn.sigmoid(forward)
        proposal = evaluate(params, jnp.where(flips, gwg.flipped(position, spins), position))
        log_ratio = (
            state.energy
            - proposal.energy
            + log_prob(flip_logits(proposal, step_size), flips)
            - log_prob(forward, flips)
        )
        if adjusted:
            new, acceptance, accepted = gwg.metropolis_hastings(
                key_accept, log_ratio, proposal, state
            )
        else:
            new, accepted = proposal, jnp.ones(log_ratio.shape, jnp.bool_)
            acceptance = jnp.exp(jnp.minimum(jnp.nan_to_num(log_ratio, nan=-jnp.inf), 0.0))
        n_flipped = jnp.sum(flips & accepted[..., None], axis=-1, dtype=jnp.int32)
        return new, MultiFlipInfo(acceptance, accepted, n_flipped, new.energy)

    return kernel


def as_top_level_api(
    energy_fn: Callable,
    step_size,
    *,
    adjusted: bool = True,
    spins: bool = False,
    refresh: bool = True,
) -> SamplingAlgorithm:
    """DMALA (``adjusted=False``: DULA) on ``energy_fn`` with ``step_size`` fixed here.

    ``init(position, params)`` and ``step(rng_key, state, params)``. No default
    step size: it depends on the target (the paper's Ising uses 0.4 for DMALA and
    0.2 for DULA on 0/1 units); :func:`adapt_step_size` finds one.
    """
    _check_step_size(step_size)
    kernel = build_kernel(energy_fn, adjusted=adjusted, spins=spins, refresh=refresh)

    def init_fn(position, params) -> GibbsWithGradientsState:
        return init(position, params, energy_fn, spins=spins)

    def step_fn(rng_key: PRNGKeyArray, state: GibbsWithGradientsState, params):
        return kernel(rng_key, state, params, step_size)

    return SamplingAlgorithm(init_fn, step_fn)


def dula(
    energy_fn: Callable, step_size, *, spins: bool = False, refresh: bool = True
) -> SamplingAlgorithm:
    """DULA, the unadjusted discrete Langevin sampler: ``as_top_level_api(..., adjusted=False)``."""
    return as_top_level_api(energy_fn, step_size, adjusted=False, spins=spins, refresh=refresh)


class StepSizeAdaptationInfo(NamedTuple):
    """The trace of :func:`adapt_step_size`, one entry a step.

    step_size
        Step size the step ran with, ``(n_steps,)``.
    acceptance_rate
        Its acceptance probability averaged over chains, ``(n_steps,)``.
    """

    step_size: Float[Array, " n_steps"]
    acceptance_rate: Float[Array, " n_steps"]


def adapt_step_size(
    rng_key: PRNGKeyArray,
    state: GibbsWithGradientsState,
    params,
    energy_fn: Callable,
    *,
    n_steps: int,
    initial_step_size: float = 0.5,
    target_acceptance: float = 0.55,
    adjusted: bool = True,
    spins: bool = False,
) -> tuple[GibbsWithGradientsState, Float[Array, ""], StepSizeAdaptationInfo]:
    """Tune the step size by dual averaging towards ``target_acceptance``, running the chains.

    One step size for all chains (leading dimensions of ``state``), updated after
    every step from the acceptance probability averaged over the chains; the result
    is the dual-averaging average of the log step sizes (BlackJAX's
    :func:`~blackjax.adaptation.step_size.dual_averaging_adaptation`). For DULA
    (``adjusted=False``) the acceptance is the one the Metropolis-Hastings test
    would have given. ``params`` are fixed during the adaptation.

    Returns
    -------
    tuple
        ``(state, step_size, info)``: the chains after ``n_steps`` steps (a burn-in;
        not samples of the target for DMALA while the step size moves), the tuned
        step size, and a :class:`StepSizeAdaptationInfo`.
    """
    n_steps = _checks.check_int(n_steps, "n_steps", minimum=1)
    _check_step_size(initial_step_size)
    if not 0.0 < float(target_acceptance) < 1.0:
        raise ValueError(f"target_acceptance must be in (0, 1); got {target_acceptance!r}")
    kernel = build_kernel(energy_fn, adjusted=adjusted, spins=spins, refresh=False)
    da_init, da_update, da_final = dual_averaging_adaptation(float(target_acceptance))
    dtype = state.position.dtype
    # the cache must belong to params: evaluate it once, then the fixed-params kernel
    state = GibbsWithGradientsState(
        state.position, *gwg.energy_and_grad(energy_fn, params, state.position)
    )

    def body(carry, key):
        state, da_state = carry
        step_size = jnp.exp(da_state.log_step_size).astype(dtype)
        state, info = kernel(key, state, params, step_size)
        acceptance = jnp.mean(info.acceptance_rate)
        return (state, da_update(da_state, acceptance)), (step_size, acceptance)

    da_state = da_init(jnp.asarray(initial_step_size, dtype))
    (state, da_state), (sizes, acceptance) = jax.lax.scan(
        body, (state, da_state), jax.random.split(rng_key, n_steps)
    )
    return state, da_final(da_state).astype(dtype), StepSizeAdaptationInfo(sizes, acceptance)
