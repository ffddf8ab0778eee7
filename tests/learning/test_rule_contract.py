"""The contract every learning rule in numpyro_ebm must satisfy (cf. Optax's shared tests).

A rule is ``LearningRule(init, step)`` with ``init(rng_key, params, data) -> state``
and ``step(rng_key, state, params, batch) -> (grads, state, info)``. For each rule:

- ``step`` compiles under ``jax.jit``; the gradients have the parameters' structure,
  shapes and dtypes, and the new state those of the old one;
- the same key gives the same result (purity);
- new parameter values do not retrace the jitted step (learning never recompiles);
- ``vmap`` over keys (independent replicas of one step) works, and float64 parameters
  and data give float64 gradients and state (under ``jax.enable_x64``; one test, one
  compilation);
- an info's ``positive_hidden``, when given, is p(h = 1 | batch) under the parameters
  (the closed-form Bernoulli-RBM rules give it, so that ``centered`` need not recompute it).

Each rule is compiled twice (float32 jit; float64 jit of the vmapped step), on models
of a handful of units, so the whole suite stays cheap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm, dbm, gaussian_rbm, potts, potts_rbm
from numpyro_ebm.kernels import mala, potts_rbm_gibbs, rbm_gibbs
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.learning import (
    composition,
    negative_phases,
    rbm_rules,
    replay,
    score_matching,
    tempered,
)
from numpyro_ebm.learning import contrastive_divergence as cdlib
from numpyro_ebm.learning import dbm as dbm_rules
from numpyro_ebm.learning import dbn as dbn_rules
from numpyro_ebm.learning import potts as potts_rules

D, K, K2, N = 6, 4, 3, 24


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    name: str
    make_rule: Callable[[], Any]
    make_params: Callable[[Any, int], Any]  # (dtype, variant) -> params
    make_data: Callable[[Any], Any]  # dtype -> (N, D) training data


def _binary_data(dtype):
    return jnp.asarray(np.random.default_rng(0).random((N, D)) < 0.4, dtype)


def _real_data(dtype):
    return jnp.asarray(np.random.default_rng(0).normal(size=(N, D)), dtype)


def _rbm_params(dtype, variant):
    params = bernoulli_rbm.init_params(jax.random.key(variant), D, K, weight_scale=0.5)
    return jax.tree.map(lambda x: x.astype(dtype), params)


def _gaussian_rbm_params(dtype, variant):
    params = gaussian_rbm.init_params(jax.random.key(variant), D, K, weight_scale=0.5)
    return jax.tree.map(lambda x: x.astype(dtype), params)


def _dbm_params(dtype, variant):
    params = dbm.init_params(jax.random.key(variant), D, K, K2, weight_scale=0.5)
    return jax.tree.map(lambda x: x.astype(dtype), params)


def _binary_noise(key, n):
    return jax.random.bernoulli(key, 0.5, (n, D)).astype(jnp.float32)


GIBBS = rbm_gibbs.as_top_level_api("bernoulli")
LADDER = jnp.array([0.0, 0.5, 1.0])
RBM_F = bernoulli_rbm.free_energy
GAUSS_F = gaussian_rbm.free_energy

SPECS = [
    RuleSpec(
        "cd", lambda: cdlib.contrastive_divergence(RBM_F, GIBBS, k=2), _rbm_params, _binary_data
    ),
    RuleSpec(
        "pcd",
        lambda: cdlib.persistent_contrastive_divergence(RBM_F, GIBBS, 8),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec(
        "fpcd",
        lambda: cdlib.fast_persistent_contrastive_divergence(RBM_F, GIBBS, 8),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec("rbm_cd", lambda: rbm_rules.bernoulli_rbm_cd(k=2), _rbm_params, _binary_data),
    RuleSpec("rbm_pcd", lambda: rbm_rules.bernoulli_rbm_pcd(8, k=2), _rbm_params, _binary_data),
    RuleSpec("rbm_fpcd", lambda: rbm_rules.bernoulli_rbm_fpcd(8, k=2), _rbm_params, _binary_data),
    RuleSpec(
        "centered_pcd",
        lambda: rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(8)),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec(
        "replay",
        lambda: replay.persistent_with_replay(
            RBM_F, GIBBS, 8, buffer_size=16, k=1, noise_fn=_binary_noise, vmap_chains=False
        ),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec(
        "pcd_mala",
        lambda: cdlib.persistent_contrastive_divergence(
            GAUSS_F, mala.as_top_level_api(GAUSS_F, step_size=0.1), 8, vmap_chains=True
        ),
        _gaussian_rbm_params,
        _real_data,
    ),
    RuleSpec(
        "score_matching_exact",
        lambda: score_matching.score_matching(GAUSS_F),
        _gaussian_rbm_params,
        _real_data,
    ),
    RuleSpec(
        "score_matching_sliced",
        lambda: score_matching.score_matching(GAUSS_F, "sliced", n_probes=2),
        _gaussian_rbm_params,
        _real_data,
    ),
    RuleSpec(
        "score_matching_denoising",
        lambda: score_matching.score_matching(GAUSS_F, "denoising", noise_scale=0.1),
        _gaussian_rbm_params,
        _real_data,
    ),
    RuleSpec(
        "pt_pcd",
        lambda: tempered.pt_pcd(RBM_F, pt.rbm_tempering(), 8, LADDER, swap="seo"),
        _rbm_params,
        _binary_data,
    ),
    # --- generic PT-FPCD (issue 11; pt-shard branch) ---
    RuleSpec(
        "pt_fpcd",
        lambda: tempered.pt_fpcd(RBM_F, pt.rbm_tempering(), 8, LADDER, k=2),
        _rbm_params,
        _binary_data,
    ),
    # --- end generic PT-FPCD ---
    RuleSpec(
        "rbm_pt_pcd",
        lambda: tempered.bernoulli_rbm_pt_pcd(8, LADDER, base_visible_bias=jnp.zeros(D)),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec(
        "rbm_pt_fpcd",
        lambda: tempered.bernoulli_rbm_pt_fpcd(8, LADDER, k=2),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec(
        "dbm_pcd", lambda: dbm_rules.dbm_pcd(8, mean_field_iterations=3), _dbm_params, _binary_data
    ),
    RuleSpec(
        "copies_rbm_pcd",
        lambda: dbn_rules.copies_rbm_pcd(8, visible_copies=2),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec(
        "copies_rbm_pcd_one_copy",
        lambda: rbm_rules.centered(dbn_rules.copies_rbm_pcd(8)),
        _rbm_params,
        _binary_data,
    ),
]
# ---- DBM rules of learning.dbm (issue 15: tolerance-stopped damped mean field, FPCD, PT,
# centered); the plain dbm_pcd is above ----
SPECS += [
    RuleSpec(
        "dbm_pcd_damped",
        lambda: dbm_rules.dbm_pcd(
            8, mean_field_iterations=20, mean_field_tolerance=1e-3, mean_field_damping=0.3
        ),
        _dbm_params,
        _binary_data,
    ),
    RuleSpec("dbm_pt_pcd", lambda: dbm_rules.dbm_pt_pcd(8, LADDER, k=2), _dbm_params, _binary_data),
    RuleSpec(
        "centered_dbm_fpcd",
        lambda: dbm_rules.centered_dbm(
            dbm_rules.dbm_fpcd(8, mean_field_iterations=3), weight_decay=1e-3
        ),
        _dbm_params,
        _binary_data,
    ),
]


# ---- end of the DBM rules ----
# ---- categorical (Potts) rules of learning.potts (issue 28) ----
def _potts_codes(dtype):
    return jnp.asarray(np.random.default_rng(0).integers(0, 3, (N, D)), dtype)


def _potts_weighted_codes(dtype):
    weights = np.random.default_rng(1).uniform(0.2, 1.0, N)
    return jnp.concatenate([_potts_codes(dtype), jnp.asarray(weights, dtype)[:, None]], axis=1)


def _potts_rbm_params(dtype, variant):
    return potts_rbm.init_params(jax.random.key(variant), D, 3, K, weight_scale=0.5, dtype=dtype)


def _potts_params(dtype, variant):
    return potts.init_params(jax.random.key(variant), D, 3, scale=0.5, dtype=dtype)


def _potts_drelu_params(dtype, variant):
    W = potts_rbm.init_params(jax.random.key(variant), D, 3, K, weight_scale=0.5, dtype=dtype).W
    ones = jnp.ones((K,), dtype)
    return potts_rbm.PottsDReLURBMParams(
        W, jnp.zeros((D, 3), dtype), ones, 2 * ones, 0.1 * variant * ones, -0.1 * ones
    )


def _potts_drelu_free_energy(params, v):
    return potts_rbm.drelu_free_energy(params, v, "codes")


def _potts_specs():
    return [
        RuleSpec(
            "potts_drelu_rbm_pcd_autodiff",
            lambda: cdlib.persistent_contrastive_divergence(
                _potts_drelu_free_energy,
                potts_rbm_gibbs.as_top_level_api(),
                8,
                validate_data=potts_rules.categorical_data_validator(3),
            ),
            _potts_drelu_params,
            _potts_codes,
        ),
        RuleSpec(
            "potts_rbm_pcd_weighted",
            lambda: potts_rules.potts_rbm_pcd(8, 3, k=2, weighted=True),
            _potts_rbm_params,
            _potts_weighted_codes,
        ),
        RuleSpec(
            "potts_pseudo_likelihood",
            lambda: potts_rules.pseudo_likelihood(3),
            _potts_params,
            _potts_codes,
        ),
    ]


SPECS += _potts_specs()
# ---- end of the Potts rules ----
# ---- rules composed from parts (issue 24): combinations no named factory spelt out ----
SPECS += [
    RuleSpec(
        "composed_centered_rbm_pt_fpcd",
        lambda: rbm_rules.centered(
            composition.pcd(
                rbm_rules.bernoulli_rbm_estimator(),
                negative_phases.fast_weights(negative_phases.tempered_chains(8, LADDER, k=2)),
            )
        ),
        _rbm_params,
        _binary_data,
    ),
    RuleSpec(
        "composed_tied_copies_fpcd",
        lambda: composition.pcd(
            dbn_rules.tied_copies_estimator(hidden_copies=2),
            negative_phases.fast_weights(negative_phases.persistent_chains(8, 2)),
        ),
        _rbm_params,
        _binary_data,
    ),
]
# ---- end of the composed rules ----

IDS = [spec.name for spec in SPECS]
# the closed-form Bernoulli-RBM rules (and the tied-copies rule with one visible copy) give
# p(h | batch) in their info, so that centered need not recompute it
GIVES_POSITIVE_HIDDEN = {
    "rbm_pt_pcd",
    "rbm_pt_fpcd",
    "rbm_cd",
    "rbm_pcd",
    "rbm_fpcd",
    "centered_pcd",
    "copies_rbm_pcd_one_copy",
    "composed_centered_rbm_pt_fpcd",
    "composed_tied_copies_fpcd",
}


def _structure_shapes_dtypes(tree):
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, [(np.shape(x), jnp.asarray(x).dtype) for x in leaves]


def _assert_same_leaves(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_jit_purity_no_retrace_structure(spec):
    rule = spec.make_rule()
    params0, params1 = spec.make_params(jnp.float32, 0), spec.make_params(jnp.float32, 1)
    data = spec.make_data(jnp.float32)
    state = rule.init(jax.random.key(0), params0, data)
    traces = []

    def counted_step(*args):
        traces.append(None)
        return rule.step(*args)

    step = jax.jit(counted_step)
    grads, new_state, info = step(jax.random.key(1), state, params0, data[:8])
    assert _structure_shapes_dtypes(grads) == _structure_shapes_dtypes(params0)
    assert _structure_shapes_dtypes(new_state) == _structure_shapes_dtypes(state)
    for leaf in jax.tree.leaves((grads, info)):
        assert np.all(np.isfinite(np.asarray(leaf))), spec.name
    positive_hidden = getattr(info, "positive_hidden", None)
    assert (positive_hidden is not None) == (spec.name in GIVES_POSITIVE_HIDDEN), spec.name
    if positive_hidden is not None:
        expected = bernoulli_rbm.hidden_probs(params0, data[:8])
        assert positive_hidden.shape == expected.shape and positive_hidden.dtype == expected.dtype
        np.testing.assert_allclose(positive_hidden, expected, rtol=1e-5, atol=1e-6)
    # purity: same key, same inputs, same outputs
    _assert_same_leaves(step(jax.random.key(1), state, params0, data[:8]), (grads, new_state, info))
    # new parameter values (and a new state) reuse the compiled step
    step(jax.random.key(2), new_state, params1, data[8:16])
    assert len(traces) == 1, f"{spec.name} retraced when the parameters changed"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_vmap_over_keys_in_float64(spec):
    """Independent replicas of one step under ``vmap`` over keys, in float64: the shapes
    gain the replica axis and every floating leaf stays float64 (one compilation for both)."""
    with jax.enable_x64(True):
        rule = spec.make_rule()
        params = spec.make_params(jnp.float64, 0)
        data = spec.make_data(jnp.float64)
        state = rule.init(jax.random.key(0), params, data)
        keys = jax.random.split(jax.random.key(3), 3)
        grads, new_state, _ = jax.jit(jax.vmap(rule.step, in_axes=(0, None, None, None)))(
            keys, state, params, data[:8]
        )
        for g, p in zip(jax.tree.leaves(grads), jax.tree.leaves(params), strict=True):
            assert g.shape == (3,) + p.shape
            assert g.dtype == jnp.float64, spec.name
        for new, old in zip(jax.tree.leaves(new_state), jax.tree.leaves(state), strict=True):
            assert new.shape == (3,) + np.shape(old)
            if jnp.issubdtype(jnp.asarray(old).dtype, jnp.floating):
                assert new.dtype == jnp.float64, spec.name
