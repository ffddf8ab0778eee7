"""One resume policy for the library, the command line and the estimators
(:func:`numpyro_ebm.learning.checkpoint.check_resumed_config`): a change of what the saved
state is (model, sizes, rule, chains, optimizer) is an error; any other change warns."""

import warnings

import jax
import jax.numpy as jnp
import optax
import pytest

from numpyro_ebm.learning import CheckpointError, CheckpointWarning
from numpyro_ebm.learning.checkpoint import (
    STRUCTURAL_SETTINGS,
    TrainState,
    check_resumed_config,
    resume_from,
    run_fingerprint,
    save_checkpoint,
)

CONFIG = {"model": "bernoulli-rbm", "hidden": [4], "rule": "pcd", "learning_rate": 0.05}


def test_structural_changes_are_errors_and_the_others_are_reported():
    for name in STRUCTURAL_SETTINGS:
        with pytest.raises(CheckpointError, match=rf"other settings \({name}: 1 -> 2\)"):
            check_resumed_config("run", {name: 1, "note": "a"}, {name: 2, "note": "a"})
    assert check_resumed_config("run", CONFIG, {**CONFIG, "learning_rate": 0.01})
    assert not check_resumed_config("run", CONFIG, dict(CONFIG))
    # a setting one side does not record cannot be compared: not an error
    assert check_resumed_config("run", {"note": "a"}, {"hidden": [4]})


def test_resuming_refuses_a_structural_change_and_warns_for_the_rest(tmp_path):
    """``fit(resume=True)`` and the estimators resume through ``resume_from``: the same policy."""
    params = (jnp.zeros((3, 2)), jnp.zeros(3))
    optimizer = optax.sgd(0.05)
    state = TrainState(params, optimizer.init(params), (), jnp.float32(1.0))
    data = jnp.ones((4, 3))

    def fingerprint(config):
        return run_fingerprint(jax.random.key(1), data, optimizer, params, config)

    save_checkpoint(tmp_path, state, 1, {"epoch": [1]}, CONFIG, fingerprint(CONFIG))
    with pytest.raises(CheckpointError, match=r"other settings \(rule: 'pcd' -> 'fpcd'\)"):
        resume_from(tmp_path, state, fingerprint({**CONFIG, "rule": "fpcd"}))
    with pytest.warns(CheckpointWarning, match="with a different config"):
        assert resume_from(tmp_path, state, fingerprint({**CONFIG, "note": "later"}))[1] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same settings resume silently
        assert resume_from(tmp_path, state, fingerprint(CONFIG))[1] == 1
