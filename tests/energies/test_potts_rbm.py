"""Potts RBM and pairwise Potts model: closed forms against enumeration of tiny models."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from numpyro_ebm.energies import potts, potts_rbm

L, Q, K = 3, 3, 2


def _rbm(seed=0, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    return potts_rbm.PottsRBMParams(
        jnp.asarray(rng.standard_normal((L, Q, K)), dtype),
        jnp.asarray(rng.standard_normal((L, Q)), dtype),
        jnp.asarray(rng.standard_normal(K), dtype),
    )


def _all_codes(n_sites=L, n_states=Q):
    return np.array(list(itertools.product(range(n_states), repeat=n_sites)))


def _all_hidden(n_hidden=K):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n_hidden)))


def _joint_table(params):
    """E(v, h) for every pair by the defining sum (a Python loop, no matmul)."""
    W, f, c = (np.asarray(a) for a in params)
    table = np.empty((Q**L, 2**K))
    for a, v in enumerate(_all_codes()):
        for b, h in enumerate(_all_hidden()):
            table[a, b] = -sum(f[i, v[i]] for i in range(L)) - c @ h
            table[a, b] -= sum(W[i, v[i], j] * h[j] for i in range(L) for j in range(K))
    return table


@pytest.fixture(scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def test_energies_and_conditionals_match_enumeration(x64):
    params = _rbm()
    table = _joint_table(params)
    codes, hidden = _all_codes(), _all_hidden()
    v = jnp.asarray(codes)[:, None, :].repeat(len(hidden), axis=1)
    h = jnp.asarray(hidden)[None].repeat(len(codes), axis=0)
    np.testing.assert_allclose(potts_rbm.joint_energy(params, v, h), table, rtol=1e-12)
    np.testing.assert_allclose(
        potts_rbm.free_energy(params, codes), -logsumexp(-table, axis=1), rtol=1e-12
    )
    np.testing.assert_allclose(
        potts_rbm.hidden_free_energy(params, jnp.asarray(hidden)),
        -logsumexp(-table, axis=0),
        rtol=1e-12,
    )
    # p(h_j = 1 | v) and p(v_i = a | h) from the joint table
    p_h_given_v = np.exp(-table - logsumexp(-table, axis=1, keepdims=True))
    np.testing.assert_allclose(
        potts_rbm.hidden_probs(params, codes), p_h_given_v @ hidden, rtol=1e-10
    )
    p_v_given_h = np.exp(-table - logsumexp(-table, axis=0, keepdims=True))
    marginals = np.einsum("vh,via->hia", p_v_given_h, np.eye(Q)[codes])
    np.testing.assert_allclose(
        potts_rbm.visible_probs(params, jnp.asarray(hidden)), marginals, rtol=1e-10
    )


def test_codes_and_one_hot_agree(x64):
    params = _rbm()
    codes = _all_codes()
    expected = potts_rbm.free_energy(params, codes)
    np.testing.assert_array_equal(potts_rbm.free_energy(params, codes.astype(np.float64)), expected)
    np.testing.assert_array_equal(potts_rbm.free_energy(params, np.eye(Q)[codes]), expected)
    np.testing.assert_array_equal(
        potts_rbm.free_energy(params, codes.astype(np.float64), encoding="codes"), expected
    )


def test_zero_sum_gauge_leaves_the_distribution_unchanged(x64):
    params = _rbm(1)
    gauged = potts_rbm.zero_sum_gauge(params)
    np.testing.assert_allclose(jnp.sum(gauged.W, axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(jnp.sum(gauged.fields, axis=1), 0, atol=1e-12)
    before, after = _joint_table(params), _joint_table(gauged)
    log_p_before = -before - logsumexp(-before)
    log_p_after = -after - logsumexp(-after)
    np.testing.assert_allclose(log_p_after, log_p_before, atol=1e-12)
    assert not np.allclose(before, after)  # the gauge did change the parameters


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[0, 1, 3]]), "code 3 at index \\(0, 2\\) \\(site 2\\)"),
        (np.array([[0.0, 1.5, 2.0]]), "site 1\\) is not an integer"),
        (np.array([[0, -1, 2]]), "outside the model's 3 states"),
        (np.array([[[1.0, 0, 0], [1, 1, 0], [0, 0, 1]]]), "site 1\\) sums to 2"),
        (np.zeros((2, 4)), "shape \\(..., 3\\)"),
    ],
)
def test_bad_visible_input_names_the_site(bad, match):
    params = _rbm(dtype=jnp.float32)
    with pytest.raises(ValueError, match=match):
        potts_rbm.free_energy(params, bad.astype(np.float32) if bad.dtype.kind == "f" else bad)


def test_bad_params_are_named():
    params = _rbm(dtype=jnp.float32)
    with pytest.raises(ValueError, match="params.fields must have shape \\(3, 3\\)"):
        potts_rbm.validate_params(params._replace(fields=jnp.zeros((3, 4))))
    with pytest.raises(ValueError, match="encoding"):
        potts_rbm.free_energy(params, np.zeros((1, L), np.int32), encoding="onehot")


# ---------------------------------------------------------------- pairwise Potts


def _potts(seed=0, dtype=jnp.float64, n_sites=L):
    rng = np.random.default_rng(seed)
    J = potts.symmetrize(jnp.asarray(rng.standard_normal((n_sites, Q, n_sites, Q)), dtype))
    return potts.PottsParams(jnp.asarray(rng.standard_normal((n_sites, Q)), dtype), J)


def _potts_energies(params):
    f, J = (np.asarray(a) for a in params)
    out = []
    for v in _all_codes():
        e = -sum(f[i, v[i]] for i in range(L))
        e -= sum(J[i, v[i], j, v[j]] for i in range(L) for j in range(i + 1, L))
        out.append(e)
    return np.array(out)


def test_potts_energy_conditionals_and_pseudo_likelihood(x64):
    params = potts.validate_params(_potts())
    codes = _all_codes()
    energies = _potts_energies(params)
    np.testing.assert_allclose(potts.energy(params, codes), energies, rtol=1e-12)
    log_p = -energies - logsumexp(-energies)
    # conditional of site i from the joint: renormalise over the q states of i
    index = {tuple(v): n for n, v in enumerate(codes)}
    logits = np.asarray(potts.local_fields(params, codes))
    pll = np.zeros(len(codes))
    for n, v in enumerate(codes):
        for i in range(L):
            row = [log_p[index[tuple(np.where(np.arange(L) == i, a, v))]] for a in range(Q)]
            conditional = np.asarray(row) - logsumexp(row)
            shifted = logits[n, i] - logsumexp(logits[n, i])
            np.testing.assert_allclose(shifted, conditional, atol=1e-12)
            pll[n] += conditional[v[i]]
    np.testing.assert_allclose(potts.pseudo_log_likelihood(params, codes), pll, atol=1e-12)
    one_hot = potts_rbm.one_hot(codes, Q, jnp.float64)
    site_logits = jax.jit(jax.vmap(potts.site_logits, (None, None, 0), -2))
    np.testing.assert_allclose(site_logits(params, one_hot, jnp.arange(L)), logits, atol=1e-12)


def test_potts_objective_gradient_is_valid_couplings(x64):
    params = _potts(3)
    codes = _all_codes()[::4]
    grads = jax.jit(jax.grad(potts.pseudo_likelihood_objective))(
        params, codes, jnp.ones(len(codes))
    )
    np.testing.assert_allclose(potts.symmetrize(grads.couplings), grads.couplings, atol=1e-14)
    assert np.abs(np.asarray(grads.couplings)).max() > 0


def test_potts_bad_couplings_are_named():
    params = _potts(dtype=jnp.float32)
    J = np.array(params.couplings)
    J[0, 1, 2, 0] += 1.0
    with pytest.raises(ValueError, match="symmetric; J\\[0,1,2,0\\]"):
        potts.validate_params(params._replace(couplings=jnp.asarray(J)))
    J = np.array(params.couplings)
    J[1, 0, 1, 2] = J[1, 2, 1, 0] = 1.0
    with pytest.raises(ValueError, match="zero diagonal blocks"):
        potts.validate_params(params._replace(couplings=jnp.asarray(J)))


# ---------------------------------------------------------------- dReLU / Gaussian hidden


def _drelu(dtype=jnp.float64):
    rng = np.random.default_rng(9)
    return potts_rbm.PottsDReLURBMParams(
        jnp.asarray(rng.standard_normal((L, Q, 1)), dtype),
        jnp.asarray(rng.standard_normal((L, Q)), dtype),
        jnp.asarray([1.5], dtype),
        jnp.asarray([0.7], dtype),
        jnp.asarray([0.3], dtype),
        jnp.asarray([-0.4], dtype),
    )


@pytest.mark.slow  # scipy quadrature calling a jitted energy (~2 s of CPU)
def test_drelu_free_energy_matches_quadrature(x64):
    from scipy import integrate

    params = _drelu()
    v = _all_codes()[::9]
    joint_energy = jax.jit(potts_rbm.drelu_joint_energy)

    def free_energy_by_quadrature(codes):
        def integrand(h):
            return np.exp(-float(joint_energy(params, codes, jnp.asarray([h]))))

        total = integrate.quad(integrand, -np.inf, 0)[0] + integrate.quad(integrand, 0, np.inf)[0]
        return -np.log(total)

    expected = [free_energy_by_quadrature(codes) for codes in v]
    np.testing.assert_allclose(potts_rbm.drelu_free_energy(params, v), expected, rtol=1e-8)


def test_gaussian_hidden_units_have_the_gaussian_cumulant(x64):
    gamma, theta = jnp.asarray([0.8, 2.0]), jnp.asarray([0.5, -1.0])
    params = potts_rbm.gaussian_hidden_params(jnp.zeros((L, Q, 2)), jnp.zeros((L, Q)), gamma, theta)
    inputs = jnp.asarray([[-30.0, 0.3], [2.0, 40.0]])
    expected = (inputs - theta) ** 2 / (2 * gamma) + 0.5 * jnp.log(2 * np.pi / gamma)
    np.testing.assert_allclose(potts_rbm.drelu_log_partition(params, inputs), expected, rtol=1e-10)
