r"""Negative phases: where a contrastive rule's negative samples come from.

A contrastive rule is built from parts (:func:`~numpyro_ebm.learning.composition.pcd`):

- a **gradient estimator** (:class:`~numpyro_ebm.learning.composition.GradientEstimator`):
  autodiff of any energy (:func:`~numpyro_ebm.learning.composition.energy_gradient`) or a
  model's closed form (:func:`~numpyro_ebm.learning.rbm_rules.bernoulli_rbm_estimator`,
  :func:`~numpyro_ebm.learning.dbm_rules.dbm_estimator`,
  :func:`~numpyro_ebm.learning.dbn.tied_copies_estimator`,
  :func:`~numpyro_ebm.learning.potts.potts_rbm_estimator`);
- a **negative phase**, one of the public values of this module:
  :func:`data_chains` (CD-k: chains restarted at the batch, Hinton 2002),
  :func:`persistent_chains` (PCD, Tieleman 2008), :func:`tempered_chains` (persistent
  parallel-tempering chains, Desjardins et al. 2010) and :func:`replay_buffer` (Du &
  Mordatch 2019);
- **wrappers**: :func:`fast_weights` around a negative phase (FPCD, Tieleman & Hinton
  2009); :func:`~numpyro_ebm.learning.rbm_rules.centered`,
  :func:`~numpyro_ebm.learning.dbm_centering.centered_dbm` and
  :func:`~numpyro_ebm.learning.regularizers.with_sparsity_target` around a rule; weight
  decay is an Optax transform chained before the optimizer
  (:func:`~numpyro_ebm.learning.regularizers.weight_decay`).

A negative phase is a recipe (:class:`NegativePhase`) that ``pcd`` binds to the
estimator: an autodiff estimator runs the phase's chains with the ``sampler`` (or
``tempering``) you pass, which may be any kernel with the project's contract; a
closed-form estimator brings its own sweep (:class:`ChainModel`, e.g. the Bernoulli
RBM's block-Gibbs sweep, whose :math:`p(h \mid v)` the gradient reuses), so its phases
take no sampler. The bound phase (:class:`BoundPhase`) hands the estimator a
:class:`NegativeSample` every step.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
Tieleman, T. & Hinton, G. E. (2009). Using fast weights to improve persistent
contrastive divergence. *ICML*.
Desjardins, G., Courville, A., Bengio, Y., Vincent, P. & Delalleau, O. (2010).
Tempered Markov chain Monte Carlo for training of restricted Boltzmann machines.
*AISTATS*.
Du, Y. & Mordatch, I. (2019). Implicit generation and generalization in
energy-based models. *NeurIPS*.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels.parallel_tempering import default_get_position
from numpyro_ebm.learning.chains import (
    advance_chains,
    check_fast_weights,
    check_ladder,
    check_steps,
    data_validator,
    init_chains,
    initial_positions,
    start_chains,
    sweeps,
    tempered_steps,
)

__all__ = [
    "CDState",
    "PCDState",
    "FPCDState",
    "PTPCDState",
    "PTFPCDState",
    "ReplayState",
    "NegativeSample",
    "ChainModel",
    "BoundPhase",
    "NegativePhase",
    "FastWeights",
    "data_chains",
    "persistent_chains",
    "tempered_chains",
    "replay_buffer",
    "fast_weights",
    "fast_weight_update",
    "data_bounds",
    "check_chain_count",
    "sampler_metrics",
]


def check_chain_count(n_chains) -> int:
    """``n_chains`` as an int, raising a ValueError naming it unless it is a positive integer
    (Python or NumPy; not a bool): the one check of every rule's chain count."""
    if not isinstance(n_chains, bool):
        try:
            count = operator.index(n_chains)
        except TypeError:
            count = 0
        if count >= 1:
            return int(count)
    raise ValueError(f"n_chains must be positive; got {n_chains!r}")


def sampler_metrics(sampler_info) -> dict:
    """What a negative phase's kernel info reports each step: ``acceptance_rate`` (the mean
    of the info's ``acceptance_rate`` field, NaN for kernels without one, e.g. Gibbs), and
    for parallel tempering (a :class:`~numpyro_ebm.kernels.parallel_tempering.PTInfo`) the
    base kernel's acceptance, ``swap_rate`` (mean swap acceptance) and ``round_trips``
    (cumulative, summed over chains)."""
    tempered = isinstance(sampler_info, pt.PTInfo)
    moves = sampler_info.replica_info if tempered else sampler_info
    acceptance = getattr(moves, "acceptance_rate", None)
    metrics = {"acceptance_rate": jnp.mean(acceptance) if acceptance is not None else jnp.nan}
    if tempered:
        metrics["swap_rate"] = jnp.mean(sampler_info.swap_acceptance)
        metrics["round_trips"] = jnp.sum(sampler_info.round_trips)
    return metrics


