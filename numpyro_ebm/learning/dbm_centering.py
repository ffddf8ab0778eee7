r"""The centered DBM (Montavon & Müller 2012; Melchior, Fischer & Wiskott 2016): a wrapper
around any DBM rule of :mod:`~numpyro_ebm.learning.dbm_rules`.

References
----------
Montavon, G. & Müller, K.-R. (2012). Deep Boltzmann machines and the centering
trick. In *Neural Networks: Tricks of the Trade*, 2nd ed., LNCS 7700.
Melchior, J., Fischer, A. & Wiskott, L. (2016). How to center deep Boltzmann
machines. *JMLR* 17(99).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import dbm
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.dbm_rules import DBMInfo

__all__ = ["OFFSET_SOURCES", "CenteredDBMState", "centered_dbm_gradient", "centered_dbm"]


OFFSET_SOURCES = ("data", "model", "average")


class CenteredDBMState(NamedTuple):
    """The wrapped rule's state and the offsets :class:`~numpyro_ebm.energies.dbm.DBMOffsets`."""

    inner: Any
    offsets: dbm.DBMOffsets


def centered_dbm_gradient(grads: dbm.DBMParams, offsets: dbm.DBMOffsets) -> dbm.DBMParams:
    r"""The centered DBM's gradient (Melchior et al. 2016, eq. 15-19), expressed in the ordinary parameters.

    With :math:`\theta = \mathrm{from\_centered}(\theta_c, \text{offsets})` (affine
    for fixed offsets, :func:`~numpyro_ebm.energies.dbm.from_centered`), the
    gradient in the centered coordinates is the chain rule applied to the
    ordinary one :math:`G`:

    .. math::

        G_{W_1,c} = G_{W_1} - \mu\, G_{c_1}^\top - G_b\, \lambda^{1\top}, \qquad
        G_{W_2,c} = G_{W_2} - \lambda^1 G_{c_2}^\top - G_{c_1} \lambda^{2\top},

    the biases' unchanged (covariances of the centered layers in place of raw
    correlations). A step along it in the centered coordinates is, in the
    ordinary ones, the step :math:`(G_{W_1,c}, G_{W_2,c}, G_b - G_{W_1,c}\lambda^1,
    G_{c_1} - G_{W_1,c}^\top\mu - G_{W_2,c}\lambda^2, G_{c_2} - G_{W_2,c}^\top\lambda^1)`
    returned here, so any linear optimiser applied to it is the centered algorithm.
    At zero offsets it is ``grads`` itself.
    """
    mu, lam1, lam2 = offsets
    grad_W1 = grads.W1 - jnp.outer(mu, grads.c1) - jnp.outer(grads.b, lam1)
    grad_W2 = grads.W2 - jnp.outer(lam1, grads.c2) - jnp.outer(grads.c1, lam2)
    return dbm.DBMParams(
        grad_W1,
        grad_W2,
        grads.b - grad_W1 @ lam1,
        grads.c1 - mu @ grad_W1 - grad_W2 @ lam2,
        grads.c2 - lam1 @ grad_W2,
    )


