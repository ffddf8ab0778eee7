r"""Block Gibbs sampling for Potts RBMs (categorical visible sites, Bernoulli hidden units).

One step is a full sweep: :math:`h \sim p(h \mid v)` (a Bernoulli draw per hidden
unit), then :math:`v \sim p(v \mid h)` (a categorical draw per site, from
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
        Logits of :math:`p(h = 1 \\mid v)` for the visible state the sweep started from.
    hidden_probs
        :math:`p(h = 1 \\mid v)` for that state (the PCD statistics).
    """

    hidden_logits: Float[Array, "*chains hidden"]
    hidden_probs: Float[Array, "*chains hidden"]


def init(position: Float[Array, "*chains sites"], params) -> PottsRBMGibbsState:
    """Build the state for ``position``: float codes ``(*chains, L)`` (validated: dtype, range)."""
    params = potts_rbm.validate_params(params)
    position = _checks.check_array(position, "position", ndim_min=1)
    one_hot = potts_rbm.as_one_hot(
        position, params.n_sites, params.n_states, position.dtype, "codes", "position"
    )
    hidden = potts_rbm.hidden_probs(params, one_hot, "one_hot")
    return PottsRBMGibbsState(position, hidden.astype(position.dtype))


def build_kernel():
    """Return ``kernel(rng_key, state, params) -> (PottsRBMGibbsState, PottsRBMGibbsInfo)``."""

    def kernel(
        rng_key: PRNGKeyArray, state: PottsRBMGibbsState, params
    ) -> tuple[PottsRBMGibbsState, PottsRBMGibbsInfo]:
        key_hidden, key_visible = jax.random.split(rng_key)
        dtype = state.position.dtype
        one_hot = potts_rbm.one_hot(state.position, params.W.shape[1], dtype)
        logits_h = potts_rbm.hidden_logits(params, one_hot, "one_hot")
        hidden = bernoulli_from_logits(key_hidden, logits_h, dtype)
        logits_v = potts_rbm.visible_logits(params, hidden)
        position = categorical_from_logits(key_visible, logits_v, dtype)
        info = PottsRBMGibbsInfo(logits_h.astype(dtype), jax.nn.sigmoid(logits_h).astype(dtype))
        return PottsRBMGibbsState(position, hidden), info

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
