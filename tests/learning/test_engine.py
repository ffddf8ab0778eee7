"""The training engine's pieces, each against what it replaces: a step is the rule's gradient
through the optimizer, a compiled run of steps is those steps in sequence, and the host loop
rolls back, records and calls back in the documented order."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning import engine, rbm_rules

D, K, CHAINS = 6, 3, 8


@pytest.fixture(scope="module")
def problem():
    params = bernoulli_rbm.init_params(jax.random.key(0), D, K, weight_scale=0.5)
    data = (jax.random.uniform(jax.random.key(1), (40, D)) < 0.4).astype(jnp.float32)
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=CHAINS)
    optimizer = optax.sgd(0.1, momentum=0.5)
    state = engine.init_state(params, optimizer, rule.init(jax.random.key(2), params, data))
    return rule, optimizer, state, data


def test_train_step_is_the_rule_gradient_through_the_optimizer(problem):
    rule, optimizer, state, data = problem
    batch, key = data[:10], jax.random.key(3)
    new_state, report = jax.jit(engine.train_step(rule, optimizer))(state, key, batch)
    grads, rule_state, info = rule.step(key, state.rule_state, state.params, batch)
    updates, _ = optimizer.update(grads, state.opt_state, state.params)
    expected = optax.apply_updates(state.params, updates)
    for got, want in zip(jax.tree.leaves(new_state.params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert float(report["positive_energy"]) == pytest.approx(float(info.positive_energy), 1e-6)
    assert bool(report["all_gradients_finite"])
    assert report["negative_energies"].shape == (CHAINS,)  # a trace point per chain


def test_scan_steps_is_the_steps_in_sequence(problem):
    rule, optimizer, state, data = problem
    step = engine.train_step(rule, optimizer)
    key = jax.random.key(4)
    scanned, summary, traces = engine.scan_steps(step, 3)(state, data[:10], key)
    sequential = state
    energies = []
    for k in jax.random.split(key, 3):
        sequential, report = jax.jit(step)(sequential, k, data[:10])
        energies.append(float(report["positive_energy"]))
    for got, want in zip(jax.tree.leaves(scanned), jax.tree.leaves(sequential), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert float(summary["positive_energy"]) == pytest.approx(np.mean(energies), rel=1e-5)
    assert traces["negative_energies"].shape == (3, CHAINS)


def _scripted_epochs(finite_pattern):
    """A host-side ``run_epoch`` whose n-th call is finite or not as scripted."""
    calls = []

    def run_epoch(state, epoch):
        finite = finite_pattern[len(calls)]
        calls.append((epoch, float(state.learning_rate_scale)))
        value = 1.0 if finite else float("nan")
        summary = {"positive_energy": value, "negative_energy": 0.0}
        return state._replace(params={"w": jnp.asarray(value)}), summary, {}

    return run_epoch, calls


def _record(epoch, summary, traces, state, started):
    return {"epoch": epoch, **summary}


def test_run_epochs_rolls_back_halves_the_rate_and_records_good_epochs_only():
    state = engine.init_state({"w": jnp.asarray(0.0)}, optax.sgd(1.0), None)
    run_epoch, calls = _scripted_epochs([True, False, False, True])
    seen = []
    state, history, done = engine.run_epochs(
        run_epoch,
        state,
        epochs=2,
        record=_record,
        callbacks=[lambda epoch, s, entry, h: seen.append((epoch, list(h["epoch"])))],
        progress=False,
        log=lambda message: None,
    )
    assert done == 2 and history["epoch"] == [1, 2]
    # epoch 2 was tried three times, at scales 1, 0.5 and 0.25
    assert calls == [(0, 1.0), (1, 1.0), (1, 0.5), (1, 0.25)]
    assert float(state.learning_rate_scale) == 0.25
    # callbacks run after the history holds the epoch (a checkpoint keeps it)
    assert seen == [(1, [1]), (2, [1, 2])]


def test_run_epochs_raises_after_max_rollbacks_naming_the_last_good_epoch():
    state = engine.init_state({"w": jnp.asarray(0.0)}, optax.sgd(1.0), None)
    run_epoch, _ = _scripted_epochs([True, False, False])
    with pytest.raises(engine.TrainingDiverged, match="last good state is epoch 1, in memory"):
        engine.run_epochs(
            run_epoch,
            state,
            epochs=3,
            record=_record,
            max_rollbacks=1,
            progress=False,
            log=lambda message: None,
            last_good=", in memory",
        )
    with pytest.raises(ValueError, match="on_divergence"):
        engine.run_epochs(run_epoch, state, epochs=1, record=_record, on_divergence="ignore")
