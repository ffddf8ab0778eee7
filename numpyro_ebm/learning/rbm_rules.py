r"""The Bernoulli RBM's closed-form gradient estimator, its rules and centering.

:func:`bernoulli_rbm_estimator` is the estimator passed to
:func:`~numpyro_ebm.learning.composition.pcd`: with
:func:`~numpyro_ebm.learning.negative_phases.persistent_chains`, ``data_chains``,
``tempered_chains`` and the :func:`~numpyro_ebm.learning.negative_phases.fast_weights`
wrapper it gives closed-form PCD, CD, PT-PCD and their FPCD forms. The factories
:func:`bernoulli_rbm_pcd`, :func:`bernoulli_rbm_fpcd` and :func:`bernoulli_rbm_cd` are
thin aliases of those compositions, kept for old code. (This module was
``numpyro_ebm.learning.rbm``, still importable under that name.)

The generic rules differentiate the free energy; for a Bernoulli RBM the same
gradient has a closed form in the hidden probabilities the Gibbs sweep already
computed, so PCD-1 costs five matmuls per batch (the speed of light for this
algorithm): :math:`v W` for the data, :math:`v W` and :math:`h W^\top` for the
chain's sweep, and the two outer products. The negative statistics use the
persistent chains' state at the start of the sweep together with
:math:`p(h \mid v)` under the current parameters (computed by the sweep), after
which the chains advance; ``test_rbm_fast_path`` checks that the gradient equals
autodiff of the free energy on the same samples.

:func:`bernoulli_rbm_fpcd` is the same fast path for fast-weights PCD (Tieleman &
Hinton 2009). :func:`centered` turns any of these rules into its centered
version (Melchior, Fischer & Wiskott 2016).

References
----------
Melchior, J., Fischer, A. & Wiskott, L. (2016). How to center deep Boltzmann
machines. *JMLR* 17(99).
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
Tieleman, T. & Hinton, G. E. (2009). Using fast weights to improve persistent
contrastive divergence. *ICML*.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.chains import initial_positions
from numpyro_ebm.learning.composition import GradientEstimator, pcd
from numpyro_ebm.learning.negative_phases import (
    ChainModel,
    NegativeSample,
    data_chains,
    fast_weights,
    persistent_chains,
)

__all__ = [
    "bernoulli_rbm_gradient",
    "free_energy_from_hidden_logits",
    "bernoulli_rbm_chains",
    "bernoulli_rbm_estimator",
    "bernoulli_rbm_pcd",
    "bernoulli_rbm_cd",
    "bernoulli_rbm_fpcd",
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


def free_energy_from_hidden_logits(params, v, logits):
    """The Bernoulli RBM's free energy of ``v`` given its hidden pre-activations ``logits``."""
    return -(v @ params.b) - jnp.sum(jax.nn.softplus(logits), axis=-1)


def _binary_starts(rng_key, rows):
    """Chain starts from data rows: binary rows as they are, probabilities drawn as bits.

    Probability data (see :func:`numpyro_ebm._checks.validate_bernoulli_data`) is not
    a state of the chains; a Bernoulli draw of each row is. Binary rows come out
    unchanged whatever the key, so runs on binary data are bit-identical to before.
    """
    if _checks.is_concrete(rows):
        _checks.validate_bernoulli_data(rows, "data (the rows that start the persistent chains)")
    draws = jax.random.uniform(jax.random.fold_in(rng_key, 1), rows.shape, rows.dtype) < rows
    return jnp.where((rows == 0) | (rows == 1), rows, draws.astype(rows.dtype))


def _persistent_start(rng_key, params, data, n_chains: int):
    positions = _binary_starts(rng_key, initial_positions(rng_key, data, n_chains))
    return rbm_gibbs.init(positions, params, "bernoulli")


def _replica_start(rng_key, params, data, n_chains: int):
    return initial_positions(rng_key, data, n_chains)


def _restart(batch, params):
    return rbm_gibbs.RBMGibbsState(
        batch, jnp.zeros((batch.shape[0], params.W.shape[1]), batch.dtype)
    )


def bernoulli_rbm_chains(base_visible_bias=None) -> ChainModel:
    """The Bernoulli RBM's own chains: the fused block-Gibbs sweep of
    :mod:`~numpyro_ebm.kernels.rbm_gibbs` (persistent chains start at Bernoulli draws of
    data rows), its tempering
    :func:`~numpyro_ebm.kernels.parallel_tempering.rbm_tempering` (optionally on the
    base-rate path, ``base_visible_bias``; tempered chains start at data rows), and CD's
    restart at the batch."""
    return ChainModel(
        rbm_gibbs.build_kernel("bernoulli"),
        _persistent_start,
        pt.rbm_tempering(base_visible_bias=base_visible_bias),
        _replica_start,
        _restart,
    )


