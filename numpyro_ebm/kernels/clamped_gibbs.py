r"""Block Gibbs for an RBM with some visible units clamped: sampling :math:`p(v_m, h \mid v_o)`.

Split the visible units into observed ones :math:`o` (a boolean mask) and missing
ones :math:`m`. Conditioning an RBM on :math:`v_o` leaves an RBM over
:math:`(v_m, h)` whose hidden biases absorb the observed units, so one sweep is

1. :math:`h \sim p(h \mid v)` for all hidden units in parallel (``v`` holds the
   clamped :math:`v_o` and the current :math:`v_m`);
2. :math:`v_m \sim p(v_m \mid h)` for the missing units in parallel, while the
   observed units keep their clamped values.

This is the block-Gibbs sweep of :mod:`numpyro_ebm.kernels.rbm_gibbs` (which it
calls) followed by a reset of the observed units, a valid Gibbs sampler for the
conditional :math:`p(v_m, h \mid v_o)`: its stationary visible marginal is
:math:`p(v_m \mid v_o) \propto e^{-F(v_o, v_m)}`. It is what
``numpyro.handlers.condition`` on the observed units would give, for a whole
batch of images with *different* masks in one compiled sweep. Uses: imputing
missing pixels, inpainting, and sampling an RBM's "fantasies" consistent with
part of an input (Hinton's "dealing with missing inputs": fill the missing
inputs in at random, then let the learned constraints revise them).

The mask lives in the state (:class:`ClampedGibbsState`), set once by
:func:`init`; the clamped *values* are those of the initial position at the
observed units (its values at the missing units are only the starting point of
the chain). Both are data, so new images and masks need no recompilation, and
parameters enter at call time as in every kernel of the library.

Follows BlackJAX's kernel contract: ``init(position, params, observed)`` builds
the state, ``build_kernel(model)`` returns ``kernel(rng_key, state, params)``,
and ``as_top_level_api(model)`` bundles them into a
:class:`blackjax.base.SamplingAlgorithm` (``init(position, params,
observed=None)``; without a mask nothing is clamped and the sweep equals
:mod:`~numpyro_ebm.kernels.rbm_gibbs` draw for draw). Positions may carry leading
chain dimensions ``(*chains, D)``, each chain with its own mask, and ``vmap``
over chains works as well. Works for the Bernoulli RBM (``model="bernoulli"``)
and the Gaussian-Bernoulli RBM (``model="gaussian"``).

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Geman, S. & Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the
Bayesian restoration of images. *IEEE TPAMI* 6(6).
Hinton, G. E. CSC2535 lecture 3b, "Dealing with missing inputs" (course notes).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.kernels import rbm_gibbs

__all__ = [
    "ClampedGibbsState",
    "ClampedGibbsInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
]


class ClampedGibbsState(NamedTuple):
    """State of the clamped block-Gibbs chain.

    visible
        Current visible configuration, shape ``(*chains, D)``; equal to the clamped
        values wherever ``observed`` is true.
    hidden
        Hidden configuration drawn in the last sweep, shape ``(*chains, K)``; after
        ``init`` it holds :math:`p(h = 1 \\mid v)` (no draw has been made yet).
    observed
        Boolean mask of the clamped units, shape ``(*chains, D)``.
    """

    visible: Float[Array, "*chains visible"]
    hidden: Float[Array, "*chains hidden"]
    observed: Bool[Array, "*chains visible"]

    @property
    def position(self) -> Float[Array, "*chains visible"]:
        """The visible units: what every sampler state calls its position."""
        return self.visible


class ClampedGibbsInfo(NamedTuple):
    """What the sweep computed on the way.

    hidden_logits
        Logits of :math:`p(h = 1 \\mid v)` for the (clamped) visible state the sweep
        started from.
    hidden_probs
        :math:`p(h = 1 \\mid v)` for that state.
    visible_mean
        :math:`E[v \\mid h, v_o]` for the hidden draw: the model's conditional mean at
        the missing units and the clamped value at the observed ones. Averaged over
        sweeps it is a Rao-Blackwellised estimate of :math:`E[v_m \\mid v_o]` (for 0/1
        units, of :math:`p(v_i = 1 \\mid v_o)`).
    """

    hidden_logits: Float[Array, "*chains hidden"]
    hidden_probs: Float[Array, "*chains hidden"]
    visible_mean: Float[Array, "*chains visible"]


def _check_observed(observed, position) -> Bool[Array, "*chains visible"]:
    """``observed`` as a boolean array broadcast to the shape of ``position``."""
    if observed is None:
        return jnp.zeros(position.shape, dtype=bool)
    observed = observed if not _checks.is_concrete(observed) else jnp.asarray(observed)
    if observed.dtype != jnp.bool_:
        raise TypeError(
            f"observed must be a boolean mask (True where a unit is observed and clamped); "
            f"got dtype {observed.dtype}. Convert with observed.astype(bool) if 1 marks the "
            "observed units."
        )
    try:
        shape = np.broadcast_shapes(tuple(observed.shape), tuple(position.shape))
    except ValueError:
        shape = None
    if shape != tuple(position.shape):
        raise ValueError(
            f"observed has shape {tuple(observed.shape)}, which does not broadcast to the "
            f"position's shape {tuple(position.shape)}; give one mask per chain, shape "
            f"(*chains, D), or one shared mask of shape (D,)"
        )
    return jnp.broadcast_to(observed, position.shape)


def init(
    position: Float[Array, "*chains visible"],
    params,
    observed: Bool[Array, "*chains visible"] | None = None,
    model: str = "bernoulli",
) -> ClampedGibbsState:
    """Build the state: clamp ``position`` at the units where ``observed`` is true.

    Parameters
    ----------
    position
        Starting visible configuration, shape ``(*chains, D)``, validated as for
        :func:`numpyro_ebm.kernels.rbm_gibbs.init` (binary for the Bernoulli RBM). Its
        values at the observed units are the clamped values; at the missing units they
        are where the chain starts (e.g. random bits, Hinton's "fill in randomly").
    params
        RBM parameters (``BernoulliRBMParams`` or ``GaussianRBMParams``).
    observed
        Boolean mask, ``True`` for observed (clamped) units; shape ``(*chains, D)`` or
        anything that broadcasts to it (``(D,)``: one mask for all chains). ``None``
        clamps nothing (plain block Gibbs).
    model
        ``"bernoulli"`` or ``"gaussian"``.

    Raises
    ------
    TypeError
        If ``observed`` is not boolean, or the position is not floating-point.
    ValueError
        If ``observed`` does not broadcast to the position's shape, or the position
        has the wrong number of units, non-finite or (Bernoulli) non-binary values.
    """
    state = rbm_gibbs.init(position, params, model)
    return ClampedGibbsState(state.visible, state.hidden, _check_observed(observed, state.visible))


def build_kernel(model: str = "bernoulli"):
    """Return ``kernel(rng_key, state, params) -> (ClampedGibbsState, ClampedGibbsInfo)``."""
    sweep = rbm_gibbs.build_kernel(model)

    def kernel(
        rng_key: PRNGKeyArray, state: ClampedGibbsState, params
    ) -> tuple[ClampedGibbsState, ClampedGibbsInfo]:
        free, info = sweep(rng_key, rbm_gibbs.RBMGibbsState(state.visible, state.hidden), params)
        observed = state.observed
        visible = jnp.where(observed, state.visible, free.visible)
        visible_mean = jnp.where(observed, state.visible, info.visible_mean)
        return (
            ClampedGibbsState(visible, free.hidden, observed),
            ClampedGibbsInfo(info.hidden_logits, info.hidden_probs, visible_mean),
        )

    return kernel


def as_top_level_api(model: str = "bernoulli") -> SamplingAlgorithm:
    """Clamped block Gibbs for an RBM as a ``SamplingAlgorithm``.

    ``init(position, params, observed=None)`` and ``step(rng_key, state, params)``.
    """
    kernel = build_kernel(model)

    def init_fn(position, params, observed=None):
        return init(position, params, observed, model)

    # what training data a learning rule built on this kernel accepts (numpyro_ebm._checks)
    init_fn.data_support = "binary" if model == "bernoulli" else None
    return SamplingAlgorithm(init_fn, kernel)
