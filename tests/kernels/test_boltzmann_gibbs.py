"""Single-site Gibbs for dense Boltzmann machines: exactness, incremental fields, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from numpyro_ebm.energies import boltzmann
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import boltzmann_gibbs
from tests.kernels._runners import run_batched, run_vmapped

D = 5
N_CHAINS = 20_000
N_SWEEPS = 100
ALPHA = 1e-3


def _params(spins, seed=0, n_units=D):
    """Couplings of size ~1 in the energy and a nonzero field.

    Spins get half the coupling scale: in {-1, +1} a coupling moves a conditional
    logit by 4 J_ij (2 J_ij for 0/1 units), and at scale 1 the spin model is
    bimodal enough to need thousands of sweeps.
    """
    rng = np.random.default_rng(seed)
    scale = 0.5 if spins else 1.0
    upper = np.triu(scale * rng.standard_normal((n_units, n_units)), k=1)
    return boltzmann.BoltzmannParams(
        jnp.asarray(upper + upper.T, jnp.float32),
        jnp.asarray(0.5 * rng.standard_normal(n_units), jnp.float32),
    )


def _state_index(x, spins):
    """Index of each configuration in exact.binary_states order (bit j of i is unit j)."""
    bits = (np.asarray(x) + 1) / 2 if spins else np.asarray(x)
    return (bits.astype(np.int64) << np.arange(bits.shape[-1])).sum(axis=-1)


def chisquare_pvalue(index, probs):
    """Pearson chi-square p-value of state counts against exact probabilities.

    States with expected count below 5 are pooled into one bin (with the next
    smallest states added until the pool reaches 5 if needed).
    """
    n = index.shape[0]
    counts = np.bincount(index, minlength=probs.shape[0])
    expected = n * probs
    order = np.argsort(expected)
    cumulative = np.cumsum(expected[order])
    n_small = int((expected < 5).sum())
    n_pooled = max(n_small, int(np.searchsorted(cumulative, 5.0)) + 1) if n_small else 0
    pooled, kept = order[:n_pooled], order[n_pooled:]
    obs = np.concatenate([counts[kept], [counts[pooled].sum()]]) if n_pooled else counts
    exp = np.concatenate([expected[kept], [expected[pooled].sum()]]) if n_pooled else expected
    assert exp.min() >= 5 and obs.shape[0] >= 10
    return stats.chisquare(obs, exp).pvalue


def test_chisquare_helper_rejects_a_wrong_distribution():
    """Power check of the test design (not of a sampler): 20,000 exact draws from a model
    whose field h_0 is off by 0.2 fail the chi-square test. Noncentrality ~196 on 31
    degrees of freedom: the test misses such a shift with probability ~1e-14."""
    params = _params(False)
    states, log_p = exact.log_probabilities_binary(boltzmann.energy, params, D)
    wrong = params._replace(h=params.h.at[0].add(0.2))
    _, log_q = exact.log_probabilities_binary(boltzmann.energy, wrong, D)
    rng = np.random.default_rng(0)
    index = rng.choice(2**D, size=N_CHAINS, p=np.exp(log_q) / np.exp(log_q).sum())
    np.testing.assert_array_equal(_state_index(states, False), np.arange(2**D))
    assert chisquare_pvalue(index, np.exp(log_p)) < ALPHA


# Each case: chi-square test at alpha = 1e-3, so a false-failure rate of 0.1% per case
# (about 0.4% for the four). After 100 sweeps the worst-case total-variation distance to
# the target (computed from the exact 32x32 transition matrices of these parameters)
# is below 3e-6 for every case, far below what 20,000 samples can resolve.
@pytest.mark.parametrize(
    "spins, scan, batching, start",
    [
        (False, "systematic", "batched", "fixed"),
        (True, "systematic", "vmapped", "random"),
        (False, "random", "vmapped", "fixed"),
        (True, "random", "batched", "random"),
    ],
)
def test_goodness_of_fit_against_exact_enumeration(spins, scan, batching, start):
    params = _params(spins)
    algorithm = boltzmann_gibbs.as_top_level_api(spins=spins, scan=scan)
    rng = np.random.default_rng(1)
    if start == "fixed":
        bits = np.zeros((N_CHAINS, D), np.float32)
    else:
        bits = rng.integers(0, 2, (N_CHAINS, D)).astype(np.float32)
    position = jnp.asarray(2 * bits - 1 if spins else bits)
    run = run_batched if batching == "batched" else run_vmapped
    final = run(algorithm, params, position, jax.random.key(2), N_SWEEPS)
    assert final.shape == (N_CHAINS, D) and final.dtype == jnp.float32
    boltzmann.validate_state(params, final, spins)
    _, log_probs = exact.log_probabilities_binary(boltzmann.energy, params, D, spins=spins)
    assert chisquare_pvalue(_state_index(final, spins), np.exp(log_probs)) > ALPHA


@pytest.mark.parametrize("spins", [False, True])
@pytest.mark.parametrize("use_sites", [False, True])
def test_incremental_local_field_matches_recomputed(spins, use_sites):
    """The rank-1 updates inside a sweep leave the exact local field of the final state."""
    n_units, n_chains = 40, 8
    params = _params(spins, seed=3, n_units=n_units)
    rng = np.random.default_rng(4)
    bits = rng.integers(0, 2, (n_chains, n_units)).astype(np.float32)
    x = jnp.asarray(2 * bits - 1 if spins else bits)
    uniforms = jnp.asarray(rng.random((n_chains, n_units)), jnp.float32)
    sites = jnp.asarray(rng.integers(0, n_units, (n_chains, n_units)), jnp.int32)

    @jax.jit
    def sweep(x, uniforms, sites):
        field = boltzmann.local_field(params, x)
        return boltzmann_gibbs._sweep(
            uniforms, x, field, params.J, sites if use_sites else None, spins
        )

    new, field = sweep(x, uniforms, sites)
    assert not np.array_equal(np.asarray(new), np.asarray(x))
    np.testing.assert_allclose(
        np.asarray(field), np.asarray(boltzmann.local_field(params, new)), rtol=1e-5, atol=1e-5
    )


def test_systematic_sweep_is_sequential():
    """Two units with a huge ferromagnetic coupling and no field: unit 0 copies unit 1,
    then unit 1 copies the new unit 0, so a sweep from (0, 1) ends in (1, 1). A parallel
    (Jacobi) update would give (1, 0). A wrong outcome has probability about 2 e^-50."""
    # local field of unit i is -50 + 100 x_j: unit i copies unit j
    params = boltzmann.BoltzmannParams(
        jnp.array([[0.0, 100.0], [100.0, 0.0]]), jnp.array([-50.0, -50.0])
    )
    algorithm = boltzmann_gibbs.as_top_level_api()
    state = algorithm.init(jnp.array([[0.0, 1.0], [1.0, 0.0]]), params)
    state, info = jax.jit(algorithm.step)(jax.random.key(0), state, params)
    np.testing.assert_array_equal(np.asarray(state.position), [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(info.n_flipped), [1, 1])


@pytest.mark.parametrize("scan", boltzmann_gibbs.SCANS)
def test_leading_chain_dims_and_info(scan):
    params = _params(True)
    algorithm = boltzmann_gibbs.as_top_level_api(spins=True, scan=scan)
    position = jnp.asarray(2 * np.random.default_rng(5).integers(0, 2, (2, 3, D)) - 1, jnp.float32)
    state = algorithm.init(position, params)
    new, info = jax.jit(algorithm.step)(jax.random.key(6), state, params)
    assert new.position.shape == (2, 3, D) and new.position.dtype == jnp.float32
    assert info.n_flipped.shape == (2, 3) and info.n_flipped.dtype == jnp.int32
    np.testing.assert_array_equal(
        np.asarray(info.n_flipped), (np.asarray(new.position) != np.asarray(position)).sum(-1)
    )
    boltzmann.validate_state(params, new.position, spins=True)


# ---------------------------------------------------------------- errors


def test_unknown_scan_is_rejected():
    with pytest.raises(ValueError, match=r"unknown scan order 'sweep'.*systematic.*random"):
        boltzmann_gibbs.build_kernel(scan="sweep")
    with pytest.raises(ValueError, match="unknown scan order"):
        boltzmann_gibbs.as_top_level_api(scan="Random")


def test_init_rejects_bad_params_and_positions():
    params = _params(False)
    good = jnp.zeros((3, D))
    asymmetric = params._replace(J=params.J.at[1, 3].add(0.5))
    with pytest.raises(ValueError, match="symmetric"):
        boltzmann_gibbs.init(good, asymmetric)
    with pytest.raises(ValueError, match="zero diagonal"):
        boltzmann_gibbs.init(good, params._replace(J=params.J.at[0, 0].set(1.0)))
    with pytest.raises(ValueError, match="position has 4 units"):
        boltzmann_gibbs.init(jnp.zeros((3, 4)), params)
    with pytest.raises(ValueError, match="non-finite"):
        boltzmann_gibbs.init(good.at[0, 0].set(jnp.nan), params)
    with pytest.raises(ValueError, match=r"holds ±1 spins but the model takes 0/1 units"):
        boltzmann_gibbs.init(-jnp.ones((3, D)), params, spins=False)
    with pytest.raises(ValueError, match=r"spins in \{-1, \+1\}"):
        boltzmann_gibbs.init(good, params, spins=True)
    with pytest.raises(TypeError, match="floating-point"):
        boltzmann_gibbs.init(jnp.zeros((3, D), jnp.int32), params)
