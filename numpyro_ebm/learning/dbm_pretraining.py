r"""Greedy layer-wise pretraining of a two-layer DBM (Salakhutdinov & Hinton 2009, section 3.1).

Two RBMs with tied copies of their units (:func:`~numpyro_ebm.learning.dbn.copies_rbm_pcd`)
trained by :func:`~numpyro_ebm.learning.fit.fit`, composed into a DBM
(:func:`compose_pretrained`). Kept apart from the rule (:mod:`~numpyro_ebm.learning.dbm_rules`)
so that the rule does not import the training loop.

References
----------
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.learning.dbn import copies_rbm_pcd
from numpyro_ebm.learning.fit import fit
from numpyro_ebm.learning.stacking import base_rate_bias, check_activities, is_sequence
from numpyro_ebm.learning.stacking import hidden_activities as layer_activities

__all__ = ["PretrainResult", "compose_pretrained", "greedy_pretrain"]


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
