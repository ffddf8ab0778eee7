"""DMALA, DULA, locally balanced, PAS and Hamming ball: exact transition matrices, fit, errors.

Each kernel's exact transition matrix on an 8-unit MLP energy (256 states) is built
here in NumPy, independently of the kernels, from the papers' formulas. The fast suite
checks that the matrices leave the enumerated target invariant (DULA's does not: its
bias is measured) and that one jitted step from a fixed state is distributed as the
exact row (which pins the proposal and the acceptance down, where a stationary test
cannot tell a correct kernel from a slower one). The slow suite runs 20,000 chains to
stationarity (the number of steps is chosen so the worst-case total-variation distance
to the target, from the exact matrix, is below 1e-6; 20,000 samples resolve about 1e-2)
and runs parallel tempering over DMALA.

Statistical checks are Pearson chi-square tests at alpha = 1e-3 (false-failure rate
0.1% per check): 4 one-step rows in the fast suite (0.4%), DULA's row, 4 stationary fits
and one PT fit in the slow one (0.6%); the adaptation check is a 5-standard-error bound (below
1e-6). Seeds are fixed and were not chosen.
"""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_expit, logsumexp, softmax

from numpyro_ebm.energies import mlp
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import (
    dmala,
    hamming_ball,
    locally_balanced,
    path_auxiliary,
)
from tests._stats import chisquare_counts, configuration_index
from tests.kernels._runners import pt_target_replica_from_exact_starts

N_UNITS = 8
N_CHAINS = 20_000
ALPHA = 1e-3
STEP_DMALA, STEP_DULA = 1.0, 0.5
PATH_LENGTH = 3
BLOCK, RADIUS = 3, 1
START = np.array([1, 0, 0, 1, 1, 0, 1, 0], np.float32)


def _params():
    """The MLP energy of the Gibbs-with-gradients tests: far from uniform."""
    params = mlp.init_params(jax.random.key(4), (N_UNITS, 12), jnp.float32)
    return jax.tree.map(lambda a: 2.5 * a, params)


@functools.cache
def _enumerated():
    """``(states, E, grad)`` of all 256 states in float64."""
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), _params())
        states = exact.binary_states(N_UNITS, dtype=jnp.float64)
        energy = np.asarray(mlp.energy(p64, states))
        grad = np.asarray(jax.grad(lambda x: jnp.sum(mlp.energy(p64, x)))(states))
    return np.asarray(states), energy, grad


def _target():
    _, energy, _ = _enumerated()
    return np.exp(-energy - logsumexp(-energy))


def _with_diagonal(T):
    np.fill_diagonal(T, 0.0)
    T[np.diag_indices_from(T)] = 1.0 - T.sum(1)
    return T


def _mh(log_q_forward, energy):
    """Metropolis-Hastings matrix of a proposal with ``log_q_forward[x, y] = log q(y | x)``."""
    # moves the proposal never makes have log q = -inf both ways: NaN, then weight 0
    with np.errstate(invalid="ignore"):
        log_ratio = energy[:, None] - energy[None, :] + log_q_forward.T - log_q_forward
        T = np.exp(log_q_forward) * np.minimum(1.0, np.exp(np.minimum(log_ratio, 50.0)))
    return _with_diagonal(np.nan_to_num(T))


def _flip_estimates(states, grad):
    return -grad * (1 - 2 * states)


