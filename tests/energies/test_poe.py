"""Uni-gauss and Student-t products of experts: identities, shapes and bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import poe
from numpyro_ebm.evaluation import exact

M, D = 3, 2

# Jitted once per shape: op-by-op dispatch would compile every primitive separately.
energy = jax.jit(poe.energy)
joint_energy = jax.jit(poe.joint_energy)
responsibilities = jax.jit(poe.responsibilities)
product = jax.jit(poe.product_of_active_gaussians)
student_t_energy = jax.jit(poe.student_t_energy)


def _unigauss(dtype=jnp.float32):
    box = poe.make_box([-2.0, -1.0], [3.0, 2.0], D, dtype=dtype)
    params = poe.UniGaussParams(
        logit_mix=jnp.array([0.3, -1.0, 2.0], dtype),
        mean=jnp.array([[0.0, 0.5], [1.5, -0.5], [-1.0, 1.0]], dtype),
        log_scale=jnp.array([[-0.5, 0.0], [0.2, -1.0], [0.0, 0.3]], dtype),
    )
    return params, box


def _points_in_box(seed, box, shape, dtype=np.float32):
    """Uniform points in the box, drawn with numpy (cheaper than compiling a JAX sampler)."""
    low, high = np.asarray(box.low), np.asarray(box.high)
    u = np.random.default_rng(seed).random(shape + (D,))
    return jnp.asarray((low + (high - low) * u).astype(dtype))


def test_energy_is_minus_log_sum_over_expert_choices():
    with jax.enable_x64(True):
        params, box = _unigauss(jnp.float64)
        x = _points_in_box(0, box, (7,), np.float64)
        z = exact.binary_states(M, dtype=jnp.float64)  # (2^M, M)
        joint = joint_energy(params, x[:, None, :], z[None, :, :], box)  # (7, 2^M)
        marginal = -jax.nn.logsumexp(-joint, axis=1)
        np.testing.assert_allclose(energy(params, x, box), marginal, rtol=1e-12)


def test_responsibilities_are_the_posterior_over_expert_choices():
    with jax.enable_x64(True):
        params, box = _unigauss(jnp.float64)
        x = _points_in_box(1, box, (7,), np.float64)
        z = exact.binary_states(M, dtype=jnp.float64)
        joint = joint_energy(params, x[:, None, :], z[None, :, :], box)
        posterior = jax.nn.softmax(-joint, axis=1)  # (7, 2^M) over z
        expected = posterior @ z  # p(z_m = 1 | x)
        np.testing.assert_allclose(responsibilities(params, x, box), expected, rtol=1e-10)


def test_energy_matches_direct_formula():
    with jax.enable_x64(True):
        params, box = _unigauss(jnp.float64)
        x = np.asarray(_points_in_box(2, box, (5,), np.float64))
        pi = 1 / (1 + np.exp(-np.asarray(params.logit_mix)))
        mu, sigma = np.asarray(params.mean), np.exp(np.asarray(params.log_scale))
        r = np.prod(np.asarray(box.high) - np.asarray(box.low))
        gauss = np.prod(
            np.exp(-0.5 * ((x[:, None, :] - mu) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma),
            axis=-1,
        )
        expected = -np.sum(np.log(pi * gauss + (1 - pi) / r), axis=-1)
        np.testing.assert_allclose(energy(params, jnp.asarray(x), box), expected, rtol=1e-12)


def test_energy_is_infinite_outside_the_box_and_finite_on_its_boundary():
    params, box = _unigauss()
    outside = jnp.array([[-2.1, 0.0], [0.0, 2.5], [3.0001, 0.0], [-5.0, -5.0]], jnp.float32)
    assert np.all(np.isposinf(np.asarray(energy(params, outside, box))))
    z = jnp.ones((4, M), jnp.float32)
    assert np.all(np.isposinf(np.asarray(joint_energy(params, outside, z, box))))
    boundary = jnp.stack([box.low, box.high, jnp.array([box.low[0], box.high[1]])])
    assert np.all(np.isfinite(np.asarray(energy(params, boundary, box))))


def test_energy_stays_finite_far_from_every_gaussian():
    # Tiny scales: every Gaussian underflows at the corner; logaddexp keeps the uniform part.
    params, box = _unigauss()
    params = params._replace(log_scale=jnp.full((M, D), -8.0, jnp.float32))
    e = energy(params, box.high, box)
    log_r = math.log(5.0 * 3.0)
    expected = -float(jnp.sum(jax.nn.log_sigmoid(-params.logit_mix))) + M * log_r
    np.testing.assert_allclose(float(e), expected, rtol=1e-5)


def test_product_of_active_gaussians_is_the_normalised_product():
    with jax.enable_x64(True):
        params, box = _unigauss(jnp.float64)
        z = jnp.array([[1, 0, 1], [1, 1, 1], [0, 1, 0]], jnp.float64)
        mean, var = product(params, z)
        xs = jnp.asarray(np.random.default_rng(3).normal(size=(11, D)))
        # sum over active experts of log N(x; mu_m, sigma_m^2) minus log N(x; mean, var)
        # must not depend on x (the product of Gaussians is Gaussian with these moments)
        log_n = poe.expert_log_densities(params, xs)  # (11, M)
        for row in range(z.shape[0]):
            lhs = log_n @ z[row]
            rhs = jnp.sum(
                -0.5 * jnp.square(xs - mean[row][None, :]) / var[row][None, :]
                - 0.5 * jnp.log(2 * jnp.pi * var[row][None, :]),
                axis=-1,
            )
            diff = np.asarray(lhs - rhs)
            np.testing.assert_allclose(diff, diff[0], atol=1e-10)


def test_product_with_no_active_expert_is_flat():
    params, _ = _unigauss()
    mean, var = product(params, jnp.zeros((2, M), jnp.float32))
    assert mean.shape == var.shape == (2, D)
    assert np.all(np.isposinf(np.asarray(var)))
    assert np.all(np.asarray(mean) == 0)


def test_unigauss_broadcasts_over_batch_dims():
    params, box = _unigauss()
    x = _points_in_box(4, box, (2, 3, 4))
    e = energy(params, x, box)
    assert e.shape == (2, 3, 4)
    np.testing.assert_allclose(e[1, 2, 3], energy(params, x[1, 2, 3], box), rtol=1e-6)
    assert energy(params, x[0, 0, 0], box).shape == ()
    assert responsibilities(params, x, box).shape == (2, 3, 4, M)
    z = jnp.ones((2, 3, 4, M), jnp.float32)
    assert joint_energy(params, x, z, box).shape == (2, 3, 4)
    mean, var = product(params, z)
    assert mean.shape == var.shape == (2, 3, 4, D)


def test_unigauss_gradients_are_finite_inside_the_box():
    params, box = _unigauss()
    x = _points_in_box(5, box, (6,))
    total = jax.jit(jax.grad(lambda p, y: jnp.sum(poe.energy(p, y, box)), argnums=(0, 1)))
    grads, gx = total(params, x)
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert np.all(np.isfinite(np.asarray(gx)))


def test_unigauss_init_params():
    params, box = _unigauss()
    p = poe.init_params(jax.random.key(0), 5, D, box=box)
    assert p.logit_mix.shape == (5,) and p.mean.shape == (5, D) and p.log_scale.shape == (5, D)
    assert np.all(np.asarray(poe.inside_box(box, p.mean)))
    data = jnp.asarray(np.random.default_rng(1).normal(size=(50, D)) * [1.0, 3.0], jnp.float32)
    p = poe.init_params(jax.random.key(0), 4, D, data=data, mix=0.8)
    rows = {tuple(r) for r in np.asarray(data)}
    assert all(tuple(m) in rows for m in np.asarray(p.mean))
    np.testing.assert_allclose(jax.nn.sigmoid(p.logit_mix), 0.8, rtol=1e-5)
    np.testing.assert_allclose(jnp.exp(p.log_scale[0]), jnp.std(data, axis=0), rtol=1e-5)
    p = poe.init_params(jax.random.key(0), 4, D, data=data, scale=0.5)
    np.testing.assert_allclose(jnp.exp(p.log_scale), 0.5, rtol=1e-6)


def test_box_stays_out_of_the_parameters():
    params, box = _unigauss()
    assert "low" not in params._fields and "high" not in params._fields
    assert isinstance(box, poe.Box)


# --- bad input ---------------------------------------------------------------


def test_box_with_low_not_below_high_is_rejected():
    with pytest.raises(ValueError, match="low < high"):
        poe.make_box([0.0, 1.0], [1.0, 1.0], 2)
    with pytest.raises(ValueError, match="low < high"):
        poe.make_box(2.0, -2.0, 3)
    params, _ = _unigauss()
    with pytest.raises(ValueError, match="low < high"):
        poe.energy(params, jnp.zeros(D), poe.Box(jnp.ones(D), jnp.zeros(D)))


def test_box_bad_shape_nan_and_dtype_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        poe.make_box([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 2)
    with pytest.raises(ValueError, match="non-finite"):
        poe.make_box([0.0, float("nan")], 1.0, 2)
    with pytest.raises(TypeError, match="floating-point"):
        poe.validate_box(poe.Box(jnp.zeros(2, jnp.int32), jnp.ones(2, jnp.int32)))
    with pytest.raises(TypeError, match="Box"):
        poe.validate_box((0.0, 1.0))


def test_unigauss_bad_positions_are_rejected():
    params, box = _unigauss()
    with pytest.raises(ValueError, match="dimensions"):
        poe.energy(params, jnp.zeros((4, 3)), box)
    with pytest.raises(TypeError, match="floating-point"):
        poe.energy(params, jnp.zeros((4, D), jnp.int32), box)
    with pytest.raises(ValueError, match="non-finite"):
        poe.validate_position(params, jnp.array([0.0, jnp.nan]), box)
    with pytest.raises(ValueError, match="inside the box"):
        poe.validate_position(params, jnp.array([[0.0, 0.0], [10.0, 0.0]]), box)
    with pytest.raises(ValueError, match="experts"):
        poe.joint_energy(params, jnp.zeros(D), jnp.ones(M + 1), box)
    with pytest.raises(ValueError, match="binary"):
        poe.validate_expert_choices(params, jnp.array([0.0, 0.5, 1.0]))


def test_init_params_bad_arguments():
    with pytest.raises(ValueError, match="mix"):
        poe.init_params(jax.random.key(0), 3, 2, mix=1.0)
    with pytest.raises(ValueError, match="n_experts"):
        poe.init_params(jax.random.key(0), 0, 2)
    with pytest.raises(ValueError, match="dimensions"):
        poe.init_params(jax.random.key(0), 3, 2, data=jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="positive"):
        poe.init_student_t_params(jax.random.key(0), 3, 2, alpha=0.0)


# --- Student-t experts ---------------------------------------------------------


def _student_t(dtype=jnp.float32):
    W = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [1.0, -0.5]], dtype)
    return poe.StudentTParams(W, jnp.log(jnp.array([1.0, 1.5, 0.5, 2.0], dtype)))


def test_student_t_energy_matches_direct_formula():
    params = _student_t()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 5, 2)) * 3, jnp.float32)
    s = np.asarray(x, np.float64) @ np.asarray(params.W, np.float64).T
    expected = np.log1p(0.5 * s**2) @ np.exp(np.asarray(params.log_alpha, np.float64))
    e = student_t_energy(params, x)
    assert e.shape == (3, 5)
    np.testing.assert_allclose(e, expected, rtol=1e-5)


def test_student_t_energy_and_gradient_are_finite_for_large_inputs():
    params = _student_t()
    x = jnp.array([[1e20, -3e19], [1e30, 0.0], [0.0, 0.0], [1e-30, 1.0]], jnp.float32)
    e = student_t_energy(params, x)
    assert np.all(np.isfinite(np.asarray(e)))
    # far out the energy grows like sum_k 2 alpha_k log|w_k x|
    s = 1e20 * np.array([1.0, 0.0, 1.0, 1.0]) - 3e19 * np.array([0.0, 2.0, 1.0, -0.5])
    expected = np.sum(np.exp(np.asarray(params.log_alpha)) * (2 * np.log(np.abs(s)) - np.log(2)))
    np.testing.assert_allclose(float(e[0]), expected, rtol=1e-5)
    g = jax.jit(jax.vmap(jax.grad(lambda y: poe.student_t_energy(params, y))))(x)
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_array_equal(np.asarray(g[2]), 0.0)


def test_student_t_init_and_bad_input():
    params = poe.init_student_t_params(jax.random.key(0), 6, 3, alpha=2.0)
    assert params.W.shape == (6, 3) and params.log_alpha.shape == (6,)
    np.testing.assert_allclose(jnp.exp(params.log_alpha), 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        poe.student_t_energy(params, jnp.zeros((2, 4)))
    with pytest.raises(TypeError, match="floating-point"):
        poe.student_t_energy(params, jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match="non-finite"):
        poe.validate_student_t_input(params, jnp.array([0.0, jnp.inf, 1.0]))
