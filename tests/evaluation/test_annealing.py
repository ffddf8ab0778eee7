"""Generic AIS and reverse annealing against quadrature (2-D) and enumeration (binary).

Seeds are fixed and were chosen before the tolerances; the error distributions
quoted in the comments were measured once on other keys and data seeds (listed
there), not on the ones used here.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float

from numpyro_ebm.energies import boltzmann
from numpyro_ebm.evaluation import ais as rbm_ais
from numpyro_ebm.evaluation import annealing, exact
from numpyro_ebm.kernels import binary_gibbs, mala

# ---------------------------------------------------------------- a 2-D double well


class WellParams(NamedTuple):
    """Tilted double well in x0, x1 tied to x0 by a Gaussian of width ``width``."""

    barrier: Float[Array, ""]
    coupling: Float[Array, ""]
    tilt: Float[Array, ""]
    width: Float[Array, ""]


def well_energy(params: WellParams, x: Float[Array, "*batch 2"]) -> Float[Array, "*batch"]:
    x0, x1 = x[..., 0], x[..., 1]
    return (
        params.barrier * (x0**2 - 1) ** 2
        + 0.5 * ((x1 - params.coupling * x0) / params.width) ** 2
        + params.tilt * x0
    )


# Two modes near x0 = -1 and x0 = +1 (barriers of 1.5 and 0.5 from either side), with
# unequal masses.
WELL = WellParams(*(jnp.asarray(v, jnp.float32) for v in (1.0, 1.0, 0.5, 0.5)))
WELL_BASE = annealing.GaussianBase(jnp.zeros(2, jnp.float32), jnp.array([1.2, 1.5], jnp.float32))
GRID_STEP = 0.005


def mala_sampler(energy_fn):
    return mala.as_top_level_api(energy_fn, step_size=0.1)


def _well_grid(step=GRID_STEP):
    """Midpoint grid on [-4, 4] x [-8, 8], where the density is below e^-25 at the edges."""
    g0 = np.arange(-4.0, 4.0, step) + step / 2
    g1 = np.arange(-8.0, 8.0, step) + step / 2
    x = np.stack(np.meshgrid(g0, g1, indexing="ij"), axis=-1).reshape(-1, 2)
    params64 = WellParams(*(np.float64(v) for v in WELL))
    return x, -well_energy(params64, x)


def _well_log_z(step=GRID_STEP):
    """2-D midpoint-rule quadrature in float64 (a smooth, rapidly decaying integrand)."""
    _, log_f = _well_grid(step)
    top = log_f.max()
    return float(top + np.log(np.exp(log_f - top).sum() * step**2))


def test_quadrature_is_converged():
    """The reference itself: doubling the grid step moves log Z by less than 1e-6."""
    assert abs(_well_log_z() - _well_log_z(2 * GRID_STEP)) < 1e-6


def test_ais_with_mala_matches_quadrature():
    log_z = _well_log_z()
    result = annealing.ais(
        jax.random.key(3),
        well_energy,
        WELL,
        WELL_BASE,
        mala_sampler,
        n_runs=1000,
        n_temperatures=500,
    )
    lower, upper = (float(x) for x in result.interval)
    # Measured on 30 other keys (2000..2029): error mean 0.000, standard deviation 0.028
    # nats (max 0.049), the interval holding the truth 30 times in 30. So |error| > 0.1
    # nats is a 3.6-sigma event (false-failure rate ~3e-4, normal approximation); the
    # +-3 sigma interval misses the truth with probability ~0.3% (normal approximation).
    assert lower <= log_z <= upper
    assert abs(float(result.log_z) - log_z) < 0.1
    assert float(result.log_z_base) == 0.0
    assert result.n_temperatures == 500
    assert result.log_weights.shape == (1000,) and result.log_weights.dtype == jnp.float32
    assert result.samples.shape == (1000, 2)
    assert 1.0 <= float(result.effective_sample_size) <= 1000.0


def _well_exact_samples(seed, n):
    """Exact draws from the grid's cell probabilities, jittered uniformly in the cell
    (a piecewise-constant approximation of the density at a scale of 0.005)."""
    x, log_f = _well_grid()
    probs = np.exp(log_f - log_f.max())
    rng = np.random.default_rng(seed)
    index = rng.choice(x.shape[0], size=n, p=probs / probs.sum())
    return x[index] + rng.uniform(-GRID_STEP / 2, GRID_STEP / 2, (n, 2))


def test_reverse_ais_with_mala_is_a_conservative_estimate():
    log_z = _well_log_z()
    data = _well_exact_samples(4, 100)
    exact_log_p = -well_energy(WellParams(*(np.float64(v) for v in WELL)), data) - log_z
    result = annealing.reverse_ais(
        jax.random.key(5),
        well_energy,
        WELL,
        WELL_BASE,
        mala_sampler,
        jnp.asarray(data, jnp.float32),
        n_runs=10,  # 1,000 chains and 500 temperatures, as in the AIS test: one compilation
        n_temperatures=500,
    )
    difference = np.asarray(result.log_likelihoods) - exact_log_p
    standard_error = difference.std(ddof=1) / np.sqrt(difference.size)
    # For data drawn from the model the expected difference is <= 0 (a stochastic lower
    # bound of log p_fwd, and E log p_fwd <= E log p by Gibbs' inequality), so the mean
    # exceeds 3 standard errors with probability <= 0.13% (normal approximation).
    # Measured on 10 other keys and data sets (keys 3100..3109, data seeds 3000..3009):
    # mean difference between -0.16 and -0.04 nats (standard errors 0.03 to 0.046);
    # -0.5 is more than 10 standard errors below the worst. (The data are exact draws up
    # to the 0.005 grid, a negligible departure from the model.)
    assert difference.mean() <= 3 * standard_error
    assert difference.mean() > -0.5
    assert result.log_weights.shape == (100, 10)
    assert result.n_temperatures == 500
    assert float(result.mean) == pytest.approx(float(np.mean(np.asarray(result.log_likelihoods))))


# ---------------------------------------------------------------- a 10-unit Boltzmann machine

D = 10


def _boltzmann_params():
    """Couplings of size ~1 and a field: a 10-unit model with several competing modes."""
    rng = np.random.default_rng(0)
    upper = np.triu(rng.standard_normal((D, D)), k=1)
    return boltzmann.BoltzmannParams(
        jnp.asarray(upper + upper.T, jnp.float32),
        jnp.asarray(0.5 * rng.standard_normal(D), jnp.float32),
    )


UNIFORM = annealing.BernoulliBase(jnp.zeros(D, jnp.float32))


def reverse_gibbs(energy_fn):
    """The time reversal of binary_gibbs' forward sweep (see reverse_ais)."""
    return binary_gibbs.as_top_level_api(energy_fn, reverse=True)


