"""Adapters around BlackJAX's HMC, NUTS, MALA, random-walk MH and unadjusted Langevin.

- goodness of fit of the four Metropolis-adjusted samplers on a 2-D banana energy
  (independent vmapped chains, one final state each, chi-square against 2-D
  quadrature of exp(-E) on a grid);
- ULA's exact stationary variance on a Gaussian (its known discretisation bias);
- refresh: parameters switched between init and step, with and without refresh;
- the adapters are thin: same key, same result as BlackJAX called directly;
- dict positions run the same chain as the flattened array;
- clear errors for bad initial input.
"""

import functools
from typing import NamedTuple

import blackjax
import blackjax.mcmc.diffusions
import blackjax.mcmc.hmc
import blackjax.mcmc.mala
import blackjax.mcmc.nuts
import blackjax.mcmc.random_walk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float
from scipy import stats

from numpyro_ebm import potentials
from numpyro_ebm.kernels import hmc, langevin, mala, nuts, random_walk

# ----------------------------------------------------------------------------
# A banana-shaped energy: x1 ~ N(0, scale^2), x2 | x1 ~ N(curvature * x1^2, 1).


class BananaParams(NamedTuple):
    scale: Float[Array, ""]
    curvature: Float[Array, ""]


def banana_energy(params: BananaParams, x: Float[Array, "*batch 2"]) -> Float[Array, "*batch"]:
    x1, x2 = x[..., 0], x[..., 1]
    return 0.5 * (x1 / params.scale) ** 2 + 0.5 * (x2 - params.curvature * x1**2) ** 2


def banana_dict_energy(params: BananaParams, x: dict) -> Float[Array, ""]:
    """The banana on a dict position ``{"x1": shape (), "x2": shape (1,)}``."""
    return banana_energy(params, jnp.concatenate([x["x1"][None], x["x2"]]))


def _banana(scale, curvature):
    return BananaParams(jnp.array(scale, jnp.float32), jnp.array(curvature, jnp.float32))


TARGET = (1.2, 0.6)  # (scale, curvature) of the target
OTHER = (0.5, 0.0)  # a narrow Gaussian: the "previous" parameters in the refresh tests

X1_EDGES = np.linspace(-3.0, 3.0, 9)
X2_EDGES = np.linspace(-2.5, 6.5, 10)


def _density(scale, curvature, x1, x2):
    return np.exp(-(0.5 * (x1 / scale) ** 2 + 0.5 * (x2 - curvature * x1**2) ** 2))


def _midpoints(lo, hi, h):
    n = round((hi - lo) / h)
    return lo + h * (np.arange(n) + 0.5)


@functools.lru_cache
def banana_bin_probabilities(scale: float, curvature: float) -> np.ndarray:
    """Probabilities of the chi-square bins by 2-D midpoint quadrature of exp(-E).

    The normaliser is also found by quadrature, on a box holding all but a
    negligible fraction of the mass, and checked against the closed form
    :math:`Z = 2\\pi \\cdot \\mathrm{scale}`.
    """
    h = 0.02
    g1 = _midpoints(-6 * scale, 6 * scale, h)
    g2 = _midpoints(-6.0, curvature * (6 * scale) ** 2 + 6.0, h)
    z = _density(scale, curvature, g1[:, None], g2[None, :]).sum() * h * h
    np.testing.assert_allclose(z, 2 * np.pi * scale, rtol=1e-6)
    h = 0.01
    probs = np.empty((len(X1_EDGES) - 1, len(X2_EDGES) - 1))
    for i in range(len(X1_EDGES) - 1):
        c1 = _midpoints(X1_EDGES[i], X1_EDGES[i + 1], h)
        for j in range(len(X2_EDGES) - 1):
            c2 = _midpoints(X2_EDGES[j], X2_EDGES[j + 1], h)
            probs[i, j] = _density(scale, curvature, c1[:, None], c2[None, :]).sum() * h * h / z
    return probs


