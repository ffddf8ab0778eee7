r"""Block Gibbs sampling for a product of uni-gauss experts on a box.

One step is a full sweep (Hinton, lecture 3b, "The Markov chain for unigauss
experts"):

1. every expert's choice :math:`z_m \sim p(z_m \mid x)` in parallel (they are
   independent given :math:`x`), a Bernoulli draw on the log-odds
   :func:`numpyro_ebm.energies.poe.expert_logits`;
2. :math:`x \sim p(x \mid z)`, the product of the active Gaussians
   (:func:`numpyro_ebm.energies.poe.product_of_active_gaussians`) truncated to the
   box. The experts are axis-aligned, so this is an independent truncated normal
   in each dimension. When no expert is active, every factor of :math:`p(x, z)`
   is constant in :math:`x` and the conditional is uniform on the box.

The truncated normal is drawn by inversion in log space (:func:`truncated_normal`)
rather than with :func:`jax.random.truncated_normal`, which inverts ``erf`` and in
float32 returns the *far* end of the interval once both ends lie more than about
5.5 standard deviations on the same side of the mean (e.g. ``[6, 8]`` gives 8).
In this sampler that happens whenever an active Gaussian's mean lies well outside
the box, which learning can produce.

Follows BlackJAX's kernel contract: ``init(position, params, box)`` builds the
state, ``build_kernel(box)`` returns ``kernel(rng_key, state, params)``, and
``as_top_level_api(box)`` bundles both in a :class:`blackjax.base.SamplingAlgorithm`
whose ``step`` takes the parameters at call time, so a learning loop can change
them without recompiling. The box is static configuration (see
:mod:`numpyro_ebm.energies.poe`) and is fixed when the kernel is built. Positions
may carry leading chain dimensions ``(*chains, D)`` (one key for all chains), and
``vmap`` over chains works as well.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Hinton, G. E. CSC2535 lecture 3b: products of experts.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jax.scipy.special import log_ndtr, ndtri
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm.energies import poe
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = [
    "UniGaussGibbsState",
    "UniGaussGibbsInfo",
    "truncated_normal",
    "init",
    "build_kernel",
    "as_top_level_api",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class UniGaussGibbsState(NamedTuple):
    """State of the uni-gauss Gibbs chain.

    position
        Current point in the box, shape ``(*chains, D)``.
    expert_choices
        Expert choices :math:`z` drawn in the last sweep (1: the expert's Gaussian),
        shape ``(*chains, M)``; after ``init`` it holds :math:`p(z = 1 \\mid x)` (no
        draw has been made yet).
    """

    position: Float[Array, "*chains dim"]
    expert_choices: Float[Array, "*chains experts"]


class UniGaussGibbsInfo(NamedTuple):
    """What the sweep computed on the way.

    responsibilities
        :math:`p(z = 1 \\mid x)` for the position the sweep started from (the
        positive-phase statistics when ``x`` is data).
    product_mean, product_variance
        Mean and variance of the product of the active Gaussians, before truncation
        to the box (variance ``+inf`` and mean ``0`` where no expert was active).
    """

    responsibilities: Float[Array, "*chains experts"]
    product_mean: Float[Array, "*chains dim"]
    product_variance: Float[Array, "*chains dim"]


def _standard_normal_quantile_log(log_p):
    """:math:`\\Phi^{-1}(e^{\\log p})`, also where :math:`p` underflows.

    Uses ``ndtri`` while :math:`p` is a normal float, and in the deeper tail an
    asymptotic start refined by Newton steps on ``log_ndtr`` (stable for negative
    arguments, where :math:`\\Phi/\\varphi` is bounded by :math:`1/|x|`).
    """
    dtype = log_p.dtype
    threshold = math.log(float(jnp.finfo(dtype).tiny)) + 10.0
    deep = log_p < threshold
    p_safe = jnp.exp(jnp.where(deep, 0.0, log_p).astype(dtype))
    x_mid = ndtri(jnp.where(deep, 0.5, p_safe).astype(dtype))
    # asymptotic start: log Phi(x) ~ -x^2/2 - log(-x) - log(2 pi)/2 as x -> -inf
    # (lanes that are not deep iterate on the threshold itself, harmlessly)
    log_p_deep = jnp.where(deep, log_p, threshold).astype(dtype)
    t = -2 * log_p_deep
    x = -jnp.sqrt(t - jnp.log(2 * math.pi * t))

    def newton(_, x):
        log_pdf = -0.5 * jnp.square(x) - _HALF_LOG_2PI
        log_cdf = log_ndtr(x)
        return x - (log_cdf - log_p_deep) * jnp.exp(log_cdf - log_pdf)

    x = jax.lax.fori_loop(0, 4, newton, x)
    return jnp.where(deep, x, x_mid)


def truncated_normal(rng_key: PRNGKeyArray, lower, upper, shape, dtype) -> Array:
    """Standard normal truncated to ``[lower, upper]``, accurate in the far tails.

    Inversion in log space: the interval is first reflected so that most of it lies
    below zero, then :math:`u \\sim U(\\Phi(a), \\Phi(b))` is formed as
    :math:`\\log u = \\operatorname{logaddexp}(\\log(1-U) + \\log\\Phi(a), \\log U + \\log\\Phi(b))`
    with ``log_ndtr``, and :math:`x = \\Phi^{-1}(u)`. Correct for intervals any
    number of standard deviations from the mean (same signature as
    :func:`jax.random.truncated_normal`, which is not; see the module docstring).
    """
    lower = jnp.broadcast_to(jnp.asarray(lower, dtype), shape)
    upper = jnp.broadcast_to(jnp.asarray(upper, dtype), shape)
    return _truncated_normal_from_uniform(jax.random.uniform(rng_key, shape, dtype), lower, upper)


def _truncated_normal_from_uniform(u, lower, upper):
    """The inversion of :func:`truncated_normal` applied to given uniforms ``u`` in [0, 1)."""
    flip = (lower + upper) > 0
    a = jnp.where(flip, -upper, lower)
    b = jnp.where(flip, -lower, upper)
    log_u = jnp.logaddexp(jnp.log1p(-u) + log_ndtr(a), jnp.log(u) + log_ndtr(b))
    x = jnp.clip(_standard_normal_quantile_log(log_u), a, b)
    return jnp.where(flip, -x, x)


# one compiled call instead of op-by-op dispatch when ``init`` runs eagerly
_responsibilities = jax.jit(poe.responsibilities)


def init(position: Float[Array, "*chains dim"], params, box: poe.Box) -> UniGaussGibbsState:
    """Build the state for ``position`` (validated: shape, dtype, NaN, inside the box)."""
    position = poe.validate_position(params, position, box, "position")
    # a strong dtype, so the state's type does not change after the first step
    position = jnp.asarray(position, dtype=position.dtype)
    choices = _responsibilities(params, position, poe.validate_box(box)).astype(position.dtype)
    return UniGaussGibbsState(position, choices)


def build_kernel(box: poe.Box):
    """Return ``kernel(rng_key, state, params) -> (UniGaussGibbsState, UniGaussGibbsInfo)``."""
    box = poe.validate_box(box)

    def kernel(
        rng_key: PRNGKeyArray, state: UniGaussGibbsState, params: poe.UniGaussParams
    ) -> tuple[UniGaussGibbsState, UniGaussGibbsInfo]:
        key_choice, key_position = jax.random.split(rng_key)
        x = state.position
        dtype = x.dtype
        logits = poe.expert_logits(params, x, box)
        z = bernoulli_from_logits(key_choice, logits, dtype)
        mean, variance = poe.product_of_active_gaussians(params, z)
        mean, variance = mean.astype(dtype), variance.astype(dtype)

        low, high = poe.box_bounds(box, x.shape[-1], dtype)
        lead = (1,) * (x.ndim - 1)  # explicit broadcasting against the chain dimensions
        low, high = low.reshape(lead + low.shape), high.reshape(lead + high.shape)
        active = jnp.isfinite(variance)
        std = jnp.sqrt(jnp.where(active, variance, 1))
        center = jnp.where(active, mean, 0)
        # One uniform per coordinate feeds either branch (they are exclusive per chain):
        # inversion of the truncated product of Gaussians, or a uniform draw on the box.
        u = jax.random.uniform(key_position, x.shape, dtype)
        standard = _truncated_normal_from_uniform(u, (low - center) / std, (high - center) / std)
        gaussian_draw = jnp.clip(center + std * standard, low, high)
        uniform_draw = jnp.clip(low + (high - low) * u, low, high)
        new_x = jnp.where(active, gaussian_draw, uniform_draw)

        info = UniGaussGibbsInfo(jax.nn.sigmoid(logits).astype(dtype), mean, variance)
        return UniGaussGibbsState(new_x, z), info

    return kernel


def as_top_level_api(box: poe.Box) -> SamplingAlgorithm:
    """Uni-gauss block Gibbs on ``box`` as a ``SamplingAlgorithm``.

    ``init(position, params)`` and ``step(rng_key, state, params)``.
    """
    kernel = build_kernel(box)

    def init_fn(position, params):
        return init(position, params, box)

    return SamplingAlgorithm(init_fn, kernel)