def bernoulli_rbm_estimator(base_visible_bias=None) -> GradientEstimator:
    r"""The Bernoulli RBM's closed-form gradient (:func:`bernoulli_rbm_gradient`) as an estimator.

    The negative statistics are the chains' visible state at the start of their last
    sweep with :math:`p(h \mid v)` under the chains' parameters, which the sweep computed
    (persistent and tempered chains: PCD-1 costs five matmuls per batch, PT-PCD
    :math:`2K + 3`); after CD's sweeps from the batch, :math:`p(h \mid v)` of the final
    state, computed here. ``info.negative_energies`` are the chains' free energies from the
    same pre-activations (no extra matmul), ``info.positive_hidden`` is
    :math:`p(h = 1 \mid \text{batch})` (read by :func:`centered`).
    ``base_visible_bias`` sets the tempered chains' base-rate path
    (:func:`bernoulli_rbm_chains`).

    Data: binary, or probabilities in ``[0, 1]`` used as mean-field data (see
    :func:`numpyro_ebm._checks.validate_bernoulli_data`, the rule's ``validate_data``); the
    persistent chains start from Bernoulli draws of data rows.
    """

    def gradient(params, chain_params, batch, negatives: NegativeSample, sampler_info):
        visible = negatives.state.visible
        if negatives.statistics is None:  # CD: the final state's conditionals
            negative_logits = bernoulli_rbm.hidden_logits(chain_params, visible)
            negative_hidden = jax.nn.sigmoid(negative_logits)
        else:  # computed by the last sweep, under the chains' parameters
            negative_logits = negatives.statistics.hidden_logits
            negative_hidden = negatives.statistics.hidden_probs
        positive_logits = bernoulli_rbm.hidden_logits(params, batch)
        positive_hidden = jax.nn.sigmoid(positive_logits)
        grads = bernoulli_rbm_gradient(params, batch, positive_hidden, visible, negative_hidden)
        # energies for monitoring reuse the pre-activations already computed
        positive_energy = jnp.mean(free_energy_from_hidden_logits(params, batch, positive_logits))
        negative_energies = free_energy_from_hidden_logits(chain_params, visible, negative_logits)
        info = ContrastiveInfo(
            positive_energy,
            jnp.mean(negative_energies),
            sampler_info,
            negative_energies,
            positive_hidden,
        )
        return grads, info

    return GradientEstimator(
        gradient, bernoulli_rbm_chains(base_visible_bias), _checks.validate_bernoulli_data
    )


def bernoulli_rbm_pcd(n_chains: int, k: int = 1) -> LearningRule:
    """PCD-k for a Bernoulli RBM with closed-form gradients (five matmuls per batch for k = 1).

    Alias of ``pcd(bernoulli_rbm_estimator(), persistent_chains(n_chains, k))``. Same
    interface and state as
    :func:`~numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`
    with the block-Gibbs kernel; the negative statistics come from the chains'
    state at the start of their last sweep. ``info.negative_energies`` holds the
    free energy of each chain's negative sample (computed from the sweep's hidden
    pre-activations, at no extra matmul).

    Data: binary, or probabilities in ``[0, 1]`` used as mean-field data (see
    :func:`numpyro_ebm._checks.validate_bernoulli_data`, the rule's
    ``validate_data``); the chains start from Bernoulli draws of data rows.
    """
    return pcd(bernoulli_rbm_estimator(), persistent_chains(n_chains, k))


def bernoulli_rbm_fpcd(
    n_chains: int,
    k: int = 1,
    *,
    fast_learning_rate: float = 0.02,
    fast_decay: float = 19.0 / 20.0,
) -> LearningRule:
    r"""FPCD-k for a Bernoulli RBM with closed-form gradients (Tieleman & Hinton 2009).

    Alias of ``pcd(bernoulli_rbm_estimator(), fast_weights(persistent_chains(n_chains, k),
    fast_learning_rate, fast_decay))``.

    The persistent chains sample the RBM with parameters
    :math:`\theta + \theta_{\text{fast}}`. The fast parameters follow the same
    gradient with their own learning rate and shrink towards zero every step,
    :math:`\theta_{\text{fast}} \leftarrow \text{fast\_decay}\,\theta_{\text{fast}}
    - \text{fast\_learning\_rate}\cdot g`: they raise the energy where the chains
    have just been, so the chains leave modes faster than the slowly changing
    :math:`\theta` alone would let them. Because the fast learning rate does not
    follow the regular learning-rate schedule, the chains keep mixing while the
    regular learning rate decays to zero (where plain PCD's chains slow down).

    The negative statistics are those of the chains' model: the chains' state at
    the start of their last sweep and :math:`p(h \mid v)` under
    :math:`\theta + \theta_{\text{fast}}`, which the sweep computes anyway (five
    matmuls per batch for ``k = 1``, as PCD-1; using :math:`\theta` alone there
    would cost a sixth). Wrapped in :func:`centered`, the fast parameters follow
    the wrapped rule's (uncentered) gradient. ``info.negative_energies`` are the
    chains' free energies under the same parameters. The state is
    :class:`~numpyro_ebm.learning.negative_phases.FPCDState`.
    """
    phase = fast_weights(persistent_chains(n_chains, k), fast_learning_rate, fast_decay)
    return pcd(bernoulli_rbm_estimator(), phase)


