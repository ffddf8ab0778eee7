"""Parallel tempering: goodness of fit on bimodal targets, swap bookkeeping, ladders, errors.

Statistical tests run many independent PT chains (one batched state) from one
mode and keep the final state of each chain's beta = 1 replica: independent draws
from the chain's distribution after the run. Chi-square tests (and a z-test) at
alpha = 1e-3: false-failure rate 0.1% per assertion. The claims that plain block
Gibbs (or MALA) with the same budget fails are not statistical tests at a small
alpha but margins far outside the sampling error (the plain chains stay in the
starting mode).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from numpyro_ebm import diagnostics
from numpyro_ebm.energies import bernoulli_rbm, boltzmann, dbm, gaussian_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.evaluation.annealing import GaussianBase
from numpyro_ebm.kernels import (
    binary_gibbs,
    boltzmann_gibbs,
    dbm_gibbs,
    mala,
    rbm_gibbs,
)
from numpyro_ebm.kernels import parallel_tempering as pt
from tests._stats import chisquare_counts, configuration_index

ALPHA = 1e-3
D, WEIGHT = 10, 6.0


def bimodal_rbm():
    """One hidden unit switches all 10 visible units on or off: two modes far apart.

    The biases make the all-on and all-off modes nearly equal (the on-mode holds
    probability 0.69); from the off-mode a Gibbs chain must light up about half
    the units at once to cross, so plain block Gibbs escapes about once in 30,000
    sweeps.
    """
    return bernoulli_rbm.BernoulliRBMParams(
        jnp.full((D, 1), WEIGHT), jnp.full((D,), -WEIGHT / 2), jnp.array([-D * WEIGHT / 2 + 0.8])
    )


def _scan(step, state, params, key, n_steps, record=None):
    @jax.jit
    def run(state, params, key):
        def body(state, k):
            state, info = step(k, state, params)
            return state, None if record is None else record(state, info)

        return jax.lax.scan(body, state, jax.random.split(key, n_steps))

    return run(state, params, key)


def test_bimodal_rbm_pt_matches_enumeration_where_block_gibbs_fails():
    params = bimodal_rbm()
    n_replicas, n_chains, n_steps = 8, 2000, 150
    base_bias = jnp.full((D,), -0.5)  # base-rate path: p_A(v) = prod_i Bernoulli(sigmoid(-0.5))
    betas = pt.geometric_ladder(n_replicas, 0.0)
    algorithm = pt.as_top_level_api(pt.rbm_tempering(base_visible_bias=base_bias))
    state = algorithm.init(jnp.zeros((n_replicas, n_chains, D)), params, betas)
    state, acceptance = _scan(
        algorithm.step,
        state,
        pt.TemperedParams(params, betas),
        jax.random.key(1),
        n_steps,
        lambda s, info: jnp.mean(info.swap_acceptance, axis=0),
    )
    _, log_p = exact.log_probabilities_binary(bernoulli_rbm.free_energy, params, D)
    target = np.asarray(state.replicas.visible[-1])
    counts = np.bincount(configuration_index(target), minlength=2**D)
    assert chisquare_counts(counts, np.exp(log_p)) > ALPHA
    # the hottest replica (beta = 0) is an exact draw of the base at every sweep
    hot = np.asarray(state.replicas.visible[0])
    base_p = 1 / (1 + math.exp(0.5))
    n_on = hot.sum(axis=1).astype(int)
    expected = stats.binom.pmf(np.arange(D + 1), D, base_p)
    assert chisquare_counts(np.bincount(n_on, minlength=D + 1), expected) > ALPHA
    assert state.round_trips.mean() > 5  # replicas did travel the whole ladder
    assert np.all(np.asarray(acceptance)[10:].mean(axis=0) > 0.2)

    # plain block Gibbs, same budget (n_replicas times the sweeps), stays in the off-mode
    gibbs = rbm_gibbs.as_top_level_api()
    gibbs_state, _ = _scan(
        gibbs.step,
        gibbs.init(jnp.zeros((n_chains, D)), params),
        params,
        jax.random.key(2),
        n_steps * n_replicas,
    )
    visible = np.asarray(gibbs_state.visible)
    counts = np.bincount(configuration_index(visible), minlength=2**D)
    assert chisquare_counts(counts, np.exp(log_p)) < 1e-12
    states = np.asarray(exact.binary_states(D))
    on_exact = float(np.exp(log_p)[states.sum(axis=1) > D / 2].sum())
    assert on_exact > 0.6
    assert (visible.sum(axis=1) > D / 2).mean() < 0.2
    assert abs((target.sum(axis=1) > D / 2).mean() - on_exact) < 0.05


def test_fused_rbm_sweep_at_beta_one_is_the_block_gibbs_sweep():
    params = bernoulli_rbm.init_params(jax.random.key(0), 7, 5, weight_scale=1.0)
    tempering = pt.rbm_tempering()
    betas = jnp.array([0.0, 0.5, 1.0])
    v0 = (jax.random.uniform(jax.random.key(1), (3, 4, 7)) < 0.5).astype(jnp.float32)
    states = tempering.init(v0, params, betas)
    key = jax.random.key(2)
    new, infos, gaps = tempering.step(key, states, params, betas)
    gibbs = rbm_gibbs.as_top_level_api()
    one = jax.tree.map(lambda x: x[-1], states)
    expected, expected_info = gibbs.step(jax.random.split(key, 3)[-1], one, params)
    np.testing.assert_array_equal(new.visible[-1], expected.visible)
    np.testing.assert_array_equal(new.hidden[-1], expected.hidden)
    np.testing.assert_allclose(infos.hidden_probs[-1], expected_info.hidden_probs, rtol=1e-6)
    np.testing.assert_allclose(
        gaps[-1], bernoulli_rbm.joint_energy(params, new.visible[-1], new.hidden[-1]), rtol=1e-5
    )


def _gaussian_case():
    params = gaussian_rbm.init_params(jax.random.key(3), 4, 3, weight_scale=0.5)
    return (
        pt.rbm_tempering("gaussian"),
        rbm_gibbs.as_top_level_api("gaussian"),
        params,
        (jax.random.normal(jax.random.key(4), (3, 5, 4))),
    )


def _boltzmann_case():
    params = boltzmann.init_params(jax.random.key(5), 5, scale=1.0)
    x = (jax.random.uniform(jax.random.key(6), (3, 5, 5)) < 0.5).astype(jnp.float32)
    return pt.boltzmann_tempering(), boltzmann_gibbs.as_top_level_api(), params, x


def _dbm_case():
    params = dbm.init_params(jax.random.key(7), 4, 3, 2, weight_scale=1.0)
    x = (jax.random.uniform(jax.random.key(8), (3, 5, 4)) < 0.5).astype(jnp.float32)
    return pt.dbm_tempering(), dbm_gibbs.as_top_level_api(), params, x


def _binary_gibbs_case():
    params = boltzmann.init_params(jax.random.key(9), 5, scale=1.0)
    x = (jax.random.uniform(jax.random.key(10), (3, 5, 5)) < 0.5).astype(jnp.float32)
    tempering = pt.tempered_sampler(boltzmann.energy, binary_gibbs.as_top_level_api)
    # at beta = 1 the tempered energy is 1 * E: the same kernel on the plain energy
    return tempering, binary_gibbs.as_top_level_api(boltzmann.energy), params, x


@pytest.mark.parametrize(
    "make_case",
    [_gaussian_case, _boltzmann_case, _dbm_case, _binary_gibbs_case],
    ids=["gaussian_rbm", "boltzmann", "dbm", "binary_gibbs"],
)
def test_generic_tempering_runs_the_base_kernel_at_beta_one(make_case):
    tempering, base, params, positions = make_case()
    betas = jnp.array([0.25, 0.5, 1.0])
    states = tempering.init(positions, params, betas)
    key = jax.random.key(11)
    new, _, gaps = tempering.step(key, states, params, betas)
    one = jax.tree.map(lambda x: x[-1], states)
    expected, _ = base.step(jax.random.split(key, 3)[-1], one, params)
    for got, want in zip(jax.tree.leaves(new), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got[-1], want, rtol=1e-6, atol=1e-6)
    assert gaps.shape == (3, 5)


def test_gaussian_rbm_tempered_params_are_beta_times_the_energy():
    params = gaussian_rbm.init_params(jax.random.key(12), 4, 3, weight_scale=0.7)
    params = params._replace(log_sigma=jnp.array([0.1, -0.2, 0.3, 0.0]))
    v = jax.random.normal(jax.random.key(13), (6, 4))
    h = (jax.random.uniform(jax.random.key(14), (6, 3)) < 0.5).astype(jnp.float32)
    tempering = pt.rbm_tempering("gaussian")
    states = tempering.init(jnp.stack([v, v]), params, jnp.array([0.3, 1.0]))
    assert states.visible.shape == (2, 6, 4)
    # W sqrt(beta), c beta, sigma / sqrt(beta) is exactly beta * E(v, h)
    beta = 0.3
    sqrt = math.sqrt(beta)
    scaled = params._replace(
        W=sqrt * params.W, c=beta * params.c, log_sigma=params.log_sigma - 0.5 * math.log(beta)
    )
    np.testing.assert_allclose(
        gaussian_rbm.joint_energy(scaled, v, h),
        beta * gaussian_rbm.joint_energy(params, v, h),
        rtol=1e-5,
        atol=1e-5,
    )


def _deo_reference(n_replicas, n_steps):
    """Slot occupancy and round trips under DEO when every swap is accepted."""
    slots = list(range(n_replicas))  # slots[k] = replica at slot k
    direction = {r: (1 if r == 0 else 0) for r in range(n_replicas)}
    trips = 0
    history = []
    for t in range(n_steps):
        for k in range(t % 2, n_replicas - 1, 2):
            slots[k], slots[k + 1] = slots[k + 1], slots[k]
        if direction[slots[0]] == -1:
            trips += 1
        direction[slots[0]] = 1
        if direction[slots[-1]] == 1:
            direction[slots[-1]] = -1
        history.append((list(slots), trips))
    return history


def test_deo_swaps_round_trips_and_ladder_index():
    """Equal temperatures accept every swap: DEO is then a deterministic permutation."""
    n_replicas, n_steps = 4, 13
    params = boltzmann.init_params(jax.random.key(15), 3, scale=0.5)
    algorithm = pt.as_top_level_api(pt.boltzmann_tempering())
    betas = jnp.ones(n_replicas)
    x0 = jnp.zeros((n_replicas, 2, 3))
    state = algorithm.init(x0, params, betas)
    _, (index, ladder, trips, swapped, acceptance) = _scan(
        algorithm.step,
        state,
        pt.TemperedParams(params, betas),
        jax.random.key(16),
        n_steps,
        lambda s, info: (
            s.replica_index,
            info.ladder_index,
            info.round_trips,
            info.is_swapped,
            info.swap_acceptance,
        ),
    )
    np.testing.assert_array_equal(acceptance, 1.0)
    for t, (slots, n_trips) in enumerate(_deo_reference(n_replicas, n_steps)):
        for chain in range(2):
            np.testing.assert_array_equal(index[t, :, chain], slots)
            np.testing.assert_array_equal(ladder[t, chain][np.asarray(slots)], np.arange(4))
            assert trips[t, chain] == n_trips
        assert swapped[t, 0].tolist() == [k % 2 == t % 2 for k in range(n_replicas - 1)]
    assert trips[-1, 0] >= 1


def test_infos_reach_arviz_sample_stats_with_ladder_dims():
    params = bimodal_rbm()
    n_replicas, n_chains = 4, 3
    betas = jnp.array([0.0, 0.2, 0.5, 1.0])
    algorithm = pt.as_top_level_api(pt.rbm_tempering(), swap="seo")
    state = algorithm.init(jnp.zeros((n_replicas, n_chains, D)), params, betas)
    _, (states, infos) = _scan(
        algorithm.step,
        state,
        pt.TemperedParams(params, betas),
        jax.random.key(17),
        6,
        lambda s, info: (s, info),
    )
    idata = diagnostics.to_inference_data(
        pt.target_replica(states.replicas, axis=1), infos, keep_full_state=False
    )
    stats_ = idata.sample_stats
    assert stats_["swap_acceptance"].dims == ("chain", "draw", "ladder_pair")
    assert stats_["swap_acceptance"].shape == (n_chains, 6, n_replicas - 1)
    assert stats_["ladder_index"].dims == ("chain", "draw", "replica")
    assert stats_["round_trips"].dims == ("chain", "draw")
    assert stats_["barrier"].shape == (n_chains, 6)
    assert stats_["local_barrier"].dims == ("chain", "draw", "ladder_pair")
    np.testing.assert_allclose(
        stats_["barrier"].values, (1 - stats_["swap_acceptance"].values).sum(-1), rtol=1e-5
    )


def test_tune_ladder_equalises_the_cumulative_barrier():
    betas = jnp.array([0.0, 0.25, 0.5, 0.75, 1.0])
    rates = np.array([0.05, 0.05, 0.3, 0.6])
    tuning = pt.tune_ladder(betas, rates)
    assert tuning.barrier == pytest.approx(1.0)
    assert tuning.suggested_n_replicas == 3
    new = np.asarray(tuning.inverse_temperatures)
    assert new[0] == 0.0 and new[-1] == 1.0 and np.all(np.diff(new) > 0)
    # the interpolated cumulative barrier at the new ladder is equally spaced
    levels = np.interp(new, np.asarray(betas), tuning.cumulative_barrier)
    np.testing.assert_allclose(np.diff(levels), 0.25, atol=1e-6)
    assert tuning.round_trip_rate == pytest.approx(
        1 / (2 + 2 * np.sum(rates / (1 - rates))), rel=1e-9
    )
    assert len(pt.tune_ladder(betas, rates, n_replicas=9).inverse_temperatures) == 9


def test_adapt_ladder_evens_out_rejection_rates():
    """A uniform ladder on the bimodal RBM rejects most swaps near beta = 1 and almost
    none near 0; after pilot rounds the rates are much closer to equal."""
    params = bimodal_rbm()
    n_replicas, n_chains = 6, 200
    betas = jnp.linspace(0.0, 1.0, n_replicas)
    algorithm = pt.as_top_level_api(pt.rbm_tempering())
    state = algorithm.init(jnp.zeros((n_replicas, n_chains, D)), params, betas)
    state, tuned, tuning = pt.adapt_ladder(
        jax.random.key(19), algorithm, state, params, betas, n_rounds=3, n_steps=100
    )

    def rates(ladder):
        _, r = _scan(
            algorithm.step,
            state,
            pt.TemperedParams(params, ladder),
            jax.random.key(20),
            200,
            lambda s, info: jnp.mean(1 - info.swap_acceptance, axis=0),
        )
        return np.asarray(r).mean(axis=0)

    spread_uniform = np.ptp(rates(betas))
    spread_tuned = np.ptp(rates(tuned))
    assert spread_tuned < 0.5 * spread_uniform
    assert 2 <= tuning.suggested_n_replicas <= 12
    assert np.asarray(tuned)[-1] == 1.0 and np.asarray(tuned)[0] == 0.0


def mixture_energy(params, x):
    """1-D mixture 0.3 N(-3, 0.5^2) + 0.7 N(3, 0.5^2) (up to a constant), modes 12 sd apart."""
    loc, scale = params
    z = (x[..., 0, None] - loc) / scale
    return -jax.nn.logsumexp(-0.5 * z**2 + jnp.log(jnp.array([0.3, 0.7])), axis=-1)


def test_continuous_bimodal_pt_over_mala_matches_quadrature():
    params = (jnp.array([-3.0, 3.0]), jnp.array(0.5))
    exact_mean = diagnostics.quadrature_moments(mixture_energy, params, [(-8.0, 8.0)])[
        "mean_activation"
    ]
    n_replicas, n_chains, n_steps = 8, 500, 300
    base = GaussianBase(jnp.zeros(1), jnp.full((1,), 4.0))
    tempering = pt.tempered_sampler(
        mixture_energy, lambda fn: mala.as_top_level_api(fn, step_size=0.4), base=base
    )
    algorithm = pt.as_top_level_api(tempering)
    betas = pt.geometric_ladder(n_replicas, 0.0)
    x0 = jnp.full((n_chains, n_replicas, 1), -3.0)
    state = jax.vmap(algorithm.init, in_axes=(0, None, None))(x0, params, betas)
    step = jax.vmap(algorithm.step, in_axes=(0, 0, None))

    def batched_step(key, state, tempered):
        return step(jax.random.split(key, n_chains), state, tempered)

    state, _ = _scan(
        batched_step, state, pt.TemperedParams(params, betas), jax.random.key(21), n_steps
    )
    x = np.asarray(state.replicas.position[:, -1, 0])
    z = (x.mean() - exact_mean) / (x.std(ddof=1) / math.sqrt(n_chains))
    assert abs(z) < stats.norm.ppf(1 - ALPHA / 2)

    # plain MALA with the same budget stays in the left mode
    plain = mala.as_top_level_api(mixture_energy, step_size=0.4)
    plain_state = jax.vmap(plain.init, in_axes=(0, None))(jnp.full((n_chains, 1), -3.0), params)
    plain_step = jax.vmap(plain.step, in_axes=(0, 0, None))
    plain_state, _ = _scan(
        lambda k, s, p: plain_step(jax.random.split(k, n_chains), s, p),
        plain_state,
        params,
        jax.random.key(22),
        n_steps * n_replicas,
    )
    assert exact_mean == pytest.approx(1.2, abs=1e-3)
    assert np.mean(np.asarray(plain_state.position[:, 0]) > 0) < 0.05


def test_bad_input_raises_clear_errors():
    params = bimodal_rbm()
    tempering = pt.rbm_tempering()
    x = jnp.zeros((3, 2, D))
    with pytest.raises(ValueError, match="non-decreasing"):
        pt.init(x, params, jnp.array([0.0, 1.0, 0.5]), tempering)
    with pytest.raises(ValueError, match="must be 1"):
        pt.init(x, params, jnp.array([0.0, 0.5, 0.9]), tempering)
    with pytest.raises(ValueError, match="at least 2"):
        pt.init(x[:1], params, jnp.array([1.0]), tempering)
    with pytest.raises(ValueError, match="ladder axis first"):
        pt.init(x, params, jnp.array([0.0, 1.0]), tempering)
    with pytest.raises(ValueError, match="> 0"):
        pt.init(
            jnp.zeros((2, 1, 4)),
            gaussian_rbm.init_params(jax.random.key(0), 4, 2),
            jnp.array([0.0, 1.0]),
            pt.rbm_tempering("gaussian"),
        )
    with pytest.raises(ValueError, match="unknown swap"):
        pt.build_kernel(tempering, swap="even")
    with pytest.raises(ValueError, match="unknown RBM model"):
        pt.rbm_tempering("binary")
    with pytest.raises(ValueError, match="Bernoulli RBM only"):
        pt.rbm_tempering("gaussian", base_visible_bias=jnp.zeros(4))
    with pytest.raises(TypeError, match="Tempering"):
        pt.as_top_level_api(rbm_gibbs.as_top_level_api())
    algorithm = pt.as_top_level_api(tempering)
    state = algorithm.init(x, params, jnp.array([0.0, 0.5, 1.0]))
    with pytest.raises(TypeError, match="inverse temperatures"):
        algorithm.step(jax.random.key(0), state, params)
    with pytest.raises(ValueError, match="binary"):
        algorithm.init(x + 0.5, params, jnp.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="rejection_rates"):
        pt.tune_ladder(jnp.array([0.0, 0.5, 1.0]), [0.1])
    with pytest.raises(ValueError, match="n_replicas"):
        pt.geometric_ladder(1, 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("swap", pt.SWAPS)
def test_boltzmann_machine_pt_matches_enumeration_for_every_swap_scheme(swap):
    """A ferromagnetic Boltzmann machine (two modes, all-on and all-off) with each swap scheme."""
    n_units, n_replicas, n_chains, n_steps = 8, 6, 4000, 300
    J = jnp.full((n_units, n_units), 1.2) * (1 - jnp.eye(n_units))
    params = boltzmann.BoltzmannParams(J, jnp.full((n_units,), -1.2 * (n_units - 1) / 2 + 0.1))
    betas = pt.geometric_ladder(n_replicas, 0.0)
    algorithm = pt.as_top_level_api(pt.boltzmann_tempering(), swap=swap)
    state = algorithm.init(jnp.zeros((n_replicas, n_chains, n_units)), params, betas)
    state, _ = _scan(
        algorithm.step, state, pt.TemperedParams(params, betas), jax.random.key(23), n_steps
    )
    _, log_p = exact.log_probabilities_binary(boltzmann.energy, params, n_units)
    x = np.asarray(state.replicas.position[-1])
    counts = np.bincount(configuration_index(x), minlength=2**n_units)
    assert chisquare_counts(counts, np.exp(log_p)) > ALPHA


@pytest.mark.slow
def test_dbm_pt_joint_configurations_match_enumeration():
    n_visible, n_h1, n_h2 = 4, 3, 2
    params = dbm.init_params(jax.random.key(24), n_visible, n_h1, n_h2, weight_scale=2.0)
    n_replicas, n_chains, n_steps = 4, 20_000, 100
    betas = jnp.array([0.1, 0.4, 0.7, 1.0])
    algorithm = pt.as_top_level_api(pt.dbm_tempering())
    state = algorithm.init(jnp.zeros((n_replicas, n_chains, n_visible)), params, betas)
    state, _ = _scan(
        algorithm.step, state, pt.TemperedParams(params, betas), jax.random.key(25), n_steps
    )
    r = pt.target_replica(state.replicas)
    joint = np.concatenate([np.asarray(r.visible), np.asarray(r.hidden1), np.asarray(r.hidden2)], 1)
    n = n_visible + n_h1 + n_h2

    def joint_energy(p, x):
        return dbm.joint_energy(
            p, x[..., :n_visible], x[..., n_visible : n_visible + n_h1], x[..., n_visible + n_h1 :]
        )

    _, log_p = exact.log_probabilities_binary(joint_energy, params, n)
    counts = np.bincount(configuration_index(joint), minlength=2**n)
    assert chisquare_counts(counts, np.exp(log_p)) > ALPHA