# --------------------------------------------------------------------------------------
# The rules' states (one type per negative phase, with or without fast weights)
# --------------------------------------------------------------------------------------


class CDState(NamedTuple):
    """CD-k keeps no state between batches."""


class PCDState(NamedTuple):
    """Persistent chains: the sampler's state, with a leading chain dimension."""

    chains: Any


class FPCDState(NamedTuple):
    """Persistent chains plus the fast weights added to the negative-phase parameters."""

    chains: Any
    fast_params: Any


class PTPCDState(NamedTuple):
    """Persistent parallel-tempering chains and their ladder.

    With ``fit(..., mesh=)`` the chains are split along their chain axis (the
    ``PTState`` declares it), never along the ladder, and the ladder is
    replicated (``chain_dims``; see :func:`numpyro_ebm.sharding.chain_dims`).

    Attributes
    ----------
    chains
        A :class:`~numpyro_ebm.kernels.parallel_tempering.PTState` (with
        ``vmap_chains``, one per chain, stacked on a leading axis).
    inverse_temperatures
        The ladder, shape ``(K,)``; replace it to retune (no recompilation).
    """

    chains: Any
    inverse_temperatures: Float[Array, " ladder"]

    chain_dims = {"inverse_temperatures": None}


class PTFPCDState(NamedTuple):
    """:class:`PTPCDState` plus the fast parameters of FPCD."""

    chains: Any
    inverse_temperatures: Float[Array, " ladder"]
    fast_params: Any

    chain_dims = {"inverse_temperatures": None, "fast_params": None}


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


# --------------------------------------------------------------------------------------
# The types of the parts
# --------------------------------------------------------------------------------------


class NegativeSample(NamedTuple):
    """What a negative phase hands the gradient estimator each step.

    position
        The negative samples as positions (phases bound to an autodiff estimator: the
        chains' final positions, ``get_position`` of their states); ``None`` otherwise.
    state
        Phases bound to a closed-form estimator: the chains' kernel state whose statistics
        the closed form uses (the state at the start of the last sweep, after the swaps
        for tempered chains, or the final state for :func:`data_chains`); ``None`` otherwise.
    statistics
        The last sweep's kernel info for ``state`` (e.g. :math:`p(h \\mid v)` and its
        logits), or ``None`` when the estimator must compute them (:func:`data_chains`).
    slots
        The replay buffer's entries that were advanced (:func:`replay_buffer`), or ``None``.
    """

    position: Any = None
    state: Any = None
    statistics: Any = None
    slots: Any = None


class ChainModel(NamedTuple):
    """A closed-form estimator's own chains: how they start and move.

    sweep
        A batched kernel ``sweep(rng_key, chains, params) -> (chains, info)`` whose info
        holds the statistics the closed form reads.
    start
        ``start(rng_key, params, data, n_chains) -> chains``: persistent chains started at
        training rows.
    tempering
        The :class:`~numpyro_ebm.kernels.parallel_tempering.Tempering` of the sweep, for
        :func:`tempered_chains` (``None``: pass one to the phase).
    replica_start
        ``replica_start(rng_key, params, data, n_chains)``: the positions copied to every
        replica of a tempered chain (default ``start``).
    restart
        ``restart(batch, params) -> chains``: chains started at the batch, for
        :func:`data_chains` (``None``: the estimator has no CD form).
    """

    sweep: Callable
    start: Callable
    tempering: pt.Tempering | None = None
    replica_start: Callable | None = None
    restart: Callable | None = None


class BoundPhase(NamedTuple):
    """A negative phase bound to an estimator (built by :func:`~numpyro_ebm.learning.composition.pcd`).

    init
        ``init(rng_key, params, data) -> fields``: the leading fields of the rule's state.
    run
        ``run(rng_key, fields, chain_params, batch) -> (NegativeSample, fields, sampler_info)``.
    state
        ``state(fields, fast_params) -> rule state`` (``fast_params`` ``None`` without
        fast weights).
    n_fields
        How many leading fields of the rule's state are the phase's.
    chain_energies
        ``chain_energies(energies, negatives)``: the per-chain energy trace reported as
        ``info.negative_energies`` (``None`` when the negatives are not persistent chains).
    validate_data
        The data check the phase implies (its sampler's), or ``None``.
    """

    init: Callable
    run: Callable
    state: Callable
    n_fields: int
    chain_energies: Callable
    validate_data: Callable | None = None


