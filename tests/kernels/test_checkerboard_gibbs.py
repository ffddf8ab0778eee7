"""Checkerboard Gibbs for the 2-D lattice Ising model: exactness, colouring, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import lattice_ising
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import checkerboard_gibbs
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits
from tests.kernels._runners import run_batched, run_vmapped
from tests.kernels.test_boltzmann_gibbs import (
    ALPHA,
    _state_index,
    chisquare_pvalue,
)

SHAPE = (3, 3)
N_CHAINS = 20_000
N_SWEEPS = 50


def _params(spins, seed=7):
    """Nonuniform couplings of both signs (ferro- and antiferromagnetic) and a nonuniform
    field. Spins get a smaller coupling scale for the same reason as in
    test_boltzmann_gibbs (a coupling moves a spin's logit by 4 K, a 0/1 unit's by 2 K)."""
    H, W = SHAPE
    rng = np.random.default_rng(seed)
    scale = 0.4 if spins else 1.2
    return lattice_ising.LatticeIsingParams(
        jnp.asarray(scale * rng.standard_normal((H, W - 1)), jnp.float32),
        jnp.asarray(scale * rng.standard_normal((H - 1, W)), jnp.float32),
        jnp.asarray(0.3 * rng.standard_normal((H, W)), jnp.float32),
    )


def _energy_flat(params, x):
    return lattice_ising.energy(params, x.reshape(x.shape[:-1] + SHAPE))


# Each case: chi-square test at alpha = 1e-3 over the 512 states (states with expected
# count below 5 pooled), so a false-failure rate of 0.1% per case (0.2% for both).
# After 50 sweeps the worst-case total-variation distance to the target (from the exact
# 512x512 transition matrix of these parameters) is below 2e-6, far below what 20,000
# samples can resolve.
@pytest.mark.parametrize(
    "spins, batching, start", [(True, "batched", "fixed"), (False, "vmapped", "random")]
)
def test_goodness_of_fit_against_exact_enumeration(spins, batching, start):
    params = _params(spins)
    algorithm = checkerboard_gibbs.as_top_level_api(spins=spins)
    rng = np.random.default_rng(1)
    if start == "fixed":
        bits = np.ones((N_CHAINS, *SHAPE), np.float32)
    else:
        bits = rng.integers(0, 2, (N_CHAINS, *SHAPE)).astype(np.float32)
    position = jnp.asarray(2 * bits - 1 if spins else bits)
    run = run_batched if batching == "batched" else run_vmapped
    final = run(algorithm, params, position, jax.random.key(2), N_SWEEPS)
    assert final.shape == (N_CHAINS, *SHAPE) and final.dtype == jnp.float32
    lattice_ising.validate_state(params, final, spins)
    n_bits = SHAPE[0] * SHAPE[1]
    _, log_probs = exact.log_probabilities_binary(_energy_flat, params, n_bits, spins=spins)
    index = _state_index(np.asarray(final).reshape(N_CHAINS, n_bits), spins)
    assert chisquare_pvalue(index, np.exp(log_probs)) > ALPHA


def test_black_sites_update_before_white_sites():
    """1x3 chain with a huge ferromagnetic coupling and no field, from (+1, -1, +1).
    Black sites (0,0) and (0,2) copy their white neighbour (-1), then the white site
    copies them: all -1. Updating all sites at once would give (-1, +1, -1), white
    first would give (+1, +1, +1). A wrong outcome has probability about 3 e^-200."""
    params = lattice_ising.uniform_params((1, 3), coupling=100.0)
    algorithm = checkerboard_gibbs.as_top_level_api()
    state = algorithm.init(jnp.array([[1.0, -1.0, 1.0]]), params)
    state, info = jax.jit(algorithm.step)(jax.random.key(0), state, params)
    np.testing.assert_array_equal(np.asarray(state.position), [[-1.0, -1.0, -1.0]])
    assert int(info.n_flipped) == 2


@pytest.mark.parametrize("spins", [True, False])
def test_leading_chain_dims_and_info(spins):
    params = _params(spins)
    algorithm = checkerboard_gibbs.as_top_level_api(spins=spins)
    bits = np.random.default_rng(3).integers(0, 2, (2, 4, *SHAPE)).astype(np.float32)
    position = jnp.asarray(2 * bits - 1 if spins else bits)
    state = algorithm.init(position, params)
    new, info = jax.jit(algorithm.step)(jax.random.key(4), state, params)
    assert new.position.shape == position.shape and new.position.dtype == jnp.float32
    assert info.n_flipped.shape == (2, 4) and info.n_flipped.dtype == jnp.int32
    np.testing.assert_array_equal(
        np.asarray(info.n_flipped),
        (np.asarray(new.position) != np.asarray(position)).sum(axis=(-2, -1)),
    )
    lattice_ising.validate_state(params, new.position, spins)


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (5, 1)])
def test_degenerate_lattices_follow_the_field(shape):
    """Free spins (no neighbours or only a line): a huge field pins every site."""
    params = lattice_ising.uniform_params(shape, coupling=0.5, field=60.0)
    algorithm = checkerboard_gibbs.as_top_level_api()
    state = algorithm.init(-jnp.ones((2, *shape)), params)
    state, _ = jax.jit(algorithm.step)(jax.random.key(5), state, params)
    np.testing.assert_array_equal(np.asarray(state.position), 1.0)


# ---------------------------------------------------------------- errors


def test_init_rejects_bad_params_and_positions():
    params = _params(True)
    with pytest.raises(ValueError, match=r"position must have shape \(\*batch, 3, 3\)"):
        checkerboard_gibbs.init(jnp.ones((3, 4)), params)
    with pytest.raises(ValueError, match="non-finite"):
        checkerboard_gibbs.init(jnp.ones(SHAPE).at[1, 2].set(jnp.nan), params)
    with pytest.raises(ValueError, match=r"spins in \{-1, \+1\}"):
        checkerboard_gibbs.init(jnp.zeros(SHAPE), params)
    with pytest.raises(ValueError, match=r"model takes 0/1 units"):
        checkerboard_gibbs.init(-jnp.ones(SHAPE), params, spins=False)
    with pytest.raises(TypeError, match="floating-point"):
        checkerboard_gibbs.init(jnp.ones(SHAPE, jnp.int32), params)
    with pytest.raises(ValueError, match=r"vertical must have shape \(2, 3\)"):
        checkerboard_gibbs.init(jnp.ones(SHAPE), params._replace(vertical=params.horizontal))
    with pytest.raises(ValueError, match="non-finite"):
        checkerboard_gibbs.init(
            jnp.ones(SHAPE), params._replace(field=params.field.at[0, 0].set(jnp.inf))
        )


@pytest.mark.parametrize("spins", [True, False])
def test_sweep_draws_each_site_once_from_its_own_threefry_block(spins):
    """The sweep equals the textbook two halves, each drawn with ``bernoulli_from_logits``
    of the sweep's key (so every site uses the JAX Threefry block at its position once)."""
    params = _params(spins)
    bits = np.random.default_rng(6).integers(0, 2, (5, *SHAPE)).astype(np.float32)
    position = jnp.asarray(2 * bits - 1 if spins else bits)
    key = jax.random.key(8)
    black = (np.arange(SHAPE[0])[:, None] + np.arange(SHAPE[1])) % 2 == 0
    expected = position
    for colour in (black, ~black):
        logits = lattice_ising.conditional_logits(params, expected, spins)
        draw = bernoulli_from_logits(key, logits)
        expected = jnp.where(colour, 2 * draw - 1 if spins else draw, expected)
    kernel = jax.jit(checkerboard_gibbs.build_kernel(spins))
    new, _ = kernel(key, checkerboard_gibbs.init(position, params, spins), params)
    np.testing.assert_array_equal(np.asarray(new.position), np.asarray(expected))
