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

How a base kernel runs at :math:`\beta` is a :class:`Tempering`:

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
(:func:`tune_ladder`, :func:`adapt_ladder`) and learning can change the
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

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks, potentials
from numpyro_ebm.energies import bernoulli_rbm, boltzmann, dbm, gaussian_rbm
from numpyro_ebm.kernels import boltzmann_gibbs, dbm_gibbs, rbm_gibbs
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = [
    "SWAPS",
    "Tempering",
    "TemperedParams",
    "PTState",
    "PTInfo",
    "LadderTuning",
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
    "geometric_ladder",
    "tune_ladder",
    "adapt_ladder",
    "round_trip_rate",
]

SWAPS = ("deo", "seo", "random_pair")


# --------------------------------------------------------------------------------------
# How a base kernel runs at an inverse temperature
# --------------------------------------------------------------------------------------


class Tempering(NamedTuple):
    """A base kernel run on every replica at its own inverse temperature.

    Attributes
    ----------
    init
        ``init(positions, params, inverse_temperatures) -> states``: positions
        and states with the ladder axis first, ``(K, ...)``.
    step
        ``step(rng_key, states, params, inverse_temperatures, exchange=None) ->
        (states, infos, exchanged)``: computes the energy gap :math:`G = E - E_0`
        of every replica's current state, shape ``(K, *chains)``, calls
        ``exchange(gaps) -> (permute, exchanged)`` once (the swaps; ``permute``
        applies them to any pytree with the ladder axis first), applies ``permute``
        to the states (or to what it already computed from them), then moves
        every replica at its own :math:`\\beta_k`. Returns the new states, the base
        kernel's infos (ladder axis first) and ``exchanged``; with
        ``exchange=None`` there are no swaps and ``exchanged`` is the gaps.
    min_inverse_temperature
        Smallest allowed :math:`\\beta_0`.
    zero_allowed
        Whether :math:`\\beta_0 = 0` is allowed (``False`` when the tempered
        distribution at 0 is improper, e.g. a continuous energy without base).
    """

    init: Callable
    step: Callable
    min_inverse_temperature: float = 0.0
    zero_allowed: bool = True


def _no_exchange(gaps):
    return (lambda tree: tree), gaps


def _vmapped_init(algorithm: SamplingAlgorithm, tempered_params: Callable):
    def init_fn(positions, params, betas):
        per_replica = jax.vmap(tempered_params, in_axes=(None, 0))(params, betas)
        # concrete checks of the base kernel on the first replica (vmap skips them)
        first = jax.tree.map(lambda x: x[0], (positions, per_replica))
        algorithm.init(*first)
        return jax.vmap(algorithm.init)(positions, per_replica)

    return init_fn


def tempered_kernel(
    algorithm: SamplingAlgorithm,
    tempered_params: Callable,
    energy_gap: Callable,
    *,
    zero_allowed: bool = True,
) -> Tempering:
    """Temper a kernel whose target is implied by its parameters (e.g. block Gibbs).

    Parameters
    ----------
    algorithm
        The base ``SamplingAlgorithm`` (``init(position, params)``,
        ``step(rng_key, state, params)``).
    tempered_params
        ``(params, beta) -> params`` of the base kernel for :math:`\\pi_\\beta`
        (for energies linear in their parameters, ``beta * params``).
    energy_gap
        ``(params, state) -> G``, the energy gap :math:`E(\\theta, x) - E_0(x)` of
        the state, shape ``(*chains,)``; for a latent-variable kernel whose state
        holds the latents too, the *joint* energy (then the swaps act on the
        joint states, which the Gibbs sweep leaves invariant). It costs one
        energy evaluation per replica and step.
    zero_allowed
        Whether :math:`\\beta = 0` gives a proper distribution.
    """

    def step(rng_key, states, params, betas, exchange=None):
        gaps = jax.vmap(energy_gap, in_axes=(None, 0))(params, states)
        permute, exchanged = (exchange or _no_exchange)(gaps)
        states = permute(states)
        per_replica = jax.vmap(tempered_params, in_axes=(None, 0))(params, betas)
        keys = jax.random.split(rng_key, betas.shape[0])
        states, infos = jax.vmap(algorithm.step)(keys, states, per_replica)
        return states, infos, exchanged

    return Tempering(_vmapped_init(algorithm, tempered_params), step, 0.0, zero_allowed)


def default_get_position(state):
    """Position of a kernel state: ``state.position`` (every state of this library's kernels
    has one, the Gibbs states' visible units included, as BlackJAX's states do)."""
    try:
        return state.position
    except AttributeError:
        raise TypeError(
            f"a {type(state).__name__} has no .position; pass get_position=... to say where "
            "the state keeps its position"
        ) from None


