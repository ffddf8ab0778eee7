"""infer.ContrastiveDivergence: NumPyro models learned by (P)CD, checked against the function
path (learning.pcd, learning.rbm.bernoulli_rbm_pcd), closed forms and enumeration."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro.distributions import constraints

from numpyro_ebm import infer, learning, potentials
from numpyro_ebm.datasets import load_digits
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.kernels import binary_gibbs, mala

N_HIDDEN = 16
N_CHAINS = 20


def rbm_model(initial):
    """A Bernoulli RBM as a NumPyro model: params W, b, c; the data plate subsamples."""

    def model(data, batch_size=None):
        W = numpyro.param("W", initial.W)
        b = numpyro.param("b", initial.b)
        c = numpyro.param("c", initial.c)
        params = bernoulli_rbm.BernoulliRBMParams(W, b, c)
        with numpyro.plate("data", data.shape[0], subsample_size=batch_size) as index:
            numpyro.sample(
                "v",
                potentials.UnnormalizedEnergy(bernoulli_rbm.free_energy, params, (64,), "binary"),
                obs=data[index],
            )

    return model


@pytest.fixture(scope="module")
def digits():
    split = load_digits()
    return jnp.asarray(split.x_train), jnp.asarray(split.x_test)


@pytest.fixture(scope="module")
def rbm_setup(digits):
    train, _ = digits
    initial = bernoulli_rbm.init_params(jax.random.key(1), 64, N_HIDDEN, train)
    return initial, rbm_model(initial), train[:100]


def _one_step(cd, key, args):
    """The rule's first gradient from its ``init`` and (compiled) ``step`` with one key."""
    theta = cd.init(jax.random.key(0), *args).train.params
    batch = cd.arrays(*args)
    state = cd.rule.init(key, theta, batch)
    grads, _, info = jax.jit(cd.rule.step)(key, state, theta, batch)
    return theta, grads, info


def test_rbm_gradient_equals_learning_pcd_on_the_free_energy(rbm_setup):
    """Same key, same chains (binary Gibbs on the free energy), same batch: the NumPyro
    route's gradient is learning.pcd's on bernoulli_rbm.free_energy (float tolerance)."""
    initial, model, batch = rbm_setup
    key = jax.random.key(3)
    cd = infer.ContrastiveDivergence(
        model, negative=binary_gibbs.as_top_level_api, num_chains=N_CHAINS
    )
    _, grads, _ = _one_step(cd, key, (batch,))
    rule = learning.pcd(
        bernoulli_rbm.free_energy,
        binary_gibbs.as_top_level_api(bernoulli_rbm.free_energy),
        N_CHAINS,
        vmap_chains=True,  # the NumPyro route vmaps a kernel it is given
    )
    expected, _, _ = jax.jit(rule.step)(key, rule.init(key, initial, batch), initial, batch)
    for name in "Wbc":
        np.testing.assert_allclose(grads[name], getattr(expected, name), atol=2e-6, rtol=1e-5)


def test_rbm_default_is_closed_form_block_gibbs_pcd(rbm_setup):
    """The default negative phase of an RBM site is learning.rbm.bernoulli_rbm_pcd on the
    site's parameters: bit-identical gradients and chain diagnostics."""
    initial, model, batch = rbm_setup
    key = jax.random.key(4)
    cd = infer.ContrastiveDivergence(model, num_chains=N_CHAINS)
    _, grads, info = _one_step(cd, key, (batch,))
    rule = learning.rbm.bernoulli_rbm_pcd(N_CHAINS)
    expected, _, expected_info = jax.jit(rule.step)(
        key, rule.init(key, initial, batch), initial, batch
    )
    for name in "Wbc":  # the same arithmetic; compiled in another program, so allclose
        np.testing.assert_allclose(grads[name], getattr(expected, name), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        info.negative_energies, expected_info.negative_energies, rtol=1e-6, atol=1e-6
    )


