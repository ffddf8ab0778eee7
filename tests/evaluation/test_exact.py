"""Exact partition functions agree however they are computed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.evaluation import exact


def _rbm(D, K, scale=1.0, seed=0):
    p = bernoulli_rbm.init_params(jax.random.key(seed), D, K, weight_scale=scale)
    return p._replace(
        b=0.3 * jax.random.normal(jax.random.key(seed + 1), (D,)),
        c=0.3 * jax.random.normal(jax.random.key(seed + 2), (K,)),
    )


def test_rbm_log_z_same_from_either_layer_and_the_joint():
    D, K = 7, 5
    params = _rbm(D, K, scale=1.0)
    via_hidden = exact.log_partition_binary(bernoulli_rbm.hidden_free_energy, params, K)
    via_visible = exact.log_partition_binary(bernoulli_rbm.free_energy, params, D)

    def joint(p, x):
        return bernoulli_rbm.joint_energy(p, x[..., :D], x[..., D:])

    via_joint = exact.log_partition_binary(joint, params, D + K, chunk_size=2**6)
    assert via_hidden == pytest.approx(via_visible, abs=1e-9)
    assert via_hidden == pytest.approx(via_joint, abs=1e-9)
    assert exact.log_partition_bernoulli_rbm(params) == pytest.approx(via_hidden, abs=1e-12)
    # a wide RBM enumerates its visible layer instead
    wide = _rbm(4, 9)
    assert exact.log_partition_bernoulli_rbm(wide) == pytest.approx(
        exact.log_partition_binary(bernoulli_rbm.hidden_free_energy, wide, 9), abs=1e-9
    )


def test_zero_weights_closed_form():
    D, K = 10, 6
    params = _rbm(D, K)._replace(W=jnp.zeros((D, K)))
    expected = float(jnp.sum(jax.nn.softplus(params.b)) + jnp.sum(jax.nn.softplus(params.c)))
    assert exact.log_partition_bernoulli_rbm(params) == pytest.approx(expected, abs=1e-5)


def test_chunk_size_does_not_matter_and_float64_is_used():
    params = _rbm(6, 12, scale=2.0)
    a = exact.log_partition_binary(bernoulli_rbm.hidden_free_energy, params, 12, chunk_size=2**4)
    b = exact.log_partition_binary(bernoulli_rbm.hidden_free_energy, params, 12, chunk_size=2**12)
    c = exact.log_partition_binary(bernoulli_rbm.hidden_free_energy, params, 12, chunk_size=2**20)
    assert a == pytest.approx(b, abs=1e-10) and b == pytest.approx(c, abs=1e-10)


def test_log_likelihood_normalised():
    D, K = 6, 4
    params = _rbm(D, K, scale=1.5)
    states = exact.binary_states(D)
    log_lik = exact.log_likelihood_bernoulli_rbm(params, states)
    assert log_lik.dtype == np.float64
    assert float(np.logaddexp.reduce(log_lik)) == pytest.approx(0.0, abs=1e-9)


def test_spins_enumeration():
    # independent spins with field h: Z = prod 2 cosh(h)
    field = jnp.array([0.3, -1.2, 2.0])
    log_z = exact.log_partition_binary(lambda h, s: -(s @ h), field, 3, spins=True)
    assert log_z == pytest.approx(float(jnp.sum(jnp.log(2 * jnp.cosh(field)))), abs=1e-6)


def test_gaussian_rbm_log_z_against_quadrature():
    D, K = 2, 3
    params = gaussian_rbm.init_params(jax.random.key(1), D, K, weight_scale=0.7)
    params = params._replace(b=jnp.array([0.2, -0.1]), log_sigma=jnp.array([0.1, -0.2]))
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        grid = jnp.linspace(-12.0, 12.0, 1201, dtype=jnp.float64)
        xx, yy = jnp.meshgrid(grid, grid, indexing="ij")
        v = jnp.stack([xx.ravel(), yy.ravel()], axis=-1)
        quad = float(jax.nn.logsumexp(-gaussian_rbm.free_energy(p64, v))) + 2 * np.log(
            float(grid[1] - grid[0])
        )
    assert exact.log_partition_gaussian_rbm(params) == pytest.approx(quad, abs=1e-6)


def test_too_many_bits_is_refused_with_a_pointer_to_ais():
    params = _rbm(40, 35)
    with pytest.raises(ValueError, match="annealed importance sampling"):
        exact.log_partition_bernoulli_rbm(params)


def test_float32_enumeration_is_accurate_enough_for_benchmarks():
    # the MNIST benchmarks enumerate 2^25 hidden states in float32 (float64 accumulation
    # across chunks is not needed: the running logsumexp is exact up to float32 rounding)
    params = bernoulli_rbm.init_params(jax.random.key(3), 200, 14, weight_scale=0.3)
    params = params._replace(b=jnp.full((200,), -1.0))
    log_z64 = exact.log_partition_bernoulli_rbm(params)
    log_z32 = exact.log_partition_bernoulli_rbm(params, float64=False)
    assert abs(log_z32 - log_z64) < 1e-3
