r"""Running several chains of any sampler with one compiled ``lax.scan``: :func:`run_chains`."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jaxtyping import PRNGKeyArray

from numpyro_ebm import _checks, sharding
from numpyro_ebm.kernels import runner

__all__ = ["run_chains"]

# --------------------------------------------------------------------------------------
# Running chains
# --------------------------------------------------------------------------------------


def check_initial_positions(initial_positions) -> int:
    """Validate every leaf (floating, finite, common leading chain axis); return the chain count."""
    leaves = jax.tree_util.tree_flatten_with_path(initial_positions)[0]
    if not leaves:
        raise ValueError("initial_positions is an empty pytree")
    for path, leaf in leaves:
        _checks.check_array(leaf, f"initial_positions{jax.tree_util.keystr(path)}")
    n_chains = jnp.shape(leaves[0][1])[0]
    if any(jnp.shape(leaf)[0] != n_chains for _, leaf in leaves):
        raise ValueError(
            "every leaf of initial_positions needs the same leading chain dimension; got "
            f"shapes {[tuple(jnp.shape(leaf)) for _, leaf in leaves]}"
        )
    return int(n_chains)


def resolve_vmap_chains(vmap_chains: bool | None, batched: bool | None) -> bool:
    """The one chain-batching flag from ``vmap_chains`` or its old negated name ``batched``
    (default: vmap, which works for every kernel)."""
    if vmap_chains is not None and batched is not None and bool(vmap_chains) == bool(batched):
        raise ValueError(
            f"vmap_chains={vmap_chains} and batched={batched} contradict each other (batched is "
            "the old name of not vmap_chains); give vmap_chains only"
        )
    if vmap_chains is not None:
        return bool(vmap_chains)
    return True if batched is None else not batched


def init_sampler_chains(sampler: SamplingAlgorithm, initial_positions, params, batched: bool):
    """:func:`~numpyro_ebm.kernels.runner.init_chains`, after the kernel's own ``init``
    validation on the first chain when it is vmapped (under ``vmap`` values are not
    inspected)."""
    if not batched:
        sampler.init(jax.tree.map(lambda x: x[0], initial_positions), params)  # validation
    return runner.init_chains(sampler, initial_positions, params, vmap_chains=not batched)


def _state_shapes(sampler: SamplingAlgorithm, initial_positions, params):
    """Shapes of a batched kernel's initial state (traced, not run); None if its init needs
    concrete values (it is then run for real, which raises any error it has)."""
    try:
        return jax.eval_shape(lambda x, p: sampler.init(x, p), initial_positions, params)
    except Exception:  # the real init, run next, reports the problem
        return None


def run_chains(
    rng_key: PRNGKeyArray,
    sampler: SamplingAlgorithm,
    initial_positions,
    params,
    n_steps: int,
    *,
    burn_in: int = 0,
    thin: int = 1,
    vmap_chains: bool | None = None,
    batched: bool | None = None,
    record: Callable | None = None,
    mesh=None,
    chain_axis: str | None = None,
):
    r"""Run several chains of ``sampler`` with ``lax.scan`` and stack what they visit.

    Parameters
    ----------
    rng_key
        PRNG key.
    sampler
        A :class:`blackjax.base.SamplingAlgorithm` with this project's contract,
        ``init(position, params)`` and ``step(rng_key, state, params)`` (every
        kernel in :mod:`numpyro_ebm.kernels`).
    initial_positions
        One position a chain, stacked on a leading chain axis (array or pytree).
    params
        Parameters of the target (an argument of the compiled loop).
    n_steps
        Transitions after burn-in; every ``thin``-th is recorded, so there are
        ``n_steps // thin`` draws (``n_steps`` must be a multiple of ``thin``).
    burn_in
        Transitions run first and discarded (not stored).
    thin
        Record one transition in ``thin``.
    vmap_chains
        The chain-batching flag of :mod:`numpyro_ebm.kernels.runner`. ``True``
        (default): ``jax.vmap`` over chains with one key a chain (works for every
        kernel). ``False``: the kernel takes the chain axis itself with one key for
        all chains (e.g. :mod:`~numpyro_ebm.kernels.rbm_gibbs`, one matmul for all
        chains).
    batched
        The old name of the same choice, its negation (``batched=True`` is
        ``vmap_chains=False``); kept for existing code. Give one of the two.
    record
        ``record(state, info) -> pytree`` of what to keep from each recorded
        transition (shapes ``(chain, ...)``); default both. To keep memory
        independent of the state's dimension, store only the summaries:
        ``record=functools.partial(summarize, energy_fn=..., params=...,
        keep_full_state=False)``, and pass the result to :func:`to_inference_data`.
    mesh, chain_axis
        Optional :class:`jax.sharding.Mesh`: the chains are split over its axis
        ``chain_axis`` (default ``"chain"``; the chain count must be a multiple of
        its size) and ``params`` replicated; the draws come back split the same
        way along their chain axis. The draws do not depend on the number of
        devices (see :mod:`numpyro_ebm.sharding`). Without a mesh, everything
        runs on the default device. With ``vmap_chains=False`` a state that declares
        its chain axis (``chain_dims``, e.g. parallel tempering's
        :class:`~numpyro_ebm.kernels.parallel_tempering.PTState`, whose positions
        are ``(n_replicas, n_chains, ...)``) is split along it, and the chain
        count is read there.

    Returns
    -------
    chains
        ``(states, infos)`` (or the stacked output of ``record``), every leaf shaped
        ``(draw, chain, ...)``: pass it to :func:`to_inference_data` with the default
        ``chain_axis=1``.

    Notes
    -----
    All starting positions are checked for finite floating-point values; with
    ``vmap_chains=True`` the kernel's own ``init`` validation runs on the first chain
    (the others are initialised under ``vmap``, where values are not inspected).

    Burn-in, thinning and recording share one ``lax.scan`` over all
    ``burn_in + n_steps`` transitions, so the kernel is compiled once; ``record``
    runs only on the kept transitions. The loop is compiled anew on every call.
    """
    runner.check_schedule(n_steps, burn_in, thin)
    batched = not resolve_vmap_chains(vmap_chains, batched)
    n_chains = check_initial_positions(initial_positions)
    declared = None  # the chain dimensions a batched kernel's state declares, if any
    if mesh is not None:
        if batched:
            init_shapes = _state_shapes(sampler, initial_positions, params)
            count = None if init_shapes is None else sharding.chain_count(init_shapes)
            if count is not None:  # None: nothing declared, chains first
                # e.g. parallel tempering: positions and states (n_replicas, n_chains, ...)
                declared, n_chains = sharding.chain_dims(init_shapes), count
        mesh, chain_axis = sharding.validate_chain_mesh(
            mesh, chain_axis, n_chains, "the number of chains"
        )
        if declared is None:
            initial_positions = sharding.put_chains(initial_positions, mesh, chain_axis)
        else:  # the positions' chain axis is the kernel's business: split after init
            initial_positions = sharding.put_replicated(initial_positions, mesh)
        params = sharding.put_replicated(params, mesh)
    states = init_sampler_chains(sampler, initial_positions, params, batched)
    if mesh is not None:
        states = sharding.put_chains(
            states, mesh, chain_axis, dim=0 if declared is None else declared, count=n_chains
        )

    def run(rng_key, states, params):
        draws = runner.run_sampler(
            rng_key,
            sampler,
            states,
            params,
            n_steps,
            vmap_chains=not batched,
            burn_in=burn_in,
            thin=thin,
            transform=record,
        )[1]
        if mesh is not None:
            dims = 1
            if declared is not None and record is None:
                # (states, infos) as declared by their types, after the draw axis
                shapes = jax.eval_shape(lambda d: jax.tree.map(lambda x: x[0], d), draws)
                dims = jax.tree.map(lambda d: d + 1, sharding.chain_dims(shapes))
            draws = sharding.constrain_chains(draws, mesh, chain_axis, dim=dims, count=n_chains)
        return draws

    return jax.jit(run)(rng_key, states, params)