def banana_chi_square_pvalue(samples, scale: float, curvature: float) -> float:
    """Chi-square test of 2-D samples against the banana's quadrature bin probabilities.

    Grid bins with an expected count below 5 are pooled with everything outside
    the grid into one bin.
    """
    samples = np.asarray(samples, np.float64)
    n = samples.shape[0]
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], [X1_EDGES, X2_EDGES])
    expected = n * banana_bin_probabilities(scale, curvature)
    keep = expected >= 5
    observed = np.append(counts[keep], counts[~keep].sum() + (n - counts.sum()))
    expected = np.append(expected[keep], expected[~keep].sum() + (n - expected.sum()))
    return float(stats.chisquare(observed, expected).pvalue)


def exact_banana(seed: int, n: int, scale: float, curvature: float):
    rng = np.random.default_rng(seed)
    x1 = scale * rng.standard_normal(n)
    x2 = curvature * x1**2 + rng.standard_normal(n)
    return jnp.asarray(np.stack([x1, x2], axis=1), jnp.float32)


def test_chi_square_harness_has_power():
    # The harness itself: exact samples pass, samples of a slightly different banana
    # fail. False-failure rate of the first check: 0.1% (alpha = 1e-3). The second is
    # a power check: at n = 4000 the chi-square statistic against a banana with
    # curvature 0.45 instead of 0.6 is far in the tail (p ~ 1e-30 typically).
    n = 4000
    assert banana_chi_square_pvalue(exact_banana(0, n, *TARGET), *TARGET) > 1e-3
    assert banana_chi_square_pvalue(exact_banana(1, n, 1.2, 0.45), *TARGET) < 1e-6


# ----------------------------------------------------------------------------
# Goodness of fit of the adjusted samplers.

N_CHAINS = 4000

GOF_CASES = {
    # name: (algorithm, number of steps)
    "hmc": (hmc.as_top_level_api(banana_energy, step_size=0.3, num_integration_steps=8), 100),
    "nuts": (nuts.as_top_level_api(banana_energy, step_size=0.3), 25),
    "mala": (mala.as_top_level_api(banana_energy, step_size=0.3), 200),
    "random_walk": (random_walk.as_top_level_api(banana_energy, step_size=0.9), 200),
}


def _to_dict(x):
    return {"x1": x[..., 0], "x2": x[..., 1:]}


def _from_dict(x):
    return jnp.concatenate([x["x1"][..., None], x["x2"]], axis=-1)


def run_chains(algorithm, params, positions, rng_key, n_steps):
    """Independent chains (vmapped), ``n_steps`` steps each in one compiled scan."""

    def one_chain(key, position):
        state = algorithm.init(position, params)

        def body(state, step_key):
            return algorithm.step(step_key, state, params)

        state, info = jax.lax.scan(body, state, jax.random.split(key, n_steps))
        return state, info

    n = positions.shape[0]
    return jax.jit(jax.vmap(one_chain))(jax.random.split(rng_key, n), positions)


@pytest.mark.parametrize("name", list(GOF_CASES))
def test_goodness_of_fit_banana(name):
    # 4000 independent chains started from N(0, I), one final state each, binned on
    # a 8 x 9 grid; chi-square at alpha = 1e-3: false-failure rate 0.1% once the
    # chains have converged. The step counts are at least twice those for which
    # 20,000 chains (5x more power) already showed no detectable bias.
    algorithm, n_steps = GOF_CASES[name]
    params = _banana(*TARGET)
    key_init, key_run = jax.random.split(jax.random.key(0))
    positions = jax.random.normal(key_init, (N_CHAINS, 2), jnp.float32)
    states, info = run_chains(algorithm, params, positions, key_run, n_steps)
    samples = states.position
    assert samples.shape == (N_CHAINS, 2) and samples.dtype == jnp.float32
    assert 0.3 < float(jnp.mean(info.acceptance_rate)) <= 1.0
    assert banana_chi_square_pvalue(samples, *TARGET) > 1e-3


# ----------------------------------------------------------------------------
# ULA: the exact stationary variance of the Euler scheme on a Gaussian.


class GaussianParams(NamedTuple):
    sigma: Float[Array, " dim"]


def gaussian_energy(
    params: GaussianParams, x: Float[Array, "*batch dim"]
) -> Float[Array, "*batch"]:
    return 0.5 * jnp.sum((x / params.sigma) ** 2, axis=-1)


