"""Energies as NumPyro potentials: UnnormalizedEnergy, factor, potential_fn, the guard.

NumPyro's own MCMC code mixes int32 and float32 (e.g. ``hmc.py``:
``sum_accept_probs / num_proposals``), so NumPyro inference runs under standard
dtype promotion (``_standard_promotion``); our own functions are called under the
suite's strict mode everywhere else.
"""

import pathlib
import re
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS, SVI, DiscreteHMCGibbs, Trace_ELBO
from numpyro.infer.util import initialize_model
from scipy import stats

from numpyro_ebm import potentials
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.potentials import (
    DoublyIntractableWarning,
    LearnableEnergyError,
    UnnormalizedEnergy,
    UnnormalizedSampleError,
    allow_learnable_energies,
    check_model,
)
from tests._stats import chisquare_counts, configuration_index

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "numpyro.md"


def _standard_promotion():
    return jax.numpy_dtype_promotion("standard")


@pytest.fixture(autouse=True)
def _fresh_guard_registry():
    # the automatic guard warns once per site per process; tests start from scratch
    potentials._WARNED.clear()
    yield
    potentials._WARNED.clear()


# --------------------------------------------------------------------------------------
# A 2-D Gaussian written as an energy: E(x) = (x - mu)^T P (x - mu) / 2
# --------------------------------------------------------------------------------------


class GaussianParams(NamedTuple):
    mu: jax.Array
    precision: jax.Array


MU = np.array([1.0, -2.0])
COV = np.array([[1.0, 0.6], [0.6, 0.5]])
GAUSS = GaussianParams(jnp.asarray(MU, jnp.float32), jnp.asarray(np.linalg.inv(COV), jnp.float32))


def gaussian_energy(params, x):
    d = x - params.mu
    return 0.5 * jnp.sum((d @ params.precision) * d, axis=-1)


def _assert_gaussian(samples, n_tests_total):
    """z-tests of the mean (2) and covariance entries (3) of iid draws of N(MU, COV).

    Bonferroni over ``n_tests_total`` tests at family alpha = 1e-3.
    """
    x = np.asarray(samples, np.float64)
    n = x.shape[0]
    z_crit = stats.norm.isf(1e-3 / (2 * n_tests_total))
    z_mean = (x.mean(0) - MU) / np.sqrt(np.diag(COV) / n)
    assert np.all(np.abs(z_mean) < z_crit), z_mean
    d = x - MU  # known mean: E[d_i d_j] = COV_ij, Var[d_i d_j] = COV_ii COV_jj + COV_ij^2
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        sd = np.sqrt((COV[i, i] * COV[j, j] + COV[i, j] ** 2) / n)
        z = (np.mean(d[:, i] * d[:, j]) - COV[i, j]) / sd
        assert abs(z) < z_crit, (i, j, z)


# --------------------------------------------------------------------------------------
# UnnormalizedEnergy: log_prob, sample, supports, shapes
# --------------------------------------------------------------------------------------


def test_log_prob_is_minus_energy_and_signs_agree():
    x = jax.random.normal(jax.random.key(0), (5, 2), jnp.float32)
    d = UnnormalizedEnergy(gaussian_energy, GAUSS, (2,))
    expected = -gaussian_energy(GAUSS, x)
    np.testing.assert_allclose(d.log_prob(x), expected, rtol=1e-6)
    np.testing.assert_allclose(potentials.log_density_fn(gaussian_energy, GAUSS)(x), expected)
    np.testing.assert_allclose(
        potentials.potential_fn(gaussian_energy, GAUSS, site="x")({"x": x}), -expected
    )
    assert d.log_prob(x).shape == (5,)


def test_binary_log_prob_casts_integer_values():
    params = bernoulli_rbm.init_params(jax.random.key(1), 4, 3, weight_scale=1.0)
    v = jnp.array([[1, 0, 1, 1], [0, 0, 0, 0]], jnp.int32)
    d = UnnormalizedEnergy(bernoulli_rbm.free_energy, params, (4,), support="binary")
    expected = -bernoulli_rbm.free_energy(params, v.astype(jnp.float32))
    np.testing.assert_allclose(d.log_prob(v), expected, rtol=1e-6)
    np.testing.assert_allclose(d.log_prob(v.astype(jnp.bool_)), expected, rtol=1e-6)