def tempered_sampler(
    energy_fn: Callable,
    sampler: Callable[[Callable], SamplingAlgorithm],
    *,
    base=None,
    get_position: Callable = default_get_position,
) -> Tempering:
    r"""Temper any sampler that takes an energy function, for any energy.

    The sampler is applied to the tempered energy

    .. math:: E_\beta((\theta, \beta), x) = \beta E(\theta, x) - (1 - \beta)\log p_0(x)

    and gets ``(params, beta)`` as its parameters at call time, the mechanism of
    :func:`numpyro_ebm.evaluation.annealing.ais`, so every sampler that AIS
    accepts can be tempered.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)``: a scalar for one position (single-chain samplers
        such as the BlackJAX adapters; run several PT chains with ``jax.vmap``),
        or ``(*chains,)`` for a batch (:mod:`~numpyro_ebm.kernels.binary_gibbs`).
    sampler
        ``energy_fn -> SamplingAlgorithm``, e.g.
        ``lambda fn: mala.as_top_level_api(fn, step_size=0.1)`` or
        ``binary_gibbs.as_top_level_api``. The BlackJAX adapters must keep
        ``refresh=True`` (their default): a swap puts a state at another
        temperature, so the log density it caches is stale.
    base
        Optional normalised base :math:`p_0` with ``log_prob(x)``
        (:class:`~numpyro_ebm.evaluation.annealing.GaussianBase`,
        :class:`~numpyro_ebm.evaluation.annealing.BernoulliBase`); the replica at
        :math:`\beta = 0` then samples it. Without a base, :math:`\beta_0 = 0`
        is the flat measure: fine on :math:`\{0,1\}^D`, improper for continuous
        energies (keep :math:`\beta_0 > 0` there, or give a base).
    get_position
        ``state -> position``.
    """

    gap = potentials.energy_gap(energy_fn, base)

    def energy_gap(params, state):
        return gap(params, get_position(state))

    return tempered_kernel(
        sampler(potentials.annealed_energy(energy_fn, base)),
        lambda params, beta: (params, beta),
        energy_gap,
    )


def _scaled(params, beta):
    return jax.tree.map(lambda leaf: jnp.asarray(beta).astype(leaf.dtype) * leaf, params)


def _bernoulli_rbm_tempering(base_visible_bias) -> Tempering:
    """Fused block Gibbs for all replicas of a Bernoulli RBM (two matmuls per replica).

    Replica :math:`\\beta` samples :math:`e^{-\\beta E(v, h) + (1-\\beta) b_A^\\top v}`:
    hidden logits :math:`\\beta(c + v W)`, visible logits :math:`\\beta(b + W h) +
    (1-\\beta) b_A`. The unscaled products use the one shared ``W`` (one GEMM over
    all replicas and chains, as one block-Gibbs sweep of ``K`` times the chains).
    The energy gap of the current state :math:`(v, h)` (a joint draw: ``h`` was
    drawn before ``v``), :math:`G = -(b - b_A)^\\top v - (c + v W)^\\top h`, reuses
    the sweep's first product :math:`c + v W`, so the swaps cost no matmul; they
    permute :math:`c + v W` (the sweep overwrites the states themselves, so no
    swapped copy of them is made) and the sweep goes on from the swapped states.
    """

    def base_bias(params):
        if base_visible_bias is None:
            return jnp.zeros_like(params.b)
        return jnp.asarray(base_visible_bias, params.b.dtype)

    def init_fn(positions, params, betas):
        visible = bernoulli_rbm.validate_visible(params, positions, "position")
        dtype = visible.dtype
        scale = _ladder_shape(jnp.asarray(betas).astype(dtype), visible.ndim)
        hidden = jax.nn.sigmoid(scale * bernoulli_rbm.hidden_logits(params, visible))
        return rbm_gibbs.RBMGibbsState(visible, hidden.astype(dtype))

    def one_replica(key, activation_h, beta, params, b_a):
        key_hidden, key_visible = jax.random.split(key)
        dtype = activation_h.dtype
        beta = beta.astype(dtype)
        logits_h = beta * activation_h
        hidden = bernoulli_from_logits(key_hidden, logits_h, dtype)
        logits_v = beta * bernoulli_rbm.visible_logits(params, hidden) + (1 - beta) * b_a
        new_visible = bernoulli_from_logits(key_visible, logits_v, dtype)
        info = rbm_gibbs.RBMGibbsInfo(
            logits_h, jax.nn.sigmoid(logits_h), jax.nn.sigmoid(logits_v).astype(dtype)
        )
        return rbm_gibbs.RBMGibbsState(new_visible, hidden), info

    def step(rng_key, states, params, betas, exchange=None):
        b_a = base_bias(params)
        visible = states.visible
        # c + v W of every replica and chain: one GEMM with the shared W
        activation_h = bernoulli_rbm.hidden_logits(params, visible)
        # joint energy of (v, h) minus the base's, from the same product:
        # -b'v - (c + v W)'h + b_A'v
        gaps = -(visible @ (params.b - b_a)) - jnp.sum(activation_h * states.hidden, axis=-1)
        permute, exchanged = (exchange or _no_exchange)(gaps)
        activation_h = permute(activation_h)
        keys = jax.random.split(rng_key, betas.shape[0])
        new_states, infos = jax.vmap(one_replica, in_axes=(0, 0, 0, None, None))(
            keys, activation_h, betas, params, b_a
        )
        return new_states, infos, exchanged

    return Tempering(init_fn, step, 0.0, True)