def test_ula_stationary_variance_is_the_exact_discretised_one():
    # BlackJAX's step (blackjax.mcmc.diffusions.overdamped_langevin) is
    # x' = x + h grad log p(x) + sqrt(2h) xi. On N(0, sigma^2) that is the AR(1)
    # x' = (1 - h/sigma^2) x + sqrt(2h) xi, whose stationary law is N(0, v) with
    # v = 2h / (1 - (1 - h/sigma^2)^2) = sigma^2 / (1 - h / (2 sigma^2)).
    # Three independent coordinates, 4000 chains from x0 = (3, -3, 3), 200 steps:
    # the chain is exactly Gaussian with mean 3 rho^200 and variance v (1 - rho^400),
    # rho <= 0.87, i.e. stationary to ~1e-12. So T = sum x^2 / v ~ chi2(3 * 4000);
    # two-sided test at alpha = 1e-3: false-failure rate 0.1%.
    h = 0.3
    sigma = np.array([0.8, 1.0, 1.5])
    v = sigma**2 / (1 - h / (2 * sigma**2))
    n = 4000
    algorithm = langevin.as_top_level_api(gaussian_energy, step_size=h)
    params = GaussianParams(jnp.asarray(sigma, jnp.float32))
    positions = jnp.tile(jnp.array([3.0, -3.0, 3.0], jnp.float32), (n, 1))
    states, info = run_chains(algorithm, params, positions, jax.random.key(1), 200)
    assert isinstance(states, blackjax.mcmc.diffusions.DiffusionState)
    assert not bool(jnp.any(info.is_divergent))
    x = np.asarray(states.position, np.float64)
    dof = x.size
    cdf = stats.chi2.cdf(np.sum(x**2 / v), dof)
    assert 5e-4 < cdf < 1 - 5e-4
    # Power check: the same statistic against the *target* variance sigma^2 is
    # about 14 standard deviations off (v / sigma^2 = 1.31, 1.18, 1.07).
    assert stats.chi2.sf(np.sum(x**2 / sigma**2), dof) < 1e-6


def test_ula_diverges_visibly_when_the_step_is_too_large():
    # h > 2 sigma^2 makes the AR(1) coefficient |1 - h / sigma^2| > 1: the chain
    # explodes geometrically and the info says so.
    algorithm = langevin.as_top_level_api(gaussian_energy, step_size=3.0)
    params = GaussianParams(jnp.ones((1,), jnp.float32))
    state = algorithm.init(jnp.ones((1,), jnp.float32), params)
    step = jax.jit(algorithm.step)
    diverged = False
    for i in range(200):
        state, info = step(jax.random.key(i), state, params)
        diverged |= bool(info.is_divergent)
    assert diverged


# ----------------------------------------------------------------------------
# Refresh: parameters changed between steps.

ADJUSTED = {
    # name: (module, sampler parameters)
    "hmc": (hmc, {"step_size": 0.3, "num_integration_steps": 8}),
    "nuts": (nuts, {"step_size": 0.3}),
    "mala": (mala, {"step_size": 0.3}),
    "random_walk": (random_walk, {"step_size": 0.9}),
}
ALL = {**ADJUSTED, "langevin": (langevin, {"step_size": 0.05})}


def _one_step_from_stale_state(module, sampler_parameters, refresh, positions, key):
    """Init every chain with the OTHER parameters, then take one step with TARGET."""
    kernel = module.build_kernel(banana_energy, refresh=refresh)
    old, new = _banana(*OTHER), _banana(*TARGET)

    def one_chain(key, position):
        state = module.init(position, old, banana_energy)
        return kernel(key, state, new, **sampler_parameters)

    n = positions.shape[0]
    return jax.jit(jax.vmap(one_chain))(jax.random.split(key, n), positions)


