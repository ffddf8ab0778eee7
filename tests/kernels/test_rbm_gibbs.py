"""Goodness of fit of the RBM block-Gibbs kernels against exact answers.

Each test runs many independent chains (one batched state, so one key per
sweep shared by all chains but independent bits per chain) past burn-in and
keeps the final state of each chain: the samples are independent draws from the
chain's distribution after ``SWEEPS`` sweeps. The models are small and mix in a
few sweeps, so the remaining burn-in bias is far below the test's resolution.
Chi-square tests at alpha = 1e-3: false-failure rate 0.1% per test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import rbm_gibbs
from tests._stats import chisquare_counts, configuration_index

ALPHA = 1e-3
N_CHAINS = 20_000
SWEEPS = 60


def _run(algorithm, state, params, key, sweeps=SWEEPS):
    @jax.jit
    def run(state, params, key):
        def body(state, k):
            state, _ = algorithm.step(k, state, params)
            return state, None

        return jax.lax.scan(body, state, jax.random.split(key, sweeps))[0]

    return run(state, params, key)


def test_bernoulli_rbm_joint_configurations_match_enumeration():
    D, K = 5, 3
    params = bernoulli_rbm.init_params(jax.random.key(0), D, K, weight_scale=1.5)
    params = params._replace(b=jnp.linspace(-1.0, 1.0, D), c=jnp.array([0.5, -0.5, 0.0]))
    algorithm = rbm_gibbs.as_top_level_api("bernoulli")
    v0 = (jax.random.uniform(jax.random.key(1), (N_CHAINS, D)) < 0.5).astype(jnp.float32)
    state = _run(algorithm, algorithm.init(v0, params), params, jax.random.key(2))

    # joint (v, h): state.hidden was drawn from p(h | v_prev) and state.visible from
    # p(v | hidden), so (visible, hidden) is a draw from p(v, h) at stationarity
    joint_states = np.concatenate([np.asarray(state.visible), np.asarray(state.hidden)], axis=1)
    counts = np.bincount(configuration_index(joint_states), minlength=2 ** (D + K))

    def joint_energy(p, x):
        return bernoulli_rbm.joint_energy(p, x[..., :D], x[..., D:])

    _, log_probs = exact.log_probabilities_binary(joint_energy, params, D + K)
    assert chisquare_counts(counts, np.exp(log_probs)) > ALPHA

    visible_counts = np.bincount(configuration_index(state.visible), minlength=2**D)
    _, log_pv = exact.log_probabilities_binary(bernoulli_rbm.free_energy, params, D)
    assert chisquare_counts(visible_counts, np.exp(log_pv)) > ALPHA


def test_bernoulli_rbm_vmapped_chains_match_enumeration():
    D, K = 4, 2
    params = bernoulli_rbm.init_params(jax.random.key(5), D, K, weight_scale=2.0)
    algorithm = rbm_gibbs.as_top_level_api("bernoulli")
    v0 = jnp.zeros((N_CHAINS, D))
    states = jax.vmap(algorithm.init, (0, None))(v0, params)

    @jax.jit
    def run(states, keys):
        def body(states, i):
            states, _ = jax.vmap(algorithm.step, (0, 0, None))(
                jax.vmap(jax.random.fold_in, (0, None))(keys, i), states, params
            )
            return states, None

        return jax.lax.scan(body, states, jnp.arange(SWEEPS))[0]

    states = run(states, jax.random.split(jax.random.key(6), N_CHAINS))
    counts = np.bincount(configuration_index(states.visible), minlength=2**D)
    _, log_pv = exact.log_probabilities_binary(bernoulli_rbm.free_energy, params, D)
    assert chisquare_counts(counts, np.exp(log_pv)) > ALPHA


def test_gaussian_rbm_visible_bins_and_hidden_match_exact():
    D, K = 2, 3
    params = gaussian_rbm.init_params(jax.random.key(7), D, K, weight_scale=1.2)
    params = params._replace(
        b=jnp.array([0.5, -0.5]), c=jnp.array([-0.5, 0.3, 0.0]), log_sigma=jnp.array([0.0, -0.4])
    )
    algorithm = rbm_gibbs.as_top_level_api("gaussian")
    state = _run(
        algorithm, algorithm.init(jnp.zeros((N_CHAINS, D)), params), params, jax.random.key(8)
    )

    hidden_states, log_ph = exact.log_probabilities_binary(
        gaussian_rbm.hidden_free_energy, params, K
    )
    ph = np.exp(log_ph)
    hidden_counts = np.bincount(configuration_index(state.hidden), minlength=2**K)
    assert chisquare_counts(hidden_counts, ph) > ALPHA

    # exact probability of each visible bin: p(v) = sum_h p(h) N(v; b + sigma W h, sigma^2)
    means = np.asarray(gaussian_rbm.visible_mean(params, jnp.asarray(hidden_states, jnp.float32)))
    sigma = np.exp(np.asarray(params.log_sigma))
    edges = [np.concatenate([[-np.inf], np.linspace(-3, 3, 11), [np.inf]]) for _ in range(D)]
    cdf = [stats.norm.cdf((edges[d][None, :] - means[:, d : d + 1]) / sigma[d]) for d in range(D)]
    mass = [np.diff(c, axis=1) for c in cdf]  # (2^K, n_bins) per dimension
    expected = np.einsum("h,hi,hj->ij", ph, mass[0], mass[1]).ravel()
    v = np.asarray(state.visible)
    ix = np.searchsorted(edges[0], v[:, 0]) - 1
    iy = np.searchsorted(edges[1], v[:, 1]) - 1
    counts = np.bincount(ix * (len(edges[1]) - 1) + iy, minlength=expected.size)
    assert chisquare_counts(counts, expected) > ALPHA


def test_info_reports_conditionals():
    params = bernoulli_rbm.init_params(jax.random.key(0), 3, 2, weight_scale=1.0)
    algorithm = rbm_gibbs.as_top_level_api()
    state = algorithm.init(jnp.array([[1.0, 0.0, 1.0]]), params)
    new_state, info = algorithm.step(jax.random.key(1), state, params)
    np.testing.assert_allclose(
        info.hidden_probs, bernoulli_rbm.hidden_probs(params, state.visible), rtol=1e-6
    )
    np.testing.assert_allclose(
        info.visible_mean, bernoulli_rbm.visible_probs(params, new_state.hidden), rtol=1e-6
    )


def test_bad_input_and_unknown_model():
    params = bernoulli_rbm.init_params(jax.random.key(0), 3, 2)
    algorithm = rbm_gibbs.as_top_level_api("bernoulli")
    with pytest.raises(ValueError, match="binary"):
        algorithm.init(jnp.array([0.0, 2.0, 1.0]), params)
    with pytest.raises(ValueError, match="visible units"):
        algorithm.init(jnp.zeros((4,)), params)
    with pytest.raises(ValueError, match="non-finite"):
        algorithm.init(jnp.array([0.0, jnp.nan, 1.0]), params)
    with pytest.raises(TypeError, match="floating-point"):
        algorithm.init(jnp.array([0, 1, 1]), params)
    with pytest.raises(ValueError, match="unknown RBM model 'poisson'"):
        rbm_gibbs.as_top_level_api("poisson")
