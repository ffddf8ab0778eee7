"""Persistent chains with a replay buffer, for neural energies (Du & Mordatch 2019).

**Alias, kept for old code.** The negative phase is
:func:`~numpyro_ebm.learning.negative_phases.replay_buffer`;
:func:`persistent_with_replay` is one call of
:func:`~numpyro_ebm.learning.composition.pcd` with it.

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

from numpyro_ebm.kernels.parallel_tempering import default_get_position
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.composition import energy_gradient, pcd
from numpyro_ebm.learning.negative_phases import ReplayState, data_bounds, replay_buffer

__all__ = ["ReplayState", "data_bounds", "persistent_with_replay"]


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
    """Replay-buffer persistent contrastive divergence: alias of ``pcd(energy_gradient(energy_fn,
    energy_penalty), replay_buffer(sampler, n_chains, buffer_size, k, reinit_fraction, ...))``.

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
    phase = replay_buffer(
        sampler, n_chains, buffer_size, k, reinit_fraction, noise_fn=noise_fn,
        vmap_chains=vmap_chains, get_position=get_position,
    )  # fmt: skip
    return pcd(energy_gradient(energy_fn, energy_penalty), phase)