def test_ais_with_binary_gibbs_matches_enumeration():
    params = _boltzmann_params()
    log_z = exact.log_partition_binary(boltzmann.energy, params, D)
    result = annealing.ais(
        jax.random.key(6),
        boltzmann.energy,
        params,
        UNIFORM,
        binary_gibbs.as_top_level_api,
        n_runs=500,
        n_temperatures=1000,
        vmap_chains=False,
    )
    lower, upper = (float(x) for x in result.interval)
    # Measured on 10 other keys (1100..1109): error standard deviation 0.013 nats (max
    # 0.034), interval coverage 10/10; 0.1 nats is 7 standard deviations (false-failure
    # rate < 1e-10, normal approximation); the interval misses with probability ~0.3%.
    assert lower <= log_z <= upper
    assert abs(float(result.log_z) - log_z) < 0.1
    samples = np.asarray(result.samples)
    assert samples.shape == (500, D) and set(np.unique(samples)) <= {0.0, 1.0}


def test_progress_bar_and_several_steps_per_temperature():
    """The chunked loop behind the progress bar (50 chunks of 2 temperatures) with two
    sweeps per temperature. Measured on 20 other keys (500..519): error standard
    deviation 0.057 nats (max 0.13), interval coverage 20/20; 0.3 nats is over 5
    standard deviations (false-failure rate ~1e-7), the interval misses with
    probability ~0.3%."""
    params = _boltzmann_params()
    log_z = exact.log_partition_binary(boltzmann.energy, params, D)
    result = annealing.ais(
        jax.random.key(11),
        boltzmann.energy,
        params,
        UNIFORM,
        binary_gibbs.as_top_level_api,
        n_runs=500,
        n_temperatures=101,
        n_steps_per_temperature=2,
        vmap_chains=False,
        progress=True,
    )
    lower, upper = (float(x) for x in result.interval)
    assert lower <= log_z <= upper
    assert abs(float(result.log_z) - log_z) < 0.3
    assert result.n_temperatures == 101


