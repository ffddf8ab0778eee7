r"""Block Gibbs sampling for a two-layer deep Boltzmann machine.

The DBM's graph is bipartite between the odd layer :math:`h^1` and the even
layers :math:`(v, h^2)`, so one step is a full sweep in two blocks:

1. :math:`h^1 \sim p(h^1 \mid v, h^2)`, all units in parallel;
2. :math:`v \sim p(v \mid h^1)` and :math:`h^2 \sim p(h^2 \mid h^1)`, all units of
   both layers in parallel (they are conditionally independent given :math:`h^1`).

Each block is an exact conditional draw, so the sweep leaves
:math:`p(v, h^1, h^2)` invariant (Salakhutdinov & Hinton 2009).

Follows BlackJAX's kernel contract like :mod:`~numpyro_ebm.kernels.rbm_gibbs`:
``init(position, params)`` builds the state, ``build_kernel()`` returns
``kernel(rng_key, state, params)``, and ``as_top_level_api()`` bundles both in a
:class:`blackjax.base.SamplingAlgorithm` whose ``step`` takes the parameters at
call time. States may carry leading chain dimensions ``(*chains, units)``; all
chains then share one key and one matmul per layer, and ``vmap`` over chains
works as well.

References
----------
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm.energies import dbm
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = ["DBMGibbsState", "DBMGibbsInfo", "init", "build_kernel", "as_top_level_api"]


class DBMGibbsState(NamedTuple):
    """State of the DBM block-Gibbs chain: one configuration of every layer.

    visible
        Shape ``(*chains, D)``.
    hidden1
        Shape ``(*chains, K1)``.
    hidden2
        Shape ``(*chains, K2)``.

    After ``init`` from visible vectors alone, the hidden layers hold the
    bottom-up probabilities of :func:`numpyro_ebm.energies.dbm.mean_field_init`
    (no draw has been made yet); after the first sweep all three are binary.
    """

    visible: Float[Array, "*chains visible"]
    hidden1: Float[Array, "*chains hidden1"]
    hidden2: Float[Array, "*chains hidden2"]

    @property
    def position(self) -> Float[Array, "*chains visible"]:
        """The visible units: what every sampler state calls its position."""
        return self.visible


class DBMGibbsInfo(NamedTuple):
    """What the sweep computed on the way.

    hidden1_logits
        Logits of :math:`p(h^1 = 1 \\mid v, h^2)` for the state the sweep started from.
    hidden1_probs
        :math:`p(h^1 = 1 \\mid v, h^2)` for that state (the Rao-Blackwellised
        statistics of the negative phase).
    visible_mean
        :math:`E[v \\mid h^1]` for the new draw of :math:`h^1`.
    hidden2_mean
        :math:`E[h^2 \\mid h^1]` for the new draw of :math:`h^1`.
    """

    hidden1_logits: Float[Array, "*chains hidden1"]
    hidden1_probs: Float[Array, "*chains hidden1"]
    visible_mean: Float[Array, "*chains visible"]
    hidden2_mean: Float[Array, "*chains hidden2"]


def init(position, params: dbm.DBMParams) -> DBMGibbsState:
    """Build the state from ``position``.

    ``position`` is either a full configuration ``(visible, hidden1, hidden2)``
    (a tuple or a :class:`DBMGibbsState`; validated: shapes, dtypes, NaN, binary
    values) or visible vectors alone, shape ``(*chains, D)``, in which case the
    hidden layers start at the bottom-up mean-field probabilities.
    """
    if isinstance(position, tuple):
        if len(position) != 3:
            raise ValueError(
                "a DBM position is visible vectors or a tuple (visible, hidden1, hidden2); "
                f"got a tuple of length {len(position)}"
            )
        return DBMGibbsState(*dbm.validate_state(params, *position, name="position"))
    visible = dbm.validate_visible(params, position, "position")
    q = dbm.mean_field_init(params, visible)
    dtype = visible.dtype
    return DBMGibbsState(visible, q.hidden1.astype(dtype), q.hidden2.astype(dtype))


def build_kernel():
    """Return ``kernel(rng_key, state, params) -> (DBMGibbsState, DBMGibbsInfo)``."""

    def kernel(
        rng_key: PRNGKeyArray, state: DBMGibbsState, params: dbm.DBMParams
    ) -> tuple[DBMGibbsState, DBMGibbsInfo]:
        key_hidden1, key_visible, key_hidden2 = jax.random.split(rng_key, 3)
        dtype = state.visible.dtype
        logits1 = dbm.hidden1_logits(params, state.visible, state.hidden2)
        hidden1 = bernoulli_from_logits(key_hidden1, logits1, dtype)
        logits_v = dbm.visible_logits(params, hidden1)
        logits2 = dbm.hidden2_logits(params, hidden1)
        visible = bernoulli_from_logits(key_visible, logits_v, dtype)
        hidden2 = bernoulli_from_logits(key_hidden2, logits2, dtype)
        info = DBMGibbsInfo(
            logits1.astype(dtype),
            jax.nn.sigmoid(logits1).astype(dtype),
            jax.nn.sigmoid(logits_v).astype(dtype),
            jax.nn.sigmoid(logits2).astype(dtype),
        )
        return DBMGibbsState(visible, hidden1, hidden2), info

    return kernel


def as_top_level_api() -> SamplingAlgorithm:
    """Block Gibbs for a DBM as a ``SamplingAlgorithm``: ``init(position, params)`` and
    ``step(rng_key, state, params)``."""
    return SamplingAlgorithm(init, build_kernel())
