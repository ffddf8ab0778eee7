r"""How a kernel runs at an inverse temperature: the tempering adapters of parallel tempering.

A :class:`Tempering` moves every replica of a ladder with a base kernel at its own
inverse temperature :math:`\beta` and reports each replica's energy gap
:math:`G = E - E_0`, the slope of the geometric path
(:func:`numpyro_ebm.potentials.annealed_energy`, :func:`numpyro_ebm.potentials.energy_gap`)
that the swaps of :mod:`~numpyro_ebm.kernels.parallel_tempering` need:

- :func:`tempered_sampler` for any energy and any sampler factory
  ``energy_fn -> SamplingAlgorithm`` (the BlackJAX adapters :mod:`~.hmc`,
  :mod:`~.mala`, :mod:`~.nuts`, :mod:`~.random_walk`, and :mod:`~.binary_gibbs`):
  the sampler is applied to the annealed energy and gets ``(params, beta)`` at call
  time, as in AIS.
- :func:`tempered_kernel` for kernels whose energy is implied by their parameters
  (block Gibbs): a function scaling the parameters to :math:`\beta` and the
  energy gap of a state. :func:`rbm_tempering` (Bernoulli and Gaussian-Bernoulli
  RBMs; the Bernoulli one a fused fast path with an optional base-rate base),
  :func:`boltzmann_tempering` and :func:`dbm_tempering` are ready-made.

References
----------
Desjardins, G., Courville, A., Bengio, Y., Vincent, P. & Delalleau, O. (2010).
Tempered Markov chain Monte Carlo for training of restricted Boltzmann machines.
*AISTATS*.
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML* (the base-rate base of :func:`rbm_tempering`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm

from numpyro_ebm import potentials
from numpyro_ebm.energies import bernoulli_rbm, boltzmann, dbm, gaussian_rbm
from numpyro_ebm.kernels import boltzmann_gibbs, dbm_gibbs, rbm_gibbs
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = [
    "Tempering",
    "default_get_position",
    "tempered_sampler",
    "tempered_kernel",
    "rbm_tempering",
    "boltzmann_tempering",
    "dbm_tempering",
    "ladder_shape",
]


def ladder_shape(betas, ndim: int):
    """``betas`` ``(K,)`` reshaped to ``(K, 1, ..., 1)`` of rank ``ndim``: one inverse
    temperature a replica, broadcast over the chain and unit axes that follow."""
    return betas.reshape(betas.shape + (1,) * (ndim - 1))


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
        scale = ladder_shape(jnp.asarray(betas).astype(dtype), visible.ndim)
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
        :func:`numpyro_ebm.evaluation.rbm_annealing.base_rate_visible_bias` makes them from
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
