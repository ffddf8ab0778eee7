"""MLP energy: shapes, batch broadcasting, gradients, initialisation, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm import potentials
from numpyro_ebm.energies import mlp

SIZES = (3, 16, 8)
energy = jax.jit(mlp.energy)


def _params(dtype=jnp.float32):
    params = mlp.init_params(jax.random.key(0), SIZES, dtype)
    # non-zero biases so that every term of the forward pass is exercised
    return mlp.MLPParams(tuple(mlp.DenseParams(layer.W, layer.b + 0.1) for layer in params.layers))


def _reference(params, x):
    """Forward pass in numpy, one example at a time."""
    h = np.asarray(x, np.float64)
    layers = [
        (np.asarray(layer.W, np.float64), np.asarray(layer.b, np.float64))
        for layer in params.layers
    ]
    for W, b in layers[:-1]:
        h = np.logaddexp(h @ W + b, 0.0)
    W, b = layers[-1]
    return (h @ W + b)[0]


def test_init_params_structure_and_fan_in_scaling():
    params = mlp.init_params(jax.random.key(1), (4, 400, 300), jnp.float32)
    shapes = [(layer.W.shape, layer.b.shape) for layer in params.layers]
    assert shapes == [((4, 400), (400,)), ((400, 300), (300,)), ((300, 1), (1,))]
    assert all(np.all(np.asarray(layer.b) == 0) for layer in params.layers)
    # W * sqrt(fan_in) ~ N(0, 1): 120000 draws, so the sample variance is 1 +- 0.004
    # (one standard error); a tolerance of 0.03 is > 7 standard errors, false-failure
    # rate < 1e-12.
    scaled = np.asarray(params.layers[1].W) * np.sqrt(400)
    assert abs(scaled.var() - 1.0) < 0.03 and abs(scaled.mean()) < 0.03
    assert params.dim == 4


def test_energy_matches_reference_forward_pass():
    params = _params()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    expected = [_reference(params, row) for row in x]
    np.testing.assert_allclose(energy(params, jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)


def test_energy_broadcasts_over_batch_dims():
    params = _params()
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 4, 3)), jnp.float32)
    e = energy(params, x)
    assert e.shape == (2, 4)
    assert energy(params, x[1, 2]).shape == ()
    np.testing.assert_allclose(e[1, 2], energy(params, x[1, 2]), rtol=1e-6)
    np.testing.assert_allclose(e.reshape(-1), energy(params, x.reshape(8, 3)), rtol=1e-6)


def test_gradients_are_finite():
    params = _params()
    x = jnp.asarray(np.random.default_rng(2).normal(size=(6, 3)) * 10, jnp.float32)
    grad = jax.jit(jax.grad(lambda p, y: jnp.sum(mlp.energy(p, y)), argnums=(0, 1)))
    g_params, g_x = grad(params, x)
    assert jax.tree.structure(g_params) == jax.tree.structure(params)
    for leaf in jax.tree.leaves((g_params, g_x)):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert np.any(np.asarray(g_x) != 0)


def test_float64_is_preserved():
    with jax.enable_x64(True):
        params = _params(jnp.float64)
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(params))
        e = energy(params, jnp.zeros((2, 3), jnp.float64))
        assert e.dtype == jnp.float64


def test_works_with_potentials():
    params = _params()
    x = jnp.asarray(np.random.default_rng(3).normal(size=(4, 3)), jnp.float32)
    log_density = potentials.log_density_fn(mlp.energy, params)
    np.testing.assert_allclose(jax.jit(log_density)(x), -energy(params, x), rtol=1e-6)
    site = potentials.UnnormalizedEnergy(mlp.energy, params, (3,))
    np.testing.assert_allclose(site.log_prob(x), -energy(params, x), rtol=1e-6)


def test_bad_input_is_rejected():
    params = _params()
    with pytest.raises(ValueError, match="dimensions"):
        mlp.energy(params, jnp.zeros((2, 4)))
    with pytest.raises(TypeError, match="floating-point"):
        mlp.energy(params, jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match="non-finite"):
        mlp.validate_input(params, jnp.array([[0.0, jnp.nan, 1.0]]))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        mlp.energy(params, jnp.float32(1.0))
    with pytest.raises(ValueError, match="hidden layer"):
        mlp.init_params(jax.random.key(0), (3,))
    with pytest.raises(ValueError, match="positive"):
        mlp.init_params(jax.random.key(0), (3, 0))
    with pytest.raises(TypeError, match="integers"):
        mlp.init_params(jax.random.key(0), (3, 2.5))
    with pytest.raises(TypeError, match="floating-point"):
        mlp.init_params(jax.random.key(0), (3, 4), jnp.int32)