def rbm_tempering(model: str = "bernoulli", *, base_visible_bias=None) -> Tempering:
    r"""Block Gibbs (:mod:`~numpyro_ebm.kernels.rbm_gibbs`) on every replica of an RBM.

    Replicas and swaps act on the joint state :math:`(v, h)` with the joint
    energy :math:`E(v, h)` (as in Desjardins et al. 2010); the state after a sweep
    is a joint draw, and the sweep leaves the joint distribution invariant.

    Parameters
    ----------
    model
        ``"bernoulli"``: a fused sweep over all replicas with the shared weights
        (two matmuls per replica and sweep, the cost of plain block Gibbs) that
        reuses the sweep's :math:`b + W h` for the energies of the swaps.
        ``"gaussian"``: the Gaussian-Bernoulli RBM, tempered by scaling its
        parameters (:math:`W \sqrt\beta`, :math:`c\beta`, :math:`\sigma/\sqrt\beta`,
        which is :math:`\beta E`); :math:`\beta_0 > 0` (at 0 the visible density
        is flat and improper). The swap energies cost one more matmul here.
    base_visible_bias
        Bernoulli only: visible biases :math:`b_A` of the base-rate model
        :math:`p_A(v) \propto e^{b_A^\top v}` (Salakhutdinov & Murray 2008;
        :func:`numpyro_ebm.evaluation.ais.base_rate_visible_bias` makes them from
        data). The replicas follow the AIS path :math:`p_A^{1-\beta} p_B^\beta`,
        and the replica at :math:`\beta = 0` draws exact, independent samples of
        the base at every sweep. ``None``: :math:`b_A = 0`, plain tempering
        :math:`e^{-\beta E}` (uniform at :math:`\beta = 0`).
    """
    rbm_gibbs.check_model(model)
    if model == "bernoulli":
        return _bernoulli_rbm_tempering(base_visible_bias)
    if base_visible_bias is not None:
        raise ValueError("base_visible_bias applies to the Bernoulli RBM only (model='bernoulli')")

    def tempered_params(params, beta):
        dtype = params.W.dtype
        beta = jnp.asarray(beta).astype(dtype)
        return params._replace(
            W=jnp.sqrt(beta) * params.W,
            c=beta * params.c,
            log_sigma=params.log_sigma - 0.5 * jnp.log(beta),
        )

    def energy_gap(params, state):
        return gaussian_rbm.joint_energy(params, state.visible, state.hidden)

    return tempered_kernel(
        rbm_gibbs.as_top_level_api("gaussian"), tempered_params, energy_gap, zero_allowed=False
    )


def boltzmann_tempering(spins: bool = False, scan: str = "systematic") -> Tempering:
    """Single-site Gibbs (:mod:`~numpyro_ebm.kernels.boltzmann_gibbs`) on every replica.

    The energy :math:`-\\tfrac12 x^\\top J x - h^\\top x` is linear in
    :math:`(J, h)`, so replica :math:`\\beta` runs with :math:`(\\beta J, \\beta h)`.
    """

    def energy_gap(params, state):
        return boltzmann.energy(params, state.position)

    return tempered_kernel(boltzmann_gibbs.as_top_level_api(spins, scan), _scaled, energy_gap)


def dbm_tempering() -> Tempering:
    """Odd/even block Gibbs (:mod:`~numpyro_ebm.kernels.dbm_gibbs`) on every replica of a DBM.

    The joint energy is linear in all parameters (replica :math:`\\beta` runs with
    :math:`\\beta\\theta`); swaps act on the joint states :math:`(v, h^1, h^2)`.
    """

    def energy_gap(params, state):
        return dbm.joint_energy(params, state.visible, state.hidden1, state.hidden2)

    return tempered_kernel(dbm_gibbs.as_top_level_api(), _scaled, energy_gap)


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


