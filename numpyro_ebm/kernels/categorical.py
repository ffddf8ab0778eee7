r"""Categorical draws from logits, one per site: the inner loop of the Potts Gibbs samplers.

A draw of :math:`a \in \{0, \dots, q-1\}` with :math:`p(a) \propto e^{\ell_a}` is made
by inversion of the cumulative distribution with **one** random word per site,

.. math::

    a = \#\{k < q - 1 : C_k \le u\, C_{q-1}\}, \qquad
    C_k = \sum_{b \le k} e^{\ell_b - \max \ell},

where :math:`u = B\,2^{-w}` comes from a uniform integer :math:`B` of :math:`w`
bits (float32: the top 24 bits of one 32-bit word, so :math:`u` is exact; float64:
the top 53 bits of a 64-bit word). Gumbel-max (``jax.random.categorical``)
spends :math:`q` floats per site, 21 times as many random bits for a protein
alphabet; inversion spends one word, the same economy as the Bernoulli draws of
the binary samplers. The words are ``jax.random.bits`` of the key, so the draws
are as independent as JAX's own random numbers. Each probability is reproduced
to within :math:`2^{-w}` plus the rounding of the cumulative sum (a few units in
the last place of the working precision); states of probability zero
(:math:`\ell = -\infty`) are never drawn except through that rounding at the
very top of the range (probability below :math:`2^{-w}`).

References
----------
Devroye, L. (1986). *Non-Uniform Random Variate Generation*, chapter III.2 (the
inversion method). Springer.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["categorical_from_logits"]


def _uniform(rng_key, shape, dtype):
    """``u = B 2^-w`` in ``[0, 1)``, exact in ``dtype`` (float32: 24 bits, float64: 53 bits)."""
    if dtype == jnp.float64:
        words = jax.random.bits(rng_key, shape, jnp.uint64)
        return (words >> np.uint64(11)).astype(dtype) * 2.0**-53
    words = jax.random.bits(rng_key, shape, jnp.uint32)
    return (words >> np.uint32(8)).astype(jnp.int32).astype(dtype) * 2.0**-24


def categorical_from_logits(
    rng_key: PRNGKeyArray, logits: Float[Array, "*sites states"], dtype=None
) -> Float[Array, "*sites"]:
    """Draw one state per row of ``logits`` (``p(a) ∝ exp(logits[..., a])``) as codes.

    Parameters
    ----------
    rng_key
        A single PRNG key; the draws are a deterministic function of it.
    logits
        Floating-point logits, the states on the last axis; ``-inf`` forbids a state.
        float16 and bfloat16 are computed in float32.
    dtype
        Dtype of the codes; defaults to the dtype of ``logits`` (codes held in a float
        array, as the Potts samplers keep their chains).

    Returns
    -------
    Codes of shape ``logits.shape[:-1]``.
    """
    logits = jnp.asarray(logits)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(
            f"logits must have a floating-point dtype; got {logits.dtype}. "
            "Convert with logits.astype(jnp.float32)."
        )
    if logits.ndim < 1:
        raise ValueError("logits must have the states on a last axis; got a scalar")
    dtype = logits.dtype if dtype is None else jnp.dtype(dtype)
    return _categorical(rng_key, logits, dtype)


@partial(jax.jit, static_argnums=2)
def _categorical(rng_key, logits, dtype):
    work = logits if logits.dtype in (jnp.float32, jnp.float64) else logits.astype(jnp.float32)
    weights = jnp.exp(work - jnp.max(work, axis=-1, keepdims=True))
    cumulative = jnp.cumsum(weights, axis=-1)
    threshold = _uniform(rng_key, work.shape[:-1], work.dtype) * cumulative[..., -1]
    codes = jnp.sum(cumulative[..., :-1] <= threshold[..., None], axis=-1, dtype=jnp.int32)
    return codes.astype(dtype)
