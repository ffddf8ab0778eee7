"""infer.Exchange against exact posteriors of a 3x3 Ising model, and its MCMCKernel contract.

The lattice is small enough (2^9 = 512 configurations) that log Z(theta) is a sum, so the
posterior of the coupling (and of the coupling and the field) is known by quadrature on a
fine grid. The statistical checks compare several chains' posterior mean and standard
deviation with it within 4 Monte Carlo standard errors (ArviZ's ``mcse_mean`` and
``mcse_sd``): under the normal approximation of the MCMC error each comparison fails
falsely with probability 6.3e-5, the six of this file together below 4e-4. The data are
fixed draws (numpy seed 0/1) from the exact model; the claims are about the sampler given
those data, so no seed is lucky.

NumPyro's MCMC code mixes int32 and float32, so MCMC runs under standard promotion.
"""

from __future__ import annotations

import pathlib
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS
from scipy import stats

from numpyro_ebm import _arviz, infer, potentials
from numpyro_ebm.energies import lattice_ising
from numpyro_ebm.evaluation import exact
from numpyro_ebm.infer import Exchange
from numpyro_ebm.potentials import UnnormalizedEnergy
from tests._stats import chisquare_counts, configuration_index

SHAPE = (3, 3)
N_DATA = 30
WARMUP, SAMPLES, CHAINS = 300, 1500, 4


def ising_bits(params, x):
    """The Ising energy of 0/1 pixels (spins 2x - 1)."""
    return lattice_ising.energy(params, 2 * x - 1)


def homogeneous(coupling, field):
    H, W = SHAPE
    one = jnp.ones((), jnp.result_type(coupling))
    return lattice_ising.LatticeIsingParams(
        coupling * jnp.ones((H, W - 1), one.dtype),
        coupling * jnp.ones((H - 1, W), one.dtype),
        field * jnp.ones((H, W), one.dtype),
    )


def coupling_model(data):
    coupling = numpyro.sample("coupling", dist.Uniform(0.0, 1.0))
    params = homogeneous(coupling, jnp.zeros((), coupling.dtype))
    with numpyro.plate("images", data.shape[0]):
        numpyro.sample("y", UnnormalizedEnergy(ising_bits, params, SHAPE, "binary"), obs=data)


def coupling_field_model(data):
    coupling = numpyro.sample("coupling", dist.Uniform(0.0, 1.0))
    field = numpyro.sample("field", dist.Normal(0.0, 0.5))
    with numpyro.plate("images", data.shape[0]):
        numpyro.sample(
            "y",
            UnnormalizedEnergy(ising_bits, homogeneous(coupling, field), SHAPE, "binary"),
            obs=data,
        )


# --------------------------------------------------------------------------------------
# Exact posteriors by enumeration and quadrature
# --------------------------------------------------------------------------------------

SPINS = np.asarray(exact.binary_states(9, dtype=jnp.float32)).reshape(-1, *SHAPE) * 2 - 1


def _statistics(spins):
    """Sufficient statistics: sum of neighbour products, sum of spins."""
    pairs = np.sum(spins[..., :, 1:] * spins[..., :, :-1], axis=(-2, -1)) + np.sum(
        spins[..., 1:, :] * spins[..., :-1, :], axis=(-2, -1)
    )
    return pairs, np.sum(spins, axis=(-2, -1))


STATE_PAIRS, STATE_MAGNETISATION = _statistics(SPINS)


def _log_partition(coupling, field):
    exponent = coupling[..., None] * STATE_PAIRS + field[..., None] * STATE_MAGNETISATION
    return np.logaddexp.reduce(exponent, axis=-1)


def _draw_data(coupling, field, seed):
    log_p = coupling * STATE_PAIRS + field * STATE_MAGNETISATION
    p = np.exp(log_p - np.logaddexp.reduce(log_p))
    index = np.random.default_rng(seed).choice(len(p), size=N_DATA, p=p)
    return jnp.asarray((SPINS[index] + 1) / 2, jnp.float32)


def _exact_moments(grid_axes, log_posterior):
    weights = np.exp(log_posterior - log_posterior.max())
    weights /= weights.sum()
    moments = {}
    for name, values in grid_axes.items():
        mean = np.sum(weights * values)
        moments[name] = (mean, np.sqrt(np.sum(weights * (values - mean) ** 2)))
    return moments


