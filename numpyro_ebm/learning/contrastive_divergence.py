r"""Contrastive-divergence learning rules: CD-k, PCD and FPCD.

Each factory returns a :class:`~numpyro_ebm.learning.base.LearningRule`, a pair of pure functions in the
style of Optax:

- ``init(rng_key, params, data) -> state``
- ``step(rng_key, state, params, batch) -> (grads, state, info)``

``grads`` is an estimate of :math:`-\partial \log p(\text{batch}) / \partial\theta
= \langle \partial E/\partial\theta \rangle_{\text{data}} - \langle \partial E/\partial\theta \rangle_{\text{model}}`,
so any Optax optimizer applies it as a gradient to *minimise*. It is computed by
automatic differentiation of

.. math:: L(\theta) = \overline{E_\theta(\text{batch})} - \overline{E_\theta(\text{negatives})}

with the negative samples held constant, which works for every energy (for an
RBM pass its free energy). The negative samples come from any kernel with the
project's contract (``init(position, params)``, ``step(rng_key, state, params)``).

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
Tieleman, T. & Hinton, G. E. (2009). Using fast weights to improve persistent
contrastive divergence. *ICML*.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from numpyro_ebm.kernels.parallel_tempering import default_get_position
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.chains import (
    advance_chains,
    check_fast_weights,
    check_steps,
    data_validator,
    init_chains,
    initial_positions,
    start_chains,
)

__all__ = [
    "LearningRule",
    "CDState",
    "PCDState",
    "FPCDState",
    "ContrastiveInfo",
    "contrastive_gradient",
    "contrastive_divergence",
    "persistent_contrastive_divergence",
    "fast_persistent_contrastive_divergence",
    "default_get_position",
    "data_validator",
]


class CDState(NamedTuple):
    """CD-k keeps no state between batches."""


class PCDState(NamedTuple):
    """Persistent chains: the sampler's state, with a leading chain dimension."""

    chains: Any


class FPCDState(NamedTuple):
    """Persistent chains plus the fast weights added to the negative-phase parameters."""

    chains: Any
    fast_params: Any


def contrastive_gradient(
    energy_fn: Callable, params, batch, negatives, energy_penalty: float = 0.0
):
    """Gradient of ``mean E(batch) - mean E(negatives)`` with negatives held constant.

    With ``energy_penalty = alpha > 0`` the surrogate gains
    ``alpha * (mean E(batch)^2 + mean E(negatives)^2)``, the energy-magnitude
    regulariser of Du & Mordatch (2019) that keeps a neural energy's scale in check.

    Returns ``(grads, mean positive energy, mean negative energy)``.
    """
    grads, positive, negative, _ = contrastive_terms(
        energy_fn, params, batch, negatives, energy_penalty
    )
    return grads, positive, negative


def contrastive_terms(energy_fn: Callable, params, batch, negatives, energy_penalty: float):
    """:func:`contrastive_gradient` that also returns each negative's energy, shape ``(n,)``."""
    negatives = jax.lax.stop_gradient(negatives)

    def surrogate(p):
        positive_energies = energy_fn(p, batch)
        negative_energies = energy_fn(p, negatives)
        positive = jnp.mean(positive_energies)
        negative = jnp.mean(negative_energies)
        loss = positive - negative
        if energy_penalty:
            loss = loss + energy_penalty * (
                jnp.mean(jnp.square(positive_energies)) + jnp.mean(jnp.square(negative_energies))
            )
        return loss, (positive, negative, negative_energies)

    grads, (positive, negative, negative_energies) = jax.grad(surrogate, has_aux=True)(params)
    return grads, positive, negative, negative_energies


