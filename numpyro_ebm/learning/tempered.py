r"""Tempered learning: PCD and FPCD whose persistent chains are the :math:`\beta = 1`
replica of a parallel-tempering state.

Plain PCD's chains are a single-temperature local sampler; as the model
sharpens they stop crossing between modes and the negative phase sees only some
of them (the rising R-hat of :func:`~numpyro_ebm.learning.fit.fit`'s chain
diagnostics). Here every persistent chain is a parallel-tempering chain
(:mod:`numpyro_ebm.kernels.parallel_tempering`): ``K`` replicas on a ladder of
inverse temperatures, the hot ones mixing freely, swaps carrying their states
down to the :math:`\beta = 1` replica, whose state is the negative sample
(Desjardins, Courville, Bengio, Vincent & Delalleau 2010; Cho, Raiko & Ilin
2010). The ladder lives in the rule's state (``state.inverse_temperatures``), so
it can be tuned between epochs (:func:`~numpyro_ebm.kernels.parallel_tempering.tune_ladder`)
without recompiling.

- :func:`pt_pcd` and :func:`pt_fpcd` work for any energy and any
  :class:`~numpyro_ebm.kernels.parallel_tempering.Tempering` (block Gibbs for the
  RBMs, Boltzmann machines and DBMs; any sampler that takes an energy, through
  :func:`~numpyro_ebm.kernels.parallel_tempering.tempered_sampler`); the gradient
  is autodiff of the energy, as for
  :func:`~numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`.
- :func:`bernoulli_rbm_pt_pcd` and :func:`bernoulli_rbm_pt_fpcd` are the
  closed-form fast paths for the Bernoulli RBM: the fused sweep of all replicas
  (two matmuls per replica) and the three matmuls of the gradient, :math:`2K + 3`
  per batch against PCD-1's five, i.e. no matmul beyond the ``K`` sweeps; their
  info gives ``positive_hidden``, so :func:`~numpyro_ebm.learning.rbm.centered`
  adds none either.

``info.sampler_info`` is the PT step's
:class:`~numpyro_ebm.kernels.parallel_tempering.PTInfo` (swap acceptance per
pair, round trips, barrier), which :func:`~numpyro_ebm.learning.fit.fit` records
in its history as ``swap_rate`` and ``round_trips``.

References
----------
Desjardins, G., Courville, A., Bengio, Y., Vincent, P. & Delalleau, O. (2010).
Tempered Markov chain Monte Carlo for training of restricted Boltzmann machines.
*AISTATS*.
Cho, K., Raiko, T. & Ilin, A. (2010). Parallel tempering is efficient for
learning restricted Boltzmann machines. *IJCNN*.
Tieleman, T. & Hinton, G. E. (2009). Using fast weights to improve persistent
contrastive divergence. *ICML*.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.chains import (
    check_fast_weights,
    check_ladder,
    check_steps,
    initial_positions,
    tempered_steps,
)
from numpyro_ebm.learning.contrastive_divergence import (
    contrastive_terms,
    default_get_position,
)
from numpyro_ebm.learning.rbm import bernoulli_rbm_gradient, free_energy_from_hidden_logits

__all__ = [
    "PTPCDState",
    "PTFPCDState",
    "pt_pcd",
    "pt_fpcd",
    "bernoulli_rbm_pt_pcd",
    "bernoulli_rbm_pt_fpcd",
]


class PTPCDState(NamedTuple):
    """Persistent parallel-tempering chains and their ladder.

    With ``fit(..., mesh=)`` the chains are split along their chain axis (the
    ``PTState`` declares it), never along the ladder, and the ladder is
    replicated (``chain_dims``; see :func:`numpyro_ebm.sharding.chain_dims`).

    Attributes
    ----------
    chains
        A :class:`~numpyro_ebm.kernels.parallel_tempering.PTState` (with
        ``vmap_chains``, one per chain, stacked on a leading axis).
    inverse_temperatures
        The ladder, shape ``(K,)``; replace it to retune (no recompilation).
    """

    chains: Any
    inverse_temperatures: Float[Array, " ladder"]

    chain_dims = {"inverse_temperatures": None}


class PTFPCDState(NamedTuple):
    """:class:`PTPCDState` plus the fast parameters of FPCD."""

    chains: Any
    inverse_temperatures: Float[Array, " ladder"]
    fast_params: Any

    chain_dims = {"inverse_temperatures": None, "fast_params": None}


def _replicated(positions, n_replicas: int, vmap_chains: bool):
    """Chains' positions ``(C, ...)`` copied to every replica: ``(K, C, ...)`` or ``(C, K, ...)``."""
    axis = 1 if vmap_chains else 0
    return jax.tree.map(lambda x: jnp.stack([x] * n_replicas, axis=axis), positions)