def exact_coupling_posterior(data):
    pairs, _ = _statistics(2 * np.asarray(data, np.float64) - 1)
    grid = np.linspace(0.0, 1.0, 4001)[1:-1]
    log_posterior = grid * pairs.sum() - len(pairs) * _log_partition(grid, np.zeros_like(grid))
    return _exact_moments({"coupling": grid}, log_posterior)


def exact_coupling_field_posterior(data):
    pairs, magnetisation = _statistics(2 * np.asarray(data, np.float64) - 1)
    coupling, field = np.meshgrid(
        np.linspace(0.0, 1.0, 402)[1:-1], np.linspace(-1.5, 1.5, 401), indexing="ij"
    )
    log_posterior = (
        coupling * pairs.sum()
        + field * magnetisation.sum()
        - len(pairs) * _log_partition(coupling, field)
        + stats.norm(0.0, 0.5).logpdf(field)
    )
    return _exact_moments({"coupling": coupling, "field": field}, log_posterior)


def _run(kernel, data, seed, **kwargs):
    mcmc = MCMC(
        kernel,
        num_warmup=kwargs.pop("num_warmup", WARMUP),
        num_samples=kwargs.pop("num_samples", SAMPLES),
        num_chains=kwargs.pop("num_chains", CHAINS),
        chain_method=kwargs.pop("chain_method", "vectorized"),
        progress_bar=False,
    )
    with jax.numpy_dtype_promotion("standard"):
        mcmc.run(jax.random.key(seed), data, **kwargs)
    return mcmc


def _assert_matches_exact(mcmc, exact_moments):
    summary = _arviz.summary(_arviz.from_numpyro(mcmc, log_likelihood=False))
    for name, (mean, sd) in exact_moments.items():
        row = summary.loc[name]
        # 4 MCSE each (false-failure rate 6.3e-5 per comparison, see the module docstring)
        assert abs(row["mean"] - mean) < 4 * row["mcse_mean"], (name, row["mean"], mean, row)
        assert abs(row["sd"] - sd) < 4 * row["mcse_sd"], (name, row["sd"], sd, row)
        assert row["r_hat"] < 1.05, (name, row["r_hat"])


@pytest.fixture(scope="module")
def coupling_data():
    return _draw_data(0.4, 0.0, seed=0)


@pytest.fixture(scope="module")
def coupling_run(coupling_data):
    return _run(Exchange(coupling_model), coupling_data, seed=1)


# --------------------------------------------------------------------------------------
# Exact posteriors
# --------------------------------------------------------------------------------------


def test_unknown_coupling_matches_the_exact_posterior(coupling_run, coupling_data):
    exact_moments = exact_coupling_posterior(coupling_data)
    _assert_matches_exact(coupling_run, exact_moments)
    # enumeration never runs CFTP
    assert np.all(np.asarray(coupling_run.get_extra_fields()["coalescence_time"]) == 0)


@pytest.mark.slow  # a NUTS run: 8 s
def test_dropping_log_z_misses_the_posterior(coupling_run, coupling_data):
    """NUTS on the same model, which drops log Z(coupling): its posterior piles up at the
    prior's upper end (about 0.99) while the exact posterior mean is about 0.44."""
    mean, sd = exact_coupling_posterior(coupling_data)["coupling"]
    naive = _run(
        NUTS(coupling_model), coupling_data, seed=2, num_warmup=200, num_samples=400, num_chains=1
    )
    naive_mean = float(np.mean(naive.get_samples()["coupling"]))
    exchange_mcse = _arviz.summary(_arviz.from_numpyro(coupling_run, log_likelihood=False)).loc[
        "coupling", "mcse_mean"
    ]
    # far outside the tolerance of the exact comparison (4 MCSE) and of the posterior itself
    assert naive_mean - mean > 4 * sd
    assert naive_mean - mean > 100 * exchange_mcse


@pytest.mark.slow
def test_coupling_and_field_match_the_exact_posterior():
    data = _draw_data(0.3, 0.2, seed=1)
    # two parameters mix more slowly than one: twice the draws for the R-hat bound
    mcmc = _run(Exchange(coupling_field_model), data, seed=3, num_samples=2 * SAMPLES)
    _assert_matches_exact(mcmc, exact_coupling_field_posterior(data))