@pytest.mark.standard_promotion  # optax.adam
def test_run_has_svi_shape_and_fit_history(rbm_setup):
    """run(key, steps, *args) -> .params (constrained), .state, .history with the mixing
    diagnostics; update/get_params as SVI's; the minibatch comes from subsample_size."""
    _, model, _ = rbm_setup
    data = rbm_setup[2]
    cd = infer.ContrastiveDivergence(model, optim=optax.adam(1e-2), num_chains=N_CHAINS)
    result = cd.run(jax.random.key(0), 45, data, 10, progress_bar=False)
    assert set(result.params) == {"W", "b", "c"}
    assert result.params["W"].shape == (64, N_HIDDEN)
    # 45 steps in chunks of 20: 20, 20, 5
    assert result.history["step"] == [20, 40, 45]
    for key in ("chain_rhat", "chain_ess_bulk", "poor_mixing", "positive_energy"):
        assert len(result.history[key]) == 3
    state, report = cd.update(result.state, data, 10)
    assert bool(report["all_gradients_finite"])
    assert not np.array_equal(cd.get_params(state)["W"], result.params["W"])


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


def test_error_without_unnormalized_site_points_to_svi_and_nuts():
    def model(x):
        mu = numpyro.param("mu", 0.0)
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample("x", dist.Normal(mu, 1.0), obs=x)

    cd = infer.ContrastiveDivergence(model)
    with pytest.raises(ValueError, match=r"no unnormalized site.*SVI.*NUTS"):
        cd.init(jax.random.key(0), jnp.zeros(5))


def test_error_subsample_larger_than_plate_names_the_plate(rbm_setup):
    _, model, batch = rbm_setup
    cd = infer.ContrastiveDivergence(model)
    with pytest.raises(ValueError, match=r"plate 'data' has subsample_size 200 larger than"):
        cd.init(jax.random.key(0), batch, 200)


def test_error_observed_data_outside_support_names_the_site(rbm_setup):
    _, model, batch = rbm_setup
    cd = infer.ContrastiveDivergence(model)
    with pytest.raises(ValueError, match=r"observed site 'v'.*outside the site's support"):
        cd.init(jax.random.key(0), batch.at[0, 0].set(0.5))


# --------------------------------------------------------------------------------------
# GB-RBM with latent hiddens: a mixed discrete/continuous model
# --------------------------------------------------------------------------------------

N_VISIBLE_GB, N_HIDDEN_GB = 3, 4


def _gb_initial():
    W = 0.3 * jax.random.normal(jax.random.key(7), (N_VISIBLE_GB, N_HIDDEN_GB))
    return gaussian_rbm.GaussianRBMParams(
        W, jnp.zeros(N_VISIBLE_GB), jnp.zeros(N_HIDDEN_GB), jnp.zeros(N_VISIBLE_GB)
    )


def _conditional_energy(params_and_hidden, v):
    params, h = params_and_hidden
    return gaussian_rbm.joint_energy(params, v, h)


def gb_rbm_model(initial):
    """Latent binary hiddens h (uniform prior) and E(v | h) the GB-RBM's joint energy."""

    def model(data):
        W = numpyro.param("W", initial.W)
        b = numpyro.param("b", initial.b)
        c = numpyro.param("c", initial.c)
        sigma = numpyro.param("sigma", jnp.exp(initial.log_sigma), constraint=constraints.positive)
        params = gaussian_rbm.GaussianRBMParams(W, b, c, jnp.log(sigma))
        with numpyro.plate("data", data.shape[0]):
            h = numpyro.sample("h", dist.Bernoulli(probs=0.5 * jnp.ones(N_HIDDEN_GB)).to_event(1))
            numpyro.sample(
                "v",
                potentials.UnnormalizedEnergy(_conditional_energy, (params, h), (N_VISIBLE_GB,)),
                obs=data,
            )

    return model


@pytest.fixture(scope="module")
def gb_setup():
    initial = _gb_initial()
    data = jax.random.normal(jax.random.key(8), (40, N_VISIBLE_GB))
    return initial, gb_rbm_model(initial), data


def test_gb_rbm_hiddens_summed_out_give_the_free_energy(gb_setup):
    """The hiddens are enumerated (2^4 per replicate): the row energy is the GB-RBM's free
    energy plus the uniform prior's K log 2; the sigma constraint is honoured."""
    initial, model, data = gb_setup
    rows, theta, _ = infer.contrastive.compile_model(model, (data,), {}, jax.random.key(0))
    assert rows.summed == ("h",) and [s.name for s in rows.observed] == ["v"]
    np.testing.assert_allclose(theta["sigma"], 0.0, atol=1e-7)  # log(1): unconstrained
    np.testing.assert_allclose(
        jax.jit(rows.energy)(theta, data),
        gaussian_rbm.free_energy(initial, data) + N_HIDDEN_GB * math.log(2.0),
        rtol=1e-5,
        atol=1e-5,
    )