@pytest.mark.parametrize("name", ["hmc", "mala", "random_walk"])
def test_refresh_keeps_the_new_target_invariant(name):
    # Chains start EXACTLY at the new target (independent draws of the banana), but
    # their states were built with the old parameters, so the cached log density and
    # gradient are stale. One step of a kernel that leaves the new target invariant
    # keeps the samples exactly distributed as the new target.
    # refresh=True: chi-square at alpha = 1e-3, false-failure rate 0.1%.
    # refresh=False: the stale cache breaks invariance; with 10,000 chains the
    # chi-square p-value is astronomically small (p < 1e-30 for every sampler at
    # 20,000 chains), so the check p < 1e-6 is a power check, not a coin flip.
    # (NUTS shares the refresh code path; test_same_result_as_blackjax checks that its
    # refreshed step from a stale state equals BlackJAX's step from a fresh one.)
    module, sampler_parameters = ADJUSTED[name]
    positions = exact_banana(2, 10_000, *TARGET)
    key = jax.random.key(3)
    target = _banana(*TARGET)

    state, _ = _one_step_from_stale_state(module, sampler_parameters, True, positions, key)
    assert banana_chi_square_pvalue(state.position, *TARGET) > 1e-3
    # the cache belongs to the new parameters
    np.testing.assert_allclose(
        state.logdensity, -banana_energy(target, state.position), rtol=1e-5, atol=1e-4
    )

    stale, info = _one_step_from_stale_state(module, sampler_parameters, False, positions, key)
    assert banana_chi_square_pvalue(stale.position, *TARGET) < 1e-6
    # A rejected chain keeps the cache of the OLD parameters (stale); an accepted one
    # has the cache of the new parameters, computed at the proposal.
    rejected = ~np.asarray(info.is_accepted)
    assert rejected.any() and not rejected.all()
    old_logdensity = -banana_energy(_banana(*OTHER), stale.position)
    new_logdensity = -banana_energy(target, stale.position)
    np.testing.assert_allclose(
        stale.logdensity[rejected], old_logdensity[rejected], rtol=1e-5, atol=1e-4
    )
    np.testing.assert_allclose(
        stale.logdensity[~rejected], new_logdensity[~rejected], rtol=1e-5, atol=1e-4
    )
    # ... which is not the current log density (except where the two energies cross)
    assert (np.abs(np.asarray(old_logdensity - new_logdensity))[rejected] > 1e-2).any()


# ----------------------------------------------------------------------------
# Thin: same key, same result as BlackJAX itself, with BlackJAX's own types.


def _blackjax_reference(name, logdensity_fn):
    inverse_mass_matrix = jnp.ones((2,), jnp.float32)
    if name == "hmc":
        return blackjax.hmc(logdensity_fn, 0.3, inverse_mass_matrix, 8)
    if name == "nuts":
        return blackjax.nuts(logdensity_fn, 0.3, inverse_mass_matrix)
    if name == "mala":
        return blackjax.mala(logdensity_fn, 0.3)
    return blackjax.mcmc.random_walk.normal_random_walk(logdensity_fn, 0.9)


STATE_INFO_TYPES = {
    "hmc": (blackjax.mcmc.hmc.HMCState, blackjax.mcmc.hmc.HMCInfo),
    "nuts": (blackjax.mcmc.hmc.HMCState, blackjax.mcmc.nuts.NUTSInfo),
    "mala": (blackjax.mcmc.mala.MALAState, blackjax.mcmc.mala.MALAInfo),
    "random_walk": (blackjax.mcmc.random_walk.RWState, blackjax.mcmc.random_walk.RWInfo),
}


def _assert_trees_close(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(ADJUSTED))
def test_same_result_as_blackjax(name):
    # init equals BlackJAX's init on the log density -E; and a refresh=True step from a
    # state built with OTHER parameters (a stale cache) equals BlackJAX's own step,
    # called directly on the current log density from the fresh state, key for key.
    # (refresh=False passes the state to the very same BlackJAX call unchanged.)
    module, sampler_parameters = ADJUSTED[name]
    params, old = _banana(*TARGET), _banana(*OTHER)
    position = jnp.array([0.7, 0.4], jnp.float32)
    kernel = jax.jit(
        functools.partial(module.build_kernel(banana_energy, refresh=True), **sampler_parameters)
    )
    reference = _blackjax_reference(name, potentials.log_density_fn(banana_energy, params))
    ref_step = jax.jit(reference.step)
    ref_state = reference.init(position)
    _assert_trees_close(module.init(position, params, banana_energy), ref_state)
    state_type, info_type = STATE_INFO_TYPES[name]
    moved = 0
    for i in range(5):
        key = jax.random.key(i)
        stale = module.init(ref_state.position, old, banana_energy)
        state, info = kernel(key, stale, params)
        new_ref_state, ref_info = ref_step(key, ref_state)
        assert isinstance(state, state_type) and isinstance(info, info_type)
        _assert_trees_close(state, new_ref_state)
        _assert_trees_close(info, ref_info)
        moved += int(not np.array_equal(new_ref_state.position, ref_state.position))
        ref_state = new_ref_state
    assert moved >= 2