@pytest.mark.slow
def test_cftp_exchange_matches_the_exact_posterior(coupling_data):
    mcmc = _run(Exchange(coupling_model, auxiliary="cftp"), coupling_data, seed=4)
    _assert_matches_exact(mcmc, exact_coupling_posterior(coupling_data))
    times = np.asarray(mcmc.get_extra_fields()["coalescence_time"])
    assert times.min() >= 1 and (times & (times - 1) == 0).all()  # powers of two, all met


# --------------------------------------------------------------------------------------
# The auxiliary draws
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_ising():
    """A 2x2 ferromagnetic Ising site with a field, 4000 independent batch elements."""
    params = lattice_ising.LatticeIsingParams(
        jnp.array([[0.6], [0.3]]), jnp.array([[0.5, 0.8]]), jnp.array([[0.1, -0.2], [0.0, 0.3]])
    )
    fn = UnnormalizedEnergy(ising_bits, params, (2, 2), "binary", batch_shape=(4000,))

    def flat(p, x):
        return ising_bits(p, x.reshape(x.shape[:-1] + (2, 2)))

    _, log_p = exact.log_probabilities_binary(flat, params, 4)
    return fn, np.exp(log_p)


@pytest.mark.parametrize("method", ["enumerate", "cftp"])
def test_exact_auxiliary_draws_follow_the_model(small_ising, method):
    """Chi-square of 4000 draws against the 16 exact probabilities (false-failure rate 1e-4)."""
    fn, probs = small_ising
    key = jax.random.key(5)
    if method == "enumerate":
        draws = jax.jit(lambda k: infer.enumerate_draw(k, fn, jnp.float32))(key)
    else:
        draws, time = jax.jit(lambda k: infer.cftp_draw(k, fn, jnp.float32))(key)
        assert int(time) >= 1
    assert draws.shape == (4000, 2, 2) and draws.dtype == jnp.float32
    counts = np.bincount(configuration_index(np.asarray(draws).reshape(-1, 4)), minlength=16)
    assert chisquare_counts(counts, probs) > 1e-4


def test_monotone_violation_finds_the_negative_coupling(small_ising):
    fn, _ = small_ising
    violation = jax.jit(infer.monotone_violation, static_argnums=1)
    assert float(violation(fn, jnp.float32)[0]) == 0.0
    params = fn.params._replace(vertical=jnp.array([[0.5, -0.7]]))
    anti = UnnormalizedEnergy(ising_bits, params, (2, 2), "binary")
    violation, pair = violation(anti, jnp.float32)
    # spins s = 2x - 1: a spin coupling K is a 0/1 coupling 4K
    np.testing.assert_allclose(float(violation), 4 * 0.7, rtol=1e-5)
    assert sorted(map(int, pair)) == [1, 3]  # units (0, 1) and (1, 1)


# --------------------------------------------------------------------------------------
# The MCMCKernel contract: jit, chains, dtype, ArviZ, progress bar
# --------------------------------------------------------------------------------------


@pytest.mark.slow  # 9 s; float32 runs cover the contract by default
def test_float64_chains_print_summary_and_arviz(coupling_data, capsys):
    with jax.enable_x64(True):
        data = jnp.asarray(coupling_data, jnp.float64)
        kernel = Exchange(coupling_model, auxiliary="double_mh", inner_steps=2)
        mcmc = _run(kernel, data, seed=6, num_warmup=10, num_samples=20, num_chains=2)
        samples = mcmc.get_samples(group_by_chain=True)["coupling"]
        assert samples.dtype == jnp.float64 and samples.shape == (2, 20)
        assert not np.allclose(samples[0], samples[1])  # chains from different keys
        assert mcmc.get_extra_fields()["potential_energy"].dtype == jnp.float64
        mcmc.print_summary()
        assert "coupling" in capsys.readouterr().out
        idata = _arviz.from_numpyro(mcmc, log_likelihood=False)
        assert "lp" in _arviz.group(idata, "sample_stats")  # from potential_energy
        assert _arviz.group(idata, "posterior")["coupling"].shape == (2, 20)


