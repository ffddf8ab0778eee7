"""Generic single-site binary Gibbs: exactness against enumeration, scan order, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from numpyro_ebm.energies import bernoulli_rbm, boltzmann
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import binary_gibbs
from tests._stats import chisquare_counts, configuration_index
from tests.kernels._runners import run_batched, run_vmapped

D = 5
N_CHAINS = 20_000
N_SWEEPS = 30
ALPHA = 1e-3


def _boltzmann_params(seed=0, n_units=D):
    """Couplings of size ~1 in the energy and a nonzero field (0/1 units)."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.standard_normal((n_units, n_units)), k=1)
    return boltzmann.BoltzmannParams(
        jnp.asarray(upper + upper.T, jnp.float32),
        jnp.asarray(0.5 * rng.standard_normal(n_units), jnp.float32),
    )


def _rbm_params():
    """6 visible units whose free energy couples them in all orders (4 hidden units)."""
    return bernoulli_rbm.init_params(jax.random.key(1), 6, 4, weight_scale=1.5)


def _model(name):
    if name == "boltzmann":
        return boltzmann.energy, _boltzmann_params(), D
    return bernoulli_rbm.free_energy, _rbm_params(), 6


@functools.cache
def _exact_model(name):
    """``(p, [G_0, ..., G_{D-1}])`` of a named model, computed once per session."""
    return _site_matrices(*_model(name))


def _site_matrices(energy_fn, params, n_units):
    """Exact single-site Gibbs transition matrices ``G_i`` and the target ``p`` (float64).

    States are enumerated in the order of ``exact.binary_states`` (bit j of state i is
    unit j); the energies are computed in float64 by one compiled call.
    """
    states = exact.binary_states(n_units, dtype=jnp.float32)
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        energy = np.asarray(jax.jit(energy_fn)(params64, jnp.asarray(states, jnp.float64)))
    log_p = -energy - logsumexp(-energy)
    index = np.arange(2**n_units)
    matrices = []
    for i in range(n_units):
        zero, one = index & ~(1 << i), index | (1 << i)
        with np.errstate(invalid="ignore"):
            difference = energy[one] - energy[zero]
        # both energies infinite: a forbidden state, unreachable from an allowed one
        p_one = 1.0 / (1.0 + np.exp(np.where(np.isnan(difference), 0.0, difference)))
        G = np.zeros((index.size, index.size))
        np.add.at(G, (index, one), p_one)
        np.add.at(G, (index, zero), 1.0 - p_one)
        matrices.append(G)
    return np.exp(log_p), matrices


def _sweep_matrix(matrices, reverse):
    """Row-stochastic matrix of one sweep: ``G_0 G_1 ... G_{D-1}`` (or reversed)."""
    return np.linalg.multi_dot(matrices[::-1] if reverse else matrices)


def test_sweep_matrices_are_invariant_and_mutual_reversals():
    """The facts the kernel and reverse annealing rely on, checked on exact matrices:
    both scan orders leave p invariant, and the reverse-order sweep is the time
    reversal of the forward one, p(x) T_rev(x, y) = p(y) T(y, x)."""
    for name in ["boltzmann", "rbm"]:
        p, matrices = _exact_model(name)
        forward, backward = _sweep_matrix(matrices, False), _sweep_matrix(matrices, True)
        np.testing.assert_allclose(p @ forward, p, atol=1e-14)
        np.testing.assert_allclose(p @ backward, p, atol=1e-14)
        np.testing.assert_allclose(p[:, None] * backward, (p[:, None] * forward).T, atol=1e-14)
        # and a sweep is not reversible by itself (so the order matters for RAISE)
        assert np.abs(p[:, None] * forward - (p[:, None] * forward).T).max() > 1e-3


