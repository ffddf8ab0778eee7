"""The {0,1} <-> ±1 parameter maps give the same distribution, both ways, by enumeration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm, boltzmann, lattice_ising, spins
from numpyro_ebm.evaluation.exact import binary_states


def _log_probs(energies):
    energies = np.asarray(energies)
    return -energies - np.logaddexp.reduce(-energies)


@pytest.fixture(scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def test_boltzmann_map_both_ways(x64):
    rng = np.random.default_rng(0)
    params = boltzmann.BoltzmannParams(
        boltzmann.symmetrize(jnp.asarray(rng.standard_normal((5, 5)))),
        jnp.asarray(rng.standard_normal(5)),
    )
    bits = binary_states(5, dtype=jnp.float64)
    spin_params = spins.boltzmann_to_spins(params)
    np.testing.assert_allclose(
        _log_probs(boltzmann.energy(spin_params, 2 * bits - 1)),
        _log_probs(boltzmann.energy(params, bits)),
        atol=1e-12,
    )
    back = spins.boltzmann_from_spins(spin_params)
    for a, b in zip(back, params, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # and from an arbitrary spin model
    from_spins = spins.boltzmann_from_spins(params)
    np.testing.assert_allclose(
        _log_probs(boltzmann.energy(from_spins, bits)),
        _log_probs(boltzmann.energy(params, 2 * bits - 1)),
        atol=1e-12,
    )


def test_bernoulli_rbm_map_both_ways(x64):
    params = bernoulli_rbm.init_params(jax.random.key(0), 3, 2, weight_scale=1.0, dtype=jnp.float64)
    params = params._replace(b=jnp.asarray([0.3, -0.5, 1.0]), c=jnp.asarray([0.7, -0.2]))
    joint = binary_states(5, dtype=jnp.float64)  # (v, h) pairs
    v, h = joint[:, :3], joint[:, 3:]
    spin_params = spins.bernoulli_rbm_to_spins(params)
    np.testing.assert_allclose(
        _log_probs(bernoulli_rbm.joint_energy(spin_params, 2 * v - 1, 2 * h - 1)),
        _log_probs(bernoulli_rbm.joint_energy(params, v, h)),
        atol=1e-12,
    )
    from_spins = spins.bernoulli_rbm_from_spins(params)
    np.testing.assert_allclose(
        _log_probs(bernoulli_rbm.joint_energy(from_spins, v, h)),
        _log_probs(bernoulli_rbm.joint_energy(params, 2 * v - 1, 2 * h - 1)),
        atol=1e-12,
    )
    back = spins.bernoulli_rbm_from_spins(spin_params)
    for a, b in zip(back, params, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_lattice_ising_map_both_ways(x64):
    rng = np.random.default_rng(1)
    params = lattice_ising.LatticeIsingParams(
        jnp.asarray(rng.standard_normal((2, 2))),
        jnp.asarray(rng.standard_normal((1, 3))),
        jnp.asarray(rng.standard_normal((2, 3))),
    )
    bits = binary_states(6, dtype=jnp.float64).reshape(-1, 2, 3)
    spin_params = spins.lattice_ising_to_spins(params)
    np.testing.assert_allclose(
        _log_probs(lattice_ising.energy(spin_params, 2 * bits - 1)),
        _log_probs(lattice_ising.energy(params, bits)),
        atol=1e-12,
    )
    from_spins = spins.lattice_ising_from_spins(params)
    np.testing.assert_allclose(
        _log_probs(lattice_ising.energy(from_spins, bits)),
        _log_probs(lattice_ising.energy(params, 2 * bits - 1)),
        atol=1e-12,
    )
    back = spins.lattice_ising_from_spins(spin_params)
    for a, b in zip(back, params, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_spin_data_for_a_binary_model_and_the_reverse_are_named():
    from numpyro_ebm.kernels import boltzmann_gibbs

    params = bernoulli_rbm.init_params(jax.random.key(0), 3, 2)
    with pytest.raises(ValueError, match="holds ±1 spins but the model takes 0/1 units"):
        bernoulli_rbm.validate_visible(params, jnp.asarray([[1.0, -1.0, 1.0]]))
    couplings = boltzmann.BoltzmannParams(jnp.zeros((3, 3)), jnp.zeros(3))
    spin_sampler = boltzmann_gibbs.as_top_level_api(spins=True)
    with pytest.raises(ValueError, match="these look like 0/1 units"):
        spin_sampler.init(jnp.asarray([[1.0, 0.0, 1.0]]), couplings)
