r"""Gibbs with gradients: Metropolis-Hastings flips proposed from the gradient of the energy.

For a discrete target :math:`p(x) \propto e^{-E(\theta, x)}` whose energy is
differentiable in :math:`x` (when :math:`x` is embedded in the reals: an MLP
energy of binary inputs, an RBM free energy, an Ising energy), Grathwohl et al.
(2021) estimate the change of the log density from flipping unit :math:`i` by a
first-order Taylor expansion,

.. math::

    \log p(x_{\neg i}) - \log p(x) \approx \tilde d_i(x)
        = -\nabla_x E(x)_i\,(x_{\neg i} - x)_i
        = (2x_i - 1)\,\nabla_x E(x)_i \quad (x_i \in \{0, 1\}),

(:math:`2 s_i \nabla_x E(x)_i` for spins :math:`s_i \in \{-1, +1\}`), where
:math:`x_{\neg i}` is :math:`x` with unit :math:`i` flipped. One gradient gives
all :math:`D` estimates at once. A flip is proposed from

.. math::

    q(i \mid x) = \operatorname{softmax}_i\bigl(\tilde d(x) / 2\bigr)

(the temperature 2 of the paper: the locally balanced proposal
:math:`\sqrt{p(x')/p(x)}`, Zanella 2020) and accepted with probability

.. math::

    \min\Bigl(1, \; e^{E(x) - E(x')}\, \frac{q(i \mid x')}{q(i \mid x)}\Bigr),
    \qquad x' = x_{\neg i},

the exact Metropolis-Hastings ratio (the reverse move flips :math:`i` back, so it
needs the gradient at :math:`x'`). The kernel leaves :math:`p` exactly
invariant whatever the quality of the Taylor estimate; the estimate only decides
how often proposals are accepted.

What is supported
-----------------
- **Binary units** (default): positions ``(*chains, D)`` with values 0 and 1
  (``spins=True``: -1 and +1), one unit flipped per proposal.
- **Categorical units** (``one_hot=True``): positions ``(*chains, D, K)``, each
  row of the last axis one-hot (``K`` categories per variable). A proposal moves
  one variable :math:`d` from its category :math:`c` to another :math:`k \ne c`,
  with :math:`\tilde d_{dk}(x) = \nabla_x E(x)_{dc} - \nabla_x E(x)_{dk}`, the
  ``D (K - 1)`` moves drawn from the same softmax at temperature 2 (the
  categorical sampler of the paper).
- **Several flips per step** (``n_flips``): a step is ``n_flips`` successive
  single-flip Metropolis-Hastings transitions, each exact. (The paper's
  multi-flip proposal, which draws several indices at once with replacement,
  needs the probability of every index sequence giving the same set of flips for
  an exact correction and is not offered.)

Cost. The state caches the energy and its gradient at the current position;
a proposal costs one energy-and-gradient evaluation at :math:`x'` (which becomes
the cache when the flip is accepted). With ``refresh=True`` (the default) the
cache is recomputed at the ``params`` of the step first (one more evaluation),
so a change of :math:`\theta` between steps, a learning update or a swap of
states between the temperatures of parallel tempering, is safe; pass
``refresh=False`` when :math:`\theta` is fixed. A step therefore costs
``n_flips + refresh`` evaluations per chain.

Tempered and annealed targets are just energies: the kernel is built on any
``energy_fn(params, x)``, so :func:`numpyro_ebm.evaluation.annealing.annealed_energy`
(parameters ``(params, beta)``) or :math:`\beta E` with :math:`\beta` in the
parameter pytree work unchanged, e.g. ``sampler=gibbs_with_gradients.as_top_level_api``
in :func:`numpyro_ebm.evaluation.annealing.ais`.

Follows BlackJAX's kernel contract: ``init(position, params, energy_fn)``,
``build_kernel(energy_fn, ...)`` returning ``kernel(rng_key, state, params)``,
and ``as_top_level_api(energy_fn, ...)`` whose ``step(rng_key, state, params)``
takes the parameters at call time. Positions may carry leading chain
dimensions (``energy_fn`` must then broadcast over them and return
``(*chains,)``: the chains share one key per flip, one energy call and one
gradient, which is valid because each chain's energy depends on its own
position only), and ``vmap`` over chains works as well.

References
----------
Grathwohl, W., Swersky, K., Hashemi, M., Duvenaud, D. & Maddison, C. J. (2021).
Oops I took a gradient: scalable sampling for discrete distributions. *ICML*.
Zanella, G. (2020). Informed proposals for local MCMC in discrete spaces.
*JASA* 115(530).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "GibbsWithGradientsState",
    "GibbsWithGradientsInfo",
    "MultiFlipInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
]


class GibbsWithGradientsState(NamedTuple):
    """State of the chain: the position and the energy and gradient cached there.

    position
        Current configuration, shape ``(*chains, D)`` (binary or spins) or
        ``(*chains, D, K)`` (one-hot), in a floating dtype.
    energy
        :math:`E(\\theta, x)` at ``position``, shape ``(*chains,)``.
    energy_grad
        :math:`\\nabla_x E(\\theta, x)` at ``position``, the shape of ``position``.
    """

    position: Float[Array, "*shape"]
    energy: Float[Array, "*chains"]
    energy_grad: Float[Array, "*shape"]


class GibbsWithGradientsInfo(NamedTuple):
    """Diagnostics of one step (``n_flips`` proposals).

    acceptance_rate
        Mean Metropolis-Hastings acceptance probability of the step's proposals,
        shape ``(*chains,)``.
    is_accepted
        Whether at least one proposal of the step was accepted (for
        ``n_flips=1``: whether the proposal was accepted), shape ``(*chains,)``.
    n_accepted
        Number of accepted proposals, shape ``(*chains,)`` (int32).
    energy
        :math:`E(\\theta, x)` of the new position at the ``params`` of the step.
    """

    acceptance_rate: Float[Array, "*chains"]
    is_accepted: Bool[Array, "*chains"]
    n_accepted: Int[Array, "*chains"]
    energy: Float[Array, "*chains"]


class MultiFlipInfo(NamedTuple):
    """Diagnostics of one step of a proposal that flips several units in one move
    (:mod:`~numpyro_ebm.kernels.dmala`, :mod:`~numpyro_ebm.kernels.path_auxiliary`).

    acceptance_rate
        Metropolis-Hastings acceptance probability of the move (an unadjusted
        kernel: the one it would have had), shape ``(*chains,)``.
    is_accepted
        Whether the move was taken, shape ``(*chains,)``.
    n_flipped
        Units that changed, shape ``(*chains,)`` (int32).
    energy
        :math:`E(\\theta, x)` of the new position at the ``params`` of the step.
    """

    acceptance_rate: Float[Array, "*chains"]
    is_accepted: Bool[Array, "*chains"]
    n_flipped: Int[Array, "*chains"]
    energy: Float[Array, "*chains"]


def _event_ndim(one_hot: bool) -> int:
    return 2 if one_hot else 1


# ---------------------------------------------------------------------------------------
# Pieces shared with the other flip proposals (kernels.dmala, kernels.locally_balanced,
# kernels.path_auxiliary): public so that they are reused rather than copied.
# ---------------------------------------------------------------------------------------


def energy_and_grad(energy_fn: Callable, params, position):
    """Energy per chain and its gradient in the position (chains are independent)."""

    def total(x):
        energy = energy_fn(params, x)
        return jnp.sum(energy), energy

    (_, energy), grad = jax.value_and_grad(total, has_aux=True)(position)
    return energy, grad


def check_energy_output(energy_fn: Callable, params, position, event_ndim: int = 1):
    """Raise unless ``energy_fn(params, position)`` is a float array of shape ``(*chains,)``."""
    out = jax.eval_shape(energy_fn, params, position)
    expected = tuple(position.shape[: position.ndim - event_ndim])
    if not isinstance(out, jax.ShapeDtypeStruct) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, jax.ShapeDtypeStruct) else out
        raise ValueError(
            f"energy_fn must return one energy per configuration: shape {expected} for a "
            f"position of shape {tuple(position.shape)} (the last {event_ndim} "
            f"dimension(s) are one configuration, leading chain dimensions broadcast); "
            f"got {got}"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"energy_fn must return a floating-point energy; got dtype {out.dtype}")


def check_position(position, spins: bool = False, one_hot: bool = False):
    """Validate a binary (``spins``: -1/+1; ``one_hot``: one-hot rows) float position."""
    position = _checks.check_array(position, "position", ndim_min=_event_ndim(one_hot))
    if one_hot:
        if position.shape[-1] < 2:
            raise ValueError(
                "a one-hot position needs at least 2 categories in its last dimension; got "
                f"shape {tuple(position.shape)}"
            )
        if _checks.is_concrete(position):
            values = np.asarray(position)
            if not (np.isin(values, (0.0, 1.0)).all() and (values.sum(-1) == 1).all()):
                raise ValueError(
                    "position must be one-hot along its last dimension (0/1 values, exactly "
                    "one 1 per row) when one_hot=True"
                )
    elif spins:
        _checks.check_spins(position, "position")
    else:
        _checks.check_binary(position, "position")
    return position


def check_finite_at_start(**values):
    """Raise if any concrete ``name=array`` (an energy, a gradient) has a non-finite entry."""
    for name, value in values.items():
        if not _checks.is_concrete(value):
            continue
        bad = ~np.isfinite(np.asarray(value))
        if bad.any():
            raise ValueError(
                f"the {name.replace('_', ' ')} at the initial position is not finite at "
                f"{int(bad.sum())} entries; start every chain at a configuration of finite "
                "energy where energy_fn is differentiable"
            )


def init(
    position: Float[Array, "*shape"],
    params,
    energy_fn: Callable,
    *,
    spins: bool = False,
    one_hot: bool = False,
) -> GibbsWithGradientsState:
    """Validate ``position`` and cache the energy and its gradient there.

    Raises for a non-float dtype, too few dimensions, NaN, values that are not
    0/1 (spins: -1/+1; ``one_hot``: not one-hot rows), an energy of the wrong
    shape or dtype, and (for concrete input) a non-finite energy or gradient.
    """
    if spins and one_hot:
        raise ValueError("spins=True and one_hot=True cannot be combined")
    position = check_position(position, spins, one_hot)
    check_energy_output(energy_fn, params, position, _event_ndim(one_hot))
    energy, grad = energy_and_grad(energy_fn, params, position)
    check_finite_at_start(energy=energy, gradient_of_the_energy=grad)
    return GibbsWithGradientsState(position, energy, grad)


def flip_log_ratio_estimates(position, grad, spins: bool = False, one_hot: bool = False):
    r"""Taylor estimates :math:`\tilde d` of :math:`\log p(x') - \log p(x)` of every single move.

    Flattened over the event: ``(*chains, D)`` for binary units or spins, ``(*chains,
    D K)`` for one-hot rows (staying put is ``-inf``, not a move).
    """
    if one_hot:
        current = jnp.sum(grad * position, axis=-1, keepdims=True)
        estimates = current - grad
        estimates = jnp.where(position == 1, -jnp.inf, estimates)  # staying put is not a move
        return estimates.reshape(position.shape[:-2] + (-1,))
    return -grad * flip_change(position, spins)


def flip_change(position, spins: bool = False):
    """``x' - x`` of flipping each unit: ``1 - 2x`` for 0/1 units, ``-2s`` for spins."""
    return -2 * position if spins else 1 - 2 * position


