r"""Contrastive rules from parts: one :func:`pcd` = a gradient estimator + a negative phase.

Design (issue 24, "rules from parts"; cf. Optax's ``chain``)
-------------------------------------------------------------
The library used to spell every model x chains x fast-weights combination as its own
factory (``bernoulli_rbm_pcd``, ``bernoulli_rbm_pt_fpcd``, ``dbm_pt_fpcd``, ...). A
contrastive rule is now three kinds of part:

1. a **gradient estimator** (:class:`GradientEstimator`): how the gradient
   :math:`\langle \partial E/\partial\theta \rangle_\text{data} -
   \langle \partial E/\partial\theta \rangle_\text{negatives}` is computed from the batch
   and a :class:`~numpyro_ebm.learning.negative_phases.NegativeSample`, and what the
   step's info reports. :func:`energy_gradient` differentiates any energy; the closed
   forms (Bernoulli RBM, DBM, RBM with tied copies, Potts RBM) live beside their models'
   rules and bring their own sweep (a :class:`~numpyro_ebm.learning.negative_phases.ChainModel`),
   whose conditionals they reuse (no extra matmul);
2. a **negative phase** (:mod:`~numpyro_ebm.learning.negative_phases`): CD from the data,
   persistent chains, tempered chains, a replay buffer;
3. **wrappers**: fast weights around the negative phase
   (:func:`~numpyro_ebm.learning.negative_phases.fast_weights`); centering and the
   sparsity target around the rule; weight decay as an Optax transform.

:func:`pcd` puts an estimator and a negative phase together. The old factories stay as
thin aliases, each one line calling :func:`pcd` (``tests/learning/test_composition.py``
checks that every alias draws the same bits as its composition).

Each rule's info reports its own metrics: an info's ``metrics()`` method returns the
per-step scalars the training engine records (:func:`rule_metrics`;
:func:`~numpyro_ebm.learning.engine.step_report`).

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
Du, Y. & Mordatch, I. (2019). Implicit generation and generalization in
energy-based models. *NeurIPS*.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from numpyro_ebm.kernels.parallel_tempering import default_get_position
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.negative_phases import (
    ChainModel,
    NegativePhase,
    NegativeSample,
    fast_weight_update,
    persistent_chains,
)

__all__ = [
    "GradientEstimator",
    "energy_gradient",
    "contrastive_gradient",
    "contrastive_terms",
    "pcd",
    "rule_metrics",
]


class GradientEstimator(NamedTuple):
    """How a contrastive rule turns a batch and its negatives into a gradient.

    gradient
        ``gradient(params, chain_params, batch, negatives, sampler_info) -> (grads, info)``:
        ``params`` are the model's, ``chain_params`` those the chains sampled (``params +
        fast_params`` with fast weights), ``negatives`` a
        :class:`~numpyro_ebm.learning.negative_phases.NegativeSample`; ``info`` reports
        the step (a :class:`~numpyro_ebm.learning.base.ContrastiveInfo` or alike, with a
        ``metrics()`` method).
    chain_model
        ``None`` for an estimator that takes the negatives' positions from any sampler
        (:func:`energy_gradient`); a closed form's own chains otherwise.
    validate_data
        ``fn(data, name)`` raising on data the model cannot take, or ``None``.
    """

    gradient: Callable
    chain_model: ChainModel | None = None
    validate_data: Callable | None = None


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


def energy_gradient(energy_fn: Callable, energy_penalty: float = 0.0) -> GradientEstimator:
    """The estimator for any energy: autodiff of ``mean E(batch) - mean E(negatives)``
    (:func:`contrastive_terms`), the negatives held constant; for an RBM pass its free
    energy. Runs on the negatives of any sampler; ``energy_penalty`` as for
    :func:`contrastive_gradient`. The info is a
    :class:`~numpyro_ebm.learning.base.ContrastiveInfo` with each negative's energy."""

    def gradient(params, chain_params, batch, negatives: NegativeSample, sampler_info):
        grads, positive, negative, energies = contrastive_terms(
            energy_fn, params, batch, negatives.position, energy_penalty
        )
        return grads, ContrastiveInfo(positive, negative, sampler_info, energies)

    return GradientEstimator(gradient)


def _as_estimator(estimator_or_energy, energy_penalty: float) -> GradientEstimator:
    if isinstance(estimator_or_energy, GradientEstimator):
        if energy_penalty:
            raise ValueError(
                "energy_penalty is an option of energy_gradient(energy_fn, energy_penalty); "
                "a GradientEstimator was passed"
            )
        return estimator_or_energy
    if not callable(estimator_or_energy):
        raise TypeError(
            "pcd's first argument is a GradientEstimator or an energy function "
            f"energy_fn(params, x); got {type(estimator_or_energy).__name__}"
        )
    return energy_gradient(estimator_or_energy, energy_penalty)