@functools.cache
def _exact_matrix(kernel: str) -> np.ndarray:
    """Transition matrices written from the papers (Zhang et al. 2022; Zanella 2020; Sun
    et al. 2022; Titsias & Yau 2017)."""
    states, energy, grad = _enumerated()
    n = states.shape[0]
    index = np.arange(n)
    flips = (index[:, None] ^ index[None, :])[..., None] >> np.arange(N_UNITS) & 1  # (n, n, D)
    if kernel in ("dmala", "dula"):
        step = STEP_DMALA if kernel == "dmala" else STEP_DULA
        logits = 0.5 * _flip_estimates(states, grad) - 1 / (2 * step)  # (n, D)
        log_q = np.where(flips == 1, log_expit(logits)[:, None], log_expit(-logits)[:, None])
        log_q = log_q.sum(-1)
        return np.exp(log_q) if kernel == "dula" else _mh(log_q, energy)
    if kernel.startswith("lb_"):
        g = {"sqrt": lambda t: 0.5 * t, "barker": log_expit}[kernel[3:]]
        log_t = np.stack([energy - energy[index ^ (1 << i)] for i in range(N_UNITS)], 1)
        q = softmax(g(log_t), axis=1)
        log_q = np.full((n, n), -np.inf)
        for i in range(N_UNITS):
            log_q[index, index ^ (1 << i)] = np.log(q[:, i])
        return _mh(log_q, energy)
    if kernel == "pas":
        q = softmax(0.5 * _flip_estimates(states, grad), axis=1)
        T = np.zeros((n, n))
        for path in itertools.product(range(N_UNITS), repeat=PATH_LENGTH):
            mask = 0
            for i in path:
                mask ^= 1 << i
            target = index ^ mask
            forward = np.prod(q[:, path], axis=1)
            reverse = np.prod(q[target][:, path], axis=1)
            ratio = np.exp(energy - energy[target]) * reverse / forward
            np.add.at(T, (index, target), forward * np.minimum(1.0, ratio))
        T[index, index] += 1.0 - T.sum(1)  # the rejected paths stay
        return T
    if kernel == "hamming_ball":
        T = np.zeros((n, n))
        blocks = list(itertools.combinations(range(N_UNITS), BLOCK))
        for block in blocks:
            ball = [0] + [1 << i for i in block]  # radius 1 inside the block
            for aux_mask in ball:
                aux = index ^ aux_mask
                candidates = np.stack([aux ^ m for m in ball], 1)  # (n, M)
                prob = softmax(-energy[candidates], axis=1)
                for c in range(len(ball)):
                    np.add.at(T, (index, candidates[:, c]), prob[:, c] / len(ball) / len(blocks))
        return T
    raise ValueError(kernel)


def _algorithm(kernel: str, energy_fn=mlp.energy, refresh=False):
    if kernel == "dmala":
        return dmala.as_top_level_api(energy_fn, STEP_DMALA, refresh=refresh)
    if kernel == "dula":
        return dmala.dula(energy_fn, STEP_DULA, refresh=refresh)
    if kernel.startswith("lb_"):
        return locally_balanced.as_top_level_api(energy_fn, balancing=kernel[3:], refresh=refresh)
    if kernel == "pas":
        return path_auxiliary.as_top_level_api(energy_fn, path_length=PATH_LENGTH, refresh=refresh)
    return hamming_ball.as_top_level_api(energy_fn, block_size=BLOCK, radius=RADIUS)


EXACT_KERNELS = ["dmala", "lb_sqrt", "lb_barker", "pas", "hamming_ball"]


def test_exact_matrices_leave_the_target_invariant_and_dula_does_not():
    """The facts the kernels rely on, on the exact matrices: every corrected kernel is a
    stochastic matrix in detailed balance with p; DULA's is not (total-variation bias of
    its stationary law asserted above 1e-3 at this step size)."""
    p = _target()
    for kernel in EXACT_KERNELS:
        T = _exact_matrix(kernel)
        assert T.min() > -1e-12, kernel
        np.testing.assert_allclose(T.sum(1), 1.0, atol=1e-12)
        np.testing.assert_allclose(p[:, None] * T, (p[:, None] * T).T, atol=1e-14)
    T = _exact_matrix("dula")
    np.testing.assert_allclose(T.sum(1), 1.0, atol=1e-12)
    w, v = np.linalg.eig(T.T)
    stationary = np.real(v[:, np.argmax(np.real(w))])
    stationary /= stationary.sum()
    assert 0.5 * np.abs(stationary - p).sum() > 1e-3