def _ladder_shape(betas, ndim: int):
    """``betas`` ``(K,)`` reshaped to ``(K, 1, ..., 1)`` of rank ``ndim``."""
    return betas.reshape(betas.shape + (1,) * (ndim - 1))


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
            b = _ladder_shape(betas.astype(dtype), gaps.ndim)
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


# --------------------------------------------------------------------------------------
# Ladders
# --------------------------------------------------------------------------------------


def geometric_ladder(n_replicas: int, min_inverse_temperature: float, dtype=jnp.float32):
    """``n_replicas`` inverse temperatures spaced geometrically from ``min_inverse_temperature`` to 1.

    A common starting ladder (equal ratios :math:`\\beta_{k+1}/\\beta_k`) before
    :func:`tune_ladder`; with ``min_inverse_temperature = 0`` the first entry is
    0 and the rest are geometric from ``1 / 2**(n_replicas - 2)``.
    """
    if isinstance(n_replicas, bool) or not isinstance(n_replicas, int) or n_replicas < 2:
        raise ValueError(f"n_replicas must be an integer >= 2; got {n_replicas!r}")
    if not 0.0 <= min_inverse_temperature < 1.0:
        raise ValueError(
            f"min_inverse_temperature must lie in [0, 1); got {min_inverse_temperature}"
        )
    if min_inverse_temperature == 0.0:
        rest = np.geomspace(0.5 ** max(n_replicas - 2, 0), 1.0, n_replicas - 1)
        return jnp.asarray(np.concatenate([[0.0], rest]), dtype)
    return jnp.asarray(np.geomspace(min_inverse_temperature, 1.0, n_replicas), dtype)


class LadderTuning(NamedTuple):
    """What :func:`tune_ladder` found.

    inverse_temperatures
        The new ladder, equally spaced in the cumulative barrier.
    barrier
        :math:`\\hat\\Lambda = \\sum_k r_k`, the global communication barrier.
    cumulative_barrier
        :math:`\\hat\\Lambda(\\beta_k) = \\sum_{j<k} r_j` at the old ladder.
    suggested_n_replicas
        :math:`\\lceil 2\\hat\\Lambda\\rceil + 1` (at least 2): with that many
        replicas, equally spaced in the barrier, every pair rejects about half of
        its swaps, the rule of thumb of Syed et al. (2021), who show the
        round-trip rate of DEO is within a small factor of its optimum
        :math:`1/(2 + 2\\Lambda)` from there on.
    round_trip_rate
        :func:`round_trip_rate` of the old ladder's rejection rates.
    """

    inverse_temperatures: Float[Array, " ladder"]
    barrier: float
    cumulative_barrier: np.ndarray
    suggested_n_replicas: int
    round_trip_rate: float


def round_trip_rate(rejection_rates) -> float:
    """Round trips per step and replica of DEO swaps: :math:`(2 + 2\\sum_k r_k/(1 - r_k))^{-1}`.

    Syed et al. (2021), Theorem 3, for stationary replicas whose swap events are
    independent ("efficient local exploration"); an upper bound in practice.
    """
    r = np.asarray(rejection_rates, dtype=np.float64)
    with np.errstate(divide="ignore"):
        total = np.sum(r / (1 - r))
    return float(1.0 / (2.0 + 2.0 * total))