def _target(chains, vmap_chains: bool):
    return pt.target_replica(chains.replicas, axis=1 if vmap_chains else 0)


def pt_pcd(
    energy_fn: Callable,
    tempering: pt.Tempering,
    n_chains: int,
    inverse_temperatures,
    k: int = 1,
    *,
    swap: str = "deo",
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
    energy_penalty: float = 0.0,
) -> LearningRule:
    """PCD whose ``n_chains`` persistent chains are parallel-tempering chains.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` whose gradient is used (an RBM's free energy).
    tempering
        How the base kernel runs at each temperature
        (:func:`~numpyro_ebm.kernels.parallel_tempering.rbm_tempering`,
        :func:`~numpyro_ebm.kernels.parallel_tempering.tempered_sampler`, ...).
    n_chains
        Persistent PT chains (each with ``K`` replicas).
    inverse_temperatures
        The initial ladder, shape ``(K,)``, last entry 1; kept in the state.
    k
        PT steps (sweeps of every replica plus swaps) per batch.
    swap
        ``"deo"`` (default), ``"seo"`` or ``"random_pair"``.
    vmap_chains
        ``True`` for single-chain base kernels (the BlackJAX adapters), run with
        ``jax.vmap`` over chains.
    get_position
        Extracts the position from a kernel state (default: its ``position``, as
        for :func:`~numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`).
    energy_penalty
        Weight of the energy-magnitude penalty (default 0.0, none; see
        :func:`~numpyro_ebm.learning.contrastive_divergence.contrastive_gradient`).
    """
    return _pt_rule(
        energy_fn, tempering, n_chains, inverse_temperatures, k, swap, vmap_chains,
        get_position, energy_penalty, fast=None,
    )  # fmt: skip


def pt_fpcd(
    energy_fn: Callable,
    tempering: pt.Tempering,
    n_chains: int,
    inverse_temperatures,
    k: int = 1,
    *,
    fast_learning_rate: float = 1e-2,
    fast_decay: float = 19.0 / 20.0,
    swap: str = "deo",
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
    energy_penalty: float = 0.0,
) -> LearningRule:
    """FPCD (Tieleman & Hinton 2009) whose persistent chains are parallel-tempering chains.

    Every replica runs at the tempered ``params + fast_params``; the fast
    parameters follow the gradient with their own rate and decay,
    ``fast <- fast_decay * fast - fast_learning_rate * grads``. Other arguments as
    for :func:`pt_pcd`.
    """
    check_fast_weights(fast_learning_rate, fast_decay)
    return _pt_rule(
        energy_fn, tempering, n_chains, inverse_temperatures, k, swap, vmap_chains,
        get_position, energy_penalty, fast=(fast_learning_rate, fast_decay),
    )  # fmt: skip


def _pt_rule(
    energy_fn, tempering, n_chains, inverse_temperatures, k, swap, vmap_chains, get_position,
    energy_penalty, fast,
) -> LearningRule:  # fmt: skip
    """:func:`pt_pcd`, or :func:`pt_fpcd` when ``fast = (rate, decay)``."""
    check_steps(k)
    if n_chains < 1:
        raise ValueError(f"n_chains must be positive; got {n_chains}")
    pt.check_swap(swap)
    ladder = check_ladder(inverse_temperatures)
    init_pt, run = tempered_steps(tempering, swap, vmap_chains)

    def init(rng_key, params, data):
        positions = initial_positions(rng_key, data, n_chains)
        betas = ladder.astype(jax.tree.leaves(positions)[0].dtype)
        chains = init_pt(_replicated(positions, ladder.shape[0], vmap_chains), params, betas)
        if fast is None:
            return PTPCDState(chains, betas)
        return PTFPCDState(chains, betas, jax.tree.map(jnp.zeros_like, params))

    def step(rng_key, state, params, batch):
        chain_params = params if fast is None else jax.tree.map(jnp.add, params, state.fast_params)
        _, chains, info = run(rng_key, state.chains, chain_params, state.inverse_temperatures, k)
        negatives = get_position(_target(chains, vmap_chains))
        grads, positive, negative, energies = contrastive_terms(
            energy_fn, params, batch, negatives, energy_penalty
        )
        info = ContrastiveInfo(positive, negative, info, energies)
        if fast is None:
            return grads, PTPCDState(chains, state.inverse_temperatures), info
        rate, decay = fast
        fast_params = jax.tree.map(
            lambda f, g: (decay * f - rate * g).astype(f.dtype), state.fast_params, grads
        )
        return grads, PTFPCDState(chains, state.inverse_temperatures, fast_params), info

    return LearningRule(init, step)


