"""The clamped RBM block-Gibbs kernel: clamping, equivalence without a mask, and goodness of fit.

Goodness-of-fit tests run many independent chains (one batched state) past burn-in
and keep the final state of each, so the samples are independent draws; the small
models mix in a few sweeps. Chi-square tests at alpha = 1e-3 (false-failure rate
0.1% per test); mean checks at 5 standard errors (two-sided false-failure rate
below 1e-6 per coordinate).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import clamped_gibbs, rbm_gibbs
from tests._stats import chisquare_counts, configuration_index

ALPHA = 1e-3
N_CHAINS = 20_000
SWEEPS = 40


def _run(algorithm, state, params, key, sweeps=SWEEPS):
    @jax.jit
    def run(state, params, key):
        def body(state, k):
            return algorithm.step(k, state, params)

        return jax.lax.scan(body, state, jax.random.split(key, sweeps))

    return run(state, params, key)


def test_observed_units_never_change():
    D, K, n = 10, 5, 64
    params = bernoulli_rbm.init_params(jax.random.key(0), D, K, weight_scale=2.0)
    v0 = (jax.random.uniform(jax.random.key(1), (n, D)) < 0.5).astype(jnp.float32)
    observed = jax.random.uniform(jax.random.key(2), (n, D)) < 0.5  # a mask per chain
    algorithm = clamped_gibbs.as_top_level_api("bernoulli")
    state, infos = _run(
        algorithm, algorithm.init(v0, params, observed), params, jax.random.key(3), sweeps=10
    )
    obs = np.asarray(observed)
    np.testing.assert_array_equal(np.asarray(state.visible)[obs], np.asarray(v0)[obs])
    np.testing.assert_array_equal(np.asarray(state.observed), obs)
    assert state.visible.dtype == jnp.float32
    # the clamped value also stands in for the conditional mean at observed units
    means = np.asarray(infos.visible_mean)
    np.testing.assert_array_equal(
        means[:, obs], np.broadcast_to(np.asarray(v0)[obs], means[:, obs].shape)
    )
    # the missing units do move
    assert (np.asarray(state.visible)[~obs] != np.asarray(v0)[~obs]).any()


def test_shared_mask_broadcasts_over_chains():
    params = bernoulli_rbm.init_params(jax.random.key(0), 4, 2)
    state = clamped_gibbs.init(jnp.zeros((3, 4)), params, jnp.array([True, False, False, True]))
    assert state.observed.shape == (3, 4)


def test_without_mask_it_is_rbm_gibbs_draw_for_draw():
    params = bernoulli_rbm.init_params(jax.random.key(4), 6, 3, weight_scale=1.0)
    v0 = (jax.random.uniform(jax.random.key(5), (8, 6)) < 0.5).astype(jnp.float32)
    clamped = clamped_gibbs.as_top_level_api("bernoulli")
    plain = rbm_gibbs.as_top_level_api("bernoulli")
    a, _ = _run(clamped, clamped.init(v0, params), params, jax.random.key(6), sweeps=5)
    b, _ = _run(plain, plain.init(v0, params), params, jax.random.key(6), sweeps=5)
    np.testing.assert_array_equal(np.asarray(a.visible), np.asarray(b.visible))
    np.testing.assert_array_equal(np.asarray(a.hidden), np.asarray(b.hidden))


def _exact_conditional_bernoulli(params, observed, values):
    """p(v_m | v_o) over the 2^|m| configurations of the missing units (index order)."""
    missing = np.flatnonzero(~observed)

    def energy(p, x_m):
        v = jnp.broadcast_to(jnp.asarray(values, x_m.dtype), x_m.shape[:-1] + values.shape)
        v = v.at[..., missing].set(x_m)
        return bernoulli_rbm.free_energy(p, v)

    _, log_p = exact.log_probabilities_binary(energy, params, len(missing))
    return np.exp(log_p)


def test_bernoulli_conditional_matches_enumeration_with_two_masks():
    """Half the chains clamp one set of units, half another: each half must sample its own
    conditional p(v_m | v_o)."""
    D, K = 7, 3
    params = bernoulli_rbm.init_params(jax.random.key(7), D, K, weight_scale=1.5)
    params = params._replace(b=jnp.linspace(-1.0, 1.0, D), c=jnp.array([0.5, -0.5, 0.0]))
    masks = [
        np.array([1, 1, 1, 0, 0, 0, 0], bool),
        np.array([0, 1, 0, 1, 0, 1, 1], bool),
    ]
    values = [
        np.array([1, 0, 1, 0, 0, 0, 0], np.float32),
        np.array([0, 1, 0, 0, 0, 1, 0], np.float32),
    ]
    half = N_CHAINS // 2
    observed = np.concatenate([np.broadcast_to(m, (half, D)) for m in masks])
    clamp = np.concatenate([np.broadcast_to(v, (half, D)) for v in values])
    noise = np.asarray(jax.random.uniform(jax.random.key(8), (N_CHAINS, D)) < 0.5, np.float32)
    v0 = np.where(observed, clamp, noise)  # Hinton: fill in the missing inputs randomly
    algorithm = clamped_gibbs.as_top_level_api("bernoulli")
    state, _ = _run(
        algorithm,
        algorithm.init(jnp.asarray(v0), params, jnp.asarray(observed)),
        params,
        jax.random.key(9),
    )
    visible = np.asarray(state.visible)
    for i, (mask, value) in enumerate(zip(masks, values, strict=True)):
        rows = visible[i * half : (i + 1) * half]
        np.testing.assert_array_equal(
            rows[:, mask], np.broadcast_to(value[mask], (half, mask.sum()))
        )
        counts = np.bincount(configuration_index(rows[:, ~mask]), minlength=2 ** (~mask).sum())
        assert chisquare_counts(counts, _exact_conditional_bernoulli(params, mask, value)) > ALPHA


def test_gaussian_conditional_mean_matches_exact():
    D, K = 4, 3
    params = gaussian_rbm.init_params(jax.random.key(10), D, K, weight_scale=1.0)
    params = params._replace(
        b=jnp.array([0.5, -0.5, 0.0, 1.0]), log_sigma=jnp.array([0.0, -0.3, 0.2, 0.1])
    )
    observed = np.array([True, False, True, False])
    value = np.array([1.2, 0.0, -0.7, 0.0], np.float32)
    v0 = jnp.broadcast_to(jnp.asarray(value), (N_CHAINS, D))
    algorithm = clamped_gibbs.as_top_level_api("gaussian")
    state, infos = _run(
        algorithm, algorithm.init(v0, params, jnp.asarray(observed)), params, jax.random.key(11)
    )

    # exact: p(h | v_o) ∝ exp(c.h + sum_o (v_i/s_i) a_i + sum_m (b_i a_i/s_i + a_i^2/2)), a = W h
    W, b, c = (np.asarray(x, np.float64) for x in (params.W, params.b, params.c))
    sigma = np.exp(np.asarray(params.log_sigma, np.float64))
    h = np.asarray(exact.binary_states(K, dtype=jnp.float32), np.float64)
    a = h @ W.T
    log_w = h @ c + a[:, observed] @ (value[observed] / sigma[observed])
    log_w += np.sum(
        b[~observed] * a[:, ~observed] / sigma[~observed] + 0.5 * a[:, ~observed] ** 2, axis=1
    )
    p_h = np.exp(log_w - log_w.max())
    p_h /= p_h.sum()
    exact_mean = p_h @ (b[~observed] + sigma[~observed] * a[:, ~observed])

    samples = np.asarray(state.visible)[:, ~observed]
    se = samples.std(axis=0) / np.sqrt(N_CHAINS)
    assert np.all(np.abs(samples.mean(axis=0) - exact_mean) < 5 * se)
    rao_blackwell = np.asarray(infos.visible_mean[-1])[:, ~observed]
    se_rb = rao_blackwell.std(axis=0) / np.sqrt(N_CHAINS)
    assert np.all(np.abs(rao_blackwell.mean(axis=0) - exact_mean) < 5 * se_rb)
    np.testing.assert_array_equal(
        np.asarray(state.visible)[:, observed], np.asarray(v0)[:, observed]
    )


def test_clear_errors():
    params = bernoulli_rbm.init_params(jax.random.key(0), 4, 2)
    v = jnp.zeros((2, 4))
    with pytest.raises(TypeError, match="boolean mask"):
        clamped_gibbs.init(v, params, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="does not broadcast"):
        clamped_gibbs.init(v, params, jnp.ones((3,), bool))
    with pytest.raises(ValueError, match="binary"):
        clamped_gibbs.init(v + 0.5, params, jnp.ones((4,), bool))
    with pytest.raises(ValueError, match="unknown RBM model"):
        clamped_gibbs.as_top_level_api("ising")