def tune_ladder(
    inverse_temperatures, rejection_rates, n_replicas: int | None = None
) -> LadderTuning:
    r"""A ladder whose adjacent pairs have equal rejection rates (Syed et al. 2021, Sec. 5).

    The rejection rate of a pair estimates the integral of the local
    communication barrier :math:`\lambda(\beta)` between its temperatures, so
    :math:`\hat\Lambda(\beta_k) = \sum_{j<k} r_j` is the cumulative barrier at
    the old ladder. It is interpolated monotonically (piecewise linearly; a
    strictly increasing floor keeps it invertible where no swap was ever
    rejected) and inverted at ``n_replicas`` equally spaced levels
    :math:`\hat\Lambda(1)\, k/(n-1)`: the new :math:`\beta_k` then share the
    barrier equally, which maximises the round-trip rate for a given number of
    replicas (Syed et al. 2021, Sec. 5.1, schedule optimisation). The end points
    :math:`\beta_0` and 1 stay.

    Parameters
    ----------
    inverse_temperatures
        The pilot ladder, shape ``(K,)``.
    rejection_rates
        Mean rejection rate :math:`1 - \bar\alpha_k` of each adjacent pair,
        shape ``(K-1,)`` (e.g. ``1 - info.swap_acceptance.mean(axis=(0, 1))``
        over a pilot run's stacked infos).
    n_replicas
        Length of the new ladder (default: ``K``); see ``suggested_n_replicas``.
    """
    betas = np.asarray(inverse_temperatures, dtype=np.float64)
    rates = np.asarray(rejection_rates, dtype=np.float64)
    if betas.ndim != 1 or betas.shape[0] < 2:
        raise ValueError(f"inverse_temperatures must have shape (K,), K >= 2; got {betas.shape}")
    if rates.shape != (betas.shape[0] - 1,):
        raise ValueError(
            f"rejection_rates must have shape (K-1,) = ({betas.shape[0] - 1},); got {rates.shape}"
        )
    if not np.all(np.isfinite(rates)) or np.any(rates < 0) or np.any(rates > 1):
        raise ValueError(f"rejection_rates must lie in [0, 1]; got {rates}")
    if np.any(np.diff(betas) < 0):
        raise ValueError(f"inverse_temperatures must be non-decreasing; got {betas}")
    n = betas.shape[0] if n_replicas is None else n_replicas
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n_replicas must be an integer >= 2; got {n_replicas!r}")
    cumulative = np.concatenate([[0.0], np.cumsum(rates)])
    barrier = float(cumulative[-1])
    # a tiny increasing floor keeps the interpolant strictly increasing (invertible)
    span = max(barrier, 1.0)
    floor = 1e-9 * span * np.linspace(0.0, 1.0, betas.shape[0])
    levels = np.linspace(0.0, cumulative[-1] + floor[-1], int(n))
    new = np.interp(levels, cumulative + floor, betas)
    new[0], new[-1] = betas[0], betas[-1]
    new = np.maximum.accumulate(new)
    dtype = inverse_temperatures.dtype if hasattr(inverse_temperatures, "dtype") else jnp.float32
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.float32
    return LadderTuning(
        jnp.asarray(new, dtype),
        barrier,
        cumulative,
        max(2, int(math.ceil(2 * barrier)) + 1),
        round_trip_rate(rates),
    )


def adapt_ladder(
    rng_key: PRNGKeyArray,
    algorithm: SamplingAlgorithm,
    state: PTState,
    params,
    inverse_temperatures,
    *,
    n_rounds: int = 4,
    n_steps: int = 64,
    vmap_chains: bool = False,
):
    """Tune the ladder by pilot rounds of doubling length (Syed et al. 2021, Algorithm 4).

    Round ``r`` (from 0) runs ``n_steps * 2**r`` steps of ``algorithm`` (a
    parallel-tempering ``SamplingAlgorithm`` from :func:`as_top_level_api`) at the
    current ladder, averages the rejection rates over its steps and chains, and
    moves the ladder with :func:`tune_ladder` (same number of replicas). The
    ladder is a call-time argument and the rounds run in chunks of ``n_steps``,
    so everything shares one compiled chunk.

    Parameters
    ----------
    vmap_chains
        ``True`` when ``state`` is a batch of single-chain PT states (a leading
        chain axis on every leaf), stepped with ``jax.vmap``.

    Returns
    -------
    state
        The state after the last round.
    inverse_temperatures
        The tuned ladder.
    tuning
        The last round's :class:`LadderTuning` (with the barrier estimate and
        ``suggested_n_replicas`` for the next run).
    """
    for value, name in ((n_rounds, "n_rounds"), (n_steps, "n_steps")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    step = algorithm.step
    if vmap_chains:
        step = jax.vmap(step, in_axes=(0, 0, None, None))

    @jax.jit
    def chunk(key, state, params, betas):
        def body(state, key):
            if vmap_chains:
                key = jax.random.split(key, state.step_count.shape[0])
            state, info = step(key, state, params, betas)
            axes = tuple(range(info.swap_acceptance.ndim - 1))
            return state, jnp.mean(1 - info.swap_acceptance, axis=axes)

        state, rates = jax.lax.scan(body, state, jax.random.split(key, n_steps))
        return state, jnp.mean(rates, axis=0)

    betas = jnp.asarray(inverse_temperatures)
    tuning = None
    for round_index in range(n_rounds):
        n_chunks = 2**round_index
        total = 0.0
        for c in range(n_chunks):
            key = jax.random.fold_in(jax.random.fold_in(rng_key, round_index), c)
            state, rates = chunk(key, state, params, betas)
            total = total + np.asarray(rates, dtype=np.float64)
        tuning = tune_ladder(betas, total / n_chunks)
        betas = tuning.inverse_temperatures.astype(betas.dtype)
    return state, betas, tuning
