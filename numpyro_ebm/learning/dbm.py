r"""Learning a two-layer deep Boltzmann machine (Salakhutdinov & Hinton 2009).

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

The rules, all in the project's
:class:`~numpyro_ebm.learning.base.LearningRule` contract, so that
:func:`~numpyro_ebm.learning.fit.fit` trains a DBM like any other model:

- :func:`dbm_pcd`: the paper's rule;
- :func:`dbm_fpcd`: the chains sample :math:`\theta + \theta_\text{fast}`, fast
  weights as in FPCD (Tieleman & Hinton 2009);
- :func:`dbm_pt_pcd` and :func:`dbm_pt_fpcd`: every persistent chain is the
  :math:`\beta = 1` replica of a parallel-tempering chain
  (:func:`~numpyro_ebm.kernels.parallel_tempering.dbm_tempering`; Desjardins et
  al. 2010), with the state of :mod:`~numpyro_ebm.learning.tempered`;
- :func:`centered_dbm` wraps any of them into the centered DBM (Montavon &
  Müller 2012; Melchior, Fischer & Wiskott 2016).

Every rule's positive phase can stop its mean-field iterations at convergence
(``mean_field_tolerance``) and damp them (``mean_field_damping``,
:func:`~numpyro_ebm.energies.dbm.mean_field_fixed_point`); the info
(:class:`DBMInfo`) reports the iterations used, which
:func:`~numpyro_ebm.learning.fit.fit` records as ``mean_field_iterations``.
:func:`greedy_pretrain` initialises a DBM by greedy layer-wise pretraining with
the paper's modified RBMs (section 3.1).

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
Montavon, G. & Müller, K.-R. (2012). Deep Boltzmann machines and the centering
trick. In *Neural Networks: Tricks of the Trade*, 2nd ed., LNCS 7700.
Melchior, J., Fischer, A. & Wiskott, L. (2016). How to center deep Boltzmann
machines. *JMLR* 17(99).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.kernels import dbm_gibbs
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.learning._stacking import (
    base_rate_bias,
    bernoulli_sample,
    check_activities,
    is_sequence,
)
from numpyro_ebm.learning._stacking import hidden_activities as layer_activities
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.chains import (
    check_fast_weights,
    check_ladder,
    check_steps,
    sweeps,
    tempered_steps,
)
from numpyro_ebm.learning.contrastive_divergence import FPCDState, PCDState
from numpyro_ebm.learning.dbn import copies_rbm_pcd
from numpyro_ebm.learning.fit import fit
from numpyro_ebm.learning.tempered import PTFPCDState, PTPCDState

__all__ = [
    "dbm_gradient",
    "DBMNegatives",
    "DBMInfo",
    "dbm_pcd",
    "dbm_fpcd",
    "dbm_pt_pcd",
    "dbm_pt_fpcd",
    "CenteredDBMState",
    "centered_dbm_gradient",
    "centered_dbm",
    "OFFSET_SOURCES",
    "PretrainResult",
    "compose_pretrained",
    "greedy_pretrain",
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


def _check_rule_arguments(n_chains, mean_field_iterations, tolerance, damping):
    if not isinstance(n_chains, int) or n_chains < 1:
        raise ValueError(f"n_chains must be positive; got {n_chains}")
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


class _NegativePhase(NamedTuple):
    """``init(rng_key, params, data) -> fields`` (the state's leading fields) and
    ``run(rng_key, fields, chain_params) -> (DBMNegatives, fields, sampler_info)``;
    ``state(fields, fast)`` builds the rule state."""

    init: Any
    run: Any
    state: Any
    n_fields: int


def _gibbs_phase(n_chains: int, k: int) -> _NegativePhase:
    kernel = dbm_gibbs.build_kernel()

    def init(rng_key, params, data):
        return (_start_positions(rng_key, params, data, n_chains),)

    def run(rng_key, fields, chain_params):
        before, chains, info = sweeps(kernel, rng_key, fields[0], chain_params, k)
        negatives = DBMNegatives(
            before.visible, info.hidden1_probs, info.hidden1_logits, before.hidden2
        )
        return negatives, (chains,), info

    def state(fields, fast):
        return PCDState(*fields) if fast is None else FPCDState(*fields, fast)

    return _NegativePhase(init, run, state, 1)


def _tempered_phase(n_chains: int, k: int, inverse_temperatures, swap: str) -> _NegativePhase:
    pt.check_swap(swap)
    ladder = check_ladder(inverse_temperatures)
    init_pt, run_pt = tempered_steps(pt.dbm_tempering(), swap, vmap_chains=False)

    def init(rng_key, params, data):
        start = _start_positions(rng_key, params, data, n_chains)
        betas = ladder.astype(start.visible.dtype)
        replicas = jax.tree.map(lambda x: jnp.stack([x] * ladder.shape[0]), start)
        return init_pt(replicas, params, betas), betas

    def run(rng_key, fields, chain_params):
        chains, betas = fields
        before, chains, info = run_pt(rng_key, chains, chain_params, betas, k)
        # a step swaps, then sweeps: the beta = 1 sweep started from the swapped state
        start = pt.target_replica(pt.apply_swaps(before.replicas, info.is_swapped))
        sweep = pt.target_replica(info.replica_info)
        negatives = DBMNegatives(
            start.visible, sweep.hidden1_probs, sweep.hidden1_logits, start.hidden2
        )
        return negatives, (chains, betas), info

    def state(fields, fast):
        return PTPCDState(*fields) if fast is None else PTFPCDState(*fields, fast)

    return _NegativePhase(init, run, state, 2)


def _dbm_rule(
    phase: _NegativePhase,
    mean_field_iterations: int,
    tolerance: float,
    damping: float,
    fast: tuple[float, float] | None,
) -> LearningRule:
    """The DBM rule: mean-field data term, ``phase``'s chains (at θ + θ_fast when ``fast``)."""

    def init(rng_key, params, data):
        fields = phase.init(rng_key, params, data)
        return phase.state(fields, None if fast is None else jax.tree.map(jnp.zeros_like, params))

    def step(rng_key, state, params, batch):
        fields = tuple(state)[: phase.n_fields]
        fast_params = None if fast is None else state.fast_params
        chain_params = params if fast is None else jax.tree.map(jnp.add, params, fast_params)
        negatives, fields, sampler_info = phase.run(rng_key, fields, chain_params)
        result = dbm.mean_field_fixed_point(
            params,
            batch,
            max_iterations=mean_field_iterations,
            tolerance=tolerance,
            damping=damping,
        )
        positive = result.means
        grads = dbm_gradient(
            params, batch, positive, negatives.visible, negatives.hidden1, negatives.hidden2
        )
        if fast is not None:
            rate, decay = (jnp.asarray(x, params.W1.dtype) for x in fast)
            fast_params = jax.tree.map(lambda f, g: decay * f - rate * g, fast_params, grads)
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
        return grads, phase.state(fields, fast_params), info

    return LearningRule(init, step, _checks.validate_binary_data)


def dbm_pcd(
    n_chains: int,
    k: int = 1,
    mean_field_iterations: int = 10,
    *,
    mean_field_tolerance: float = 0.0,
    mean_field_damping: float = 0.0,
) -> LearningRule:
    r"""The DBM learning rule of Salakhutdinov & Hinton (2009): mean-field data term, PCD model term.

    Parameters
    ----------
    n_chains
        Persistent chains ("fantasy particles"; the paper uses 100).
    k
        Block-Gibbs sweeps of every chain per parameter update.
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
    check_steps(k)
    _check_rule_arguments(n_chains, mean_field_iterations, mean_field_tolerance, mean_field_damping)
    return _dbm_rule(
        _gibbs_phase(n_chains, k),
        mean_field_iterations,
        mean_field_tolerance,
        mean_field_damping,
        None,
    )


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

    The persistent chains sample the DBM with parameters
    :math:`\theta + \theta_\text{fast}`; the fast parameters follow the same
    gradient with their own learning rate and shrink every step,
    :math:`\theta_\text{fast} \leftarrow \text{fast\_decay}\,\theta_\text{fast}
    - \text{fast\_learning\_rate}\cdot g`, raising the energy where the chains
    have just been so that they leave modes faster. The negative statistics (and
    ``info.negative_energies``) are those of the chains' model
    :math:`\theta + \theta_\text{fast}`, as in
    :func:`~numpyro_ebm.learning.rbm.bernoulli_rbm_fpcd`. With
    ``fast_learning_rate=0`` the fast weights stay zero and the rule is
    :func:`dbm_pcd` draw for draw. The state is
    :class:`~numpyro_ebm.learning.contrastive_divergence.FPCDState`.

    Parameters
    ----------
    n_chains, k
        As for :func:`dbm_pcd`.
    fast_learning_rate, fast_decay
        The fast weights' step size and their decay per step, in ``[0, 1)``.
    mean_field_iterations, mean_field_tolerance, mean_field_damping
        As for :func:`dbm_pcd`.
    """
    check_steps(k)
    _check_rule_arguments(n_chains, mean_field_iterations, mean_field_tolerance, mean_field_damping)
    check_fast_weights(fast_learning_rate, fast_decay)
    return _dbm_rule(
        _gibbs_phase(n_chains, k),
        mean_field_iterations,
        mean_field_tolerance,
        mean_field_damping,
        (fast_learning_rate, fast_decay),
    )


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

    Every chain holds ``K`` replicas of :math:`(v, h^1, h^2)` on the ladder
    ``inverse_temperatures``, moved by the DBM's block-Gibbs sweep at
    :math:`\beta\theta` with swaps between neighbours
    (:func:`~numpyro_ebm.kernels.parallel_tempering.dbm_tempering`, the
    library's parallel tempering); the :math:`\beta = 1` replicas are the
    persistent chains, and their statistics at the start of their last sweep
    (after the swaps) are the negatives, as in :func:`dbm_pcd`. The state is
    :class:`~numpyro_ebm.learning.tempered.PTPCDState` (the ladder lives in it and
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
        As for :func:`dbm_pcd`.
    """
    check_steps(k)
    _check_rule_arguments(n_chains, mean_field_iterations, mean_field_tolerance, mean_field_damping)
    return _dbm_rule(
        _tempered_phase(n_chains, k, inverse_temperatures, swap),
        mean_field_iterations,
        mean_field_tolerance,
        mean_field_damping,
        None,
    )


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
    r""":func:`dbm_pt_pcd` with fast weights: every replica runs at the tempered
    :math:`\beta(\theta + \theta_\text{fast})` (see :func:`dbm_fpcd`). The state is
    :class:`~numpyro_ebm.learning.tempered.PTFPCDState`.

    Parameters
    ----------
    n_chains, inverse_temperatures, k, swap
        As for :func:`dbm_pt_pcd`.
    fast_learning_rate, fast_decay
        As for :func:`dbm_fpcd`.
    mean_field_iterations, mean_field_tolerance, mean_field_damping
        As for :func:`dbm_pcd`.
    """
    check_steps(k)
    _check_rule_arguments(n_chains, mean_field_iterations, mean_field_tolerance, mean_field_damping)
    check_fast_weights(fast_learning_rate, fast_decay)
    return _dbm_rule(
        _tempered_phase(n_chains, k, inverse_temperatures, swap),
        mean_field_iterations,
        mean_field_tolerance,
        mean_field_damping,
        (fast_learning_rate, fast_decay),
    )


OFFSET_SOURCES = ("data", "model", "average")


class CenteredDBMState(NamedTuple):
    """The wrapped rule's state and the offsets :class:`~numpyro_ebm.energies.dbm.DBMOffsets`."""

    inner: Any
    offsets: dbm.DBMOffsets


def centered_dbm_gradient(grads: dbm.DBMParams, offsets: dbm.DBMOffsets) -> dbm.DBMParams:
    r"""The centered DBM's gradient (Melchior et al. 2016, eq. 15-19), expressed in the ordinary parameters.

    With :math:`\theta = \mathrm{from\_centered}(\theta_c, \text{offsets})` (affine
    for fixed offsets, :func:`~numpyro_ebm.energies.dbm.from_centered`), the
    gradient in the centered coordinates is the chain rule applied to the
    ordinary one :math:`G`:

    .. math::

        G_{W_1,c} = G_{W_1} - \mu\, G_{c_1}^\top - G_b\, \lambda^{1\top}, \qquad
        G_{W_2,c} = G_{W_2} - \lambda^1 G_{c_2}^\top - G_{c_1} \lambda^{2\top},

    the biases' unchanged (covariances of the centered layers in place of raw
    correlations). A step along it in the centered coordinates is, in the
    ordinary ones, the step :math:`(G_{W_1,c}, G_{W_2,c}, G_b - G_{W_1,c}\lambda^1,
    G_{c_1} - G_{W_1,c}^\top\mu - G_{W_2,c}\lambda^2, G_{c_2} - G_{W_2,c}^\top\lambda^1)`
    returned here, so any linear optimiser applied to it is the centered algorithm.
    At zero offsets it is ``grads`` itself.
    """
    mu, lam1, lam2 = offsets
    grad_W1 = grads.W1 - jnp.outer(mu, grads.c1) - jnp.outer(grads.b, lam1)
    grad_W2 = grads.W2 - jnp.outer(lam1, grads.c2) - jnp.outer(grads.c1, lam2)
    return dbm.DBMParams(
        grad_W1,
        grad_W2,
        grads.b - grad_W1 @ lam1,
        grads.c1 - mu @ grad_W1 - grad_W2 @ lam2,
        grads.c2 - lam1 @ grad_W2,
    )


def centered_dbm(
    rule: LearningRule,
    offset_rate: float = 0.01,
    *,
    weight_decay: float = 0.0,
    hidden_offsets: str = "data",
    init_rows: int = 1000,
    init_mean_field_iterations: int = 10,
) -> LearningRule:
    r"""The centered DBM (Montavon & Müller 2012; Melchior, Fischer & Wiskott 2016) around a DBM rule.

    Every layer gets an offset, :math:`\mu` for :math:`v`, :math:`\lambda^1`,
    :math:`\lambda^2` for the hidden layers, and the gradient of the wrapped rule
    (:func:`dbm_pcd`, :func:`dbm_fpcd`, :func:`dbm_pt_pcd`, :func:`dbm_pt_fpcd`) is
    replaced by the centered one (:func:`centered_dbm_gradient`). The parameters
    stay the ordinary :class:`~numpyro_ebm.energies.dbm.DBMParams` (the model the
    offsets re-express is unchanged when they move, see
    :func:`~numpyro_ebm.energies.dbm.to_centered`), so evaluation, sampling and
    checkpoints are those of any DBM. Centering makes the gradient invariant to
    flipping units and much better conditioned; Melchior et al. find it trains
    DBMs without pretraining and to higher likelihoods.

    The offsets start at the data mean (:math:`\mu`) and at the mean-field means
    of the hidden layers on up to ``init_rows`` random training rows, and follow
    exponential running means with rate ``offset_rate`` (the paper's sliding
    factor :math:`\nu`): :math:`\mu` of the batch mean, :math:`\lambda^l` of the
    mean over the batch of

    - ``hidden_offsets="data"`` (default): the mean-field means :math:`\mu^l` of
      the batch (the data mean of the hidden units, the paper's recommended
      :math:`d` variant);
    - ``"model"``: the chains' statistics (:math:`p(h^1 \mid \tilde v, \tilde h^2)` and
      :math:`\tilde h^2`);
    - ``"average"``: the average of the two (the paper's :math:`a`).

    No extra matmul: the wrapped rule's :class:`DBMInfo` holds both.

    ``weight_decay`` is an L2 penalty :math:`\tfrac{\lambda}{2}(\|W_1\|^2 +
    \|W_2\|^2)` in centered coordinates (added to the weight gradients before the
    transformation, the centered biases held fixed), as in
    :func:`~numpyro_ebm.learning.rbm.centered`; an Optax weight decay chained
    after the rule would shrink the weights with the *ordinary* biases fixed.
    With FPCD, the fast weights follow the wrapped rule's (uncentered) gradient.
    """
    if not 0.0 <= offset_rate <= 1.0:
        raise ValueError(f"offset_rate must lie in [0, 1]; got {offset_rate}")
    if not weight_decay >= 0.0:
        raise ValueError(f"weight_decay must be non-negative; got {weight_decay}")
    if hidden_offsets not in OFFSET_SOURCES:
        raise ValueError(f"hidden_offsets must be one of {OFFSET_SOURCES}; got {hidden_offsets!r}")
    if not isinstance(init_rows, int) or init_rows < 1:
        raise ValueError(f"init_rows must be a positive int; got {init_rows!r}")

    def init(rng_key, params, data=None):
        if data is None:
            raise ValueError("the centered rule needs the training data to set its offsets")
        data = jnp.asarray(data, params.W1.dtype)
        key_rows, key_inner = jax.random.split(rng_key)
        rows = data
        if data.shape[0] > init_rows:
            rows = data[jax.random.choice(key_rows, data.shape[0], (init_rows,), replace=False)]
        q = dbm.mean_field(params, rows, init_mean_field_iterations)
        offsets = dbm.DBMOffsets(
            jnp.mean(data, axis=0), jnp.mean(q.hidden1, axis=0), jnp.mean(q.hidden2, axis=0)
        )
        return CenteredDBMState(rule.init(key_inner, params, data), offsets)

    def step(rng_key, state: CenteredDBMState, params, batch):
        grads, inner, info = rule.step(rng_key, state.inner, params, batch)
        if not isinstance(info, DBMInfo):
            raise TypeError(
                f"centered_dbm wraps a DBM rule whose info is a DBMInfo; got {type(info).__name__}"
            )
        if weight_decay:
            decay = jnp.asarray(weight_decay, params.W1.dtype)
            grads = grads._replace(W1=grads.W1 + decay * params.W1, W2=grads.W2 + decay * params.W2)
        offsets = state.offsets
        grads = centered_dbm_gradient(grads, offsets)
        data_means = (jnp.mean(info.mean_field.hidden1, 0), jnp.mean(info.mean_field.hidden2, 0))
        model_means = (jnp.mean(info.negatives.hidden1, 0), jnp.mean(info.negatives.hidden2, 0))
        if hidden_offsets == "data":
            targets = data_means
        elif hidden_offsets == "model":
            targets = model_means
        else:
            targets = tuple(0.5 * (d + m) for d, m in zip(data_means, model_means, strict=True))
        rate = jnp.asarray(offset_rate, params.W1.dtype)
        new = dbm.DBMOffsets(
            *(
                (1 - rate) * old + rate * target
                for old, target in zip(offsets, (jnp.mean(batch, axis=0), *targets), strict=True)
            )
        )
        return grads, CenteredDBMState(inner, new), info

    return LearningRule(init, step, rule.validate_data)


class PretrainResult(NamedTuple):
    """What :func:`greedy_pretrain` returns.

    params
        The composed DBM (:func:`compose_pretrained`).
    bottom, top
        The two pretrained RBMs (``bottom`` trained with two tied copies of the
        visible units, ``top`` with two tied copies of its hidden units).
    histories
        The :func:`~numpyro_ebm.learning.fit.fit` histories of the two RBMs.
    """

    params: dbm.DBMParams
    bottom: bernoulli_rbm.BernoulliRBMParams
    top: bernoulli_rbm.BernoulliRBMParams
    histories: tuple[dict, dict]


def compose_pretrained(
    bottom: bernoulli_rbm.BernoulliRBMParams, top: bernoulli_rbm.BernoulliRBMParams
) -> dbm.DBMParams:
    r"""A DBM from the two modified RBMs of greedy pretraining (Salakhutdinov & Hinton 2009, section 3.1).

    The weights are used as trained: :math:`W_1` = ``bottom.W``, :math:`W_2` = ``top.W``.
    The bottom RBM's :math:`p(h^1 \mid v) = \sigma(c' + 2 v^\top W_1)` and the
    top RBM's :math:`p(h^1 \mid h^2) = \sigma(b'' + 2 W_2 h^2)` each double one
    source of input to :math:`h^1`; the DBM's conditional
    :math:`\sigma(c_1 + v^\top W_1 + W_2 h^2)` is the average of the two logits
    when :math:`c_1 = (c' + b'')/2`, which is the choice made here (the paper does
    not state how the two sets of :math:`h^1` biases are combined).
    :math:`b` = ``bottom.b`` and :math:`c_2` = ``top.c``.
    """
    if bottom.W.shape[1] != top.W.shape[0]:
        raise ValueError(
            f"the bottom RBM has {bottom.W.shape[1]} hidden units but the top RBM has "
            f"{top.W.shape[0]} visible units; they must be the same layer h1"
        )
    return dbm.DBMParams(bottom.W, top.W, bottom.b, 0.5 * (bottom.c + top.b), top.c)


def _pair(value, name):
    if is_sequence(value):
        if len(value) != 2:
            raise ValueError(f"{name} needs one value per RBM (two); got {len(value)}")
        return tuple(value)
    return (value, value)


def greedy_pretrain(
    rng_key: PRNGKeyArray,
    data: Float[Array, "n visible"],
    n_hidden1: int,
    n_hidden2: int,
    optimizer,
    *,
    epochs: int | Sequence[int],
    batch_size: int,
    n_chains: int = 100,
    k: int | Sequence[int] = 1,
    hidden_activities: str = "probabilities",
    weight_scale: float = 0.01,
    progress: bool = False,
    log=None,
) -> PretrainResult:
    r"""Greedy layer-wise pretraining of a two-layer DBM (Salakhutdinov & Hinton 2009, section 3.1).

    1. The bottom RBM (:math:`v`, :math:`h^1`) is trained with two tied copies of
       the visible units, so that :math:`p(h^1 \mid v) = \sigma(c' + 2 v^\top W_1)`
       and :math:`p(v \mid h^1) = \sigma(b + W_1 h^1)`.
    2. The top RBM (:math:`h^1`, :math:`h^2`) is trained on the bottom RBM's
       hidden activities :math:`\sigma(c' + 2 v^\top W_1)` of the data
       (probabilities, or binary draws with ``hidden_activities="samples"``)
       with two tied copies of its hidden units, so that
       :math:`p(h^1 \mid h^2) = \sigma(b'' + 2 W_2 h^2)` and
       :math:`p(h^2 \mid h^1) = \sigma(c_2 + h^{1\top} W_2)`.
    3. :func:`compose_pretrained` puts the weights together without halving: in
       the DBM, :math:`h^1` receives input from both neighbours, each replacing the
       doubled input of one RBM.

    Both RBMs are trained by PCD with :func:`~numpyro_ebm.learning.dbn.copies_rbm_pcd`
    and :func:`~numpyro_ebm.learning.fit.fit`. (The paper's own code uses CD with
    a growing number of steps for the RBMs; PCD is this library's default rule.)

    Parameters
    ----------
    rng_key
        PRNG key.
    data
        Binary training data, shape ``(n, D)``.
    n_hidden1, n_hidden2
        Layer sizes.
    optimizer
        An Optax optimizer, or a pair (bottom, top).
    epochs, k
        Epochs and Gibbs sweeps per update, for both RBMs or as a pair.
    batch_size, n_chains
        Minibatch size and number of persistent chains.
    hidden_activities
        Training data of the top RBM: ``"probabilities"`` (default) or ``"samples"``.
    weight_scale
        Standard deviation of the initial weights; visible biases start at the
        base rates of each RBM's training data.
    progress, log
        Passed to :func:`~numpyro_ebm.learning.fit.fit`.
    """
    check_activities(hidden_activities)
    data = _checks.check_array(data, "data", ndim_min=2)
    _checks.check_binary(data, "data")
    optimizers, epochs_pair, k_pair = (
        _pair(optimizer, "optimizer"),
        _pair(epochs, "epochs"),
        _pair(k, "k"),
    )
    rules = (
        copies_rbm_pcd(n_chains, k_pair[0], visible_copies=2),
        copies_rbm_pcd(n_chains, k_pair[1], hidden_copies=2),
    )
    key_bottom, key_top, key_up = jax.random.split(rng_key, 3)
    trained, histories, layer_data = [], [], data
    for index, (key, n_in, n_out) in enumerate(
        ((key_bottom, data.shape[1], n_hidden1), (key_top, n_hidden1, n_hidden2))
    ):
        key_init, key_fit = jax.random.split(key)
        params = bernoulli_rbm.init_params(
            key_init, n_in, n_out, weight_scale=weight_scale, dtype=data.dtype
        )
        params = params._replace(b=base_rate_bias(layer_data))
        result = fit(
            key_fit,
            params,
            layer_data,
            rules[index],
            optimizers[index],
            epochs=epochs_pair[index],
            batch_size=batch_size,
            progress=progress,
            log=log,
            config={"dbm_pretraining": ("bottom", "top")[index], "n_hidden": n_out},
        )
        trained.append(result.params)
        histories.append(result.history)
        if index == 0:
            layer_data = layer_activities(
                key_up, result.params, data, hidden_activities, input_scale=2.0
            )
    bottom, top = trained
    return PretrainResult(compose_pretrained(bottom, top), bottom, top, tuple(histories))
