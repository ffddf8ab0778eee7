"""compare_samplers: the table, its exact-moment errors, the exact-moment helpers, the figure
and the example script.

Statistical checks compare the error of a sampler's average with ArviZ's Monte Carlo
standard error (MCSE) of that average, computed from the rank-normalised ESS over 8
chains of 500-1000 draws (ESS in the hundreds to thousands, so the MCSE itself is known
to a few percent). |error| < 4 MCSE: two-sided normal tail 6.3e-5 per check.
"""

import importlib.util
import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg", force=True)

from numpyro_ebm import diagnostics  # noqa: E402
from numpyro_ebm.diagnostics import SamplerSpec  # noqa: E402
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm  # noqa: E402
from numpyro_ebm.evaluation import exact  # noqa: E402
from numpyro_ebm.kernels import hmc, langevin, mala, nuts, random_walk, rbm_gibbs  # noqa: E402
from tests._figures import capture_saved_figures, visible_axes  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MOMENTS = ["energy", "mean_activation"]
MOMENT_COLUMNS = [f"{kind}_{m}" for m in MOMENTS for kind in ("error", "mcse")]
N_CHAINS = 8


def _gaussian_rbm_2d():
    """Visible marginal: a mixture of 4 unit Gaussians in 2-D (K = 2 hidden units)."""
    params = gaussian_rbm.init_params(jax.random.key(3), 2, 2, weight_scale=1.0)
    return params._replace(c=jnp.array([-0.5, 0.5], jnp.float32))


def _mixture_of_means(params):
    """Exact E[v] in float64: p(h) by enumeration times E[v | h] = b + sigma W h."""
    states, log_p = exact.log_probabilities_binary(gaussian_rbm.hidden_free_energy, params, 2)
    p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    means = p64.b + np.exp(p64.log_sigma) * (states @ p64.W.T)
    return np.exp(log_p) @ means, means


# --------------------------------------------------------------------------------------
# Exact moments
# --------------------------------------------------------------------------------------


def test_enumeration_moments_match_brute_force():
    params = bernoulli_rbm.init_params(jax.random.key(0), 5, 3, weight_scale=1.0)
    moments = diagnostics.enumeration_moments(bernoulli_rbm.free_energy, params, 5)
    p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    free = -(states @ p64.b) - np.logaddexp(0.0, states @ p64.W + p64.c).sum(-1)
    weights = np.exp(-free - np.logaddexp.reduce(-free))
    assert moments == pytest.approx(
        {"energy": weights @ free, "mean_activation": weights @ states.mean(1)}, abs=1e-12
    )
    spins = diagnostics.enumeration_moments(
        lambda p, s: bernoulli_rbm.free_energy(p, (s + 1) / 2), params, 5, spins=True
    )
    # the same distribution on {-1, +1}: mean spin = 2 * mean activation - 1
    assert spins["mean_activation"] == pytest.approx(2 * moments["mean_activation"] - 1)


def test_quadrature_moments_of_a_2d_gaussian_rbm():
    params = _gaussian_rbm_2d()
    mean_v, means = _mixture_of_means(params)
    bounds = [(means[:, i].min() - 9.0, means[:, i].max() + 9.0) for i in range(2)]
    fine = diagnostics.quadrature_moments(gaussian_rbm.free_energy, params, bounds)
    coarse = diagnostics.quadrature_moments(gaussian_rbm.free_energy, params, bounds, n_points=256)
    # closed-form mean of the mixture (float64); the midpoint rule converges spectrally
    assert fine["mean_activation"] == pytest.approx(mean_v.mean(), abs=1e-10)
    assert fine["energy"] == pytest.approx(coarse["energy"], abs=1e-9)
    with pytest.raises(ValueError, match="widen the bounds"):
        diagnostics.quadrature_moments(gaussian_rbm.free_energy, params, [(-1, 1), (-1, 1)])
    # a hard wall: a uniform density on [0, 2] has E[x] = 1 and zero energy
    box = diagnostics.quadrature_moments(
        lambda p, x: jnp.where(jnp.all((x >= 0) & (x <= 2)), 0.0, jnp.inf),
        None,
        [(0.0, 2.0)],
        boundary_tolerance=None,
    )
    assert box == pytest.approx({"energy": 0.0, "mean_activation": 1.0}, abs=1e-12)