def test_reverse_ais_with_binary_gibbs_is_a_conservative_estimate():
    params = _boltzmann_params()
    states = exact.binary_states(D)
    log_z = exact.log_partition_binary(boltzmann.energy, params, D)
    energies = np.asarray(jax.jit(boltzmann.energy)(params, states), np.float64)
    log_p = -energies - log_z  # exact up to float32 rounding of the energies (~1e-6)
    rng = np.random.default_rng(7)
    index = rng.choice(2**D, size=100, p=np.exp(log_p) / np.exp(log_p).sum())
    result = annealing.reverse_ais(
        jax.random.key(8),
        boltzmann.energy,
        params,
        UNIFORM,
        reverse_gibbs,
        jnp.asarray(states[index], jnp.float32),
        n_runs=4,
        n_temperatures=1000,
        vmap_chains=False,
    )
    difference = np.asarray(result.log_likelihoods) - log_p[index]
    standard_error = difference.std(ddof=1) / np.sqrt(difference.size)
    # As for the continuous model: false-failure rate <= 0.13% for the upper check.
    # Measured on 10 other keys and data sets (keys 1300..1309, data seeds 1200..1209):
    # mean difference between -0.028 and +0.012 nats, standard error ~0.017; -0.25 is
    # more than 10 standard errors below the worst.
    assert difference.mean() <= 3 * standard_error
    assert difference.mean() > -0.25


# ---------------------------------------------------------------- bases


def test_bases_are_normalised_and_sample_their_own_law():
    key_g, key_b = jax.random.split(jax.random.key(9))
    # a midpoint grid holding all but ~2e-6 of this Gaussian's mass
    step = 0.01
    g0, g1 = np.arange(-4.0, 4.0, step) + step / 2, np.arange(-8.0, 8.0, step) + step / 2
    grid = np.stack(np.meshgrid(g0, g1, indexing="ij"), axis=-1).reshape(-1, 2)
    gaussian = annealing.GaussianBase(jnp.array([0.5, -1.0]), jnp.array([0.3, 1.5]))
    log_q = np.asarray(gaussian.log_prob(jnp.asarray(grid, jnp.float32)), np.float64)
    assert np.exp(log_q).sum() * step**2 == pytest.approx(1.0, abs=1e-4)
    draws = np.asarray(gaussian.sample(key_g, 20_000))
    assert draws.shape == (20_000, 2) and draws.dtype == np.float32
    # 20,000 draws: the sample mean is within 5 standard errors except with prob. 6e-7
    np.testing.assert_array_less(
        np.abs(draws.mean(0) - [0.5, -1.0]), 5 * np.array([0.3, 1.5]) / 141
    )

    bernoulli = annealing.BernoulliBase(jnp.array([-1.0, 0.0, 2.0]))
    states = exact.binary_states(3)
    assert float(jnp.sum(jnp.exp(bernoulli.log_prob(states)))) == pytest.approx(1.0, abs=1e-6)
    bits = np.asarray(bernoulli.sample(key_b, 20_000))
    assert set(np.unique(bits)) <= {0.0, 1.0}
    p = 1 / (1 + np.exp(-np.array([-1.0, 0.0, 2.0])))
    # within 5 standard errors per unit (false-failure rate ~2e-6)
    np.testing.assert_array_less(np.abs(bits.mean(0) - p), 5 * np.sqrt(p * (1 - p) / 20_000))