def test_factor_adds_minus_energy_to_the_log_joint():
    x = jnp.array([[0.5, -1.0], [2.0, 0.0]], jnp.float32)

    def model():
        potentials.factor("e", gaussian_energy, GAUSS, x)

    trace = numpyro.handlers.trace(model).get_trace()
    site = trace["e"]
    assert site["is_observed"] and site["infer"][potentials.ENERGY_FACTOR_MARK] == "factor"
    np.testing.assert_allclose(
        site["fn"].log_prob(site["value"]), -jnp.sum(gaussian_energy(GAUSS, x)), rtol=1e-6
    )


def test_sample_raises_explaining_why():
    d = UnnormalizedEnergy(gaussian_energy, GAUSS, (2,))
    with pytest.raises(UnnormalizedSampleError, match="no normalising constant.*MCMC"):
        d.sample(jax.random.key(0))
    # also through numpyro.sample outside of any handler, and NumPyro's init strategies
    # recognise it as "no sample method" (a NotImplementedError)
    with pytest.raises(UnnormalizedSampleError, match="NUTS"):
        numpyro.sample("x", d, rng_key=jax.random.key(0))
    assert issubclass(UnnormalizedSampleError, NotImplementedError)


def test_constructor_errors():
    with pytest.raises(ValueError, match="unknown support 'integer'.*binary"):
        UnnormalizedEnergy(gaussian_energy, GAUSS, (2,), support="integer")
    with pytest.raises(TypeError, match="callable"):
        UnnormalizedEnergy(GAUSS, gaussian_energy, (2,))
    with pytest.raises(ValueError, match="event_dim 1"):
        UnnormalizedEnergy(gaussian_energy, GAUSS, (), support=dist.constraints.real_vector)


def test_log_prob_checks_shapes():
    d = UnnormalizedEnergy(gaussian_energy, GAUSS, (2,))
    with pytest.raises(ValueError, match=r"does not end with the event shape \(2,\)"):
        d.log_prob(jnp.zeros((4, 3), jnp.float32))
    summed = UnnormalizedEnergy(lambda p, x: jnp.sum(gaussian_energy(p, x)), GAUSS, (2,))
    with pytest.raises(ValueError, match=r"one energy per configuration, shape \(4,\)"):
        summed.log_prob(jnp.zeros((4, 2), jnp.float32))


def test_validate_args_masks_out_of_support_values():
    params = bernoulli_rbm.init_params(jax.random.key(1), 3, 2, weight_scale=1.0)
    d = UnnormalizedEnergy(bernoulli_rbm.free_energy, params, (3,), "binary", validate_args=True)
    good = jnp.array([1.0, 0.0, 1.0], jnp.float32)
    assert np.isfinite(d.log_prob(good))
    with pytest.warns(UserWarning, match="Out-of-support"):
        assert d.log_prob(jnp.array([0.5, 0.0, 1.0], jnp.float32)) == -jnp.inf


def test_batch_shape_plate_and_pytree():
    d = UnnormalizedEnergy(gaussian_energy, GAUSS, (2,), batch_shape=(3,))
    assert d.batch_shape == (3,) and d.event_shape == (2,)
    x = jax.random.normal(jax.random.key(0), (3, 2), jnp.float32)
    np.testing.assert_allclose(d.log_prob(x), -gaussian_energy(GAUSS, x), rtol=1e-6)
    assert d.log_prob(x[0]).shape == (3,)  # one configuration broadcast over the batch

    def model():
        with numpyro.plate("copies", 4):
            numpyro.sample("z", UnnormalizedEnergy(gaussian_energy, GAUSS, (2,)))

    z = jnp.zeros((4, 2), jnp.float32)
    trace = numpyro.handlers.trace(numpyro.handlers.substitute(model, {"z": z})).get_trace()
    assert trace["z"]["fn"].batch_shape == (4,)
    np.testing.assert_allclose(trace["z"]["fn"].log_prob(z), -gaussian_energy(GAUSS, z))

    # a distribution is a pytree: it crosses jit boundaries with its parameters
    log_prob = jax.jit(lambda d, x: d.log_prob(x))(d, x)
    np.testing.assert_allclose(log_prob, d.log_prob(x), rtol=1e-6)


