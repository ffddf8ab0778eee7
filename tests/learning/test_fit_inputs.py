"""fit refuses bad data and bad metrics up front, on the default path (no validate_data).

Before: CD-1 trained a Bernoulli RBM on grey levels without a word, PCD failed
only when a chain started from a bad row (calling the data "position"), and a
metric returning an array failed with a raw TypeError after a whole epoch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm.energies import bernoulli_rbm, boltzmann
from numpyro_ebm.kernels import boltzmann_gibbs, hmc, rbm_gibbs
from numpyro_ebm.learning import cd, fit, pcd, rbm_rules
from numpyro_ebm.learning.contrastive_divergence import LearningRule
from numpyro_ebm.learning.dbn import copies_rbm_pcd
from numpyro_ebm.learning.regularizers import with_sparsity_target

D, K = 4, 3
PARAMS = bernoulli_rbm.init_params(jax.random.key(0), D, K, weight_scale=0.1)
BINARY = jnp.asarray(np.random.default_rng(0).integers(0, 2, (16, D)), jnp.float32)
GIBBS = rbm_gibbs.as_top_level_api("bernoulli")

RULES = {
    "bernoulli_rbm_cd": rbm_rules.bernoulli_rbm_cd(),
    "bernoulli_rbm_pcd": rbm_rules.bernoulli_rbm_pcd(n_chains=4),
    "bernoulli_rbm_fpcd": rbm_rules.bernoulli_rbm_fpcd(n_chains=4),
    "centered pcd": rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(n_chains=4)),
    "sparse cd": with_sparsity_target(rbm_rules.bernoulli_rbm_cd(), bernoulli_rbm.hidden_probs),
    "generic cd + rbm gibbs": cd(bernoulli_rbm.free_energy, GIBBS),
    "generic pcd + rbm gibbs": pcd(bernoulli_rbm.free_energy, GIBBS, n_chains=4),
    "dbn copies_rbm_pcd": copies_rbm_pcd(n_chains=4, visible_copies=2),
}


def _fit(data, rule, **kwargs):
    kwargs.setdefault("epochs", 1)
    return fit(
        jax.random.key(1),
        PARAMS,
        data,
        rule,
        optax.sgd(0.05),
        batch_size=4,
        progress=False,
        chain_diagnostics=False,
        **kwargs,
    )


class _Untouched(Exception):
    pass


def _never_steps(rule):
    """The rule with a step that raises when traced: the error must come before training."""

    def step(*args):
        raise _Untouched("training started")

    return LearningRule(rule.init, step, rule.validate_data)


@pytest.mark.parametrize("name", list(RULES))
def test_grey_levels_are_refused_before_training(name):
    grey = BINARY * 255.0  # pixel values, not rescaled
    with pytest.raises(
        ValueError, match=r"^data must hold binary values or probabilities|^data must be binary"
    ):
        _fit(grey, _never_steps(RULES[name]))


@pytest.mark.parametrize("name", list(RULES))
def test_nan_data_is_refused_naming_data(name):
    bad = BINARY.at[3, 1].set(jnp.nan)
    with pytest.raises(ValueError, match=r"^data contains 1 non-finite value"):
        _fit(bad, _never_steps(RULES[name]))


def test_held_out_is_checked_too():
    with pytest.raises(ValueError, match=r"^held_out must hold binary values or probabilities"):
        _fit(BINARY, _never_steps(RULES["bernoulli_rbm_cd"]), held_out=BINARY - 0.5)


@pytest.mark.parametrize("name", ["bernoulli_rbm_cd", "bernoulli_rbm_pcd"])
def test_probabilities_are_mean_field_data_for_the_closed_form_rules(name):
    # scikit-learn users pass [0, 1] intensities: allowed, and PCD's chains start binary
    probabilities = jnp.asarray(np.random.default_rng(1).random((16, D)), jnp.float32)
    result = _fit(probabilities, RULES[name])
    assert np.all(np.isfinite(np.asarray(result.params.W)))
    if name == "bernoulli_rbm_pcd":
        visible = np.asarray(result.rule_state.chains.visible)
        assert set(np.unique(visible)) <= {0.0, 1.0}


def test_generic_rules_with_a_binary_kernel_want_binary_data():
    halves = jnp.full((16, D), 0.5, jnp.float32)
    with pytest.raises(ValueError, match=r"^data must be binary"):
        _fit(halves, _never_steps(RULES["generic pcd + rbm gibbs"]))


def test_pcd_init_calls_bad_rows_data_not_position():
    rule = pcd(bernoulli_rbm.free_energy, GIBBS, n_chains=4)
    with pytest.raises(ValueError, match=r"^data \(the rows that start the persistent chains\)"):
        rule.init(jax.random.key(0), PARAMS, jnp.full((16, D), 0.5, jnp.float32))


def test_spin_kernels_want_spins():
    bm = boltzmann.init_params(jax.random.key(0), D)
    rule = cd(boltzmann.energy, boltzmann_gibbs.as_top_level_api(spins=True))
    with pytest.raises(ValueError, match=r"^data must hold spins"):
        fit(jax.random.key(0), bm, BINARY, rule, optax.sgd(0.1), epochs=1, batch_size=4)


def test_continuous_kernels_take_real_data():
    rule = cd(lambda p, x: 0.5 * jnp.sum(x**2), hmc.as_top_level_api(0.1, 2), vmap_chains=True)
    assert rule.validate_data is None


def test_empty_data_is_refused():
    with pytest.raises(ValueError, match=r"^data is empty"):
        _fit(jnp.zeros((0, D), jnp.float32), RULES["bernoulli_rbm_cd"])


def test_a_metric_returning_an_array_fails_before_training():
    calls = []

    def per_example(params, train, held_out):
        calls.append(1)
        return bernoulli_rbm.free_energy(params, train)  # (n,), not a scalar

    rule = _never_steps(RULES["bernoulli_rbm_cd"])
    with pytest.raises(
        TypeError, match=r"metric 'per_example' must return a scalar.*shape \(16,\)"
    ):
        _fit(BINARY, rule, metrics={"per_example": per_example})
    assert len(calls) == 1


def test_a_non_callable_metric_is_a_type_error():
    with pytest.raises(TypeError, match=r"metric 'm' must be callable"):
        _fit(BINARY, _never_steps(RULES["bernoulli_rbm_cd"]), metrics={"m": 3.0})


def test_a_scalar_metric_is_recorded():
    def mean_free_energy(params, train, held_out):
        return jnp.mean(bernoulli_rbm.free_energy(params, train))

    result = _fit(BINARY, RULES["bernoulli_rbm_cd"], metrics={"f": mean_free_energy}, epochs=2)
    assert len(result.history["f"]) == 2 and all(isinstance(v, float) for v in result.history["f"])


@pytest.mark.parametrize("epochs", [0, 1])
def test_data_of_the_wrong_width_is_refused_before_training(epochs):
    # found by tests/test_properties.py: the error came from compiling the first epoch
    # (naming the energy's argument v), and not at all with epochs=0
    wide = jnp.concatenate([BINARY, BINARY[:, :1]], axis=1)
    with pytest.raises(ValueError, match=r"^data with rows of shape \(5,\) does not fit"):
        _fit(wide, RULES["bernoulli_rbm_cd"], epochs=epochs)
