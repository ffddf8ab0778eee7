r"""Contrastive-divergence learning rules: CD-k, PCD and FPCD (thin aliases).

**Aliases, kept for old code.** The rules are built from parts now
(:func:`numpyro_ebm.learning.composition.pcd` with a negative phase of
:mod:`numpyro_ebm.learning.negative_phases`); each factory here is one call of it, and
the states and :func:`contrastive_gradient` are re-exported from there. New code writes
``learning.pcd(energy_fn, persistent_chains(...))``. (This module's name is also that of
its first function; ``learning.cd`` is the function.)

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

from numpyro_ebm.kernels.parallel_tempering import default_get_position
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.chains import data_validator
from numpyro_ebm.learning.composition import (
    contrastive_gradient,
    contrastive_terms,
    energy_gradient,
    pcd,
)
from numpyro_ebm.learning.negative_phases import (
    CDState,
    FPCDState,
    PCDState,
    data_chains,
    fast_weights,
    persistent_chains,
)

__all__ = [
    "LearningRule",
    "CDState",
    "PCDState",
    "FPCDState",
    "ContrastiveInfo",
    "contrastive_gradient",
    "contrastive_terms",
    "contrastive_divergence",
    "persistent_contrastive_divergence",
    "fast_persistent_contrastive_divergence",
    "default_get_position",
    "data_validator",
]


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

    Alias of ``pcd(energy_gradient(energy_fn, energy_penalty), data_chains(k, sampler=sampler,
    ...))`` (:func:`~numpyro_ebm.learning.negative_phases.data_chains`).

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
    phase = data_chains(k, sampler=sampler, vmap_chains=vmap_chains, get_position=get_position)
    return pcd(energy_gradient(energy_fn, energy_penalty), phase, validate_data=validate_data)


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

    Alias of ``pcd(energy_fn, sampler, n_chains, k, ...)``, i.e. ``pcd(energy_gradient(energy_fn),
    persistent_chains(n_chains, k, sampler=sampler, ...))``.
    ``init(rng_key, params, data)`` starts the chains at random training examples.
    Each step advances every chain ``k`` kernel steps with the current parameters.
    ``validate_data`` as in :func:`contrastive_divergence`.
    """
    phase = persistent_chains(
        n_chains, k, sampler=sampler, vmap_chains=vmap_chains, get_position=get_position
    )
    return pcd(energy_gradient(energy_fn, energy_penalty), phase, validate_data=validate_data)


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

    Alias of ``pcd(energy_gradient(energy_fn), fast_weights(persistent_chains(n_chains, k,
    sampler=sampler), fast_learning_rate, fast_decay))``
    (:func:`~numpyro_ebm.learning.negative_phases.fast_weights`). The fast parameters
    follow the same gradient with their own (large) learning rate and decay towards zero
    each step, ``fast <- fast_decay * fast - fast_learning_rate * grads``, which makes the
    negative phase leave modes it has just visited and so mix faster.
    ``validate_data`` as in :func:`contrastive_divergence`.
    """
    phase = persistent_chains(
        n_chains, k, sampler=sampler, vmap_chains=vmap_chains, get_position=get_position
    )
    phase = fast_weights(phase, fast_learning_rate, fast_decay)
    return pcd(energy_gradient(energy_fn, energy_penalty), phase, validate_data=validate_data)
