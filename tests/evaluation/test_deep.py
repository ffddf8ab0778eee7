"""AIS and variational bounds for DBMs and DBNs against exact enumeration.

Models are tiny (a 6-4-3 DBM, a 6-4-3 DBN), so log Z, log p(v) and the exact
value of every bound are enumerated. Seeds are fixed; the tolerances of the
stochastic estimates are stated where they are used.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.evaluation import ais, deep, exact
from numpyro_ebm.learning import dbn
from tests._stats import configuration_index

D, K1, K2 = 6, 4, 3


def _dbm(key=0, scale=1.0):
    params = dbm.init_params(jax.random.key(key), D, K1, K2, weight_scale=scale)
    return params._replace(
        b=jnp.linspace(-1.0, 1.0, D), c1=jnp.linspace(0.5, -0.5, K1), c2=jnp.linspace(-0.3, 0.3, K2)
    )


def _dbm_energy(p, x):
    return dbm.joint_energy(p, x[..., :D], x[..., D : D + K1], x[..., D + K1 :])


def _marginal_from_joint(states, log_p, n_bits):
    index = configuration_index(states[:, :n_bits])
    return np.array([logsumexp(log_p[index == i]) for i in range(2**n_bits)])


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_ais_dbm_matches_enumeration(scale):
    params = _dbm(1, scale)
    log_z = exact.log_partition_binary(_dbm_energy, params, D + K1 + K2)
    assert deep.exact_log_partition_dbm(params) == pytest.approx(log_z, abs=1e-9)
    data = (jax.random.uniform(jax.random.key(2), (500, D)) < 0.4).astype(jnp.float32)
    estimate = deep.ais_dbm(
        jax.random.key(3), params, n_runs=200, schedule=ais.default_schedule(1000), base_data=data
    )
    # measured errors: 0.0005 (scale 1) and 0.0016 nats (scale 2); 0.1 is a wide margin
    assert abs(float(estimate.log_z) - log_z) < 0.1
    lower, upper = estimate.interval
    assert float(lower) - 0.05 < log_z < float(upper) + 0.05
    visible, hidden2 = estimate.samples
    assert visible.shape == (200, D) and hidden2.shape == (200, K2)
    assert deep.dbm_base_biases(params, data).shape == (D + K2,)


def test_exact_dbm_log_likelihood_matches_full_enumeration():
    params = _dbm(4, 1.5)
    states, log_p = exact.log_probabilities_binary(_dbm_energy, params, D + K1 + K2)
    expected = _marginal_from_joint(states, log_p, D)
    got = deep.exact_log_likelihood_dbm(params, exact.binary_states(D))
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_dbm_variational_bound_is_below_and_close_to_the_exact_log_likelihood():
    params = _dbm(5, 1.0)
    v = exact.binary_states(D)
    log_z = deep.exact_log_partition_dbm(params)
    exact_ll = deep.exact_log_likelihood_dbm(params, v, log_z)
    bound = deep.dbm_variational_bound(params, v, log_z)
    gap = exact_ll - np.asarray(bound.per_example, np.float64)
    assert np.all(gap >= -1e-4)  # float32 bound against a float64 likelihood
    # the gap is KL(q || p(h | v)); for these moderate weights below half a nat on average
    assert gap.mean() < 0.5
    assert float(bound.mean) == pytest.approx(float(np.mean(bound.per_example)), abs=1e-4)
    assert bound.interval[0] == bound.interval[1] == bound.mean
    # with an AIS estimate the interval of log Z carries through
    estimate = ais.summarize_log_weights(jnp.array([0.0, 0.1, -0.1]), log_z, 3)
    with_ais = deep.dbm_variational_bound(params, v, estimate)
    lower, upper = with_ais.interval
    assert float(lower) < float(with_ais.mean) < float(upper)


def _tiny_dbn():
    bottom = bernoulli_rbm.init_params(jax.random.key(6), D, K1, weight_scale=1.5)
    top = bernoulli_rbm.init_params(jax.random.key(7), K1, K2, weight_scale=1.5)
    bottom = bottom._replace(b=jnp.linspace(-1.0, 1.0, D), c=jnp.linspace(0.5, -0.5, K1))
    top = top._replace(b=jnp.linspace(-0.5, 0.5, K1), c=jnp.linspace(0.3, -0.3, K2))
    return dbn.DBNParams((bottom, top))


def _dbn_log_joint(bottom, top, v, h1):
    a = bernoulli_rbm.visible_logits(bottom, h1)
    return jnp.sum(v * a - jax.nn.softplus(a), axis=-1) - bernoulli_rbm.free_energy(top, h1)


def test_exact_dbn_log_likelihood_matches_full_enumeration():
    params = _tiny_dbn()
    bottom, top = params.layers

    def energy(p, x):  # -log p(v | h1) + E_top(h1, h2), normalised by Z_top
        a = bernoulli_rbm.visible_logits(p[0], x[..., D : D + K1])
        log_p_v = jnp.sum(x[..., :D] * a - jax.nn.softplus(a), axis=-1)
        return -log_p_v + bernoulli_rbm.joint_energy(p[1], x[..., D : D + K1], x[..., D + K1 :])

    states, log_p = exact.log_probabilities_binary(energy, (bottom, top), D + K1 + K2)
    expected = _marginal_from_joint(states, log_p, D)
    got = deep.exact_log_likelihood_dbn(params, exact.binary_states(D))
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert np.exp(got).sum() == pytest.approx(1.0, abs=1e-9)


def test_dbn_bound_estimate_matches_its_exact_value_and_lies_below_log_p():
    params = _tiny_dbn()
    bottom, top = params.layers
    v = exact.binary_states(D)
    log_z_top = exact.log_partition_bernoulli_rbm(top)
    exact_ll = deep.exact_log_likelihood_dbn(params, v, log_z_top)
    # the bound itself, by enumerating h1: sum_h1 q(h1|v) [log p(v|h1) + log p*(h1)] + H(q) - log Z
    with jax.enable_x64(True):
        b64, t64 = (jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), p) for p in (bottom, top))
        v64 = jnp.asarray(v, jnp.float64)
        h1 = exact.binary_states(K1, dtype=jnp.float64)
        q = bernoulli_rbm.hidden_probs(b64, v64)  # (64, K1)
        log_q = h1 @ jnp.log(q).T + (1 - h1) @ jnp.log1p(-q).T  # (16, 64)
        terms = _dbn_log_joint(b64, t64, v64[None], h1[:, None])  # (16, 64)
        exact_bound = np.asarray(jnp.sum(jnp.exp(log_q) * (terms - log_q), axis=0)) - log_z_top
    assert np.all(exact_bound <= exact_ll + 1e-12)
    estimate = deep.dbn_variational_bound(jax.random.key(8), params, v, log_z_top, n_samples=400)
    # unbiased Monte Carlo estimate: within 5 standard errors of the exact bound
    # (normal approximation, two-sided: false-failure rate below 1e-6)
    se = float(estimate.standard_error)
    assert abs(float(estimate.mean) - exact_bound.mean()) < 5 * se
    # the bound is strictly informative here: below log p(v) by many standard errors
    assert float(estimate.mean) + 5 * se < exact_ll.mean()
    assert 0 < se < 0.05


@pytest.mark.slow
def test_ais_dbn_matches_the_top_rbm_log_z():
    params = _tiny_dbn()
    data = (jax.random.uniform(jax.random.key(9), (300, D)) < 0.5).astype(jnp.float32)
    estimate = deep.ais_dbn(
        jax.random.key(10), params, base_data=data, n_runs=100, schedule=ais.default_schedule(1000)
    )
    assert abs(float(estimate.log_z) - exact.log_partition_bernoulli_rbm(params.layers[1])) < 0.05


def test_bad_arguments():
    params = _tiny_dbn()
    three = dbn.DBNParams(params.layers + (bernoulli_rbm.init_params(jax.random.key(0), K2, 2),))
    v = exact.binary_states(D)
    with pytest.raises(ValueError, match="two RBMs"):
        deep.dbn_variational_bound(jax.random.key(0), three, v, 0.0)
    with pytest.raises(TypeError, match="DBMParams"):
        deep.ais_dbm(jax.random.key(0), params)
    with pytest.raises(ValueError, match="not both"):
        deep.ais_dbm(jax.random.key(0), _dbm(), base_data=v, base_biases=jnp.zeros(D + K2))
    with pytest.raises(ValueError, match="binary"):
        deep.dbm_variational_bound(_dbm(), jnp.full((2, D), 0.5), 0.0)
    mismatched = dbn.DBNParams(
        (params.layers[0], bernoulli_rbm.init_params(jax.random.key(0), 5, 2))
    )
    with pytest.raises(ValueError, match="do not match"):
        deep.exact_log_likelihood_dbn(mismatched, v)
