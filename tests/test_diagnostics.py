"""ArviZ conversion of chains: layout, names, values, plots and R-hat behaviour.

Everything runs headless (matplotlib's Agg backend); every plot is written to a
PNG file in ``tmp_path``. The same tests run on ArviZ 0.23 (``InferenceData``) and
ArviZ 1.x (``DataTree``); ``numpyro_ebm._arviz`` lists groups and draws ArviZ's
plots on either.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from blackjax.base import SamplingAlgorithm

matplotlib.use("Agg", force=True)

import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

from numpyro_ebm import _arviz, diagnostics, potentials  # noqa: E402
from numpyro_ebm.energies import bernoulli_rbm  # noqa: E402
from numpyro_ebm.kernels import hmc, nuts, random_walk, rbm_gibbs  # noqa: E402

SUMMARY_VARS = ["free_energy", "mean_activation", "coordinate", "projection"]


def _gaussian_energy(params, x):
    """Isotropic Gaussian with standard deviations ``params`` (one per coordinate)."""
    return 0.5 * jnp.sum((x / params) ** 2)


GAUSS_SCALES = jnp.array([1.0, 2.0, 0.5], jnp.float32)
DIRECTIONS = {"sum": np.ones(3), "diff": np.array([1.0, -1.0, 0.0])}


def _save(figure, path):
    figure.savefig(path)
    plt.close("all")
    return path


# --------------------------------------------------------------------------------------
# run_chains semantics
# --------------------------------------------------------------------------------------


class _CounterInfo(NamedTuple):
    count: jax.Array


def _counter():
    """A deterministic 'sampler' that adds ``params`` per step: reveals burn-in and thinning."""

    def init(position, params):
        return position

    def step(rng_key, state, params):
        new = state + params
        return new, _CounterInfo(new[..., 0])

    return SamplingAlgorithm(init, step)


@pytest.mark.parametrize("batched", [False, True])
def test_run_chains_burn_in_thin_and_layout(batched):
    x0 = jnp.array([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]], jnp.float32)
    states, infos = diagnostics.run_chains(
        jax.random.key(0), _counter(), x0, 1.0, 6, burn_in=3, thin=2, batched=batched
    )
    assert states.shape == (3, 3, 2)  # (draw, chain, unit)
    # burn-in 3 steps, then every second of 6 steps: offsets 5, 7, 9
    expected = np.asarray(x0)[None, :, 0] + np.array([5.0, 7.0, 9.0])[:, None]
    np.testing.assert_array_equal(np.asarray(states[..., 0]), expected)
    np.testing.assert_array_equal(np.asarray(infos.count), expected)
    idata = diagnostics.to_inference_data(states, infos)
    np.testing.assert_array_equal(idata.state["position"].values[..., 0], expected.T)
    np.testing.assert_array_equal(idata.sample_stats["count"].values, expected.T)


def test_run_chains_rejects_bad_arguments():
    x0 = jnp.zeros((2, 2), jnp.float32)
    with pytest.raises(ValueError, match="multiple of thin"):
        diagnostics.run_chains(jax.random.key(0), _counter(), x0, 1.0, 5, thin=2)
    with pytest.raises(ValueError, match="burn_in"):
        diagnostics.run_chains(jax.random.key(0), _counter(), x0, 1.0, 4, burn_in=-1)
    with pytest.raises(ValueError, match="non-finite"):
        diagnostics.run_chains(jax.random.key(0), _counter(), x0.at[1, 0].set(jnp.nan), 1.0, 4)


# --------------------------------------------------------------------------------------
# Conversion from this project's RBM Gibbs kernel
# --------------------------------------------------------------------------------------

D, K = 12, 6


@pytest.fixture(scope="module")
def rbm_run():
    params = bernoulli_rbm.init_params(jax.random.key(0), D, K, weight_scale=0.5)
    v0 = (jax.random.uniform(jax.random.key(1), (3, D)) < 0.5).astype(jnp.float32)
    states, infos = diagnostics.run_chains(
        jax.random.key(2), rbm_gibbs.as_top_level_api(), v0, params, 40, burn_in=5, batched=True
    )
    directions = np.asarray(jax.random.normal(jax.random.key(3), (2, D)))
    return params, states, infos, directions


def test_rbm_gibbs_conversion_names_dims_and_values(rbm_run):
    params, states, infos, directions = rbm_run
    idata = diagnostics.to_inference_data(
        states,
        infos,
        energy_fn=bernoulli_rbm.free_energy,
        params=params,
        coordinates={"first": 0, "last": D - 1},
        projections=directions,
    )
    # ArviZ's native container: DataTree on the 1.x line, InferenceData on 0.23
    native = xr.DataTree if int(az.__version__.split(".")[0]) >= 1 else az.InferenceData
    assert type(idata) is native
    assert _arviz.group_names(idata) == ["posterior", "sample_stats", "state"]
    post = idata.posterior
    assert list(post.data_vars) == SUMMARY_VARS  # the full state is not in the posterior
    assert dict(post.sizes) == {"chain": 3, "draw": 40, "chosen_unit": 2, "direction": 2}
    assert post["free_energy"].dims == ("chain", "draw")
    assert list(post["chosen_unit"].values) == ["first", "last"]
    assert list(idata.state.data_vars) == ["position"]
    assert idata.state["position"].dims == ("chain", "draw", "unit")
    # the scan layout (draw, chain, unit) is transposed to (chain, draw, unit)
    state = np.asarray(states.visible).swapaxes(0, 1)
    np.testing.assert_array_equal(idata.state["position"].values, state)
    free = np.asarray(bernoulli_rbm.free_energy(params, jnp.asarray(state)))
    np.testing.assert_allclose(post["free_energy"].values, free, rtol=1e-5)
    np.testing.assert_allclose(post["mean_activation"].values, state.mean(-1), rtol=1e-6)
    np.testing.assert_array_equal(post["coordinate"].values, state[..., [0, D - 1]])
    np.testing.assert_allclose(
        post["projection"].values, state @ directions.T.astype(np.float32), rtol=1e-5, atol=1e-5
    )
    # RBMGibbsInfo has no per-draw scalar, so lp (= -free energy) is the only sample stat
    assert list(idata.sample_stats.data_vars) == ["lp"]
    np.testing.assert_allclose(idata.sample_stats["lp"].values, -free, rtol=1e-5)


def test_state_group_per_unit_summary_netcdf_and_integer_positions(rbm_run, tmp_path):
    params, states, infos, _ = rbm_run
    kwargs = dict(energy_fn=bernoulli_rbm.free_energy, params=params)
    idata = diagnostics.to_inference_data(states, infos, **kwargs)
    # per-unit diagnostics, when wanted, come from the state group
    per_unit = az.summary(idata, group="state")
    assert list(per_unit.index) == [f"position[{i}]" for i in range(D)]
    # the custom group survives a netCDF round trip
    path = tmp_path / "chains.nc"
    idata.to_netcdf(str(path))
    loaded = az.from_netcdf(str(path))
    assert _arviz.group_names(loaded) == ["posterior", "sample_stats", "state"]
    np.testing.assert_array_equal(loaded.state["position"].values, idata.state["position"].values)
    # integer states (NumPyro's discrete sites) are summarised as floats, under strict promotion
    as_int = diagnostics.to_inference_data(np.asarray(states.visible).astype(np.int32), **kwargs)
    np.testing.assert_array_equal(as_int.posterior["free_energy"], idata.posterior["free_energy"])
    assert as_int.state["position"].dtype == np.int32


def test_chain_axis_conventions_agree(rbm_run):
    params, states, _, _ = rbm_run
    kwargs = dict(energy_fn=bernoulli_rbm.free_energy, params=params, energy_name="free_energy")
    draw_chain = diagnostics.to_inference_data(states, **kwargs)
    swapped = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), states)
    chain_draw = diagnostics.to_inference_data(swapped, chain_axis=0, **kwargs)
    for name in ("free_energy", "mean_activation"):
        np.testing.assert_array_equal(draw_chain.posterior[name], chain_draw.posterior[name])
    np.testing.assert_array_equal(draw_chain.state["position"], chain_draw.state["position"])
    one = diagnostics.to_inference_data(
        jax.tree.map(lambda x: x[:, 1], states), chain_axis=None, **kwargs
    )
    assert dict(one.posterior.sizes)["chain"] == 1
    # same values up to float32 rounding (the energy is vectorised over a different batch)
    np.testing.assert_allclose(
        one.posterior["free_energy"].values[0],
        draw_chain.posterior["free_energy"].values[1],
        rtol=1e-6,
    )


def test_raw_positions_pytree_and_multi_index():
    rng = np.random.default_rng(0)
    lattice = rng.normal(size=(5, 2, 4, 4)).astype(np.float32)  # (draw, chain, H, W)
    idata = diagnostics.to_inference_data(lattice, coordinates=[(1, 2), (3, 0)])
    assert list(idata.posterior["chosen_unit"].values) == ["1,2", "3,0"]
    np.testing.assert_array_equal(
        idata.posterior["coordinate"].values, lattice.swapaxes(0, 1)[..., [1, 3], [2, 0]]
    )
    assert idata.state["position"].dims == ("chain", "draw", "unit_dim_0", "unit_dim_1")

    tree = {"a": rng.normal(size=(5, 2, 2)), "b": rng.normal(size=(5, 2, 3))}
    tree = jax.tree.map(lambda x: x.astype(np.float32), tree)
    idata = diagnostics.to_inference_data(tree, coordinates=[3])
    flat = np.concatenate([tree["a"], tree["b"]], -1).swapaxes(0, 1)
    np.testing.assert_allclose(idata.posterior["mean_activation"].values, flat.mean(-1), 1e-6)
    np.testing.assert_array_equal(idata.posterior["coordinate"].values[..., 0], flat[..., 3])
    assert list(idata.state.data_vars) == ["position_a", "position_b"]
    assert idata.state["position_b"].dims == ("chain", "draw", "position_b_dim_0")
    np.testing.assert_array_equal(idata.state["position_a"].values, tree["a"].swapaxes(0, 1))


def test_clear_errors(rbm_run):
    params, states, infos, directions = rbm_run
    with pytest.raises(ValueError, match="chain_axis"):
        diagnostics.to_inference_data(states, chain_axis=2)
    with pytest.raises(ValueError, match="12 units"):
        diagnostics.to_inference_data(states, projections=np.ones((2, D + 1)))
    with pytest.raises(IndexError, match="outside"):
        diagnostics.to_inference_data(states, coordinates=[D])
    # issue 26: coordinates=True was a bare "'bool' object is not iterable"
    for wrong in (True, 3, "0"):
        with pytest.raises(TypeError, match="coordinates must be a sequence of flat indices"):
            diagnostics.to_inference_data(states, coordinates=wrong)
    with pytest.raises(ValueError, match="which field"):
        diagnostics.to_inference_data(infos)  # an info has neither position nor visible
    with pytest.raises(ValueError, match="scalar energy"):
        diagnostics.to_inference_data(
            states, energy_fn=lambda p, v: bernoulli_rbm.hidden_logits(p, v), params=params
        )
    summaries = diagnostics.summarize(states, batch_ndim=2)
    with pytest.raises(TypeError, match="already a ChainSummaries"):
        diagnostics.to_inference_data(summaries, projections=directions)


N_VISIBLE_784 = 784
SUMMARY_ROWS_784 = [
    "free_energy",
    "mean_activation",
    "coordinate[406]",
    "coordinate[100]",
    "projection[pc1]",
    "projection[pc2]",
    "projection[pc3]",
]


@pytest.fixture(scope="module")
def run_784():
    """Four Gibbs chains of a 784-16 RBM: the summaries recorded inside the scan, and the
    full states (784 units) for comparison."""
    params = bernoulli_rbm.init_params(jax.random.key(5), N_VISIBLE_784, 16, weight_scale=0.05)
    v0 = (jax.random.uniform(jax.random.key(6), (4, N_VISIBLE_784)) < 0.3).astype(jnp.float32)
    pcs = np.asarray(jax.random.normal(jax.random.key(7), (3, N_VISIBLE_784)))
    options = dict(
        energy_fn=bernoulli_rbm.free_energy,
        params=params,
        coordinates=[406, 100],
        projections={"pc1": pcs[0], "pc2": pcs[1], "pc3": pcs[2]},
    )
    algorithm = rbm_gibbs.as_top_level_api()
    record = functools.partial(diagnostics.summarize, keep_full_state=False, **options)
    run = functools.partial(
        diagnostics.run_chains, jax.random.key(8), algorithm, v0, params, 50, batched=True
    )
    summaries = run(record=record)
    states, infos = run()
    return summaries, states, diagnostics.to_inference_data(states, infos, **options)


def test_summaries_only_record_matches_full_state_784(run_784):
    """The memory-bounded path (summaries recorded inside the scan, no 784-dim state
    stored) gives the same numbers as summarising the stored states afterwards."""
    summaries, states, full = run_784
    assert isinstance(summaries, diagnostics.ChainSummaries)
    assert all(N_VISIBLE_784 not in leaf.shape for leaf in jax.tree.leaves(summaries))
    small = diagnostics.to_inference_data(summaries)
    assert _arviz.group_names(small) == ["posterior", "sample_stats"]  # no state group

    # equal up to float32 rounding: sums over 784 units in a different batch layout
    for name in SUMMARY_VARS:
        np.testing.assert_allclose(
            small.posterior[name], full.posterior[name], rtol=1e-5, atol=1e-4
        )
    np.testing.assert_allclose(small.sample_stats["lp"], full.sample_stats["lp"], rtol=1e-5)

    table = az.summary(small)  # no var_names needed: only the named summaries are there
    assert list(table.index) == SUMMARY_ROWS_784
    assert np.all(np.isfinite(table[["r_hat", "ess_bulk", "ess_tail"]].to_numpy()))


def test_full_784_state_is_kept_outside_the_posterior(run_784):
    """With the full state kept, plain az.summary still has the 7 summary rows (not 784
    pixel rows), and the state is in its own group, unchanged."""
    _, states, full = run_784
    assert _arviz.group_names(full) == ["posterior", "sample_stats", "state"]
    assert list(full.posterior.data_vars) == SUMMARY_VARS
    assert list(az.summary(full).index) == SUMMARY_ROWS_784
    position = full.state["position"]
    assert position.dims == ("chain", "draw", "unit")
    assert position.shape == (4, 50, N_VISIBLE_784)
    np.testing.assert_array_equal(position.values, np.asarray(states.visible).swapaxes(0, 1))
    # the state group is an ordinary ArviZ group: extract stacks its draws over chains
    stacked = az.extract(full, group="state", var_names="position")
    assert stacked.shape == (N_VISIBLE_784, 4 * 50)


@pytest.mark.parametrize("plot", ["plot_trace", "plot_rank"])
def test_arviz_plots_of_a_784_unit_chain_show_only_the_summaries(run_784, plot, tmp_path):
    """Warnings are errors in this suite: no "too many subplots" warning, no var_names."""
    _, _, full = run_784
    figure = _arviz.plot(plot, full)
    # plot_trace: one row of two panels per summary variable (vector entries overlaid);
    # plot_rank: one panel per scalar entry. Either way nothing of the 784 units.
    expected = 2 * len(SUMMARY_VARS) if plot == "plot_trace" else len(SUMMARY_ROWS_784)
    assert sum(ax.has_data() for ax in figure.axes) == expected  # plot_rank pads its grid
    path = _save(figure, tmp_path / f"{plot}_784.png")
    assert path.stat().st_size > 0


# --------------------------------------------------------------------------------------
# BlackJAX adapters (HMC, NUTS)
# --------------------------------------------------------------------------------------


def test_hmc_adapter_sample_stats():
    step_size = 0.3
    algorithm = hmc.as_top_level_api(_gaussian_energy, step_size, num_integration_steps=5)
    states, infos = diagnostics.run_chains(
        jax.random.key(0), algorithm, jnp.zeros((4, 3), jnp.float32), GAUSS_SCALES, 200
    )
    idata = diagnostics.to_inference_data(
        states, infos, energy_fn=_gaussian_energy, params=GAUSS_SCALES, step_size=step_size
    )
    stats = idata.sample_stats
    assert set(stats.data_vars) == {
        "lp",
        "acceptance_rate",
        "is_accepted",
        "diverging",
        "energy",
        "n_steps",
        "step_size",
    }
    assert all(stats[name].dims == ("chain", "draw") for name in stats.data_vars)
    assert stats["diverging"].dtype == bool
    assert np.all(stats["n_steps"].values == 5)
    assert np.all(stats["step_size"].values == step_size)
    # lp is the state's cached log density, i.e. minus the model energy of the position
    np.testing.assert_allclose(
        stats["lp"].values, -idata.posterior["free_energy"].values, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(stats["lp"].values, np.asarray(states.logdensity).T, rtol=0, atol=0)
    assert np.all((stats["acceptance_rate"].values >= 0) & (stats["acceptance_rate"] <= 1))


@pytest.fixture(scope="module")
def nuts_idata():
    step_size = 0.4
    algorithm = nuts.as_top_level_api(_gaussian_energy, step_size, max_num_doublings=4)
    x0 = jnp.array([[-2.0, 0.0, 1.0], [2.0, 3.0, -1.0], [0.0, -3.0, 0.0], [1.0, 1.0, 1.0]])
    states, infos = diagnostics.run_chains(
        jax.random.key(1), algorithm, x0, GAUSS_SCALES, 300, burn_in=100
    )
    return diagnostics.to_inference_data(
        states,
        infos,
        energy_fn=_gaussian_energy,
        params=GAUSS_SCALES,
        coordinates=[0, 2],
        projections=DIRECTIONS,
        step_size=step_size,
    )


def test_nuts_adapter_sample_stats(nuts_idata):
    stats = nuts_idata.sample_stats
    assert {"lp", "acceptance_rate", "diverging", "energy", "n_steps", "tree_depth"} <= set(
        stats.data_vars
    )
    assert "is_turning" in stats  # a per-draw info field without an ArviZ name keeps its own
    depth, steps = stats["tree_depth"].values, stats["n_steps"].values
    # a trajectory of depth d has at most 2^d - 1 leapfrog steps: the two are not swapped
    assert np.all((depth >= 1) & (depth <= 4))
    assert np.all((steps >= 1) & (steps <= 2**depth - 1))
    # Hamiltonian energy = potential + kinetic >= the potential (E >= 0 here)
    assert np.all(stats["energy"].values >= 0)


def test_summary_is_finite_for_the_summaries(nuts_idata):
    table = az.summary(nuts_idata)  # the full state is in its own group, not summarised
    assert list(table.index) == [
        "free_energy",
        "mean_activation",
        "coordinate[0]",
        "coordinate[2]",
        "projection[sum]",
        "projection[diff]",
    ]
    assert np.all(np.isfinite(table[["r_hat", "ess_bulk", "ess_tail"]].to_numpy()))


# panels with data: trace: 2 per summary variable (energy, mean_activation, coordinate,
# projection); rank: one per scalar row (6); autocorr: one per row and chain (6 x 4)
NUTS_PANELS = {"plot_trace": 8, "plot_autocorr": 24, "plot_rank": 6, "plot_energy": 1}


@pytest.mark.parametrize("plot", ["plot_trace", "plot_autocorr", "plot_rank", "plot_energy"])
def test_arviz_plots_render(nuts_idata, plot, tmp_path):
    figure = _arviz.plot(plot, nuts_idata)
    axes = figure.get_axes()
    assert any(ax.has_data() for ax in axes)
    if not _arviz.is_datatree_line():
        # the panel counts describe ArviZ 0.23's layout; 1.x lays its plots out differently
        assert sum(ax.has_data() for ax in axes) == NUTS_PANELS[plot]
        if plot == "plot_trace":
            # the first panel pair is the energy: its trace lines are the posterior's values
            lines = axes[1].get_lines()
            energy = nuts_idata.posterior["free_energy"].values  # (chain, draw)
            traces = [
                line.get_ydata() for line in lines if len(line.get_ydata()) == energy.shape[1]
            ]
            assert len(traces) == energy.shape[0]
            for trace, chain in zip(traces, energy, strict=True):
                np.testing.assert_allclose(trace, chain)
    path = _save(figure, tmp_path / f"{plot}.png")
    assert path.stat().st_size > 0


@pytest.mark.parametrize("plot", ["plot_trace", "plot_autocorr", "plot_rank"])
def test_arviz_plots_render_for_gibbs_chains(rbm_run, plot, tmp_path):
    params, states, infos, directions = rbm_run
    idata = diagnostics.to_inference_data(
        states,
        infos,
        energy_fn=bernoulli_rbm.free_energy,
        params=params,
        projections=directions,
    )
    path = _save(_arviz.plot(plot, idata), tmp_path / f"{plot}.png")
    assert path.stat().st_size > 0


# --------------------------------------------------------------------------------------
# NumPyro MCMC
# --------------------------------------------------------------------------------------


# NumPyro's NUTS divides a float by an int inside its step (numpyro/infer/hmc.py),
# which the suite's strict dtype promotion rejects.
@pytest.mark.standard_promotion
def test_from_numpyro_adds_summaries_and_sample_stats(tmp_path):
    from numpyro.infer import MCMC, NUTS

    potential = potentials.potential_fn(_gaussian_energy, GAUSS_SCALES, site="x")
    mcmc = MCMC(
        NUTS(potential_fn=potential),
        num_warmup=100,
        num_samples=100,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.key(0),
        init_params={"x": jnp.zeros((2, 3), jnp.float32)},
        extra_fields=diagnostics.NUMPYRO_EXTRA_FIELDS,
    )
    idata = diagnostics.from_numpyro(
        mcmc, energy_fn=_gaussian_energy, params=GAUSS_SCALES, projections=DIRECTIONS
    )
    assert type(idata) is _arviz.container_type()
    post = idata.posterior
    assert list(post.data_vars) == ["free_energy", "mean_activation", "projection"]
    assert list(idata.state.data_vars) == ["x"]  # the state site, moved out of the posterior
    assert idata.state["x"].dims == ("chain", "draw", "x_dim_0")
    assert post["free_energy"].dims == ("chain", "draw")
    assert dict(post.sizes)["chain"] == 2 and dict(post.sizes)["draw"] == 100
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    np.testing.assert_allclose(post["mean_activation"].values, x.mean(-1), rtol=1e-5, atol=1e-7)
    stats = idata.sample_stats
    assert {
        "lp",
        "energy",
        "diverging",
        "acceptance_rate",
        "step_size",
        "n_steps",
        "tree_depth",
    } <= set(stats.data_vars)
    # ArviZ's lp is minus NumPyro's potential energy, here the model energy
    np.testing.assert_allclose(
        stats["lp"].values, -post["free_energy"].values, rtol=1e-4, atol=1e-5
    )
    path = _save(_arviz.plot("plot_energy", idata), tmp_path / "numpyro_energy.png")
    assert path.stat().st_size > 0

    np.testing.assert_array_equal(idata.state["x"].values, x)
    dropped = diagnostics.from_numpyro(mcmc, keep_full_state=False)
    assert list(dropped.posterior.data_vars) == ["mean_activation"]
    assert "state" not in _arviz.group_names(dropped)


# --------------------------------------------------------------------------------------
# R-hat flags chains that did not mix
# --------------------------------------------------------------------------------------


def _bimodal_energy(params, x):
    """Mixture of N(-3, 0.5^2) and N(+3, 0.5^2): the barrier at 0 is 18 nats high."""
    centres = jnp.array([-3.0, 3.0], x.dtype)
    return -jax.nn.logsumexp(-((x[0] - centres) ** 2) / (2 * 0.25))


@pytest.mark.parametrize(
    ("step_size", "n_steps", "mixed"), [(0.05, 2000, False), (2.5, 20000, True)]
)
def test_rhat_flags_chains_stuck_in_separate_modes(step_size, n_steps, mixed):
    """Eight random-walk chains, four started in each mode of the bimodal target.

    Stuck (step 0.05): crossing needs to climb the 18-nat barrier in steps of 0.05
    (probability of order e^-18 per attempt), so each chain stays in its mode and
    R-hat is about sqrt(between + within) / sqrt(within) ~ 2 (1.83-2.10 over 20 seeds
    we ran to check the margin): a false failure (R-hat <= 1.1) would need a crossing.
    Mixed (step 2.5): jumps land in the other mode about 2% of the steps, ~400
    switches per chain; over 20 seeds R-hat was 1.0005-1.005 (bulk ESS ~4000),
    against the threshold 1.05: the false-failure rate is far below 1e-4.
    """
    algorithm = random_walk.as_top_level_api(_bimodal_energy, step_size, refresh=False)
    x0 = jnp.array([[3.0], [-3.0]] * 4, jnp.float32)
    record = functools.partial(diagnostics.summarize, keep_full_state=False)
    summaries = diagnostics.run_chains(
        jax.random.key(0), algorithm, x0, None, n_steps, record=record
    )
    idata = diagnostics.to_inference_data(summaries)
    rhat = float(az.rhat(idata)["mean_activation"])
    if mixed:
        assert rhat < 1.05
    else:
        assert rhat > 1.1