class FastWeights(NamedTuple):
    """FPCD's fast weights: ``fast <- decay * fast - learning_rate * grads`` every step."""

    learning_rate: float
    decay: float


class NegativePhase(NamedTuple):
    """A negative phase as a recipe: ``bind(chain_model, validate_data) -> BoundPhase``.

    ``chain_model`` is the estimator's :class:`ChainModel` (closed forms) or ``None``
    (autodiff: the phase's own sampler). ``fast_weights`` is set by :func:`fast_weights`.
    """

    name: str
    bind: Callable[[ChainModel | None, Callable | None], BoundPhase]
    fast_weights: FastWeights | None = None


def _persistent_energies(energies, negatives):
    return energies


def _no_chain_energies(energies, negatives):
    return None


def _persistent_state(fields, fast):
    return PCDState(*fields) if fast is None else FPCDState(*fields, fast)


def _tempered_state(fields, fast):
    return PTPCDState(*fields) if fast is None else PTFPCDState(*fields, fast)


def _no_fast_weights(name: str):
    def state(fields, fast):
        if fast is not None:
            raise ValueError(f"fast weights need persistent chains; {name} has none")
        return CDState() if name == "data_chains" else ReplayState(*fields)

    return state


def _check_sampler(name: str, chain_model, sampler, argument: str = "sampler"):
    if chain_model is None and sampler is None:
        raise ValueError(
            f"{name}: an autodiff estimator (an energy) runs the chains of the {argument} "
            f"you pass; pass {argument}="
        )


# --------------------------------------------------------------------------------------
# The negative phases
# --------------------------------------------------------------------------------------


def data_chains(
    k: int = 1,
    *,
    sampler=None,
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
) -> NegativePhase:
    """CD-k (Hinton 2002): chains start at the batch and run ``k`` kernel steps.

    Parameters
    ----------
    k
        Kernel steps per batch.
    sampler
        A kernel with ``init(position, params)`` and ``step(rng_key, state, params)``, for
        an autodiff estimator; leave it out for a closed-form estimator (its own sweep).
    vmap_chains
        ``False`` when the kernel handles a leading chain dimension itself (the RBM,
        lattice and Boltzmann Gibbs kernels, faster); ``True`` to ``vmap`` a single-chain
        kernel (the BlackJAX adapters).
    get_position
        Extracts the position from a kernel state.

    The rule's state is :class:`CDState`; ``info.negative_energies`` is ``None`` (the
    chains restart every step, so they are no trace).
    """
    check_steps(k)

    def bind(chain_model: ChainModel | None, validate_data) -> BoundPhase:
        state = _no_fast_weights("data_chains")
        if chain_model is None:
            _check_sampler("data_chains", chain_model, sampler)

            def run(rng_key, fields, chain_params, batch):
                chains = init_chains(sampler, batch, chain_params, vmap_chains)
                chains, info = advance_chains(
                    sampler, rng_key, chains, chain_params, k, vmap_chains
                )
                return NegativeSample(position=get_position(chains)), fields, info

            return BoundPhase(
                _no_fields, run, state, 0, _no_chain_energies, data_validator(sampler)
            )
        if sampler is not None or chain_model.restart is None:
            raise ValueError(
                "data_chains: this closed-form estimator has no CD form on a sampler of "
                "your choice; use its own sweep (no sampler) or the autodiff estimator"
            )

        def closed_run(rng_key, fields, chain_params, batch):
            chains = chain_model.restart(batch, chain_params)
            chains, info = jax.lax.scan(
                lambda s, key: chain_model.sweep(key, s, chain_params),
                chains,
                jax.random.split(rng_key, k),
            )
            last_info = jax.tree.map(lambda x: x[-1], info)
            return NegativeSample(state=chains), fields, last_info

        return BoundPhase(_no_fields, closed_run, state, 0, _no_chain_energies)

    return NegativePhase("data_chains", bind)


def _no_fields(rng_key, params, data=None):
    return ()


