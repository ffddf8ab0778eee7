r"""Locally balanced proposals: single flips weighted by a balancing function of the exact ratios.

For a target :math:`p(x) \propto e^{-E(\theta, x)}` on binary units, Zanella
(2020) proposes the flip of unit :math:`i` with probability

.. math::

    q(i \mid x) = \frac{g\bigl(t_i(x)\bigr)}{Z(x)}, \qquad
    t_i(x) = \frac{p(x_{\neg i})}{p(x)} = e^{E(x) - E(x_{\neg i})}, \qquad
    Z(x) = \sum_j g\bigl(t_j(x)\bigr),

where :math:`x_{\neg i}` is :math:`x` with unit :math:`i` flipped and :math:`g` is a
*balancing function*, :math:`g(t) = t\, g(1/t)`. The two of the paper:

``"sqrt"``
    :math:`g(t) = \sqrt t`;
``"barker"``
    :math:`g(t) = t / (1 + t)` (Barker's).

The flip is accepted with the Metropolis-Hastings probability, which the balance
property reduces to :math:`\min(1, Z(x) / Z(x'))`; it is computed here in its
general form :math:`e^{E(x) - E(x')} q(i \mid x') / q(i \mid x)` (the same
transition of :mod:`~numpyro_ebm.kernels.gibbs_with_gradients`, of which this is the
exact, gradient-free parent: Gibbs with gradients replaces :math:`\log t_i` by its
Taylor estimate and uses :math:`g = \sqrt{\cdot}`).

Cost. The state caches the energy and the :math:`D` exact log ratios
:math:`\log t_i`; a proposal evaluates the energy at :math:`x'` and its :math:`D`
neighbours in one batched call of ``energy_fn`` (``D + 1`` evaluations, which
:attr:`LocallyBalancedInfo.n_evaluations` reports). ``refresh=True`` (the default)
re-evaluates the cache at the step's ``params`` first (``D + 1`` more); pass
``refresh=False`` when :math:`\theta` is fixed. It suits models whose energy is cheap
relative to :math:`D` (lattices, small Boltzmann machines); for large :math:`D` the
gradient proposals (:mod:`~numpyro_ebm.kernels.gibbs_with_gradients`,
:mod:`~numpyro_ebm.kernels.path_auxiliary`, :mod:`~numpyro_ebm.kernels.dmala`) trade
the exact ratios for one gradient.

The balancing functions are public (:data:`BALANCING_FUNCTIONS`, in log space):
:mod:`~numpyro_ebm.kernels.path_auxiliary` applies them to gradient estimates.

Follows BlackJAX's kernel contract: ``init(position, params, energy_fn)``,
``build_kernel(energy_fn, ...)`` returning ``kernel(rng_key, state, params)``,
``as_top_level_api(energy_fn, ...)``; ``energy_fn(params, x)`` must broadcast over
leading dimensions (chains, and the stacked neighbours).

References
----------
Zanella, G. (2020). Informed proposals for local MCMC in discrete spaces. *Journal
of the American Statistical Association* 115(530).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from numpyro_ebm.kernels import gibbs_with_gradients as gwg

__all__ = [
    "BALANCING_FUNCTIONS",
    "log_balancing_function",
    "LocallyBalancedState",
    "LocallyBalancedInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
]

BALANCING_FUNCTIONS: dict[str, Callable] = {
    "sqrt": lambda log_t: 0.5 * log_t,  # log sqrt(t)
    "barker": jax.nn.log_sigmoid,  # log t / (1 + t)
}
"""``{name: log g(exp(log t))}``: the balancing functions of Zanella (2020) in log space."""


def log_balancing_function(balancing: str) -> Callable:
    """The balancing function ``balancing`` (``"sqrt"`` or ``"barker"``), in log space."""
    if balancing not in BALANCING_FUNCTIONS:
        raise ValueError(
            f"unknown balancing function {balancing!r}; choose one of "
            f"{sorted(BALANCING_FUNCTIONS)} (sqrt(t) or t / (1 + t))"
        )
    return BALANCING_FUNCTIONS[balancing]


class LocallyBalancedState(NamedTuple):
    """State of the chain.

    position
        Current configuration, shape ``(*chains, D)`` (0/1 or spins), floating.
    energy
        :math:`E(\\theta, x)` at ``position``, shape ``(*chains,)``.
    flip_log_ratios
        :math:`\\log t_i = E(x) - E(x_{\\neg i})` of every flip, shape ``(*chains, D)``.
    """

    position: Float[Array, "*chains units"]
    energy: Float[Array, "*chains"]
    flip_log_ratios: Float[Array, "*chains units"]


class LocallyBalancedInfo(NamedTuple):
    """Diagnostics of one step (``n_flips`` proposals).

    acceptance_rate
        Mean acceptance probability of the step's proposals, ``(*chains,)``.
    is_accepted
        Whether at least one proposal was accepted, ``(*chains,)``.
    n_accepted
        Accepted proposals, ``(*chains,)`` (int32).
    energy
        Energy of the new position, ``(*chains,)``.
    n_evaluations
        Energy evaluations one chain spent, ``(*chains,)`` (read by
        :func:`numpyro_ebm.diagnostics.compare_samplers`).
    """

    acceptance_rate: Float[Array, "*chains"]
    is_accepted: Bool[Array, "*chains"]
    n_accepted: Int[Array, "*chains"]
    energy: Float[Array, "*chains"]
    n_evaluations: Int[Array, "*chains"]


def _evaluate(energy_fn: Callable, params, position, spins: bool) -> LocallyBalancedState:
    """Energy at ``position`` and at its ``D`` single-flip neighbours, in one call."""
    n_units = position.shape[-1]
    flip_mask = jnp.eye(n_units, dtype=jnp.bool_)
    neighbours = jnp.where(
        flip_mask, gwg.flipped(position, spins)[..., None, :], position[..., None, :]
    )
    stacked = jnp.concatenate([position[..., None, :], neighbours], axis=-2)  # (*chains, D+1, D)
    energies = energy_fn(params, stacked)
    energy = energies[..., 0]
    return LocallyBalancedState(position, energy, energy[..., None] - energies[..., 1:])


def init(
    position: Float[Array, "*chains units"],
    params,
    energy_fn: Callable,
    *,
    spins: bool = False,
) -> LocallyBalancedState:
    """Validate ``position`` and cache the energy and the log ratios of every flip.

    Raises for a non-float dtype, NaN, values that are not 0/1 (``spins``: -1/+1),
    an energy of the wrong shape or dtype, and (for concrete input) a non-finite
    energy at the position.
    """
    position = gwg.check_position(position, spins)
    gwg.check_energy_output(energy_fn, params, position)
    state = _evaluate(energy_fn, params, position, spins)
    gwg.check_finite_at_start(energy=state.energy)
    return state


def build_kernel(
    energy_fn: Callable,
    *,
    balancing: str = "sqrt",
    n_flips: int = 1,
    spins: bool = False,
    refresh: bool = True,
):
    """Return ``kernel(rng_key, state, params) -> (LocallyBalancedState, LocallyBalancedInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` broadcasting over leading dimensions; the target
        is :math:`e^{-E}`.
    balancing
        ``"sqrt"`` (:math:`\\sqrt t`) or ``"barker"`` (:math:`t / (1 + t)`).
    n_flips
        Single-flip Metropolis-Hastings transitions per step.
    spins
        Units in :math:`\\{-1, +1\\}` instead of :math:`\\{0, 1\\}`.
    refresh
        Re-evaluate the cache at the step's ``params`` first (needed when
        ``params`` change between steps: learning, parallel tempering).
    """
    log_g = log_balancing_function(balancing)
    spins = bool(spins)

    def evaluate(params, position):
        return _evaluate(energy_fn, params, position, spins)

    def move_logits(state):
        return log_g(state.flip_log_ratios)

    single_move = gwg.build_single_move_kernel(
        evaluate, move_logits, n_flips=n_flips, spins=spins, refresh=refresh
    )
    calls = int(n_flips) + bool(refresh)  # each call evaluates D + 1 energies

    def kernel(
        rng_key: PRNGKeyArray, state: LocallyBalancedState, params
    ) -> tuple[LocallyBalancedState, LocallyBalancedInfo]:
        state, info = single_move(rng_key, state, params)
        per_call = state.position.shape[-1] + 1
        n_evaluations = jnp.full(info.energy.shape, calls * per_call, jnp.int32)
        return state, LocallyBalancedInfo(*info, n_evaluations=n_evaluations)

    return kernel


def as_top_level_api(
    energy_fn: Callable,
    *,
    balancing: str = "sqrt",
    n_flips: int = 1,
    spins: bool = False,
    refresh: bool = True,
) -> SamplingAlgorithm:
    """The locally balanced sampler on ``energy_fn`` as a ``SamplingAlgorithm``.

    ``init(position, params)`` and ``step(rng_key, state, params)``; see
    :func:`build_kernel` for the options.
    """
    kernel = build_kernel(
        energy_fn, balancing=balancing, n_flips=n_flips, spins=spins, refresh=refresh
    )

    def init_fn(position, params) -> LocallyBalancedState:
        return init(position, params, energy_fn, spins=spins)

    return SamplingAlgorithm(init_fn, kernel)
