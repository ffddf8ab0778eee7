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

:func:`dbm_pcd` is this rule in the project's
:class:`~numpyro_ebm.learning.contrastive_divergence.LearningRule` contract, so
:func:`~numpyro_ebm.learning.fit.fit` trains a DBM like any other model.
:func:`greedy_pretrain` initialises it by greedy layer-wise pretraining with the
paper's modified RBMs (section 3.1).

References
----------
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.kernels import dbm_gibbs
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.chains import check_steps, sweeps
from numpyro_ebm.learning.contrastive_divergence import (
    PCDState,
)
from numpyro_ebm.learning.dbn import (
    _base_rate_bias,
    _bernoulli_sample,
    _check_activities,
    _hidden_activities,
    _is_sequence,
    copies_rbm_pcd,
)
from numpyro_ebm.learning.fit import fit

__all__ = ["dbm_gradient", "dbm_pcd", "PretrainResult", "compose_pretrained", "greedy_pretrain"]


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


def dbm_pcd(n_chains: int, k: int = 1, mean_field_iterations: int = 10) -> LearningRule:
    r"""The DBM learning rule of Salakhutdinov & Hinton (2009): mean-field data term, PCD model term.

    Parameters
    ----------
    n_chains
        Persistent chains ("fantasy particles"; the paper uses 100).
    k
        Block-Gibbs sweeps of every chain per parameter update.
    mean_field_iterations
        Fixed-point iterations for the batch's posterior, started from the
        bottom-up pass :func:`~numpyro_ebm.energies.dbm.mean_field_init`.

    Notes
    -----
    ``init(rng_key, params, data)`` starts the chains at random training vectors
    with hidden layers drawn from the bottom-up probabilities.
    ``step(rng_key, state, params, batch) -> (grads, state, info)``: ``grads``
    (a :class:`~numpyro_ebm.energies.dbm.DBMParams`) estimates minus the gradient
    of the variational bound, for any Optax optimizer to minimise. The negative
    statistics use the chains' :math:`(\tilde v, \tilde h^2)` at the start of
    their last sweep with :math:`p(h^1 \mid \tilde v, \tilde h^2)` computed by that
    sweep (Rao-Blackwellised, at no extra cost). ``info.positive_energy`` is the
    mean of :math:`\mathbb{E}_q[E]` on the batch, ``info.negative_energy`` that of
    :math:`E(\tilde v, p(h^1 \mid \cdot), \tilde h^2)` on the chains.
    ``info.negative_energies`` holds each chain's free energy with :math:`h^1`
    summed out, :func:`~numpyro_ebm.energies.dbm.outer_free_energy` of
    :math:`(\tilde v, \tilde h^2)` (from the sweep's :math:`h^1` pre-activations,
    no extra matmul), for the chain diagnostics of
    :func:`~numpyro_ebm.learning.fit.fit`.
    """
    check_steps(k)
    if n_chains < 1:
        raise ValueError(f"n_chains must be positive; got {n_chains}")
    if not isinstance(mean_field_iterations, int) or mean_field_iterations < 0:
        raise ValueError(
            f"mean_field_iterations must be a non-negative int; got {mean_field_iterations!r}"
        )
    kernel = dbm_gibbs.build_kernel()

    def init(rng_key, params, data):
        if data is None:
            raise ValueError(
                "persistent chains are initialised from the training data; pass data to init"
            )
        data = dbm.validate_visible(params, data, "data")
        key_rows, key1, key2 = jax.random.split(rng_key, 3)
        visible = data[jax.random.randint(key_rows, (n_chains,), 0, data.shape[0])]
        q = dbm.mean_field_init(params, visible)
        hidden1 = _bernoulli_sample(key1, q.hidden1.astype(visible.dtype))
        hidden2 = _bernoulli_sample(key2, q.hidden2.astype(visible.dtype))
        return PCDState(dbm_gibbs.DBMGibbsState(visible, hidden1, hidden2))

    def step(rng_key, state: PCDState, params, batch):
        before, chains, info = sweeps(kernel, rng_key, state.chains, params, k)
        negative_visible, negative_hidden2 = before.visible, before.hidden2
        positive = dbm.mean_field(params, batch, mean_field_iterations)
        grads = dbm_gradient(
            params, batch, positive, negative_visible, info.hidden1_probs, negative_hidden2
        )
        positive_energy = jnp.mean(dbm.joint_energy(params, batch, *positive))
        negative_energy = jnp.mean(
            dbm.joint_energy(params, negative_visible, info.hidden1_probs, negative_hidden2)
        )
        # each chain's free energy F(v, h2) (h1 summed out) from the sweep's h1 pre-activations
        negative_energies = (
            -(negative_visible @ params.b)
            - (negative_hidden2 @ params.c2)
            - jnp.sum(jax.nn.softplus(info.hidden1_logits), axis=-1)
        )
        info = ContrastiveInfo(positive_energy, negative_energy, info, negative_energies)
        return grads, PCDState(chains), info

    return LearningRule(init, step, _checks.validate_binary_data)


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
    if _is_sequence(value):
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
    _check_activities(hidden_activities)
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
        params = params._replace(b=_base_rate_bias(layer_data))
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
            layer_data = _hidden_activities(
                key_up, result.params, data, hidden_activities, input_scale=2.0
            )
    bottom, top = trained
    return PretrainResult(compose_pretrained(bottom, top), bottom, top, tuple(histories))
