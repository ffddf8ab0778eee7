r"""Learning rules for categorical (Potts) models: Potts-RBM PCD and Potts pseudo-likelihood.

Both run through :func:`~numpyro_ebm.learning.fit.fit` unchanged. Training data
are integer codes held in a float array, ``(n, L)``; with ``weighted=True`` each
row carries its weight in one more column, ``(n, L + 1)`` (:func:`weighted_rows`
builds them, e.g. from :func:`numpyro_ebm.datasets.fasta.sequence_weights`), so
that the minibatches ``fit`` shuffles keep every sequence with its weight. The
positive statistics are then weighted means, :math:`\sum_n w_n s(v_n) / \sum_n w_n`
over the batch: the DCA convention that corrects for the phylogenetic
redundancy of a family (Morcos et al. 2011).

- :func:`potts_rbm_pcd`: PCD-k for a Potts RBM with the closed-form gradient in
  the hidden probabilities the block-Gibbs sweep
  (:mod:`~numpyro_ebm.kernels.potts_rbm_gibbs`) computes anyway: the negative
  statistics at the chains' state at the start of the last sweep, as
  :func:`~numpyro_ebm.learning.rbm_rules.bernoulli_rbm_pcd`. Parallel-tempered PCD for
  the Potts RBM is :func:`~numpyro_ebm.learning.tempered.pt_pcd` with
  :func:`~numpyro_ebm.kernels.potts_rbm_gibbs.tempering` (autodiff gradient,
  unweighted). Potts RBMs with dReLU or Gaussian hidden units
  (:class:`~numpyro_ebm.energies.potts_rbm.PottsDReLURBMParams`) train with
  :func:`~numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`
  on :func:`~numpyro_ebm.energies.potts_rbm.drelu_free_energy` and the same block-Gibbs
  kernel (autodiff gradient; ``validate_data=categorical_data_validator(q)``).
- :func:`pseudo_likelihood`: plmDCA's objective
  (:func:`~numpyro_ebm.energies.potts.pseudo_likelihood_objective`) as a rule,
  the fast estimator of a pairwise Potts model (no sampling).

References
----------
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations
to the likelihood gradient. *ICML*.
Tubiana, J., Cocco, S. & Monasson, R. (2019). Learning protein constitutive motifs
from sequence data. *eLife* 8:e39397.
Ekeberg, M., Lövkvist, C., Lan, Y., Weigt, M. & Aurell, E. (2013). Improved contact
prediction in proteins: using pseudolikelihoods to infer Potts models. *Phys. Rev. E* 87.
Morcos, F. et al. (2011). Direct-coupling analysis of residue coevolution captures
native contacts across many protein families. *PNAS* 108(49).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from numpyro_ebm import _checks
from numpyro_ebm.energies import potts, potts_rbm
from numpyro_ebm.kernels import potts_rbm_gibbs
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule, loss_metrics
from numpyro_ebm.learning.chains import initial_positions
from numpyro_ebm.learning.composition import GradientEstimator, pcd
from numpyro_ebm.learning.negative_phases import ChainModel, NegativeSample, persistent_chains

__all__ = [
    "weighted_rows",
    "split_weighted",
    "categorical_data_validator",
    "potts_rbm_gradient",
    "potts_rbm_estimator",
    "potts_rbm_pcd",
    "PseudoLikelihoodInfo",
    "pseudo_likelihood",
]


def weighted_rows(codes, weights) -> Float[Array, "n sites_plus_1"]:
    """Codes ``(n, L)`` and weights ``(n,)`` as one float array ``(n, L + 1)`` (weights last)."""
    codes = jnp.asarray(codes)
    dtype = codes.dtype if jnp.issubdtype(codes.dtype, jnp.floating) else jnp.float32
    weights = jnp.asarray(weights, dtype)
    if codes.ndim != 2 or weights.shape != codes.shape[:1]:
        raise ValueError(
            f"codes must be (n, L) and weights (n,); got {tuple(codes.shape)} and "
            f"{tuple(weights.shape)}"
        )
    return jnp.concatenate([codes.astype(dtype), weights[:, None]], axis=1)


def split_weighted(rows, weighted: bool):
    """``(codes, weights)`` of rows built by :func:`weighted_rows` (weights ``None`` if not)."""
    if weighted:
        return rows[..., :-1], rows[..., -1]
    return rows, None


def categorical_data_validator(n_states: int, weighted: bool = False):
    """``validate(data, name)`` for training data of ``n_states``-state sites: a float array
    ``(n, L)`` of integer codes in ``0..q-1`` (with ``weighted``, a last column of finite,
    non-negative weights, not all zero)."""
    n_states = _checks.check_int(n_states, "n_states", minimum=2)

    def validate(data, name: str = "data"):
        data = _checks.check_array(data, name, ndim_min=2)
        if data.ndim != 2:
            raise ValueError(
                f"{name} must be integer codes of shape (n, L){' plus a weight column' if weighted else ''}; "
                f"got shape {tuple(data.shape)} (one-hot data: convert with argmax(axis=-1))"
            )
        codes, weights = split_weighted(data, weighted)
        potts_rbm.validate_codes(codes, n_states, name)
        if weights is not None and _checks.is_concrete(weights):
            w = np.asarray(weights)
            if (w < 0).any() or not w.sum() > 0:
                raise ValueError(
                    f"{name}'s last column holds the sequence weights (weighted=True): they "
                    f"must be non-negative and not all zero; got min {w.min()!r}"
                )
        return data

    return validate


def _weighted_mean(x, weights):
    """Mean over the leading (batch) axis, weighted when ``weights`` is given."""
    if weights is None:
        return jnp.mean(x, axis=0)
    w = weights.astype(x.dtype)
    return jnp.tensordot(w, x, axes=1) / jnp.sum(w)


def potts_rbm_gradient(
    params, batch_one_hot, positive_hidden, negatives_one_hot, negative_hidden, weights=None
) -> potts_rbm.PottsRBMParams:
    r"""Gradient of :math:`\overline{F(\text{batch})}_w - \overline{F(\text{negatives})}`.

    One-hot rows ``(n, L, q)``; ``positive_hidden`` and ``negative_hidden`` are
    :math:`p(h = 1 \mid v)`; ``weights`` (``(n,)`` or None) weight the batch means.
    Two matmuls: :math:`\langle x\, h^\top \rangle` for the batch and the negatives.
    """
    L, q, K = params.W.shape
    n_neg = negatives_one_hot.shape[0]
    pos = batch_one_hot.reshape(-1, L * q)
    neg = negatives_one_hot.reshape(n_neg, L * q)
    if weights is None:
        pos_weighted, total = pos, pos.shape[0]
    else:
        w = weights.astype(pos.dtype)
        pos_weighted, total = pos * w[:, None], jnp.sum(w)
    grad_W = (neg.T @ negative_hidden) / n_neg - (pos_weighted.T @ positive_hidden) / total
    grad_fields = jnp.mean(negatives_one_hot, axis=0) - _weighted_mean(batch_one_hot, weights)
    grad_c = jnp.mean(negative_hidden, axis=0) - _weighted_mean(positive_hidden, weights)
    return potts_rbm.PottsRBMParams(grad_W.reshape(L, q, K), grad_fields, grad_c)


def potts_rbm_estimator(n_states: int, weighted: bool = False) -> GradientEstimator:
    """The Potts RBM's closed-form gradient (:func:`potts_rbm_gradient`) as an estimator.

    The chains are the block-Gibbs sweep of :mod:`~numpyro_ebm.kernels.potts_rbm_gibbs`
    started at random training rows; the negative statistics are the chains' state at the
    start of the last sweep with the hidden probabilities that sweep computed. With
    ``weighted`` the rows carry their weight in a last column (:func:`weighted_rows`) and
    the positive statistics and energy are weighted means. ``info.negative_energies`` holds
    each chain's free energy; ``info.positive_hidden`` is left ``None`` (it means a
    Bernoulli RBM's :math:`p(h \\mid v)` to the wrappers that read it). Use it with
    :func:`~numpyro_ebm.learning.negative_phases.persistent_chains`.
    """
    validate = categorical_data_validator(n_states, weighted)

    def start(rng_key, params, data, n_chains: int):
        codes, _ = split_weighted(jnp.asarray(data), weighted)
        positions = initial_positions(rng_key, codes, n_chains)
        return potts_rbm_gibbs.init(positions, params)

    def gradient(params, chain_params, batch, negatives: NegativeSample, sampler_info):
        codes, weights = split_weighted(batch, weighted)
        q = params.W.shape[1]
        statistics = negatives.statistics
        negatives = potts_rbm.one_hot(negatives.state.position, q, params.W.dtype)
        positives = potts_rbm.one_hot(codes, q, params.W.dtype)
        positive_logits = potts_rbm.hidden_logits(params, positives, "one_hot")
        positive_hidden = jax.nn.sigmoid(positive_logits)
        grads = potts_rbm_gradient(
            params, positives, positive_hidden, negatives, statistics.hidden_probs, weights
        )
        fields_pos = jnp.sum(positives * params.fields, axis=(-2, -1))
        positive_energies = -fields_pos - jnp.sum(jax.nn.softplus(positive_logits), axis=-1)
        fields_neg = jnp.sum(negatives * chain_params.fields, axis=(-2, -1))
        negative_energies = -fields_neg - jnp.sum(
            jax.nn.softplus(statistics.hidden_logits), axis=-1
        )
        info = ContrastiveInfo(
            _weighted_mean(positive_energies, weights),
            jnp.mean(negative_energies),
            sampler_info,
            negative_energies,
        )
        return grads, info

    chains = ChainModel(potts_rbm_gibbs.build_kernel(), start)
    return GradientEstimator(gradient, chains, validate)


def potts_rbm_pcd(n_chains: int, n_states: int, k: int = 1, weighted: bool = False):
    """PCD-k for a Potts RBM with the closed-form gradient (four matmuls per batch for k = 1).

    Alias of ``pcd(potts_rbm_estimator(n_states, weighted), persistent_chains(n_chains, k))``.

    Parameters
    ----------
    n_chains
        Persistent chains, started at random training rows.
    n_states
        States per site ``q`` (for the data check).
    k
        Block-Gibbs sweeps per batch.
    weighted
        Rows carry their weight in a last column (:func:`weighted_rows`); the positive
        statistics and energy are weighted means.

    ``info.negative_energies`` holds each chain's free energy (for ``fit``'s R-hat);
    ``info.positive_hidden`` is left ``None`` (it means a Bernoulli RBM's
    :math:`p(h \\mid v)` to the wrappers that read it).
    """
    return pcd(potts_rbm_estimator(n_states, weighted), persistent_chains(n_chains, k))


class PseudoLikelihoodState(NamedTuple):
    """The pseudo-likelihood keeps no state between batches."""


class PseudoLikelihoodInfo(NamedTuple):
    """Per-batch diagnostics (the fields :func:`~numpyro_ebm.learning.fit.fit` records).

    loss
        The objective (regularised mean negative pseudo-log-likelihood) of the batch.
    positive_energy
        (Weighted) mean energy of the batch.
    negative_energy
        Always 0: no negative phase.
    sampler_info
        ``None``.
    """

    loss: Float[Array, ""]
    positive_energy: Float[Array, ""]
    negative_energy: Float[Array, ""]
    sampler_info: Any

    metrics = loss_metrics


def pseudo_likelihood(
    n_states: int,
    weighted: bool = False,
    l2_fields: float = 0.01,
    l2_couplings: float = 0.01,
) -> LearningRule:
    """plmDCA as a rule: the gradient of
    :func:`~numpyro_ebm.energies.potts.pseudo_likelihood_objective` on each batch.

    ``l2_couplings`` is plmDCA's :math:`\\lambda_J` (Ekeberg et al. use 0.01 for
    ``L \\approx 50-100``; scale it by ``L`` and ``q`` for other sizes). The gradient
    with respect to the couplings is symmetric with zero diagonal blocks, so an
    optimizer keeps valid couplings.
    """
    validate = categorical_data_validator(n_states, weighted)

    def init(rng_key, params, data=None):
        return PseudoLikelihoodState()

    def step(rng_key, state, params, batch):
        codes, weights = split_weighted(batch, weighted)
        loss, grads = jax.value_and_grad(potts.pseudo_likelihood_objective)(
            params, codes, weights, l2_fields, l2_couplings, "codes"
        )
        energy = _weighted_mean(potts.energy(params, codes, "codes"), weights)
        zero = jnp.zeros((), loss.dtype)
        return grads, state, PseudoLikelihoodInfo(loss, energy, zero, None)

    return LearningRule(init, step, validate)