def persistent_chains(
    n_chains: int,
    k: int = 1,
    *,
    sampler=None,
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
) -> NegativePhase:
    """PCD (Tieleman 2008): ``n_chains`` persistent chains, independent of the batch size.

    ``init(rng_key, params, data)`` starts the chains at random training rows; each step
    advances every chain ``k`` kernel steps with the current parameters. ``sampler``,
    ``vmap_chains`` and ``get_position`` as for :func:`data_chains`. With a closed-form
    estimator the negatives are the chains' state at the start of their last sweep, with
    the conditionals that sweep computed. The rule's state is :class:`PCDState`
    (:class:`FPCDState` with :func:`fast_weights`); ``info.negative_energies`` is each
    chain's energy, in chain order at every step.
    """
    check_steps(k)
    n_chains = check_chain_count(n_chains)

    def bind(chain_model: ChainModel | None, validate_data) -> BoundPhase:
        if chain_model is None:
            _check_sampler("persistent_chains", chain_model, sampler)
            validate_data = data_validator(sampler, validate_data)

            def init(rng_key, params, data):
                positions = initial_positions(rng_key, data, n_chains)
                return (start_chains(sampler, positions, params, vmap_chains, validate_data),)

            def run(rng_key, fields, chain_params, batch):
                chains, info = advance_chains(
                    sampler, rng_key, fields[0], chain_params, k, vmap_chains
                )
                return NegativeSample(position=get_position(chains)), (chains,), info

            return BoundPhase(init, run, _persistent_state, 1, _persistent_energies, validate_data)
        if sampler is not None:
            raise ValueError(
                "persistent_chains: a closed-form estimator reads the statistics of its own "
                "sweep; leave sampler out (or use the autodiff estimator of the energy)"
            )

        def closed_init(rng_key, params, data):
            return (chain_model.start(rng_key, params, data, n_chains),)

        def closed_run(rng_key, fields, chain_params, batch):
            before, chains, info = sweeps(chain_model.sweep, rng_key, fields[0], chain_params, k)
            return NegativeSample(state=before, statistics=info), (chains,), info

        return BoundPhase(closed_init, closed_run, _persistent_state, 1, _persistent_energies)

    return NegativePhase("persistent_chains", bind)


def _replicated(positions, n_replicas: int, vmap_chains: bool):
    """Chains' positions ``(C, ...)`` copied to every replica: ``(K, C, ...)`` or ``(C, K, ...)``."""
    axis = 1 if vmap_chains else 0
    return jax.tree.map(lambda x: jnp.stack([x] * n_replicas, axis=axis), positions)


def tempered_chains(
    n_chains: int,
    inverse_temperatures,
    k: int = 1,
    *,
    tempering: pt.Tempering | None = None,
    swap: str = "deo",
    vmap_chains: bool = False,
    get_position: Callable = default_get_position,
) -> NegativePhase:
    """Persistent chains that are the :math:`\\beta = 1` replicas of parallel-tempering chains.

    Every chain holds ``K`` replicas on the ladder ``inverse_temperatures`` (shape
    ``(K,)``, last entry 1), moved by ``tempering``'s kernel at each temperature with
    swaps between neighbours (:mod:`numpyro_ebm.kernels.parallel_tempering`); the hot
    replicas mix freely and swaps carry their states down to the :math:`\\beta = 1`
    replica, whose state is the negative sample (Desjardins et al. 2010). The ladder
    lives in the state (:class:`PTPCDState`, :class:`PTFPCDState` with
    :func:`fast_weights`), so it can be retuned without recompiling.

    Parameters
    ----------
    n_chains
        Persistent PT chains (each with ``K`` replicas).
    inverse_temperatures
        The initial ladder.
    k
        PT steps (swaps, then a sweep of every replica) per batch.
    tempering
        How the base kernel runs at each temperature
        (:func:`~numpyro_ebm.kernels.parallel_tempering.rbm_tempering`,
        :func:`~numpyro_ebm.kernels.parallel_tempering.tempered_sampler`, ...); required
        for an autodiff estimator, the estimator's own by default for a closed form.
    swap
        ``"deo"`` (default), ``"seo"`` or ``"random_pair"``.
    vmap_chains, get_position
        As for :func:`data_chains` (autodiff estimators).

    ``info.sampler_info`` is the PT step's
    :class:`~numpyro_ebm.kernels.parallel_tempering.PTInfo`, whose swap rate and round trips
    the rule's info reports.
    """
    check_steps(k)
    n_chains = check_chain_count(n_chains)
    pt.check_swap(swap)
    ladder = check_ladder(inverse_temperatures)
    n_replicas = ladder.shape[0]

    def bind(chain_model: ChainModel | None, validate_data) -> BoundPhase:
        if chain_model is None:
            _check_sampler("tempered_chains", chain_model, tempering, "tempering")
            init_pt, run_pt = tempered_steps(tempering, swap, vmap_chains)

            def init(rng_key, params, data):
                positions = initial_positions(rng_key, data, n_chains)
                betas = ladder.astype(jax.tree.leaves(positions)[0].dtype)
                return (
                    init_pt(_replicated(positions, n_replicas, vmap_chains), params, betas),
                    betas,
                )

            def run(rng_key, fields, chain_params, batch):
                chains, betas = fields
                _, chains, info = run_pt(rng_key, chains, chain_params, betas, k)
                axis = 1 if vmap_chains else 0
                negatives = get_position(pt.target_replica(chains.replicas, axis=axis))
                return NegativeSample(position=negatives), (chains, betas), info

            return BoundPhase(init, run, _tempered_state, 2, _persistent_energies)
        model_tempering = tempering if tempering is not None else chain_model.tempering
        if model_tempering is None:
            raise ValueError("tempered_chains: this estimator has no default tempering; pass one")
        init_pt, run_pt = tempered_steps(model_tempering, swap, vmap_chains=False)
        replica_start = chain_model.replica_start or chain_model.start

        def closed_init(rng_key, params, data):
            start = replica_start(rng_key, params, data, n_chains)
            betas = ladder.astype(jax.tree.leaves(start)[0].dtype)
            return init_pt(_replicated(start, n_replicas, False), params, betas), betas

        def closed_run(rng_key, fields, chain_params, batch):
            chains, betas = fields
            before, chains, info = run_pt(rng_key, chains, chain_params, betas, k)
            # a step swaps, then sweeps: the beta = 1 sweep started from the swapped state
            start = pt.target_replica(pt.apply_swaps(before.replicas, info.is_swapped))
            sweep = pt.target_replica(info.replica_info)
            return NegativeSample(state=start, statistics=sweep), (chains, betas), info

        return BoundPhase(closed_init, closed_run, _tempered_state, 2, _persistent_energies)

    return NegativePhase("tempered_chains", bind)


