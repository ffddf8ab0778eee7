"""What the estimators train with: learning rules by name (from the model registry), chains
started as scikit-learn's, and the optimizer."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from numpyro_ebm import registry
from numpyro_ebm.kernels import parallel_tempering, rbm_gibbs
from numpyro_ebm.learning import engine, regularizers
from numpyro_ebm.learning.base import LearningRule

__all__ = [
    "LEARNING_RULES",
    "GAUSSIAN_LEARNING_RULES",
    "optimizer_for",
    "jitted_step",
    "start_at_hidden_zero",
    "bernoulli_rule",
    "fixed_scale",
    "gaussian_rule",
]

LEARNING_RULES = ("pcd", "cd", "fpcd", "pt-pcd")
"""Names accepted by ``BernoulliRBM(learning_rule=...)`` (``GaussianBernoulliRBM``: the first three).

More rules plug in here: add the name (one that :func:`numpyro_ebm.registry.build_rule`
builds) and its options in :func:`bernoulli_rule` (or :func:`gaussian_rule`);
everything else (the parameter, the persistent-chain attributes, checkpoints) follows.
"""

GAUSSIAN_LEARNING_RULES = ("pcd", "cd", "fpcd")


@functools.lru_cache(maxsize=64)
def optimizer_for(learning_rate: float, momentum: float, weight_decay: float):
    """SGD (with momentum and L2 decay on the weights when asked), one object per setting.

    The same object for the same setting lets :func:`numpyro_ebm.learning.fit` reuse
    its compiled epoch across fits (a grid search refits the same configuration).
    """
    sgd = optax.sgd(learning_rate, momentum=momentum or None)
    if weight_decay:
        return optax.chain(regularizers.weight_decay(weight_decay), sgd)
    return sgd


@functools.lru_cache(maxsize=64)
def jitted_step(rule: LearningRule, optimizer):
    """The engine's minibatch update (:func:`numpyro_ebm.learning.engine.train_step`),
    compiled once per rule and optimizer (``partial_fit``)."""
    return jax.jit(engine.train_step(rule, optimizer, chain_diagnostics=False))


def start_at_hidden_zero(rng_key, params, n_chains: int):
    """Chains started as scikit-learn's: hidden state 0, so the first negatives are ``p(v | h = 0)``.

    The closed-form rules take the chains' visible state at the start of a sweep as
    the negatives, so the start is a draw of :math:`v \\sim p(v \\mid h = 0)`. (The
    library's own rules start at random training examples, which must be binary;
    scikit-learn accepts any data in [0, 1].)
    """
    dtype = params.W.dtype
    probs = jax.nn.sigmoid(jnp.broadcast_to(params.b, (n_chains, params.W.shape[0])))
    visible = jax.random.bernoulli(rng_key, probs).astype(dtype)
    hidden = jnp.zeros((n_chains, params.W.shape[1]), dtype)
    return rbm_gibbs.RBMGibbsState(visible, hidden)


@functools.lru_cache(maxsize=64)
def bernoulli_rule(
    name: str,
    n_chains: int,
    k: int,
    fast_learning_rate: float,
    fast_decay: float,
    centering: bool,
    offset_rate: float,
    weight_decay: float,
    n_temperatures: int = 10,
    min_inverse_temperature: float = 0.0,
) -> LearningRule:
    """The closed-form Bernoulli-RBM rule of :func:`numpyro_ebm.registry.build_rule` for these
    settings, its persistent chains started as scikit-learn's (:func:`start_at_hidden_zero`);
    one object per setting, so that fits with the same setting share one compilation."""
    ladder = None
    if name.startswith("pt-"):
        ladder = parallel_tempering.geometric_ladder(n_temperatures, min_inverse_temperature)
    return registry.build_rule(
        "bernoulli-rbm",
        name,
        n_chains=n_chains,
        k=k,
        fast_learning_rate=fast_learning_rate,
        fast_decay=fast_decay,
        centering=centering,
        offset_rate=offset_rate,
        centered_weight_decay=weight_decay,
        inverse_temperatures=ladder,
        chain_start=None if name == "cd" else start_at_hidden_zero,
    )


def fixed_scale(rule: LearningRule) -> LearningRule:
    """The rule with a zero gradient for ``log_sigma`` (the visible scales stay as initialised)."""

    def step(rng_key, state, params, batch):
        grads, state, info = rule.step(rng_key, state, params, batch)
        return grads._replace(log_sigma=jnp.zeros_like(grads.log_sigma)), state, info

    return LearningRule(rule.init, step)


@functools.lru_cache(maxsize=64)
def gaussian_rule(
    name: str,
    n_chains: int,
    k: int,
    fast_learning_rate: float,
    fast_decay: float,
    learn_sigma: bool,
) -> LearningRule:
    """The Gaussian-Bernoulli rule of :func:`numpyro_ebm.registry.build_rule` (autodiff of the
    free energy, block-Gibbs negatives), with the scales fixed unless ``learn_sigma``."""
    rule = registry.build_rule(
        "gaussian-rbm",
        name,
        n_chains=n_chains,
        k=k,
        fast_learning_rate=fast_learning_rate,
        fast_decay=fast_decay,
    )
    return rule if learn_sigma else fixed_scale(rule)