def flipped(position, spins: bool = False):
    """Every unit flipped: ``1 - x`` for 0/1 units, ``-s`` for spins."""
    return -position if spins else 1 - position


def apply_move(position, move, spins: bool = False, one_hot: bool = False):
    """``position`` with the flat move ``move`` (shape ``(*chains,)``) applied."""
    if one_hot:
        n_categories = position.shape[-1]
        variable, category = move // n_categories, move % n_categories
        row = jax.nn.one_hot(category, n_categories, dtype=position.dtype)
        mask = jax.nn.one_hot(variable, position.shape[-2], dtype=jnp.bool_)[..., None]
        return jnp.where(mask, row[..., None, :], position)
    mask = jax.nn.one_hot(move, position.shape[-1], dtype=jnp.bool_)
    return jnp.where(mask, flipped(position, spins), position)


def _reverse_move(position, move, one_hot: bool):
    """The flat index of the move that undoes ``move`` from the proposed position."""
    if not one_hot:
        return move
    n_categories = position.shape[-1]
    variable = move // n_categories
    categories = jnp.argmax(position, axis=-1)  # (*chains, D)
    old = jnp.take_along_axis(categories, variable[..., None], axis=-1)[..., 0]
    return variable * n_categories + old.astype(move.dtype)


def metropolis_hastings(rng_key, log_ratio, proposal, current):
    """Accept ``proposal`` (a state pytree) per chain with probability ``min(1, e^log_ratio)``.

    Every leaf of the states has the chain axes ``log_ratio.shape`` first. A NaN log
    ratio (an infinite energy at the proposal minus an infinite one) is a rejection.
    Returns ``(state, acceptance probability, accepted)``.
    """
    log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
    acceptance = jnp.exp(jnp.minimum(log_ratio, 0.0))
    uniform = jax.random.uniform(rng_key, log_ratio.shape, log_ratio.dtype)
    accepted = jnp.log(uniform) < log_ratio

    def select(new, old):
        mask = accepted.reshape(accepted.shape + (1,) * (new.ndim - accepted.ndim))
        return jnp.where(mask, new, old)

    return jax.tree.map(select, proposal, current), acceptance, accepted


