r"""Block Gibbs sampling for Potts RBMs (categorical visible sites, Bernoulli hidden units).

One step is a full sweep: :math:`h \sim p(h \mid v)` (a Bernoulli draw per hidden
unit; for dReLU or Gaussian units, a side and a truncated Gaussian), then :math:`v \sim p(v \mid h)` (a categorical draw per site, from
:func:`numpyro_ebm.kernels.categorical.categorical_from_logits`), each layer
in parallel. The chains hold integer codes in a float array, ``(*chains, L)``;
the sweep forms their one-hot rows for its two matmuls.

Follows BlackJAX's kernel contract (``init(position, params)``,
``build_kernel()`` returning ``kernel(rng_key, state, params)``,
``as_top_level_api()``); leading chain dimensions share one key and one matmul,
and ``vmap`` over chains works as well. :func:`tempering` runs it inside
:mod:`~numpyro_ebm.kernels.parallel_tempering`.

References
----------
Tubiana, J., Cocco, S. & Monasson, R. (2019). Learning protein constitutive
motifs from sequence data. *eLife* 8:e39397.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import potts_rbm
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits
from numpyro_ebm.kernels.categorical import categorical_from_logits

__all__ = [
    "PottsRBMGibbsState",
    "PottsRBMGibbsInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
    "tempering",
    "scaled_params",
    "annealed_params",
    "annealing_sampler",
]


class PottsRBMGibbsState(NamedTuple):
    """State of the block-Gibbs chain.

    position
        Current visible codes, shape ``(*chains, L)``, integers in a float dtype.
    hidden
        Hidden configuration drawn in the last sweep, shape ``(*chains, K)``; after
        ``init`` it holds :math:`p(h = 1 \\mid v)`.
    """

    position: Float[Array, "*chains sites"]
    hidden: Float[Array, "*chains hidden"]


class PottsRBMGibbsInfo(NamedTuple):
    """What the sweep computed on the way.

    hidden_logits
        Logits of :math:`p(h = 1 \\mid v)` for the visible state the sweep started from
        (dReLU units: the inputs :math:`I(v)`).
    hidden_probs
        :math:`p(h = 1 \\mid v)` for that state, the PCD statistics (dReLU units:
        :math:`p(h > 0 \\mid v)`).
    """

    hidden_logits: Float[Array, "*chains hidden"]
    hidden_probs: Float[Array, "*chains hidden"]


def _is_drelu(params) -> bool:
    return hasattr(params, "gamma_plus")


def init(position: Float[Array, "*chains sites"], params) -> PottsRBMGibbsState:
    """Build the state for ``position``: float codes ``(*chains, L)`` (validated: dtype, range).

    ``params`` is a :class:`~numpyro_ebm.energies.potts_rbm.PottsRBMParams` (Bernoulli
    hidden units) or a :class:`~numpyro_ebm.energies.potts_rbm.PottsDReLURBMParams`
    (dReLU or Gaussian hidden units; the state's ``hidden`` then starts at zero).
    """
    position = _checks.check_array(position, "position", ndim_min=1)
    if _is_drelu(params):
        L, q, K = params.W.shape
        potts_rbm.as_one_hot(position, L, q, position.dtype, "codes", "position")
        return PottsRBMGibbsState(position, jnp.zeros(position.shape[:-1] + (K,), position.dtype))
    params = potts_rbm.validate_params(params)
    one_hot = potts_rbm.as_one_hot(
        position, params.n_sites, params.n_states, position.dtype, "codes", "position"
    )
    hidden = potts_rbm.hidden_probs(params, one_hot, "one_hot")
    return PottsRBMGibbsState(position, hidden.astype(position.dtype))


def _drelu_hidden(rng_key, params, one_hot):
    """``h ~ p(h | v)`` for dReLU units: the side by its probability, then a truncated
    Gaussian on it (``jax.random.truncated_normal``). Returns ``(h, inputs, p(h > 0))``."""
    key_side, key_plus, key_minus = jax.random.split(rng_key, 3)
    L, q, K = params.W.shape
    dtype = one_hot.dtype
    inputs = one_hot.reshape(one_hot.shape[:-2] + (L * q,)) @ params.W.reshape(L * q, K)
    positive = potts_rbm.drelu_positive_probability(params, inputs)
    logit = jnp.log(positive) - jnp.log1p(-positive)
    is_positive = bernoulli_from_logits(key_side, logit, dtype) == 1
    root_plus, root_minus = jnp.sqrt(params.gamma_plus), jnp.sqrt(params.gamma_minus)
    b_plus, b_minus = inputs - params.theta_plus, inputs - params.theta_minus
    inf = jnp.asarray(jnp.inf, dtype)
    z_plus = jax.random.truncated_normal(key_plus, -b_plus / root_plus, inf, inputs.shape, dtype)
    z_minus = jax.random.truncated_normal(
        key_minus, -inf, -b_minus / root_minus, inputs.shape, dtype
    )
    h_plus = jnp.maximum((b_plus / root_plus + z_plus) / root_plus, 0)
    h_minus = jnp.minimum((b_minus / root_minus + z_minus) / root_minus, 0)
    return jnp.where(is_positive, h_plus, h_minus), inputs, positive


def build_kernel():
    """Return ``kernel(rng_key, state, params) -> (PottsRBMGibbsState, PottsRBMGibbsInfo)``."""

    def kernel(
        rng_key: PRNGKeyArray, state: PottsRBMGibbsState, params
    ) -> tuple[PottsRBMGibbsState, PottsRBMGibbsInfo]:
        key_hidden, key_visible = jax.random.split(rng_key)
        dtype = state.position.dtype
        one_hot = potts_rbm.one_hot(state.position, params.W.shape[1], dtype)
        if _is_drelu(params):
            hidden, inputs, positive = _drelu_hidden(key_hidden, params, one_hot)
            info = PottsRBMGibbsInfo(inputs.astype(dtype), positive.astype(dtype))
        else:
            logits_h = potts_rbm.hidden_logits(params, one_hot, "one_hot")
            hidden = bernoulli_from_logits(key_hidden, logits_h, dtype)
            info = PottsRBMGibbsInfo(logits_h.astype(dtype), jax.nn.sigmoid(logits_h).astype(dtype))
        L, q, K = params.W.shape
        field = hidden @ params.W.reshape(L * q, K).T
        logits_v = field.reshape(hidden.shape[:-1] + (L, q)) + params.fields
        position = categorical_from_logits(key_visible, logits_v, dtype)
        return PottsRBMGibbsState(position, hidden.astype(dtype)), info

    return kernel


def as_top_level_api() -> SamplingAlgorithm:
    """Block Gibbs for a Potts RBM: ``init(position, params)``, ``step(rng_key, state, params)``."""
    return SamplingAlgorithm(init, build_kernel())


def scaled_params(params, beta):
    """``beta`` times every leaf: the parameters of replica ``beta`` of an energy linear in them."""
    return jax.tree.map(lambda leaf: jnp.asarray(beta).astype(leaf.dtype) * leaf, params)


def tempering() -> pt.Tempering:
    r"""This sweep on every replica of parallel tempering
    (:func:`numpyro_ebm.kernels.parallel_tempering.as_top_level_api`).

    The joint energy is linear in the parameters, so replica :math:`\beta` runs with
    :math:`\beta\theta` (uniform over sequences at :math:`\beta = 0`); swaps act on
    the joint states :math:`(v, h)` with the joint energy, as for the Bernoulli RBM.
    """

    def energy_gap(params, state):
        return potts_rbm.joint_energy(params, state.position, state.hidden, "codes")

    return pt.tempered_kernel(as_top_level_api(), scaled_params, energy_gap)


def annealed_params(params, beta, base_logits):
    r"""The Potts RBM of :math:`p_0(v)^{1-\beta} e^{-\beta E(v, h)}` for an independent-site
    base :math:`p_0(v) \propto \prod_i e^{\ell_i(v_i)}`: :math:`(\beta W,\;
    \beta f + (1 - \beta)\ell,\; \beta c)`, whose visible marginal is the annealed
    distribution of AIS (the base's normaliser is a constant)."""
    dtype = params.W.dtype
    beta = jnp.asarray(beta).astype(dtype)
    base = jnp.asarray(base_logits, dtype)
    return potts_rbm.PottsRBMParams(
        beta * params.W, beta * params.fields + (1 - beta) * base, beta * params.c
    )


def annealing_sampler(base_logits) -> Callable[[Callable], SamplingAlgorithm]:
    r"""Block Gibbs as the transition of :func:`numpyro_ebm.evaluation.annealing.ais` and
    :func:`~numpyro_ebm.evaluation.annealing.reverse_ais` on a Potts RBM.

    Use it with ``energy_fn`` the free energy over codes and the base
    ``evaluation.potts.CategoricalBase(base_logits)`` (``vmap_chains=False``). The
    returned factory ignores the annealed energy function it is given: it reads
    ``(params, beta)`` from the step's parameters and sweeps the Potts RBM of
    :func:`annealed_params`, which has that energy's visible marginal. A sweep,
    :math:`h \sim p(h \mid v)` then :math:`v \sim p(v \mid h)`, is a transition on
    :math:`v` (the state's ``hidden`` is redrawn before it is used) that satisfies
    detailed balance for the marginal, so RAISE may use it too. Two matmuls per
    temperature, where single-site Gibbs over the free energy
    (:mod:`~numpyro_ebm.kernels.potts_gibbs`) costs ``q`` free energies per site.
    """
    kernel = build_kernel()

    def sampler(energy_fn: Callable) -> SamplingAlgorithm:
        def init_fn(position, params_and_beta):
            params, beta = params_and_beta
            return init(position, annealed_params(params, beta, base_logits))

        def step(rng_key, state, params_and_beta):
            params, beta = params_and_beta
            return kernel(rng_key, state, annealed_params(params, beta, base_logits))

        return SamplingAlgorithm(init_fn, step)

    return sampler