def test_binary_enumerate_support_is_per_coordinate():
    params = bernoulli_rbm.init_params(jax.random.key(1), 4, 3)
    d = UnnormalizedEnergy(bernoulli_rbm.free_energy, params, (4,), "binary")
    assert d.has_enumerate_support and d.support.is_discrete
    assert d.enumerate_support(expand=False).shape == (2, 1)
    np.testing.assert_array_equal(d.enumerate_support()[:, 0], [0, 1])
    assert d.enumerate_support().shape == (2, 4)
    real = UnnormalizedEnergy(gaussian_energy, GAUSS, (2,))
    assert not real.has_enumerate_support
    with pytest.raises(NotImplementedError, match="binary support"):
        real.enumerate_support()


# --------------------------------------------------------------------------------------
# MCMC
# --------------------------------------------------------------------------------------


def test_nuts_samples_energy_site_factor_and_plate():
    """One NUTS run covers an UnnormalizedEnergy site, the same energy as a factor and a
    plate of two energy sites; with fixed parameters it must not warn (warnings are
    errors in this suite) and check_model must find nothing."""

    def model():
        numpyro.sample("x", UnnormalizedEnergy(gaussian_energy, GAUSS, (2,)))
        y = numpyro.sample("y", dist.ImproperUniform(dist.constraints.real_vector, (), (2,)))
        potentials.factor("y_energy", gaussian_energy, GAUSS, y)
        with numpyro.plate("copies", 2):
            numpyro.sample("z", UnnormalizedEnergy(gaussian_energy, GAUSS, (2,)))

    assert check_model(model) == {}
    n_chains = 500
    with _standard_promotion():
        mcmc = MCMC(
            NUTS(model),
            num_warmup=150,
            num_samples=2,
            num_chains=n_chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(jax.random.key(0))
    samples = mcmc.get_samples(group_by_chain=True)
    # one final state per independent chain: iid draws; 4 blocks x 5 z-tests, Bonferroni at
    # family alpha = 1e-3 per block: false-failure rate at most 0.4%.
    _assert_gaussian(samples["x"][:, -1], 5)
    _assert_gaussian(samples["y"][:, -1], 5)
    _assert_gaussian(samples["z"][:, -1, 0], 5)
    _assert_gaussian(samples["z"][:, -1, 1], 5)


def test_nuts_with_potential_fn():
    kernel = NUTS(potential_fn=potentials.potential_fn(gaussian_energy, GAUSS, site="x"))
    n_samples = 4000
    with _standard_promotion():
        mcmc = MCMC(kernel, num_warmup=500, num_samples=n_samples, progress_bar=False)
        mcmc.run(jax.random.key(1), init_params={"x": jnp.zeros(2, jnp.float32)})
    samples = mcmc.get_samples()
    assert set(samples) == {"x"} and samples["x"].shape == (n_samples, 2)
    x = np.asarray(samples["x"], np.float64)
    # One chain (this only checks the wiring; the sampler's correctness is NumPyro's and is
    # tested with independent chains above): z-test of the mean with the chain's effective
    # sample size and a 5-sigma bound, nominal false-failure rate 6e-7 per coordinate, still
    # below 1e-4 if the ESS estimate were 40% too high.
    ess = numpyro.diagnostics.effective_sample_size(x[None])
    assert np.all(ess > 500), ess
    z = (x.mean(0) - MU) / np.sqrt(np.diag(COV) / ess)
    assert np.all(np.abs(z) < 5), z
    cov_sd = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV**2) / ess.min())
    assert np.all(np.abs(np.cov(x.T) - COV) < 5 * cov_sd), np.cov(x.T)


K_HIDDEN, D_VISIBLE = 3, 2


def _gb_rbm_params():
    base = gaussian_rbm.init_params(jax.random.key(7), D_VISIBLE, K_HIDDEN, weight_scale=1.0)
    return base._replace(
        b=jnp.array([0.5, -0.3], jnp.float32),
        c=jnp.array([0.2, -0.4, 0.1], jnp.float32),
        log_sigma=jnp.array([0.0, -0.3], jnp.float32),
    )


def _binary_hidden_model(params):
    """h ~ exp(-F(h)) as a binary UnnormalizedEnergy site, v | h ~ N(b + sigma W h, sigma^2):
    the joint is exactly the Gaussian-Bernoulli RBM exp(-E(v, h))."""

    def model():
        h = numpyro.sample(
            "h", UnnormalizedEnergy(gaussian_rbm.hidden_free_energy, params, (K_HIDDEN,), "binary")
        )
        mean = gaussian_rbm.visible_mean(params, h.astype(params.W.dtype))
        numpyro.sample("v", dist.Normal(mean, gaussian_rbm.visible_std(params)).to_event(1))

    return model


