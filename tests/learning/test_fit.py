"""The training loop: resume is bit-identical, divergence is recovered, bad input is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning import TrainingDiverged, fit, load_checkpoint, pcd, rbm_rules
from numpyro_ebm.learning.fit import CHECKPOINT_NAME, CheckpointWarning

D, K = 6, 4
GIBBS = rbm_gibbs.as_top_level_api("bernoulli")


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], np.float32)
    x = prototypes[rng.integers(0, 2, n)]
    flip = rng.random(x.shape) < 0.1
    return jnp.asarray(np.where(flip, 1 - x, x), jnp.float32)


def _params(data):
    return bernoulli_rbm.init_params(jax.random.key(0), D, K, data=data, weight_scale=0.1)


def _validate(params):
    return lambda x: bernoulli_rbm.validate_visible(params, x, "data")


def _leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=True)
    )


def test_training_improves_the_exact_likelihood():
    from numpyro_ebm.evaluation import exact

    data = _data()
    params = _params(data)
    rule = pcd(bernoulli_rbm.free_energy, GIBBS, n_chains=50)
    result = fit(
        jax.random.key(1),
        params,
        data,
        rule,
        optax.sgd(0.1, momentum=0.5),
        epochs=30,
        batch_size=10,
        progress=False,
    )
    before = exact.log_likelihood_bernoulli_rbm(params, data).mean()
    after = exact.log_likelihood_bernoulli_rbm(result.params, data).mean()
    assert after > before + 0.5
    assert result.epochs_completed == 30 and len(result.history["positive_energy"]) == 30


@pytest.mark.standard_promotion  # optax.adam
def test_resume_is_bit_identical(tmp_path):
    data = _data()
    params = _params(data)
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=20)
    optimizer = optax.adam(1e-2)

    def run(epochs, directory, resume=False):
        return fit(
            jax.random.key(3),
            params,
            data,
            rule,
            optimizer,
            epochs=epochs,
            batch_size=16,
            checkpoint_dir=directory,
            resume=resume,
            progress=False,
            held_out=data[:30],
            energy_fn=bernoulli_rbm.free_energy,
            config={"note": "test"},
        )

    full = run(5, tmp_path / "full")
    run(2, tmp_path / "part")  # "stopped" after two epochs, checkpoint written
    resumed = run(5, tmp_path / "part", resume=True)
    assert resumed.epochs_completed == 5
    assert _leaves_equal(full.params, resumed.params)
    assert _leaves_equal(full.opt_state, resumed.opt_state)
    assert _leaves_equal(full.rule_state, resumed.rule_state)
    for key in (
        "positive_energy",
        "negative_energy",
        "free_energy_gap",
        "chain_rhat",
        "chain_ess_bulk",
        "chain_ess_tail",
    ):
        assert len(full.history[key]) == 5 and full.history[key] == resumed.history[key]
    leaves, meta = load_checkpoint(tmp_path / "part")
    assert meta["epoch"] == 5 and meta["config"] == {"note": "test"}
    assert not list((tmp_path / "part").glob("*.tmp"))  # atomic writes leave no temporary files


def _energy_that_breaks_when_weights_grow(params, x):
    # NaN once any weight exceeds 0.5: a stand-in for a run that blows up at a high learning rate
    bad = jnp.max(jnp.abs(params.W)) > 0.5
    return bernoulli_rbm.free_energy(params, x) + jnp.where(bad, jnp.nan, 0.0)


def test_divergence_rolls_back_and_lowers_the_learning_rate(tmp_path):
    data = _data()
    params = _params(data)
    rule = pcd(_energy_that_breaks_when_weights_grow, GIBBS, n_chains=20)
    messages = []
    result = fit(
        jax.random.key(4),
        params,
        data,
        rule,
        optax.sgd(2.0),
        epochs=3,
        batch_size=20,
        progress=False,
        checkpoint_dir=tmp_path,
        max_rollbacks=20,
        log=messages.append,
        energy_fn=_energy_that_breaks_when_weights_grow,
    )
    assert result.epochs_completed == 3
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(result.params))
    assert result.history["learning_rate_scale"][-1] < 1.0
    assert messages and "rolled back" in messages[0] and "non-finite" in messages[0]


def test_divergence_raise_keeps_the_good_checkpoint(tmp_path):
    data = _data()
    params = _params(data)
    rule = pcd(_energy_that_breaks_when_weights_grow, GIBBS, n_chains=20)
    # a first, gentle epoch writes a good checkpoint
    fit(
        jax.random.key(5),
        params,
        data,
        rule,
        optax.sgd(1e-4),
        epochs=1,
        batch_size=20,
        progress=False,
        checkpoint_dir=tmp_path,
    )
    good = (tmp_path / CHECKPOINT_NAME).read_bytes()
    # resuming with a far larger learning rate is allowed, and said
    changed_lr = pytest.warns(CheckpointWarning, match="different optimizer")
    with changed_lr, pytest.raises(TrainingDiverged, match="non-finite in epoch 2"):
        fit(
            jax.random.key(5),
            params,
            data,
            rule,
            optax.sgd(50.0),
            epochs=3,
            batch_size=20,
            progress=False,
            checkpoint_dir=tmp_path,
            resume=True,
            on_divergence="raise",
        )
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == good


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda d: d.at[0, 0].set(jnp.nan), ValueError, "non-finite"),
        (lambda d: d[:, :5], ValueError, "visible units"),
        (lambda d: d.at[3, 2].set(0.5), ValueError, "binary"),
    ],
    ids=["nan", "width", "non_binary"],
)
def test_bad_data_fails_before_training(change, error, match):
    data = _data()
    params = _params(data)
    rule = pcd(bernoulli_rbm.free_energy, GIBBS, n_chains=10)
    with pytest.raises(error, match=match):
        fit(
            jax.random.key(0),
            params,
            change(data),
            rule,
            optax.sgd(0.1),
            epochs=1,
            batch_size=10,
            validate_data=_validate(params),
            progress=False,
        )


@pytest.mark.parametrize(
    "options, match",
    [
        ({"batch_size": 50}, "larger than the number of training examples"),
        ({"on_divergence": "ignore"}, "unknown on_divergence"),
        ({"resume": True}, "resume=True needs checkpoint_dir"),
        ({"held_out": "narrow"}, "held_out rows"),
        ({"epochs": -1}, "epochs must be a non-negative integer"),
    ],
    ids=[
        "batch_too_large",
        "unknown_divergence_option",
        "resume_without_directory",
        "held_out_width",
        "epochs",
    ],
)
def test_bad_options_fail_before_training(options, match):
    data = _data(20)
    params = _params(data)
    rule = pcd(bernoulli_rbm.free_energy, GIBBS, n_chains=10)
    if options.get("held_out") == "narrow":
        options = {**options, "held_out": data[:, :3]}
    kwargs = {"epochs": 1, "batch_size": 5, "progress": False, **options}
    with pytest.raises(ValueError, match=match):
        fit(jax.random.key(0), params, data, rule, optax.sgd(0.1), **kwargs)
