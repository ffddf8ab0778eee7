"""Potts samplers against enumeration: the categorical draw, block Gibbs of a Potts RBM,
single-site Gibbs of a Potts model (and over any energy), and parallel tempering over them.

Every goodness-of-fit check is a Pearson chi-square test at level 1e-3 on independent
chains (one final state per chain), with a fixed seed: a correct sampler fails each with
probability 1e-3.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from numpyro_ebm.energies import potts, potts_rbm
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels import potts_gibbs, potts_rbm_gibbs
from numpyro_ebm.kernels.categorical import categorical_from_logits
from tests._stats import chisquare_counts

L, Q, K = 3, 3, 2
N_CHAINS, N_SWEEPS = 4000, 25
LEVEL = 1e-3
CODES = np.array(list(itertools.product(range(Q), repeat=L)))


def _index(codes):
    codes = np.asarray(codes).astype(np.int64)
    return codes @ (Q ** np.arange(L - 1, -1, -1))


def _rbm():
    rng = np.random.default_rng(7)
    return potts_rbm.PottsRBMParams(
        jnp.asarray(rng.standard_normal((L, Q, K)), jnp.float32),
        jnp.asarray(rng.standard_normal((L, Q)), jnp.float32),
        jnp.asarray(rng.standard_normal(K), jnp.float32),
    )


def _potts():
    rng = np.random.default_rng(8)
    return potts.PottsParams(
        jnp.asarray(rng.standard_normal((L, Q)), jnp.float32),
        potts.symmetrize(jnp.asarray(rng.standard_normal((L, Q, L, Q)), jnp.float32)),
    )


def _exact(energies):
    energies = np.asarray(energies, np.float64)
    return np.exp(-energies - logsumexp(-energies))


def _free_energy(params, v):
    return potts_rbm.free_energy(params, v, "codes")


def _run(algorithm, params, key):
    start = jnp.zeros((N_CHAINS, L), jnp.float32)
    state = algorithm.init(start, params)

    @jax.jit
    def run(state, key):
        def body(state, key):
            return algorithm.step(key, state, params)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, N_SWEEPS))[0]

    return run(state, key).position


def test_categorical_draw_matches_probabilities():
    logits = jnp.log(jnp.asarray([0.5, 0.3, 0.15, 0.05, 0.0], jnp.float32))
    draws = categorical_from_logits(jax.random.key(0), jnp.broadcast_to(logits, (100_000, 5)))
    counts = np.bincount(np.asarray(draws, np.int64), minlength=5)
    assert counts[4] == 0  # probability zero is never drawn
    assert chisquare_counts(counts[:4], [0.5, 0.3, 0.15, 0.05]) > LEVEL
    with jax.enable_x64(True):
        draws64 = categorical_from_logits(
            jax.random.key(1), jnp.broadcast_to(logits.astype(jnp.float64), (20_000, 5))
        )
        assert draws64.dtype == jnp.float64
    counts = np.bincount(np.asarray(draws64, np.int64), minlength=5)
    assert chisquare_counts(counts[:4], [0.5, 0.3, 0.15, 0.05]) > LEVEL


@pytest.mark.parametrize(
    "name",
    [
        "potts_rbm_block_gibbs",
        pytest.param("potts_single_site", marks=pytest.mark.slow),
        pytest.param("single_site_on_rbm_free_energy", marks=pytest.mark.slow),
    ],
)
def test_samplers_match_enumeration(name):
    if name == "potts_rbm_block_gibbs":
        params = _rbm()
        algorithm = potts_rbm_gibbs.as_top_level_api()
        exact = _exact(potts_rbm.free_energy(params, CODES))
    elif name == "potts_single_site":
        params = _potts()
        algorithm = potts_gibbs.as_top_level_api()
        exact = _exact(potts.energy(params, CODES))
    else:
        params = _rbm()
        algorithm = potts_gibbs.as_top_level_api(_free_energy, Q)
        exact = _exact(potts_rbm.free_energy(params, CODES))
    samples = _run(algorithm, params, jax.random.key(3))
    counts = np.bincount(_index(samples), minlength=Q**L)
    assert chisquare_counts(counts, exact) > LEVEL


@pytest.mark.slow  # the contract suite runs the PT step; this is its distribution (~4 s)
@pytest.mark.parametrize("model", ["potts_rbm", "potts"])
def test_parallel_tempering_target_replica_matches_enumeration(model):
    if model == "potts_rbm":
        params, tempering = _rbm(), potts_rbm_gibbs.tempering()
        exact = _exact(potts_rbm.free_energy(params, CODES))
    else:
        params, tempering = _potts(), potts_gibbs.tempering()
        exact = _exact(potts.energy(params, CODES))
    algorithm = pt.as_top_level_api(tempering)
    betas = jnp.asarray([0.3, 0.6, 1.0], jnp.float32)
    n_chains = 2000
    state = algorithm.init(jnp.zeros((3, n_chains, L), jnp.float32), params, betas)

    @jax.jit
    def run(state, key):
        def body(state, key):
            state, info = algorithm.step(key, state, params, betas)
            return state, jnp.mean(info.swap_acceptance)

        return jax.lax.scan(body, state, jax.random.split(key, N_SWEEPS))

    state, swap_rates = run(state, jax.random.key(4))
    assert float(jnp.mean(swap_rates)) > 0.1  # swaps do happen
    samples = pt.target_replica(state.replicas).position
    counts = np.bincount(_index(samples), minlength=Q**L)
    assert chisquare_counts(counts, exact) > LEVEL


@pytest.mark.slow
def test_block_gibbs_with_drelu_hidden_units_matches_enumeration():
    """dReLU hidden units: the visible marginal exp(-F(v)) of the closed-form free energy."""
    rng = np.random.default_rng(12)
    params = potts_rbm.PottsDReLURBMParams(
        jnp.asarray(rng.standard_normal((L, Q, K)), jnp.float32),
        jnp.asarray(rng.standard_normal((L, Q)), jnp.float32),
        jnp.asarray([1.5, 0.8], jnp.float32),
        jnp.asarray([0.7, 1.2], jnp.float32),
        jnp.asarray([0.3, -0.2], jnp.float32),
        jnp.asarray([-0.4, 0.1], jnp.float32),
    )
    exact = _exact(potts_rbm.drelu_free_energy(params, CODES))
    samples = _run(potts_rbm_gibbs.as_top_level_api(), params, jax.random.key(5))
    counts = np.bincount(_index(samples), minlength=Q**L)
    assert chisquare_counts(counts, exact) > LEVEL


@pytest.mark.slow
def test_gibbs_with_gradients_on_one_hot_potts_matches_enumeration():
    """Gibbs with gradients (one-hot units) on the pairwise Potts target, 60 steps of one
    move each: the same chi-square test against enumeration."""
    from numpyro_ebm.kernels import gibbs_with_gradients

    params = _potts()
    exact = _exact(potts.energy(params, CODES))

    def energy(params, x):
        return potts.energy(params, x, "one_hot")

    algorithm = gibbs_with_gradients.as_top_level_api(energy, one_hot=True)
    state = algorithm.init(jax.nn.one_hot(jnp.zeros((N_CHAINS, L), jnp.int32), Q), params)

    @jax.jit
    def run(state, key):
        def body(state, key):
            return algorithm.step(key, state, params)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, 60))[0]

    samples = jnp.argmax(run(state, jax.random.key(6)).position, axis=-1)
    counts = np.bincount(_index(samples), minlength=Q**L)
    assert chisquare_counts(counts, exact) > LEVEL