def test_binary_site_needs_an_initial_value():
    model = _binary_hidden_model(_gb_rbm_params())
    mcmc = MCMC(DiscreteHMCGibbs(NUTS(model)), num_warmup=1, num_samples=1, progress_bar=False)
    with pytest.raises(UnnormalizedSampleError, match="handlers.substitute"):
        mcmc.run(jax.random.key(0))


def test_discrete_hmc_gibbs_samples_binary_energy_site_exactly():
    """DiscreteHMCGibbs (coordinate-wise Gibbs on the binary energy site h, NUTS on v)
    against exact enumeration of p(h) ∝ exp(-F(h)).

    One long chain, thinned so that kept draws are nearly independent; the tests use the
    effective sample size (ESS), capped at the number of kept draws.
    """
    params = _gb_rbm_params()
    states, log_p = exact.log_probabilities_binary(
        gaussian_rbm.hidden_free_energy, params, K_HIDDEN
    )
    p_h = np.exp(log_p)
    assert p_h.min() > 0.01
    model = numpyro.handlers.substitute(
        _binary_hidden_model(params), data={"h": jnp.zeros((K_HIDDEN,), jnp.int32)}
    )
    n_kept, thinning = 3000, 5
    with _standard_promotion():
        mcmc = MCMC(
            DiscreteHMCGibbs(NUTS(model)),
            num_warmup=500,
            num_samples=n_kept * thinning,
            thinning=thinning,
            progress_bar=False,
        )
        mcmc.run(jax.random.key(2))
    samples = mcmc.get_samples()
    h, v = np.asarray(samples["h"]), np.asarray(samples["v"], np.float64)
    assert h.shape == (n_kept, K_HIDDEN) and set(np.unique(h)) <= {0, 1}

    index = configuration_index(h)
    indicators = (index[:, None] == np.arange(2**K_HIDDEN)[None, :]).astype(np.float64)
    ess = numpyro.diagnostics.effective_sample_size(np.concatenate([indicators, v], 1)[None])
    ess = np.minimum(ess, n_kept)
    assert np.all(ess > n_kept / 3), ess

    counts = np.bincount(index, minlength=2**K_HIDDEN)
    # Pearson chi-square over 8 configurations, counts rescaled to the smallest indicator
    # ESS (conservative), alpha = 1e-3: false-failure rate ~0.1% (the ESS is estimated).
    scaled = counts * ess[: 2**K_HIDDEN].min() / n_kept
    assert chisquare_counts(scaled, p_h) > 1e-3, (counts / n_kept, p_h)

    p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    means = p64.b + np.exp(p64.log_sigma) * (states @ p64.W.T)
    mean_v = p_h @ means
    var_v = np.exp(2 * p64.log_sigma) + p_h @ means**2 - mean_v**2
    z = (v.mean(0) - mean_v) / np.sqrt(var_v / ess[2**K_HIDDEN :])
    # z-test per visible unit with its ESS, Bonferroni over 2 at alpha = 1e-3: ~0.1%.
    assert np.all(np.abs(z) < stats.norm.isf(1e-3 / 4)), z


# --------------------------------------------------------------------------------------
# The doubly-intractable guard
# --------------------------------------------------------------------------------------

RBM = bernoulli_rbm.init_params(jax.random.key(3), 4, 3, weight_scale=1.0)
DATA = jnp.array([[1, 0, 1, 1], [0, 1, 0, 0]], jnp.float32)


def bayesian_rbm_site():
    """The mistake: weights sampled, energy site observed (log Z(W) silently dropped)."""
    W = numpyro.sample("W", dist.Normal(jnp.zeros((4, 3)), 1.0).to_event(2))
    energy = UnnormalizedEnergy(bernoulli_rbm.free_energy, RBM._replace(W=W), (4,), "binary")
    with numpyro.plate("data", DATA.shape[0]):
        numpyro.sample("v", energy, obs=DATA)


def bayesian_rbm_factor():
    W = numpyro.sample("W", dist.Normal(jnp.zeros((4, 3)), 1.0).to_event(2))
    potentials.factor("data_energy", bernoulli_rbm.free_energy, RBM._replace(W=W), DATA)


