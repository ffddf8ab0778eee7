r"""Learning a two-layer deep Boltzmann machine (Salakhutdinov & Hinton 2009): the rule.

The log-likelihood gradient of a DBM,
:math:`\langle \partial E/\partial\theta \rangle_{\text{model}} - \langle \partial E/\partial\theta \rangle_{p(h \mid v)}`
(as a loss gradient), has an intractable *data* term as well as the model term.
Salakhutdinov & Hinton replace

- the data term by its **mean-field** value: the factorised posterior
  :math:`q(h^1, h^2 \mid v)` of :func:`numpyro_ebm.energies.dbm.mean_field`, so the
  rule follows the gradient of the variational lower bound
  :math:`-\mathbb{E}_q[E] + H(q) - \log Z` on :math:`\log p(v)`;
- the model term by **persistent chains** (PCD, the stochastic approximation of
  Tieleman 2008 / Younes) advanced by the DBM's block-Gibbs sweep
  (:mod:`numpyro_ebm.kernels.dbm_gibbs`).

:func:`dbm_estimator` is that gradient as the estimator passed to
:func:`~numpyro_ebm.learning.composition.pcd`, with a negative phase of
:mod:`~numpyro_ebm.learning.negative_phases`:

- ``pcd(dbm_estimator(), persistent_chains(n))``: the paper's rule (:func:`dbm_pcd`);
- ``fast_weights(persistent_chains(n))``: the chains sample :math:`\theta + \theta_\text{fast}`
  (FPCD, Tieleman & Hinton 2009; :func:`dbm_fpcd`);
- ``tempered_chains(n, ladder)`` (with or without fast weights): every persistent chain is
  the :math:`\beta = 1` replica of a parallel-tempering chain
  (:func:`~numpyro_ebm.kernels.parallel_tempering.dbm_tempering`; Desjardins et al. 2010;
  :func:`dbm_pt_pcd`, :func:`dbm_pt_fpcd`).

The four named factories are thin aliases of those compositions. The centered DBM is
:mod:`~numpyro_ebm.learning.dbm_centering`, greedy pretraining
:mod:`~numpyro_ebm.learning.dbm_pretraining`; :mod:`numpyro_ebm.learning.dbm` re-exports
all three modules (its old content).

The positive phase can stop its mean-field iterations at convergence
(``mean_field_tolerance``) and damp them (``mean_field_damping``,
:func:`~numpyro_ebm.energies.dbm.mean_field_fixed_point`); the info
(:class:`DBMInfo`) reports the iterations used, which
:func:`~numpyro_ebm.learning.fit.fit` records as ``mean_field_iterations``.

References
----------
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
Tieleman, T. & Hinton, G. E. (2009). Using fast weights to improve persistent
contrastive divergence. *ICML*.
Desjardins, G., Courville, A., Bengio, Y., Vincent, P. & Delalleau, O. (2010).
Tempered Markov chain Monte Carlo for training of restricted Boltzmann machines.
*AISTATS*.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm import _checks
from numpyro_ebm.energies import dbm
from numpyro_ebm.kernels import dbm_gibbs
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.composition import GradientEstimator, pcd
from numpyro_ebm.learning.negative_phases import (
    ChainModel,
    NegativeSample,
    fast_weights,
    persistent_chains,
    sampler_metrics,
    tempered_chains,
)
from numpyro_ebm.learning.stacking import bernoulli_sample

__all__ = [
    "dbm_gradient",
    "DBMNegatives",
    "DBMInfo",
    "dbm_chains",
    "dbm_estimator",
    "dbm_pcd",
    "dbm_fpcd",
    "dbm_pt_pcd",
    "dbm_pt_fpcd",
]


def dbm_gradient(
    params: dbm.DBMParams,
    batch: Float[Array, "n visible"],
    positive: dbm.MeanField,
    negative_visible: Float[Array, "m visible"],
    negative_hidden1: Float[Array, "m hidden1"],
    negative_hidden2: Float[Array, "m hidden2"],
) -> dbm.DBMParams:
    r"""Gradient of :math:`\overline{E(v, \mu^1, \mu^2)} - \overline{E(\tilde v, \tilde h^1, \tilde h^2)}`.

    ``positive`` holds the mean-field means :math:`(\mu^1, \mu^2)` of the batch;
    the negatives are chain states (``negative_hidden1`` may be the
    Rao-Blackwellised :math:`p(h^1 = 1 \mid \tilde v, \tilde h^2)`). As the energy is
    linear in each layer, this is the gradient of
    :math:`\mathbb{E}_q[E]` on the data minus the mean energy of the negatives.
    """
    mu1, mu2 = positive
    n_pos, n_neg = batch.shape[0], negative_visible.shape[0]
    grad_W1 = (negative_visible.T @ negative_hidden1) / n_neg - (batch.T @ mu1) / n_pos
    grad_W2 = (negative_hidden1.T @ negative_hidden2) / n_neg - (mu1.T @ mu2) / n_pos
    grad_b = jnp.mean(negative_visible, axis=0) - jnp.mean(batch, axis=0)
    grad_c1 = jnp.mean(negative_hidden1, axis=0) - jnp.mean(mu1, axis=0)
    grad_c2 = jnp.mean(negative_hidden2, axis=0) - jnp.mean(mu2, axis=0)
    return dbm.DBMParams(grad_W1, grad_W2, grad_b, grad_c1, grad_c2)


class DBMNegatives(NamedTuple):
    r"""The negative statistics of one step: the chains' state at the start of their
    last sweep, with the Rao-Blackwellised :math:`p(h^1 = 1 \mid \tilde v, \tilde h^2)`.

    visible, hidden2
        :math:`\tilde v`, :math:`\tilde h^2`, shapes ``(n_chains, D)``, ``(n_chains, K2)``.
    hidden1
        :math:`p(h^1 = 1 \mid \tilde v, \tilde h^2)` under the chains' parameters.
    hidden1_logits
        Its logits (for the chains' free energies, at no extra matmul).
    """

    visible: Float[Array, "chains visible"]
    hidden1: Float[Array, "chains hidden1"]
    hidden1_logits: Float[Array, "chains hidden1"]
    hidden2: Float[Array, "chains hidden2"]


class DBMInfo(NamedTuple):
    r"""Per-batch diagnostics of the DBM rules (the fields of
    :class:`~numpyro_ebm.learning.base.ContrastiveInfo`, then the DBM's own).

    positive_energy
        Mean of :math:`\mathbb{E}_q[E]` on the batch.
    negative_energy
        Mean of :math:`E(\tilde v, p(h^1 \mid \cdot), \tilde h^2)` on the chains.
    sampler_info
        The last sweep's :class:`~numpyro_ebm.kernels.dbm_gibbs.DBMGibbsInfo`, or the
        :class:`~numpyro_ebm.kernels.parallel_tempering.PTInfo` of a tempered rule.
    negative_energies
        Each chain's free energy with :math:`h^1` summed out,
        :func:`~numpyro_ebm.energies.dbm.outer_free_energy` of
        :math:`(\tilde v, \tilde h^2)` (for :func:`~numpyro_ebm.learning.fit.fit`'s
        chain diagnostics).
    mean_field
        The batch's mean-field means :math:`(\mu^1, \mu^2)` (read by
        :func:`centered_dbm` for its hidden offsets).
    negatives
        The :class:`DBMNegatives` of the step.
    mean_field_iterations
        Mean-field iterations used on the batch (int32).
    mean_field_change
        :math:`\max |\Delta\mu|` of the last of them.
    """

    positive_energy: Float[Array, ""]
    negative_energy: Float[Array, ""]
    sampler_info: Any
    negative_energies: Float[Array, " chains"]
    mean_field: dbm.MeanField
    negatives: DBMNegatives
    mean_field_iterations: Array
    mean_field_change: Float[Array, ""]

    def metrics(self) -> dict:
        """The metrics of a :class:`~numpyro_ebm.learning.base.ContrastiveInfo` (energies,
        the chains' kernel metrics, ``negative_energies``) and ``mean_field_iterations``."""
        return {
            "positive_energy": self.positive_energy,
            "negative_energy": self.negative_energy,
            **sampler_metrics(self.sampler_info),
            "negative_energies": self.negative_energies,
            "mean_field_iterations": self.mean_field_iterations.astype(jnp.float32),
        }


def _check_mean_field(mean_field_iterations, tolerance, damping):
    if not isinstance(mean_field_iterations, int) or mean_field_iterations < 0:
        raise ValueError(
            f"mean_field_iterations must be a non-negative int; got {mean_field_iterations!r}"
        )
    if not tolerance >= 0.0:
        raise ValueError(f"mean_field_tolerance must be non-negative; got {tolerance}")
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"mean_field_damping must lie in [0, 1); got {damping}")


def _start_positions(rng_key, params, data, n_chains: int) -> dbm_gibbs.DBMGibbsState:
    """Random training rows with hidden layers drawn from the bottom-up probabilities."""
    if data is None:
        raise ValueError(
            "persistent chains are initialised from the training data; pass data to init"
        )
    data = dbm.validate_visible(params, data, "data")
    key_rows, key1, key2 = jax.random.split(rng_key, 3)
    visible = data[jax.random.randint(key_rows, (n_chains,), 0, data.shape[0])]
    q = dbm.mean_field_init(params, visible)
    hidden1 = bernoulli_sample(key1, q.hidden1.astype(visible.dtype))
    hidden2 = bernoulli_sample(key2, q.hidden2.astype(visible.dtype))
    return dbm_gibbs.DBMGibbsState(visible, hidden1, hidden2)


def _sweep_state(rng_key, params, data, n_chains: int):
    return _start_positions(rng_key, params, data, n_chains)


def dbm_chains() -> ChainModel:
    """The DBM's own chains: the block-Gibbs sweep of :mod:`~numpyro_ebm.kernels.dbm_gibbs`
    (and its tempering :func:`~numpyro_ebm.kernels.parallel_tempering.dbm_tempering`),
    started at random training rows with hidden layers drawn from the bottom-up
    probabilities."""
    return ChainModel(dbm_gibbs.build_kernel(), _start_positions, pt.dbm_tempering())


def dbm_estimator(
    mean_field_iterations: int = 10,
    *,
    mean_field_tolerance: float = 0.0,
    mean_field_damping: float = 0.0,
) -> GradientEstimator:
    r"""The DBM's gradient (Salakhutdinov & Hinton 2009) as an estimator: mean-field data term.

    The negative statistics use the chains' :math:`(\tilde v, \tilde h^2)` at the start of
    their last sweep with :math:`p(h^1 \mid \tilde v, \tilde h^2)` computed by that sweep
    (Rao-Blackwellised, at no extra cost), under the chains' parameters. Use it with
    :func:`~numpyro_ebm.learning.negative_phases.persistent_chains` or ``tempered_chains``
    (and ``fast_weights``). The info is a :class:`DBMInfo`.

    Parameters
    ----------
    mean_field_iterations
        Mean-field iterations for the batch's posterior (the maximum when
        ``mean_field_tolerance`` > 0), started from the bottom-up pass
        :func:`~numpyro_ebm.energies.dbm.mean_field_init`.
    mean_field_tolerance
        Stop the iterations once no mean moves by more than this
        (:func:`~numpyro_ebm.energies.dbm.mean_field_fixed_point`); 0 (default)
        runs all ``mean_field_iterations``.
    mean_field_damping
        Weight of the old means in each update, in ``[0, 1)`` (default 0).
    """
    _check_mean_field(mean_field_iterations, mean_field_tolerance, mean_field_damping)

    def gradient(params, chain_params, batch, negatives: NegativeSample, sampler_info):
        start, sweep = negatives.state, negatives.statistics
        negatives = DBMNegatives(
            start.visible, sweep.hidden1_probs, sweep.hidden1_logits, start.hidden2
        )
        result = dbm.mean_field_fixed_point(
            params,
            batch,
            max_iterations=mean_field_iterations,
            tolerance=mean_field_tolerance,
            damping=mean_field_damping,
        )
        positive = result.means
        grads = dbm_gradient(
            params, batch, positive, negatives.visible, negatives.hidden1, negatives.hidden2
        )
        positive_energy = jnp.mean(dbm.joint_energy(params, batch, *positive))
        negative_energy = jnp.mean(
            dbm.joint_energy(chain_params, negatives.visible, negatives.hidden1, negatives.hidden2)
        )
        # each chain's F(v, h2) (h1 summed out) from the sweep's h1 pre-activations
        negative_energies = (
            -(negatives.visible @ chain_params.b)
            - (negatives.hidden2 @ chain_params.c2)
            - jnp.sum(jax.nn.softplus(negatives.hidden1_logits), axis=-1)
        )
        info = DBMInfo(
            positive_energy,
            negative_energy,
            sampler_info,
            negative_energies,
            positive,
            negatives,
            result.n_iterations,
            result.max_change,
        )
        return grads, info

    return GradientEstimator(gradient, dbm_chains(), _checks.validate_binary_data)


def dbm_pcd(
    n_chains: int,
    k: int = 1,
    mean_field_iterations: int = 10,
    *,
    mean_field_tolerance: float = 0.0,
    mean_field_damping: float = 0.0,
) -> LearningRule:
    r"""The DBM learning rule of Salakhutdinov & Hinton (2009): mean-field data term, PCD model term.

    Alias of ``pcd(dbm_estimator(mean_field_iterations, ...), persistent_chains(n_chains, k))``.

    Parameters
    ----------
    n_chains
        Persistent chains ("fantasy particles"; the paper uses 100).
    k
        Block-Gibbs sweeps of every chain per parameter update.
    mean_field_iterations, mean_field_tolerance, mean_field_damping
        The positive phase's mean field, as for :func:`dbm_estimator`.

    Notes
    -----
    ``init(rng_key, params, data)`` starts the chains at random training vectors
    with hidden layers drawn from the bottom-up probabilities.
    ``step(rng_key, state, params, batch) -> (grads, state, info)``: ``grads``
    (a :class:`~numpyro_ebm.energies.dbm.DBMParams`) estimates minus the gradient
    of the variational bound, for any Optax optimizer to minimise. The negative
    statistics use the chains' :math:`(\tilde v, \tilde h^2)` at the start of
    their last sweep with :math:`p(h^1 \mid \tilde v, \tilde h^2)` computed by that
    sweep (Rao-Blackwellised, at no extra cost). The info is a :class:`DBMInfo`:
    ``info.positive_energy`` is the mean of :math:`\mathbb{E}_q[E]` on the batch,
    ``info.negative_energy`` that of :math:`E(\tilde v, p(h^1 \mid \cdot), \tilde h^2)`
    on the chains, ``info.negative_energies`` each chain's free energy with
    :math:`h^1` summed out, and ``info.mean_field_iterations`` the iterations used.
    """
    estimator = dbm_estimator(
        mean_field_iterations,
        mean_field_tolerance=mean_field_tolerance,
        mean_field_damping=mean_field_damping,
    )
    return pcd(estimator, persistent_chains(n_chains, k))


def dbm_fpcd(
    n_chains: int,
    k: int = 1,
    mean_field_iterations: int = 10,
    *,
    fast_learning_rate: float = 0.02,
    fast_decay: float = 19.0 / 20.0,
    mean_field_tolerance: float = 0.0,
    mean_field_damping: float = 0.0,
) -> LearningRule:
    r""":func:`dbm_pcd` with fast weights (FPCD, Tieleman & Hinton 2009).

    Alias of ``pcd(dbm_estimator(...), fast_weights(persistent_chains(n_chains, k),
    fast_learning_rate, fast_decay))``.

    The persistent chains sample the DBM with parameters
    :math:`\theta + \theta_\text{fast}`; the fast parameters follow the same
    gradient with their own learning rate and shrink every step,
    :math:`\theta_\text{fast} \leftarrow \text{fast\_decay}\,\theta_\text{fast}
    - \text{fast\_learning\_rate}\cdot g`, raising the energy where the chains
    have just been so that they leave modes faster. The negative statistics (and
    ``info.negative_energies``) are those of the chains' model
    :math:`\theta + \theta_\text{fast}`, as in
    :func:`~numpyro_ebm.learning.rbm_rules.bernoulli_rbm_fpcd`. With
    ``fast_learning_rate=0`` the fast weights stay zero and the rule is
    :func:`dbm_pcd` draw for draw. The state is
    :class:`~numpyro_ebm.learning.negative_phases.FPCDState`.

    Parameters
    ----------
    n_chains, k
        As for :func:`dbm_estimator`.
    fast_learning_rate, fast_decay
        The fast weights' step size and their decay per step, in ``[0, 1)``.
    mean_field_iterations, mean_field_tolerance, mean_field_damping
        As for :func:`dbm_estimator`.
    """
    estimator = dbm_estimator(
        mean_field_iterations,
        mean_field_tolerance=mean_field_tolerance,
        mean_field_damping=mean_field_damping,
    )
    phase = fast_weights(persistent_chains(n_chains, k), fast_learning_rate, fast_decay)
    return pcd(estimator, phase)


def dbm_pt_pcd(
    n_chains: int,
    inverse_temperatures,
    k: int = 1,
    mean_field_iterations: int = 10,
    *,
    swap: str = "deo",
    mean_field_tolerance: float = 0.0,
    mean_field_damping: float = 0.0,
) -> LearningRule:
    r""":func:`dbm_pcd` whose persistent chains are parallel-tempering chains.

    Alias of ``pcd(dbm_estimator(...), tempered_chains(n_chains, inverse_temperatures, k,
    swap=swap))``.

    Every chain holds ``K`` replicas of :math:`(v, h^1, h^2)` on the ladder
    ``inverse_temperatures``, moved by the DBM's block-Gibbs sweep at
    :math:`\beta\theta` with swaps between neighbours
    (:func:`~numpyro_ebm.kernels.parallel_tempering.dbm_tempering`, the
    library's parallel tempering); the :math:`\beta = 1` replicas are the
    persistent chains, and their statistics at the start of their last sweep
    (after the swaps) are the negatives, as in :func:`dbm_pcd`. The state is
    :class:`~numpyro_ebm.learning.negative_phases.PTPCDState` (the ladder lives in it and
    can be retuned without recompiling), ``info.sampler_info`` the step's
    :class:`~numpyro_ebm.kernels.parallel_tempering.PTInfo`, from which
    :func:`~numpyro_ebm.learning.fit.fit` records ``swap_rate`` and ``round_trips``.
    A step costs ``K`` sweeps and ``K`` joint energies per chain.

    Parameters
    ----------
    n_chains
        Persistent PT chains.
    inverse_temperatures
        The ladder, shape ``(K,)``, non-decreasing, last entry 1.
    k
        PT steps (swaps, then a sweep of every replica) per update.
    swap
        ``"deo"`` (default), ``"seo"`` or ``"random_pair"``.
    mean_field_iterations, mean_field_tolerance, mean_field_damping
        As for :func:`dbm_estimator`.
    """
    estimator = dbm_estimator(
        mean_field_iterations,
        mean_field_tolerance=mean_field_tolerance,
        mean_field_damping=mean_field_damping,
    )
    return pcd(estimator, tempered_chains(n_chains, inverse_temperatures, k, swap=swap))


def dbm_pt_fpcd(
    n_chains: int,
    inverse_temperatures,
    k: int = 1,
    mean_field_iterations: int = 10,
    *,
    fast_learning_rate: float = 0.02,
    fast_decay: float = 19.0 / 20.0,
    swap: str = "deo",
    mean_field_tolerance: float = 0.0,
    mean_field_damping: float = 0.0,
) -> LearningRule:
    r""":func:`dbm_pt_pcd` with fast weights (alias of ``pcd(dbm_estimator(...),
    fast_weights(tempered_chains(...), ...))``): every replica runs at the tempered
    :math:`\beta(\theta + \theta_\text{fast})` (see :func:`dbm_fpcd`). The state is
    :class:`~numpyro_ebm.learning.negative_phases.PTFPCDState`.

    Parameters
    ----------
    n_chains, inverse_temperatures, k, swap
        As for :func:`dbm_pt_pcd`.
    fast_learning_rate, fast_decay
        As for :func:`dbm_fpcd`.
    mean_field_iterations, mean_field_tolerance, mean_field_damping
        As for :func:`dbm_estimator`.
    """
    estimator = dbm_estimator(
        mean_field_iterations,
        mean_field_tolerance=mean_field_tolerance,
        mean_field_damping=mean_field_damping,
    )
    phase = tempered_chains(n_chains, inverse_temperatures, k, swap=swap)
    return pcd(estimator, fast_weights(phase, fast_learning_rate, fast_decay))