# Each case: chi-square test at alpha = 1e-3, false-failure rate 0.1% per case (0.3% for
# the three). After 30 sweeps the worst-case total-variation distance to the target,
# computed from the exact sweep matrices of these parameters, is below 1e-9 for every
# case, far below what 20,000 samples can resolve.
@pytest.mark.parametrize(
    "model, reverse, batching, start",
    [
        ("boltzmann", False, "batched", "fixed"),
        ("boltzmann", True, "vmapped", "random"),
        ("rbm", False, "batched", "random"),
    ],
)
def test_goodness_of_fit_against_exact_enumeration(model, reverse, batching, start):
    energy_fn, params, n_units = _model(model)
    algorithm = binary_gibbs.as_top_level_api(energy_fn, reverse=reverse)
    rng = np.random.default_rng(1)
    if start == "fixed":
        position = jnp.zeros((N_CHAINS, n_units), jnp.float32)
    else:
        position = jnp.asarray(rng.integers(0, 2, (N_CHAINS, n_units)), jnp.float32)
    run = run_batched if batching == "batched" else run_vmapped
    final = run(algorithm, params, position, jax.random.key(2), N_SWEEPS)
    assert final.shape == (N_CHAINS, n_units) and final.dtype == jnp.float32
    counts = np.bincount(configuration_index(final), minlength=2**n_units)
    assert chisquare_counts(counts, _exact_model(model)[0]) > ALPHA


@pytest.mark.parametrize("reverse", [False, True])
def test_one_sweep_matches_the_exact_transition_row(reverse):
    """From one fixed state, a single sweep is distributed as the row of the exact sweep
    matrix in the requested order: this pins down the order of the updates, which a
    stationary test cannot see. The two orders' rows differ by a total variation of
    0.20 here, so the test has power against the wrong order (noncentrality > 4,000).
    Chi-square at alpha = 1e-3: false-failure rate 0.1% per order."""
    params = _boltzmann_params()
    _, matrices = _exact_model("boltzmann")
    start = np.array([1, 0, 1, 1, 0], np.float32)
    row = _sweep_matrix(matrices, reverse)[configuration_index(start[None])[0]]
    other = _sweep_matrix(matrices, not reverse)[configuration_index(start[None])[0]]
    assert 0.5 * np.abs(row - other).sum() > 0.1
    algorithm = binary_gibbs.as_top_level_api(boltzmann.energy, reverse=reverse)
    position = jnp.broadcast_to(jnp.asarray(start), (N_CHAINS, D))
    state = algorithm.init(position, params)
    new, _ = jax.jit(algorithm.step)(jax.random.key(3), state, params)
    counts = np.bincount(configuration_index(new.position), minlength=2**D)
    assert chisquare_counts(counts, row) > ALPHA


@pytest.mark.parametrize("reverse", [False, True])
def test_sweep_is_sequential_in_the_given_order(reverse):
    """Two units with a huge ferromagnetic coupling and no net field: each unit copies
    the other. Forward from (0, 1): unit 0 copies unit 1, then unit 1 the new unit 0,
    ending in (1, 1); in reverse order unit 1 copies unit 0 first, ending in (0, 0). A
    wrong outcome has probability about 2 e^-50."""
    params = boltzmann.BoltzmannParams(
        jnp.array([[0.0, 100.0], [100.0, 0.0]]), jnp.array([-50.0, -50.0])
    )
    algorithm = binary_gibbs.as_top_level_api(boltzmann.energy, reverse=reverse)
    state = algorithm.init(jnp.array([[0.0, 1.0], [1.0, 0.0]]), params)
    state, info = jax.jit(algorithm.step)(jax.random.key(0), state, params)
    expected = [[0.0, 0.0], [1.0, 1.0]] if reverse else [[1.0, 1.0], [0.0, 0.0]]
    np.testing.assert_array_equal(np.asarray(state.position), expected)
    np.testing.assert_array_equal(np.asarray(info.n_flipped), [1, 1])