def test_warning_category():
    assert issubclass(DoublyIntractableWarning, UserWarning)


@pytest.mark.parametrize(
    "model, site", [(bayesian_rbm_site, "v"), (bayesian_rbm_factor, "data_energy")]
)
def test_check_model_flags_sampled_parameters(model, site):
    with pytest.warns(DoublyIntractableWarning, match=rf"'{site}'.*latent sample site 'W'") as rec:
        report = check_model(model)
    assert report == {site: ("W",)}
    message = str(rec[0].message)
    assert "log Z(theta)" in message and "contrastive_divergence" in message
    # the two tools: Bayesian inference over theta, and learning theta
    assert "numpyro_ebm.infer.Exchange" in message
    assert "numpyro_ebm.infer.ContrastiveDivergence" in message
    assert rec[0].filename == __file__  # points at the caller


@pytest.mark.parametrize(
    "model, what",
    [
        (bayesian_rbm_site, "UnnormalizedEnergy(free_energy)"),
        (bayesian_rbm_factor, "'data_energy'"),
    ],
)
def test_guard_warns_automatically_during_mcmc_initialisation(model, what):
    with pytest.warns(DoublyIntractableWarning, match=re.escape(what) + ".*latent sample site 'W'"):
        with _standard_promotion():
            initialize_model(jax.random.key(0), model)


def test_automatic_guard_warns_once_per_site():
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with _standard_promotion():
            for seed in range(3):
                initialize_model(jax.random.key(seed), bayesian_rbm_factor)
    assert [r.category for r in rec] == [DoublyIntractableWarning]
    assert rec[0].filename == __file__  # the line of the model that builds the factor


