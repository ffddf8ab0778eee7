r"""Block Gibbs sampling for restricted Boltzmann machines.

One step is a full sweep: :math:`h \sim p(h \mid v)` for all hidden units in
parallel, then :math:`v \sim p(v \mid h)` for all visible units in parallel.
Works for the Bernoulli RBM (``model="bernoulli"``) and the Gaussian-Bernoulli
RBM (``model="gaussian"``).

Follows BlackJAX's kernel contract: ``init(position, params)`` builds the
state, ``build_kernel(model)`` returns ``kernel(rng_key, state, params)``, and
``as_top_level_api(model)`` bundles both in a :class:`blackjax.base.SamplingAlgorithm`
whose ``step`` takes the parameters at call time, so a learning loop can change
them without recompiling. Positions may carry leading chain dimensions
``(*chains, D)``; all chains then share one key and one matmul (faster than
``vmap`` over keys), and ``vmap`` over chains works as well.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = ["RBMGibbsState", "RBMGibbsInfo", "init", "build_kernel", "as_top_level_api"]

MODELS = ("bernoulli", "gaussian")


class RBMGibbsState(NamedTuple):
    """State of the block-Gibbs chain.

    visible
        Current visible configuration, shape ``(*chains, D)``.
    hidden
        Hidden configuration drawn in the last sweep, shape ``(*chains, K)``;
        after ``init`` it holds :math:`p(h = 1 \\mid v)` (no draw has been made yet).
    """

    visible: Float[Array, "*chains visible"]
    hidden: Float[Array, "*chains hidden"]

    @property
    def position(self) -> Float[Array, "*chains visible"]:
        """The visible units: what every sampler state calls its position."""
        return self.visible


class RBMGibbsInfo(NamedTuple):
    """What the sweep computed on the way, free of charge.

    hidden_logits
        Logits of :math:`p(h = 1 \\mid v)` for the visible state the sweep
        started from.
    hidden_probs
        :math:`p(h = 1 \\mid v)` for that state (the statistics contrastive
        divergence uses).
    visible_mean
        :math:`E[v \\mid h]` for the hidden draw (the "reconstruction").
    """

    hidden_logits: Float[Array, "*chains hidden"]
    hidden_probs: Float[Array, "*chains hidden"]
    visible_mean: Float[Array, "*chains visible"]


def check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"unknown RBM model {model!r}; choose one of {MODELS}")
    return model


def _energy_module(model: str):
    return bernoulli_rbm if check_model(model) == "bernoulli" else gaussian_rbm


def init(
    position: Float[Array, "*chains visible"], params, model: str = "bernoulli"
) -> RBMGibbsState:
    """Build the state for ``position`` (validated: shape, dtype, NaN, binary values)."""
    module = _energy_module(model)
    visible = module.validate_visible(params, position, "position")
    return RBMGibbsState(visible, module.hidden_probs(params, visible).astype(visible.dtype))


def build_kernel(model: str = "bernoulli"):
    """Return ``kernel(rng_key, state, params) -> (RBMGibbsState, RBMGibbsInfo)``."""
    check_model(model)

    def kernel(
        rng_key: PRNGKeyArray, state: RBMGibbsState, params
    ) -> tuple[RBMGibbsState, RBMGibbsInfo]:
        key_hidden, key_visible = jax.random.split(rng_key)
        visible = state.visible
        dtype = visible.dtype
        if model == "bernoulli":
            logits_h = bernoulli_rbm.hidden_logits(params, visible)
            hidden = bernoulli_from_logits(key_hidden, logits_h, dtype)
            logits_v = bernoulli_rbm.visible_logits(params, hidden)
            new_visible = bernoulli_from_logits(key_visible, logits_v, dtype)
            visible_mean = jax.nn.sigmoid(logits_v)
        else:
            logits_h = gaussian_rbm.hidden_logits(params, visible)
            hidden = bernoulli_from_logits(key_hidden, logits_h, dtype)
            visible_mean = gaussian_rbm.visible_mean(params, hidden)
            noise = jax.random.normal(key_visible, visible.shape, dtype)
            new_visible = visible_mean + gaussian_rbm.visible_std(params) * noise
        info = RBMGibbsInfo(
            logits_h.astype(dtype),
            jax.nn.sigmoid(logits_h).astype(dtype),
            visible_mean.astype(dtype),
        )
        return RBMGibbsState(new_visible.astype(dtype), hidden), info

    return kernel


def as_top_level_api(model: str = "bernoulli") -> SamplingAlgorithm:
    """Block Gibbs for an RBM as a ``SamplingAlgorithm``.

    ``init(position, params)`` and ``step(rng_key, state, params)``.
    """
    kernel = build_kernel(model)

    def init_fn(position, params):
        return init(position, params, model)

    # what training data a learning rule built on this kernel accepts (numpyro_ebm._checks)
    init_fn.data_support = "binary" if model == "bernoulli" else None
    return SamplingAlgorithm(init_fn, kernel)
