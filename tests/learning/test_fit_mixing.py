"""Mixing diagnostics of the negative phase in ``fit``, the score-matching loss, and ``plot_mixing``.

- :func:`chain_energy_diagnostics` is ArviZ's rank-normalized split R-hat and bulk/tail
  ESS of the (centered) per-chain energy trace;
- ``fit`` records them per epoch for rules with persistent chains, NaN for CD, none for
  score matching (which records its ``loss`` instead);
- R-hat is near 1 for a well-mixing RBM and large when chains sit in separate modes.
"""

import functools
import math
import re

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm import plots
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning import MixingWarning, cd, fit, pcd, rbm_rules
from numpyro_ebm.learning import score_matching as sm
from numpyro_ebm.learning.fit import CHAIN_DIAGNOSTICS, chain_energy_diagnostics
from tests._figures import capture_saved_figures

GIBBS = rbm_gibbs.as_top_level_api("bernoulli")
D = 8


def _two_mode_data(n_per_mode=120):
    """Half the rows all zeros, half all ones (the two modes of the peaked RBM below)."""
    return jnp.asarray(np.repeat(np.array([[0.0] * D, [1.0] * D], np.float32), n_per_mode, axis=0))


def _fit(rule, params, data, *, epochs=2, batch_size=10, learning_rate=1e-2, **kwargs):
    return fit(
        jax.random.key(7),
        params,
        data,
        rule,
        optax.sgd(learning_rate),
        epochs=epochs,
        batch_size=batch_size,
        progress=False,
        **kwargs,
    )


# --------------------------------------------------------------------------------------
# chain_energy_diagnostics on synthetic traces
# --------------------------------------------------------------------------------------


def test_diagnostics_are_arviz_on_the_centered_trace():
    trace = np.random.default_rng(0).standard_normal((50, 6)).cumsum(axis=0)  # random walks
    got = chain_energy_diagnostics(trace)
    chains = (trace - trace.mean(axis=1, keepdims=True)).T
    assert got["chain_rhat"] == pytest.approx(float(az.rhat(chains, method="rank")), rel=1e-12)
    assert got["chain_ess_bulk"] == pytest.approx(float(az.ess(chains, method="bulk")), rel=1e-12)
    # tail ESS: the smaller ESS of the 5% and 95% quantiles (Vehtari et al. 2021), the
    # definition ArviZ 0.23 fixes and 1.x is given (its own default quantiles are 11%, 89%)
    tail = min(float(az.ess(chains, method="quantile", prob=q)) for q in (0.05, 0.95))
    assert got["chain_ess_tail"] == pytest.approx(tail, rel=1e-12)
    raw = chain_energy_diagnostics(trace, center=False)
    assert raw["chain_rhat"] == pytest.approx(float(az.rhat(trace.T, method="rank")), rel=1e-12)


def test_centering_removes_a_drift_common_to_all_chains():
    # iid chains plus the same trend for all (parameters moving during the epoch):
    # centered, R-hat stays near 1 and the ESS near the number of draws; raw, the trend
    # inflates split R-hat and shrinks the ESS. Over iid draws R-hat - 1 has a standard
    # deviation of about 0.003 here, so 1.05 is more than 10 sd away (false-failure ~0).
    rng = np.random.default_rng(1)
    trace = rng.standard_normal((200, 20)) + np.linspace(0.0, 4.0, 200)[:, None]
    centered = chain_energy_diagnostics(trace)
    raw = chain_energy_diagnostics(trace, center=False)
    assert centered["chain_rhat"] < 1.05 and centered["chain_ess_bulk"] > 0.5 * trace.size
    assert raw["chain_rhat"] > 1.2 and raw["chain_ess_bulk"] < 0.05 * trace.size


def test_chains_at_different_levels_or_frozen_give_large_rhat():
    # rank normalization bounds R-hat: two perfectly separated groups of chains give ~1.7
    rng = np.random.default_rng(2)
    offsets = np.repeat([0.0, 5.0], 5)
    stuck = chain_energy_diagnostics(rng.standard_normal((40, 10)) + offsets)
    assert stuck["chain_rhat"] > 1.5 and stuck["chain_ess_bulk"] < 0.1 * 400
    frozen = np.broadcast_to(offsets, (40, 10))  # zero within-chain variance
    assert chain_energy_diagnostics(frozen)["chain_rhat"] > 100.0


