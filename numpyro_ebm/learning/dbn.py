r"""Deep belief networks: greedy layer-wise training of a stack of RBMs.

A DBN with layers :math:`v = h^0, h^1, \dots, h^L` is the directed model

.. math::

    p(v, h^1, \dots, h^L) = p(h^{L-1}, h^L) \prod_{l=1}^{L-1} p(h^{l-1} \mid h^l),
    \qquad p(h^{l-1}_i = 1 \mid h^l) = \sigma(b^{(l)}_i + W^{(l)}_{i:} h^l),

whose top two layers form an RBM (Hinton, Osindero & Teh 2006). Greedy
layer-wise training fits an RBM to the data, then another RBM to the first
one's hidden activities, and so on. Hinton et al. show that an added layer
cannot lower a variational bound on :math:`\log p(v)` when it starts at the
transpose of the layer below; here each RBM starts at small random weights, as
is usual in practice, so that guarantee does not strictly apply.
:func:`numpyro_ebm.evaluation.deep.dbn_variational_bound` estimates the bound for
a two-layer DBN. The weights are kept tied: the recognition weights used by
:func:`up_pass` are the generative weights transposed (no up-down fine-tuning).

- :func:`greedy_layerwise` trains the stack with :func:`~numpyro_ebm.learning.fit.fit`
  and any Bernoulli-RBM learning rule, from scratch or on top of given trained layers;
- :func:`up_pass` computes features (the hidden probabilities layer by layer);
- :func:`generate` runs block Gibbs in the top RBM and then a directed pass down.

:func:`tied_copies_estimator` is the closed-form gradient of an RBM whose visible or
hidden units come in tied copies (:func:`copies_rbm_pcd`, its PCD rule, is a thin
alias of the composition), used by the greedy pretraining of deep Boltzmann
machines (:mod:`numpyro_ebm.learning.dbm`); with one copy of each it is plain
PCD that also accepts probabilities as training data.

References
----------
Hinton, G. E., Osindero, S. & Teh, Y.-W. (2006). A fast learning algorithm for
deep belief nets. *Neural Computation* 18(7).
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.energies.dbn import DBNParams, copies_free_energy
from numpyro_ebm.kernels import bernoulli_from_logits, rbm_gibbs
from numpyro_ebm.kernels.up_pass import up_pass
from numpyro_ebm.learning.base import ContrastiveInfo, LearningRule
from numpyro_ebm.learning.composition import GradientEstimator, pcd
from numpyro_ebm.learning.fit import fit
from numpyro_ebm.learning.negative_phases import (
    ChainModel,
    NegativeSample,
    PCDState,
    persistent_chains,
)
from numpyro_ebm.learning.stacking import base_rate_bias as _base_rate_bias
from numpyro_ebm.learning.stacking import bernoulli_sample as _bernoulli_sample
from numpyro_ebm.learning.stacking import check_activities as _check_activities
from numpyro_ebm.learning.stacking import hidden_activities as _hidden_activities
from numpyro_ebm.learning.stacking import is_sequence as _is_sequence

__all__ = [
    "DBNParams",
    "DBNFitResult",
    "DBNSamples",
    "CopiesChains",
    "CopiesPCDState",
    "copies_free_energy",
    "copies_rbm_gradient",
    "tied_copies_estimator",
    "copies_rbm_pcd",
    "greedy_layerwise",
    "up_pass",
    "generate",
]


# --------------------------------------------------------------------------------------
# RBMs with tied copies of their units
# --------------------------------------------------------------------------------------


class CopiesChains(NamedTuple):
    """Persistent chains of an RBM with tied copies: unit *counts*, summed over copies.

    visible
        :math:`\\sum_r v^{(r)}`, values in ``{0, ..., visible_copies}``, shape ``(n_chains, D)``.
    hidden
        :math:`\\sum_s h^{(s)}`, values in ``{0, ..., hidden_copies}``, shape ``(n_chains, K)``.
    """

    visible: Float[Array, "chains visible"]
    hidden: Float[Array, "chains hidden"]


CopiesPCDState = PCDState
"""State of :func:`copies_rbm_pcd`: the persistent chains, a
:class:`~numpyro_ebm.learning.negative_phases.PCDState` (the old name is kept)."""


def _copies_free_energy_from_logits(params, visible_counts, logits, hidden_copies: int):
    """:func:`copies_free_energy` given the hidden pre-activations ``logits`` of ``visible_counts``."""
    return -(visible_counts @ params.b) - hidden_copies * jnp.sum(jax.nn.softplus(logits), axis=-1)


def copies_rbm_gradient(params, visible_counts, hidden_means, neg_visible_counts, neg_hidden_means):
    r"""Gradient of :math:`\overline{F(n_\text{data})} - \overline{F(n_\text{neg})}` (tied parameters).

    ``hidden_means`` are :math:`E[\sum_s h^{(s)} \mid n] = s\,\sigma(c + n^\top W)` for
    the data and the negatives. The tied weight's gradient is the sum over all
    copy pairs, i.e. the outer product of the counts.
    """
    n_pos, n_neg = visible_counts.shape[0], neg_visible_counts.shape[0]
    grad_W = (neg_visible_counts.T @ neg_hidden_means) / n_neg - (
        visible_counts.T @ hidden_means
    ) / n_pos
    grad_b = jnp.mean(neg_visible_counts, axis=0) - jnp.mean(visible_counts, axis=0)
    grad_c = jnp.mean(neg_hidden_means, axis=0) - jnp.mean(hidden_means, axis=0)
    return bernoulli_rbm.BernoulliRBMParams(grad_W, grad_b, grad_c)


def _binomial_from_logits(rng_key, logits, copies: int, dtype):
    """Sum of ``copies`` independent Bernoulli draws (one copy: exactly the RBM kernel's draw)."""
    if copies == 1:
        return bernoulli_from_logits(rng_key, logits, dtype)
    total = bernoulli_from_logits(jax.random.fold_in(rng_key, 0), logits, dtype)
    for r in range(1, copies):
        total = total + bernoulli_from_logits(jax.random.fold_in(rng_key, r), logits, dtype)
    return total


def _check_copies(value, name):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return value


def tied_copies_estimator(visible_copies: int = 1, hidden_copies: int = 1) -> GradientEstimator:
    r"""The closed-form gradient of an RBM with tied copies of its units, as an estimator.

    Salakhutdinov & Hinton (2009, section 3.1) pretrain the bottom RBM of a DBM with two
    copies of the visible units and the top RBM with two copies of its hidden units. The
    chains keep unit counts (:class:`CopiesChains`, binomial draws of the copies'
    sweep); the gradient is :func:`copies_rbm_gradient` with the hidden expectations the
    last sweep computed, and ``info.negative_energies`` are the chains'
    :func:`copies_free_energy` from the same pre-activations. With one copy of each it is
    the Bernoulli RBM's estimator (same draws for the same key) that also accepts
    probabilities as data. Use it with
    :func:`~numpyro_ebm.learning.negative_phases.persistent_chains`.
    """
    _check_copies(visible_copies, "visible_copies")
    _check_copies(hidden_copies, "hidden_copies")

    def sweep(rng_key, chains: CopiesChains, params):
        key_hidden, key_visible = jax.random.split(rng_key)
        dtype = chains.visible.dtype
        logits_h = bernoulli_rbm.hidden_logits(params, chains.visible)
        hidden = _binomial_from_logits(key_hidden, logits_h, hidden_copies, dtype)
        logits_v = bernoulli_rbm.visible_logits(params, hidden)
        visible = _binomial_from_logits(key_visible, logits_v, visible_copies, dtype)
        info = rbm_gibbs.RBMGibbsInfo(
            logits_h.astype(dtype),
            jax.nn.sigmoid(logits_h).astype(dtype),
            (visible_copies * jax.nn.sigmoid(logits_v)).astype(dtype),
        )
        return CopiesChains(visible, hidden), info

    def start(rng_key, params, data, n_chains: int):
        if data is None:
            raise ValueError(
                "persistent chains are initialised from the training data; pass data to init"
            )
        data = _checks.check_array(data, "data", ndim_min=2)
        _checks.check_last_dim(data, params.W.shape[0], "data", "visible units")
        key_rows, key_draw = jax.random.split(rng_key)
        rows = data[jax.random.randint(key_rows, (n_chains,), 0, data.shape[0])]
        visible = visible_copies * _bernoulli_sample(key_draw, rows)
        hidden = hidden_copies * bernoulli_rbm.hidden_probs(params, visible).astype(visible.dtype)
        return CopiesChains(visible, hidden)

    def gradient(params, chain_params, batch, negatives: NegativeSample, sampler_info):
        visible = negatives.state.visible
        statistics = negatives.statistics
        counts = visible_copies * batch
        positive_logits = bernoulli_rbm.hidden_logits(params, counts)
        grads = copies_rbm_gradient(
            params,
            counts,
            hidden_copies * jax.nn.sigmoid(positive_logits),
            visible,
            hidden_copies * statistics.hidden_probs,
        )
        positive_energy = jnp.mean(
            _copies_free_energy_from_logits(params, counts, positive_logits, hidden_copies)
        )
        # each chain's free energy from the pre-activations its sweep computed (no extra matmul)
        negative_energies = _copies_free_energy_from_logits(
            chain_params, visible, statistics.hidden_logits, hidden_copies
        )
        # p(h = 1 | batch) for centered's offsets; with tied visible copies the sweep's
        # pre-activations are those of the counts, not of the batch
        positive_hidden = jax.nn.sigmoid(positive_logits) if visible_copies == 1 else None
        info = ContrastiveInfo(
            positive_energy,
            jnp.mean(negative_energies),
            sampler_info,
            negative_energies,
            positive_hidden,
        )
        return grads, info

    return GradientEstimator(gradient, ChainModel(sweep, start), _checks.validate_bernoulli_data)


def copies_rbm_pcd(
    n_chains: int, k: int = 1, *, visible_copies: int = 1, hidden_copies: int = 1
) -> LearningRule:
    r"""PCD-k for a Bernoulli RBM whose visible and/or hidden units come in tied copies.

    Salakhutdinov & Hinton (2009, section 3.1) pretrain the bottom RBM of a DBM
    with *two* copies of the visible units and the top RBM with *two* copies of
    its hidden units, all copies sharing one set of weights and biases, so that
    :math:`p(h \mid v) = \sigma(c + 2 v^\top W)` in the bottom RBM and
    :math:`p(v \mid h) = \sigma(b + 2 W h)` in the top one. The copies are
    independent given the other layer, so only their sums matter: a chain keeps
    the counts (binomial draws), the positive phase puts every visible copy at the
    data vector (counts ``visible_copies * v``), and the gradient is the tied
    one (:func:`copies_rbm_gradient`), computed in closed form at the cost of
    ordinary PCD. The parameters are an ordinary
    :class:`~numpyro_ebm.energies.bernoulli_rbm.BernoulliRBMParams`.

    With one copy of each this is exactly
    :func:`numpyro_ebm.learning.rbm_rules.bernoulli_rbm_pcd` (same draws for the same
    key), except that the training data may hold probabilities (the hidden
    activities of a layer below): the gradient then uses them as they are, and the
    persistent chains start at binary draws from them.

    Alias of ``pcd(tied_copies_estimator(visible_copies, hidden_copies),
    persistent_chains(n_chains, k))``. Same interface as the other rules: ``init(rng_key, params, data)`` and
    ``step(rng_key, state, params, batch) -> (grads, state, info)``; the
    negative statistics come from the chains' state at the start of their last
    sweep with the hidden expectations computed by that sweep.
    ``info.negative_energies`` holds each chain's free energy
    (:func:`copies_free_energy`) at that state, from the sweep's hidden
    pre-activations (no extra matmul), for the chain diagnostics of
    :func:`~numpyro_ebm.learning.fit.fit`.
    """
    estimator = tied_copies_estimator(visible_copies, hidden_copies)
    return pcd(estimator, persistent_chains(n_chains, k))


# --------------------------------------------------------------------------------------
# DBN
# --------------------------------------------------------------------------------------


class DBNFitResult(NamedTuple):
    """What :func:`greedy_layerwise` returns: the DBN (the given ``pretrained`` layers
    included) and the :class:`FitResult` history of each layer it trained, bottom first."""

    params: DBNParams
    histories: tuple[dict, ...]


class DBNSamples(NamedTuple):
    """Samples from :func:`generate`.

    visible
        Binary visible samples, shape ``(n, D)``.
    visible_probs
        :math:`p(v = 1 \\mid h^1)` of each sample (the usual way to display them).
    layers
        The hidden configurations ``(h^1, ..., h^L)`` of each sample.
    """

    visible: Float[Array, "n visible"]
    visible_probs: Float[Array, "n visible"]
    layers: tuple[Float[Array, "n units"], ...]


def _per_layer(value, n_layers: int, name: str) -> list:
    if _is_sequence(value):
        if len(value) != n_layers:
            raise ValueError(f"{name} has {len(value)} entries for {n_layers} layers")
        return list(value)
    return [value] * n_layers


def greedy_layerwise(
    rng_key: PRNGKeyArray,
    data: Float[Array, "n visible"],
    hidden_sizes: Sequence[int],
    optimizer,
    *,
    epochs: int | Sequence[int],
    batch_size: int,
    rule: LearningRule | Sequence[LearningRule] | None = None,
    hidden_activities: str = "probabilities",
    weight_scale: float = 0.01,
    initialization: str = "random",
    pretrained: Sequence[bernoulli_rbm.BernoulliRBMParams] = (),
    held_out: Float[Array, "m visible"] | None = None,
    progress: bool = False,
    log=None,
) -> DBNFitResult:
    r"""Train a DBN greedily, one RBM at a time (Hinton, Osindero & Teh 2006).

    Layer 1 is an RBM on ``data``; layer :math:`l+1` is an RBM on the hidden
    activities of layer :math:`l` given the layer below (the probabilities
    :math:`p(h^l = 1 \mid h^{l-1})` propagated up from the data, or binary draws
    from them with ``hidden_activities="samples"``), trained with
    :func:`~numpyro_ebm.learning.fit.fit` while the layers below stay fixed.
    With ``pretrained``, the stack starts from RBMs trained elsewhere (e.g. the
    first layer Salakhutdinov & Murray 2008 stack on) and only the layers of
    ``hidden_sizes`` are trained, on top of them: the result is the one the
    loop would have produced had it trained those bottom layers itself (same
    keys, same up-pass).

    Parameters
    ----------
    rng_key
        PRNG key.
    data
        Binary training data, shape ``(n, D)``.
    hidden_sizes
        Units in each hidden layer, bottom first (at least one).
    optimizer
        An Optax optimizer, or one per layer.
    epochs
        Epochs per layer (an int for all or one per layer).
    batch_size
        Minibatch size.
    rule
        A Bernoulli-RBM learning rule, or one per layer. Default
        :func:`copies_rbm_pcd` with 100 chains (PCD-1, which accepts
        probabilities as data). A rule that validates binary data in ``init``
        (e.g. :func:`~numpyro_ebm.learning.rbm_rules.bernoulli_rbm_pcd`) needs
        ``hidden_activities="samples"`` above the first layer.
    hidden_activities
        ``"probabilities"`` (default, as in Hinton's and Salakhutdinov's code) or ``"samples"``.
    weight_scale
        Standard deviation of the initial weights; visible biases start at the
        base rates of each layer's training data.
    initialization
        ``"random"`` (default): each trained layer starts from small random
        weights. ``"transpose"``: each trained layer starts as the transpose of
        the layer below (:math:`W^\top`, with the two bias vectors swapped),
        which needs as many hidden units as the layer below has visible units.
        The stack then starts as a DBN whose top two layers define exactly the
        lower RBM's distribution, so the variational bound starts at that RBM's
        log-likelihood and training the new layer can only raise the bound in
        expectation (Hinton, Osindero & Teh 2006, section 4).
    pretrained
        Trained RBMs for the bottom of the stack, bottom first (the first with
        ``D`` visible units, each next one with as many visible units as the one
        below has hidden units). They are kept as they are; ``hidden_sizes``,
        and the per-layer ``optimizer``, ``epochs`` and ``rule``, describe the
        layers trained above them.
    held_out
        Optional held-out visible data, propagated up like ``data``; each trained
        layer's history then records :func:`~numpyro_ebm.learning.fit.fit`'s
        ``free_energy_gap`` (free energy of the layer's RBM on the held-out
        activities minus that on as many training activities).
    progress, log
        Passed to :func:`~numpyro_ebm.learning.fit.fit`.
    """
    hidden_sizes = [int(k) for k in hidden_sizes]
    if not hidden_sizes or min(hidden_sizes) < 1:
        raise ValueError(
            f"hidden_sizes must be a non-empty list of positive sizes; got {hidden_sizes}"
        )
    _check_activities(hidden_activities)
    data = _checks.check_array(data, "data", ndim_min=2)
    _checks.check_binary(data, "data")
    pretrained = _check_pretrained(pretrained, data.shape[1])
    if initialization not in ("random", "transpose"):
        raise ValueError(
            f"unknown initialization {initialization!r}; expected 'random' or 'transpose'"
        )
    if held_out is not None:
        held_out = _checks.check_array(held_out, "held_out", ndim_min=2)
        _checks.check_last_dim(held_out, data.shape[1], "held_out", "visible units")
        _checks.check_binary(held_out, "held_out")
    n_layers = len(hidden_sizes)
    rules = _per_layer(rule if rule is not None else copies_rbm_pcd(100), n_layers, "rule")
    optimizers = _per_layer(optimizer, n_layers, "optimizer")
    epochs_list = _per_layer(epochs, n_layers, "epochs")
    layers, histories = list(pretrained), []
    layer_data, layer_held_out = data, held_out
    for index, rbm in enumerate(pretrained):  # the keys of the loop below, had it trained them
        key_up = jax.random.split(jax.random.fold_in(rng_key, index), 3)[2]
        layer_data = _hidden_activities(key_up, rbm, layer_data, hidden_activities)
        if layer_held_out is not None:
            layer_held_out = _hidden_activities(
                jax.random.fold_in(key_up, 1), rbm, layer_held_out, hidden_activities
            )
    for offset, (n_hidden, layer_rule, layer_opt, layer_epochs) in enumerate(
        zip(hidden_sizes, rules, optimizers, epochs_list, strict=True)
    ):
        index = len(pretrained) + offset
        key_init, key_fit, key_up = jax.random.split(jax.random.fold_in(rng_key, index), 3)
        if initialization == "transpose":
            params = _transposed(layers, index, n_hidden)
        else:
            params = bernoulli_rbm.init_params(
                key_init, layer_data.shape[1], n_hidden, weight_scale=weight_scale, dtype=data.dtype
            )
            params = params._replace(b=_base_rate_bias(layer_data))
        result = fit(
            key_fit,
            params,
            layer_data,
            layer_rule,
            layer_opt,
            epochs=layer_epochs,
            batch_size=batch_size,
            held_out=layer_held_out,
            energy_fn=bernoulli_rbm.free_energy if layer_held_out is not None else None,
            progress=progress,
            log=log,
            config={"layer": index, "n_hidden": n_hidden},
        )
        layers.append(result.params)
        histories.append(result.history)
        if offset + 1 < n_layers:
            layer_data = _hidden_activities(key_up, result.params, layer_data, hidden_activities)
            if layer_held_out is not None:
                layer_held_out = _hidden_activities(
                    jax.random.fold_in(key_up, 1), result.params, layer_held_out, hidden_activities
                )
    return DBNFitResult(DBNParams(tuple(layers)), tuple(histories))


def _transposed(layers, index: int, n_hidden: int) -> bernoulli_rbm.BernoulliRBMParams:
    """Layer ``index`` started as the transpose of the layer below (``initialization="transpose"``)."""
    if not layers:
        raise ValueError("initialization='transpose' needs a layer below the first trained one")
    below = layers[-1]
    if n_hidden != below.W.shape[0]:
        raise ValueError(
            f"initialization='transpose': layer {index} needs {below.W.shape[0]} hidden units "
            f"(the visible units of the layer below); got {n_hidden}"
        )
    return bernoulli_rbm.BernoulliRBMParams(below.W.T, below.c, below.b)


def _check_pretrained(pretrained, n_visible: int) -> tuple[bernoulli_rbm.BernoulliRBMParams, ...]:
    """The ``pretrained`` layers of :func:`greedy_layerwise` as a tuple, their sizes checked."""
    if isinstance(pretrained, bernoulli_rbm.BernoulliRBMParams):
        raise TypeError("pretrained is a sequence of RBMs, bottom first: wrap a single one, (rbm,)")
    pretrained = tuple(pretrained)
    below = n_visible
    for index, rbm in enumerate(pretrained):
        if not isinstance(rbm, bernoulli_rbm.BernoulliRBMParams):
            raise TypeError(
                f"pretrained[{index}] must be a BernoulliRBMParams; got {type(rbm).__name__}"
            )
        if rbm.W.ndim != 2 or rbm.W.shape[0] != below:
            raise ValueError(
                f"pretrained[{index}] has weights of shape {rbm.W.shape}; its visible layer must "
                f"have the {below} units of the " + ("data" if index == 0 else "layer below")
            )
        below = rbm.W.shape[1]
    return pretrained


def generate(
    rng_key: PRNGKeyArray,
    params: DBNParams,
    n_samples: int,
    *,
    n_gibbs: int = 1000,
    init: Float[Array, "n units"] | None = None,
) -> DBNSamples:
    r"""Sample a DBN: block Gibbs in the top RBM, then a directed pass down.

    ``n_samples`` independent chains run ``n_gibbs`` sweeps of
    :mod:`~numpyro_ebm.kernels.rbm_gibbs` in the top RBM (over
    :math:`h^{L-1}, h^L`), starting from ``init`` (configurations of
    :math:`h^{L-1}`, e.g. an up-pass sample of data) or from uniform random bits;
    then :math:`h^{l-1} \sim p(h^{l-1} \mid h^l)` for :math:`l = L-1, \dots, 1`.
    The samples are exact draws from the DBN once the top chain has mixed.
    """
    if not isinstance(n_gibbs, int) or n_gibbs < 1:
        raise ValueError(f"n_gibbs must be a positive int; got {n_gibbs!r}")
    top = params.layers[-1]
    dtype = top.W.dtype
    key_init, key_gibbs, key_down = jax.random.split(rng_key, 3)
    if init is None:
        init = bernoulli_from_logits(key_init, jnp.zeros((n_samples, top.W.shape[0]), dtype))
    state = rbm_gibbs.init(init, top, "bernoulli")
    visible, visible_probs, hidden = _generate(key_gibbs, key_down, params, state, n_gibbs)
    return DBNSamples(visible, visible_probs, hidden)


@partial(jax.jit, static_argnames=("n_gibbs",))
def _generate(key_gibbs, key_down, params: DBNParams, state, n_gibbs: int):
    """Top-RBM Gibbs then the directed pass; returns ``(v, p(v | h^1), (h^1, ..., h^L))``."""
    kernel = rbm_gibbs.build_kernel("bernoulli")
    top = params.layers[-1]
    state = jax.lax.scan(
        lambda s, key: (kernel(key, s, top)[0], None), state, jax.random.split(key_gibbs, n_gibbs)
    )[0]
    dtype = state.visible.dtype
    # a one-layer DBN is an RBM: its visible mean is E[v | h] of the last sweep's h
    probs = bernoulli_rbm.visible_probs(top, state.hidden).astype(dtype)
    hidden = [state.hidden]  # h^L, then h^{L-1}, ..., h^1 as the pass goes down
    below = state.visible
    for index in range(len(params.layers) - 2, -1, -1):
        hidden.append(below)
        logits = bernoulli_rbm.visible_logits(params.layers[index], below)
        probs = jax.nn.sigmoid(logits).astype(dtype)
        below = bernoulli_from_logits(jax.random.fold_in(key_down, index), logits, dtype)
    return below, probs, tuple(hidden[::-1])
