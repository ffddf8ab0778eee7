r"""The learning-rule contract: :class:`LearningRule` and the types of its two functions.

A learning rule is a pair of pure functions in the style of
``optax.GradientTransformation``:

- ``init(rng_key, params, data) -> state`` (:class:`RuleInit`);
- ``step(rng_key, state, params, batch) -> (grads, state, info)`` (:class:`RuleStep`).

``grads`` estimate :math:`-\partial \log p(\text{batch}) / \partial\theta`, so
any Optax optimizer applies them to *minimise*; ``state`` holds what persists
between batches (chains, fast weights, a replay buffer); ``info`` reports the
batch (for contrastive rules a :class:`ContrastiveInfo`). An info reports its own
metrics: its ``metrics()`` method returns the dict of per-step scalars (and the per-chain
``negative_energies``) that :func:`~numpyro_ebm.learning.engine.step_report` records, so
the engine never looks for fields by name. Every rule joins the contract suite
``tests/learning/test_rule_contract.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm.learning.negative_phases import sampler_metrics

__all__ = ["LearningRule", "RuleInit", "RuleStep", "ContrastiveInfo", "loss_metrics"]


class RuleInit(Protocol):
    """``init(rng_key, params, data) -> state``: the rule's state before the first batch.

    ``data`` is the training set (persistent chains start at random rows of it);
    rules that keep no state (CD-k) accept ``data=None``.
    """

    def __call__(self, rng_key: PRNGKeyArray, params: Any, data: Any = ..., /) -> Any: ...


class RuleStep(Protocol):
    """``step(rng_key, state, params, batch) -> (grads, state, info)`` for one minibatch.

    Pure and jit-compatible: ``params`` enter at call time, so changing them
    never recompiles; ``grads`` have the structure and dtypes of ``params``.
    """

    def __call__(
        self, rng_key: PRNGKeyArray, state: Any, params: Any, batch: Any, /
    ) -> tuple[Any, Any, Any]: ...


class LearningRule(NamedTuple):
    """A learning rule as two pure functions (cf. ``optax.GradientTransformation``).

    ``validate_data(data, name)`` (or None) checks, on concrete arrays, that
    training data suits the model (e.g. binary values for a binary model) and
    raises a ValueError/TypeError naming ``name`` otherwise;
    :func:`~numpyro_ebm.learning.fit.fit` runs it on the full data (and held-out
    data) before training. Wrappers (centered, sparsity) pass the wrapped rule's on.
    """

    init: RuleInit
    step: RuleStep
    validate_data: Callable[..., Any] | None = None


class ContrastiveInfo(NamedTuple):
    r"""Per-batch diagnostics of a contrastive rule.

    Attributes
    ----------
    positive_energy
        Mean energy of the batch.
    negative_energy
        Mean energy of the negative samples.
    sampler_info
        The kernel's info from the last negative-phase step (e.g. acceptance
        rates for Metropolis-adjusted kernels).
    negative_energies
        Energy of each persistent chain's negative sample, shape ``(n_chains,)``,
        the chains in the same order at every step (the energies the gradient
        already computed, so free). Stacked over the steps of an epoch it is a
        trace per chain, from which :func:`~numpyro_ebm.learning.fit.fit`
        computes R-hat and effective sample sizes. ``None`` for rules whose
        negatives are not persistent chains (CD-k restarts its chains at the
        batch every step), and the default, so rules written before this field
        existed still build a ``ContrastiveInfo`` from the first three fields.
    positive_hidden
        :math:`p(h = 1 \mid v)` of the batch under the current parameters, shape
        ``(batch, hidden)``, for rules that compute it anyway (the closed-form
        Bernoulli-RBM rules of :mod:`~numpyro_ebm.learning.rbm_rules`). Wrappers that
        need it (:func:`~numpyro_ebm.learning.rbm_rules.centered`'s hidden offset) read
        it here instead of recomputing it (a matmul per batch), and recompute it
        when it is ``None`` (the default).
    """

    positive_energy: Float[Array, ""]
    negative_energy: Float[Array, ""]
    sampler_info: Any
    negative_energies: Float[Array, " chains"] | None = None
    positive_hidden: Float[Array, "batch hidden"] | None = None

    def metrics(self) -> dict:
        """The step's metrics: ``positive_energy``, ``negative_energy``, the negative phase's
        kernel metrics (:func:`~numpyro_ebm.learning.negative_phases.sampler_metrics`:
        ``acceptance_rate``, and ``swap_rate``, ``round_trips`` for tempered chains) and
        ``negative_energies`` (``None`` when the negatives are no persistent chains).

        Also the reading of a rule's info written elsewhere with these fields
        (:func:`~numpyro_ebm.learning.composition.rule_metrics`), hence ``getattr``."""
        report = {
            "positive_energy": self.positive_energy,
            "negative_energy": self.negative_energy,
            **sampler_metrics(self.sampler_info),
        }
        if hasattr(self, "negative_energies"):
            report["negative_energies"] = self.negative_energies
        return report


def loss_metrics(info) -> dict:
    """The ``metrics()`` of the infos of rules that minimise a loss without a sampler
    (score matching, the pseudo-likelihood): ``loss``, ``positive_energy``,
    ``negative_energy`` and ``acceptance_rate`` (NaN: no sampler)."""
    return {
        "loss": info.loss,
        "positive_energy": info.positive_energy,
        "negative_energy": info.negative_energy,
        "acceptance_rate": jnp.nan,
    }
