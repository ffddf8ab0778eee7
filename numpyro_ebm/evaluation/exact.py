"""Exact partition functions and distributions by enumeration.

The test oracle of the library: every sampler, gradient and estimator of
:math:`\\log Z` is checked against these on models small enough to enumerate.

Enumeration is chunked (``chunk_size`` states at a time inside one compiled
``lax.scan``), so memory stays bounded at roughly ``chunk_size`` times the
model width, and by default runs in float64 (``jax.enable_x64`` for the
duration of the call) so :math:`\\log Z` is exact to far below a millinat.

State ``i`` of ``n`` bits has bit ``j`` equal to ``(i >> j) & 1``; with
``spins=True`` a bit ``x`` maps to the spin ``2x - 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm

__all__ = [
    "MAX_ENUMERATION_BITS",
    "binary_states",
    "log_partition_binary",
    "log_probabilities_binary",
    "log_partition_bernoulli_rbm",
    "log_partition_gaussian_rbm",
    "log_likelihood_bernoulli_rbm",
]

MAX_ENUMERATION_BITS = 30


def _as_float(params, dtype):
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=dtype), params)


def binary_states(n_bits: int, start=0, count: int | None = None, dtype=jnp.float32, spins=False):
    """States ``start, ..., start + count - 1`` of ``n_bits`` bits, shape ``(count, n_bits)``."""
    count = 2**n_bits if count is None else count
    index = start + jnp.arange(count, dtype=jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)
    bits = (index[:, None] >> jnp.arange(n_bits, dtype=index.dtype)) & 1
    states = bits.astype(dtype)
    return 2 * states - 1 if spins else states


def _check_bits(n_bits: int, max_bits: int):
    n_bits = _checks.check_int(n_bits, "n_bits")
    if n_bits > max_bits:
        raise ValueError(
            f"exact enumeration over {n_bits} bits (2^{n_bits} states) exceeds the limit of "
            f"{max_bits} bits; use a stochastic estimator such as annealed importance sampling for models this large, "
            "or raise max_bits if you really mean it"
        )
    if n_bits < 1:
        raise ValueError(f"need at least one bit to enumerate; got {n_bits}")


def log_partition_binary(
    energy_fn: Callable,
    params,
    n_bits: int,
    *,
    spins: bool = False,
    chunk_size: int = 2**14,
    float64: bool = True,
    max_bits: int = MAX_ENUMERATION_BITS,
) -> float:
    """:math:`\\log \\sum_x e^{-E(x)}` over all :math:`x \\in \\{0,1\\}^n` (or spins).

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` for a batch ``x`` of shape ``(m, n_bits)``,
        returning shape ``(m,)``.
    params
        Pytree of parameters.
    n_bits
        Number of binary units enumerated.
    spins
        Enumerate :math:`\\{-1,+1\\}^n` instead of :math:`\\{0,1\\}^n`.
    chunk_size
        States per chunk (rounded down to a power of two, at most ``2**n_bits``).
    float64
        Run in double precision (default).
    """
    _check_bits(n_bits, max_bits)
    chunk_bits = min(n_bits, max(0, int(math.log2(chunk_size))))
    with jax.enable_x64(float64):
        dtype = jnp.float64 if float64 else jnp.float32
        params = _as_float(params, dtype)
        return float(_log_partition_chunked(energy_fn, params, n_bits, chunk_bits, spins, dtype))


@partial(jax.jit, static_argnums=(0, 2, 3, 4, 5))
def _log_partition_chunked(energy_fn, params, n_bits, chunk_bits, spins, dtype):
    """Running logsumexp over ``2**(n_bits - chunk_bits)`` chunks of ``2**chunk_bits`` states.

    Compiled once per (energy_fn, sizes, dtype) and reused across calls, so
    evaluating log Z after every training epoch costs no recompilation.
    """
    low = binary_states(chunk_bits, dtype=dtype, spins=spins)
    n_high = n_bits - chunk_bits

    def body(running, chunk):
        high = binary_states(n_high, start=chunk, count=1, dtype=dtype, spins=spins)
        states = jnp.concatenate([low, jnp.broadcast_to(high, (low.shape[0], n_high))], axis=1)
        return jnp.logaddexp(running, jax.nn.logsumexp(-energy_fn(params, states))), None

    start = jnp.asarray(-jnp.inf, dtype)
    return jax.lax.scan(body, start, jnp.arange(2**n_high))[0]


def log_probabilities_binary(
    energy_fn: Callable, params, n_bits: int, *, spins=False, max_bits: int = 22
):
    """All ``2**n_bits`` states and their exact log probabilities (float64 numpy arrays)."""
    _check_bits(n_bits, max_bits)
    with jax.enable_x64(True):
        params = _as_float(params, jnp.float64)
        states = binary_states(n_bits, dtype=jnp.float64, spins=spins)
        neg_energy = -energy_fn(params, states)
        log_probs = neg_energy - jax.nn.logsumexp(neg_energy)
        return np.asarray(states), np.asarray(log_probs)


def log_partition_bernoulli_rbm(params: bernoulli_rbm.BernoulliRBMParams, **kwargs) -> float:
    """Exact :math:`\\log Z` of a Bernoulli RBM, summing one layer in closed form and
    enumerating the smaller one (so a 784-25 RBM costs :math:`2^{25}` free energies)."""
    n_visible, n_hidden = params.W.shape
    if n_hidden <= n_visible:
        return log_partition_binary(bernoulli_rbm.hidden_free_energy, params, n_hidden, **kwargs)
    return log_partition_binary(bernoulli_rbm.free_energy, params, n_visible, **kwargs)


def log_partition_gaussian_rbm(params: gaussian_rbm.GaussianRBMParams, **kwargs) -> float:
    """Exact :math:`\\log Z` of a Gaussian-Bernoulli RBM: visible Gaussians integrated in
    closed form, hidden layer enumerated."""
    return log_partition_binary(
        gaussian_rbm.hidden_free_energy, params, params.W.shape[1], **kwargs
    )


def log_likelihood_bernoulli_rbm(
    params: bernoulli_rbm.BernoulliRBMParams, data, log_z: float | None = None
):
    """Per-example exact log-likelihood :math:`-F(v) - \\log Z` (float64 numpy array)."""
    data = bernoulli_rbm.validate_visible(params, data, "data")
    if log_z is None:
        log_z = log_partition_bernoulli_rbm(params)
    with jax.enable_x64(True):
        p64 = _as_float(params, jnp.float64)
        free = jax.jit(bernoulli_rbm.free_energy)(p64, jnp.asarray(data, jnp.float64))
        return -np.asarray(free) - log_z