def build_single_move_kernel(
    evaluate: Callable,
    move_logits: Callable,
    *,
    n_flips: int = 1,
    spins: bool = False,
    one_hot: bool = False,
    refresh: bool = True,
):
    r"""A kernel of ``n_flips`` single-move Metropolis-Hastings transitions, for any cache.

    The state is a NamedTuple with ``position``, ``energy`` and whatever the
    proposal needs cached there. ``evaluate(params, position) -> state`` builds it
    (one cache evaluation), ``move_logits(state) -> (*chains, M)`` are the
    unnormalised log probabilities of the ``M`` single moves (flip ``i``; one-hot:
    move variable ``d`` to category ``k``). A transition draws a move, evaluates the
    proposal and accepts it with the exact ratio
    :math:`e^{E(x) - E(x')} q(\text{reverse} \mid x') / q(\text{move} \mid x)`.
    Gibbs with gradients caches the gradient (``move_logits`` its Taylor
    estimates); the locally balanced proposal of Zanella (2020) caches the exact
    energy differences of every flip. Returns ``kernel(rng_key, state, params) ->
    (state, GibbsWithGradientsInfo)``; ``refresh`` re-evaluates the cache at the
    step's ``params`` first.
    """
    if isinstance(n_flips, bool) or not isinstance(n_flips, int | np.integer) or n_flips < 1:
        raise ValueError(f"n_flips must be a positive integer; got {n_flips!r}")
    if spins and one_hot:
        raise ValueError("spins=True and one_hot=True cannot be combined")
    n_flips, spins, one_hot, refresh = int(n_flips), bool(spins), bool(one_hot), bool(refresh)

    def log_prob(logits, index):
        chosen = jnp.take_along_axis(logits, index[..., None], axis=-1)[..., 0]
        return chosen - jax.nn.logsumexp(logits, axis=-1)

    def one_flip(key, state, params):
        key_move, key_accept = jax.random.split(key)
        position = state.position
        forward_logits = move_logits(state)
        move = jax.random.categorical(key_move, forward_logits, axis=-1)
        proposal = evaluate(params, apply_move(position, move, spins, one_hot))
        reverse = _reverse_move(position, move, one_hot)
        log_ratio = (
            state.energy
            - proposal.energy
            + log_prob(move_logits(proposal), reverse)
            - log_prob(forward_logits, move)
        )
        new, acceptance, accepted = metropolis_hastings(key_accept, log_ratio, proposal, state)
        return new, (acceptance, accepted)

    def kernel(rng_key: PRNGKeyArray, state, params):
        if refresh:
            state = evaluate(params, state.position)
        if n_flips == 1:
            state, (acceptance, accepted) = one_flip(rng_key, state, params)
            acceptance, accepted = acceptance[None], accepted[None]
        else:

            def body(state, key):
                return one_flip(key, state, params)

            state, (acceptance, accepted) = jax.lax.scan(
                body, state, jax.random.split(rng_key, n_flips)
            )
        info = GibbsWithGradientsInfo(
            acceptance_rate=jnp.mean(acceptance, axis=0),
            is_accepted=jnp.any(accepted, axis=0),
            n_accepted=jnp.sum(accepted, axis=0, dtype=jnp.int32),
            energy=state.energy,
        )
        return state, info

    return kernel


