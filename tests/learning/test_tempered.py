"""Tempered learning: the closed-form PT rules' gradients, and fit's swap/round-trip history."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.learning import fit, tempered
from numpyro_ebm.learning.contrastive_divergence import contrastive_gradient

D, K = 6, 4
LADDER = jnp.array([0.0, 0.3, 0.6, 1.0])


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], np.float32)
    x = prototypes[rng.integers(0, 2, n)]
    flip = rng.random(x.shape) < 0.1
    return jnp.asarray(np.where(flip, 1 - x, x), jnp.float32)


@pytest.mark.parametrize("fast_weights", [False, True], ids=["pt_pcd", "pt_fpcd"])
def test_rbm_fast_path_gradient_is_autodiff_on_the_target_replica(fast_weights):
    data = _data()
    params = bernoulli_rbm.init_params(jax.random.key(0), D, K, weight_scale=0.5)
    make = tempered.bernoulli_rbm_pt_fpcd if fast_weights else tempered.bernoulli_rbm_pt_pcd
    rule = make(16, LADDER, base_visible_bias=jnp.full((D,), -0.2))
    state = rule.init(jax.random.key(1), params, data)
    grads, new_state, info = jax.jit(rule.step)(jax.random.key(2), state, params, data[:10])
    # k = 1: the negatives are the beta = 1 replica's state at the start of its sweep,
    # i.e. after the step's swaps
    negatives = pt.apply_swaps(state.chains.replicas.visible, info.sampler_info.is_swapped)[-1]
    assert np.asarray(info.sampler_info.is_swapped)[:, -1].any()  # the swap case is covered
    expected, _, _ = contrastive_gradient(bernoulli_rbm.free_energy, params, data[:10], negatives)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        info.negative_energies, bernoulli_rbm.free_energy(params, negatives), rtol=1e-5
    )
    assert info.sampler_info.swap_acceptance.shape == (16, K - 1)
    assert int(new_state.chains.step_count) == 1
    if fast_weights:
        np.testing.assert_allclose(new_state.fast_params.W, -0.02 * grads.W, rtol=1e-6)


def test_fit_records_swap_rate_and_round_trips_and_learns():
    data = _data()
    params = bernoulli_rbm.init_params(jax.random.key(3), D, K, data=data, weight_scale=0.1)
    rule = tempered.pt_pcd(bernoulli_rbm.free_energy, pt.rbm_tempering(), 20, LADDER)
    result = fit(
        jax.random.key(4),
        params,
        data,
        rule,
        optax.sgd(0.1, momentum=0.5),
        epochs=12,
        batch_size=10,
        progress=False,
    )
    history = result.history
    assert len(history["swap_rate"]) == 12
    assert all(0.0 <= r <= 1.0 for r in history["swap_rate"])
    assert np.all(np.diff(history["round_trips"]) >= 0) and history["round_trips"][-1] > 0
    before = exact.log_likelihood_bernoulli_rbm(params, data).mean()
    after = exact.log_likelihood_bernoulli_rbm(result.params, data).mean()
    assert after > before + 0.5


def test_fit_history_of_the_generic_pt_fpcd_has_swap_rate_and_round_trips():
    data = _data(40)
    params = bernoulli_rbm.init_params(jax.random.key(5), D, K, data=data, weight_scale=0.1)
    rule = tempered.pt_fpcd(bernoulli_rbm.free_energy, pt.rbm_tempering(), 8, LADDER)
    result = fit(
        jax.random.key(6),
        params,
        data,
        rule,
        optax.sgd(0.1),
        epochs=2,
        batch_size=10,
        progress=False,
    )
    history = result.history
    assert len(history["swap_rate"]) == 2 and all(0.0 <= r <= 1.0 for r in history["swap_rate"])
    # round trips so far, summed over the chains: the final state's count
    assert len(history["round_trips"]) == 2
    assert history["round_trips"][-1] == int(result.rule_state.chains.round_trips.sum())