def pcd(
    estimator: GradientEstimator | Callable,
    negative_phase: NegativePhase | Any,
    n_chains: int | None = None,
    k: int = 1,
    *,
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
    energy_penalty: float = 0.0,
    validate_data: Callable | None = None,
) -> LearningRule:
    r"""A contrastive learning rule: a gradient estimator and a negative phase.

    ``pcd(estimator, negative_phase)`` is the composition; for example

    - ``pcd(energy_fn, persistent_chains(100, sampler=kernel))``: PCD of any energy;
    - ``pcd(energy_fn, data_chains(k, sampler=kernel))``: CD-k;
    - ``pcd(bernoulli_rbm_estimator(), fast_weights(tempered_chains(100, ladder)))``:
      closed-form PT-FPCD of a Bernoulli RBM;
    - ``pcd(dbm_estimator(), persistent_chains(100))``: Salakhutdinov & Hinton's DBM rule.

    The short form ``pcd(energy_fn, sampler, n_chains, k)`` is
    ``pcd(energy_fn, persistent_chains(n_chains, k, sampler=sampler))`` (PCD, Tieleman
    2008), as before the composition existed.

    Parameters
    ----------
    estimator
        A :class:`GradientEstimator`, or an energy function ``energy_fn(params, x)`` for
        :func:`energy_gradient` (with ``energy_penalty``).
    negative_phase
        A :class:`~numpyro_ebm.learning.negative_phases.NegativePhase`, or a sampler for the
        short form.
    n_chains, k, vmap_chains, get_position
        The short form's persistent chains (set them on the phase otherwise).
    energy_penalty
        Weight of the energy-magnitude penalty of an energy function (see
        :func:`contrastive_gradient`).
    validate_data
        ``fn(data, name)`` raising on data the model cannot take; by default the
        estimator's (closed forms), else the sampler's
        (:func:`~numpyro_ebm.learning.chains.data_validator`). Carried by the rule for
        :func:`~numpyro_ebm.learning.fit.fit`.

    Returns
    -------
    LearningRule
        ``init(rng_key, params, data)`` starts the phase's chains (and zero fast weights);
        ``step(rng_key, state, params, batch) -> (grads, state, info)``.
    """
    estimator = _as_estimator(estimator, energy_penalty)
    if not isinstance(negative_phase, NegativePhase):
        if n_chains is None:
            raise TypeError(
                "pcd(energy_fn, sampler, n_chains, k): pass n_chains, or pass a negative phase "
                "(persistent_chains, data_chains, tempered_chains, replay_buffer)"
            )
        negative_phase = persistent_chains(
            n_chains, k, sampler=negative_phase, vmap_chains=vmap_chains, get_position=get_position
        )
    elif n_chains is not None or k != 1 or vmap_chains or get_position is not default_get_position:
        raise ValueError(
            "n_chains, k, vmap_chains and get_position belong to the negative phase when one "
            f"is passed; set them on {negative_phase.name}(...)"
        )
    validate_data = validate_data or estimator.validate_data
    phase = negative_phase.bind(estimator.chain_model, validate_data)
    validate_data = validate_data or phase.validate_data
    fast = negative_phase.fast_weights

    def init(rng_key, params, data=None):
        fields = phase.init(rng_key, params, data)
        return phase.state(fields, None if fast is None else jax.tree.map(jnp.zeros_like, params))

    def step(rng_key, state, params, batch):
        fields = tuple(state)[: phase.n_fields]
        fast_params = None if fast is None else state.fast_params
        chain_params = params if fast is None else jax.tree.map(jnp.add, params, fast_params)
        negatives, fields, sampler_info = phase.run(rng_key, fields, chain_params, batch)
        grads, info = estimator.gradient(params, chain_params, batch, negatives, sampler_info)
        info = info._replace(
            negative_energies=phase.chain_energies(info.negative_energies, negatives)
        )
        if fast is not None:
            fast_params = fast_weight_update(fast_params, grads, fast)
        return grads, phase.state(fields, fast_params), info

    return LearningRule(init, step, validate_data)


def rule_metrics(info: Any) -> dict:
    """The per-step metrics a rule's ``info`` reports: ``info.metrics()``.

    Every info of the library's rules has the method (:class:`~numpyro_ebm.learning.base.ContrastiveInfo`,
    the DBM's, score matching's, the pseudo-likelihood's); a rule written elsewhere whose
    info has none is read as a ``ContrastiveInfo`` (its documented fields
    ``positive_energy``, ``negative_energy``, ``sampler_info`` and, if present,
    ``negative_energies``).
    """
    metrics = getattr(info, "metrics", None)
    if callable(metrics):
        return metrics()
    return ContrastiveInfo.metrics(info)
