"""The centered RBM gradient (Melchior, Fischer & Wiskott 2016)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning import rbm_rules
from numpyro_ebm.learning.base import LearningRule


def _params(key, n_visible=7, n_hidden=4):
    k1, k2, k3 = jax.random.split(key, 3)
    return bernoulli_rbm.BernoulliRBMParams(
        jax.random.normal(k1, (n_visible, n_hidden)),
        jax.random.normal(k2, (n_visible,)),
        jax.random.normal(k3, (n_hidden,)),
    )


def _centered_energy(W, b_c, c_c, mu, lam, v, h):
    return -((v - mu) @ W @ (h - lam)) - b_c @ (v - mu) - c_c @ (h - lam)


def test_zero_offsets_leave_the_gradient_unchanged():
    grads = _params(jax.random.key(0))
    out = rbm_rules.centered_gradient(grads, jnp.zeros(7), jnp.zeros(4))
    for a, b in zip(out, grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_centered_step_equals_a_step_in_centered_coordinates():
    """SGD on the centered parameters, mapped back, equals our step on the ordinary ones."""
    params = _params(jax.random.key(1))
    mu = jax.random.uniform(jax.random.key(2), (7,))
    lam = jax.random.uniform(jax.random.key(3), (4,))
    v_data = (jax.random.uniform(jax.random.key(4), (9, 7)) < 0.5).astype(jnp.float32)
    h_data = (jax.random.uniform(jax.random.key(5), (9, 4)) < 0.5).astype(jnp.float32)
    v_model = (jax.random.uniform(jax.random.key(6), (11, 7)) < 0.5).astype(jnp.float32)
    h_model = (jax.random.uniform(jax.random.key(7), (11, 4)) < 0.5).astype(jnp.float32)

    # ordinary gradient of mean E(data) - mean E(model) (the contrastive loss)
    grads = rbm_rules.bernoulli_rbm_gradient(params, v_model, h_model, v_data, h_data)
    grads = jax.tree.map(jnp.negative, grads)

    # the same loss in centered coordinates: b_c = b + W lam, c_c = c + W^T mu
    def loss(centered_params):
        W, b_c, c_c = centered_params
        energy = jax.vmap(_centered_energy, (None, None, None, None, None, 0, 0))
        return jnp.mean(energy(W, b_c, c_c, mu, lam, v_data, h_data)) - jnp.mean(
            energy(W, b_c, c_c, mu, lam, v_model, h_model)
        )

    centered_params = (params.W, params.b + params.W @ lam, params.c + params.W.T @ mu)
    g_W, g_b, g_c = jax.grad(loss)(centered_params)
    lr = 0.1
    W_new = params.W - lr * g_W
    b_c_new = centered_params[1] - lr * g_b
    c_c_new = centered_params[2] - lr * g_c
    expected = (W_new, b_c_new - W_new @ lam, c_c_new - W_new.T @ mu)

    step = rbm_rules.centered_gradient(grads, mu, lam)
    ours = jax.tree.map(lambda p, g: p - lr * g, params, step)
    for a, b in zip(ours, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_centered_rule_tracks_offsets():
    params = _params(jax.random.key(8), 6, 3)
    data = (jax.random.uniform(jax.random.key(9), (40, 6)) < 0.3).astype(jnp.float32)
    rule = rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(n_chains=5), offset_rate=0.5)
    state = rule.init(jax.random.key(10), params, data)
    np.testing.assert_allclose(state.visible_offset, data.mean(0), rtol=1e-6)
    batch = data[:10]
    grads, new_state, _ = jax.jit(rule.step)(jax.random.key(11), state, params, batch)
    np.testing.assert_allclose(
        new_state.visible_offset, 0.5 * data.mean(0) + 0.5 * batch.mean(0), rtol=1e-6
    )
    hidden_mean = bernoulli_rbm.hidden_probs(params, batch).mean(0)
    np.testing.assert_allclose(
        new_state.hidden_offset, 0.5 * state.hidden_offset + 0.5 * hidden_mean, rtol=1e-6
    )
    inner_grads, _, _ = rbm_rules.bernoulli_rbm_pcd(n_chains=5).step(
        jax.random.key(11), state.inner, params, batch
    )
    expected = rbm_rules.centered_gradient(inner_grads, state.visible_offset, state.hidden_offset)
    for a, b in zip(grads, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    # a wrapped rule that does not pass p(h | batch) on: centered computes it itself
    inner = rbm_rules.bernoulli_rbm_pcd(n_chains=5)

    def step_without_positive_hidden(*args):
        grads, state, info = inner.step(*args)
        return grads, state, info._replace(positive_hidden=None)

    fallback = rbm_rules.centered(
        LearningRule(inner.init, step_without_positive_hidden), offset_rate=0.5
    )
    fallback_grads, fallback_state, _ = fallback.step(jax.random.key(11), state, params, batch)
    np.testing.assert_allclose(fallback_state.hidden_offset, new_state.hidden_offset, rtol=1e-6)
    for a, b in zip(fallback_grads, grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_centered_weight_decay_shrinks_w_with_the_centered_biases_fixed():
    params = _params(jax.random.key(12), 6, 3)
    data = (jax.random.uniform(jax.random.key(13), (40, 6)) < 0.3).astype(jnp.float32)
    inner = rbm_rules.bernoulli_rbm_pcd(n_chains=5)
    plain, decayed = rbm_rules.centered(inner), rbm_rules.centered(inner, weight_decay=0.1)
    state = plain.init(jax.random.key(14), params, data)
    grads, _, _ = plain.step(jax.random.key(15), state, params, data[:10])
    grads_decayed, _, _ = decayed.step(jax.random.key(15), state, params, data[:10])
    # the decay alone, as a step in ordinary coordinates: W shrinks, and the ordinary biases
    # move so that the centered biases b + W lambda and c + W' mu stay where they were
    decay = jax.tree.map(jnp.subtract, grads_decayed, grads)
    lr = 0.5
    W_new = params.W - lr * decay.W
    np.testing.assert_allclose(W_new, (1 - lr * 0.1) * params.W, rtol=1e-5, atol=1e-6)
    mu, lam = state.visible_offset, state.hidden_offset
    b_new, c_new = params.b - lr * decay.b, params.c - lr * decay.c
    np.testing.assert_allclose(b_new + W_new @ lam, params.b + params.W @ lam, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        c_new + W_new.T @ mu, params.c + params.W.T @ mu, rtol=1e-5, atol=1e-6
    )


def test_centered_rule_rejects_bad_input():
    with pytest.raises(ValueError, match="offset_rate"):
        rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(n_chains=5), offset_rate=2.0)
    with pytest.raises(ValueError, match="weight_decay"):
        rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(n_chains=5), weight_decay=-1.0)
    rule = rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(n_chains=5))
    with pytest.raises(ValueError, match="training data"):
        rule.init(jax.random.key(0), _params(jax.random.key(0)))