def _rbm_negative_phase(run, rng_key, chains, chain_params, betas, k):
    """The fused PT steps; the target replica's visible state at the start of its last
    sweep and the sweep's :math:`p(h \\mid v)` and hidden logits for it (no extra matmul)."""
    before, chains, info = run(rng_key, chains, chain_params, betas, k)
    # the step swaps first, then sweeps: the target replica's sweep started from the
    # state of slot K-2 when the last pair swapped (a (chains, visible) select)
    last_pair_swapped = info.is_swapped[..., -1][..., None]
    negatives = jnp.where(
        last_pair_swapped, before.replicas.visible[-2], before.replicas.visible[-1]
    )
    replica_info = info.replica_info
    return negatives, chains, info, replica_info.hidden_probs[-1], replica_info.hidden_logits[-1]


def bernoulli_rbm_pt_pcd(
    n_chains: int,
    inverse_temperatures,
    k: int = 1,
    *,
    base_visible_bias=None,
    swap: str = "deo",
) -> LearningRule:
    """PT-PCD for a Bernoulli RBM with closed-form gradients: :math:`2K + 3` matmuls per batch.

    The chains are :func:`~numpyro_ebm.kernels.parallel_tempering.rbm_tempering`'s
    fused sweep (optionally on the base-rate path, ``base_visible_bias``). The
    negative statistics are the :math:`\\beta = 1` replica's state at the start of
    its last sweep and the sweep's :math:`p(h \\mid v)` for it, as in
    :func:`~numpyro_ebm.learning.rbm.bernoulli_rbm_pcd`; ``info.negative_energies``
    are those states' free energies (from the sweep's hidden pre-activations).
    """
    return _rbm_pt_rule(n_chains, inverse_temperatures, k, base_visible_bias, swap, None)


def bernoulli_rbm_pt_fpcd(
    n_chains: int,
    inverse_temperatures,
    k: int = 1,
    *,
    fast_learning_rate: float = 0.02,
    fast_decay: float = 19.0 / 20.0,
    base_visible_bias=None,
    swap: str = "deo",
) -> LearningRule:
    """PT-FPCD for a Bernoulli RBM with closed-form gradients (:math:`2K + 3` matmuls per batch).

    As :func:`~numpyro_ebm.learning.rbm.bernoulli_rbm_fpcd`, with every replica at
    the tempered :math:`\\theta + \\theta_{\\text{fast}}` and the negative
    statistics of the :math:`\\beta = 1` replica under those parameters.
    """
    check_fast_weights(fast_learning_rate, fast_decay)
    fast = (fast_learning_rate, fast_decay)
    return _rbm_pt_rule(n_chains, inverse_temperatures, k, base_visible_bias, swap, fast)


def _rbm_pt_rule(n_chains, inverse_temperatures, k, base_visible_bias, swap, fast):
    """:func:`bernoulli_rbm_pt_pcd`, or :func:`bernoulli_rbm_pt_fpcd` when ``fast = (rate, decay)``."""
    check_steps(k)
    if n_chains < 1:
        raise ValueError(f"n_chains must be positive; got {n_chains}")
    pt.check_swap(swap)
    ladder = check_ladder(inverse_temperatures)
    init_pt, run = tempered_steps(
        pt.rbm_tempering(base_visible_bias=base_visible_bias), swap, False
    )

    def init(rng_key, params, data):
        positions = initial_positions(rng_key, data, n_chains)
        betas = ladder.astype(positions.dtype)
        chains = init_pt(_replicated(positions, ladder.shape[0], False), params, betas)
        if fast is None:
            return PTPCDState(chains, betas)
        return PTFPCDState(chains, betas, jax.tree.map(jnp.zeros_like, params))

    def step(rng_key, state, params, batch):
        chain_params = params if fast is None else jax.tree.map(jnp.add, params, state.fast_params)
        negatives, chains, info, negative_hidden, negative_logits = _rbm_negative_phase(
            run, rng_key, state.chains, chain_params, state.inverse_temperatures, k
        )
        positive_logits = bernoulli_rbm.hidden_logits(params, batch)
        positive_hidden = jax.nn.sigmoid(positive_logits)
        grads = bernoulli_rbm_gradient(params, batch, positive_hidden, negatives, negative_hidden)
        positive_energy = jnp.mean(free_energy_from_hidden_logits(params, batch, positive_logits))
        # the chains' free energies under the parameters they sample
        negative_energies = free_energy_from_hidden_logits(chain_params, negatives, negative_logits)
        info = ContrastiveInfo(
            positive_energy, jnp.mean(negative_energies), info, negative_energies, positive_hidden
        )
        if fast is None:
            return grads, PTPCDState(chains, state.inverse_temperatures), info
        dtype = params.W.dtype
        rate, decay = (jnp.asarray(x, dtype) for x in fast)
        fast_params = jax.tree.map(lambda f, g: decay * f - rate * g, state.fast_params, grads)
        return grads, PTFPCDState(chains, state.inverse_temperatures, fast_params), info

    return LearningRule(init, step)