def test_bases_from_data():
    data = jnp.asarray(
        np.random.default_rng(10).normal([1.0, -2.0], [0.5, 3.0], (200, 2)), jnp.float32
    )
    base = annealing.GaussianBase.from_data(data, scale=2.0)
    np.testing.assert_allclose(np.asarray(base.mean), np.asarray(data).mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(base.std), 2 * np.asarray(data).std(0, ddof=1), rtol=1e-5)
    constant = annealing.GaussianBase.from_data(jnp.ones((5, 2)), min_std=0.01)
    np.testing.assert_allclose(np.asarray(constant.std), 0.01)
    binary = jnp.asarray([[1, 0, 0], [1, 0, 1], [1, 0, 0], [1, 0, 1]], jnp.float32)
    bernoulli = annealing.BernoulliBase.from_data(binary, pseudo_count=0.5)
    expected = np.array([4.5, 0.5, 2.5]) / 5
    np.testing.assert_allclose(
        np.asarray(bernoulli.logits), np.log(expected / (1 - expected)), rtol=1e-5
    )
    with pytest.raises(ValueError, match="binary"):
        annealing.BernoulliBase.from_data(jnp.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="n >= 2"):
        annealing.GaussianBase.from_data(jnp.ones((1, 2)))


def test_annealed_energy_interpolates_base_and_target():
    fn = annealing.annealed_energy(well_energy, WELL_BASE)
    x = jnp.array([[0.3, -0.4], [1.2, 0.9]])
    np.testing.assert_allclose(
        np.asarray(fn((WELL, 0.0), x)), -np.asarray(WELL_BASE.log_prob(x)), rtol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(fn((WELL, 1.0), x)), np.asarray(well_energy(WELL, x)), rtol=1e-6
    )
    mid = 0.25 * np.asarray(well_energy(WELL, x)) - 0.75 * np.asarray(WELL_BASE.log_prob(x))
    np.testing.assert_allclose(np.asarray(fn((WELL, 0.25), x)), mid, rtol=1e-5)


# ---------------------------------------------------------------- errors


def _ais(**kwargs):
    args = dict(
        rng_key=jax.random.key(0),
        energy_fn=well_energy,
        params=WELL,
        base=WELL_BASE,
        sampler=mala_sampler,
    )
    args.update(kwargs)
    return annealing.ais(**args)


