"""``learning.load_params``: a checkpoint's named parameters; checkpoint files keep the umask."""

import os
import stat

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.learning import load_model, load_params  # the public names
from numpyro_ebm.learning.checkpoint import CheckpointError, TrainState, save_checkpoint


def _save(directory, params, config):
    # fit's layout: params first, then optimizer state, rule state and learning-rate scale
    opt_state = (jnp.zeros(3), jnp.ones((2, 2)))
    state = TrainState(params, opt_state, jnp.zeros(5), jnp.asarray(1.0))
    save_checkpoint(directory, state, epoch=2, history={}, config=config)


def test_load_params_returns_the_models_named_parameters(tmp_path):
    params = bernoulli_rbm.init_params(jax.random.key(1), 6, 4, weight_scale=1.0)
    _save(tmp_path / "rbm", params, {"model": "bernoulli_rbm", "n_visible": 6, "hidden": [4]})
    loaded = load_params(tmp_path / "rbm")
    assert isinstance(loaded, bernoulli_rbm.BernoulliRBMParams)
    for name in ("W", "b", "c"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(params, name))
    two_layer = dbm.init_params(jax.random.key(2), 6, 3, 2)
    _save(tmp_path / "dbm", two_layer, {"model": "dbm", "n_visible": 6, "hidden": [3, 2]})
    saved = load_model(tmp_path / "dbm" / "checkpoint.npz")
    assert saved.model == "dbm" and saved.meta["epoch"] == 2
    assert type(saved.params) is type(two_layer)
    for got, want in zip(jax.tree.leaves(saved.params), jax.tree.leaves(two_layer), strict=True):
        np.testing.assert_array_equal(got, want)

    _save(tmp_path / "wrong", params, {"model": "bernoulli-rbm", "n_visible": 6, "hidden": [5]})
    with pytest.raises(CheckpointError, match=r"shape \(6, 4\) where a bernoulli-rbm"):
        load_params(tmp_path / "wrong")
    _save(tmp_path / "anon", params, {})
    with pytest.raises(CheckpointError, match="does not say which model it holds"):
        load_params(tmp_path / "anon")


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_checkpoint_files_keep_the_users_umask(tmp_path, umask):
    params = bernoulli_rbm.init_params(jax.random.key(1), 3, 2)
    previous = os.umask(umask)
    try:
        _save(tmp_path, params, {})
        _save(tmp_path, params, {})  # the second write also keeps checkpoint.previous.npz
    finally:
        os.umask(previous)
    for name in ("checkpoint.npz", "checkpoint.previous.npz"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o666 & ~umask, (name, oct(mode))
