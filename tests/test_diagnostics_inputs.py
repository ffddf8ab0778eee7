"""Diagnostics entry points accept the shapes and outputs a new user passes them.

``discrete_hmc_gibbs_spec(..., 8)`` used to fail with "'int' object is not
iterable" while ``enumeration_moments`` took an int, and ``run_chains``'s
``(states, infos)`` pair passed straight to ``to_inference_data`` crashed inside
the energy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm import _checks, diagnostics, potentials
from numpyro_ebm.energies import bernoulli_rbm, lattice_ising
from numpyro_ebm.kernels import rbm_gibbs

PARAMS = bernoulli_rbm.init_params(jax.random.key(0), 4, 2, weight_scale=1.0)


@pytest.mark.parametrize("shape", [4, (4,), [4], np.int64(4)])
def test_discrete_hmc_gibbs_spec_takes_an_int_or_a_tuple(shape):
    spec = diagnostics.discrete_hmc_gibbs_spec(bernoulli_rbm.free_energy, PARAMS, shape)
    assert spec.evaluations_per_step == 4.0


@pytest.mark.parametrize("shape", [4, (4,)])
def test_unnormalized_energy_takes_an_int_or_a_tuple(shape):
    energy = potentials.UnnormalizedEnergy(bernoulli_rbm.free_energy, PARAMS, shape, "binary")
    assert energy.event_shape == (4,)


def test_enumeration_moments_takes_an_int_or_a_shape():
    by_int = diagnostics.enumeration_moments(bernoulli_rbm.free_energy, PARAMS, 4)
    by_tuple = diagnostics.enumeration_moments(bernoulli_rbm.free_energy, PARAMS, (4,))
    assert by_int == by_tuple
    # a 2-D configuration: the energy sees (2, 3) lattices, the enumeration 6 bits
    ising = lattice_ising.uniform_params((2, 3), coupling=0.3)
    flat = diagnostics.enumeration_moments(
        lambda p, x: lattice_ising.energy(p, x.reshape(x.shape[:-1] + (2, 3))), ising, 6
    )
    shaped = diagnostics.enumeration_moments(lattice_ising.energy, ising, (2, 3))
    np.testing.assert_allclose(shaped["energy"], flat["energy"], rtol=1e-12)


@pytest.mark.parametrize(
    ("shape", "error", "message"),
    [
        ("8", TypeError, "event_shape must hold integers"),
        (None, TypeError, "event_shape must be an int or a tuple of ints"),
        ((2.5,), TypeError, "event_shape must hold integers"),
        (-3, ValueError, "event_shape must not hold negative sizes"),
    ],
)
def test_bad_shapes_are_named(shape, error, message):
    with pytest.raises(error, match=message):
        _checks.as_shape(shape, "event_shape")
    with pytest.raises(error, match=message):
        diagnostics.discrete_hmc_gibbs_spec(bernoulli_rbm.free_energy, PARAMS, shape)


def test_lattice_shape_as_an_int_is_a_clear_error():
    with pytest.raises(ValueError, match=r"lattice shape must be \(H, W\)"):
        lattice_ising.uniform_params(3)


@pytest.fixture(scope="module")
def gibbs_chains():
    v0 = jnp.zeros((2, 4), jnp.float32)
    return diagnostics.run_chains(
        jax.random.key(1), rbm_gibbs.as_top_level_api(), v0, PARAMS, 8, batched=True
    )


def test_to_inference_data_accepts_run_chains_output(gibbs_chains):
    states, infos = gibbs_chains
    kwargs = dict(energy_fn=bernoulli_rbm.free_energy, params=PARAMS)
    from_pair = diagnostics.to_inference_data(gibbs_chains, **kwargs)
    separate = diagnostics.to_inference_data(states, infos, **kwargs)
    np.testing.assert_array_equal(
        from_pair.posterior["free_energy"].values, separate.posterior["free_energy"].values
    )
    assert set(from_pair.sample_stats.data_vars) == set(separate.sample_stats.data_vars)


def test_to_inference_data_pair_and_infos_is_a_clear_error(gibbs_chains):
    with pytest.raises(TypeError, match=r"\(states, infos\) pair.*infos was also given"):
        diagnostics.to_inference_data(gibbs_chains, gibbs_chains[1])
