"""2-D lattice Ising energy: dense cross-check, local fields, exact log Z, validation."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import boltzmann, lattice_ising
from numpyro_ebm.evaluation import exact

# Test data comes from numpy (jax.random would compile a kernel per shape), and the
# functions under test are jitted once per shape instead of compiled op by op.
energy = jax.jit(lattice_ising.energy)
local_field = jax.jit(lattice_ising.local_field)
dense_energy = jax.jit(boltzmann.energy)
dense_local_field = jax.jit(boltzmann.local_field)


def _params(shape, seed=0, scale=0.7, dtype=np.float32):
    H, W = shape
    rng = np.random.default_rng(seed)
    return lattice_ising.LatticeIsingParams(
        jnp.asarray(scale * rng.standard_normal((H, W - 1)), dtype),
        jnp.asarray(scale * rng.standard_normal((H - 1, W)), dtype),
        jnp.asarray(0.5 * rng.standard_normal((H, W)), dtype),
    )


def _states(seed, shape, spins, dtype=np.float32):
    bits = np.random.default_rng(seed).integers(0, 2, shape).astype(dtype)
    return jnp.asarray(2 * bits - 1 if spins else bits)


@pytest.mark.parametrize("spins", [True, False])
@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (4, 1), (1, 1)])
def test_energy_and_local_field_match_dense_boltzmann(shape, spins):
    H, W = shape
    params = _params(shape, seed=H * 10 + W)
    dense = lattice_ising.to_boltzmann(params)
    boltzmann.validate_params(dense)  # symmetric, zero diagonal
    s = _states(1, (2, 6, H, W), spins)
    flat = s.reshape(2, 6, H * W)
    np.testing.assert_allclose(
        np.asarray(energy(params, s)),
        np.asarray(dense_energy(dense, flat)),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        np.asarray(local_field(params, s)).reshape(2, 6, H * W),
        np.asarray(dense_local_field(dense, flat)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_to_boltzmann_couples_only_nearest_neighbours():
    params = _params((3, 3), seed=2)
    J = np.asarray(lattice_ising.to_boltzmann(params).J)
    for (a, (i, j)), (b, (k, l)) in itertools.product(
        enumerate(itertools.product(range(3), range(3))), repeat=2
    ):
        if abs(i - k) + abs(j - l) != 1:
            assert J[a, b] == 0.0
    assert J[0, 1] == np.asarray(params.horizontal)[0, 0]  # (0,0)-(0,1)
    assert J[4, 7] == np.asarray(params.vertical)[1, 1]  # (1,1)-(2,1)


def test_energy_of_a_2x2_lattice_by_hand():
    params = lattice_ising.LatticeIsingParams(
        horizontal=jnp.array([[0.5], [-0.25]]),
        vertical=jnp.array([[1.0, 2.0]]),
        field=jnp.array([[0.1, -0.2], [0.3, 0.4]]),
    )
    s = jnp.array([[1.0, -1.0], [-1.0, -1.0]])
    # -(0.5*(1)(-1) + -0.25*(-1)(-1) + 1.0*(1)(-1) + 2.0*(-1)(-1)) - (0.1 + 0.2 - 0.3 - 0.4)
    expected = -(-0.5 - 0.25 - 1.0 + 2.0) - (0.1 + 0.2 - 0.3 - 0.4)
    np.testing.assert_allclose(float(energy(params, s)), expected, rtol=1e-6)


def _set_each_site(s, values):
    """Array of shape (H*W, *s.shape) whose slice k is s with site k (row-major) set to
    values at that site."""
    H, W = s.shape[-2:]
    out = np.repeat(s[None], H * W, axis=0)
    for k, (i, j) in enumerate(itertools.product(range(H), range(W))):
        out[k, ..., i, j] = values[..., i, j]
    return jnp.asarray(out)


@pytest.mark.parametrize("spins", [True, False])
def test_local_field_matches_flip_energy_differences(spins):
    params = _params((3, 4), seed=3)
    s = np.asarray(_states(4, (5, 3, 4), spins))
    field = np.asarray(local_field(params, jnp.asarray(s)))
    logits = np.asarray(lattice_ising.conditional_logits(params, jnp.asarray(s), spins))
    base = np.asarray(energy(params, jnp.asarray(s)))
    flipped = _set_each_site(s, -s if spins else 1 - s)
    delta = (np.asarray(energy(params, flipped)) - base).T.reshape(5, 3, 4)
    # E(s with s_ij flipped) - E(s) = 2 s_ij phi_ij (spins), (2 x_ij - 1) phi_ij (0/1)
    expected = 2 * s * field if spins else (2 * s - 1) * field
    np.testing.assert_allclose(delta, expected, rtol=1e-5, atol=1e-5)
    e_high = energy(params, _set_each_site(s, np.ones_like(s)))
    e_low = energy(params, _set_each_site(s, np.full_like(s, -1.0 if spins else 0.0)))
    gap = np.asarray(e_low - e_high).T.reshape(5, 3, 4)
    np.testing.assert_allclose(logits, gap, rtol=1e-5, atol=1e-5)


def test_uniform_params_and_init_params():
    params = lattice_ising.uniform_params((3, 5), coupling=0.4, field=-0.1)
    assert params.horizontal.shape == (3, 4) and params.vertical.shape == (2, 5)
    assert params.field.shape == (3, 5) and params.shape == (3, 5)
    np.testing.assert_array_equal(np.asarray(params.horizontal), np.float32(0.4))
    np.testing.assert_array_equal(np.asarray(params.field), np.float32(-0.1))
    # all-up state: 22 edges and 15 sites
    up = jnp.ones((3, 5))
    np.testing.assert_allclose(float(energy(params, up)), -(22 * 0.4) + 15 * 0.1, rtol=1e-6)
    random = lattice_ising.init_params(jax.random.key(0), (3, 5), scale=0.2)
    lattice_ising.validate_params(random)
    assert random.horizontal.shape == (3, 4) and random.vertical.shape == (2, 5)
    np.testing.assert_array_equal(np.asarray(random.field), 0.0)
    with pytest.raises(ValueError, match="lattice shape"):
        lattice_ising.uniform_params((0, 3))


def test_batch_broadcasting_shapes():
    params = _params((3, 4))
    s = _states(5, (2, 3, 3, 4), True)
    assert energy(params, s).shape == (2, 3)
    assert local_field(params, s).shape == (2, 3, 3, 4)
    assert energy(params, s[0, 0]).shape == ()
    per_state = jnp.stack([energy(params, s[a, b]) for a in range(2) for b in range(3)])
    np.testing.assert_allclose(
        np.asarray(energy(params, s)).ravel(), np.asarray(per_state), rtol=1e-6
    )


def test_float64_preserved():
    with jax.enable_x64(True):
        params = _params((2, 3), dtype=np.float64)
        s = _states(6, (4, 2, 3), True, np.float64)
        assert energy(params, s).dtype == jnp.float64
        assert local_field(params, s).dtype == jnp.float64
        assert lattice_ising.to_boltzmann(params).J.dtype == jnp.float64


def test_finite_for_large_couplings():
    params = lattice_ising.uniform_params((4, 4), coupling=1e5, field=-1e5)
    s = _states(7, (8, 4, 4), True)
    assert np.all(np.isfinite(np.asarray(energy(params, s))))
    probs = np.asarray(jax.nn.sigmoid(lattice_ising.conditional_logits(params, s)))
    assert np.all((probs >= 0) & (probs <= 1))


def test_log_partition_of_2x2_lattice_matches_brute_force():
    h = [[0.3], [-0.7]]  # (0,0)-(0,1) and (1,0)-(1,1)
    v = [[0.5, 1.1]]  # (0,0)-(1,0) and (0,1)-(1,1)
    f = [[0.2, -0.4], [0.9, 0.1]]
    params = lattice_ising.LatticeIsingParams(jnp.array(h), jnp.array(v), jnp.array(f))

    def energy_flat(p, x):
        return lattice_ising.energy(p, x.reshape(x.shape[:-1] + (2, 2)))

    z = 0.0
    for a, b, c, d in itertools.product([-1, 1], repeat=4):  # s00, s01, s10, s11
        e = -(h[0][0] * a * b + h[1][0] * c * d + v[0][0] * a * c + v[0][1] * b * d)
        e -= f[0][0] * a + f[0][1] * b + f[1][0] * c + f[1][1] * d
        z += math.exp(-e)
    log_z = exact.log_partition_binary(energy_flat, params, 4, spins=True)
    assert abs(log_z - math.log(z)) < 1e-6
    # the dense equivalent has the same partition function
    dense_log_z = exact.log_partition_binary(
        boltzmann.energy, lattice_ising.to_boltzmann(params), 4, spins=True
    )
    assert abs(dense_log_z - math.log(z)) < 1e-6


# ---------------------------------------------------------------- validation


def test_validate_params_errors():
    params = _params((3, 4))
    lattice_ising.validate_params(params)
    with pytest.raises(ValueError, match=r"horizontal must have shape \(3, 3\)"):
        lattice_ising.validate_params(params._replace(horizontal=params.horizontal[:, :2]))
    with pytest.raises(ValueError, match=r"vertical must have shape \(2, 4\)"):
        lattice_ising.validate_params(params._replace(vertical=params.field))
    with pytest.raises(ValueError, match="non-finite"):
        lattice_ising.validate_params(params._replace(field=params.field.at[0, 0].set(jnp.nan)))
    with pytest.raises(TypeError, match="floating-point"):
        lattice_ising.validate_params(params._replace(field=jnp.zeros((3, 4), jnp.int32)))


def test_validate_state_errors():
    params = _params((3, 4))
    with pytest.raises(ValueError, match=r"shape \(\*batch, 3, 4\)"):
        lattice_ising.validate_state(params, jnp.ones((2, 4, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        lattice_ising.validate_state(params, jnp.ones((3, 4)).at[1, 1].set(jnp.nan))
    with pytest.raises(ValueError, match=r"spins in \{-1, \+1\}"):
        lattice_ising.validate_state(params, jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"holds ±1 spins but the model takes 0/1 units"):
        lattice_ising.validate_state(params, -jnp.ones((3, 4)), spins=False)
    with pytest.raises(TypeError, match="floating-point"):
        lattice_ising.validate_state(params, jnp.ones((3, 4), jnp.int32))
    lattice_ising.validate_state(params, jnp.zeros((5, 3, 4)), spins=False)