def data_bounds(data, margin: float = 0.1):
    """The data's bounding box, widened by ``margin`` of its width on each side."""
    data = jnp.asarray(data)
    low, high = jnp.min(data, axis=0), jnp.max(data, axis=0)
    width = high - low
    return low - margin * width, high + margin * width


def replay_buffer(
    sampler,
    n_chains: int,
    buffer_size: int = 10_000,
    k: int = 20,
    reinit_fraction: float = 0.05,
    *,
    noise_fn: Callable | None = None,
    vmap_chains: bool = True,
    get_position: Callable = default_get_position,
) -> NegativePhase:
    """Persistent chains kept in a replay buffer (Du & Mordatch 2019), for neural energies.

    Each step draws ``n_chains`` starting points from a buffer of past negative samples,
    replaces a fraction ``reinit_fraction`` of them with fresh noise, runs ``k`` kernel
    steps of ``sampler`` (typically Langevin or MALA), uses the results as negatives and
    writes them back into the buffer.

    Parameters
    ----------
    sampler, k, vmap_chains, get_position
        As for :func:`data_chains` (an autodiff estimator's sampler).
    n_chains
        Negatives per step.
    buffer_size
        Number of stored samples (at least ``n_chains``).
    reinit_fraction
        Fraction of each step's starting points drawn fresh from ``noise_fn``.
    noise_fn
        ``noise_fn(rng_key, n) -> (n, *event)``; default: uniform on the bounding box of
        the data passed to ``init`` (:func:`data_bounds`). The buffer starts filled with
        noise.

    The state is :class:`ReplayState`. ``info.negative_energies`` is set only when
    ``buffer_size == n_chains``: every buffer entry is then advanced at every step, so
    the entries are persistent chains, reported in buffer order. With a larger buffer the
    ``i``-th negative of one step and of the next are different chains, per-slot R-hat
    would be close to 1 whatever the mixing, and the field is ``None``.
    """
    check_steps(k)
    if not 0.0 <= reinit_fraction <= 1.0:
        raise ValueError(f"reinit_fraction must lie in [0, 1]; got {reinit_fraction}")
    if buffer_size < n_chains:
        raise ValueError(f"buffer_size ({buffer_size}) must be at least n_chains ({n_chains})")

    def draw(rng_key, n, state: ReplayState):
        if noise_fn is not None:
            return noise_fn(rng_key, n)
        return jax.random.uniform(
            rng_key, (n,) + state.noise_low.shape, state.noise_low.dtype,
            state.noise_low, state.noise_high,
        )  # fmt: skip

    def init(rng_key, params, data=None):
        if data is None:
            raise ValueError(
                "pass the training data to init: it sets the shape and the noise range"
            )
        low, high = data_bounds(data)
        state = ReplayState(jnp.zeros((0,) + low.shape, low.dtype), low, high)
        return tuple(state._replace(buffer=draw(rng_key, buffer_size, state).astype(low.dtype)))

    def run(rng_key, fields, chain_params, batch):
        state = ReplayState(*fields)
        key_index, key_fresh, key_choose, key_run = jax.random.split(rng_key, 4)
        index = jax.random.choice(key_index, buffer_size, (n_chains,), replace=False)
        starts = state.buffer[index]
        fresh = draw(key_fresh, n_chains, state).astype(starts.dtype)
        use_fresh = jax.random.uniform(key_choose, (n_chains,)) < reinit_fraction
        use_fresh = use_fresh.reshape((n_chains,) + (1,) * (starts.ndim - 1))
        starts = jnp.where(use_fresh, fresh, starts)
        chains = init_chains(sampler, starts, chain_params, vmap_chains)
        chains, sampler_info = advance_chains(
            sampler, key_run, chains, chain_params, k, vmap_chains
        )
        negatives = get_position(chains)
        buffer = state.buffer.at[index].set(jax.lax.stop_gradient(negatives))
        sample = NegativeSample(position=negatives, slots=index)
        return sample, tuple(state._replace(buffer=buffer)), sampler_info

    def chain_energies(energies, negatives: NegativeSample):
        if buffer_size != n_chains:
            return None
        # every entry advanced: the energies in buffer (chain) order
        return jnp.zeros((buffer_size,), energies.dtype).at[negatives.slots].set(energies)

    def bind(chain_model: ChainModel | None, validate_data) -> BoundPhase:
        if chain_model is not None:
            raise ValueError(
                "replay_buffer runs a sampler of your choice: use it with an autodiff "
                "estimator (an energy function), not a closed form"
            )
        state = _no_fast_weights("replay_buffer")
        return BoundPhase(init, run, state, 3, chain_energies, data_validator(sampler))

    return NegativePhase("replay_buffer", bind)


