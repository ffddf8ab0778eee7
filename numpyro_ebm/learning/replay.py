"""Persistent chains with a replay buffer, for neural energies (Du & Mordatch 2019).

Each step draws ``n_chains`` starting points from a buffer of past negative
samples, replaces a fraction ``reinit_fraction`` of them with fresh noise, runs
``k`` kernel steps (typically Langevin or MALA from :mod:`numpyro_ebm.kernels`),
uses the results as negatives and writes them back into the buffer. The buffer
gives the long-run mixing of persistent chains; the re-initialised fraction
keeps exploring regions the chains have left.

References
----------
Du, Y. & Mordatch, I. (2019). Implicit generation and generalization in
energy-based models. *NeurIPS*.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.chains import advance_chains, check_steps, data_validator, init_chains
from numpyro_ebm.learning.contrastive_divergence import (
    contrastive_terms,
    default_get_position,
)

__all__ = ["ReplayState", "data_bounds", "persistent_with_replay"]


class ReplayState(NamedTuple):
    """Replay buffer state.

    buffer
        Past negative samples, shape ``(buffer_size, *event)``.
    noise_low, noise_high
        Bounds of the default uniform noise (the data's bounding box, widened by 10%).
    """

    buffer: Float[Array, "buffer ..."]
    noise_low: Float[Array, "..."]
    noise_high: Float[Array, "..."]


def data_bounds(data, margin: float = 0.1):
    """The data's bounding box, widened by ``margin`` of its width on each side."""
    data = jnp.asarray(data)
    low, high = jnp.min(data, axis=0), jnp.max(data, axis=0)
    width = high - low
    return low - margin * width, high + margin * width


def _uniform(rng_key, n, low, high):
    return jax.random.uniform(rng_key, (n,) + low.shape, low.dtype, low, high)


def persistent_with_replay(
    energy_fn: Callable,
    sampler,
    n_chains: int,
    buffer_size: int = 10_000,
    k: int = 20,
    reinit_fraction: float = 0.05,
    *,
    noise_fn: Callable | None = None,
    vmap_chains: bool = True,
    get_position: Callable = default_get_position,
    energy_penalty: float = 0.0,
) -> LearningRule:
    """Replay-buffer persistent contrastive divergence.

    Parameters
    ----------
    energy_fn, sampler, k, vmap_chains, get_position, energy_penalty
        As for :func:`~numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`.
    n_chains
        Negatives per step.
    buffer_size
        Number of stored samples (at least ``n_chains``).
    reinit_fraction
        Fraction of each step's starting points drawn fresh from ``noise_fn``.
    noise_fn
        ``noise_fn(rng_key, n) -> (n, *event)``; default: uniform on the bounding
        box of the data passed to ``init`` (:func:`data_bounds`). The buffer starts
        filled with noise.

    Notes
    -----
    ``info.negative_energies`` (the per-chain energy trace from which
    :func:`~numpyro_ebm.learning.fit.fit` computes R-hat and effective sample
    sizes) is set only when ``buffer_size == n_chains``: every buffer entry is
    then advanced at every step, so the entries are persistent chains, and their
    energies are reported in buffer order (entries re-initialised from noise
    restart their chain). With a larger buffer each step advances a random
    subset of entries, the ``i``-th negative of one step and of the next are
    different chains, and per-slot R-hat would be close to 1 whatever the mixing:
    the field is ``None`` and ``fit`` records NaN.
    """
    check_steps(k)
    if not 0.0 <= reinit_fraction <= 1.0:
        raise ValueError(f"reinit_fraction must lie in [0, 1]; got {reinit_fraction}")
    if buffer_size < n_chains:
        raise ValueError(f"buffer_size ({buffer_size}) must be at least n_chains ({n_chains})")

    def _draw(rng_key, n, state):
        if noise_fn is not None:
            return noise_fn(rng_key, n)
        return _uniform(rng_key, n, state.noise_low, state.noise_high)

    def init(rng_key, params, data=None):
        if data is None:
            raise ValueError(
                "pass the training data to init: it sets the shape and the noise range"
            )
        low, high = data_bounds(data)
        state = ReplayState(jnp.zeros((0,) + low.shape, low.dtype), low, high)
        return state._replace(buffer=_draw(rng_key, buffer_size, state).astype(low.dtype))

    def step(rng_key, state: ReplayState, params, batch):
        key_index, key_fresh, key_choose, key_run = jax.random.split(rng_key, 4)
        index = jax.random.choice(key_index, buffer_size, (n_chains,), replace=False)
        starts = state.buffer[index]
        fresh = _draw(key_fresh, n_chains, state).astype(starts.dtype)
        use_fresh = jax.random.uniform(key_choose, (n_chains,)) < reinit_fraction
        use_fresh = use_fresh.reshape((n_chains,) + (1,) * (starts.ndim - 1))
        starts = jnp.where(use_fresh, fresh, starts)
        chains = init_chains(sampler, starts, params, vmap_chains)
        chains, sampler_info = advance_chains(sampler, key_run, chains, params, k, vmap_chains)
        negatives = get_position(chains)
        grads, positive, negative, energies = contrastive_terms(
            energy_fn, params, batch, negatives, energy_penalty
        )
        buffer = state.buffer.at[index].set(jax.lax.stop_gradient(negatives))
        if buffer_size == n_chains:  # every entry advanced: energies in buffer (chain) order
            chain_energies = jnp.zeros((buffer_size,), energies.dtype).at[index].set(energies)
        else:
            chain_energies = None
        return (
            grads,
            state._replace(buffer=buffer),
            ContrastiveInfo(positive, negative, sampler_info, chain_energies),
        )

    return LearningRule(init, step, data_validator(sampler))