@pytest.mark.parametrize(
    "kernel",
    ["dmala", pytest.param("dula", marks=pytest.mark.slow), "lb_barker", "pas", "hamming_ball"],
)
def test_one_step_matches_the_exact_transition_row(kernel):
    """20,000 chains take one jitted step from the same state; the new states must fit the
    exact row of the kernel's transition matrix (chi-square at alpha = 1e-3)."""
    row = _exact_matrix(kernel)[configuration_index(START[None])[0]]
    algorithm = _algorithm(kernel)
    position = jnp.broadcast_to(jnp.asarray(START), (N_CHAINS, N_UNITS))
    state = algorithm.init(position, _params())
    new, info = jax.jit(algorithm.step)(jax.random.key(9), state, _params())
    counts = np.bincount(configuration_index(new.position), minlength=2**N_UNITS)
    assert chisquare_counts(counts, row) > ALPHA
    np.testing.assert_allclose(
        np.asarray(info.energy), np.asarray(mlp.energy(_params(), new.position)), rtol=1e-5
    )


def _tv_after(T, p, n_steps):
    return 0.5 * np.abs(np.linalg.matrix_power(T, n_steps) - p).sum(1).max()


@pytest.mark.slow
@pytest.mark.parametrize(
    "kernel, n_steps", [("dmala", 300), ("lb_sqrt", 300), ("pas", 200), ("hamming_ball", 300)]
)
def test_goodness_of_fit_against_enumeration(kernel, n_steps):
    """20,000 chains from uniform random starts, ``n_steps`` steps (worst-case TV to the
    target below 1e-6, asserted from the exact matrix): the final states fit the
    enumerated target (chi-square at alpha = 1e-3), and so does the mean of every unit
    (8 z-scores within 4.4: Bonferroni at 1e-4 over 8, with the variance p (1 - p) / n of
    independent chains)."""
    p = _target()
    T = _exact_matrix(kernel)
    assert _tv_after(T, p, n_steps) < 1e-6
    algorithm = _algorithm(kernel)
    params = _params()
    start = jnp.asarray(np.random.default_rng(7).integers(0, 2, (N_CHAINS, N_UNITS)), jnp.float32)
    algorithm.init(start, params)  # concrete validation outside jit

    @jax.jit
    def run(position, key):
        def body(state, k):
            return algorithm.step(k, state, params)[0], None

        state = algorithm.init(position, params)
        return jax.lax.scan(body, state, jax.random.split(key, n_steps))[0].position

    final = np.asarray(run(start, jax.random.key(8)))
    counts = np.bincount(configuration_index(final), minlength=2**N_UNITS)
    assert chisquare_counts(counts, p) > ALPHA
    states, _, _ = _enumerated()
    mean = p @ states
    z = (final.mean(0) - mean) / np.sqrt(mean * (1 - mean) / N_CHAINS)
    assert np.abs(z).max() < 4.4


@pytest.mark.slow
def test_parallel_tempering_over_dmala_keeps_the_target():
    """DMALA as the base kernel of parallel tempering (``tempered_sampler``, with the
    refresh that swaps need): every replica starts at an exact draw of its tempered
    distribution, so after 20 PT steps the beta = 1 replica must still fit the target
    (a kernel or swap that broke invariance would show at any number of steps;
    chi-square at alpha = 1e-3)."""
    betas = jnp.asarray([0.25, 0.5, 1.0], jnp.float32)
    states, energy, _ = _enumerated()
    final, swapped = pt_target_replica_from_exact_starts(
        mlp.energy,
        _params(),
        lambda fn: dmala.as_top_level_api(fn, STEP_DMALA),
        energy,
        states,
        betas,
        n_chains=N_CHAINS,
        seed=18,
        key=jax.random.key(19),
    )
    assert swapped > 0.05
    counts = np.bincount(configuration_index(final), minlength=256)
    assert chisquare_counts(counts, _target()) > ALPHA


