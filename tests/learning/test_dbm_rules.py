"""The centered DBM, the damped mean-field positive phase, FPCD and PT negative phases
(``learning.dbm``), and the per-image AIS estimate of log p(v) behind the bound's
tightness check (``evaluation.deep``), on a 6-4-3 DBM small enough to enumerate.

The PT rule's gradient against enumeration is tested beside the PCD rule's in
``test_dbm.py``. The AIS check compares per-row estimates with enumeration within
their own +-3 sigma intervals widened by 0.05 nats (the AIS bias of a 300-temperature
path on 7 units is far below that).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm.energies import dbm
from numpyro_ebm.evaluation import ais, deep
from numpyro_ebm.kernels import dbm_gibbs
from numpyro_ebm.learning import dbm as dbm_rules
from numpyro_ebm.learning import fit
from numpyro_ebm.learning.contrastive_divergence import FPCDState

D, K1, K2 = 6, 4, 3


def _model(key=0, scale=1.0, dtype=jnp.float32):
    params = dbm.init_params(jax.random.key(key), D, K1, K2, weight_scale=scale)
    params = params._replace(
        b=jnp.linspace(-1.0, 1.0, D), c1=jnp.linspace(0.5, -0.5, K1), c2=jnp.linspace(-0.3, 0.3, K2)
    )
    return jax.tree.map(lambda x: x.astype(dtype), params)


def _binary(key, shape, p=0.5):
    return (jax.random.uniform(jax.random.key(key), shape) < p).astype(jnp.float32)


def _offsets(key):
    keys = jax.random.split(jax.random.key(key), 3)
    return dbm.DBMOffsets(
        *(jax.random.uniform(k, (n,)) for k, n in zip(keys, (D, K1, K2), strict=True))
    )


def test_centered_parameters_describe_the_same_model():
    params, offsets, other = _model(), _offsets(1), _offsets(2)
    centered = dbm.to_centered(params, offsets)
    for a, b in zip(dbm.from_centered(centered, offsets), params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    v, h1, h2 = _binary(3, (50, D)), _binary(4, (50, K1)), _binary(5, (50, K2))
    # the centered energy is the ordinary one plus a constant: the same distribution
    difference = dbm.centered_joint_energy(centered, offsets, v, h1, h2) - dbm.joint_energy(
        params, v, h1, h2
    )
    np.testing.assert_allclose(difference, difference[0], atol=1e-5)
    # moving the offsets and re-centering leaves the model (the ordinary parameters) unchanged
    moved = dbm.to_centered(dbm.from_centered(centered, offsets), other)
    for a, b in zip(dbm.from_centered(moved, other), params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_centered_gradient_is_the_step_in_centered_coordinates():
    params, offsets = _model(), _offsets(6)
    keys = jax.random.split(jax.random.key(7), 5)
    grads = dbm.DBMParams(
        *(jax.random.normal(k, p.shape) for k, p in zip(keys, params, strict=True))
    )

    def loss(theta):  # linear with gradient `grads` in the ordinary coordinates
        return sum(jnp.sum(g * t) for g, t in zip(grads, theta, strict=True))

    centered = dbm.to_centered(params, offsets)
    g_centered = jax.grad(lambda c: loss(dbm.from_centered(c, offsets)))(centered)
    stepped = dbm.from_centered(jax.tree.map(jnp.add, centered, g_centered), offsets)
    expected = jax.tree.map(jnp.subtract, stepped, params)  # from_centered is affine
    got = dbm_rules.centered_dbm_gradient(grads, offsets)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    zero = dbm.DBMOffsets(jnp.zeros(D), jnp.zeros(K1), jnp.zeros(K2))
    for a, b in zip(dbm_rules.centered_dbm_gradient(grads, zero), grads, strict=True):
        np.testing.assert_array_equal(a, b)


def test_damped_mean_field_stops_at_the_exact_fixed_point():
    with jax.enable_x64(True):
        params = _model(8, 1.5, jnp.float64)
        v = jnp.asarray(_binary(9, (12, D)), jnp.float64)
        reference = dbm.mean_field(params, v, 2000)
        tight = dbm.mean_field_fixed_point(
            params, v, max_iterations=2000, tolerance=1e-10, damping=0.5
        )
        assert int(tight.n_iterations) < 2000 and float(tight.max_change) < 1e-10
        for a, b in zip(tight.means, reference, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-8)
        mu1, mu2 = tight.means  # the fixed-point equations hold
        np.testing.assert_allclose(
            mu1, jax.nn.sigmoid(dbm.hidden1_logits(params, v, mu2)), atol=1e-8
        )
        np.testing.assert_allclose(mu2, jax.nn.sigmoid(dbm.hidden2_logits(params, mu1)), atol=1e-8)
        loose = dbm.mean_field_fixed_point(params, v, max_iterations=2000, tolerance=1e-3)
        assert 1 <= int(loose.n_iterations) < int(tight.n_iterations)
        capped = dbm.mean_field_fixed_point(params, v, max_iterations=2, tolerance=1e-10)
        assert int(capped.n_iterations) == 2
        with pytest.raises(ValueError, match="damping"):
            dbm.mean_field_fixed_point(params, v, damping=1.0)


def test_fpcd_without_fast_rate_is_pcd_and_its_chains_sample_the_sum():
    params, data = _model(10), _binary(11, (40, D), 0.4)
    pcd, fpcd = dbm_rules.dbm_pcd(16), dbm_rules.dbm_fpcd(16, fast_learning_rate=0.0)
    state_p, state_f = (r.init(jax.random.key(12), params, data) for r in (pcd, fpcd))
    step_p, step_f = jax.jit(pcd.step), jax.jit(fpcd.step)
    key, batch = jax.random.key(13), data[:10]
    out_p, out_f = step_p(key, state_p, params, batch), step_f(key, state_f, params, batch)
    for a, b in zip(
        jax.tree.leaves(out_p[:2]), jax.tree.leaves((out_f[0], out_f[1].chains)), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert all(np.all(f == 0) for f in jax.tree.leaves(out_f[1].fast_params))
    # with fast weights, the chains sweep at params + fast, and the fast weights decay
    fast = jax.tree.map(lambda p: 0.3 * jnp.ones_like(p), params)
    grads, state, _ = step_f(key, FPCDState(state_f.chains, fast), params, batch)
    expected, _ = dbm_gibbs.build_kernel()(
        jax.random.split(key, 1)[-1], state_f.chains, jax.tree.map(jnp.add, params, fast)
    )
    for a, b in zip(state.chains, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    rule = dbm_rules.dbm_fpcd(16, fast_learning_rate=0.1, fast_decay=0.5)
    grads, state, _ = jax.jit(rule.step)(key, FPCDState(state_f.chains, fast), params, batch)
    for new, old, g in zip(state.fast_params, fast, grads, strict=True):
        np.testing.assert_allclose(new, 0.5 * old - 0.1 * g, rtol=1e-6, atol=1e-7)


def test_ais_of_log_p_per_image_and_the_tightness_gap_match_enumeration():
    params = _model(14, 1.0)
    rows = _binary(15, (8, D), 0.4)
    log_z = deep.exact_log_partition_dbm(params)
    exact_ll = deep.exact_log_likelihood_dbm(params, rows, log_z)
    check = deep.dbm_bound_tightness(
        jax.random.key(16), params, rows, log_z, n_runs=32, schedule=ais.default_schedule(300)
    )
    estimate = check.log_likelihood
    lower, upper = (np.asarray(x) for x in estimate.interval)
    assert np.all(lower - 0.05 <= exact_ll) and np.all(exact_ll <= upper + 0.05)
    np.testing.assert_allclose(estimate.per_example, exact_ll, atol=0.05)
    # the bound is below the truth; the gap is KL(q || p(h | v)) >= 0
    exact_gap = exact_ll - np.asarray(check.bound)
    assert np.all(exact_gap >= -1e-4)
    np.testing.assert_allclose(check.gap, exact_gap, atol=0.05)
    assert estimate.conditional.log_weights.shape == (8, 32)


@pytest.mark.slow
def test_centered_dbm_training_improves_the_exact_likelihood_and_fit_records_iterations():
    """Two noisy prototypes (10% of the bits flipped); 40 epochs of the centered DBM rule
    (tolerance-stopped mean field) from small random weights must gain at least 0.5 nats
    of exact test log-likelihood (the data's entropy, log 2 + 6 H(0.1) = 2.6 nats, is 1.5 nats
    below that of the start, independent pixels at rates near 1/2)."""
    prototypes = jnp.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], jnp.float32)
    pick = jax.random.bernoulli(jax.random.key(17), 0.5, (400,)).astype(jnp.int32)
    flips = jax.random.bernoulli(jax.random.key(18), 0.1, (400, D))
    data = jnp.abs(prototypes[pick] - flips.astype(jnp.float32))
    train, test = data[:300], data[300:]
    params = dbm.init_params(jax.random.key(19), D, K1, K2, data=train, weight_scale=0.01)
    before = deep.exact_log_likelihood_dbm(params, test).mean()
    rule = dbm_rules.centered_dbm(
        dbm_rules.dbm_pcd(50, mean_field_iterations=30, mean_field_tolerance=1e-4),
        weight_decay=1e-4,
    )
    result = fit(
        jax.random.key(20), params, train, rule, optax.sgd(0.05, momentum=0.5), epochs=40,
        batch_size=20, progress=False,
    )  # fmt: skip
    after = deep.exact_log_likelihood_dbm(result.params, test).mean()
    assert after > before + 0.5, (before, after)
    iterations = result.history["mean_field_iterations"]
    assert len(iterations) == 40 and all(1 <= x <= 30 for x in iterations)
