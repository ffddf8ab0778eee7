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
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import binary_gibbs, mala, parallel_tempering, rbm_gibbs
from numpyro_ebm.learning import replay

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


@pytest.mark.slow  # three compiled programs (chunks of 20 and 5 steps, update); docs/learning_numpyro_models.md runs run() by default
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


@pytest.mark.slow  # two MALA programs over enumerated hiddens
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


@pytest.mark.slow  # binary Gibbs over 19 units traced through the model
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


# --------------------------------------------------------------------------------------
# 2 x 3 Ising model: PCD against the exact maximum-likelihood solution; infer.sample
# --------------------------------------------------------------------------------------

ISING_ROWS, ISING_COLS = 2, 3
_EDGES = [
    (r * ISING_COLS + c, r * ISING_COLS + c + 1)
    for r in range(ISING_ROWS)
    for c in range(ISING_COLS - 1)
] + [
    (r * ISING_COLS + c, (r + 1) * ISING_COLS + c)
    for r in range(ISING_ROWS - 1)
    for c in range(ISING_COLS)
]
_LEFT = jnp.array([e[0] for e in _EDGES])
_RIGHT = jnp.array([e[1] for e in _EDGES])
N_SPINS, N_EDGES = ISING_ROWS * ISING_COLS, len(_EDGES)
ISING_TRUE = (
    jnp.array([0.5, -0.3, 0.4, 0.2, 0.6, -0.2, 0.3]),
    jnp.array([0.2, -0.1, 0.0, 0.3, -0.2, 0.1]),
)


def ising_energy(params, x):
    """Ising energy of {0, 1}-coded spins s = 2x - 1: -sum_edges J s_i s_j - h . s."""
    couplings, fields = params
    spins = 2.0 * x - 1.0
    return -jnp.sum(couplings * spins[..., _LEFT] * spins[..., _RIGHT], axis=-1) - spins @ fields


def ising_model(x, batch_size=None):
    couplings = numpyro.param("J", jnp.zeros(N_EDGES))
    fields = numpyro.param("h", jnp.zeros(N_SPINS))
    with numpyro.plate("data", x.shape[0], subsample_size=batch_size) as index:
        numpyro.sample(
            "x",
            potentials.UnnormalizedEnergy(ising_energy, (couplings, fields), (N_SPINS,), "binary"),
            obs=x[index],
        )


@pytest.fixture(scope="module")
def ising_data():
    states = exact.binary_states(N_SPINS)
    log_p = -ising_energy(ISING_TRUE, states)
    draws = jax.random.categorical(jax.random.key(0), log_p, shape=(2000,))
    return states, states[draws]


@pytest.mark.slow  # 200 sweeps of binary Gibbs through the model; docs/learning_numpyro_models.md samples by default
def test_sample_draws_the_model_and_converts_for_arviz(ising_data):
    """infer.sample at fixed params: 200 chains after 200 sweeps of binary Gibbs (a 6-spin
    model mixes in a few), one draw each. Each unit's mean is within 4.5 standard errors
    (SE <= 0.5 / sqrt(200)) of the exact marginal by enumeration: false-failure rate
    < 6 x 7e-6. The dict converts to ArviZ data on either line."""
    states, data = ising_data
    params = {"J": ISING_TRUE[0], "h": ISING_TRUE[1]}
    samples = infer.sample(
        ising_model, params, None, 1, jax.random.key(5), data, num_chains=200, num_warmup=200
    )
    assert set(samples) == {"x"} and samples["x"].shape == (200, 1, N_SPINS)
    probabilities = jax.nn.softmax(-ising_energy(ISING_TRUE, states))
    marginals = probabilities @ states
    deviation = np.abs(np.mean(samples["x"][:, 0], axis=0) - np.asarray(marginals))
    assert np.all(deviation < 4.5 * 0.5 / math.sqrt(200)), deviation
    idata = infer.sample_to_inference_data(samples)
    assert idata.posterior["x"].shape == (200, 1, N_SPINS)


