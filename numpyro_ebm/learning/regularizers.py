"""Regularisers from Hinton's practical guide, as Optax transforms and rule wrappers.

- :func:`weight_decay`: L2 (or L1) decay on the weights only, never the biases
  (guide, section 10), as an Optax transform to chain before the optimizer.
- :func:`momentum_schedule`: momentum 0.5 for the first steps, then 0.9
  (guide, section 9), for ``optax.inject_hyperparams(optax.sgd)``.
- :func:`with_sparsity_target`: a learning-rule wrapper that pushes each hidden
  unit's mean activation towards a target (guide, section 11).
- The energy-magnitude penalty for neural EBMs (Du & Mordatch 2019) is the
  ``energy_penalty`` argument of the generic rules.

References
----------
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann
machines. UTML TR 2010-003.
Du, Y. & Mordatch, I. (2019). Implicit generation and generalization in
energy-based models. *NeurIPS*.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from numpyro_ebm.learning.base import LearningRule

__all__ = [
    "weights_only",
    "weight_decay",
    "momentum_schedule",
    "SparsityState",
    "with_sparsity_target",
]

# weight matrices and couplings by field name: W (RBMs, MLP layers), W1, W2, ... (DBMs),
# J (Boltzmann and Potts couplings), horizontal/vertical (lattice Ising couplings)
WEIGHT_FIELD = re.compile(r"^(W\d*|J|horizontal|vertical)$")


def weights_only(params):
    """Mask that is ``True`` on weight matrices and couplings, ``False`` on biases and scales.

    In a NamedTuple of parameters the fields named ``W``, ``W1``, ``W2``, ... (the weights of
    RBMs, DBMs and MLP layers), ``J`` (couplings of Boltzmann machines) and ``horizontal``
    / ``vertical`` (lattice Ising couplings) are weights, at any depth (a DBN's stack of
    RBMs, an MLP's layers); for other pytrees, arrays with two or more dimensions count as
    weights.
    """
    if hasattr(params, "_fields"):
        return type(params)(
            *(
                weights_only(value)
                if hasattr(value, "_fields") or isinstance(value, (tuple, list))
                else bool(WEIGHT_FIELD.match(field))
                for field, value in zip(params._fields, params, strict=True)
            )
        )
    if isinstance(params, (tuple, list)):
        return type(params)(weights_only(value) for value in params)
    return jax.tree.map(lambda x: jnp.ndim(x) >= 2, params)


def weight_decay(
    rate: float, *, l1: bool = False, mask: Callable = weights_only
) -> optax.GradientTransformation:
    """Add ``rate * W`` (L2) or ``rate * sign(W)`` (L1) to the gradient of the weights only.

    Chain it before the optimizer: ``optax.chain(weight_decay(2e-4), optax.sgd(0.05, 0.9))``.
    """
    if rate < 0:
        raise ValueError(f"weight decay rate must be non-negative; got {rate}")
    if not l1:
        return optax.add_decayed_weights(rate, mask=mask)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "L1 weight decay needs params: call optimizer.update(grads, state, params)"
            )
        decayed = jax.tree.map(lambda g, p: g + rate * jnp.sign(p), updates, params)
        return decayed, state

    return optax.masked(
        optax.GradientTransformation(lambda params: optax.EmptyState(), update), mask
    )


def momentum_schedule(
    initial: float = 0.5, final: float = 0.9, switch_step: int = 5 * 600
) -> optax.Schedule:
    """Momentum ``initial`` for ``switch_step`` optimizer steps, then ``final``.

    Use as ``optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=momentum_schedule(...))``.
    """
    return optax.join_schedules(
        [optax.constant_schedule(initial), optax.constant_schedule(final)], [switch_step]
    )


class SparsityState(NamedTuple):
    """Inner rule state and the running mean activation of each hidden unit."""

    inner: Any
    mean_activation: jax.Array


def with_sparsity_target(
    rule: LearningRule,
    hidden_probs_fn: Callable,
    target: float = 0.05,
    cost: float = 1e-3,
    decay: float = 0.95,
) -> LearningRule:
    """Add Hinton's sparsity penalty to an RBM learning rule.

    Keeps :math:`q \\leftarrow \\lambda q + (1-\\lambda)\\,\\overline{p(h \\mid v)}` over
    batches and adds ``cost * (q - target)`` to the hidden biases' gradient and
    ``cost * mean(v)^T (q - target)`` to the weights' gradient (the derivative of the
    cross-entropy between the target and the actual activation). ``params`` must
    have fields ``W`` and ``c`` (both RBM types do).
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"sparsity target must lie in (0, 1); got {target}")
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must lie in [0, 1); got {decay}")

    def init(rng_key, params, data=None):
        return SparsityState(
            rule.init(rng_key, params, data), jnp.full(params.c.shape, target, params.c.dtype)
        )

    def step(rng_key, state: SparsityState, params, batch):
        grads, inner, info = rule.step(rng_key, state.inner, params, batch)
        activation = jnp.mean(hidden_probs_fn(params, batch), axis=0)
        q = decay * state.mean_activation + (1.0 - decay) * activation
        push = cost * (q - target)
        grads = grads._replace(
            c=grads.c + push, W=grads.W + jnp.outer(jnp.mean(batch, axis=0), push)
        )
        return grads, SparsityState(inner, q), info

    return LearningRule(init, step, rule.validate_data)