def test_diagnostics_need_four_steps_two_chains_and_finite_values():
    rng = np.random.default_rng(3)
    assert all(math.isnan(v) for v in chain_energy_diagnostics(rng.random((3, 5))).values())
    single = chain_energy_diagnostics(rng.random((30, 1)))
    assert math.isnan(single["chain_rhat"]) and single["chain_ess_bulk"] > 0
    bad = rng.random((30, 4))
    bad[3, 1] = np.nan
    assert all(math.isnan(v) for v in chain_energy_diagnostics(bad).values())
    with pytest.raises(ValueError, match=r"shape \(n_steps, n_chains\)"):
        chain_energy_diagnostics(rng.random(30))


# --------------------------------------------------------------------------------------
# fit records them
# --------------------------------------------------------------------------------------


def _weak_rbm(data, n_hidden=4):
    return bernoulli_rbm.init_params(jax.random.key(0), D, n_hidden, data=data, weight_scale=0.1)


@functools.cache
def _well_mixing_run(chain_diagnostics=True):
    data = _two_mode_data()
    # the generic rule (the closed-form one is run below and in test_fit.py)
    rule = pcd(bernoulli_rbm.free_energy, GIBBS, n_chains=40)
    # 60 minibatches of 4: 60 draws per chain and epoch
    return _fit(rule, _weak_rbm(data), data, batch_size=4, chain_diagnostics=chain_diagnostics)


def test_well_mixing_pcd_has_rhat_near_one():
    # A weak RBM (|W| ~ 0.1, zero biases) mixes in about one Gibbs sweep. Calibration at
    # fixed parameters, 300 independent runs of 40 chains x 60 sweeps: R-hat mean 1.0017,
    # sd 0.0024, max 1.0098; bulk ESS mean 2534, sd 110 (of 2400 draws). The bounds
    # (R-hat < 1.05, ESS > 1200) are over 10 sd away: false-failure rate negligible.
    result = _well_mixing_run()
    assert float(jnp.max(jnp.abs(result.params.W))) < 0.5  # still weak: still mixing
    history = result.history
    for key in (*CHAIN_DIAGNOSTICS, "negative_energy"):
        assert len(history[key]) == 2
    assert all(1.0 - 0.02 < r < 1.05 for r in history["chain_rhat"]), history["chain_rhat"]
    assert history["poor_mixing"] == [False, False]  # and no MixingWarning (warnings are errors)
    assert all(1200 < e < 2400 * math.log10(2400) for e in history["chain_ess_bulk"])
    assert all(1200 < e < 2400 * math.log10(2400) for e in history["chain_ess_tail"])


def test_chains_stuck_in_separate_modes_have_large_rhat():
    # One hidden unit with W = 10, b = -4, c = -45: free energy 0 at v = 0 and -3 at v = 1,
    # and leaving a mode needs five of eight units to flip at once (probability ~1e-7 per
    # sweep). The chains start at random training rows, about half of them in each mode, and
    # a tiny learning rate keeps the parameters fixed: the chains never mix. On idealised
    # traces of this kind (12 draws, 40 chains, rare spikes) R-hat is 1.80 for a half/half
    # split and still 1.35 for 10%/90%; a split beyond that has probability 2e-7 (binomial),
    # while a mixing RBM stays below 1.01 (previous test).
    data = _two_mode_data()
    params = bernoulli_rbm.BernoulliRBMParams(
        jnp.full((D, 1), 10.0), jnp.full((D,), -4.0), jnp.full((1,), -45.0)
    )
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=40)
    # 24 minibatches an epoch (at least MIN_DRAWS_FOR_MIXING_WARNING): fit flags every such
    # epoch in the history and warns once a run, after the first epoch (the chains' burn-in),
    # naming what to try
    with pytest.warns(MixingWarning) as caught:
        result = _fit(rule, params, data, epochs=3, learning_rate=1e-6)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    for advice in ("R-hat", "epoch 2", "(k)", "more chains", "FPCD", "tempering"):
        assert advice in message, message
    # three decimals: an R-hat of 1.1004 must not read "R-hat 1.1 > 1.1"
    assert re.search(r"R-hat \d\.\d{3} > 1\.1", message), message
    modes = np.round(np.asarray(result.rule_state.chains.visible).mean(axis=1))
    assert 0 < modes.sum() < len(modes)  # chains in both modes at the end
    assert all(r > 1.3 for r in result.history["chain_rhat"]), result.history["chain_rhat"]
    assert result.history["poor_mixing"] == [True, True, True]


def test_cd_records_nan():
    # CD restarts its chains at the batch every step: no per-chain Markov trace (the other
    # rules without one, closed-form CD and a replay buffer larger than n_chains, report
    # negative_energies=None: test_rules.py)
    data = _two_mode_data(60)
    result = _fit(cd(bernoulli_rbm.free_energy, GIBBS, k=1), _weak_rbm(data), data)
    for key in CHAIN_DIAGNOSTICS:
        assert len(result.history[key]) == 2 and all(math.isnan(v) for v in result.history[key])
    assert all(math.isfinite(v) for v in result.history["negative_energy"])