@pytest.mark.slow
@pytest.mark.standard_promotion  # optax.adam
def test_ising_pcd_matches_the_exact_maximum_likelihood_solution(ising_data):
    """Couplings and fields learned by PCD (binary Gibbs chains, the default) on 2000 exact
    draws match the exact ML solution (Newton's method on the enumerated log-likelihood:
    moments matched to 1e-5) within 0.05. The observed deviation on this seed is 0.014;
    the tolerance is 3.5x that (PCD's final-step noise with the decayed learning rate)."""
    states, data = ising_data

    def negative_log_likelihood(params):
        return jnp.mean(ising_energy(params, data)) + jax.scipy.special.logsumexp(
            -ising_energy(params, states)
        )

    flat, unravel = jax.flatten_util.ravel_pytree((jnp.zeros(N_EDGES), jnp.zeros(N_SPINS)))
    objective = lambda q: negative_log_likelihood(unravel(q))  # noqa: E731
    for _ in range(30):  # Newton on a convex objective
        flat = flat - jnp.linalg.solve(jax.hessian(objective)(flat), jax.grad(objective)(flat))
    assert float(jnp.max(jnp.abs(jax.grad(objective)(flat)))) < 1e-5  # moments matched
    couplings, fields = unravel(flat)
    optimizer = optax.adam(optax.exponential_decay(0.05, 2000, 0.02))
    cd = infer.ContrastiveDivergence(ising_model, optim=optimizer, num_chains=1000)
    result = cd.run(jax.random.key(1), 2000, data, 200, progress_bar=False)
    np.testing.assert_allclose(result.params["J"], couplings, atol=0.05)
    np.testing.assert_allclose(result.params["h"], fields, atol=0.05)


# --------------------------------------------------------------------------------------
# Gaussian: the closed-form MLE
# --------------------------------------------------------------------------------------


def quadratic_energy(params, x):
    mu, sigma = params
    return 0.5 * jnp.square((x - mu) / sigma)


def gaussian_model(x, batch_size=None):
    mu = numpyro.param("mu", jnp.asarray(0.0))
    sigma = numpyro.param("sigma", jnp.asarray(1.0), constraint=constraints.positive)
    with numpyro.plate("data", x.shape[0], subsample_size=batch_size) as index:
        numpyro.sample(
            "x", potentials.UnnormalizedEnergy(quadratic_energy, (mu, sigma), ()), obs=x[index]
        )


@pytest.mark.slow
@pytest.mark.standard_promotion  # optax.adam
def test_gaussian_cd_converges_to_the_closed_form_mle():
    """E = (x - mu)^2 / (2 sigma^2) with log Z(sigma) left to the negative phase (MALA
    chains): PCD reaches the MLE (sample mean, standard deviation with ddof 0) within 0.02
    (observed 0.003 on this seed), with sigma kept positive by its constraint."""
    x = 1.5 + 0.7 * jax.random.normal(jax.random.key(0), (1000,))
    optimizer = optax.adam(optax.exponential_decay(0.05, 1500, 0.02))
    cd = infer.ContrastiveDivergence(
        gaussian_model, optim=optimizer, num_chains=500, k=5, step_size=0.1
    )
    result = cd.run(jax.random.key(1), 1500, x, 100, progress_bar=False)
    assert abs(float(result.params["mu"]) - float(jnp.mean(x))) < 0.02
    assert abs(float(result.params["sigma"]) - float(jnp.std(x))) < 0.02


# --------------------------------------------------------------------------------------
# RBM on the digits: trained through learning.fit, the NumPyro route equals the function path
# --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.standard_promotion  # optax.adam
def test_rbm_trained_by_the_numpyro_route_has_the_function_paths_test_likelihood(digits):
    """The NumPyro model's rule and learning.rbm.bernoulli_rbm_pcd, each trained by
    learning.fit with the same key (so the same minibatches, chain starts and chain keys)
    and optimizer for 30 epochs: exact test log-likelihoods (enumeration of the 16
    hiddens) within 0.05 nats; the trajectories are the same program up to float
    rounding, so they agree far closer (the assertion on the parameters)."""
    train, test = digits
    initial = bernoulli_rbm.init_params(jax.random.key(1), 64, N_HIDDEN, train)
    cd = infer.ContrastiveDivergence(rbm_model(initial), num_chains=100)
    theta = cd.init(jax.random.key(0), train).train.params
    rule = learning.LearningRule(  # the model's arrays are its one data argument
        lambda key, params, data: cd.rule.init(key, params, [data]),
        lambda key, state, params, batch: cd.rule.step(key, state, params, [batch]),
    )
    optimizer = optax.adam(optax.exponential_decay(1e-2, 420, 0.1))
    options = dict(epochs=30, batch_size=100, progress=False)
    route = learning.fit(jax.random.key(2), theta, train, rule, optimizer, **options)
    reference = learning.fit(
        jax.random.key(2), initial, train, learning.rbm.bernoulli_rbm_pcd(100), optimizer, **options
    )
    learned = bernoulli_rbm.BernoulliRBMParams(*(route.params[name] for name in "Wbc"))
    route_ll = float(jnp.mean(exact.log_likelihood_bernoulli_rbm(learned, test)))
    reference_ll = float(jnp.mean(exact.log_likelihood_bernoulli_rbm(reference.params, test)))
    assert abs(route_ll - reference_ll) < 0.05
    np.testing.assert_allclose(learned.W, reference.params.W, atol=1e-3)