# --------------------------------------------------------------------------------------
# A binary target: block Gibbs against NumPyro's DiscreteHMCGibbs
# --------------------------------------------------------------------------------------


@pytest.mark.standard_promotion  # NumPyro's DiscreteHMCGibbs (compare_samplers sets it too)
def test_bernoulli_rbm_block_gibbs_against_discrete_hmc_gibbs():
    n_visible, n_steps = 5, 500
    params = bernoulli_rbm.init_params(jax.random.key(0), n_visible, 3, weight_scale=1.0)
    energy = bernoulli_rbm.free_energy
    moments = diagnostics.enumeration_moments(energy, params, n_visible)
    v0 = jax.random.bernoulli(jax.random.key(1), 0.5, (N_CHAINS, n_visible)).astype(jnp.float32)
    table, idatas = diagnostics.compare_samplers(
        jax.random.key(2),
        {
            "block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api(), batched=True),
            "DiscreteHMCGibbs": diagnostics.discrete_hmc_gibbs_spec(
                energy, params, (n_visible,), site="v"
            ),
        },
        v0,
        params,
        n_steps=n_steps,
        burn_in=100,
        energy_fn=energy,
        exact_moments=moments,
        return_inference_data=True,
    )
    assert list(table.columns) == list(diagnostics.COMPARISON_COLUMNS) + MOMENT_COLUMNS
    assert list(table["sampler"]) == ["block Gibbs", "DiscreteHMCGibbs"]
    assert np.all(table[["n_chains", "n_draws"]].to_numpy() == [N_CHAINS, n_steps])
    # a block-Gibbs sweep counts 1, NumPyro's discrete sweep one potential per coordinate
    np.testing.assert_array_equal(
        table["evaluations"], [N_CHAINS * n_steps, N_CHAINS * n_steps * n_visible]
    )
    for column in ("wall_time_s", "compile_time_s", "ess_bulk", "ess_tail"):
        assert np.all(table[column] > 0), column
    np.testing.assert_allclose(table["ess_bulk_per_s"], table["ess_bulk"] / table["wall_time_s"])
    np.testing.assert_allclose(table["ess_tail_per_eval"], table["ess_tail"] / table["evaluations"])
    # Gibbs samplers have no accept step and no divergences
    assert table[["acceptance_rate", "divergences"]].isna().all().all()
    # well-mixed chains (ESS in the thousands): R-hat is 1.00x; 1.05 is far outside noise
    assert np.all(table["r_hat"] < 1.05)
    for moment in MOMENTS:  # 4 checks at 4 MCSE: false-failure rate ~2.5e-4
        errors, mcse = table[f"error_{moment}"], table[f"mcse_{moment}"]
        assert np.all(errors < 4 * mcse), (moment, errors.tolist(), mcse.tolist())
    # the inference data hold the summaries; the NumPyro draws (int32) were summarised as floats
    for idata in idatas.values():
        assert list(idata.posterior.data_vars) == MOMENTS
        assert idata.posterior["energy"].shape == (N_CHAINS, n_steps)
        assert idata.posterior["energy"].dtype == np.float32


# --------------------------------------------------------------------------------------
# A 2-D continuous target: every gradient / random-walk kernel
# --------------------------------------------------------------------------------------

CONTINUOUS = ["HMC", "NUTS", "MALA", "RWMH", "ULA", "block Gibbs"]
EXACT_KERNELS = ["HMC", "NUTS", "MALA", "RWMH", "block Gibbs"]  # ULA is biased
HMC_STEPS = 8


