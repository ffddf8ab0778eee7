"""Metrics: pseudo-likelihood, reconstruction error, anomaly scores and AUROC.

Pseudo-likelihoods are checked against conditionals from exact enumeration
(``numpyro_ebm.evaluation.exact``), anomaly scores against the free energy and the
exact log-likelihood, AUROC against a brute-force pairwise count and scikit-learn.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import exact, metrics


def _rbm(D, K, scale=1.0, seed=0):
    """Random float32 Bernoulli RBM (numpy draws: no per-shape compilation of jax.random)."""
    rng = np.random.default_rng(seed)
    return bernoulli_rbm.BernoulliRBMParams(
        W=jnp.asarray(scale * rng.normal(size=(D, K)), jnp.float32),
        b=jnp.asarray(0.3 * rng.normal(size=D), jnp.float32),
        c=jnp.asarray(0.3 * rng.normal(size=K), jnp.float32),
    )


def _binary(rng, p, shape):
    return jnp.asarray(rng.random(shape) < p, jnp.float32)


def _brute_force_auroc(normal, anomalous) -> float:
    """sum over all pairs of [a > s] + [a = s] / 2, divided by m n (exact rational)."""
    normal, anomalous = np.asarray(normal), np.asarray(anomalous)
    greater = int(np.sum(anomalous[None, :] > normal[:, None]))
    equal = int(np.sum(anomalous[None, :] == normal[:, None]))
    return (2 * greater + equal) / (2 * normal.size * anomalous.size)


# --------------------------------------------------------------------------------------
# Pseudo-likelihood and reconstruction error (existing metrics)
# --------------------------------------------------------------------------------------


def test_pseudo_log_likelihood_matches_enumerated_conditionals():
    D, K = 6, 4
    params = _rbm(D, K, scale=1.5)
    states, log_probs = exact.log_probabilities_binary(bernoulli_rbm.free_energy, params, D)
    index = {tuple(s.astype(int)): i for i, s in enumerate(states)}
    data = states[[0, 5, 17, 42, 63]]
    expected = []
    for row in data:
        total = 0.0
        for i in range(D):
            flipped = row.copy()
            flipped[i] = 1 - flipped[i]
            lp, lq = (
                log_probs[index[tuple(row.astype(int))]],
                log_probs[index[tuple(flipped.astype(int))]],
            )
            total += lp - np.logaddexp(lp, lq)  # log p(x_i | x_-i)
        expected.append(total)
    x = jnp.asarray(data, jnp.float32)
    generic = metrics.pseudo_log_likelihood(bernoulli_rbm.free_energy, params, x)
    specialised = metrics.bernoulli_rbm_pseudo_log_likelihood(params, x, chunk_size=2)
    np.testing.assert_allclose(generic, expected, atol=1e-4)
    np.testing.assert_allclose(specialised, expected, atol=1e-4)


def test_pseudo_log_likelihood_spins_independent_field():
    # independent spins: log p(s_i | s_-i) = log sigmoid(2 h_i s_i)
    field = jnp.array([0.3, -1.2, 2.0])
    s = jnp.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])
    pll = metrics.pseudo_log_likelihood(lambda h, x: -(x @ h), field, s, spins=True)
    np.testing.assert_allclose(pll, jnp.sum(jax.nn.log_sigmoid(2 * field * s), axis=-1), atol=1e-6)


def test_reconstruction_error_zero_weights():
    # with W = 0 the reconstruction is sigmoid(b) whatever v is
    D, K = 5, 3
    params = _rbm(D, K)._replace(W=jnp.zeros((D, K)))
    v = exact.binary_states(D)
    expected = jnp.mean(jnp.square(v - jax.nn.sigmoid(params.b)))
    assert float(metrics.bernoulli_rbm_reconstruction_error(params, v)) == pytest.approx(
        float(expected), abs=1e-6
    )


# --------------------------------------------------------------------------------------
# anomaly_scores
# --------------------------------------------------------------------------------------


def test_anomaly_scores_are_the_free_energy_and_rank_like_the_likelihood():
    D, K = 8, 5
    params = _rbm(D, K, scale=1.0)
    v = exact.binary_states(D)[::3]
    scores = metrics.anomaly_scores(bernoulli_rbm.free_energy, params, v)
    assert scores.shape == (v.shape[0],) and scores.dtype == jnp.float32
    np.testing.assert_array_equal(scores, bernoulli_rbm.free_energy(params, v))
    # score = -log p(v) - log Z: the shift is the same for every example
    log_lik = exact.log_likelihood_bernoulli_rbm(params, v)
    log_z = exact.log_partition_bernoulli_rbm(params)
    np.testing.assert_allclose(np.asarray(scores, np.float64), -log_lik - log_z, atol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 7, 25, 50, 1000])
def test_anomaly_scores_batching_does_not_change_the_result(batch_size):
    D, K = 10, 6
    params = _rbm(D, K, scale=1.0)
    v = _binary(np.random.default_rng(3), 0.4, (50, D))
    full = metrics.anomaly_scores(bernoulli_rbm.free_energy, params, v)
    batched = metrics.anomaly_scores(bernoulli_rbm.free_energy, params, v, batch_size=batch_size)
    np.testing.assert_allclose(batched, full, rtol=1e-6, atol=1e-6)


def test_anomaly_scores_multidimensional_events_and_jit():
    # a 2-D "image" energy: the first axis indexes examples, the rest is the event
    def energy(weights, x):
        return jnp.sum(weights * jnp.square(x), axis=(-2, -1))

    weights = jnp.linspace(0.5, 1.5, 12).reshape(3, 4)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(11, 3, 4)), jnp.float32)
    expected = energy(weights, x)
    np.testing.assert_allclose(
        metrics.anomaly_scores(energy, weights, x, batch_size=4), expected, rtol=1e-6
    )

    scored = jax.jit(lambda w, x: metrics.anomaly_scores(energy, w, x, batch_size=4))(weights, x)
    np.testing.assert_allclose(scored, expected, rtol=1e-6)


def test_anomaly_scores_bad_inputs():
    D, K = 4, 3
    params = _rbm(D, K)
    v = jnp.zeros((5, D))
    fe = bernoulli_rbm.free_energy
    with pytest.raises(ValueError, match="non-finite"):
        metrics.anomaly_scores(fe, params, v.at[2, 1].set(jnp.nan))
    with pytest.raises(TypeError, match="floating-point"):
        metrics.anomaly_scores(fe, params, jnp.zeros((5, D), jnp.int32))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        metrics.anomaly_scores(lambda p, x: x, None, jnp.float32(1.0))
    with pytest.raises(ValueError, match="no examples"):
        metrics.anomaly_scores(fe, params, jnp.zeros((0, D)))
    with pytest.raises(ValueError, match="positive integer"):
        metrics.anomaly_scores(fe, params, v, batch_size=0)
    with pytest.raises(TypeError, match="positive integer"):
        metrics.anomaly_scores(fe, params, v, batch_size=2.5)
    # an energy that sums over the examples, with and without batching
    summed = lambda p, x: jnp.sum(fe(p, x))  # noqa: E731
    with pytest.raises(ValueError, match=r"one energy per example, shape \(5,\)"):
        metrics.anomaly_scores(summed, params, v)
    with pytest.raises(ValueError, match=r"one energy per example, shape \(2,\)"):
        metrics.anomaly_scores(summed, params, v, batch_size=2)
    # NaN parameters give NaN energies
    with pytest.raises(ValueError, match="returned NaN for 5 of 5"):
        metrics.anomaly_scores(fe, params._replace(b=params.b.at[0].set(jnp.nan)), v)


def test_free_energy_detects_noise_against_a_two_prototype_rbm():
    """An RBM built to favour two prototypes scores noisy prototypes below uniform noise.

    Hidden unit j is a template detector: W[:, j] = alpha (2 p_j - 1), c_j = -alpha |p_j| + 2,
    so softplus(c_j + v . W[:, j]) = softplus(2 - alpha * hamming(v, p_j)). Normal data are
    the prototypes with each bit flipped with probability 0.1 (Hamming distance
    Bin(32, 0.1), mean 3.2), anomalies are uniform bits (distance Bin(32, 0.5) to either
    prototype, mean 16), so the true AUROC is above 0.99. For n = m = 1000, Hoeffding's
    bound for two-sample U-statistics gives P(estimate < 0.9) <= exp(-2 * 1000 * 0.09^2)
    < 1e-7: false-failure rate below 1e-7.
    """
    D, n = 32, 1000
    rng = np.random.default_rng(0)
    prototypes = _binary(rng, 0.5, (2, D))
    alpha = 2.0
    params = bernoulli_rbm.BernoulliRBMParams(
        W=alpha * (2.0 * prototypes.T - 1.0),
        b=jnp.zeros((D,)),
        c=-alpha * jnp.sum(prototypes, axis=1) + 2.0,
    )
    which = rng.integers(0, 2, n)
    flips = rng.random((n, D)) < 0.1
    normal = jnp.asarray(np.abs(np.asarray(prototypes)[which] - flips), jnp.float32)
    anomalous = _binary(rng, 0.5, (n, D))
    bernoulli_rbm.validate_visible(params, normal)

    s_normal = metrics.anomaly_scores(bernoulli_rbm.free_energy, params, normal, batch_size=256)
    s_anomalous = metrics.anomaly_scores(bernoulli_rbm.free_energy, params, anomalous)
    area = metrics.auroc(s_normal, s_anomalous)
    assert area > 0.9
    assert area == _brute_force_auroc(s_normal, s_anomalous)


# --------------------------------------------------------------------------------------
# auroc and roc_curve
# --------------------------------------------------------------------------------------


def test_auroc_equals_brute_force_with_many_ties():
    rng = np.random.default_rng(0)
    for m, n, levels in [(1, 1, 2), (1, 9, 3), (37, 53, 5), (400, 300, 20), (2000, 3000, 1000)]:
        normal = rng.integers(0, levels, m).astype(np.float32)
        anomalous = (rng.integers(0, levels, n) + rng.integers(0, 2, n)).astype(np.float32)
        assert metrics.auroc(normal, anomalous) == _brute_force_auroc(normal, anomalous)
    # continuous scores (no ties) from JAX arrays, mixed dtypes
    normal = jnp.asarray(rng.normal(size=300), jnp.float32)
    anomalous = jnp.asarray(0.5 + rng.normal(size=200), jnp.float32)
    assert metrics.auroc(normal, np.asarray(anomalous, np.float64)) == _brute_force_auroc(
        normal, anomalous
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from([-np.inf, -1.0, 0.0, -0.0, 0.5, 1.0, 2.0, np.inf]), min_size=1, max_size=20
    ),
    st.lists(
        st.sampled_from([-np.inf, -1.0, 0.0, -0.0, 0.5, 1.0, 2.0, np.inf]), min_size=1, max_size=20
    ),
)
def test_auroc_brute_force_and_symmetry_property(normal, anomalous):
    area = metrics.auroc(normal, anomalous)
    assert area == _brute_force_auroc(normal, anomalous)
    assert 0.0 <= area <= 1.0
    assert metrics.auroc(anomalous, normal) == pytest.approx(1.0 - area, abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(normal, anomalous)
    assert float(np.trapezoid(tpr, fpr)) == pytest.approx(area, abs=1e-12)


def test_auroc_separated_identical_and_same_distribution():
    a = np.arange(10.0)
    assert metrics.auroc(a, a + 10.0) == 1.0
    assert metrics.auroc(a + 10.0, a) == 0.0
    assert metrics.auroc(a, a) == 0.5
    assert metrics.auroc(np.full(7, 3.0), np.full(4, 3.0)) == 0.5
    rng = np.random.default_rng(1)
    scores = rng.normal(size=333)
    assert metrics.auroc(scores, rng.permutation(scores)) == 0.5
    # iid samples of one distribution: under H0 the AUROC has mean 1/2 and standard
    # deviation sqrt((m + n + 1) / (12 m n)) = 0.0091 for m = n = 2000; a tolerance of
    # 0.04 (4.4 sd) gives a false-failure rate of about 1e-5.
    same = metrics.auroc(rng.normal(size=2000), rng.normal(size=2000))
    assert abs(same - 0.5) < 0.04
    # symmetry on continuous data
    x, y = rng.normal(size=500), rng.normal(0.3, 1.0, size=700)
    assert metrics.auroc(x, y) == pytest.approx(1.0 - metrics.auroc(y, x), abs=1e-12)


def test_roc_curve_shape_and_endpoints():
    normal = np.array([0.1, 0.5, 0.5, 0.2])
    anomalous = np.array([0.5, 0.9, 0.9])
    fpr, tpr, thresholds = metrics.roc_curve(normal, anomalous)
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.5, 0.2, 0.1])
    np.testing.assert_array_equal(fpr, [0.0, 0.0, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(tpr, [0.0, 2 / 3, 1.0, 1.0, 1.0])
    assert float(np.trapezoid(tpr, fpr)) == pytest.approx(metrics.auroc(normal, anomalous))


def test_auroc_and_roc_curve_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    normal = np.round(rng.normal(size=500), 1)  # rounding makes ties
    anomalous = np.round(rng.normal(0.7, 1.2, size=300), 1)
    labels = np.concatenate([np.zeros(500), np.ones(300)])
    pooled = np.concatenate([normal, anomalous])
    assert metrics.auroc(normal, anomalous) == pytest.approx(
        sklearn_metrics.roc_auc_score(labels, pooled), abs=1e-12
    )
    fpr, tpr, thresholds = metrics.roc_curve(normal, anomalous)
    fpr_sk, tpr_sk, thresholds_sk = sklearn_metrics.roc_curve(
        labels, pooled, drop_intermediate=False
    )
    np.testing.assert_allclose(fpr, fpr_sk, atol=1e-12)
    np.testing.assert_allclose(tpr, tpr_sk, atol=1e-12)
    np.testing.assert_array_equal(thresholds, thresholds_sk)


def test_auroc_bad_inputs():
    good = np.array([0.0, 1.0])
    for fn in (metrics.auroc, metrics.roc_curve):
        with pytest.raises(ValueError, match="scores_normal is empty"):
            fn(np.array([]), good)
        with pytest.raises(ValueError, match="scores_anomalous is empty"):
            fn(good, jnp.zeros((0,)))
        with pytest.raises(ValueError, match=r"1 NaN score\(s\), the first at index 1"):
            fn(good, np.array([0.0, np.nan]))
        with pytest.raises(ValueError, match="1-D"):
            fn(np.zeros((3, 2)), good)
        with pytest.raises(ValueError, match="1-D"):
            fn(good, 0.5)
        with pytest.raises(TypeError, match="real numbers"):
            fn(good, np.array([1 + 2j]))
    with pytest.raises(TypeError, match="outside"):
        jax.jit(metrics.auroc)(jnp.asarray(good), jnp.asarray(good))
    # booleans and integers are ranked like numbers
    assert metrics.auroc(np.array([False, True]), np.array([True, True])) == 0.75
    assert metrics.auroc(np.array([1, 2]), np.array([2, 3])) == 0.875
