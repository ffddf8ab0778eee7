"""Uni-gauss block Gibbs: goodness of fit against quadrature, shapes, bad input.

Goodness-of-fit tests run many independent chains (one batched state) from
uniform starts past burn-in and keep one final state per chain, so the samples
are independent draws from the chain's distribution after that many sweeps.
With the models below the KS distance to the target falls to the noise level
within about 50 sweeps (1-D) and 20 sweeps (2-D), so 200 and 100 sweeps leave
no measurable burn-in bias.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from numpyro_ebm.energies import poe
from numpyro_ebm.kernels import unigauss_gibbs

N_CHAINS = 20_000


def _as64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def _energy_on_grid(params, box, points):
    """Energy in float64 at ``points`` (numpy, shape ``(..., D)``)."""
    with jax.enable_x64(True):
        return np.asarray(jax.jit(poe.energy)(_as64(params), jnp.asarray(points), _as64(box)))


def _uniform_in_box(seed, box, shape):
    """Starting points drawn with numpy (no compilation of a JAX sampler for each shape)."""
    low, high = np.asarray(box.low), np.asarray(box.high)
    u = np.random.default_rng(seed).random(shape + low.shape, dtype=np.float32)
    return jnp.asarray(low + (high - low) * u)


def _final_states(params, box, chain_shape, n_sweeps, seed, step=None):
    """Final positions of ``chain_shape`` independent chains started uniformly on the box.

    Each sweep is one call of the jitted step on all chains (a Python loop, so the
    compiled step is shared with the other tests of the same box and shape).
    """
    algorithm = unigauss_gibbs.as_top_level_api(box)
    step = jax.jit(algorithm.step) if step is None else step
    x0 = _uniform_in_box(seed, box, chain_shape)
    state = algorithm.init(x0, params)
    for k in jax.random.split(jax.random.key(seed), n_sweeps):
        state, _ = step(k, state, params)
    return np.asarray(state.position, np.float64)


# The 2-D tests share one box, one chain shape (with two leading chain dimensions)
# and one compiled step.
BOX_2D = poe.make_box(-2.0, 2.0, 2)
CHAINS_2D = (4, N_CHAINS // 4)
STEP_2D = jax.jit(unigauss_gibbs.as_top_level_api(BOX_2D).step)


def _params_2d():
    # the fourth Gaussian's mean lies outside the box (truncated in both dimensions)
    return poe.UniGaussParams(
        logit_mix=jnp.array([1.0, 0.5, 1.5, 0.5]),
        mean=jnp.array([[-1.0, -1.0], [1.0, -0.5], [0.0, 1.2], [2.3, 1.9]]),
        log_scale=jnp.log(jnp.array([[0.5, 0.7], [0.6, 0.4], [0.8, 0.5], [0.5, 0.6]])),
    )


def test_truncated_normal_matches_scipy_including_far_tails():
    # jax.random.truncated_normal returns the far end for the first five intervals
    # in float32; ours must match scipy's truncnorm everywhere. (15, 16) and (-60, -50)
    # take the deep-tail path (Phi underflows float32), as (40, 41) does in float64.
    intervals = [
        (6.0, 8.0),
        (10.0, 20.0),
        (-20.0, -10.0),
        (15.0, 16.0),
        (-60.0, -50.0),
        (-1.0, 2.0),
        (-3.0, 40.0),
        (0.0, 1e-3),
    ]
    n = 5000
    lower = jnp.array([a for a, _ in intervals], jnp.float32)[:, None]
    upper = jnp.array([b for _, b in intervals], jnp.float32)[:, None]
    draw = jax.jit(unigauss_gibbs.truncated_normal, static_argnums=(3, 4))
    samples = np.asarray(
        draw(jax.random.key(0), lower, upper, (len(intervals), n), jnp.float32), np.float64
    )
    for (a, b), x in zip(intervals, samples, strict=True):
        assert np.all((x >= a) & (x <= b))
        # KS at alpha = 1e-4 per interval: false-failure rate 0.08% over the 8 intervals
        pvalue = scipy.stats.kstest(x, scipy.stats.truncnorm(a, b).cdf).pvalue
        assert pvalue > 1e-4, (a, b, pvalue)
    with jax.enable_x64(True):
        x64 = draw(jax.random.key(1), jnp.float64(40.0), jnp.float64(41.0), (n,), jnp.float64)
        assert x64.dtype == jnp.float64
        # KS at alpha = 1e-4: false-failure rate 0.01%
        pvalue = scipy.stats.kstest(np.asarray(x64), scipy.stats.truncnorm(40.0, 41.0).cdf).pvalue
        assert pvalue > 1e-4


def test_gibbs_1d_matches_quadrature_ks():
    box = poe.make_box(-3.0, 3.0, 1)
    # three dimples; the third Gaussian sits near the edge, so truncation matters
    params = poe.UniGaussParams(
        logit_mix=jnp.array([1.0, 0.0, 2.0]),
        mean=jnp.array([[-1.5], [0.2], [2.8]]),
        log_scale=jnp.log(jnp.array([[0.4], [0.8], [0.5]])),
    )
    x = _final_states(params, box, (N_CHAINS,), n_sweeps=200, seed=11)[:, 0]
    assert np.all((x >= -3.0) & (x <= 3.0))

    grid = np.linspace(-3.0, 3.0, 200_001)
    e = _energy_on_grid(params, box, grid[:, None])
    dens = np.exp(-(e - e.min()))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    # KS test at alpha = 1e-3: false-failure rate 0.1%
    result = scipy.stats.kstest(x, lambda v: np.interp(v, grid, cdf))
    assert result.pvalue > 1e-3, result


def test_gibbs_2d_matches_quadrature_chi_square():
    box, params = BOX_2D, _params_2d()
    x = _final_states(params, box, CHAINS_2D, 100, 12, STEP_2D).reshape(-1, 2)

    n_bins, sub = 10, 100  # 10 x 10 bins, each integrated by a 100 x 100 midpoint rule
    width = 4.0 / (n_bins * sub)
    mid = -2.0 + width * (np.arange(n_bins * sub) + 0.5)
    grid = np.stack(np.meshgrid(mid, mid, indexing="ij"), axis=-1)
    e = _energy_on_grid(params, box, grid)
    mass = np.exp(-(e - e.min())).reshape(n_bins, sub, n_bins, sub).sum(axis=(1, 3))
    expected = N_CHAINS * mass.ravel() / mass.sum()
    assert expected.min() > 5  # every bin large enough for the chi-square approximation

    edges = np.linspace(-2.0, 2.0, n_bins + 1)
    counts = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])[0].ravel()
    assert counts.sum() == N_CHAINS
    # chi-square test at alpha = 1e-3: false-failure rate 0.1%
    result = scipy.stats.chisquare(counts, expected)
    assert result.pvalue > 1e-3, result


def test_no_active_expert_gives_uniform_draws():
    params = _params_2d()._replace(
        logit_mix=jnp.full((4,), -60.0, jnp.float32)
    )  # pi ~ 1e-26: never active
    algorithm = unigauss_gibbs.as_top_level_api(BOX_2D)
    state = algorithm.init(jnp.full(CHAINS_2D + (2,), 0.25), params)
    new, info = STEP_2D(jax.random.key(5), state, params)
    assert np.all(np.asarray(new.expert_choices) == 0)
    assert np.all(np.isposinf(np.asarray(info.product_variance)))
    x = np.asarray(new.position, np.float64).reshape(-1, 2)
    # KS against the uniform marginals at alpha = 1e-4 each: false-failure rate 0.02%
    for d in range(2):
        assert scipy.stats.kstest(x[:, d], scipy.stats.uniform(-2.0, 4.0).cdf).pvalue > 1e-4


def test_leading_chain_dims_and_info():
    params = _params_2d()
    x0 = _uniform_in_box(1, BOX_2D, CHAINS_2D)
    algorithm = unigauss_gibbs.as_top_level_api(BOX_2D)
    state = algorithm.init(x0, params)
    assert state.position.shape == CHAINS_2D + (2,)
    assert state.expert_choices.shape == CHAINS_2D + (4,)
    np.testing.assert_allclose(
        state.expert_choices, jax.jit(poe.responsibilities)(params, x0, BOX_2D), rtol=1e-6
    )
    new, info = STEP_2D(jax.random.key(2), state, params)
    assert new.position.shape == CHAINS_2D + (2,) and new.position.dtype == jnp.float32
    assert set(np.unique(np.asarray(new.expert_choices))) <= {0.0, 1.0}
    poe.validate_position(params, new.position, BOX_2D)  # raises if outside the box
    np.testing.assert_allclose(info.responsibilities, state.expert_choices, rtol=1e-6)
    mean, variance = jax.jit(poe.product_of_active_gaussians)(params, new.expert_choices)
    np.testing.assert_allclose(info.product_mean, mean, rtol=1e-6)
    np.testing.assert_allclose(info.product_variance, variance, rtol=1e-6)


def test_init_rejects_bad_input():
    box = poe.make_box(-1.0, 1.0, 2)
    params = poe.init_params(jax.random.key(0), 3, 2, box=box)
    with pytest.raises(ValueError, match="inside the box"):
        unigauss_gibbs.init(jnp.array([[0.0, 0.0], [0.0, 1.5]]), params, box)
    with pytest.raises(ValueError, match="non-finite"):
        unigauss_gibbs.init(jnp.array([0.0, jnp.nan]), params, box)
    with pytest.raises(TypeError, match="floating-point"):
        unigauss_gibbs.init(jnp.array([0, 1], jnp.int32), params, box)
    with pytest.raises(ValueError, match="dimensions"):
        unigauss_gibbs.init(jnp.zeros(3), params, box)
    with pytest.raises(ValueError, match="low < high"):
        unigauss_gibbs.as_top_level_api(poe.Box(jnp.ones(2), jnp.zeros(2)))
    with pytest.raises(TypeError, match="Box"):
        unigauss_gibbs.build_kernel((-1.0, 1.0))