@pytest.fixture(scope="module")
def continuous_table():
    params = _gaussian_rbm_2d()
    energy = gaussian_rbm.free_energy
    _, means = _mixture_of_means(params)
    bounds = [(means[:, i].min() - 9.0, means[:, i].max() + 9.0) for i in range(2)]
    samplers = {
        "HMC": hmc.as_top_level_api(energy, 0.3, num_integration_steps=HMC_STEPS, refresh=False),
        "NUTS": nuts.as_top_level_api(energy, 0.4, max_num_doublings=5, refresh=False),
        "MALA": mala.as_top_level_api(energy, 0.5, refresh=False),
        "RWMH": random_walk.as_top_level_api(energy, 1.5, refresh=False),
        "ULA": langevin.as_top_level_api(energy, 0.05, refresh=False),
        "block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api("gaussian"), batched=True),
    }
    v0 = 2.0 * jax.random.normal(jax.random.key(4), (N_CHAINS, 2), jnp.float32)
    return diagnostics.compare_samplers(
        jax.random.key(5),
        samplers,
        v0,
        params,
        n_steps=1000,
        burn_in=200,
        energy_fn=energy,
        coordinates=[0, 1],
        exact_moments=diagnostics.quadrature_moments(energy, params, bounds),
    ).set_index("sampler")


def test_every_continuous_kernel_runs_and_reports(continuous_table):
    table = continuous_table
    assert list(table.index) == CONTINUOUS
    n = N_CHAINS * 1000
    assert table.loc["HMC", "evaluations"] == n * HMC_STEPS
    assert table.loc["NUTS", "evaluations"] >= n  # at least one leapfrog step a transition
    for name in ("MALA", "RWMH", "ULA", "block Gibbs"):
        assert table.loc[name, "evaluations"] == n
    columns = ["wall_time_s", "ess_bulk", "ess_tail", "ess_bulk_per_s", "ess_bulk_per_eval"]
    assert np.all(np.isfinite(table[columns].to_numpy()) & (table[columns].to_numpy() > 0))
    assert np.all(np.isfinite(table[MOMENT_COLUMNS].to_numpy()))
    metropolis = ["HMC", "NUTS", "MALA", "RWMH"]
    acceptance = table.loc[metropolis, "acceptance_rate"]
    assert np.all((acceptance > 0.2) & (acceptance <= 1.0)), acceptance
    assert table.loc[["ULA", "block Gibbs"], "acceptance_rate"].isna().all()
    # kernels whose info has is_divergent report a count (none here), others NaN
    assert np.all(table.loc[["HMC", "NUTS", "ULA"], "divergences"] == 0)
    assert table.loc[["MALA", "RWMH", "block Gibbs"], "divergences"].isna().all()
    # 8 chains x 1000 draws on a mild 4-component mixture: R-hat 1.00x for every exact
    # kernel (1.05 is far outside noise)
    assert np.all(table.loc[EXACT_KERNELS, "r_hat"] < 1.05)


def test_exact_continuous_kernels_estimate_the_quadrature_moments(continuous_table):
    table = continuous_table.loc[EXACT_KERNELS]
    for moment in MOMENTS:  # 10 checks at 4 MCSE: false-failure rate ~6e-4
        errors, mcse = table[f"error_{moment}"], table[f"mcse_{moment}"]
        assert np.all(errors < 4 * mcse), (moment, errors.to_dict(), mcse.to_dict())


