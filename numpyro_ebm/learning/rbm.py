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

:func:`centered` turns either rule into its centered version (Melchior, Fischer
& Wiskott 2016).

References
----------
Melchior, J., Fischer, A. & Wiskott, L. (2016). How to center deep Boltzmann
machines. *JMLR* 17(99).
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

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

__all__ = [
    "bernoulli_rbm_gradient",
    "bernoulli_rbm_pcd",
    "bernoulli_rbm_cd",
    "CenteredState",
    "centered_gradient",
    "centered",
]


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
    state at the start of their last sweep. ``info.negative_energies`` holds the
    free energy of each chain's negative sample (computed from the sweep's hidden
    pre-activations, at no extra matmul).
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
        negative_energies = _free_energy_from_hidden_logits(params, negatives, info.hidden_logits)
        negative_energy = jnp.mean(negative_energies)
        info = ContrastiveInfo(positive_energy, negative_energy, info, negative_energies)
        return grads, PCDState(chains), info

    return LearningRule(init, step)


def bernoulli_rbm_cd(k: int = 1) -> LearningRule:
    """CD-k for a Bernoulli RBM with closed-form gradients (negatives after ``k`` sweeps).

    ``info.negative_energies`` is ``None``: the chains restart at the batch every step.
    """
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


class CenteredState(NamedTuple):
    r"""The wrapped rule's state and the offsets of the centered parameterisation.

    visible_offset
        :math:`\mu`, a running mean of the data.
    hidden_offset
        :math:`\lambda`, a running mean of :math:`p(h = 1 \mid v)` on the data.
    """

    inner: Any
    visible_offset: Float[Array, " visible"]
    hidden_offset: Float[Array, " hidden"]


def centered_gradient(
    grads: bernoulli_rbm.BernoulliRBMParams, visible_offset, hidden_offset
) -> bernoulli_rbm.BernoulliRBMParams:
    r"""The centered gradient, expressed in the ordinary parameters.

    The centered RBM :math:`E = -(v-\mu)^\top W (h-\lambda) - b_c^\top (v-\mu) -
    c_c^\top (h-\lambda)` is the ordinary RBM with :math:`b = b_c - W\lambda` and
    :math:`c = c_c - W^\top \mu` (plus a constant). Its likelihood gradient is
    :math:`G_{W_c} = G_W - \mu G_c^\top - G_b \lambda^\top` (the
    covariance of :math:`v - \mu` and :math:`h - \lambda` in place of the raw
    correlation), :math:`G_{b_c} = G_b`, :math:`G_{c_c} = G_c`; a step along it in the
    centered coordinates is, in the ordinary ones, the step
    :math:`(G_{W_c},\; G_b - G_{W_c}\lambda,\; G_c - G_{W_c}^\top\mu)` returned
    here. Any linear optimiser (SGD with momentum) applied to it is the centered
    algorithm with fixed offsets.
    """
    grad_W = grads.W - jnp.outer(visible_offset, grads.c) - jnp.outer(grads.b, hidden_offset)
    return bernoulli_rbm.BernoulliRBMParams(
        grad_W, grads.b - grad_W @ hidden_offset, grads.c - grad_W.T @ visible_offset
    )


def centered(rule: LearningRule, offset_rate: float = 0.01) -> LearningRule:
    r"""Centered version of a Bernoulli-RBM learning rule (Melchior et al. 2016).

    The offsets start at the data mean (:math:`\mu`) and at the mean hidden
    probability of the data under the initial parameters (:math:`\lambda`), and
    follow running means with rate ``offset_rate`` (the paper's sliding factor
    :math:`\nu`); the gradient of the wrapped rule is transformed by
    :func:`centered_gradient`. Centering makes the gradient invariant to flipping
    units and conditions it much better, which the paper shows gives higher
    likelihoods and fewer divergences than the ordinary gradient.

    The info is the wrapped rule's (with PCD, its ``negative_energies`` give
    :func:`~numpyro_ebm.learning.fit.fit` its chain diagnostics).
    """
    if not 0.0 <= offset_rate <= 1.0:
        raise ValueError(f"offset_rate must lie in [0, 1]; got {offset_rate}")

    def init(rng_key, params, data=None):
        if data is None:
            raise ValueError("the centered rule needs the training data to set its offsets")
        data = jnp.asarray(data, params.W.dtype)
        visible_offset = jnp.mean(data, axis=0)
        hidden_offset = jnp.mean(bernoulli_rbm.hidden_probs(params, data), axis=0)
        return CenteredState(rule.init(rng_key, params, data), visible_offset, hidden_offset)

    def step(rng_key, state: CenteredState, params, batch):
        grads, inner, info = rule.step(rng_key, state.inner, params, batch)
        grads = centered_gradient(grads, state.visible_offset, state.hidden_offset)
        rate = jnp.asarray(offset_rate, params.W.dtype)
        visible_offset = (1 - rate) * state.visible_offset + rate * jnp.mean(batch, axis=0)
        batch_hidden = jnp.mean(bernoulli_rbm.hidden_probs(params, batch), axis=0)
        hidden_offset = (1 - rate) * state.hidden_offset + rate * batch_hidden
        return grads, CenteredState(inner, visible_offset, hidden_offset), info

    return LearningRule(init, step)
