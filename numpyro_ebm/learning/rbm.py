r"""Closed-form fast paths for Bernoulli RBMs.

The generic rules differentiate the free energy; for a Bernoulli RBM the same
gradient has a closed form in the hidden probabilities the Gibbs sweep already
computed, so PCD-1 costs five matmuls per batch (the speed of light for this
algorithm): :math:`v W` for the data, :math:`v W` and :math:`h W^\top` for the
chain's sweep, and the two outer products. The negative statistics use the
persistent chains' state at the start of the sweep together with
:math:`p(h \mid v)` under the current parameters (computed by the sweep), after
which the chains advance; ``test_rbm_fast_path`` checks that the gradient equals
autodiff of the free energy on the same samples.

References
----------
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning.contrastive_divergence import (
    CDState,
    ContrastiveInfo,
    LearningRule,
    PCDState,
    _check_steps,
    _initial_positions,
)

__all__ = ["bernoulli_rbm_gradient", "bernoulli_rbm_pcd", "bernoulli_rbm_cd"]


def bernoulli_rbm_gradient(params, batch, positive_hidden, negatives, negative_hidden):
    r"""Gradient of :math:`\overline{F(\text{batch})} - \overline{F(\text{negatives})}`.

    ``positive_hidden`` and ``negative_hidden`` are :math:`p(h=1 \mid v)` for the
    batch and the negatives (or, for a noisier estimate, binary hidden draws).
    """
    n_pos, n_neg = batch.shape[0], negatives.shape[0]
    grad_W = (negatives.T @ negative_hidden) / n_neg - (batch.T @ positive_hidden) / n_pos
    grad_b = jnp.mean(negatives, axis=0) - jnp.mean(batch, axis=0)
    grad_c = jnp.mean(negative_hidden, axis=0) - jnp.mean(positive_hidden, axis=0)
    return bernoulli_rbm.BernoulliRBMParams(grad_W, grad_b, grad_c)


def _free_energy_from_hidden_logits(params, v, logits):
    return -(v @ params.b) - jnp.sum(jax.nn.softplus(logits), axis=-1)


def bernoulli_rbm_pcd(n_chains: int, k: int = 1) -> LearningRule:
    """PCD-k for a Bernoulli RBM with closed-form gradients (five matmuls per batch for k = 1).

    Same interface and state as
    :func:`~numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`
    with the block-Gibbs kernel; the negative statistics come from the chains'
    state at the start of their last sweep.
    """
    _check_steps(k)
    if n_chains < 1:
        raise ValueError(f"n_chains must be positive; got {n_chains}")
    kernel = rbm_gibbs.build_kernel("bernoulli")

    def init(rng_key, params, data):
        positions = _initial_positions(rng_key, data, n_chains)
        return PCDState(rbm_gibbs.init(positions, params, "bernoulli"))

    def step(rng_key, state: PCDState, params, batch):
        keys = jax.random.split(rng_key, k)
        chains = state.chains
        if k > 1:
            chains = jax.lax.scan(
                lambda s, key: (kernel(key, s, params)[0], None), chains, keys[:-1]
            )[0]
        negatives = chains.visible
        chains, info = kernel(keys[-1], chains, params)
        positive_logits = bernoulli_rbm.hidden_logits(params, batch)
        positive_hidden = jax.nn.sigmoid(positive_logits)
        grads = bernoulli_rbm_gradient(params, batch, positive_hidden, negatives, info.hidden_probs)
        # energies for monitoring reuse the pre-activations already computed
        positive_energy = jnp.mean(_free_energy_from_hidden_logits(params, batch, positive_logits))
        negative_energy = jnp.mean(
            _free_energy_from_hidden_logits(params, negatives, info.hidden_logits)
        )
        return grads, PCDState(chains), ContrastiveInfo(positive_energy, negative_energy, info)

    return LearningRule(init, step)


def bernoulli_rbm_cd(k: int = 1) -> LearningRule:
    """CD-k for a Bernoulli RBM with closed-form gradients (negatives after ``k`` sweeps)."""
    _check_steps(k)
    kernel = rbm_gibbs.build_kernel("bernoulli")

    def init(rng_key, params, data=None):
        return CDState()

    def step(rng_key, state, params, batch):
        chains = rbm_gibbs.RBMGibbsState(
            batch, jnp.zeros((batch.shape[0], params.W.shape[1]), batch.dtype)
        )
        chains, info = jax.lax.scan(
            lambda s, key: kernel(key, s, params), chains, jax.random.split(rng_key, k)
        )
        positive_logits = bernoulli_rbm.hidden_logits(params, batch)
        negative_logits = bernoulli_rbm.hidden_logits(params, chains.visible)
        grads = bernoulli_rbm_gradient(
            params,
            batch,
            jax.nn.sigmoid(positive_logits),
            chains.visible,
            jax.nn.sigmoid(negative_logits),
        )
        positive_energy = jnp.mean(_free_energy_from_hidden_logits(params, batch, positive_logits))
        negative_energy = jnp.mean(
            _free_energy_from_hidden_logits(params, chains.visible, negative_logits)
        )
        last_info = jax.tree.map(lambda x: x[-1], info)
        return grads, state, ContrastiveInfo(positive_energy, negative_energy, last_info)

    return LearningRule(init, step)