@pytest.mark.parametrize(
    "schedule, message",
    [
        ([0.0], "at least two"),
        ([0.1, 1.0], "start at 0"),
        ([0.0, 0.9], "end at 1"),
        ([0.0, 0.6, 0.5, 1.0], "non-decreasing"),
        ([0.0, float("nan"), 1.0], "NaN"),
    ],
)
def test_bad_schedules_are_rejected(schedule, message):
    with pytest.raises(ValueError, match=message):
        _ais(schedule=schedule)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="n_runs must be a positive integer"):
        _ais(n_runs=0)
    with pytest.raises(ValueError, match="n_runs must be a positive integer"):
        _ais(n_runs=2.5)
    with pytest.raises(ValueError, match="n_steps_per_temperature"):
        _ais(n_steps_per_temperature=0)
    with pytest.raises(ValueError, match="not both"):
        _ais(schedule=[0.0, 1.0], n_temperatures=10)
    with pytest.raises(ValueError, match=r"params\.tilt contains 1 non-finite"):
        _ais(params=WELL._replace(tilt=jnp.asarray(jnp.nan, jnp.float32)))
    with pytest.raises(ValueError, match="base.std must be positive"):
        _ais(base=WELL_BASE._replace(std=jnp.array([1.0, 0.0], jnp.float32)))
    with pytest.raises(ValueError, match="base.mean contains"):
        _ais(base=WELL_BASE._replace(mean=jnp.array([jnp.nan, 0.0], jnp.float32)))
    with pytest.raises(ValueError, match=r"shape \(D,\)"):
        _ais(base=annealing.GaussianBase(jnp.zeros(2), jnp.ones(3)))
    with pytest.raises(TypeError, match="GaussianBase or a BernoulliBase"):
        _ais(base={"mean": jnp.zeros(2)})
    with pytest.raises(TypeError, match="function energy_fn -> SamplingAlgorithm"):
        _ais(sampler=mala_sampler(well_energy))

    def per_coordinate(params, x):  # forgets to sum over the coordinates
        return (x - params.tilt) ** 2

    with pytest.raises(ValueError, match=r"a scalar for one position.*got \(2,\)"):
        _ais(energy_fn=per_coordinate)
    # a sampler that moves one chain per state, asked to run a batch
    with pytest.raises(ValueError, match="scalar energy for a single position"):
        _ais(vmap_chains=False)


@pytest.mark.standard_promotion  # a user's default promotion lets float64 meet float32
def test_energy_dtype_must_match_the_base():
    with jax.enable_x64(True):
        base64 = annealing.GaussianBase(jnp.zeros(2, jnp.float64), jnp.ones(2, jnp.float64))
        with pytest.raises(TypeError, match="float32 for float64 positions"):
            _ais(
                base=base64,
                params=WELL._replace(tilt=jnp.asarray(0.5, jnp.float32)),
                energy_fn=lambda p, x: well_energy(p, x).astype(jnp.float32),
            )


def test_bad_reverse_inputs_are_rejected():
    params = _boltzmann_params()

    def run(data, **kwargs):
        return annealing.reverse_ais(
            jax.random.key(0),
            boltzmann.energy,
            params,
            UNIFORM,
            reverse_gibbs,
            data,
            vmap_chains=False,
            **kwargs,
        )

    with pytest.raises(ValueError, match="data has 9 dimensions"):
        run(jnp.zeros((4, 9)))
    with pytest.raises(ValueError, match=r"shape \(n, 10\)"):
        run(jnp.zeros(10))
    with pytest.raises(ValueError, match="binary"):
        run(jnp.full((4, D), 0.5))
    with pytest.raises(ValueError, match="non-finite"):
        run(jnp.zeros((4, D)).at[1, 2].set(jnp.nan))
    with pytest.raises(ValueError, match="n_runs"):
        run(jnp.zeros((4, D)), n_runs=0)

    def forbidden(params, x):
        return jnp.where(jnp.sum(x, axis=-1) == 0, jnp.inf, boltzmann.energy(params, x))

    with pytest.raises(ValueError, match="energy is not finite at 2 data point"):
        annealing.reverse_ais(
            jax.random.key(0),
            forbidden,
            params,
            UNIFORM,
            reverse_gibbs,
            jnp.zeros((2, D)).at[1, 0].set(0.0),
            vmap_chains=False,
        )


def test_nan_log_weights_are_reported():
    with pytest.raises(ValueError, match="NaN log weights in 1 of 3 runs"):
        annealing._check_log_weights(jnp.array([0.0, jnp.nan, -jnp.inf]), "AIS")


def test_the_rbm_schedule_helpers_are_shared():
    """The default schedule is ais.default_schedule with DEFAULT_N_TEMPERATURES entries."""
    assert annealing.DEFAULT_N_TEMPERATURES == 1000
    np.testing.assert_array_equal(
        np.asarray(annealing._resolve_schedule(None, None, jnp.float32)),
        np.asarray(rbm_ais.default_schedule(1000)),
    )