def test_langevin_same_result_as_blackjax_sgld_with_full_gradient():
    # BlackJAX's SGLD with the exact gradient and temperature 1 is the same Euler step;
    # with refresh=True a state built with OTHER parameters gives the same step too.
    params, old = _banana(*TARGET), _banana(*OTHER)
    logdensity_fn = potentials.log_density_fn(banana_energy, params)
    sgld = blackjax.sgld(lambda x, _: jax.grad(logdensity_fn)(x))
    kernels = {
        refresh: jax.jit(
            functools.partial(langevin.build_kernel(banana_energy, refresh=refresh), step_size=0.05)
        )
        for refresh in (False, True)
    }
    ref_step = jax.jit(lambda key, x: sgld.step(key, x, None, 0.05))
    position = jnp.array([0.7, 0.4], jnp.float32)
    state, ref_position = langevin.init(position, params, banana_energy), sgld.init(position)
    for i in range(5):
        key = jax.random.key(i)
        refreshed, _ = kernels[True](key, langevin.init(ref_position, old, banana_energy), params)
        state, info = kernels[False](key, state, params)
        ref_position = ref_step(key, ref_position)
        assert isinstance(state, blackjax.mcmc.diffusions.DiffusionState)
        assert isinstance(info, langevin.LangevinInfo) and not bool(info.is_divergent)
        np.testing.assert_allclose(state.position, ref_position, rtol=1e-6, atol=1e-6)
        _assert_trees_close(refreshed, state)
    # the cached log density and gradient are those of the current parameters
    np.testing.assert_allclose(state.logdensity, logdensity_fn(state.position), rtol=1e-6)
    np.testing.assert_allclose(
        state.logdensity_grad, jax.grad(logdensity_fn)(state.position), rtol=1e-6
    )


# ----------------------------------------------------------------------------
# Pytree positions.


@pytest.mark.parametrize("name", ["hmc", "mala"])
def test_dict_position_runs_the_same_chain_as_the_flat_array(name):
    # BlackJAX flattens pytrees with ravel_pytree (dict keys sorted: x1, x2), so the
    # chain on {"x1": (), "x2": (1,)} draws the same noise as the chain on the
    # array [x1, x2] and, being the same algorithm, makes the same moves. The array
    # chain passes the goodness-of-fit test above. HMC uses a diagonal inverse mass
    # matrix here, which applies to the flattened position.
    module, sampler_parameters = ADJUSTED[name]
    if name == "hmc":
        sampler_parameters = {
            **sampler_parameters,
            "inverse_mass_matrix": jnp.array([1.0, 1.5], jnp.float32),
        }
    params = _banana(*TARGET)
    flat = module.as_top_level_api(banana_energy, **sampler_parameters)
    tree = module.as_top_level_api(banana_dict_energy, **sampler_parameters)
    position = jnp.array([0.7, 0.4], jnp.float32)
    flat_state = flat.init(position, params)
    tree_state = tree.init(_to_dict(position), params)
    assert tree_state.position["x1"].shape == () and tree_state.position["x2"].shape == (1,)
    flat_step, tree_step = jax.jit(flat.step), jax.jit(tree.step)
    accepted = 0
    for i in range(20):
        flat_state, _ = flat_step(jax.random.key(i), flat_state, params)
        tree_state, info = tree_step(jax.random.key(i), tree_state, params)
        accepted += int(info.is_accepted)
        np.testing.assert_allclose(
            _from_dict(tree_state.position), flat_state.position, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            tree_state.logdensity, flat_state.logdensity, rtol=1e-5, atol=1e-6
        )
        assert jax.tree.structure(tree_state.logdensity_grad) == jax.tree.structure(
            tree_state.position
        )
    assert accepted > 5  # the chain moved