def test_leading_chain_dims_and_info():
    params = _boltzmann_params()
    algorithm = binary_gibbs.as_top_level_api(boltzmann.energy)
    position = jnp.asarray(np.random.default_rng(5).integers(0, 2, (2, 3, D)), jnp.float32)
    state = algorithm.init(position, params)
    new, info = jax.jit(algorithm.step)(jax.random.key(6), state, params)
    assert new.position.shape == (2, 3, D) and new.position.dtype == jnp.float32
    assert info.n_flipped.shape == (2, 3) and info.n_flipped.dtype == jnp.int32
    np.testing.assert_array_equal(
        np.asarray(info.n_flipped), (np.asarray(new.position) != np.asarray(position)).sum(-1)
    )
    # the carried energy is the energy of the final configuration
    np.testing.assert_allclose(
        np.asarray(info.energy),
        np.asarray(boltzmann.energy(params, new.position)),
        rtol=1e-6,
        atol=1e-6,
    )
    assert set(np.unique(np.asarray(new.position))) <= {0.0, 1.0}


def test_hard_constraints_with_infinite_energy():
    """Energy +inf on configurations with more than two units on: chains started in the
    allowed set never leave it and sample the truncated distribution. Chi-square at
    alpha = 1e-3 (false-failure rate 0.1%); TV to the target after 30 sweeps < 1e-12
    (exact sweep matrix)."""
    params = _boltzmann_params(seed=7)

    def constrained(params, x):
        return jnp.where(jnp.sum(x, axis=-1) > 2, jnp.inf, boltzmann.energy(params, x))

    p, matrices = _site_matrices(constrained, params, D)
    forward = _sweep_matrix(matrices, False)
    allowed = np.flatnonzero(p > 0)
    tv = 0.5 * np.abs(np.linalg.matrix_power(forward, N_SWEEPS)[allowed] - p).sum(1).max()
    assert tv < 1e-12
    algorithm = binary_gibbs.as_top_level_api(constrained)
    final = run_batched(
        algorithm, params, jnp.zeros((N_CHAINS, D), jnp.float32), jax.random.key(8), N_SWEEPS
    )
    counts = np.bincount(configuration_index(final), minlength=2**D)
    assert counts[p == 0].sum() == 0
    assert chisquare_counts(counts[allowed], p[allowed]) > ALPHA


def test_float64_energy_and_positions():
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: a.astype(jnp.float64), _boltzmann_params())
        algorithm = binary_gibbs.as_top_level_api(boltzmann.energy)
        state = algorithm.init(jnp.zeros((4, D), jnp.float64), params)
        new, info = jax.jit(algorithm.step)(jax.random.key(0), state, params)
        assert new.position.dtype == jnp.float64 and info.energy.dtype == jnp.float64


# ---------------------------------------------------------------- errors


def test_init_rejects_bad_positions_and_energies():
    params = _boltzmann_params()
    good = jnp.zeros((3, D))
    with pytest.raises(ValueError, match="non-finite"):
        binary_gibbs.init(good.at[0, 0].set(jnp.nan), params, boltzmann.energy)
    with pytest.raises(ValueError, match=r"holds ±1 spins but the model takes 0/1 units"):
        binary_gibbs.init(-jnp.ones((3, D)), params, boltzmann.energy)
    with pytest.raises(TypeError, match="floating-point"):
        binary_gibbs.init(jnp.zeros((3, D), jnp.int32), params, boltzmann.energy)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        binary_gibbs.init(jnp.zeros(()), params, boltzmann.energy)

    def summed(params, x):  # sums over chains instead of broadcasting
        return jnp.sum(boltzmann.energy(params, x))

    with pytest.raises(ValueError, match=r"one energy per configuration: shape \(3,\)"):
        binary_gibbs.init(good, params, summed)

    def integer_energy(params, x):
        return jnp.sum(x, axis=-1).astype(jnp.int32)

    with pytest.raises(TypeError, match="floating-point energy"):
        binary_gibbs.init(good, params, integer_energy)

    def forbidden(params, x):
        return jnp.where(jnp.sum(x, axis=-1) == 0, jnp.inf, boltzmann.energy(params, x))

    with pytest.raises(ValueError, match="not finite for 3 chain"):
        binary_gibbs.init(good, params, forbidden)
