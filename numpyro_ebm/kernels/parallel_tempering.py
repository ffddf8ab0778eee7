r"""Parallel tempering (replica exchange) around any kernel of this library or of BlackJAX.

:math:`K` replicas run side by side on a ladder of inverse temperatures
:math:`\beta_0 \le \beta_1 \le \dots \le \beta_{K-1} = 1`. Replica slot :math:`k`
targets the tempered distribution

.. math::

    \pi_{\beta}(x) \propto p_0(x)^{1-\beta}\, e^{-\beta E(\theta, x)}
    = e^{-E_0(x) - \beta\, G(x)}, \qquad G(x) = E(\theta, x) - E_0(x),

on the path from a base :math:`p_0 = e^{-E_0}/Z_0` (default: the flat measure,
:math:`E_0 = 0`, so :math:`\pi_\beta \propto e^{-\beta E}`) to the target at
:math:`\beta = 1`, the same geometric path AIS anneals along
(:func:`numpyro_ebm.potentials.annealed_energy`). :math:`G` is the
*energy gap*. One step offers swaps of the states of adjacent slots
:math:`(k, k+1)`, each accepted with probability

.. math::

    \alpha_k = \min\Bigl(1, \exp\bigl[(\beta_{k+1} - \beta_k)(G(x_{k+1}) - G(x_k))\bigr]\Bigr),

which leaves the product :math:`\prod_k \pi_{\beta_k}` invariant, and then
moves every replica with the base kernel at its own :math:`\beta`; the slot
:math:`\beta = 1` is a chain for the target that can leave a mode by way of the
hot replicas (Swendsen & Wang 1986; Geyer 1991). Swapping before the move lets
the fused RBM sweep compute the energies of the swaps from its own first matmul.

Which pairs are offered a swap (``swap``):

``"deo"`` (default)
    Non-reversible deterministic even-odd swaps: the even pairs
    :math:`(0,1), (2,3), \dots` at even steps, the odd pairs at odd steps. A
    replica then keeps moving in one direction along the ladder until a swap
    fails, and the round-trip rate stays bounded away from zero as the number of
    replicas grows, where reversible schemes degrade like a random walk
    (Okabe et al. 2001; Syed, Bouchard-Côté, Deligiannidis & Doucet 2021).
``"seo"``
    Reversible stochastic even-odd: even or odd pairs, chosen by a fair coin at
    every step (independently per chain).
``"random_pair"``
    Reversible: one adjacent pair, chosen uniformly at every step (per chain).

How a base kernel runs at :math:`\beta` is a :class:`Tempering`
(:mod:`~numpyro_ebm.kernels.tempering`, re-exported here):

- :func:`tempered_sampler` for any energy and any sampler factory
  ``energy_fn -> SamplingAlgorithm`` (the BlackJAX adapters :mod:`~.hmc`,
  :mod:`~.mala`, :mod:`~.nuts`, :mod:`~.random_walk`, and :mod:`~.binary_gibbs`):
  the sampler is applied to the tempered energy
  ``fn((params, beta), x) = beta * E(params, x) - (1 - beta) * base.log_prob(x)``
  and gets ``(params, beta)`` at call time, as in AIS.
- :func:`tempered_kernel` for kernels whose energy is implied by their parameters
  (block Gibbs): a function scaling the parameters to :math:`\beta` and the
  energy gap of a state. :func:`rbm_tempering` (Bernoulli and Gaussian-Bernoulli
  RBMs; the Bernoulli one a fused fast path with an optional base-rate base),
  :func:`boltzmann_tempering` and :func:`dbm_tempering` are ready-made.

The inverse temperatures are an argument of every call,
``step(rng_key, state, params, inverse_temperatures)``, so a ladder can be tuned
(:mod:`~numpyro_ebm.kernels.ladder`: :func:`tune_ladder`, :func:`adapt_ladder`,
re-exported here) and learning can change the
parameters without recompiling. ``step(rng_key, state, TemperedParams(params,
inverse_temperatures))`` is the same call in the three-argument form of the
project's kernel contract.

Layout. Every leaf of the replicas' states carries the ladder axis first,
``(K, *chains, ...)``; slot :math:`K-1` (``state.replicas`` indexed ``[-1]``,
see :func:`target_replica`) is the :math:`\beta = 1` chain. The info's
per-pair and per-replica arrays put the chain axes first and the ladder axis
last, ``(*chains, K-1)`` and ``(*chains, K)``, so that stacked over steps they
reach ArviZ ``sample_stats`` through
:func:`numpyro_ebm.diagnostics.to_inference_data` with dimensions ``ladder_pair``
and ``replica`` (see :attr:`PTInfo.sample_stat_dims`). :class:`PTState` and
:class:`PTInfo` declare where their chain axis is (``chain_dims``), so that
``run_chains``, ``compare_samplers`` and ``fit`` with a device mesh split the
chains, not the ladder: every chain's replicas share a device and the swaps
need no communication (:mod:`numpyro_ebm.sharding`).

References
----------
Swendsen, R. H. & Wang, J.-S. (1986). Replica Monte Carlo simulation of spin
glasses. *Physical Review Letters* 57(21).
Geyer, C. J. (1991). Markov chain Monte Carlo maximum likelihood. *Computing
Science and Statistics: Proceedings of the 23rd Symposium on the Interface*.
Okabe, T., Kawata, M., Okamoto, Y. & Mikami, M. (2001). Replica-exchange Monte
Carlo method for the isobaric-isothermal ensemble. *Chemical Physics Letters* 335.
Desjardins, G., Courville, A., Bengio, Y., Vincent, P. & Delalleau, O. (2010).
Tempered Markov chain Monte Carlo for training of restricted Boltzmann machines.
*AISTATS*.
Syed, S., Bouchard-Côté, A., Deligiannidis, G. & Doucet, A. (2021).
Non-reversible parallel tempering: a scalable highly parallel MCMC scheme.
*Journal of the Royal Statistical Society: Series B* 84(2), 2022.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.kernels.tempering import (  # the adapters, re-exported: their old home
    Tempering,
    boltzmann_tempering,
    dbm_tempering,
    default_get_position,
    ladder_shape,
    rbm_tempering,
    tempered_kernel,
    tempered_sampler,
)

__all__ = [
    "SWAPS",
    "Tempering",
    "TemperedParams",
    "PTState",
    "PTInfo",
    "LadderTuning",  # noqa: F822 (kernels.ladder, through __getattr__)
    "default_get_position",
    "tempered_sampler",
    "tempered_kernel",
    "rbm_tempering",
    "boltzmann_tempering",
    "dbm_tempering",
    "init",
    "build_kernel",
    "as_top_level_api",
    "target_replica",
    "apply_swaps",
    "geometric_ladder",  # noqa: F822 (kernels.ladder, through __getattr__)
    "tune_ladder",  # noqa: F822 (kernels.ladder, through __getattr__)
    "adapt_ladder",  # noqa: F822 (kernels.ladder, through __getattr__)
    "round_trip_rate",  # noqa: F822 (kernels.ladder, through __getattr__)
]

SWAPS = ("deo", "seo", "random_pair")


# --------------------------------------------------------------------------------------
# State, info, validation
# --------------------------------------------------------------------------------------


class TemperedParams(NamedTuple):
    """Model parameters and the ladder, for the three-argument ``step(rng_key, state, params)``."""

    params: Any
    inverse_temperatures: Float[Array, " ladder"]


class PTState(NamedTuple):
    """State of a parallel-tempering chain (or of a batch of independent ones).

    replicas
        The base kernel's states, every leaf ``(K, *chains, ...)``; slot ``k``
        runs at :math:`\\beta_k` and slot ``K - 1`` (:math:`\\beta = 1`) is the
        target chain.
    replica_index
        Which replica (label ``0..K-1``, its slot at ``init``) occupies each
        slot, shape ``(K, *chains)`` (int32). Labels travel with the states.
    direction
        Of the replica in each slot: ``+1`` if the last end of the ladder it
        visited is the hot one (slot 0), ``-1`` the cold one (slot ``K-1``),
        ``0`` neither yet; shape ``(K, *chains)`` (int32).
    round_trips
        Completed round trips hot → cold → hot, summed over the replicas, shape
        ``(*chains,)`` (int32).
    step_count
        Steps done (int32): the parity of the deterministic even-odd swaps.
    """

    replicas: Any
    replica_index: Int[Array, "ladder ..."]
    direction: Int[Array, "ladder ..."]
    round_trips: Int[Array, "*chains"]
    step_count: Int[Array, ""]

    @property
    def position(self):
        """The target (:math:`\\beta = 1`) replica's position: the chain's samples."""
        return default_get_position(target_replica(self.replicas))

    @property
    def chain_dims(self) -> dict:
        """Which dimension of each field indexes the chains (read by :func:`numpyro_ebm.sharding.chain_dims`).

        Dimension 1 of the replicas' states and of the per-slot labels (the ladder
        is dimension 0), 0 of the round trips, none for the step count: a device
        mesh then splits the chains and keeps every chain's ladder on one device,
        so swaps need no communication. A stack of states made with ``jax.vmap``
        over chains (``step_count`` then has the chain axis) has the chain axis
        first everywhere.
        """
        if len(np.shape(self.step_count)) == 0:
            return {
                "replicas": 1,
                "replica_index": 1,
                "direction": 1,
                "round_trips": 0,
                "step_count": None,
            }
        return dict.fromkeys(self._fields, 0)


class PTInfo(NamedTuple):
    """What one step of parallel tempering did.

    replica_info
        The base kernel's infos, ladder axis first.
    swap_acceptance
        :math:`\\alpha_k = \\min(1, e^{(\\beta_{k+1}-\\beta_k)(G_{k+1}-G_k)})` for
        every adjacent pair, shape ``(*chains, K-1)``, whether or not the pair was
        offered a swap this step (so that every step estimates every rejection
        rate :math:`r_k = 1 - E[\\alpha_k]`, the Rao-Blackwellised estimator of
        Syed et al. 2021).
    is_swapped
        Which pairs swapped, shape ``(*chains, K-1)`` (bool).
    ladder_index
        Slot of each replica after the step, shape ``(*chains, K)`` (int32).
    round_trips
        Round trips completed so far (cumulative), shape ``(*chains,)``.
    local_barrier
        :math:`(1 - \\alpha_k)/(\\beta_{k+1} - \\beta_k)`, a one-step estimate of
        the local communication barrier :math:`\\lambda(\\beta)` between
        :math:`\\beta_k` and :math:`\\beta_{k+1}`, shape ``(*chains, K-1)``
        (``nan`` where two temperatures coincide).
    barrier
        :math:`\\sum_k (1 - \\alpha_k)`, a one-step estimate of the global
        communication barrier :math:`\\Lambda = \\int_0^1 \\lambda(\\beta)\\,d\\beta`,
        shape ``(*chains,)``; its mean over steps is the estimate.
    """

    replica_info: Any
    swap_acceptance: Float[Array, "*chains pairs"]
    is_swapped: Bool[Array, "*chains pairs"]
    ladder_index: Int[Array, "*chains ladder"]
    round_trips: Int[Array, "*chains"]
    local_barrier: Float[Array, "*chains pairs"]
    barrier: Float[Array, "*chains"]

    chain_dims = {"replica_info": 1}
    """The base kernel's infos are ladder-first, ``(K, *chains, ...)``; the other fields
    put the chains first (read by :func:`numpyro_ebm.sharding.chain_dims`)."""

    sample_stat_dims = (
        ("swap_acceptance", ("ladder_pair",)),
        ("is_swapped", ("ladder_pair",)),
        ("ladder_index", ("replica",)),
        ("local_barrier", ("ladder_pair",)),
    )
    """Extra dimensions of the info fields that are not one value per chain and draw
    (read by :func:`numpyro_ebm.diagnostics.summarize`)."""


def check_swap(swap: str) -> str:
    if swap not in SWAPS:
        raise ValueError(f"unknown swap scheme {swap!r}; choose one of {SWAPS}")
    return swap


def _check_ladder(inverse_temperatures, tempering: Tempering):
    """Shape/dtype always; values (finite, non-decreasing, in range, last 1) when concrete."""
    betas = _checks.check_array(inverse_temperatures, "inverse_temperatures", ndim_min=1)
    if betas.ndim != 1 or betas.shape[0] < 2:
        raise ValueError(
            "inverse_temperatures must be a vector of at least 2 inverse temperatures "
            f"(beta_0 <= ... <= beta_{{K-1}} = 1); got shape {tuple(betas.shape)}"
        )
    if _checks.is_concrete(betas):
        values = np.asarray(betas, dtype=np.float64)
        if np.any(np.diff(values) < 0):
            raise ValueError(
                f"inverse_temperatures must be non-decreasing (hottest first); got {values}"
            )
        if values[-1] != 1.0:
            raise ValueError(
                f"the last inverse temperature must be 1 (the target replica); got {values[-1]}"
            )
        low = values[0]
        if low < tempering.min_inverse_temperature or (low == 0 and not tempering.zero_allowed):
            rule = (
                "> 0" if not tempering.zero_allowed else f">= {tempering.min_inverse_temperature}"
            )
            raise ValueError(
                f"inverse_temperatures must be {rule} for this kernel (at beta = 0 its tempered "
                f"distribution is improper); got beta_0 = {low}"
            )
    return betas


def _split_params(params, inverse_temperatures):
    if inverse_temperatures is None:
        if not isinstance(params, TemperedParams):
            raise TypeError(
                "give the inverse temperatures: step(rng_key, state, params, inverse_temperatures) "
                "or step(rng_key, state, TemperedParams(params, inverse_temperatures))"
            )
        return params.params, params.inverse_temperatures
    if isinstance(params, TemperedParams):
        raise TypeError("params is a TemperedParams already; do not pass inverse_temperatures too")
    return params, inverse_temperatures


def init(position, params, inverse_temperatures, tempering: Tempering) -> PTState:
    """Build the state from a position with the ladder axis first.

    Parameters
    ----------
    position
        Array or pytree, every leaf ``(K, *chains, ...)``: the starting point of
        each replica (e.g. ``jnp.stack([x0] * K)``).
    params
        Model parameters (those of :math:`\\beta = 1`).
    inverse_temperatures
        The ladder, shape ``(K,)``, non-decreasing, last entry 1.
    tempering
        How the base kernel runs at each :math:`\\beta` (a :class:`Tempering`).
    """
    if not isinstance(tempering, Tempering):
        raise TypeError(
            "tempering must be a Tempering (from tempered_sampler, tempered_kernel, "
            f"rbm_tempering, ...); got {type(tempering).__name__}"
        )
    betas = _check_ladder(inverse_temperatures, tempering)
    n = betas.shape[0]
    for path, leaf in jax.tree_util.tree_flatten_with_path(position)[0]:
        shape = np.shape(leaf)
        if len(shape) < 1 or shape[0] != n:
            raise ValueError(
                f"position{jax.tree_util.keystr(path)} must have the ladder axis first, of "
                f"length {n} (one entry per inverse temperature); got shape {shape}"
            )
    states = tempering.init(position, params, betas)
    # without an exchange, step returns the gaps: their shape is (K, *chains)
    _, _, gaps = jax.eval_shape(tempering.step, jax.random.key(0), states, params, betas)
    chains = tuple(gaps.shape[1:])
    index = jnp.broadcast_to(
        jnp.arange(n, dtype=jnp.int32).reshape((n,) + (1,) * len(chains)), (n,) + chains
    )
    direction = jnp.where(index == 0, 1, 0).astype(jnp.int32)
    return PTState(states, index, direction, jnp.zeros(chains, jnp.int32), jnp.zeros((), jnp.int32))


def _offered_pairs(rng_key, swap: str, step_count, n_pairs: int, chains: tuple[int, ...]):
    """Boolean ``(K-1, *chains)``: which adjacent pairs are offered a swap this step."""
    pairs = jnp.arange(n_pairs, dtype=jnp.int32).reshape((n_pairs,) + (1,) * len(chains))
    if swap == "deo":
        parity = step_count % 2
    elif swap == "seo":
        parity = jax.random.bernoulli(rng_key, 0.5, chains).astype(jnp.int32)
    else:  # random_pair
        chosen = jax.random.randint(rng_key, chains, 0, n_pairs, dtype=jnp.int32)
        return jnp.broadcast_to(pairs == chosen, (n_pairs,) + chains)
    return jnp.broadcast_to(pairs % 2 == parity, (n_pairs,) + chains)


def _swap_sources(swapped):
    """The slot each slot takes its new state from, ``(K, *chains)`` int32, given the
    swapped pairs ``(K-1, *chains)`` (pairs offered together never overlap)."""
    chains = swapped.shape[1:]
    n = swapped.shape[0] + 1
    no = jnp.zeros((1,) + chains, bool)
    from_next = jnp.concatenate([swapped, no])
    from_prev = jnp.concatenate([no, swapped])
    slot = jnp.arange(n, dtype=jnp.int32).reshape((n,) + (1,) * len(chains))
    return jnp.where(from_next, slot + 1, jnp.where(from_prev, slot - 1, slot))


def _gather_ladder(leaf, source):
    """``leaf`` ``(K, *chains, ...)`` with slot ``k`` taken from slot ``source[k]``.

    A row gather (one contiguous copy per replica and chain) reads each value once,
    where a select between shifted copies makes XLA recompute a fused producer (a
    Bernoulli draw) once per candidate, and an element-wise gather needs an index
    per value.
    """
    extra = leaf.ndim - source.ndim
    if extra < 0:
        raise ValueError(
            f"a state leaf of shape {leaf.shape} lacks the ladder and chain axes {source.shape}"
        )

    # one row gather per chain, vmapped over the chain axes (not a gather from the
    # flattened ladder x chains array): the chain axes stay batch axes of the gather, so
    # with the chains split over devices XLA keeps every swap on its device
    def take_rows(chain_leaf, chain_source):
        return jnp.take(chain_leaf, chain_source, axis=0, mode="clip")

    for _ in range(source.ndim - 1):
        take_rows = jax.vmap(take_rows, in_axes=(1, 1), out_axes=1)
    return take_rows(leaf, source)


def apply_swaps(tree, is_swapped):
    """Apply the swaps of a step (``info.is_swapped``, ``(*chains, K-1)``) to ``tree``.

    ``tree``'s leaves have the ladder axis first, ``(K, *chains, ...)``: e.g. the
    states before a step, swapped, are the states its moves started from.
    """
    source = _swap_sources(jnp.moveaxis(is_swapped, -1, 0))
    return jax.tree.map(lambda leaf: _gather_ladder(leaf, source), tree)


def _to_chains_first(x):
    return jnp.moveaxis(x, 0, -1)


def build_kernel(tempering: Tempering, swap: str = "deo"):
    """Return ``kernel(rng_key, state, params, inverse_temperatures) -> (PTState, PTInfo)``.

    ``swap``: ``"deo"`` (default), ``"seo"`` or ``"random_pair"`` (see the module docs).
    """
    check_swap(swap)
    if not isinstance(tempering, Tempering):
        raise TypeError(f"tempering must be a Tempering; got {type(tempering).__name__}")

    def kernel(
        rng_key: PRNGKeyArray, state: PTState, params, inverse_temperatures=None
    ) -> tuple[PTState, PTInfo]:
        params, betas = _split_params(params, inverse_temperatures)
        betas = _check_ladder(betas, tempering)
        key_move, key_offer, key_accept = jax.random.split(rng_key, 3)
        n = betas.shape[0]

        def exchange(gaps):
            chains = tuple(gaps.shape[1:])
            dtype = gaps.dtype
            b = ladder_shape(betas.astype(dtype), gaps.ndim)
            delta_beta = b[1:] - b[:-1]
            log_ratio = delta_beta * (gaps[1:] - gaps[:-1])
            # equal temperatures always swap (and 0 * inf must not give NaN)
            log_ratio = jnp.where(delta_beta == 0, jnp.zeros((), dtype), log_ratio)
            acceptance = jnp.exp(jnp.minimum(log_ratio, 0))
            acceptance = jnp.where(jnp.isnan(acceptance), jnp.zeros((), dtype), acceptance)
            offered = _offered_pairs(key_offer, swap, state.step_count, n - 1, chains)
            uniforms = jax.random.uniform(key_accept, acceptance.shape, dtype)
            swapped = offered & (uniforms < acceptance)
            source = _swap_sources(swapped)

            def permute(tree):
                return jax.tree.map(lambda leaf: _gather_ladder(leaf, source), tree)

            return permute, (acceptance, swapped, source, delta_beta)

        replicas, infos, (acceptance, swapped, source, delta_beta) = tempering.step(
            key_move, state.replicas, params, betas, exchange
        )
        dtype = acceptance.dtype
        chains = tuple(acceptance.shape[1:])
        replica_index = _gather_ladder(state.replica_index, source)
        direction = _gather_ladder(state.direction, source)
        # round trips: a replica heading down (last seen at the cold end) reaches slot 0
        slot = jnp.arange(n, dtype=jnp.int32).reshape((n,) + (1,) * len(chains))
        at_hot, at_cold = slot == 0, slot == n - 1
        arrived = jnp.sum(at_hot & (direction == -1), axis=0, dtype=jnp.int32)
        direction = jnp.where(at_hot, 1, jnp.where(at_cold & (direction == 1), -1, direction))
        round_trips = state.round_trips + arrived
        rejection = 1 - acceptance
        safe_delta = jnp.where(delta_beta > 0, delta_beta, jnp.ones((), dtype))
        local = jnp.where(delta_beta > 0, rejection / safe_delta, jnp.asarray(jnp.nan, dtype))
        info = PTInfo(
            infos,
            _to_chains_first(acceptance),
            _to_chains_first(swapped),
            _to_chains_first(jnp.argsort(replica_index, axis=0).astype(jnp.int32)),
            round_trips,
            _to_chains_first(local),
            jnp.sum(rejection, axis=0),
        )
        new_state = PTState(
            replicas, replica_index, direction.astype(jnp.int32), round_trips, state.step_count + 1
        )
        return new_state, info

    return kernel


def as_top_level_api(tempering: Tempering, swap: str = "deo") -> SamplingAlgorithm:
    """Parallel tempering as a ``SamplingAlgorithm``.

    ``init(position, params, inverse_temperatures=None)`` and
    ``step(rng_key, state, params, inverse_temperatures=None)``; with the ladder
    omitted, ``params`` must be a :class:`TemperedParams` (the three-argument form
    of the kernel contract).

    Examples
    --------
    >>> pt = as_top_level_api(rbm_tempering())  # doctest: +SKIP
    >>> betas = geometric_ladder(8, 0.05)  # doctest: +SKIP
    >>> state = pt.init(jnp.stack([v0] * 8), params, betas)  # doctest: +SKIP
    >>> state, info = jax.jit(pt.step)(key, state, params, betas)  # doctest: +SKIP
    """
    kernel = build_kernel(tempering, swap)

    def init_fn(position, params, inverse_temperatures=None) -> PTState:
        params, betas = _split_params(params, inverse_temperatures)
        return init(position, params, betas, tempering)

    return SamplingAlgorithm(init_fn, kernel)


def target_replica(replicas, axis: int = 0):
    """The :math:`\\beta = 1` slot of replica states (``state.replicas``), ladder ``axis``.

    ``axis=0`` for one state; ``axis=1`` for states stacked over steps by ``lax.scan``
    (``(draw, K, *chains, ...)`` gives ``(draw, *chains, ...)``, the layout of
    :func:`numpyro_ebm.diagnostics.to_inference_data`).
    """
    return jax.tree.map(lambda leaf: jnp.take(leaf, -1, axis=axis), replicas)


# The ladder tuning lives in numpyro_ebm.kernels.ladder (it runs this kernel); its names
# stay reachable here, lazily, since that module imports this one.
_LADDER_NAMES = frozenset(
    ("LadderTuning", "geometric_ladder", "tune_ladder", "adapt_ladder", "round_trip_rate")
)


def __getattr__(name: str):
    if name in _LADDER_NAMES:
        from numpyro_ebm.kernels import ladder

        return getattr(ladder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
