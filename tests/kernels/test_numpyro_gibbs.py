"""HMC-within-Gibbs on a Gaussian-Bernoulli RBM with NumPyro's HMCGibbs.

NumPyro's own MCMC code mixes int32 and float32 (e.g. ``hmc.py``:
``sum_accept_probs / num_proposals``), so NumPyro inference runs under standard
dtype promotion; everything of ours is also exercised under the suite's strict mode.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.infer import MCMC, NUTS, HMCGibbs
from numpyro.infer.util import log_density
from scipy import stats

from numpyro_ebm.energies import gaussian_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import numpyro_gibbs
from tests._stats import chisquare_counts, configuration_index

D, K = 2, 3


def _params(dtype=jnp.float32):
    base = gaussian_rbm.init_params(jax.random.key(7), D, K, weight_scale=1.0, dtype=dtype)
    return base._replace(
        b=jnp.array([0.5, -0.3], dtype),
        c=jnp.array([0.2, -0.4, 0.1], dtype),
        log_sigma=jnp.array([0.0, -0.3], dtype),
    )


def _exact_moments(params):
    """Exact p(h), E[v] and Var[v] (float64): p(h) ∝ exp(-F(h)), v | h ~ N(mean(h), sigma^2)."""
    states, log_p = exact.log_probabilities_binary(gaussian_rbm.hidden_free_energy, params, K)
    p = np.exp(log_p)
    p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    means = np.asarray(p64.b) + np.exp(np.asarray(p64.log_sigma)) * (states @ np.asarray(p64.W).T)
    mean_v = p @ means
    var_v = np.exp(2 * np.asarray(p64.log_sigma)) + p @ means**2 - mean_v**2
    return p, mean_v, var_v


def test_model_log_joint_is_minus_energy_up_to_constant():
    params = _params()
    model = numpyro_gibbs.gaussian_rbm_model(params)
    v = jnp.array([0.3, -1.2], jnp.float32)
    for h in ([0, 0, 0], [1, 0, 1], [1, 1, 1]):
        h = jnp.array(h, jnp.int32)
        log_joint, trace = log_density(model, (), {}, {"v": v, "h": h})
        expected = -gaussian_rbm.joint_energy(params, v, h.astype(jnp.float32)) - K * math.log(2)
        np.testing.assert_allclose(float(log_joint), float(expected), rtol=1e-6, atol=1e-5)
        assert set(trace) == {"h", "v", "energy"}


def test_gibbs_fn_draws_hidden_conditional():
    params = _params()
    gibbs_fn = numpyro_gibbs.gaussian_rbm_hidden_gibbs_fn(params)
    v = jnp.array([1.0, -0.5], jnp.float32)
    h0 = jnp.zeros((K,), jnp.int32)
    n = 20_000
    keys = jax.random.split(jax.random.key(1), n)
    draws = jax.vmap(lambda k: gibbs_fn(k, {"h": h0}, {"v": v})["h"])(keys)
    assert draws.dtype == jnp.int32 and draws.shape == (n, K)
    p = np.asarray(gaussian_rbm.hidden_probs(params, v), np.float64)
    z = (np.asarray(draws).mean(0) - p) / np.sqrt(p * (1 - p) / n)
    # Binomial z-test per unit, Bonferroni over K units at alpha = 1e-3: false-failure rate 0.1%.
    assert np.all(np.abs(z) < stats.norm.isf(1e-3 / (2 * K))), z


def test_validate_params_errors():
    params = _params()
    with pytest.raises(ValueError, match="params.c has 2 hidden units"):
        numpyro_gibbs.gaussian_rbm_model(params._replace(c=jnp.zeros(2, jnp.float32)))
    with pytest.raises(TypeError, match="floating-point"):
        numpyro_gibbs.gaussian_rbm_hidden_gibbs_fn(params._replace(W=jnp.ones((D, K), jnp.int32)))
    with pytest.raises(ValueError, match="non-finite"):
        numpyro_gibbs.gaussian_rbm_model(params._replace(b=jnp.array([0.0, jnp.nan], jnp.float32)))


def _effective_sizes(h, v):
    """ESS of each hidden-configuration indicator and of each visible unit (one chain)."""
    indicators = configuration_index(h)[:, None] == np.arange(2**K)[None, :]
    series = np.concatenate([indicators.astype(np.float64), v], axis=1)
    return numpyro.diagnostics.effective_sample_size(series[None])


def test_hmcgibbs_recovers_exact_hidden_marginals_and_visible_mean():
    """HMCGibbs(NUTS on v, exact Gibbs on h) against exact enumeration of the hidden layer.

    One long chain, thinned so that consecutive kept draws are nearly independent; the
    tests use the effective sample size (ESS), capped at the number of kept draws.
    """
    params = _params()
    p_h, mean_v, var_v = _exact_moments(params)
    assert p_h.min() > 0.01  # every hidden configuration is visited often enough

    model = numpyro_gibbs.gaussian_rbm_model(params)
    gibbs_fn = numpyro_gibbs.gaussian_rbm_hidden_gibbs_fn(params)
    kernel = HMCGibbs(NUTS(model), gibbs_fn=gibbs_fn, gibbs_sites=["h"])
    n_kept, thinning = 3000, 5
    with jax.numpy_dtype_promotion("standard"):
        mcmc = MCMC(
            kernel,
            num_warmup=500,
            num_samples=n_kept * thinning,
            thinning=thinning,
            progress_bar=False,
        )
        mcmc.run(jax.random.key(0))
    samples = mcmc.get_samples()
    h, v = np.asarray(samples["h"]), np.asarray(samples["v"], np.float64)
    assert h.shape == (n_kept, K) and v.shape == (n_kept, D)
    assert h.dtype == np.int32 and set(np.unique(h)) <= {0, 1}

    ess = np.minimum(_effective_sizes(h, v), n_kept)
    assert np.all(ess > n_kept / 3), ess  # the thinned chain mixes (a bug would show here too)

    counts = np.bincount(configuration_index(h), minlength=2**K)
    # Pearson chi-square over the 8 hidden configurations with counts rescaled to the
    # smallest indicator ESS (conservative), at alpha = 1e-3: false-failure rate ~0.1%
    # (approximate, as the ESS is estimated).
    scaled = counts * ess[: 2**K].min() / n_kept
    assert chisquare_counts(scaled, p_h) > 1e-3, (counts / n_kept, p_h)

    z = (v.mean(0) - mean_v) / np.sqrt(var_v / ess[2**K :])
    # z-test per visible unit with its ESS, Bonferroni over D units at alpha = 1e-3:
    # false-failure rate ~0.1%.
    assert np.all(np.abs(z) < stats.norm.isf(1e-3 / (2 * D))), z