def test_gb_rbm_gradient_equals_learning_pcd_with_the_same_mala_chains(gb_setup):
    """One CD step of the mixed model (hiddens summed out, MALA on the visibles) equals
    learning.pcd on gaussian_rbm.free_energy with the same kernel and key."""
    initial, model, data = gb_setup
    key = jax.random.key(9)
    cd = infer.ContrastiveDivergence(model, num_chains=N_CHAINS, step_size=0.05)
    theta, grads, _ = _one_step(cd, key, (data,))
    rule = learning.pcd(
        gaussian_rbm.free_energy,
        mala.as_top_level_api(gaussian_rbm.free_energy, 0.05),
        N_CHAINS,
        vmap_chains=True,
    )
    expected, _, _ = jax.jit(rule.step)(key, rule.init(key, initial, data), initial, data)
    np.testing.assert_allclose(grads["W"], expected.W, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(grads["b"], expected.b, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(grads["c"], expected.c, atol=1e-4, rtol=1e-4)
    # d/d(unconstrained log sigma) = sigma * d/d sigma, with sigma = 1 here
    np.testing.assert_allclose(grads["sigma"], expected.log_sigma, atol=1e-4, rtol=1e-4)


def test_gb_rbm_mixed_negative_phase_without_enumeration_asks_for_a_kernel(gb_setup):
    """With enumeration off, the negative rows hold binary hiddens and continuous visibles:
    no default kernel samples both, so the error names the sites and asks for negative=."""
    _, model, data = gb_setup
    cd = infer.ContrastiveDivergence(model, max_enumeration=1)
    with pytest.raises(ValueError, match=r"'h'.*binary.*'v'.*continuous.*negative="):
        cd.init(jax.random.key(0), data)


N_VISIBLE_SMALL, N_HIDDEN_MANY = 6, 13  # 2^13 > max_enumeration: the hiddens are sampled


def test_latent_hiddens_too_many_to_enumerate_are_sampled_by_a_clamped_chain():
    """An RBM with explicit binary hiddens h (2^13 configurations, above max_enumeration)
    as a latent site and a factor over (v, h): the positive phase samples h by clamped
    single-site Gibbs. Given v the hiddens are independent, so one sweep is an exact draw
    from p(h | v): the mean of the 200 x 13 draws matches the mean of p(h = 1 | v) within
    4 standard errors (SE <= 0.5 / sqrt(2600); false-failure rate < 1e-4)."""
    initial = bernoulli_rbm.init_params(
        jax.random.key(11), N_VISIBLE_SMALL, N_HIDDEN_MANY, weight_scale=1.0
    )
    data = jax.random.bernoulli(jax.random.key(12), 0.5, (200, N_VISIBLE_SMALL)).astype(jnp.float32)

    def joint(params, vh):
        v, h = vh
        return bernoulli_rbm.joint_energy(params, v, h)

    def model(v):
        params = bernoulli_rbm.BernoulliRBMParams(
            numpyro.param("W", initial.W),
            numpyro.param("b", initial.b),
            numpyro.param("c", initial.c),
        )
        with numpyro.plate("data", v.shape[0]):
            h = numpyro.sample("h", dist.Bernoulli(probs=0.5 * jnp.ones(N_HIDDEN_MANY)).to_event(1))
            v = numpyro.sample(
                "v", dist.ImproperUniform(constraints.boolean, (), (N_VISIBLE_SMALL,)), obs=v
            )
            potentials.factor("rbm", joint, params, (v, h))

    cd = infer.ContrastiveDivergence(model, num_chains=N_CHAINS)
    theta, _, _ = _one_step(cd, jax.random.key(13), (data,))
    assert [s.name for s in cd.layout.latent] == ["h"] and not cd.layout.summed
    state = cd.rule.init(jax.random.key(14), theta, cd.arrays(data))
    _, state, _ = jax.jit(cd.rule.step)(jax.random.key(15), state, theta, cd.arrays(data))
    hidden = state.positive.position
    assert hidden.shape == (200, N_HIDDEN_MANY)
    expected = jnp.mean(bernoulli_rbm.hidden_probs(initial, data))
    assert abs(float(jnp.mean(hidden)) - float(expected)) < 4 * 0.5 / math.sqrt(200 * 13)
