"""Negative-phase chains shared by the learning rules: start, initialise and advance them.

Used by the contrastive rules (:mod:`~numpyro_ebm.learning.contrastive_divergence`,
:mod:`~numpyro_ebm.learning.replay`, :mod:`~numpyro_ebm.learning.rbm_rules`,
:mod:`~numpyro_ebm.learning.dbm`, :mod:`~numpyro_ebm.learning.dbn`). A sampler is
any kernel with the project's contract, ``init(position, params)`` and
``step(rng_key, state, params)``; ``vmap_chains`` says whether the kernel takes
the chain axis itself (``False``) or is ``vmap``-ed over it (``True``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from numpyro_ebm import _checks
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels import runner

__all__ = [
    "check_steps",
    "initial_positions",
    "init_chains",
    "start_chains",
    "advance_chains",
    "sweeps",
    "data_validator",
    "check_fast_weights",
    "check_ladder",
    "tempered_steps",
]


def check_steps(k: int) -> None:
    """Raise unless ``k``, the number of sampler steps per batch, is a positive integer."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"the number of sampler steps k must be a positive integer; got {k!r}")


def initial_positions(rng_key, data, n_chains: int):
    """``n_chains`` rows of the training data drawn at random: where persistent chains start."""
    if data is None:
        raise ValueError(
            "persistent chains are initialised from the training data; pass data to init"
        )
    data = jnp.asarray(data)
    index = jax.random.randint(rng_key, (n_chains,), 0, data.shape[0])
    return data[index]


def init_chains(sampler, positions, params, vmap_chains: bool):
    """Kernel states of chains starting at ``positions`` (leading chain axis):
    :func:`numpyro_ebm.kernels.runner.init_chains`."""
    return runner.init_chains(sampler, positions, params, vmap_chains=vmap_chains)


def data_validator(sampler, validate_data: Callable | None = None) -> Callable | None:
    """``validate_data`` if given, else the validator for the data the sampler's states
    take (``sampler.init.data_support``: ``"binary"`` or ``"spins"``, set by the Gibbs
    kernels), else None (no check beyond finiteness)."""
    if validate_data is not None:
        return validate_data
    support = getattr(sampler.init, "data_support", None)
    return _checks.DATA_VALIDATORS.get(support)


def start_chains(sampler, positions, params, vmap_chains: bool, validate_data: Callable | None):
    """:func:`init_chains` from data rows, after ``validate_data`` on them (when given), so
    bad rows are reported as ``data``, not as the kernel's ``position``."""
    if validate_data is not None:
        validate_data(positions, "data (the rows that start the persistent chains)")
    return init_chains(sampler, positions, params, vmap_chains)


def advance_chains(sampler, rng_key, states, params, n_steps: int, vmap_chains: bool):
    """``n_steps`` kernel steps on a batch of chains; returns the last state and info
    (:func:`numpyro_ebm.kernels.runner.run_sampler`, keeping the last step's info)."""
    states, infos = runner.run_sampler(
        rng_key, sampler, states, params, n_steps, vmap_chains=vmap_chains, transform=_info
    )
    return states, jax.tree.map(lambda x: x[-1], infos)


def _info(state, info):
    return info


def sweeps(kernel, rng_key, chains, params, k: int):
    """``k`` steps of a batched ``kernel(rng_key, chains, params) -> (chains, info)``.

    Returns ``(before_last, chains, info)``: the chains' state at the start of the
    last step (the negative samples of the closed-form PCD rules, whose statistics
    use it with the conditionals that step computes), the final state and the last
    step's info.
    """
    keys = jax.random.split(rng_key, k)
    if k > 1:

        def step(state, key):
            return kernel(key, state, params)[0], None

        chains, _ = jax.lax.scan(step, chains, keys[:-1])
    before_last = chains
    chains, info = kernel(keys[-1], chains, params)
    return before_last, chains, info


def check_fast_weights(fast_learning_rate, fast_decay) -> None:
    """Raise unless FPCD's fast weights have a decay in ``[0, 1)`` and a non-negative rate."""
    if not 0.0 <= fast_decay < 1.0:
        raise ValueError(f"fast_decay must lie in [0, 1); got {fast_decay}")
    if not fast_learning_rate >= 0.0:
        raise ValueError(f"fast_learning_rate must be non-negative; got {fast_learning_rate}")


def check_ladder(inverse_temperatures):
    """The tempered rules' ladder as an array, checked to be a vector of at least 2 entries."""
    betas = _checks.check_array(inverse_temperatures, "inverse_temperatures", ndim_min=1)
    if betas.ndim != 1 or betas.shape[0] < 2:
        raise ValueError(
            "inverse_temperatures must be a vector of at least 2 inverse temperatures; got "
            f"shape {tuple(betas.shape)}"
        )
    return betas


def tempered_steps(tempering: pt.Tempering, swap: str, vmap_chains: bool):
    """Parallel tempering as persistent chains: ``(init, run)``.

    ``init(replicas, params, betas)`` is the PT algorithm's; ``run(rng_key, chains,
    params, betas, k) -> (before_last, chains, info)`` makes ``k`` PT steps and, as
    :func:`sweeps`, returns the state at the start of the last one with the last
    step's info. With ``vmap_chains`` the PT state holds one PT run per chain
    (``vmap``-ed, for kernels that take a single position).
    """
    algorithm = pt.as_top_level_api(tempering, swap)
    if vmap_chains:
        init = jax.vmap(algorithm.init, in_axes=(0, None, None))
        step = jax.vmap(algorithm.step, in_axes=(0, 0, None, None))
    else:
        init, step = algorithm.init, algorithm.step

    def run(rng_key, chains, params, betas, k: int):
        def pt_step(key, chains, params):
            if vmap_chains:
                key = jax.random.split(key, chains.step_count.shape[0])
            return step(key, chains, params, betas)

        return sweeps(pt_step, rng_key, chains, params, k)

    return init, run