def centered_dbm(
    rule: LearningRule,
    offset_rate: float = 0.01,
    *,
    weight_decay: float = 0.0,
    hidden_offsets: str = "data",
    init_rows: int = 1000,
    init_mean_field_iterations: int = 10,
) -> LearningRule:
    r"""The centered DBM (Montavon & Müller 2012; Melchior, Fischer & Wiskott 2016) around a DBM rule.

    Every layer gets an offset, :math:`\mu` for :math:`v`, :math:`\lambda^1`,
    :math:`\lambda^2` for the hidden layers, and the gradient of the wrapped rule
    (:func:`dbm_pcd`, :func:`dbm_fpcd`, :func:`dbm_pt_pcd`, :func:`dbm_pt_fpcd`) is
    replaced by the centered one (:func:`centered_dbm_gradient`). The parameters
    stay the ordinary :class:`~numpyro_ebm.energies.dbm.DBMParams` (the model the
    offsets re-express is unchanged when they move, see
    :func:`~numpyro_ebm.energies.dbm.to_centered`), so evaluation, sampling and
    checkpoints are those of any DBM. Centering makes the gradient invariant to
    flipping units and much better conditioned; Melchior et al. find it trains
    DBMs without pretraining and to higher likelihoods.

    The offsets start at the data mean (:math:`\mu`) and at the mean-field means
    of the hidden layers on up to ``init_rows`` random training rows, and follow
    exponential running means with rate ``offset_rate`` (the paper's sliding
    factor :math:`\nu`): :math:`\mu` of the batch mean, :math:`\lambda^l` of the
    mean over the batch of

    - ``hidden_offsets="data"`` (default): the mean-field means :math:`\mu^l` of
      the batch (the data mean of the hidden units, the paper's recommended
      :math:`d` variant);
    - ``"model"``: the chains' statistics (:math:`p(h^1 \mid \tilde v, \tilde h^2)` and
      :math:`\tilde h^2`);
    - ``"average"``: the average of the two (the paper's :math:`a`).

    No extra matmul: the wrapped rule's :class:`DBMInfo` holds both.

    ``weight_decay`` is an L2 penalty :math:`\tfrac{\lambda}{2}(\|W_1\|^2 +
    \|W_2\|^2)` in centered coordinates (added to the weight gradients before the
    transformation, the centered biases held fixed), as in
    :func:`~numpyro_ebm.learning.rbm_rules.centered`; an Optax weight decay chained
    after the rule would shrink the weights with the *ordinary* biases fixed.
    With FPCD, the fast weights follow the wrapped rule's (uncentered) gradient.
    """
    if not 0.0 <= offset_rate <= 1.0:
        raise ValueError(f"offset_rate must lie in [0, 1]; got {offset_rate}")
    if not weight_decay >= 0.0:
        raise ValueError(f"weight_decay must be non-negative; got {weight_decay}")
    if hidden_offsets not in OFFSET_SOURCES:
        raise ValueError(f"hidden_offsets must be one of {OFFSET_SOURCES}; got {hidden_offsets!r}")
    if not isinstance(init_rows, int) or init_rows < 1:
        raise ValueError(f"init_rows must be a positive int; got {init_rows!r}")

    def init(rng_key, params, data=None):
        if data is None:
            raise ValueError("the centered rule needs the training data to set its offsets")
        data = jnp.asarray(data, params.W1.dtype)
        key_rows, key_inner = jax.random.split(rng_key)
        rows = data
        if data.shape[0] > init_rows:
            rows = data[jax.random.choice(key_rows, data.shape[0], (init_rows,), replace=False)]
        q = dbm.mean_field(params, rows, init_mean_field_iterations)
        offsets = dbm.DBMOffsets(
            jnp.mean(data, axis=0), jnp.mean(q.hidden1, axis=0), jnp.mean(q.hidden2, axis=0)
        )
        return CenteredDBMState(rule.init(key_inner, params, data), offsets)

    def step(rng_key, state: CenteredDBMState, params, batch):
        grads, inner, info = rule.step(rng_key, state.inner, params, batch)
        if not isinstance(info, DBMInfo):
            raise TypeError(
                f"centered_dbm wraps a DBM rule whose info is a DBMInfo; got {type(info).__name__}"
            )
        if weight_decay:
            decay = jnp.asarray(weight_decay, params.W1.dtype)
            grads = grads._replace(W1=grads.W1 + decay * params.W1, W2=grads.W2 + decay * params.W2)
        offsets = state.offsets
        grads = centered_dbm_gradient(grads, offsets)
        data_means = (jnp.mean(info.mean_field.hidden1, 0), jnp.mean(info.mean_field.hidden2, 0))
        model_means = (jnp.mean(info.negatives.hidden1, 0), jnp.mean(info.negatives.hidden2, 0))
        if hidden_offsets == "data":
            targets = data_means
        elif hidden_offsets == "model":
            targets = model_means
        else:
            targets = tuple(0.5 * (d + m) for d, m in zip(data_means, model_means, strict=True))
        rate = jnp.asarray(offset_rate, params.W1.dtype)
        new = dbm.DBMOffsets(
            *(
                (1 - rate) * old + rate * target
                for old, target in zip(offsets, (jnp.mean(batch, axis=0), *targets), strict=True)
            )
        )
        return grads, CenteredDBMState(inner, new), info

    return LearningRule(init, step, rule.validate_data)