def test_check_model_finds_derived_closure_and_param_dependencies():
    def derived():  # parameters computed from a latent site (the automatic guard misses it)
        log_scale = numpyro.sample("log_scale", dist.Normal(0.0, 1.0))
        params = RBM._replace(W=jnp.exp(log_scale) * RBM.W)
        numpyro.sample("v", UnnormalizedEnergy(bernoulli_rbm.free_energy, params, (4,), "binary"))

    def closure():  # the energy closes over a latent site
        mu = numpyro.sample("mu", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
        x = numpyro.sample("x", dist.ImproperUniform(dist.constraints.real_vector, (), (2,)))
        potentials.factor("e", lambda p, x: gaussian_energy(GAUSS._replace(mu=mu), x), None, x)

    def learnable():  # SVI-style parameter
        W = numpyro.param("W", RBM.W)
        potentials.factor("e", bernoulli_rbm.free_energy, RBM._replace(W=W), DATA)

    for model, expected in [
        (derived, {"v": ("log_scale",)}),
        (closure, {"e": ("mu",)}),
        (learnable, {"e": ("W",)}),
    ]:
        with pytest.warns(DoublyIntractableWarning):
            assert check_model(model) == expected


def test_guard_has_no_false_alarms():
    def fixed():
        v = numpyro.sample("v", UnnormalizedEnergy(bernoulli_rbm.free_energy, RBM, (4,), "binary"))
        numpyro.deterministic("v_sum", jnp.sum(v))

    def joint():  # one joint energy over two latent sites: E(v, h) is not "theta"
        h = numpyro.sample("h", dist.Bernoulli(probs=jnp.full((3,), 0.5)).to_event(1))
        v = numpyro.sample("v", dist.ImproperUniform(dist.constraints.real_vector, (), (2,)))
        potentials.factor(
            "e",
            lambda p, vh: gaussian_rbm.joint_energy(p, vh[0], vh[1].astype(jnp.float32)),
            _gb_rbm_params(),
            (v, h),
        )

    def data_dependent(data):  # parameters computed from data (model arguments) only
        params = RBM._replace(b=jnp.mean(data, axis=0))
        potentials.factor("e", bernoulli_rbm.free_energy, params, data)

    conditioned = numpyro.handlers.condition(bayesian_rbm_factor, data={"W": RBM.W})

    # warnings are errors in this suite: any DoublyIntractableWarning fails the test
    assert check_model(fixed) == {}
    assert check_model(data_dependent, DATA) == {}
    assert check_model(conditioned) == {}
    with _standard_promotion():  # numpyro's Bernoulli.sample casts bool with int
        assert check_model(joint) == {}
        initialize_model(jax.random.key(0), data_dependent, model_args=(DATA,))
        initialize_model(jax.random.key(0), conditioned)


# --------------------------------------------------------------------------------------
# SVI on an energy with numpyro.param parameters: an error, not a warning
# --------------------------------------------------------------------------------------


def learnable_rbm_site(data):
    """The issue's case: an RBM written as a NumPyro model, parameters as numpyro.param."""
    params = bernoulli_rbm.BernoulliRBMParams(
        W=numpyro.param("W", RBM.W), b=numpyro.param("b", RBM.b), c=numpyro.param("c", RBM.c)
    )
    energy = UnnormalizedEnergy(bernoulli_rbm.free_energy, params, (4,), "binary")
    with numpyro.plate("data", data.shape[0]):
        numpyro.sample("v", energy, obs=data)


def learnable_rbm_factor(data):
    W = numpyro.param("W", RBM.W)
    potentials.factor("data_energy", bernoulli_rbm.free_energy, RBM._replace(W=W), data)


def _empty_guide(data):
    pass


def _run_svi(model, guide=_empty_guide, steps=3):
    svi = SVI(model, guide, numpyro.optim.Adam(1e-2), Trace_ELBO())
    return svi.run(jax.random.key(0), steps, DATA, progress_bar=False)


@pytest.mark.parametrize(
    "model, site",
    [
        (learnable_rbm_site, "observed UnnormalizedEnergy(free_energy) site 'v'"),
        (learnable_rbm_factor, "energy factor 'data_energy'"),
    ],
)
def test_svi_on_an_energy_with_param_sites_raises_naming_the_site(model, site):
    # Before: a DoublyIntractableWarning (swallowed by NumPyro's loops), then SVI trained
    # a model whose loss falls without bound (the RBM ended at -614.5 nats).
    with pytest.raises(LearnableEnergyError) as raised, _standard_promotion():
        _run_svi(model)
    message = str(raised.value)
    assert site in message and "numpyro.param site" in message and "'W'" in message
    assert "numpyro_ebm.infer.ContrastiveDivergence" in message
    assert "numpyro_ebm.learning.fit" in message
    assert "allow_learnable_energies" in message


def test_allow_learnable_energies_lets_an_engine_trace_the_model():
    with allow_learnable_energies(), _standard_promotion():
        result = _run_svi(learnable_rbm_site)  # no error, and no warning (errors here)
    assert np.all(np.isfinite(np.asarray(result.losses)))
    assert potentials._ALLOW_LEARNABLE == [0]
    with pytest.raises(LearnableEnergyError), _standard_promotion():  # restored on exit
        _run_svi(learnable_rbm_factor)


def test_learnable_energy_error_is_only_for_param_sites_under_an_elbo():
    # MCMC over x with fixed (concrete) parameters: nothing fires
    def fixed_latent():
        numpyro.sample("x", UnnormalizedEnergy(gaussian_energy, GAUSS, (2,)))

    with _standard_promotion():
        initialize_model(jax.random.key(0), fixed_latent)
    # numpyro.param parameters outside an ELBO (here MCMC initialisation) stay constant:
    # the warning of the automatic guard, never the error
    with pytest.warns(DoublyIntractableWarning, match="numpyro.param site 'W'"):
        with _standard_promotion():
            initialize_model(jax.random.key(0), learnable_rbm_factor, model_args=(DATA,))

    # a latent theta under SVI: the warning stands (the exchange algorithm is the tool)
    def latent_theta_guide():
        loc = numpyro.param("W_loc", RBM.W)
        numpyro.sample("W", dist.Normal(loc, 0.1).to_event(2))

    with pytest.warns(DoublyIntractableWarning, match="latent sample site 'W'"):
        with _standard_promotion():
            _run_svi(lambda data: bayesian_rbm_factor(), lambda data: latent_theta_guide(), 1)


# --------------------------------------------------------------------------------------
# The user guide
# --------------------------------------------------------------------------------------


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.slow
def test_user_guide_code_runs():
    blocks = _python_blocks(DOCS.read_text())
    assert len(blocks) >= 5
    namespace = {"__name__": "numpyro_guide"}
    with _standard_promotion():
        for block in blocks:
            exec(compile(block, str(DOCS), "exec"), namespace)