def test_step_size_adaptation_reaches_the_target_acceptance():
    """Dual averaging from a step size 10 times too small (nothing flips, acceptance 1)
    settles where 200 chains accept the target 0.8 on average (on this 8-unit target the
    acceptance falls from 1 at step size 0.05 to 0.81 at 0.5 and levels off at 0.54 for
    large steps, measured with 2,000 chains, so 0.8 is reachable): the acceptance of 100 further steps at the
    tuned step size is within 0.05 of the target (its standard error over 20,000
    chain-steps is below 0.005, so 0.05 is beyond 10 of them, allowing for the
    dual-averaging estimate's own error),."""
    params = _params()
    start = jnp.asarray(np.random.default_rng(20).integers(0, 2, (200, N_UNITS)), jnp.float32)
    state = dmala.init(start, params, mlp.energy)

    @jax.jit
    def tune_then_run(state, key):
        key_tune, key_run = jax.random.split(key)
        state, step_size, trace = dmala.adapt_step_size(
            key_tune,
            state,
            params,
            mlp.energy,
            n_steps=400,
            initial_step_size=0.05,
            target_acceptance=0.8,
        )
        kernel = dmala.build_kernel(mlp.energy, refresh=False)

        def body(state, k):
            state, info = kernel(k, state, params, step_size)
            return state, info.acceptance_rate

        _, acceptance = jax.lax.scan(body, state, jax.random.split(key_run, 100))
        return step_size, trace, acceptance

    step_size, trace, acceptance = tune_then_run(state, jax.random.key(21))
    assert trace.step_size.shape == (400,) and trace.acceptance_rate.shape == (400,)
    assert abs(float(acceptance.mean()) - 0.8) < 0.05
    assert float(step_size) > 5 * 0.05  # it moved far from the start


@pytest.mark.slow  # two more compilations; the docs example checks the counts too
def test_info_fields_and_evaluation_counts():
    params = _params()
    position = jnp.asarray(np.random.default_rng(16).integers(0, 2, (2, 3, 8)), jnp.float32)
    lb = locally_balanced.as_top_level_api(mlp.energy, n_flips=2)
    state = lb.init(position, params)
    new, info = jax.jit(lb.step)(jax.random.key(0), state, params)
    assert new.flip_log_ratios.shape == (2, 3, 8)
    np.testing.assert_array_equal(np.asarray(info.n_evaluations), 3 * 9)  # (2 + refresh) x 9
    hb = hamming_ball.as_top_level_api(mlp.energy, block_size=4, radius=2)
    _, info = jax.jit(hb.step)(jax.random.key(1), hb.init(position, params), params)
    assert hamming_ball.ball_size(4, 2) == 1 + 4 + 6
    np.testing.assert_array_equal(np.asarray(info.n_evaluations), 11)
    assert (np.asarray(info.n_flipped) <= 4).all()


def test_bad_input_is_rejected_clearly():
    params = _params()
    good = jnp.zeros((3, 8))
    with pytest.raises(ValueError, match="step_size must be a positive finite scalar"):
        dmala.as_top_level_api(mlp.energy, 0.0)
    with pytest.raises(ValueError, match="step_size must be a positive finite scalar"):
        dmala.as_top_level_api(mlp.energy, math.nan)
    with pytest.raises(ValueError, match="target_acceptance must be in"):
        dmala.adapt_step_size(
            jax.random.key(0),
            dmala.init(good, params, mlp.energy),
            params,
            mlp.energy,
            n_steps=2,
            target_acceptance=1.5,
        )
    with pytest.raises(ValueError, match="unknown balancing function 'cube'"):
        locally_balanced.build_kernel(mlp.energy, balancing="cube")
    with pytest.raises(ValueError, match="path_length must be at least 1"):
        path_auxiliary.build_kernel(mlp.energy, path_length=0)
    with pytest.raises(ValueError, match="radius must be at most block_size"):
        hamming_ball.build_kernel(mlp.energy, block_size=2, radius=3)
    with pytest.raises(ValueError, match="block_size 9 is larger than the 8 units"):
        hb = hamming_ball.as_top_level_api(mlp.energy, block_size=9)
        jax.eval_shape(hb.step, jax.random.key(0), hb.init(good, params), params)
    with pytest.raises(ValueError, match=r"binary \(0/1\)"):
        locally_balanced.init(good.at[0, 0].set(0.5), params, mlp.energy)
    with pytest.raises(ValueError, match="spins"):
        hamming_ball.init(good, params, mlp.energy, spins=True)
    with pytest.raises(ValueError, match=r"one energy per configuration: shape \(3,\)"):
        path_auxiliary.init(good, params, lambda p, x: jnp.sum(mlp.energy(p, x)))
