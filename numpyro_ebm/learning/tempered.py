r"""Tempered learning: PCD and FPCD whose persistent chains are the :math:`\beta = 1`
replica of a parallel-tempering state (thin aliases).

**Aliases, kept for old code.** The negative phase is
:func:`~numpyro_ebm.learning.negative_phases.tempered_chains` and each factory here is
one call of :func:`~numpyro_ebm.learning.composition.pcd` with it (and
:func:`~numpyro_ebm.learning.negative_phases.fast_weights` for the FPCD forms); the
states are re-exported from :mod:`~numpyro_ebm.learning.negative_phases`.

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
  info gives ``positive_hidden``, so :func:`~numpyro_ebm.learning.rbm_rules.centered`
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

from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels.parallel_tempering import default_get_position
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.composition import energy_gradient, pcd
from numpyro_ebm.learning.negative_phases import (
    PTFPCDState,
    PTPCDState,
    fast_weights,
    tempered_chains,
)
from numpyro_ebm.learning.rbm_rules import bernoulli_rbm_estimator

__all__ = [
    "PTPCDState",
    "PTFPCDState",
    "pt_pcd",
    "pt_fpcd",
    "bernoulli_rbm_pt_pcd",
    "bernoulli_rbm_pt_fpcd",
]


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
    phase = tempered_chains(
        n_chains, inverse_temperatures, k, tempering=tempering, swap=swap,
        vmap_chains=vmap_chains, get_position=get_position,
    )  # fmt: skip
    return pcd(energy_gradient(energy_fn, energy_penalty), phase)


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
    phase = tempered_chains(
        n_chains, inverse_temperatures, k, tempering=tempering, swap=swap,
        vmap_chains=vmap_chains, get_position=get_position,
    )  # fmt: skip
    phase = fast_weights(phase, fast_learning_rate, fast_decay)
    return pcd(energy_gradient(energy_fn, energy_penalty), phase)


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
    :func:`~numpyro_ebm.learning.rbm_rules.bernoulli_rbm_pcd`; ``info.negative_energies``
    are those states' free energies (from the sweep's hidden pre-activations).
    """
    phase = tempered_chains(n_chains, inverse_temperatures, k, swap=swap)
    return pcd(bernoulli_rbm_estimator(base_visible_bias), phase)


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

    As :func:`~numpyro_ebm.learning.rbm_rules.bernoulli_rbm_fpcd`, with every replica at
    the tempered :math:`\\theta + \\theta_{\\text{fast}}` and the negative
    statistics of the :math:`\\beta = 1` replica under those parameters.
    """
    phase = tempered_chains(n_chains, inverse_temperatures, k, swap=swap)
    phase = fast_weights(phase, fast_learning_rate, fast_decay)
    return pcd(bernoulli_rbm_estimator(base_visible_bias), phase)
