"""Goodness of fit of the DBM block-Gibbs kernel against exact enumeration.

Each test runs many independent chains (one batched state, or vmapped single
chains with one key each) past burn-in and keeps the final state of each chain,
so the samples are independent. The models are tiny and mix in a few sweeps;
``SWEEPS`` leaves a burn-in bias far below the tests' resolution. Chi-square
tests at alpha = 1e-3: false-failure rate 0.1% per assertion.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import dbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import dbm_gibbs
from tests._stats import chisquare_counts, configuration_index

ALPHA = 1e-3
N_CHAINS = 20_000
SWEEPS = 60


def _model(key, D, K1, K2, scale):
    params = dbm.init_params(jax.random.key(key), D, K1, K2, weight_scale=scale)
    return params._replace(
        b=jnp.linspace(-1.0, 1.0, D), c1=jnp.linspace(0.5, -0.5, K1), c2=jnp.linspace(-0.3, 0.3, K2)
    )


def _joint_energy(D, K1):
    def energy(params, x):
        return dbm.joint_energy(params, x[..., :D], x[..., D : D + K1], x[..., D + K1 :])

    return energy


@jax.jit
def _run(state, params, key):
    kernel = dbm_gibbs.build_kernel()

    def body(state, k):
        return kernel(k, state, params)[0], None

    return jax.lax.scan(body, state, jax.random.split(key, SWEEPS))[0]


def test_joint_configurations_match_enumeration():
    D, K1, K2 = 4, 3, 2
    params = _model(0, D, K1, K2, scale=1.5)
    v0 = (jax.random.uniform(jax.random.key(1), (N_CHAINS, D)) < 0.5).astype(jnp.float32)
    state = _run(dbm_gibbs.init(v0, params), params, jax.random.key(2))
    joint = np.concatenate([state.visible, state.hidden1, state.hidden2], axis=1)
    counts = np.bincount(configuration_index(joint), minlength=2 ** (D + K1 + K2))
    _, log_probs = exact.log_probabilities_binary(_joint_energy(D, K1), params, D + K1 + K2)
    assert chisquare_counts(counts, np.exp(log_probs)) > ALPHA


def test_marginals_of_6_4_3_model_match_enumeration():
    D, K1, K2 = 6, 4, 3
    params = _model(3, D, K1, K2, scale=1.5)
    start = (
        jnp.zeros((N_CHAINS, D)),
        jnp.ones((N_CHAINS, K1)),
        jnp.zeros((N_CHAINS, K2)),
    )
    state = _run(dbm_gibbs.init(start, params), params, jax.random.key(4))

    # (v, h2) with h1 summed out: the outer free energy
    def outer(p, x):
        return dbm.outer_free_energy(p, x[..., :D], x[..., D:])

    _, log_p_outer = exact.log_probabilities_binary(outer, params, D + K2)
    outer_states = np.concatenate([state.visible, state.hidden2], axis=1)
    counts = np.bincount(configuration_index(outer_states), minlength=2 ** (D + K2))
    assert chisquare_counts(counts, np.exp(log_p_outer)) > ALPHA

    # h1 with v and h2 summed out
    _, log_p_h1 = exact.log_probabilities_binary(dbm.hidden1_free_energy, params, K1)
    counts = np.bincount(configuration_index(state.hidden1), minlength=2**K1)
    assert chisquare_counts(counts, np.exp(log_p_h1)) > ALPHA


@pytest.mark.slow
def test_vmapped_single_chains_match_enumeration():
    D, K1, K2 = 4, 3, 2
    params = _model(5, D, K1, K2, scale=2.0)
    algorithm = dbm_gibbs.as_top_level_api()
    states = jax.vmap(algorithm.init, (0, None))(jnp.zeros((N_CHAINS, D)), params)

    @jax.jit
    def run(states, keys):
        def body(states, i):
            keys_i = jax.vmap(jax.random.fold_in, (0, None))(keys, i)
            return jax.vmap(algorithm.step, (0, 0, None))(keys_i, states, params)[0], None

        return jax.lax.scan(body, states, jnp.arange(SWEEPS))[0]

    states = run(states, jax.random.split(jax.random.key(6), N_CHAINS))
    joint = np.concatenate([states.visible, states.hidden1, states.hidden2], axis=1)
    counts = np.bincount(configuration_index(joint), minlength=2 ** (D + K1 + K2))
    _, log_probs = exact.log_probabilities_binary(_joint_energy(D, K1), params, D + K1 + K2)
    assert chisquare_counts(counts, np.exp(log_probs)) > ALPHA


def test_info_reports_conditionals_and_init_from_visible():
    params = _model(7, 3, 2, 2, scale=1.0)
    algorithm = dbm_gibbs.as_top_level_api()
    v = jnp.array([[1.0, 0.0, 1.0]])
    state = algorithm.init(v, params)
    q = dbm.mean_field_init(params, v)
    np.testing.assert_allclose(state.hidden1, q.hidden1, rtol=1e-6)
    np.testing.assert_allclose(state.hidden2, q.hidden2, rtol=1e-6)
    new_state, info = algorithm.step(jax.random.key(1), state, params)
    np.testing.assert_allclose(
        info.hidden1_probs,
        jax.nn.sigmoid(dbm.hidden1_logits(params, state.visible, state.hidden2)),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        info.visible_mean, jax.nn.sigmoid(dbm.visible_logits(params, new_state.hidden1)), rtol=1e-6
    )
    np.testing.assert_allclose(
        info.hidden2_mean, jax.nn.sigmoid(dbm.hidden2_logits(params, new_state.hidden1)), rtol=1e-6
    )
    for layer in new_state:
        assert set(np.unique(np.asarray(layer))) <= {0.0, 1.0}


def test_bad_input():
    params = _model(0, 3, 2, 2, scale=1.0)
    algorithm = dbm_gibbs.as_top_level_api()
    with pytest.raises(ValueError, match="binary"):
        algorithm.init(jnp.array([0.0, 2.0, 1.0]), params)
    with pytest.raises(ValueError, match="visible units"):
        algorithm.init(jnp.zeros((4,)), params)
    with pytest.raises(TypeError, match="floating-point"):
        algorithm.init(jnp.array([0, 1, 1]), params)
    with pytest.raises(ValueError, match="hidden1"):
        algorithm.init((jnp.zeros(3), jnp.array([0.5, 1.0]), jnp.zeros(2)), params)
    with pytest.raises(ValueError, match="hidden2 has 3 units"):
        algorithm.init((jnp.zeros(3), jnp.zeros(2), jnp.zeros(3)), params)
    with pytest.raises(ValueError, match="leading"):
        algorithm.init((jnp.zeros((2, 3)), jnp.zeros(2), jnp.zeros(2)), params)
    with pytest.raises(ValueError, match="tuple of length 2"):
        algorithm.init((jnp.zeros(3), jnp.zeros(2)), params)