def test_chain_diagnostics_off_records_nothing_and_changes_nothing():
    on, off = _well_mixing_run(), _well_mixing_run(chain_diagnostics=False)
    assert not any(key in off.history for key in CHAIN_DIAGNOSTICS)
    for a, b in zip(jax.tree.leaves(on[:3]), jax.tree.leaves(off[:3]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _gaussian_energy(params, x):
    return 0.5 * jnp.sum(jnp.square(x - params), axis=-1)


def test_score_matching_records_its_loss_and_is_not_diverged():
    # no negative phase (negative_energy is a placeholder 0): no chain diagnostics, no
    # rollback, and the loss is recorded. Exact score matching for 0.5 |x - mu|^2 in D = 2 is
    # J = 0.5 |x - mu|^2 - 2, whose data mean is -1 at mu = mean (unit-variance data);
    # SGD(0.1) brings mu from 0 to within 3 * 0.9^30 = 0.13 of the data mean in 30 steps.
    # The last epoch's mean loss has a sampling sd of about 1 / sqrt(200) = 0.07: the
    # tolerance 0.3 is over 4 sd (false-failure rate below 1e-4).
    data = jnp.asarray(np.random.default_rng(4).standard_normal((200, 2)) + 3.0, jnp.float32)
    messages = []
    result = fit(
        jax.random.key(8),
        jnp.zeros(2, jnp.float32),
        data,
        sm.score_matching(_gaussian_energy, "exact"),
        optax.sgd(0.1),
        epochs=3,
        batch_size=20,
        energy_fn=_gaussian_energy,
        progress=False,
        log=messages.append,
    )
    history = result.history
    assert result.epochs_completed == 3 and messages == []
    assert len(history["loss"]) == 3 and not any(key in history for key in CHAIN_DIAGNOSTICS)
    assert history["loss"][0] > history["loss"][-1] + 1.0
    assert abs(history["loss"][-1] - (-1.0)) < 0.3, history["loss"]


# --------------------------------------------------------------------------------------
# the plot
# --------------------------------------------------------------------------------------


def test_plot_mixing_writes_a_png(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    history = {
        "epoch": [1, 2, 3, 4, 5],
        "chain_rhat": [1.01, 1.3, math.inf, math.nan, 6e15],
        "chain_ess_bulk": [900.0, 120.0, 4.0, math.nan, 12.5],
        "chain_ess_tail": [800.0, 100.0, 3.0, math.nan, 12.5],
        "acceptance_rate": [0.9, 0.7, 0.2, 0.1, 0.0],
    }
    saved = capture_saved_figures(monkeypatch)
    path = plots.plot_mixing(history, tmp_path / "sub" / "mixing.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    (figure,) = saved
    rhat_ax, ess_ax, acceptance_ax = figure.axes
    assert [ax.get_title() for ax in figure.axes] == [
        "rank-normalized split R-hat",
        "effective sample size (all chains)",
        "acceptance rate",
    ]
    rhat_line, _, threshold, frozen = rhat_ax.get_lines()
    # inf and the 6e15 of frozen chains leave the line and become markers at the top
    np.testing.assert_array_equal(rhat_line.get_ydata(), [1.01, 1.3, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(threshold.get_ydata(), [1.1, 1.1])
    np.testing.assert_array_equal(frozen.get_xdata(), [3.0, 5.0])
    bulk, tail = ess_ax.get_lines()
    np.testing.assert_array_equal(bulk.get_ydata(), [900.0, 120.0, 4.0, np.nan, 12.5])
    np.testing.assert_array_equal(tail.get_ydata(), history["chain_ess_tail"])
    assert ess_ax.get_yscale() == "log"  # the ESS collapsed by more than 10x
    np.testing.assert_array_equal(
        acceptance_ax.get_lines()[0].get_ydata(), history["acceptance_rate"]
    )
    nan_only = {key: [math.nan] * 3 for key in CHAIN_DIAGNOSTICS}  # a CD run
    assert plots.plot_mixing(nan_only, tmp_path / "cd.png").stat().st_size > 1000
    cd_figure = saved[-1]
    assert len(cd_figure.axes) == 2  # no acceptance panel without an acceptance rate
    assert "not available" in cd_figure.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="no chain diagnostics"):
        plots.plot_mixing({"epoch": [1], "loss": [0.3]}, tmp_path / "none.png")
