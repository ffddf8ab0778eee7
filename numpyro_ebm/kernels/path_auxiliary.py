r"""Path auxiliary sampler (PAS): several gradient-informed flips in one Metropolis-Hastings move.

Sun, Dai, Xia, Schuurmans & Dai (2021/2022) extend the locally balanced proposal
(:mod:`~numpyro_ebm.kernels.locally_balanced`) to moves of several flips. From
:math:`x` a *path* of :math:`R` unit indices :math:`i_1, \dots, i_R` is drawn
independently from

.. math::

    q(i \mid x) = \frac{g\bigl(e^{\tilde d_i(x)}\bigr)}{\sum_j g\bigl(e^{\tilde d_j(x)}\bigr)},
    \qquad \tilde d_i(x) = -\nabla_x E(x)_i\, (x_{\neg i} - x)_i,

the first-order estimates of :math:`\log p(x_{\neg i}) - \log p(x)` (one gradient
for all of them, as in :mod:`~numpyro_ebm.kernels.gibbs_with_gradients`) weighted by
a balancing function :math:`g` (:data:`~numpyro_ebm.kernels.locally_balanced.BALANCING_FUNCTIONS`).
The flips are applied in turn (a unit drawn twice is flipped back) and give
:math:`x'`. The path is an auxiliary variable: the map
:math:`(x, i_1, \dots, i_R) \mapsto (x', i_R, \dots, i_1)` is an involution, so the
move is accepted with

.. math::

    \min\Bigl(1, \; e^{E(x) - E(x')} \prod_{r=1}^R \frac{q(i_r \mid x')}{q(i_r \mid x)}\Bigr),

which leaves :math:`p` exactly invariant whatever the path length and the quality of
the estimates. With :math:`R = 1` and :math:`g = \sqrt{\cdot}` this is Gibbs with
gradients. Longer paths move further a step at the same cost (one energy and
gradient at :math:`x'`), at the price of a lower acceptance.

The state is :class:`~numpyro_ebm.kernels.gibbs_with_gradients.GibbsWithGradientsState`
(position, energy and gradient cached there) and :func:`init` is Gibbs with
gradients' for binary units or spins. ``refresh=True`` (default) re-evaluates the
cache at the step's ``params`` first (needed under parallel tempering or learning).

References
----------
Sun, H., Dai, H., Xia, W., Ramamurthy, A. & Dai, B. (2022). Path auxiliary proposal
for MCMC in discrete space. *ICLR*.
Zanella, G. (2020). Informed proposals for local MCMC in discrete spaces. *JASA*
115(530).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.kernels import gibbs_with_gradients as gwg
from numpyro_ebm.kernels.gibbs_with_gradients import GibbsWithGradientsState, MultiFlipInfo
from numpyro_ebm.kernels.locally_balanced import log_balancing_function

__all__ = [
    "init",
    "build_kernel",
    "as_top_level_api",
]


def init(
    position: Float[Array, "*chains units"], params, energy_fn: Callable, *, spins: bool = False
) -> GibbsWithGradientsState:
    """Gibbs with gradients' :func:`~numpyro_ebm.kernels.gibbs_with_gradients.init` (binary units or spins)."""
    return gwg.init(position, params, energy_fn, spins=spins)


def build_kernel(
    energy_fn: Callable,
    *,
    path_length: int = 3,
    balancing: str = "sqrt",
    spins: bool = False,
    refresh: bool = True,
):
    """Return ``kernel(rng_key, state, params) -> (GibbsWithGradientsState, MultiFlipInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)``, differentiable in ``x``, broadcasting over
        leading chain dimensions; the target is :math:`e^{-E}`.
    path_length
        :math:`R`, the flips drawn a step (with replacement).
    balancing
        ``"sqrt"`` or ``"barker"``.
    spins
        Units in :math:`\\{-1, +1\\}` instead of :math:`\\{0, 1\\}`.
    refresh
        Recompute the cached energy and gradient at ``params`` before the step.
    """
    path_length = _checks.check_int(path_length, "path_length", minimum=1)
    log_g = log_balancing_function(balancing)
    spins, refresh = bool(spins), bool(refresh)

    def evaluate(params, position):
        return GibbsWithGradientsState(position, *gwg.energy_and_grad(energy_fn, params, position))

    def log_proposal(state):
        estimates = gwg.flip_log_ratio_estimates(state.position, state.energy_grad, spins)
        return jax.nn.log_softmax(log_g(estimates), axis=-1)

    def path_log_prob(log_q, counts):
        # sum over the path of log q(i_r): a unit drawn n times counts n times
        return jnp.sum(jnp.where(counts > 0, counts * log_q, 0.0), axis=-1)

    def kernel(
        rng_key: PRNGKeyArray, state: GibbsWithGradientsState, params
    ) -> tuple[GibbsWithGradientsState, MultiFlipInfo]:
        if refresh:
            state = evaluate(params, state.position)
        key_path, key_accept = jax.random.split(rng_key)
        position = state.position
        forward = log_proposal(state)
        n_units = position.shape[-1]
        chains = forward.shape[:-1]
        path = jax.random.categorical(key_path, forward, axis=-1, shape=(path_length,) + chains)
        counts = jnp.sum(jax.nn.one_hot(path, n_units, dtype=jnp.int32), axis=0)
        odd = counts % 2 == 1
        proposal = evaluate(params, jnp.where(odd, gwg.flipped(position, spins), position))
        counts = counts.astype(forward.dtype)
        log_ratio = (
            state.energy
            - proposal.energy
            + path_log_prob(log_proposal(proposal), counts)
            - path_log_prob(forward, counts)
        )
        new, acceptance, accepted = gwg.metropolis_hastings(key_accept, log_ratio, proposal, state)
        info = MultiFlipInfo(
            acceptance, accepted, jnp.sum(odd, axis=-1, dtype=jnp.int32), new.energy
        )
        return new, info

    return kernel


def as_top_level_api(
    energy_fn: Callable,
    *,
    path_length: int = 3,
    balancing: str = "sqrt",
    spins: bool = False,
    refresh: bool = True,
) -> SamplingAlgorithm:
    """PAS on ``energy_fn`` as a ``SamplingAlgorithm``; see :func:`build_kernel`."""
    kernel = build_kernel(
        energy_fn, path_length=path_length, balancing=balancing, spins=spins, refresh=refresh
    )

    def init_fn(position, params) -> GibbsWithGradientsState:
        return init(position, params, energy_fn, spins=spins)

    return SamplingAlgorithm(init_fn, kernel)
