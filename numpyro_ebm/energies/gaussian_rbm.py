r"""Gaussian-Bernoulli restricted Boltzmann machine.

Real visible units :math:`v \in \mathbb{R}^D` with per-unit scale
:math:`\sigma_i`, binary hidden units :math:`h \in \{0,1\}^K`:

.. math::

    E(v, h) = \sum_i \frac{(v_i - b_i)^2}{2\sigma_i^2}
              - c^\top h - \sum_{ij} \frac{v_i}{\sigma_i} W_{ij} h_j .

With :math:`\sigma = 1`, :math:`b = 0`, :math:`c = 0` this is Swersky et al.'s
:math:`E(v,h) = \tfrac12 v^\top v - v^\top W h`. The scale is stored as
``log_sigma``; to keep it fixed, leave it out of the update (for example with
``optax.masked``) or pass ``jax.lax.stop_gradient`` on it.

Conditionals: :math:`p(h_j = 1 \mid v) = \sigma(c_j + (v/\sigma)^\top W_{:j})`
and :math:`p(v \mid h) = \mathcal N(b + \sigma \odot W h, \operatorname{diag}\sigma^2)`.

References
----------
Hinton, G. E. & Salakhutdinov, R. (2006). Reducing the dimensionality of data
with neural networks. *Science* 313.
Swersky, K., Ranzato, M., Buchman, D., Marlin, B. & de Freitas, N. (2011). On
autoencoders and score matching for energy based models. *ICML*.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "GaussianRBMParams",
    "init_params",
    "validate_visible",
    "joint_energy",
    "free_energy",
    "hidden_free_energy",
    "hidden_logits",
    "hidden_probs",
    "visible_mean",
    "visible_std",
]


class GaussianRBMParams(NamedTuple):
    """Parameters of a Gaussian-Bernoulli RBM.

    Attributes
    ----------
    W
        Weights, shape ``(D, K)``.
    b
        Visible means (biases), shape ``(D,)``.
    c
        Hidden biases, shape ``(K,)``.
    log_sigma
        Log standard deviation of each visible unit, shape ``(D,)``.
    """

    W: Float[Array, "visible hidden"]
    b: Float[Array, " visible"]
    c: Float[Array, " hidden"]
    log_sigma: Float[Array, " visible"]

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
    sigma: float | None = None,
    dtype=jnp.float32,
) -> GaussianRBMParams:
    """Small random weights; ``b`` and ``sigma`` from the data's mean and standard
    deviation when ``data`` is given (else 0 and 1), unless ``sigma`` is set."""
    W = weight_scale * jax.random.normal(rng_key, (n_visible, n_hidden), dtype=dtype)
    c = jnp.zeros((n_hidden,), dtype=dtype)
    b = jnp.zeros((n_visible,), dtype=dtype)
    log_sigma = jnp.zeros((n_visible,), dtype=dtype)
    if data is not None:
        data = _checks.check_array(data, "data", ndim_min=2)
        _checks.check_last_dim(data, n_visible, "data", "visible units")
        flat = data.reshape(-1, n_visible).astype(dtype)
        b = jnp.mean(flat, axis=0)
        log_sigma = jnp.log(jnp.maximum(jnp.std(flat, axis=0), 1e-3))
    if sigma is not None:
        if sigma <= 0:
            raise ValueError(f"sigma must be positive; got {sigma}")
        log_sigma = jnp.full((n_visible,), math.log(sigma), dtype=dtype)
    return GaussianRBMParams(W, b, c, log_sigma)


def validate_visible(params: GaussianRBMParams, v, name: str = "v"):
    """Check that ``v`` is a finite float array with ``D`` columns."""
    v = _checks.check_array(v, name)
    return _checks.check_last_dim(v, params.W.shape[0], name, "visible units")


def _checked(params, v=None, h=None):
    """Static checks of params and inputs (type, float dtype, widths); cheap, jit-safe."""
    _checks.check_params(params, GaussianRBMParams)
    n_visible = params.W.shape[0] if params.W.ndim == 2 else None
    n_hidden = params.W.shape[1] if params.W.ndim == 2 else None
    if v is not None:
        v = _checks.check_input(v, "v", n_visible, "visible units")
    if h is not None:
        h = _checks.check_input(h, "h", n_hidden, "hidden units")
    return v, h


def hidden_logits(params: GaussianRBMParams, v: Float[Array, "*batch visible"]):
    v, _ = _checked(params, v=v)
    return (v * jnp.exp(-params.log_sigma)) @ params.W + params.c


def hidden_probs(params: GaussianRBMParams, v):
    return jax.nn.sigmoid(hidden_logits(params, v))


def visible_mean(params: GaussianRBMParams, h: Float[Array, "*batch hidden"]):
    """Mean of :math:`p(v \\mid h)`: :math:`b + \\sigma \\odot W h`."""
    _, h = _checked(params, h=h)
    return params.b + jnp.exp(params.log_sigma) * (h @ params.W.T)


def visible_std(params: GaussianRBMParams):
    _checked(params)
    return jnp.exp(params.log_sigma)


def joint_energy(params: GaussianRBMParams, v, h) -> Float[Array, "*batch"]:
    v, h = _checked(params, v=v, h=h)
    inv_sigma = jnp.exp(-params.log_sigma)
    quadratic = 0.5 * jnp.sum(jnp.square((v - params.b) * inv_sigma), axis=-1)
    return quadratic - (h @ params.c) - jnp.sum(((v * inv_sigma) @ params.W) * h, axis=-1)


def free_energy(
    params: GaussianRBMParams, v: Float[Array, "*batch visible"]
) -> Float[Array, "*batch"]:
    """:math:`F(v) = \\sum_i \\frac{(v_i-b_i)^2}{2\\sigma_i^2} - \\sum_j \\mathrm{softplus}(c_j + (v/\\sigma)^\\top W_{:j})`."""
    v, _ = _checked(params, v=v)
    inv_sigma = jnp.exp(-params.log_sigma)
    quadratic = 0.5 * jnp.sum(jnp.square((v - params.b) * inv_sigma), axis=-1)
    return quadratic - jnp.sum(jax.nn.softplus(hidden_logits(params, v)), axis=-1)


def hidden_free_energy(
    params: GaussianRBMParams, h: Float[Array, "*batch hidden"]
) -> Float[Array, "*batch"]:
    """:math:`-\\log \\int e^{-E(v,h)}\\,dv`, in closed form.

    With :math:`a = W h`: :math:`-c^\\top h - \\sum_i (b_i a_i / \\sigma_i + a_i^2/2)
    - \\sum_i (\\log\\sigma_i + \\tfrac12\\log 2\\pi)`. Summing :math:`e^{-F(h)}` over
    all :math:`h` gives the exact partition function when :math:`K` is small.
    """
    _, h = _checked(params, h=h)
    a = h @ params.W.T
    inv_sigma = jnp.exp(-params.log_sigma)
    log_gauss = jnp.sum(params.log_sigma) + 0.5 * params.W.shape[0] * math.log(2 * math.pi)
    return -(h @ params.c) - jnp.sum(params.b * inv_sigma * a + 0.5 * a * a, axis=-1) - log_gauss