# ----------------------------------------------------------------------------
# Bad input: clear errors at init.


@pytest.mark.parametrize("name", list(ALL))
def test_bad_initial_input(name):
    module = ALL[name][0]
    params = _banana(*TARGET)

    def vector_energy(params, x):  # forgot to sum: one energy per coordinate
        return 0.5 * x**2

    with pytest.raises(ValueError, match="scalar energy for a single position"):
        module.init(jnp.zeros((2,), jnp.float32), params, vector_energy)
    with pytest.raises(ValueError, match="jax.vmap"):  # a batch of chains in one state
        module.init(jnp.zeros((4, 2), jnp.float32), params, banana_energy)
    with pytest.raises(ValueError, match="non-finite"):
        module.init(jnp.array([0.0, jnp.nan], jnp.float32), params, banana_energy)
    with pytest.raises(TypeError, match="floating-point"):
        module.init(jnp.array([1, 2], jnp.int32), params, banana_energy)
    with pytest.raises(ValueError, match=r"position\['x2'\].*non-finite"):
        module.init(
            {"x1": jnp.array(0.0, jnp.float32), "x2": jnp.array([jnp.inf], jnp.float32)},
            params,
            banana_dict_energy,
        )
    with pytest.raises(ValueError, match="energy at the initial position is inf"):
        module.init(
            jnp.array([-1.0, 1.0], jnp.float32),
            params,
            lambda p, x: jnp.where(x[0] < 0, jnp.inf, banana_energy(p, x)),
        )


# ----------------------------------------------------------------------------
# float32 chains with x64 enabled (JAX 0.10 and 0.12, BlackJAX 1.7.1)

# BlackJAX draws noise and momenta in the result dtype of its scale and the position.
# The adapters cast the step size and inverse mass matrix to the position's dtype
# (_blackjax_adapter.in_position_dtype), which keeps HMC and random-walk chains float32.
# Three upstream float64s remain, which the adapters cannot reach without reimplementing
# BlackJAX: MALA's and ULA's noise comes from blackjax.util.generate_gaussian_noise with
# its default sigma=1.0 (float64 under x64), and NUTS's U-turn checkpoints are
# jnp.zeros(...) of the default dtype (blackjax/mcmc/termination.py). In NUTS and MALA
# they break a lax.cond, so the adapters refuse such a chain with a clear error; ULA's
# chain turns float64 (under standard promotion; strict promotion refuses the mix). Each case asserts exactly that: the day BlackJAX fixes one, its
# case fails and moves to FLOAT32_KEPT.
FLOAT32_KEPT = ("hmc", "random_walk")
REFUSED = {"nuts": "U-turn checkpoints", "mala": "generate_gaussian_noise"}
LEAKS_FLOAT64 = ("langevin",)


def _one_step_under_x64(name):
    module, sampler_parameters = ALL[name]
    with jax.enable_x64(True):
        params = _banana(*TARGET)
        algorithm = module.as_top_level_api(banana_energy, **sampler_parameters)
        state = algorithm.init(jnp.array([0.7, 0.4], jnp.float32), params)
        new_state, _ = algorithm.step(jax.random.key(0), state, params)
    return {
        str(leaf.dtype)
        for leaf in jax.tree.leaves(new_state)
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    }


def test_every_adapter_has_a_float32_under_x64_case():
    assert set(FLOAT32_KEPT) | set(REFUSED) | set(LEAKS_FLOAT64) == set(ALL)


@pytest.mark.parametrize("name", FLOAT32_KEPT)
def test_float32_chain_stays_float32_with_x64_enabled(name):
    assert _one_step_under_x64(name) == {"float32"}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_float32_chain_under_x64_is_refused_with_a_clear_error(name):
    with pytest.raises(TypeError, match=rf"float32 position while jax_enable_x64.*{REFUSED[name]}"):
        _one_step_under_x64(name)


@pytest.mark.standard_promotion  # the float32 chain meets BlackJAX's float64 noise
@pytest.mark.parametrize("name", LEAKS_FLOAT64)
def test_ula_chain_turns_float64_under_x64_upstream(name):
    assert _one_step_under_x64(name) == {"float64"}
