"""scikit-learn's own algorithm, the default of :class:`~numpyro_ebm.sklearn.BernoulliRBM`: its
batching (:func:`sklearn_batches`), its PCD update with its step size
(:func:`sklearn_pcd_update`) and one compiled epoch of them (:func:`sklearn_epoch`).

References
----------
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from numpyro_ebm.energies import bernoulli_rbm

__all__ = [
    "SklearnChains",
    "sklearn_batches",
    "sklearn_pcd_update",
    "step_uniforms",
    "sklearn_step",
    "sklearn_batch_keys",
    "sklearn_epoch",
    "sklearn_partial_step",
]


class SklearnChains(NamedTuple):
    """scikit-learn's persistent state: binary hidden samples (``h_samples_``)."""

    hidden: jax.Array


def sklearn_batches(n_samples: int, batch_size: int):
    """scikit-learn's minibatches, as ``(n_batches, batch_size)`` row indices and a 0/1 mask.

    The same slices as ``BernoulliRBM.fit``'s ``gen_even_slices(n_batches * batch_size,
    n_batches, n_samples=n_samples)``: ``ceil(n / batch_size)`` contiguous slices in row
    order, all of ``batch_size`` rows but the last, which is shorter when ``batch_size``
    does not divide ``n``. The last slice is padded (index 0, mask 0) so that every step of
    the compiled epoch has the same shape.
    """
    n_batches = -(-n_samples // batch_size)
    positions = np.arange(n_batches * batch_size)
    mask = (positions < n_samples).reshape(n_batches, batch_size)
    index = np.where(positions < n_samples, positions, 0).reshape(n_batches, batch_size)
    return index, mask


def sklearn_pcd_update(
    params, hidden, rows, mask, visible_uniforms, hidden_uniforms, batch_size: int
):
    r"""scikit-learn's ``BernoulliRBM._fit`` on one minibatch, with its uniform draws given.

    The persistent state is the chains' binary hidden sample :math:`h`. With
    :math:`k` = ``len(visible_uniforms)`` (scikit-learn: 1) sweeps
    :math:`v^- \sim p(v \mid h)`, :math:`q = p(h \mid v^-)`, then :math:`h \sim q` (all under
    the parameters *before* this update); the update is

    .. math::
        \Delta\theta \propto \frac{1}{n_+}\Big(\sum_{\text{batch}} v\,p(h \mid v)^\top
        - \frac{B}{n_\text{chains}} \sum_\text{chains} v^- q^\top\Big)

    with :math:`n_+` the rows of the minibatch (``mask.sum()``) and :math:`B` the
    ``batch_size``, i.e. scikit-learn's ``learning_rate / v_pos.shape[0]`` times the summed
    statistics (its ``batch_size`` chains, so :math:`B / n_\text{chains} = 1`; its shorter
    last minibatch keeps all chains, so their term weighs :math:`B / n_+` there).
    ``visible_uniforms`` (``(k, n_chains, n_visible)``) and ``hidden_uniforms``
    (``(k, n_chains, n_hidden)``) are the uniform numbers scikit-learn's ``rng.uniform``
    would return, in order; a unit is on when its uniform is below its probability.

    Returns the gradient to *descend* (a ``BernoulliRBMParams``) and the new hidden sample.
    """
    dtype = params.W.dtype

    def sweep_from(hidden, uniforms):
        visible = (uniforms < bernoulli_rbm.visible_probs(params, hidden)).astype(dtype)
        return visible, bernoulli_rbm.hidden_probs(params, visible)

    visible, hidden_probs = sweep_from(hidden, visible_uniforms[0])
    for sweep in range(1, visible_uniforms.shape[0]):
        hidden = (hidden_uniforms[sweep - 1] < hidden_probs).astype(dtype)
        visible, hidden_probs = sweep_from(hidden, visible_uniforms[sweep])
    new_hidden = (hidden_uniforms[-1] < hidden_probs).astype(dtype)
    weights = mask.astype(dtype)
    positive_hidden = bernoulli_rbm.hidden_probs(params, rows) * weights[:, None]
    rows = rows * weights[:, None]
    scale = 1 / jnp.sum(weights)
    chains = jnp.asarray(batch_size / visible.shape[0], dtype)
    grads = bernoulli_rbm.BernoulliRBMParams(
        (chains * (visible.T @ hidden_probs) - rows.T @ positive_hidden) * scale,
        (chains * jnp.sum(visible, axis=0) - jnp.sum(rows, axis=0)) * scale,
        (chains * jnp.sum(hidden_probs, axis=0) - jnp.sum(positive_hidden, axis=0)) * scale,
    )
    return grads, new_hidden


def step_uniforms(rng_key, k: int, n_chains: int, n_visible: int, n_hidden: int, dtype):
    """The uniforms of one :func:`sklearn_pcd_update`, from one key."""
    key_visible, key_hidden = jax.random.split(rng_key)
    return (
        jax.random.uniform(key_visible, (k, n_chains, n_visible), dtype),
        jax.random.uniform(key_hidden, (k, n_chains, n_hidden), dtype),
    )


def sklearn_step(
    rng_key, learning_rate, params, opt_state, hidden, rows, mask, optimizer, k, batch_size
):
    """One minibatch of scikit-learn's PCD: :func:`sklearn_pcd_update` with fresh uniforms, then
    the optimizer's step scaled by the (traced) ``learning_rate``."""
    uniforms = step_uniforms(rng_key, k, hidden.shape[0], *params.W.shape, params.W.dtype)
    grads, hidden = sklearn_pcd_update(params, hidden, rows, mask, *uniforms, batch_size)
    # the optimizer has learning rate 1; the rate itself is traced (no compile per value)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    updates = jax.tree.map(lambda u: u * learning_rate.astype(u.dtype), updates)
    return optax.apply_updates(params, updates), opt_state, hidden


def sklearn_batch_keys(seed, epoch, n_batches: int):
    """The key of every minibatch of one epoch: ``split(fold_in(key(seed), epoch), n_batches)``."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), epoch), n_batches)


@functools.partial(jax.jit, static_argnames=("optimizer", "k", "batch_size"))
def sklearn_epoch(
    seed,
    epoch,
    learning_rate,
    params,
    opt_state,
    hidden,
    data,
    index,
    mask,
    *,
    optimizer,
    k,
    batch_size,
):
    """One epoch of scikit-learn's PCD, compiled: a scan over its minibatches, in order.

    ``seed``, ``epoch`` and ``learning_rate`` are traced and the uneven last minibatch is
    a masked full one, so every epoch of every fit with the same shapes (and momentum,
    weight decay, ``k``, ``batch_size``) reuses one compilation.
    """
    keys = sklearn_batch_keys(seed, epoch, index.shape[0])

    def body(carry, inputs):
        key, rows, rows_mask = inputs
        step = sklearn_step(
            key, learning_rate, *carry, data[rows], rows_mask, optimizer, k, batch_size
        )
        return step, None

    carry, _ = jax.lax.scan(body, (params, opt_state, hidden), (keys, index, mask))
    return carry


@functools.partial(jax.jit, static_argnames=("optimizer", "k", "batch_size"))
def sklearn_partial_step(
    seed, learning_rate, params, opt_state, hidden, rows, *, optimizer, k, batch_size
):
    """``partial_fit``'s step: all of ``rows`` as one minibatch, the key made from ``seed``."""
    mask = jnp.ones(rows.shape[0], bool)
    key = jax.random.key(seed)
    return sklearn_step(
        key, learning_rate, params, opt_state, hidden, rows, mask, optimizer, k, batch_size
    )
