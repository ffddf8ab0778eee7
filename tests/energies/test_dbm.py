"""The DBM energy, its closed-form conditionals and free energies, and mean field,
checked against autodiff and exact enumeration (deterministic, no sampling)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.evaluation import exact
from tests._stats import configuration_index

D, K1, K2 = 6, 4, 3


@pytest.fixture(scope="module")
def params():
    p = dbm.init_params(jax.random.key(0), D, K1, K2, weight_scale=1.0)
    return p._replace(
        b=jnp.linspace(-1.0, 1.0, D), c1=jnp.linspace(0.5, -0.5, K1), c2=jnp.linspace(-0.3, 0.3, K2)
    )


def _split(x):
    return x[..., :D], x[..., D : D + K1], x[..., D + K1 :]


def _all_states():
    return np.asarray(exact.binary_states(D + K1 + K2))


def test_joint_energy_formula_and_broadcasting(params):
    x = jnp.asarray(_all_states()[::97][:84])
    v, h1, h2 = _split(x)
    expected = np.array(
        [
            -(vi @ params.W1 @ a)
            - (a @ params.W2 @ c)
            - vi @ params.b
            - a @ params.c1
            - c @ params.c2
            for vi, a, c in zip(np.asarray(v), np.asarray(h1), np.asarray(h2), strict=True)
        ]
    )
    np.testing.assert_allclose(dbm.joint_energy(params, v, h1, h2), expected, rtol=1e-5, atol=1e-5)
    batched = dbm.joint_energy(
        params, v.reshape(2, -1, D), h1.reshape(2, -1, K1), h2.reshape(2, -1, K2)
    )
    assert batched.shape == (2, v.shape[0] // 2)


def test_conditional_logits_are_energy_differences(params):
    # the energy is linear in every unit, so logit(unit = 1 | rest) = -dE/d(unit)
    x = jnp.asarray(_all_states()[::131])
    v, h1, h2 = _split(x)
    g_v, g_h1, g_h2 = jax.grad(lambda *a: jnp.sum(dbm.joint_energy(params, *a)), argnums=(0, 1, 2))(
        v, h1, h2
    )
    np.testing.assert_allclose(dbm.visible_logits(params, h1), -g_v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dbm.hidden1_logits(params, v, h2), -g_h1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dbm.hidden2_logits(params, h1), -g_h2, rtol=1e-5, atol=1e-6)


def test_free_energies_sum_out_layers_exactly(params):
    states = _all_states()
    energies = np.asarray(
        jax.jit(lambda p, x: dbm.joint_energy(p, *_split(x)))(params, jnp.asarray(states))
    ).astype(np.float64)
    h1_index = configuration_index(states[:, D : D + K1])
    outer_index = configuration_index(np.concatenate([states[:, :D], states[:, D + K1 :]], axis=1))
    # outer free energy = -log sum over h1
    outer_states = np.asarray(exact.binary_states(D + K2))
    outer = np.asarray(dbm.outer_free_energy(params, *np.split(outer_states, [D], axis=1)))
    expected = np.array([-logsumexp(-energies[outer_index == i]) for i in range(2 ** (D + K2))])
    np.testing.assert_allclose(outer, expected, rtol=1e-5, atol=1e-4)
    # hidden1 free energy = -log sum over (v, h2)
    h1_states = np.asarray(exact.binary_states(K1))
    inner = np.asarray(dbm.hidden1_free_energy(params, jnp.asarray(h1_states)))
    expected = np.array([-logsumexp(-energies[h1_index == i]) for i in range(2**K1)])
    np.testing.assert_allclose(inner, expected, rtol=1e-5, atol=1e-4)


def test_bipartite_rbm_has_the_same_joint_energy(params):
    x = jnp.asarray(_all_states()[::53])
    v, h1, h2 = _split(x)
    rbm = dbm.as_bipartite_rbm(params)
    np.testing.assert_allclose(
        bernoulli_rbm.joint_energy(rbm, jnp.concatenate([v, h2], axis=-1), h1),
        dbm.joint_energy(params, v, h1, h2),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        bernoulli_rbm.free_energy(rbm, jnp.concatenate([v, h2], axis=-1)),
        dbm.outer_free_energy(params, v, h2),
        rtol=1e-5,
        atol=1e-5,
    )


def test_mean_field_reaches_its_fixed_point_and_bounds_the_free_energy(params):
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        v = exact.binary_states(D, dtype=jnp.float64)
        q = dbm.mean_field(p64, v, n_iterations=200)
        # both fixed-point equations hold
        np.testing.assert_allclose(
            q.hidden1, jax.nn.sigmoid(dbm.hidden1_logits(p64, v, q.hidden2)), atol=1e-10
        )
        np.testing.assert_allclose(
            q.hidden2, jax.nn.sigmoid(dbm.hidden2_logits(p64, q.hidden1)), atol=1e-10
        )
        # the bound never loosens with more iterations (coordinate ascent) ...
        one_iteration = jax.jit(lambda q: dbm.mean_field(p64, v, n_iterations=1, init=q))
        q_n, values = dbm.mean_field_init(p64, v), []
        for _ in range(12):
            values.append(np.asarray(dbm.variational_free_energy(p64, v, q_n)))
            q_n = one_iteration(q_n)
        values = np.stack(values)
        assert np.all(np.diff(values, axis=0) <= 1e-12)
        # ... and always lies above the exact free energy F(v) = -log sum_{h1,h2} e^{-E}
        h1 = exact.binary_states(K1, dtype=jnp.float64)
        exact_free = -jax.vmap(
            lambda x: jax.nn.logsumexp(
                -(-(x @ p64.b) - h1 @ p64.c1 - h1 @ (x @ p64.W1))
                + jnp.sum(jax.nn.softplus(dbm.hidden2_logits(p64, h1)), axis=-1)
            )
        )(v)
        gap = np.asarray(dbm.variational_free_energy(p64, v, q)) - np.asarray(exact_free)
        assert np.all(gap >= -1e-10)
        # for these moderate weights the factorised posterior is close: the gap is the
        # KL(q || p(h | v)), below half a nat on average
        assert gap.mean() < 0.5


def test_entropy_and_init_params():
    np.testing.assert_allclose(
        dbm.binary_entropy(jnp.array([0.0, 1.0, 0.5])), np.log(2.0), rtol=1e-6
    )
    data = jnp.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    p = dbm.init_params(jax.random.key(0), 3, 2, 5, data=data)
    assert (p.W1.shape, p.W2.shape, p.b.shape, p.c1.shape, p.c2.shape) == (
        (3, 2),
        (2, 5),
        (3,),
        (2,),
        (5,),
    )
    assert (p.n_visible, p.n_hidden1, p.n_hidden2) == (3, 2, 5)
    assert p.b[0] > 0 > p.b[1]


def test_validation_errors(params):
    with pytest.raises(ValueError, match="binary"):
        dbm.validate_visible(params, jnp.full((D,), 0.5))
    with pytest.raises(ValueError, match="visible units"):
        dbm.validate_visible(params, jnp.zeros((D + 1,)))
    with pytest.raises(TypeError, match="dtype"):
        dbm.validate_state(params, jnp.zeros(D), jnp.zeros(K1), jnp.zeros(K2, jnp.float16))
    with pytest.raises(ValueError, match="non-negative"):
        dbm.mean_field(params, jnp.zeros(D), n_iterations=-1)
