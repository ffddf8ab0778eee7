"""Helpers shared by the layer-wise models (:mod:`~numpyro_ebm.learning.dbn` and
:mod:`~numpyro_ebm.learning.dbm_rules`, :mod:`~numpyro_ebm.learning.dbm_pretraining`): binary draws, base-rate biases, the hidden
activities that feed the next layer, and per-layer arguments."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "bernoulli_sample",
    "base_rate_bias",
    "hidden_activities",
    "check_activities",
    "is_sequence",
]


def bernoulli_sample(rng_key, probabilities):
    """Binary draws with the given probabilities; binary input comes back unchanged."""
    probabilities = jnp.asarray(probabilities)
    uniform = jax.random.uniform(rng_key, probabilities.shape, probabilities.dtype)
    return (uniform < probabilities).astype(probabilities.dtype)


def base_rate_bias(data):
    """Logit of each unit's mean activity, clipped to ``[1e-3, 1 - 1e-3]`` (Hinton's guide, section 8)."""
    p = jnp.clip(jnp.mean(data, axis=0), 1e-3, 1 - 1e-3)
    return (jnp.log(p) - jnp.log1p(-p)).astype(data.dtype)


def hidden_activities(rng_key, rbm, data, mode: str, input_scale: float = 1.0):
    """:math:`\\sigma(s \\cdot v^\\top W + c)` of ``data`` (``mode="probabilities"``) or binary
    draws from it (``"samples"``): the training data of the next RBM in a stack."""
    probs = jax.nn.sigmoid(input_scale * (data @ rbm.W) + rbm.c)
    if mode == "probabilities":
        return probs
    return bernoulli_sample(rng_key, probs)


def check_activities(mode: str) -> str:
    """``mode`` if it names how a layer feeds the next (``"probabilities"`` or ``"samples"``)."""
    if mode not in ("probabilities", "samples"):
        raise ValueError(f"hidden_activities must be 'probabilities' or 'samples'; got {mode!r}")
    return mode


def is_sequence(value) -> bool:
    """A list or plain tuple of per-layer values (a NamedTuple such as a LearningRule or an
    optax.GradientTransformation is one value)."""
    return isinstance(value, list) or (isinstance(value, tuple) and not hasattr(value, "_fields"))