# --------------------------------------------------------------------------------------
# Fast weights (FPCD) as a wrapper of a negative phase
# --------------------------------------------------------------------------------------


def fast_weights(
    phase: NegativePhase, learning_rate: float = 0.02, decay: float = 19.0 / 20.0
) -> NegativePhase:
    r"""FPCD (Tieleman & Hinton 2009): ``phase``'s chains sample :math:`\theta + \theta_\text{fast}`.

    The fast parameters follow the rule's gradient with their own (large) learning rate
    and shrink towards zero every step,
    :math:`\theta_\text{fast} \leftarrow \text{decay}\,\theta_\text{fast} -
    \text{learning\_rate}\cdot g` (:func:`fast_weight_update`): they raise the energy
    where the chains have just been, so the chains leave modes faster than the slowly
    changing :math:`\theta` alone would let them, and they keep mixing while the regular
    learning rate decays (the fast rate follows no schedule). The gradient is taken at
    :math:`\theta`; a closed-form estimator's negative statistics (and
    ``info.negative_energies``) are those of the chains' model
    :math:`\theta + \theta_\text{fast}`. With ``learning_rate=0`` the fast weights stay
    zero and the rule draws what the phase alone draws.
    """
    if not isinstance(phase, NegativePhase):
        raise TypeError(
            f"fast_weights wraps a negative phase (persistent_chains, tempered_chains); got "
            f"{type(phase).__name__}"
        )
    if phase.name in ("data_chains", "replay_buffer"):
        raise ValueError(f"fast weights need persistent chains; {phase.name} has none")
    check_fast_weights(learning_rate, decay)
    return phase._replace(fast_weights=FastWeights(float(learning_rate), float(decay)))


def fast_weight_update(fast_params, grads, fast: FastWeights):
    """``decay * fast - learning_rate * grads``, leaf by leaf, in each fast leaf's dtype.

    The rate and decay are Python floats (weakly typed), so float32 and float64 fast
    weights stay in their dtype under strict dtype promotion.
    """
    return jax.tree.map(
        lambda f, g: (fast.decay * f - fast.learning_rate * g).astype(f.dtype), fast_params, grads
    )