@pytest.mark.slow  # a smoke run of bench/numpyro_route.py on synthetic rows (~30 s)
def test_numpyro_route_bench_runs_on_synthetic_rows(capsys):
    from bench import numpyro_route

    ratio = numpyro_route.main(["--synthetic", "500", "--hidden", "8", "--repeats", "1"])
    assert math.isfinite(ratio) and ratio > 0
    assert "NumPyro route speed relative to fit" in capsys.readouterr().out


def _fpcd(energy):
    return learning.fpcd(energy, binary_gibbs.as_top_level_api(energy), 50)


def _pt_pcd(energy):
    tempering = parallel_tempering.tempered_sampler(energy, binary_gibbs.as_top_level_api)
    return learning.pt_pcd(energy, tempering, 50, jnp.array([0.5, 0.75, 1.0]))


def _replay(energy):
    def binary_noise(key, n):  # fresh starts for binary chains: uniform 0/1 units
        return jax.random.bernoulli(key, 0.5, (n, N_SPINS)).astype(jnp.float32)

    sampler = binary_gibbs.as_top_level_api(energy)
    return replay.persistent_with_replay(
        energy, sampler, 50, buffer_size=200, k=2, noise_fn=binary_noise
    )


@pytest.mark.slow  # three compiled rules over binary Gibbs through the model
@pytest.mark.parametrize(
    "negative", [_fpcd, _pt_pcd, _replay], ids=["fast-weights", "tempered", "replay-buffer"]
)
def test_learning_rules_run_as_the_negative_phase_unchanged(ising_data, negative):
    """negative= takes the library's learning rules (fast weights, parallel tempering, a
    replay buffer) on the row energy: the step's gradient equals the same rule's on ising_energy with the
    same key (the row energy is the Ising energy, up to float rounding)."""
    _, data = ising_data
    key = jax.random.key(21)
    cd = infer.ContrastiveDivergence(ising_model, negative=negative)
    theta, grads, _ = _one_step(cd, key, (data[:100],))
    rule = negative(ising_energy)
    params = (theta["J"], theta["h"])
    expected, _, _ = jax.jit(rule.step)(key, rule.init(key, params, data[:100]), params, data[:100])
    np.testing.assert_allclose(grads["J"], expected[0], atol=1e-5)
    np.testing.assert_allclose(grads["h"], expected[1], atol=1e-5)


@pytest.mark.slow  # a second RBM program (the Gaussian-Bernoulli site)
def test_gaussian_rbm_site_defaults_to_block_gibbs_on_its_parameters():
    """An observed UnnormalizedEnergy over gaussian_rbm.free_energy is recognised: the
    default negative phase is learning.pcd with the GB-RBM's block Gibbs on the site's
    parameters (identical gradients with the same key), and infer.sample's default too."""
    initial = gaussian_rbm.GaussianRBMParams(
        0.1 * jax.random.normal(jax.random.key(0), (5, 3)), jnp.zeros(5), jnp.zeros(3), jnp.zeros(5)
    )
    data = jax.random.normal(jax.random.key(1), (50, 5))

    def model(x):
        params = gaussian_rbm.GaussianRBMParams(
            *(
                numpyro.param(name, getattr(initial, name))
                for name in gaussian_rbm.GaussianRBMParams._fields
            )
        )
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample(
                "v", potentials.UnnormalizedEnergy(gaussian_rbm.free_energy, params, (5,)), obs=x
            )

    key = jax.random.key(3)
    cd = infer.ContrastiveDivergence(model, num_chains=10)
    theta, grads, _ = _one_step(cd, key, (data,))
    rule = learning.pcd(gaussian_rbm.free_energy, rbm_gibbs.as_top_level_api("gaussian"), 10)
    expected, _, _ = jax.jit(rule.step)(key, rule.init(key, initial, data), initial, data)
    for name in gaussian_rbm.GaussianRBMParams._fields:
        np.testing.assert_allclose(grads[name], getattr(expected, name), rtol=1e-5, atol=1e-6)
    samples = infer.sample(model, theta, None, 10, jax.random.key(5), data, num_chains=3)
    assert samples["v"].shape == (3, 10, 5) and bool(jnp.all(jnp.isfinite(samples["v"])))
