"""Continuous energies learned with HMC / Langevin negative phases recover known answers.

The model is a Gaussian energy E(x) = 0.5 * sum(exp(log_precision) * (x - mean)^2)
and the data come from a Gaussian, so the maximum-likelihood answer is the data's
mean and variance. Tolerances are several standard errors of the data mean and
variance for 4,000 points plus the optimiser's residual noise (checked to be far
smaller than the tolerance at these settings); false-failure rate below 1e-4.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm.kernels import hmc, langevin, mala
from numpyro_ebm.learning import cd, fit, pcd
from numpyro_ebm.learning.replay import persistent_with_replay

TRUE_MEAN = np.array([1.0, -2.0], np.float32)
TRUE_STD = np.array([0.5, 2.0], np.float32)


def gaussian_energy(params, x):
    mean, log_precision = params
    return 0.5 * jnp.sum(jnp.exp(log_precision) * jnp.square(x - mean), axis=-1)


def _data(n=4000):
    return jnp.asarray(
        TRUE_MEAN + TRUE_STD * np.random.default_rng(0).standard_normal((n, 2)), jnp.float32
    )


def _check(params, data):
    mean, log_precision = params
    sample_mean, sample_std = np.asarray(data.mean(0)), np.asarray(data.std(0))
    learned_std = np.exp(-0.5 * np.asarray(log_precision))
    assert np.all(np.abs(np.asarray(mean) - sample_mean) < 0.25 * TRUE_STD), (mean, sample_mean)
    assert np.all(np.abs(learned_std / sample_std - 1) < 0.15), (learned_std, sample_std)


INIT = (jnp.zeros(2), jnp.zeros(2))


def _fit(rng_key, rule, data, *, epochs):
    """Adam(0.05) from ``INIT``, batches of 200 (20 an epoch of the 4,000 points)."""
    return fit(
        rng_key, INIT, data, rule, optax.adam(0.05), epochs=epochs, batch_size=200, progress=False
    )


@pytest.mark.standard_promotion  # optax.adam
def test_hinton_shortcut_cd_with_hmc():
    # start at the data, one momentum draw, a few leapfrog steps (Hinton's "shortcut")
    data = _data()
    sampler = hmc.as_top_level_api(gaussian_energy, step_size=0.2, num_integration_steps=5)
    rule = cd(gaussian_energy, sampler, k=1, vmap_chains=True)
    result = _fit(jax.random.key(0), rule, data, epochs=30)
    _check(result.params, data)
    assert 0.5 < result.history["acceptance_rate"][-1] <= 1.0


@pytest.mark.standard_promotion  # optax.adam
def test_pcd_with_mala_negative_phase():
    data = _data()
    sampler = mala.as_top_level_api(gaussian_energy, step_size=0.3)
    rule = pcd(gaussian_energy, sampler, n_chains=500, k=5, vmap_chains=True)
    result = _fit(jax.random.key(1), rule, data, epochs=30)
    _check(result.params, data)


@pytest.mark.standard_promotion  # optax.adam
def test_replay_buffer_with_langevin():
    data = _data()
    # ULA's stationary variance is std^2 / (1 - h / (2 std^2)): about 5% too high in std for the
    # narrow coordinate at h = 0.05, inside the tolerance
    sampler = langevin.as_top_level_api(gaussian_energy, step_size=0.05)
    rule = persistent_with_replay(
        gaussian_energy, sampler, n_chains=500, buffer_size=5000, k=20, reinit_fraction=0.05
    )
    result = _fit(jax.random.key(2), rule, data, epochs=40)
    _check(result.params, data)