def test_plot_comparison_writes_a_png(continuous_table, tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch)
    table = continuous_table.reset_index()
    path = diagnostics.plot_comparison(table, tmp_path / "comparison.png", title="2-D GB-RBM")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    (figure,) = saved
    assert figure.get_suptitle() == "2-D GB-RBM"
    panels = {ax.get_title(): ax for ax in visible_axes(figure)}
    moments = [c.removeprefix("error_") for c in table.columns if c.startswith("error_")]
    assert list(panels) == [
        "bulk ESS / s",
        "tail ESS / s",
        "bulk ESS / evaluation",
        "max R-hat",
        "acceptance rate",
    ] + [f"|error| of E[{m}]" for m in moments]
    names = list(table["sampler"])
    for title, column in (("max R-hat", "r_hat"), ("bulk ESS / s", "ess_bulk_per_s")):
        ax = panels[title]
        assert [label.get_text() for label in ax.get_yticklabels()] == names
        widths = [bar.get_width() for bar in ax.patches]  # one bar a sampler, top to bottom
        np.testing.assert_allclose(widths, table[column].to_numpy(np.float64))


def test_clear_errors():
    params = _gaussian_rbm_2d()
    algorithm = mala.as_top_level_api(gaussian_rbm.free_energy, 0.5)
    x0 = jnp.zeros((2, 2), jnp.float32)
    run = dict(n_steps=10, energy_fn=gaussian_rbm.free_energy)
    with pytest.raises(ValueError, match="at least 2 chains"):
        diagnostics.compare_samplers(jax.random.key(0), {"a": algorithm}, x0[:1], params, **run)
    with pytest.raises(ValueError, match="not summaries.*'energy', 'mean_activation'"):
        diagnostics.compare_samplers(
            jax.random.key(0), {"a": algorithm}, x0, params, exact_moments={"mean": 0.0}, **run
        )
    with pytest.raises(TypeError, match="SamplerSpec"):
        diagnostics.compare_samplers(jax.random.key(0), {"a": object()}, x0, params, **run)
    with pytest.raises(ValueError, match="n_steps"):
        diagnostics.compare_samplers(
            jax.random.key(0), {"a": algorithm}, x0, params, n_steps=2, energy_fn=None
        )


# --------------------------------------------------------------------------------------
# The example script
# --------------------------------------------------------------------------------------


# About 50 s of CPU time (mostly compiling 10 sampling loops, two of them NumPyro's), more
# than this file's default budget: the default tests above cover compare_samplers itself.
@pytest.mark.slow
@pytest.mark.standard_promotion  # NumPyro's DiscreteHMCGibbs
def test_compare_samplers_example(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "compare_samplers", EXAMPLES / "compare_samplers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(
        [
            "--chains",
            "4",
            "--steps",
            "200",
            "--burn-in",
            "50",
            "--hidden",
            "2",
            "--bernoulli-visible",
            "6",
            "--bernoulli-hidden",
            "3",
            "--out",
            str(tmp_path),
        ]
    )
    assert list(results["gbrbm"]["sampler"]) == [
        "block Gibbs",
        "HMC",
        "NUTS",
        "MALA",
        "RWMH",
        "ULA",
        "DiscreteHMCGibbs",
    ]
    assert list(results["bernoulli"]["sampler"]) == [
        "block Gibbs",
        "single-site Gibbs",
        "DiscreteHMCGibbs",
    ]
    # the quadrature agrees with the closed-form mixture mean
    assert results["gbrbm_exact"]["mean_activation"] == pytest.approx(
        results["gbrbm_closed_form_mean"], abs=1e-9
    )
    for table in (results["gbrbm"], results["bernoulli"]):
        assert np.all(np.isfinite(table[["ess_bulk", "r_hat", *MOMENT_COLUMNS]].to_numpy()))
    # DiscreteHMCGibbs reports its NUTS block's acceptance and divergences (GB-RBM only)
    numpyro_row = results["gbrbm"].set_index("sampler").loc["DiscreteHMCGibbs"]
    assert 0 < numpyro_row["acceptance_rate"] <= 1 and numpyro_row["divergences"] >= 0
    assert [p.name for p in results["figures"]] == [
        "compare_gbrbm.png",
        "compare_bernoulli_rbm.png",
    ]
    assert all(p.stat().st_size > 0 for p in results["figures"])