def test_float32_run_keeps_float32_and_reports_acceptance(coupling_run):
    assert coupling_run.get_samples()["coupling"].dtype == jnp.float32
    accept = np.asarray(coupling_run.get_extra_fields()["accept_prob"])
    assert 0.1 < accept.mean() < 0.6  # adapted towards the target 0.3
    # what the progress bar shows (vectorized chains: averaged over them)
    assert "acc. prob=" in coupling_run.sampler.get_diagnostics_str(coupling_run.last_state)


@pytest.mark.slow  # MCMC already jits and vmaps the step in the tests above
def test_jitted_step_traces_once_and_vmaps_over_chains(coupling_data):
    kernel = Exchange(coupling_model)
    traces = []

    def step(state):
        traces.append(None)  # Python runs only while JAX traces
        return kernel.sample(state, (coupling_data,), {})

    with jax.numpy_dtype_promotion("standard"):
        state = kernel.init(jax.random.key(7), 10, None, (coupling_data,), {})
        jitted = jax.jit(step)
        first = jitted(state)
        second = jitted(first)
        assert len(traces) == 1  # a new state, the same program
        pair = jax.tree.map(lambda a, b: jnp.stack([a, b]), state, first)
        both = jax.jit(jax.vmap(step))(pair)
    for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(second), strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_allclose(a[1], b, rtol=1e-5)  # chain 1 of the batch = the lone step
    assert "acc. prob" in kernel.get_diagnostics_str(second)


# --------------------------------------------------------------------------------------
# Errors that name the site
# --------------------------------------------------------------------------------------


def _ising_data_model(coupling_site):
    """The observed 3x3 Ising images with the coupling from ``coupling_site()``."""

    def model(data):
        coupling = coupling_site()
        with numpyro.plate("images", data.shape[0]):
            params = homogeneous(coupling, 0.0 * coupling)
            numpyro.sample("y", UnnormalizedEnergy(ising_bits, params, SHAPE, "binary"), obs=data)

    return model


def _init(kernel, *args):
    with jax.numpy_dtype_promotion("standard"):
        return kernel.init(jax.random.key(0), 10, None, args, {})


def test_model_without_a_doubly_intractable_energy_points_to_nuts():
    def normal_model(data):
        mu = numpyro.sample("mu", dist.Normal())
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=data)

    with pytest.raises(ValueError, match="no energy site.*NUTS.*SVI"):
        _init(Exchange(normal_model), jnp.zeros(3))


def test_param_sites_point_to_contrastive_divergence(coupling_data):
    learned = _ising_data_model(lambda: numpyro.param("coupling", jnp.asarray(0.3)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", potentials.DoublyIntractableWarning)
        with pytest.raises(
            ValueError, match="'y'.*numpyro.param.*'coupling'.*ContrastiveDivergence"
        ):
            _init(Exchange(learned), coupling_data)


def test_data_outside_the_support_names_the_site(coupling_data):
    spins = 2 * coupling_data - 1  # -1/+1 where the site takes 0/1
    with pytest.raises(ValueError, match="observed site 'y'.*outside the site's support"):
        _init(Exchange(coupling_model), spins)


def test_cftp_on_a_non_monotone_model_names_the_site(coupling_data):
    antiferromagnet = _ising_data_model(
        lambda: numpyro.sample("coupling", dist.Uniform(-1.0, -0.1))
    )

    with pytest.raises(ValueError, match="cftp.*'y' is not monotone"):
        _init(Exchange(antiferromagnet, auxiliary="cftp"), coupling_data)


def test_bad_arguments():
    with pytest.raises(ValueError, match="auxiliary must be one of"):
        Exchange(coupling_model, auxiliary="exact")
    with pytest.raises(ValueError, match="inner_steps"):
        Exchange(coupling_model, auxiliary="double_mh", inner_steps=0)


# --------------------------------------------------------------------------------------
# The user guide
# --------------------------------------------------------------------------------------

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "bayesian_inference.md"


@pytest.mark.slow
def test_user_guide_code_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 5
    namespace = {"__name__": "bayesian_inference_guide"}
    with jax.numpy_dtype_promotion("standard"):
        for block in blocks:
            exec(compile(block, str(DOCS), "exec"), namespace)
