"""Identities of the Bernoulli RBM energy, checked by brute-force enumeration."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm as rbm

D, K = 4, 3


@pytest.fixture
def params():
    return rbm.init_params(jax.random.key(0), D, K, weight_scale=1.5)._replace(
        b=jnp.array([0.3, -0.2, 0.5, -1.0]), c=jnp.array([0.1, -0.4, 0.7])
    )


def _all(n):
    return jnp.array(list(itertools.product([0.0, 1.0], repeat=n)))


def test_free_energy_is_log_sum_over_hidden(params):
    v, h = _all(D), _all(K)
    joint = rbm.joint_energy(params, v[:, None, :], h[None, :, :])  # (2^D, 2^K)
    expected = -jax.nn.logsumexp(-joint, axis=1)
    np.testing.assert_allclose(rbm.free_energy(params, v), expected, rtol=1e-5, atol=1e-5)


def test_hidden_free_energy_is_log_sum_over_visible(params):
    v, h = _all(D), _all(K)
    joint = rbm.joint_energy(params, v[:, None, :], h[None, :, :])
    expected = -jax.nn.logsumexp(-joint, axis=0)
    np.testing.assert_allclose(rbm.hidden_free_energy(params, h), expected, rtol=1e-5, atol=1e-5)


def test_conditionals_match_energy_differences(params):
    v, h = _all(D), _all(K)
    for j in range(K):
        h_on, h_off = h.at[:, j].set(1.0), h.at[:, j].set(0.0)
        diff = rbm.joint_energy(params, v[:, None], h_off[None]) - rbm.joint_energy(
            params, v[:, None], h_on[None]
        )
        np.testing.assert_allclose(
            diff, jnp.broadcast_to(rbm.hidden_logits(params, v)[:, None, j], diff.shape), atol=1e-5
        )
    for i in range(D):
        v_on, v_off = v.at[:, i].set(1.0), v.at[:, i].set(0.0)
        diff = rbm.joint_energy(params, v_off[:, None], h[None]) - rbm.joint_energy(
            params, v_on[:, None], h[None]
        )
        np.testing.assert_allclose(
            diff, jnp.broadcast_to(rbm.visible_logits(params, h)[None, :, i], diff.shape), atol=1e-5
        )


def test_batch_broadcasting(params):
    v = jnp.zeros((2, 5, D))
    assert rbm.free_energy(params, v).shape == (2, 5)
    assert rbm.hidden_probs(params, v).shape == (2, 5, K)
    assert rbm.free_energy(params, v[0, 0]).shape == ()


def test_free_energy_finite_for_huge_weights():
    params = rbm.BernoulliRBMParams(
        W=100.0 * jax.random.normal(jax.random.key(1), (50, 20)),
        b=jnp.full((50,), 100.0),
        c=jnp.full((20,), -100.0),
    )
    v = (jax.random.uniform(jax.random.key(2), (64, 50)) < 0.5).astype(jnp.float32)
    f = rbm.free_energy(params, v)
    g = jax.grad(lambda p: jnp.sum(rbm.free_energy(p, v)))(params)
    assert np.all(np.isfinite(np.asarray(f)))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(g))
    assert np.all(np.isfinite(np.asarray(rbm.hidden_free_energy(params, jnp.ones((3, 20))))))


def test_init_params_uses_data_base_rates():
    data = jnp.array([[1, 0, 1], [1, 0, 0], [1, 1, 0], [1, 0, 0]], jnp.float32)
    params = rbm.init_params(jax.random.key(0), 3, 2, data=data)
    p = np.clip(np.array([1.0, 0.25, 0.25]), 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(params.b, np.log(p / (1 - p)), rtol=1e-5)
    assert params.W.shape == (3, 2) and np.all(np.asarray(params.c) == 0)
    assert np.std(np.asarray(rbm.init_params(jax.random.key(0), 100, 50).W)) < 0.02


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (jnp.zeros((2, D + 1)), ValueError, "visible units"),
        (jnp.array([[0.0, 1.0, jnp.nan, 0.0]]), ValueError, "non-finite"),
        (jnp.array([[0.0, 1.0, 0.5, 0.0]]), ValueError, "binary"),
        (jnp.array([[0, 1, 1, 0]], jnp.int32), TypeError, "floating-point"),
        (jnp.float32(1.0), ValueError, "dimension"),
    ],
)
def test_bad_input_is_named(params, bad, error, match):
    with pytest.raises(error, match=match):
        rbm.validate_visible(params, bad)
