"""Rules from parts (issue 24): every old factory is its composition, bit for bit.

Each old name (``bernoulli_rbm_pt_fpcd``, ``dbm_pt_pcd``, ...) is a thin alias of
``pcd(estimator, negative_phase)``; the equality test builds the composition by hand and
checks that init and a step give the same bits (gradients, state, info) for the same
keys, so an alias cannot drift from its documented composition. Both are compiled in one
``jax.jit`` per pair, on models of a handful of units; two pairs (tempered and persistent
chains with fast weights, the RBM and DBM closed forms) run by default, the rest with
``-m slow`` (the rule contract suite compiles every alias and three new compositions). The rest checks the parts' errors
and the metrics each info reports (no compilation).

(That the compositions also equal the factories as they were before the composition was
verified once on 28 rules over three SGD steps, every leaf identical; see the issue 24
report.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm, dbm, potts_rbm
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning import contrastive_divergence as cdlib
from numpyro_ebm.learning import dbm_rules, dbn, potts, rbm_rules, replay, tempered
from numpyro_ebm.learning.base import ContrastiveInfo
from numpyro_ebm.learning.composition import energy_gradient, pcd, rule_metrics
from numpyro_ebm.learning.negative_phases import (
    check_chain_count,
    data_chains,
    fast_weights,
    persistent_chains,
    replay_buffer,
    sampler_metrics,
    tempered_chains,
)
from numpyro_ebm.learning.score_matching import ScoreMatchingInfo

D, K, K2, N = 6, 4, 3, 16
GIBBS = rbm_gibbs.as_top_level_api("bernoulli")
LADDER = jnp.array([0.0, 0.5, 1.0])
F = bernoulli_rbm.free_energy
BINARY = jnp.asarray(np.random.default_rng(0).random((N, D)) < 0.4, jnp.float32)
CODES = jnp.asarray(np.random.default_rng(0).integers(0, 3, (N, D)), jnp.float32)
RBM = bernoulli_rbm.init_params(jax.random.key(0), D, K, weight_scale=0.5)
DBM = dbm.init_params(jax.random.key(0), D, K, K2, weight_scale=0.5)
POTTS = potts_rbm.init_params(jax.random.key(0), D, 3, K, weight_scale=0.5, dtype=jnp.float32)


def _noise(key, n):
    return jax.random.bernoulli(key, 0.5, (n, D)).astype(jnp.float32)


# (name, alias, composition, params, data); fast learning rates large enough that the fast
# weights matter within one step
PAIRS = [
    ("cd", lambda: cdlib.contrastive_divergence(F, GIBBS, k=2),
     lambda: pcd(F, data_chains(2, sampler=GIBBS)), RBM, BINARY),
    ("pcd", lambda: cdlib.persistent_contrastive_divergence(F, GIBBS, 8, k=2),
     lambda: pcd(F, persistent_chains(8, 2, sampler=GIBBS)), RBM, BINARY),
    ("pcd_short_form", lambda: pcd(F, GIBBS, 8, 2),
     lambda: pcd(energy_gradient(F), persistent_chains(8, 2, sampler=GIBBS)), RBM, BINARY),
    ("fpcd", lambda: cdlib.fast_persistent_contrastive_divergence(F, GIBBS, 8, fast_learning_rate=0.3),
     lambda: pcd(F, fast_weights(persistent_chains(8, sampler=GIBBS), 0.3, 0.95)), RBM, BINARY),
    ("replay", lambda: replay.persistent_with_replay(F, GIBBS, 8, 8, k=1, noise_fn=_noise, vmap_chains=False),
     lambda: pcd(F, replay_buffer(GIBBS, 8, 8, 1, noise_fn=_noise, vmap_chains=False)), RBM, BINARY),
    ("rbm_cd", lambda: rbm_rules.bernoulli_rbm_cd(2),
     lambda: pcd(rbm_rules.bernoulli_rbm_estimator(), data_chains(2)), RBM, BINARY),
    ("rbm_pcd", lambda: rbm_rules.bernoulli_rbm_pcd(8, 2),
     lambda: pcd(rbm_rules.bernoulli_rbm_estimator(), persistent_chains(8, 2)), RBM, BINARY),
    ("rbm_fpcd", lambda: rbm_rules.bernoulli_rbm_fpcd(8, fast_learning_rate=0.3),
     lambda: pcd(rbm_rules.bernoulli_rbm_estimator(), fast_weights(persistent_chains(8), 0.3)), RBM, BINARY),
    ("pt_pcd", lambda: tempered.pt_pcd(F, pt.rbm_tempering(), 8, LADDER, swap="seo"),
     lambda: pcd(F, tempered_chains(8, LADDER, tempering=pt.rbm_tempering(), swap="seo")), RBM, BINARY),
    ("pt_fpcd", lambda: tempered.pt_fpcd(F, pt.rbm_tempering(), 8, LADDER, fast_learning_rate=0.3),
     lambda: pcd(F, fast_weights(tempered_chains(8, LADDER, tempering=pt.rbm_tempering()), 0.3, 0.95)), RBM, BINARY),
    ("rbm_pt_pcd", lambda: tempered.bernoulli_rbm_pt_pcd(8, LADDER, 2, base_visible_bias=jnp.zeros(D)),
     lambda: pcd(rbm_rules.bernoulli_rbm_estimator(jnp.zeros(D)), tempered_chains(8, LADDER, 2)), RBM, BINARY),
    ("rbm_pt_fpcd", lambda: tempered.bernoulli_rbm_pt_fpcd(8, LADDER, fast_learning_rate=0.3),
     lambda: pcd(rbm_rules.bernoulli_rbm_estimator(), fast_weights(tempered_chains(8, LADDER), 0.3)), RBM, BINARY),
    ("dbm_pcd", lambda: dbm_rules.dbm_pcd(8, 2, 3),
     lambda: pcd(dbm_rules.dbm_estimator(3), persistent_chains(8, 2)), DBM, BINARY),
    ("dbm_fpcd", lambda: dbm_rules.dbm_fpcd(8, mean_field_iterations=3, fast_learning_rate=0.3),
     lambda: pcd(dbm_rules.dbm_estimator(3), fast_weights(persistent_chains(8), 0.3)), DBM, BINARY),
    ("dbm_pt_pcd", lambda: dbm_rules.dbm_pt_pcd(8, LADDER, mean_field_iterations=3, mean_field_damping=0.3),
     lambda: pcd(dbm_rules.dbm_estimator(3, mean_field_damping=0.3), tempered_chains(8, LADDER)), DBM, BINARY),
    ("dbm_pt_fpcd", lambda: dbm_rules.dbm_pt_fpcd(8, LADDER, mean_field_iterations=3, fast_learning_rate=0.3),
     lambda: pcd(dbm_rules.dbm_estimator(3), fast_weights(tempered_chains(8, LADDER), 0.3)), DBM, BINARY),
    ("copies_rbm_pcd", lambda: dbn.copies_rbm_pcd(8, visible_copies=2),
     lambda: pcd(dbn.tied_copies_estimator(visible_copies=2), persistent_chains(8)), RBM, BINARY),
    ("potts_rbm_pcd", lambda: potts.potts_rbm_pcd(8, 3, k=2),
     lambda: pcd(potts.potts_rbm_estimator(3), persistent_chains(8, 2)), POTTS, CODES),
]  # fmt: skip


def _assert_same_bits(a, b):
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


# two pairs run by default (a compilation of two rules each, about 2 s of CPU); -m slow runs
# one pair for each alias
DEFAULT_PAIRS = {"rbm_pt_fpcd", "dbm_fpcd"}


@pytest.mark.parametrize(
    ("make_alias", "make_composition", "params", "data"),
    [
        pytest.param(
            *pair[1:], id=pair[0], marks=() if pair[0] in DEFAULT_PAIRS else pytest.mark.slow
        )
        for pair in PAIRS
    ],
)
def test_alias_equals_its_composition(make_alias, make_composition, params, data):
    alias, composition = make_alias(), make_composition()
    key = jax.random.key(1)
    state_alias = alias.init(key, params, data)
    state_composition = composition.init(key, params, data)
    _assert_same_bits(state_alias, state_composition)

    @jax.jit
    def both(rng_key, state_a, state_c, params, batch):
        return alias.step(rng_key, state_a, params, batch), composition.step(
            rng_key, state_c, params, batch
        )

    out_alias, out_composition = both(
        jax.random.key(2), state_alias, state_composition, params, data[:8]
    )
    _assert_same_bits(out_alias, out_composition)
    assert (alias.validate_data is None) == (composition.validate_data is None)


def test_parts_name_their_problems():
    closed = rbm_rules.bernoulli_rbm_estimator()
    with pytest.raises(ValueError, match="leave sampler out"):
        pcd(closed, persistent_chains(8, sampler=GIBBS))
    with pytest.raises(ValueError, match="pass sampler="):
        pcd(F, persistent_chains(8))
    with pytest.raises(ValueError, match="pass tempering="):
        pcd(F, tempered_chains(8, LADDER))
    with pytest.raises(ValueError, match="no CD form"):
        pcd(dbm_rules.dbm_estimator(), data_chains())
    with pytest.raises(ValueError, match="not a closed form"):
        pcd(closed, replay_buffer(GIBBS, 8))
    with pytest.raises(ValueError, match="fast weights need persistent chains"):
        fast_weights(data_chains(sampler=GIBBS))
    with pytest.raises(TypeError, match="wraps a negative phase"):
        fast_weights(GIBBS)
    with pytest.raises(ValueError, match="fast_decay"):
        fast_weights(persistent_chains(8), decay=1.0)
    with pytest.raises(ValueError, match="set them on persistent_chains"):
        pcd(F, persistent_chains(8, sampler=GIBBS), 8)
    with pytest.raises(ValueError, match="energy_penalty is an option of energy_gradient"):
        pcd(closed, persistent_chains(8), energy_penalty=0.1)
    with pytest.raises(TypeError, match="pass n_chains"):
        pcd(F, GIBBS)
    with pytest.raises(TypeError, match="GradientEstimator or an energy function"):
        pcd(3, persistent_chains(8))
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="n_chains must be positive"):
            check_chain_count(bad)
    assert check_chain_count(np.int64(3)) == 3


class _KernelInfo(NamedTuple):
    acceptance_rate: Any


class _OwnInfo(NamedTuple):
    """A rule's info written outside the library: ContrastiveInfo's fields, no metrics()."""

    positive_energy: Any
    negative_energy: Any
    sampler_info: Any


def test_each_info_reports_its_own_metrics():
    one = jnp.float32(1.0)
    metrics = sampler_metrics(_KernelInfo(jnp.array([0.5, 1.0])))
    assert metrics == {"acceptance_rate": 0.75}
    assert np.isnan(sampler_metrics(None)["acceptance_rate"])
    swaps = pt.PTInfo(
        _KernelInfo(jnp.ones((3, 2))), jnp.array([[0.2, 0.4]]), None, None,
        jnp.array([2, 3]), None, None,
    )  # fmt: skip
    assert sampler_metrics(swaps) == pytest.approx(
        {"acceptance_rate": 1.0, "swap_rate": 0.3, "round_trips": 5}
    )
    info = ContrastiveInfo(one, 2 * one, swaps, jnp.ones(4))
    assert set(rule_metrics(info)) == {
        "positive_energy", "negative_energy", "acceptance_rate", "swap_rate", "round_trips",
        "negative_energies",
    }  # fmt: skip
    own = rule_metrics(_OwnInfo(one, 2 * one, _KernelInfo(one)))
    assert own == {"positive_energy": 1.0, "negative_energy": 2.0, "acceptance_rate": 1.0}
    score = rule_metrics(ScoreMatchingInfo(3 * one, one, 0 * one, None))
    assert set(score) == {"loss", "positive_energy", "negative_energy", "acceptance_rate"}
    assert score["loss"] == 3.0 and np.isnan(score["acceptance_rate"])


def test_old_import_paths_are_the_new_objects():
    """``learning.rbm``, ``learning.dbm`` and the alias modules keep old imports working."""
    from numpyro_ebm import learning
    from numpyro_ebm.learning import dbm, dbm_centering, dbm_pretraining, negative_phases, rbm

    for name in rbm.__all__:
        assert getattr(rbm, name) is getattr(rbm_rules, name)
    for module in (dbm_rules, dbm_centering, dbm_pretraining):
        for name in module.__all__:
            assert getattr(dbm, name) is getattr(module, name)
    assert learning.pcd is pcd
    assert cdlib.PCDState is negative_phases.PCDState is dbn.CopiesPCDState
    assert tempered.PTFPCDState is negative_phases.PTFPCDState
    assert replay.ReplayState is negative_phases.ReplayState
