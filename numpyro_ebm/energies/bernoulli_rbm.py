r"""Bernoulli-Bernoulli restricted Boltzmann machine.

Visible units :math:`v \in \{0,1\}^D`, hidden units :math:`h \in \{0,1\}^K`,

.. math::

    E(v, h) = -b^\top v - c^\top h - v^\top W h, \qquad p(v, h) \propto e^{-E(v, h)}.

Every function broadcasts over leading batch dimensions: ``v`` of shape
``(*batch, D)`` gives results of shape ``(*batch,)`` (energies) or
``(*batch, K)`` (hidden conditionals).

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann
machines. UTML TR 2010-003.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "BernoulliRBMParams",
    "init_params",
    "validate_visible",
    "joint_energy",
    "free_energy",
    "hidden_free_energy",
    "hidden_logits",
    "visible_logits",
    "hidden_probs",
    "visible_probs",
]


class BernoulliRBMParams(NamedTuple):
    """Parameters of a Bernoulli RBM.

    Attributes
    ----------
    W
        Weights, shape ``(D, K)`` (visible by hidden).
    b
        Visible biases, shape ``(D,)``.
    c
        Hidden biases, shape ``(K,)``.
    """

    W: Float[Array, "visible hidden"]
    b: Float[Array, " visible"]
    c: Float[Array, " hidden"]

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]


def init_params(
    rng_key: PRNGKeyArray,
    n_visible: int,
    n_hidden: int,
    data: Float[Array, "n visible"] | None = None,
    weight_scale: float = 0.01,
    dtype=jnp.float32,
) -> BernoulliRBMParams:
    """Initialise as recommended in Hinton's practical guide (section 8).

    Weights are ``N(0, weight_scale^2)``, hidden biases zero, and visible biases
    ``log(p / (1 - p))`` with ``p`` each unit's base rate in ``data`` (clipped to
    ``[1e-3, 1 - 1e-3]``), or zero when no data is given.
    """
    W = weight_scale * jax.random.normal(rng_key, (n_visible, n_hidden), dtype=dtype)
    c = jnp.zeros((n_hidden,), dtype=dtype)
    if data is None:
        b = jnp.zeros((n_visible,), dtype=dtype)
    else:
        data = validate_visible(BernoulliRBMParams(W, jnp.zeros((n_visible,), dtype), c), data)
        p = jnp.clip(jnp.mean(data.reshape(-1, n_visible).astype(dtype), axis=0), 1e-3, 1 - 1e-3)
        b = (jnp.log(p) - jnp.log1p(-p)).astype(dtype)
    return BernoulliRBMParams(W, b, c)


def validate_visible(params: BernoulliRBMParams, v, name: str = "v"):
    """Check that ``v`` is a finite, binary, float array with ``D`` columns."""
    v = _checks.check_array(v, name)
    _checks.check_last_dim(v, params.W.shape[0], name, "visible units")
    _checks.check_binary(v, name)
    return v


def _checked(params, v=None, h=None):
    """Static checks of params and inputs (type, float dtype, widths); cheap, jit-safe."""
    _checks.check_params(params, BernoulliRBMParams)
    n_visible = params.W.shape[0] if params.W.ndim == 2 else None
    n_hidden = params.W.shape[1] if params.W.ndim == 2 else None
    if v is not None:
        v = _checks.check_input(v, "v", n_visible, "visible units")
    if h is not None:
        h = _checks.check_input(h, "h", n_hidden, "hidden units")
    return v, h


def hidden_logits(params: BernoulliRBMParams, v: Float[Array, "*batch visible"]):
    """Logits of :math:`p(h_j = 1 \\mid v) = \\sigma(c_j + v^\\top W_{:j})`."""
    v, _ = _checked(params, v=v)
    return v @ params.W + params.c


def visible_logits(params: BernoulliRBMParams, h: Float[Array, "*batch hidden"]):
    """Logits of :math:`p(v_i = 1 \\mid h) = \\sigma(b_i + W_{i:} h)`."""
    _, h = _checked(params, h=h)
    return h @ params.W.T + params.b


def hidden_probs(params: BernoulliRBMParams, v):
    return jax.nn.sigmoid(hidden_logits(params, v))


def visible_probs(params: BernoulliRBMParams, h):
    return jax.nn.sigmoid(visible_logits(params, h))


def joint_energy(
    params: BernoulliRBMParams,
    v: Float[Array, "*batch visible"],
    h: Float[Array, "*batch hidden"],
) -> Float[Array, "*batch"]:
    """:math:`E(v, h) = -b^\\top v - c^\\top h - v^\\top W h`."""
    v, h = _checked(params, v=v, h=h)
    return -(v @ params.b) - (h @ params.c) - jnp.sum((v @ params.W) * h, axis=-1)


def free_energy(
    params: BernoulliRBMParams, v: Float[Array, "*batch visible"]
) -> Float[Array, "*batch"]:
    """Free energy :math:`F(v) = -\\log \\sum_h e^{-E(v,h)} = -b^\\top v - \\sum_j \\mathrm{softplus}(c_j + v^\\top W_{:j})`.

    ``softplus`` is evaluated as ``logaddexp(x, 0)``, so the result stays finite
    for arbitrarily large weights.
    """
    v, _ = _checked(params, v=v)
    return -(v @ params.b) - jnp.sum(jax.nn.softplus(hidden_logits(params, v)), axis=-1)


def hidden_free_energy(
    params: BernoulliRBMParams, h: Float[Array, "*batch hidden"]
) -> Float[Array, "*batch"]:
    """Free energy of the hidden layer, :math:`-\\log \\sum_v e^{-E(v,h)}`.

    Used to enumerate the smaller layer when computing the exact partition function.
    """
    _, h = _checked(params, h=h)
    return -(h @ params.c) - jnp.sum(jax.nn.softplus(visible_logits(params, h)), axis=-1)