def bernoulli_rbm_cd(k: int = 1) -> LearningRule:
    """CD-k for a Bernoulli RBM with closed-form gradients (negatives after ``k`` sweeps).

    Alias of ``pcd(bernoulli_rbm_estimator(), data_chains(k))``.
    ``info.negative_energies`` is ``None``: the chains restart at the batch every step.
    """
    return pcd(bernoulli_rbm_estimator(), data_chains(k))


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


def centered(
    rule: LearningRule, offset_rate: float = 0.01, *, weight_decay: float = 0.0
) -> LearningRule:
    r"""Centered version of a Bernoulli-RBM learning rule (Melchior et al. 2016).

    The offsets start at the data mean (:math:`\mu`) and at the mean hidden
    probability of the data under the initial parameters (:math:`\lambda`), and
    follow running means with rate ``offset_rate`` (the paper's sliding factor
    :math:`\nu`); the gradient of the wrapped rule is transformed by
    :func:`centered_gradient`. Centering makes the gradient invariant to flipping
    units and conditions it much better, which the paper shows gives higher
    likelihoods and fewer divergences than the ordinary gradient.

    ``weight_decay`` is an L2 penalty :math:`\tfrac{\lambda}{2}\|W\|^2` on the
    weights *in centered coordinates*: :math:`\lambda W` is added to the weight
    gradient before the transformation, so the decay shrinks :math:`W` with the
    centered biases held fixed (the ordinary biases move by :math:`\lambda W
    \lambda_h`, :math:`\lambda W^\top \mu` to compensate). An Optax weight decay
    chained after the rule instead shrinks :math:`W` with the ordinary biases held
    fixed, which moves the centered biases and undoes part of what centering buys.

    The info is the wrapped rule's (with PCD, its ``negative_energies`` give
    :func:`~numpyro_ebm.learning.fit.fit` its chain diagnostics). The hidden
    offset's update uses :math:`p(h \mid \text{batch})` from the info's
    ``positive_hidden`` when the wrapped rule provides it (the closed-form rules
    :func:`bernoulli_rbm_pcd`, :func:`bernoulli_rbm_cd`, :func:`bernoulli_rbm_fpcd`
    do, so centering adds no matmul to their five) and computes it otherwise.
    """
    if not 0.0 <= offset_rate <= 1.0:
        raise ValueError(f"offset_rate must lie in [0, 1]; got {offset_rate}")
    if not weight_decay >= 0.0:
        raise ValueError(f"weight_decay must be non-negative; got {weight_decay}")

    def init(rng_key, params, data=None):
        if data is None:
            raise ValueError("the centered rule needs the training data to set its offsets")
        data = jnp.asarray(data, params.W.dtype)
        visible_offset = jnp.mean(data, axis=0)
        hidden_offset = jnp.mean(bernoulli_rbm.hidden_probs(params, data), axis=0)
        return CenteredState(rule.init(rng_key, params, data), visible_offset, hidden_offset)

    def step(rng_key, state: CenteredState, params, batch):
        grads, inner, info = rule.step(rng_key, state.inner, params, batch)
        if weight_decay:
            grads = grads._replace(W=grads.W + jnp.asarray(weight_decay, params.W.dtype) * params.W)
        grads = centered_gradient(grads, state.visible_offset, state.hidden_offset)
        rate = jnp.asarray(offset_rate, params.W.dtype)
        visible_offset = (1 - rate) * state.visible_offset + rate * jnp.mean(batch, axis=0)
        # the closed-form rules pass p(h | batch) on (saving a matmul); others do not
        positive_hidden = getattr(info, "positive_hidden", None)
        if positive_hidden is None:
            positive_hidden = bernoulli_rbm.hidden_probs(params, batch)
        batch_hidden = jnp.mean(positive_hidden, axis=0)
        hidden_offset = (1 - rate) * state.hidden_offset + rate * batch_hidden
        return grads, CenteredState(inner, visible_offset, hidden_offset), info

    return LearningRule(init, step, rule.validate_data)
