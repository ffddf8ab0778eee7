"""Bernoulli draws from logits, the inner loop of every Gibbs sweep.

Kept in one place so that the way random bits are made can be engineered
(bits per draw are a large share of a sweep's cost on CPU) without touching
the kernels.
"""

from __future__ import annotations

import jax
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["bernoulli_from_logits"]


def bernoulli_from_logits(
    rng_key: PRNGKeyArray, logits: Float[Array, "..."], dtype=None
) -> Float[Array, "..."]:
    """Draw ``x ~ Bernoulli(sigmoid(logits))`` elementwise, as 0/1 in ``dtype``.

    ``dtype`` defaults to the dtype of ``logits``.
    """
    dtype = logits.dtype if dtype is None else dtype
    u = jax.random.uniform(rng_key, logits.shape, dtype=logits.dtype)
    return (u < jax.nn.sigmoid(logits)).astype(dtype)
