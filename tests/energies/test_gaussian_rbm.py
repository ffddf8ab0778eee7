"""Identities of the Gaussian-Bernoulli RBM energy."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import gaussian_rbm as grbm

D, K = 2, 3


@pytest.fixture
def params():
    p = grbm.init_params(jax.random.key(3), D, K, weight_scale=0.8)
    return p._replace(
        b=jnp.array([0.5, -0.3]), c=jnp.array([0.2, -0.5, 0.1]), log_sigma=jnp.array([0.2, -0.3])
    )


def _hidden():
    return jnp.array(list(itertools.product([0.0, 1.0], repeat=K)))


def test_free_energy_sums_out_hidden(params):
    v = jax.random.normal(jax.random.key(1), (7, D))
    joint = grbm.joint_energy(params, v[:, None, :], _hidden()[None])
    np.testing.assert_allclose(
        grbm.free_energy(params, v), -jax.nn.logsumexp(-joint, axis=1), rtol=1e-5, atol=1e-5
    )


def test_hidden_free_energy_integrates_out_visible(params):
    # trapezoid quadrature on a grid wide enough for every Gaussian component
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        grid = jnp.linspace(-12.0, 12.0, 1201, dtype=jnp.float64)
        xx, yy = jnp.meshgrid(grid, grid, indexing="ij")
        v = jnp.stack([xx.ravel(), yy.ravel()], axis=-1)
        cell = float(grid[1] - grid[0]) ** 2
        for h in _hidden():
            neg = -grbm.joint_energy(
                p64, v, jnp.broadcast_to(h.astype(jnp.float64), (v.shape[0], K))
            )
            quad = float(jax.nn.logsumexp(neg)) + np.log(cell)
            np.testing.assert_allclose(
                -float(grbm.hidden_free_energy(p64, h.astype(jnp.float64))), quad, atol=1e-6
            )


def test_visible_conditional_is_the_stated_gaussian(params):
    h = _hidden()[5]
    mean, std = grbm.visible_mean(params, h), grbm.visible_std(params)
    v = jax.random.normal(jax.random.key(2), (9, D))
    lhs = grbm.joint_energy(params, v, h) - grbm.joint_energy(params, mean, h)
    rhs = 0.5 * jnp.sum(((v - mean) / std) ** 2, axis=-1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4, atol=1e-4)


def test_hidden_conditional_matches_energy_difference(params):
    v = jax.random.normal(jax.random.key(4), (5, D))
    for j in range(K):
        h_on, h_off = jnp.zeros(K).at[j].set(1.0), jnp.zeros(K)
        diff = grbm.joint_energy(params, v, h_off) - grbm.joint_energy(params, v, h_on)
        np.testing.assert_allclose(diff, grbm.hidden_logits(params, v)[:, j], atol=1e-5)


def test_swersky_special_case():
    W = jax.random.normal(jax.random.key(5), (D, K))
    params = grbm.GaussianRBMParams(W, jnp.zeros(D), jnp.zeros(K), jnp.zeros(D))
    v, h = jnp.array([0.3, -1.2]), jnp.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(grbm.joint_energy(params, v, h), 0.5 * v @ v - v @ W @ h, rtol=1e-6)


def test_init_from_data_and_fixed_sigma():
    data = jnp.array([[0.0, 10.0], [2.0, 14.0]])
    p = grbm.init_params(jax.random.key(0), 2, 3, data=data)
    np.testing.assert_allclose(p.b, [1.0, 12.0])
    np.testing.assert_allclose(jnp.exp(p.log_sigma), [1.0, 2.0], rtol=1e-6)
    p = grbm.init_params(jax.random.key(0), 2, 3, sigma=0.5)
    np.testing.assert_allclose(jnp.exp(p.log_sigma), [0.5, 0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="sigma must be positive"):
        grbm.init_params(jax.random.key(0), 2, 3, sigma=0.0)


def test_bad_input(params):
    with pytest.raises(ValueError, match="visible units"):
        grbm.validate_visible(params, jnp.zeros((3, D + 2)))
    with pytest.raises(ValueError, match="non-finite"):
        grbm.validate_visible(params, jnp.array([jnp.inf, 0.0]))
