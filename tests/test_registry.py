"""The model registry: rules built by name are the factories' rules, log Z by the registry is
the evaluation functions' log Z, and every caller's list of models is the registry's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm import registry
from numpyro_ebm.energies import bernoulli_rbm, dbm, gaussian_rbm
from numpyro_ebm.evaluation import ais, annealing, deep, exact
from numpyro_ebm.kernels import binary_gibbs, parallel_tempering, rbm_gibbs
from numpyro_ebm.learning import cd, fpcd, pcd, tempered
from numpyro_ebm.learning import dbm as dbm_rules
from numpyro_ebm.learning import rbm as rbm_rules
from numpyro_ebm.learning.checkpoint import MODEL_MODULES

LADDER = parallel_tempering.geometric_ladder(3, 0.2)


def test_every_caller_names_the_registry_s_models():
    from numpyro_ebm.cli import _common, evaluate

    assert _common.MODELS == tuple(registry.MODELS)  # spelt out there: --help imports no JAX
    assert evaluate.MAX_EXACT_BITS == registry.MAX_EXACT_BITS
    assert {name: spec.energy_module.__name__ for name, spec in registry.MODELS.items()} == (
        MODEL_MODULES
    )
    for name, spec in registry.MODELS.items():
        assert spec.name == name and set(spec.rules) <= set(registry.RULES)
    assert registry.get("bernoulli_rbm") is registry.MODELS["bernoulli-rbm"]


def _data(model):
    rng = np.random.default_rng(0)
    if model == "gaussian-rbm":
        return jnp.asarray(rng.normal(size=(8, 4)), jnp.float32)
    return jnp.asarray(rng.random((8, 4)) < 0.5, jnp.float32)


def _params(model):
    sizes = (2, 3) if model == "dbm" else (3,)
    return registry.get(model).init_params(jax.random.key(1), 4, *sizes, weight_scale=0.5)


def _factory_rules():
    """(model, method, options, the rule written with the factories directly)."""
    gaussian = rbm_gibbs.as_top_level_api("gaussian")
    free = gaussian_rbm.free_energy
    fast = dict(fast_learning_rate=0.03, fast_decay=0.9)
    return [
        ("bernoulli-rbm", "cd", {}, rbm_rules.bernoulli_rbm_cd(2)),
        ("bernoulli-rbm", "pcd", {}, rbm_rules.bernoulli_rbm_pcd(5, 2)),
        ("bernoulli-rbm", "fpcd", fast, rbm_rules.bernoulli_rbm_fpcd(5, 2, **fast)),
        (
            "bernoulli-rbm",
            "pt-pcd",
            dict(inverse_temperatures=LADDER, swap="seo"),
            tempered.bernoulli_rbm_pt_pcd(5, LADDER, 2, swap="seo"),
        ),
        (
            "bernoulli-rbm",
            "pt-fpcd",
            dict(inverse_temperatures=LADDER, **fast),
            tempered.bernoulli_rbm_pt_fpcd(5, LADDER, 2, **fast),
        ),
        (
            "bernoulli-rbm",
            "pcd",
            dict(centering=True, offset_rate=0.1, centered_weight_decay=1e-3),
            rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(5, 2), 0.1, weight_decay=1e-3),
        ),
        ("gaussian-rbm", "cd", {}, cd(free, gaussian, 2)),
        ("gaussian-rbm", "pcd", {}, pcd(free, gaussian, 5, 2)),
        ("gaussian-rbm", "fpcd", fast, fpcd(free, gaussian, 5, 2, **fast)),
        ("dbm", "pcd", {}, dbm_rules.dbm_pcd(5, k=2)),
    ]


def _program(fn, *args):
    """What ``fn`` computes: its jaxpr as text and the values of the constants it closes over."""
    closed = jax.make_jaxpr(fn)(*args)
    return str(closed.jaxpr), closed.consts


@pytest.mark.parametrize(
    "model, method, options, direct",
    _factory_rules(),
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_a_rule_by_name_is_the_factory_s_rule(model, method, options, direct):
    """The same programs (``init`` and ``step`` trace to equal jaxprs with equal constants), so
    every caller that builds rules by name (CLI, estimators, bench) trains bit for bit as with
    the factories; tracing, not compiling, keeps this cheap."""
    rule = registry.build_rule(model, method, n_chains=5, k=2, **options)
    # shapes and dtypes only: nothing runs
    params = jax.eval_shape(lambda: _params(model))
    data = jax.eval_shape(lambda: _data(model))
    key = jax.eval_shape(jax.random.key, 2)
    init_by_name, init_direct = (_program(r.init, key, params, data) for r in (rule, direct))
    assert init_by_name[0] == init_direct[0]
    state = jax.eval_shape(direct.init, key, params, data)
    data = jax.ShapeDtypeStruct((4, *data.shape[1:]), data.dtype)
    step_by_name, step_direct = (_program(r.step, key, state, params, data) for r in (rule, direct))
    assert step_by_name[0] == step_direct[0]
    for by_name, factory in ((init_by_name, init_direct), (step_by_name, step_direct)):
        for a, b in zip(by_name[1], factory[1], strict=True):
            np.testing.assert_array_equal(a, b)


def test_chain_start_places_the_persistent_chains():
    params = _params("bernoulli-rbm")
    start = rbm_gibbs.RBMGibbsState(jnp.ones((5, 4)), jnp.zeros((5, 3)))
    for method in ("pcd", "fpcd"):
        rule = registry.build_rule(
            "bernoulli-rbm", method, n_chains=5, chain_start=lambda key, p, n: start
        )
        state = rule.init(jax.random.key(0), params, None)
        np.testing.assert_array_equal(state.chains.visible, start.visible)
        assert rule.validate_data is None  # the data start nothing: any real rows train
    tempered_rule = registry.build_rule(
        "bernoulli-rbm",
        "pt-pcd",
        n_chains=5,
        inverse_temperatures=LADDER,
        chain_start=lambda key, p, n: start,
    )
    state = tempered_rule.init(jax.random.key(0), params, None)
    np.testing.assert_array_equal(state.chains.replicas.visible[-1], start.visible)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: registry.build_rule("ising", "pcd"), "unknown model 'ising'"),
        (lambda: registry.build_rule("dbm", "cd"), "the dbm trains with pcd; got the rule 'cd'"),
        (lambda: registry.build_rule("bernoulli-rbm", "pt-pcd"), "needs inverse_temperatures"),
        (
            lambda: registry.build_rule("gaussian-rbm", "pcd", centering=True),
            "centering is implemented for the bernoulli-rbm",
        ),
        (
            lambda: registry.build_rule("bernoulli-rbm", "cd", chain_start=lambda *a: None),
            "has none to place",
        ),
        (
            lambda: registry.log_partition("dbm", _params("dbm"), method="simulated"),
            "unknown log_partition method 'simulated'",
        ),
        (
            lambda: registry.log_partition("bernoulli-rbm", _params("bernoulli-rbm"), method="ais"),
            "needs rng_key",
        ),
    ],
)
def test_bad_names_and_options_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_log_partition_exact_is_the_enumeration():
    for model, direct in [
        ("bernoulli-rbm", exact.log_partition_bernoulli_rbm),
        ("gaussian-rbm", exact.log_partition_gaussian_rbm),
        ("dbm", deep.exact_log_partition_dbm),
    ]:
        params = _params(model)
        result = registry.log_partition(model, params)
        assert result.method == "exact" and result.estimate is None
        assert result.log_z == direct(params)


@pytest.mark.slow  # two AIS compilations (the estimators' AIS scores run it by default)
def test_log_partition_by_ais_is_the_estimators_run():
    """``method="auto"`` switches to AIS beyond ``max_exact_bits``, with the keys and bases given."""
    key = jax.random.key(3)
    schedule = ais.default_schedule(20)
    params = _params("bernoulli-rbm")
    result = registry.log_partition(
        "bernoulli-rbm", params, key, max_exact_bits=2, n_runs=4, schedule=schedule
    )
    direct = ais.ais_bernoulli_rbm(key, params, n_runs=4, schedule=schedule)
    assert result.method == "ais" and result.log_z == float(direct.log_z)
    params = _params("gaussian-rbm")
    result = registry.log_partition(
        "gaussian-rbm", params, key, method="ais", n_runs=4, schedule=schedule
    )
    direct = annealing.ais(
        key,
        gaussian_rbm.hidden_free_energy,
        params,
        annealing.BernoulliBase(jnp.zeros(3)),
        binary_gibbs.as_top_level_api,
        n_runs=4,
        schedule=schedule,
        vmap_chains=False,
    )
    assert result.log_z == float(direct.log_z)
    assert registry.exact_bits("dbm", _params("dbm")) == 2
    assert registry.exact_bits("bernoulli-rbm", bernoulli_rbm.init_params(key, 30, 7)) == 7
    assert dbm.DBMParams is type(_params("dbm"))
