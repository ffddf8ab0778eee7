"""Fully-visible Boltzmann machine energy: identities, conditionals, validation."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import boltzmann

D = 5


# Test data comes from numpy (jax.random would compile a kernel per shape), and the
# functions under test are jitted once per shape instead of compiled op by op.
energy = jax.jit(boltzmann.energy)
local_field = jax.jit(boltzmann.local_field)


def _params(seed=0, scale=1.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    upper = np.triu(scale * rng.standard_normal((D, D)), k=1)
    return boltzmann.BoltzmannParams(
        jnp.asarray(upper + upper.T, dtype), jnp.asarray(0.5 * rng.standard_normal(D), dtype)
    )


def _states(seed, shape, spins, dtype=np.float32):
    bits = np.random.default_rng(seed).integers(0, 2, shape).astype(dtype)
    return jnp.asarray(2 * bits - 1 if spins else bits)


def test_init_params_symmetric_zero_diagonal_and_scale():
    params = boltzmann.init_params(jax.random.key(0), 200, scale=0.3)
    J = np.asarray(params.J)
    assert J.shape == (200, 200) and params.h.shape == (200,)
    assert params.J.dtype == jnp.float32 and params.n_units == 200
    np.testing.assert_array_equal(J, J.T)
    np.testing.assert_array_equal(np.diagonal(J), 0.0)
    np.testing.assert_array_equal(np.asarray(params.h), 0.0)
    # 19,900 independent N(0, 0.3^2) couplings: the sample std is within 2% w.p. ~1 - 1e-9
    off_diagonal = J[np.triu_indices(200, k=1)]
    assert abs(off_diagonal.std() / 0.3 - 1) < 0.02


def test_symmetrize_projects_onto_valid_couplings():
    A = jnp.asarray(np.random.default_rng(1).standard_normal((4, 4)), jnp.float32)
    J = np.asarray(boltzmann.symmetrize(A))
    np.testing.assert_array_equal(J, J.T)
    np.testing.assert_array_equal(np.diagonal(J), 0.0)
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(J[off], (0.5 * (np.asarray(A) + np.asarray(A).T))[off], rtol=1e-6)
    # idempotent and accepted by validate_params
    np.testing.assert_array_equal(np.asarray(boltzmann.symmetrize(J)), J)
    boltzmann.validate_params(boltzmann.BoltzmannParams(jnp.asarray(J), jnp.zeros(4)))


@pytest.mark.parametrize("spins", [False, True])
def test_energy_matches_explicit_pair_sum(spins):
    params = _params()
    x = _states(2, (7, D), spins)
    J, h, xn = (np.asarray(a, np.float64) for a in (params.J, params.h, x))
    expected = np.array(
        [
            -sum(J[i, j] * s[i] * s[j] for i, j in itertools.combinations(range(D), 2)) - h @ s
            for s in xn
        ]
    )
    np.testing.assert_allclose(np.asarray(energy(params, x)), expected, rtol=1e-5)


def _set_each_unit(x, values):
    """Array of shape (D, *x.shape) whose slice i is x with unit i set to values[..., i]."""
    out = np.repeat(x[None], D, axis=0)
    for i in range(D):
        out[i, ..., i] = values[..., i]
    return jnp.asarray(out)


@pytest.mark.parametrize("spins", [False, True])
def test_local_field_matches_flip_energy_differences(spins):
    params = _params(3)
    x = np.asarray(_states(4, (6, D), spins))
    field = np.asarray(local_field(params, jnp.asarray(x)))
    base = np.asarray(energy(params, jnp.asarray(x)))
    flipped = _set_each_unit(x, -x if spins else 1 - x)
    delta = (np.asarray(energy(params, flipped)) - base).T  # (n, D)
    # E(x with x_i flipped) - E(x) = 2 s_i phi_i (spins), (2 x_i - 1) phi_i (0/1)
    expected = 2 * x * field if spins else (2 * x - 1) * field
    np.testing.assert_allclose(delta, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spins", [False, True])
def test_conditional_logits_are_exact_conditionals(spins):
    """logit p(x_i = high | rest) from normalising over the two values of x_i."""
    params = _params(5)
    x = np.asarray(_states(6, (4, D), spins))
    logits = np.asarray(boltzmann.conditional_logits(params, jnp.asarray(x), spins))
    e_high = energy(params, _set_each_unit(x, np.ones_like(x)))
    e_low = energy(params, _set_each_unit(x, np.full_like(x, -1.0 if spins else 0.0)))
    np.testing.assert_allclose(logits, np.asarray(e_low - e_high).T, rtol=1e-5, atol=1e-5)


def test_batch_broadcasting_shapes():
    params = _params()
    x = _states(7, (2, 3, 4, D), False)
    assert energy(params, x).shape == (2, 3, 4)
    assert local_field(params, x).shape == (2, 3, 4, D)
    assert boltzmann.conditional_logits(params, x, spins=True).shape == (2, 3, 4, D)
    assert energy(params, x[0, 0, 0]).shape == ()
    flat = energy(params, x.reshape(-1, D)).reshape(2, 3, 4)
    np.testing.assert_allclose(np.asarray(energy(params, x)), np.asarray(flat))


def test_float64_preserved():
    with jax.enable_x64(True):
        params = _params(dtype=np.float64)
        x = _states(8, (3, D), True, np.float64)
        assert energy(params, x).dtype == jnp.float64
        assert boltzmann.local_field(params, x).dtype == jnp.float64


@pytest.mark.parametrize("spins", [False, True])
def test_finite_for_large_couplings(spins):
    params = _params(9, scale=1e4)
    params = params._replace(h=1e4 * params.h)
    x = _states(10, (16, D), spins)
    assert np.all(np.isfinite(np.asarray(energy(params, x))))
    probs = np.asarray(jax.nn.sigmoid(boltzmann.conditional_logits(params, x, spins)))
    assert np.all((probs >= 0) & (probs <= 1))


# ---------------------------------------------------------------- validation


def test_validate_params_rejects_asymmetric_J():
    params = _params()
    bad = params._replace(J=params.J.at[0, 1].add(0.1))
    with pytest.raises(ValueError, match=r"symmetric.*J\[0, 1\]|symmetric.*J\[1, 0\]"):
        boltzmann.validate_params(bad)


def test_validate_params_rejects_nonzero_diagonal():
    params = _params()
    bad = params._replace(J=params.J.at[2, 2].set(0.5))
    with pytest.raises(ValueError, match=r"zero diagonal.*J\[2, 2\]"):
        boltzmann.validate_params(bad)


def test_validate_params_rejects_shapes_dtype_nan():
    params = _params()
    with pytest.raises(ValueError, match="square"):
        boltzmann.validate_params(params._replace(J=params.J[:, :4]))
    with pytest.raises(ValueError, match=r"h must have shape \(5,\)"):
        boltzmann.validate_params(params._replace(h=params.h[:4]))
    with pytest.raises(ValueError, match="non-finite"):
        boltzmann.validate_params(params._replace(h=params.h.at[1].set(jnp.nan)))
    with pytest.raises(TypeError, match="floating-point"):
        boltzmann.validate_params(params._replace(J=jnp.zeros((D, D), jnp.int32)))
    with pytest.raises(ValueError, match="square"):
        boltzmann.symmetrize(jnp.zeros((3, 4)))


def test_validate_params_accepts_rounding_level_asymmetry():
    params = _params()
    J = np.asarray(params.J).copy()
    J[0, 1] = np.nextafter(J[0, 1], np.float32(np.inf))
    boltzmann.validate_params(params._replace(J=jnp.asarray(J)))


def test_validate_state_errors_name_the_problem():
    params = _params()
    with pytest.raises(ValueError, match="x has 4 units"):
        boltzmann.validate_state(params, jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        boltzmann.validate_state(params, jnp.zeros((2, D)).at[1, 3].set(jnp.nan))
    with pytest.raises(TypeError, match="floating-point"):
        boltzmann.validate_state(params, jnp.zeros((2, D), jnp.int32))
    spins = -jnp.ones((2, D))
    with pytest.raises(ValueError, match=r"holds ±1 spins but the model takes 0/1 units"):
        boltzmann.validate_state(params, spins, spins=False)
    boltzmann.validate_state(params, spins, spins=True)
    with pytest.raises(ValueError, match=r"spins in \{-1, \+1\}"):
        boltzmann.validate_state(params, jnp.zeros((2, D)), spins=True, name="x")
    with pytest.raises(ValueError, match=r"outside \{0, 1\}"):
        boltzmann.validate_state(params, jnp.full((2, D), 0.5))


def test_init_params_rejects_no_units():
    with pytest.raises(ValueError, match="n_units"):
        boltzmann.init_params(jax.random.key(0), 0)