def build_kernel(
    energy_fn: Callable,
    *,
    n_flips: int = 1,
    spins: bool = False,
    one_hot: bool = False,
    refresh: bool = True,
):
    """Return ``kernel(rng_key, state, params) -> (GibbsWithGradientsState, GibbsWithGradientsInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)``, differentiable in ``x``, broadcasting over
        leading chain dimensions; the target is :math:`e^{-E}`.
    n_flips
        Single-flip Metropolis-Hastings transitions per step.
    spins
        Units in :math:`\\{-1, +1\\}` instead of :math:`\\{0, 1\\}`.
    one_hot
        Categorical variables, one-hot along the last axis of the position.
    refresh
        Recompute the cached energy and gradient at ``params`` before the step
        (one more evaluation; needed when ``params`` change between steps).
    """

    def evaluate(params, position):
        return GibbsWithGradientsState(position, *energy_and_grad(energy_fn, params, position))

    def move_logits(state):
        # temperature 2: the locally balanced sqrt(p(x') / p(x)) of Zanella (2020)
        return 0.5 * flip_log_ratio_estimates(state.position, state.energy_grad, spins, one_hot)

    return build_single_move_kernel(
        evaluate, move_logits, n_flips=n_flips, spins=spins, one_hot=one_hot, refresh=refresh
    )


def as_top_level_api(
    energy_fn: Callable,
    *,
    n_flips: int = 1,
    spins: bool = False,
    one_hot: bool = False,
    refresh: bool = True,
) -> SamplingAlgorithm:
    """Gibbs with gradients on ``energy_fn`` as a ``SamplingAlgorithm``.

    ``init(position, params)`` and ``step(rng_key, state, params)``; see
    :func:`build_kernel` for the options.
    """
    kernel = build_kernel(energy_fn, n_flips=n_flips, spins=spins, one_hot=one_hot, refresh=refresh)

    def init_fn(position, params) -> GibbsWithGradientsState:
        return init(position, params, energy_fn, spins=spins, one_hot=one_hot)

    return SamplingAlgorithm(init_fn, kernel)