def contrastive_divergence(
    energy_fn: Callable,
    sampler,
    k: int = 1,
    *,
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
    energy_penalty: float = 0.0,
    validate_data: Callable | None = None,
) -> LearningRule:
    """CD-k (Hinton 2002): chains start at the batch and run ``k`` kernel steps.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` whose gradient is used (an RBM's free energy).
    sampler
        A kernel with ``init(position, params)`` and ``step(rng_key, state, params)``.
    k
        Kernel steps per batch.
    vmap_chains
        ``False`` when the kernel handles a leading chain dimension itself (the
        RBM, lattice and Boltzmann Gibbs kernels, faster); ``True`` to ``vmap``
        a single-chain kernel (the BlackJAX adapters).
    get_position
        Extracts the position from a kernel state.
    energy_penalty
        Weight of the energy-magnitude penalty (see :func:`contrastive_gradient`).
    validate_data
        ``fn(data, name)`` raising on data the model cannot take; by default
        :func:`data_validator` of the sampler (binary data for the binary and
        RBM Gibbs kernels, spins for spin kernels). Carried by the rule for
        :func:`~numpyro_ebm.learning.fit.fit`.
    """
    check_steps(k)
    validate_data = data_validator(sampler, validate_data)

    def init(rng_key, params, data=None):
        return CDState()

    def step(rng_key, state: CDState, params, batch):
        chains = init_chains(sampler, batch, params, vmap_chains)
        chains, sampler_info = advance_chains(sampler, rng_key, chains, params, k, vmap_chains)
        grads, positive, negative = contrastive_gradient(
            energy_fn, params, batch, get_position(chains), energy_penalty
        )
        return grads, state, ContrastiveInfo(positive, negative, sampler_info)

    return LearningRule(init, step, validate_data)


def persistent_contrastive_divergence(
    energy_fn: Callable,
    sampler,
    n_chains: int,
    k: int = 1,
    *,
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
    energy_penalty: float = 0.0,
    validate_data: Callable | None = None,
) -> LearningRule:
    """PCD (Tieleman 2008): ``n_chains`` persistent chains, independent of the batch size.

    ``init(rng_key, params, data)`` starts the chains at random training examples.
    Each step advances every chain ``k`` kernel steps with the current parameters.
    ``validate_data`` as in :func:`contrastive_divergence`.
    """
    check_steps(k)
    validate_data = data_validator(sampler, validate_data)
    if n_chains < 1:
        raise ValueError(f"n_chains must be positive; got {n_chains}")

    def init(rng_key, params, data):
        positions = initial_positions(rng_key, data, n_chains)
        return PCDState(start_chains(sampler, positions, params, vmap_chains, validate_data))

    def step(rng_key, state: PCDState, params, batch):
        chains, sampler_info = advance_chains(
            sampler, rng_key, state.chains, params, k, vmap_chains
        )
        grads, positive, negative, energies = contrastive_terms(
            energy_fn, params, batch, get_position(chains), energy_penalty
        )
        info = ContrastiveInfo(positive, negative, sampler_info, energies)
        return grads, PCDState(chains), info

    return LearningRule(init, step, validate_data)


def fast_persistent_contrastive_divergence(
    energy_fn: Callable,
    sampler,
    n_chains: int,
    k: int = 1,
    *,
    fast_learning_rate: float = 1e-2,
    fast_decay: float = 19.0 / 20.0,
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
    energy_penalty: float = 0.0,
    validate_data: Callable | None = None,
) -> LearningRule:
    """FPCD (Tieleman & Hinton 2009): PCD whose chains use ``params + fast_params``.

    The fast parameters follow the same gradient with their own (large)
    learning rate and decay towards zero each step,
    ``fast <- fast_decay * fast - fast_learning_rate * grads``, which makes the
    negative phase leave modes it has just visited and so mix faster.
    ``validate_data`` as in :func:`contrastive_divergence`.
    """
    check_steps(k)
    validate_data = data_validator(sampler, validate_data)
    check_fast_weights(fast_learning_rate, fast_decay)

    def init(rng_key, params, data):
        positions = initial_positions(rng_key, data, n_chains)
        fast = jax.tree.map(jnp.zeros_like, params)
        chains = start_chains(sampler, positions, params, vmap_chains, validate_data)
        return FPCDState(chains, fast)

    def step(rng_key, state: FPCDState, params, batch):
        negative_params = jax.tree.map(jnp.add, params, state.fast_params)
        chains, sampler_info = advance_chains(
            sampler, rng_key, state.chains, negative_params, k, vmap_chains
        )
        grads, positive, negative, energies = contrastive_terms(
            energy_fn, params, batch, get_position(chains), energy_penalty
        )
        fast = jax.tree.map(
            lambda f, g: fast_decay * f - fast_learning_rate * g, state.fast_params, grads
        )
        info = ContrastiveInfo(positive, negative, sampler_info, energies)
        return grads, FPCDState(chains, fast), info

    return LearningRule(init, step, validate_data)
