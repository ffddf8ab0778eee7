r"""The one chain runner: start, step and run a batch of chains of any kernel.

In the spirit of BlackJAX's :func:`blackjax.util.run_inference_algorithm`, with the two
things this project's kernels need on top: the model parameters are an argument of
every step (``step(rng_key, state, params)``), and a batch of chains is moved either by
the kernel itself or by ``jax.vmap`` over it. One flag says which:

``vmap_chains=False``
    The kernel takes the chain axis itself, with ONE key for all chains (the block
    Gibbs kernels: one matrix product moves every chain).
``vmap_chains=True``
    The kernel moves one position; it is ``vmap``-ed over the chain axis with one key
    a chain, split from the step's key (every kernel works this way).

Everything that runs chains calls these functions: the persistent chains of the
learning rules (:func:`numpyro_ebm.learning.chains.advance_chains`), the sampler
diagnostics (:func:`numpyro_ebm.diagnostics.run_chains`), the command line's
``demo`` and ``sample``. The key schedule is fixed here, once: ``n_steps`` keys split
from ``rng_key``, one a step, and under ``vmap_chains`` each of those split again into
one a chain. A change of schedule would change every chain's draws.

References
----------
Cabezas, A., Corenflos, A., Lao, J., Louf, R. et al. (2024). BlackJAX: Composable
Bayesian inference in JAX. arXiv:2402.10797 (``run_inference_algorithm``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

__all__ = [
    "init_chains",
    "step_chains",
    "run_sampler",
    "run_steps",
    "check_schedule",
    "final_state_only",
]


def _check_flag(vmap_chains) -> bool:
    if not isinstance(vmap_chains, bool | np.bool_ | int) or vmap_chains not in (0, 1):
        raise TypeError(
            "vmap_chains must be True (vmap the kernel over the chain axis) or False (the "
            f"kernel takes the chain axis itself); got {vmap_chains!r}"
        )
    return bool(vmap_chains)


def init_chains(sampler, positions, params, *, vmap_chains: bool):
    """Kernel states of a batch of chains starting at ``positions``.

    Parameters
    ----------
    sampler
        Any kernel with this project's contract: ``init(position, params)``.
    positions
        One position a chain, stacked on a leading chain axis (array or pytree).
    params
        The target's parameters.
    vmap_chains
        ``True``: ``jax.vmap`` the kernel's ``init`` over the chain axis. ``False``:
        the kernel's ``init`` takes the whole batch.

    Returns
    -------
    states
        The chains' kernel state (a batched state, or vmapped states with the chain
        axis first).
    """
    if _check_flag(vmap_chains):
        return jax.vmap(sampler.init, in_axes=(0, None))(positions, params)
    return sampler.init(positions, params)


def step_chains(sampler, *, vmap_chains: bool) -> Callable:
    """``step(rng_key, states, params) -> (states, info)`` moving every chain by one step.

    With ``vmap_chains`` the key is split into one a chain (the chain count is the
    leading axis of the state's first leaf) and the kernel's step ``vmap``-ed over the
    chains; otherwise the kernel's own step takes the batch and the one key.
    """
    if not _check_flag(vmap_chains):
        return sampler.step
    vmapped = jax.vmap(sampler.step, in_axes=(0, 0, None))

    def step(rng_key, states, params):
        n_chains = jax.tree.leaves(states)[0].shape[0]
        return vmapped(jax.random.split(rng_key, n_chains), states, params)

    return step


def check_schedule(n_steps, burn_in: int = 0, thin: int = 1) -> None:
    """Raise unless ``n_steps >= 1``, ``burn_in >= 0`` and ``thin >= 1`` are integers and
    ``thin`` divides ``n_steps``."""
    for name, value, low in (("n_steps", n_steps, 1), ("burn_in", burn_in, 0), ("thin", thin, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if n_steps % thin:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of thin ({thin})")


def final_state_only(state, info) -> None:
    """A ``transform`` for :func:`run_sampler` that records nothing: only the final state
    is wanted (no per-step buffers)."""
    return None


def _both(state, info):
    return state, info


def run_steps(
    sampler,
    initial_state,
    params,
    keys,
    *,
    vmap_chains: bool,
    transform: Callable[[Any, Any], Any] | None = None,
):
    """One step a key of ``keys`` (a stacked array of keys): ``(final_state, history)``.

    :func:`run_sampler` without burn-in and thinning is this with
    ``keys = jax.random.split(rng_key, n_steps)``; a caller that runs the steps in
    chunks (to show progress between compiled calls) passes consecutive slices of those
    keys and gets the same draws. ``history`` stacks ``transform(state, info)`` (default
    ``(state, info)``) on a leading step axis.
    """
    step = step_chains(sampler, vmap_chains=vmap_chains)
    output = _both if transform is None else transform

    def body(states, key):
        states, info = step(key, states, params)
        return states, output(states, info)

    if keys.shape[0] == 1:  # CD-1 and PCD-1: no loop around a single step
        states, recorded = body(initial_state, keys[0])
        return states, jax.tree.map(lambda x: x[None], recorded)
    return jax.lax.scan(body, initial_state, keys)


def run_sampler(
    rng_key: PRNGKeyArray,
    sampler,
    initial_state,
    params,
    n_steps: int,
    *,
    vmap_chains: bool,
    burn_in: int = 0,
    thin: int = 1,
    transform: Callable[[Any, Any], Any] | None = None,
):
    r"""Run a batch of chains ``burn_in + n_steps`` steps in one ``lax.scan``.

    Parameters
    ----------
    rng_key
        PRNG key; ``burn_in + n_steps`` keys are split from it, one a step.
    sampler
        Any kernel with this project's contract: ``step(rng_key, state, params)``.
    initial_state
        The chains' state (from :func:`init_chains`).
    params
        The target's parameters (traced: new values do not recompile a jitted caller).
    n_steps
        Steps after burn-in; every ``thin``-th is recorded, so the history has
        ``n_steps // thin`` entries (``n_steps`` must be a multiple of ``thin``).
    vmap_chains
        See the module's docstring: ``vmap`` the kernel over the chains (``True``) or
        let it take the batch (``False``).
    burn_in
        Steps run first and not recorded.
    thin
        Record one step in ``thin``.
    transform
        ``transform(state, info) -> pytree``: what to keep of each recorded step
        (default: ``(state, info)``; :func:`final_state_only` keeps nothing). It runs
        only on the recorded steps.

    Returns
    -------
    final_state
        The chains' state after the last step.
    history
        The stacked output of ``transform``, every leaf shaped ``(draw, ...)`` (for
        vmapped chains ``(draw, chain, ...)``).

    Notes
    -----
    Without burn-in and thinning this is a plain scan that stacks ``transform``'s
    output (as BlackJAX's ``run_inference_algorithm``). With them, the recorded steps
    are written into a preallocated buffer under ``lax.cond``, still in ONE scan over
    all steps, so the kernel is compiled once (separate scans for burn-in and the
    recorded steps would compile it twice) and nothing is stored for the skipped steps.
    The function is traceable: call it inside ``jax.jit``.
    """
    check_schedule(n_steps, burn_in, thin)
    step = step_chains(sampler, vmap_chains=vmap_chains)
    output = _both if transform is None else transform
    total = burn_in + n_steps
    keys = jax.random.split(rng_key, total)

    if burn_in == 0 and thin == 1:
        return run_steps(
            sampler, initial_state, params, keys, vmap_chains=vmap_chains, transform=transform
        )

    n_draws = n_steps // thin
    shapes = jax.eval_shape(lambda s, k: output(*step(k, s, params)), initial_state, keys[0])
    buffer = jax.tree.map(lambda x: jnp.zeros((n_draws,) + x.shape, x.dtype), shapes)

    def buffered_body(carry, inputs):
        states, buffer = carry
        t, key = inputs
        states, info = step(key, states, params)
        offset = t - burn_in + 1  # steps done after burn-in
        write = (offset > 0) & (offset % thin == 0)
        index = jnp.clip(offset // thin - 1, 0, n_draws - 1)
        row = jax.lax.cond(
            write,
            output,
            lambda *_: jax.tree.map(lambda b: b[index], buffer),
            states,
            info,
        )
        buffer = jax.tree.map(lambda b, r: b.at[index].set(r), buffer, row)
        return (states, buffer), None

    steps = jnp.arange(total, dtype=jnp.int32)
    (final_state, history), _ = jax.lax.scan(buffered_body, (initial_state, buffer), (steps, keys))
    return final_state, history
