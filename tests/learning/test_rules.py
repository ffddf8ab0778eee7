"""Learning rules compute the gradients they claim, checked against exact enumeration.

Statistical tolerances are at least 5 standard errors per component (false-failure
rate below 1e-5 per test), computed from the stated number of samples.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning import contrastive_divergence as cdlib
from numpyro_ebm.learning import rbm_rules, regularizers, replay

D, K = 5, 3
GIBBS = rbm_gibbs.as_top_level_api("bernoulli")


def _params(seed=0, scale=1.0):
    p = bernoulli_rbm.init_params(jax.random.key(seed), D, K, weight_scale=scale)
    return p._replace(b=jnp.linspace(-0.5, 0.5, D), c=jnp.array([0.3, -0.2, 0.1]))


def _exact_samples(params, n, seed):
    states, log_p = exact.log_probabilities_binary(bernoulli_rbm.free_energy, params, D)
    idx = np.random.default_rng(seed).choice(
        len(states), size=n, p=np.exp(log_p) / np.exp(log_p).sum()
    )
    return jnp.asarray(states[idx], jnp.float32)


def _exact_model_gradient_term(params):
    """<dF/dtheta> under the model, by enumeration."""
    states, log_p = exact.log_probabilities_binary(bernoulli_rbm.free_energy, params, D)
    v, p = jnp.asarray(states, jnp.float32), jnp.asarray(np.exp(log_p), jnp.float32)
    return jax.grad(lambda q: jnp.sum(p * bernoulli_rbm.free_energy(q, v)))(params)


def test_autodiff_gradient_equals_rbm_closed_form():
    params = _params()
    batch = _exact_samples(params, 64, 1)
    negatives = _exact_samples(params, 48, 2)
    grads, _, _ = cdlib.contrastive_gradient(bernoulli_rbm.free_energy, params, batch, negatives)
    closed = rbm_rules.bernoulli_rbm_gradient(
        params,
        batch,
        bernoulli_rbm.hidden_probs(params, batch),
        negatives,
        bernoulli_rbm.hidden_probs(params, negatives),
    )
    for a, b in zip(grads, closed, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fast_pcd_step_equals_autodiff_on_the_same_chains():
    params = _params()
    data = _exact_samples(params, 200, 3)
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=50)
    state = rule.init(jax.random.key(0), params, data)
    grads, new_state, info = jax.jit(rule.step)(jax.random.key(1), state, params, data[:20])
    expected, positive, negative = cdlib.contrastive_gradient(
        bernoulli_rbm.free_energy, params, data[:20], state.chains.visible
    )
    for a, b in zip(grads, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info.positive_energy, positive, rtol=1e-5)
    np.testing.assert_allclose(info.negative_energy, negative, rtol=1e-5)
    assert not np.array_equal(new_state.chains.visible, state.chains.visible)  # chains advanced


def test_closed_form_fpcd_without_fast_weights_is_pcd():
    params = _params()
    data = _exact_samples(params, 200, 3)
    pcd = rbm_rules.bernoulli_rbm_pcd(n_chains=50, k=2)
    fpcd = rbm_rules.bernoulli_rbm_fpcd(n_chains=50, k=2, fast_learning_rate=0.0)
    state_a = pcd.init(jax.random.key(0), params, data)
    state_b = fpcd.init(jax.random.key(0), params, data)
    step_a, step_b = jax.jit(pcd.step), jax.jit(fpcd.step)
    for i in range(2):
        grads_a, state_a, info_a = step_a(jax.random.key(i), state_a, params, data[:20])
        grads_b, state_b, info_b = step_b(jax.random.key(i), state_b, params, data[:20])
        for a, b in zip(grads_a, grads_b, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(state_a.chains.visible, state_b.chains.visible)
        np.testing.assert_allclose(info_a.negative_energies, info_b.negative_energies, rtol=1e-6)
    for fast in state_b.fast_params:
        np.testing.assert_array_equal(fast, 0.0)


def test_closed_form_fpcd_chains_sample_the_fast_weighted_model():
    params = _params()
    data = _exact_samples(params, 200, 3)
    rule = rbm_rules.bernoulli_rbm_fpcd(n_chains=50, fast_learning_rate=0.3, fast_decay=0.9)
    state = rule.init(jax.random.key(0), params, data)
    step = jax.jit(rule.step)
    grads_1, state_1, _ = step(jax.random.key(1), state, params, data[:20])
    for fast, g in zip(state_1.fast_params, grads_1, strict=True):
        np.testing.assert_allclose(fast, -0.3 * g, rtol=1e-6)
    grads_2, state_2, info_2 = step(jax.random.key(2), state_1, params, data[20:40])
    chain_params = jax.tree.map(jnp.add, params, state_1.fast_params)
    negatives = state_1.chains.visible
    expected = rbm_rules.bernoulli_rbm_gradient(
        params,
        data[20:40],
        bernoulli_rbm.hidden_probs(params, data[20:40]),
        negatives,
        bernoulli_rbm.hidden_probs(chain_params, negatives),
    )
    for a, b in zip(grads_2, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        info_2.negative_energies, bernoulli_rbm.free_energy(chain_params, negatives), rtol=1e-5
    )
    for fast_2, fast_1, g in zip(state_2.fast_params, state_1.fast_params, grads_2, strict=True):
        np.testing.assert_allclose(fast_2, 0.9 * fast_1 - 0.3 * g, rtol=1e-5, atol=1e-7)
    # the fast-weighted sweep is the kernel's sweep under params + fast (k = 1: one split key)
    reference, _ = rbm_gibbs.build_kernel("bernoulli")(
        jax.random.split(jax.random.key(2), 1)[0], state_1.chains, chain_params
    )
    np.testing.assert_array_equal(state_2.chains.visible, reference.visible)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"fast_decay": 1.0}, "fast_decay"),
        ({"fast_learning_rate": -1.0}, "fast_learning_rate"),
        ({"k": 0}, "positive integer"),
        ({"n_chains": 0}, "n_chains"),
    ],
)
def test_closed_form_fpcd_rejects_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        rbm_rules.bernoulli_rbm_fpcd(**{"n_chains": 10, **options})


@pytest.mark.parametrize("fast", [False, True], ids=["generic", "closed_form"])
def test_pcd_gradient_matches_exact_likelihood_gradient(fast):
    params = _params(scale=1.2)
    data = _exact_samples(_params(seed=9), 4000, 5)  # data from another RBM: a nonzero gradient
    n_chains = 20_000
    if fast:
        rule = rbm_rules.bernoulli_rbm_pcd(n_chains=n_chains)
    else:
        rule = cdlib.persistent_contrastive_divergence(
            bernoulli_rbm.free_energy, GIBBS, n_chains=n_chains
        )
    state = rule.init(jax.random.key(0), params, data)
    step = jax.jit(rule.step)
    for i in range(40):  # burn the persistent chains in at fixed params
        grads, state, _ = step(jax.random.key(i), state, params, data)
    positive = jax.grad(lambda q: jnp.mean(bernoulli_rbm.free_energy(q, data)))(params)
    model = _exact_model_gradient_term(params)
    exact_grads = jax.tree.map(jnp.subtract, positive, model)
    # each component is a mean of n_chains terms bounded by 1: standard error <= 0.5/sqrt(n) = 0.0035
    for a, b in zip(grads, exact_grads, strict=True):
        np.testing.assert_allclose(a, b, atol=0.02)


def test_negative_energies_are_the_per_chain_energies_in_chain_order():
    params = _params()
    data = jnp.asarray(np.random.default_rng(9).random((100, D)) < 0.5, jnp.float32)
    batch = data[:10]

    def binary_noise(key, n):
        return jax.random.bernoulli(key, 0.5, (n, D)).astype(jnp.float32)

    persistent = {
        "pcd": cdlib.persistent_contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, 30),
        "fpcd": cdlib.fast_persistent_contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, 30),
        "closed_form_pcd": rbm_rules.bernoulli_rbm_pcd(30),
        "centered": rbm_rules.centered(rbm_rules.bernoulli_rbm_pcd(30)),
        "replay": replay.persistent_with_replay(
            bernoulli_rbm.free_energy, GIBBS, 30, 30, k=1, noise_fn=binary_noise, vmap_chains=False
        ),
    }

    @jax.jit  # one compilation for all the rules (eager ops would each compile)
    def init_and_step_all():
        states = {
            name: rule.init(jax.random.key(1), params, data) for name, rule in persistent.items()
        }
        steps = {
            name: rule.step(jax.random.key(2), states[name], params, batch)[1:]
            for name, rule in persistent.items()
        }
        return states, steps

    states, out = init_and_step_all()
    free = jax.jit(bernoulli_rbm.free_energy)
    expected = {
        # generic PCD and FPCD: the chains after the step, energies under the slow parameters
        "pcd": out["pcd"][0].chains.visible,
        "fpcd": out["fpcd"][0].chains.visible,
        # closed form (and the centered wrapper, which passes the info on): the chains at
        # the start of the sweep
        "closed_form_pcd": states["closed_form_pcd"].chains.visible,
        "centered": states["centered"].inner.chains.visible,
        # replay with buffer_size == n_chains: in buffer order
        "replay": out["replay"][0].buffer,
    }
    for name, negatives in expected.items():
        info = out[name][1]
        assert info.negative_energies.shape == (30,), name
        np.testing.assert_allclose(
            info.negative_energies, free(params, negatives), rtol=1e-5, atol=1e-5, err_msg=name
        )
        np.testing.assert_allclose(
            info.negative_energy, jnp.mean(info.negative_energies), rtol=1e-6, err_msg=name
        )
    # no persistent chains: CD restarts at the batch, a larger replay buffer advances a
    # random subset of its entries (eval_shape: traced, not compiled)
    for rule in (
        cdlib.contrastive_divergence(bernoulli_rbm.free_energy, GIBBS),
        rbm_rules.bernoulli_rbm_cd(),
        replay.persistent_with_replay(
            bernoulli_rbm.free_energy, GIBBS, 30, buffer_size=60, k=1, vmap_chains=False
        ),
    ):
        state = rule.init(jax.random.key(1), params, data)
        _, _, info = jax.eval_shape(rule.step, jax.random.key(2), state, params, batch)
        assert info.negative_energies is None


def test_cd1_gradient_vanishes_when_data_come_from_the_model():
    # Hinton's argument: at a perfect model the shortcut's expected gradient is zero
    params = _params(scale=1.5)
    data = _exact_samples(params, 40_000, 6)
    rule = cdlib.contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, k=1)
    grads, _, _ = jax.jit(rule.step)(jax.random.key(0), rule.init(None, params), params, data)
    # standard error of each component <= 0.5 * sqrt(2 / 40000) = 0.0035; 6 sigma
    for g in grads:
        np.testing.assert_allclose(g, 0.0, atol=0.021)


def test_cd_k_closed_form_matches_generic():
    params = _params()
    data = _exact_samples(params, 100, 7)
    generic = cdlib.contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, k=3)
    fast = rbm_rules.bernoulli_rbm_cd(k=3)
    g1, _, i1 = jax.jit(generic.step)(jax.random.key(3), generic.init(None, params), params, data)
    g2, _, i2 = jax.jit(fast.step)(jax.random.key(3), fast.init(None, params), params, data)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(i1.negative_energy, i2.negative_energy, rtol=1e-5)


def test_fpcd_without_fast_learning_is_pcd_and_fast_weights_follow_the_rule():
    params = _params()
    data = _exact_samples(params, 100, 8)
    pcd = cdlib.persistent_contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, n_chains=30)
    fpcd0 = cdlib.fast_persistent_contrastive_divergence(
        bernoulli_rbm.free_energy, GIBBS, n_chains=30, fast_learning_rate=0.0
    )
    g_pcd, s_pcd, _ = jax.jit(pcd.step)(
        jax.random.key(2), pcd.init(jax.random.key(1), params, data), params, data[:10]
    )
    g_f, s_f, _ = jax.jit(fpcd0.step)(
        jax.random.key(2), fpcd0.init(jax.random.key(1), params, data), params, data[:10]
    )
    for a, b in zip(g_pcd, g_f, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s_pcd.chains.visible, s_f.chains.visible)

    fpcd = cdlib.fast_persistent_contrastive_divergence(
        bernoulli_rbm.free_energy, GIBBS, n_chains=30, fast_learning_rate=0.1, fast_decay=0.5
    )
    state = fpcd.init(jax.random.key(1), params, data)
    state = state._replace(fast_params=jax.tree.map(jnp.ones_like, params))
    grads, new_state, _ = jax.jit(fpcd.step)(jax.random.key(2), state, params, data[:10])
    for f, g in zip(new_state.fast_params, grads, strict=True):
        np.testing.assert_allclose(f, 0.5 - 0.1 * g, rtol=1e-6)


def test_energy_penalty_adds_its_gradient():
    params = _params()
    batch, negatives = _exact_samples(params, 30, 1), _exact_samples(params, 20, 2)
    g0, _, _ = cdlib.contrastive_gradient(bernoulli_rbm.free_energy, params, batch, negatives)
    g1, _, _ = cdlib.contrastive_gradient(
        bernoulli_rbm.free_energy, params, batch, negatives, energy_penalty=0.1
    )
    penalty = jax.grad(
        lambda q: (
            0.1
            * (
                jnp.mean(bernoulli_rbm.free_energy(q, batch) ** 2)
                + jnp.mean(bernoulli_rbm.free_energy(q, negatives) ** 2)
            )
        )
    )(params)
    for a, b, c in zip(g1, g0, penalty, strict=True):
        np.testing.assert_allclose(a, b + c, rtol=1e-4, atol=1e-5)


def test_weight_decay_touches_weights_only():
    params = _params()
    decay = regularizers.weight_decay(0.5)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = decay.update(zeros, decay.init(params), params)
    np.testing.assert_allclose(updates.W, 0.5 * params.W)
    assert np.all(np.asarray(updates.b) == 0) and np.all(np.asarray(updates.c) == 0)
    l1 = regularizers.weight_decay(0.5, l1=True)
    updates, _ = l1.update(zeros, l1.init(params), params)
    np.testing.assert_allclose(updates.W, 0.5 * np.sign(params.W))
    assert np.all(np.asarray(updates.b) == 0)


def test_momentum_schedule_switches():
    schedule = regularizers.momentum_schedule(0.5, 0.9, switch_step=10)
    assert (
        float(schedule(0)) == 0.5
        and float(schedule(9)) == 0.5
        and float(schedule(10)) == pytest.approx(0.9)
    )
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=schedule)
    state = optimizer.init(_params())
    assert float(state.hyperparams["momentum"]) == 0.5


def test_sparsity_target_pushes_hidden_biases():
    params = _params()
    data = _exact_samples(params, 50, 3)
    inner = cdlib.contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, k=1)
    rule = regularizers.with_sparsity_target(
        inner, bernoulli_rbm.hidden_probs, target=0.05, cost=1.0, decay=0.0
    )
    g_inner, _, _ = jax.jit(inner.step)(jax.random.key(0), inner.init(None, params), params, data)
    grads, state, _ = jax.jit(rule.step)(jax.random.key(0), rule.init(None, params), params, data)
    q = jnp.mean(bernoulli_rbm.hidden_probs(params, data), axis=0)
    np.testing.assert_allclose(grads.c - g_inner.c, q - 0.05, rtol=1e-5)
    np.testing.assert_allclose(
        grads.W - g_inner.W, jnp.outer(jnp.mean(data, 0), q - 0.05), rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(state.mean_activation, q, rtol=1e-6)
    assert np.all(
        np.asarray(grads.c - g_inner.c) > 0
    )  # mean activations above 5%: biases are pushed down


def test_replay_buffer_rule_writes_back_and_reinitialises():
    def energy(p, x):
        return 0.5 * jnp.sum((x - p) ** 2, axis=-1)

    # a do-nothing kernel isolates the buffer logic
    data = jnp.stack([jnp.linspace(0, 1, 20), jnp.linspace(2, 4, 20)], axis=1)
    sampler = type("S", (), {"init": lambda position, params: _State(position), "step": _step})
    rule = replay.persistent_with_replay(
        energy, sampler, n_chains=8, buffer_size=16, k=1, reinit_fraction=1.0, vmap_chains=False
    )
    state = rule.init(jax.random.key(0), jnp.zeros(2), data)
    assert state.buffer.shape == (16, 2)
    low, high = replay.data_bounds(data)
    assert np.all(np.asarray(state.buffer) >= np.asarray(low)) and np.all(
        np.asarray(state.buffer) <= np.asarray(high)
    )
    grads, new_state, _ = jax.jit(rule.step)(jax.random.key(1), state, jnp.zeros(2), data[:4])
    changed = np.any(np.asarray(new_state.buffer) != np.asarray(state.buffer), axis=1)
    assert changed.sum() == 8  # reinit_fraction = 1: every drawn slot gets fresh noise written back
    with pytest.raises(ValueError, match="buffer_size"):
        replay.persistent_with_replay(energy, sampler, n_chains=8, buffer_size=4)


class _State(tuple):
    """Minimal kernel state with a ``position``."""

    def __new__(cls, position):
        return super().__new__(cls, (position,))

    @property
    def position(self):
        return self[0]


def _step(key, state, params):
    return state, ()


jax.tree_util.register_pytree_node(_State, lambda s: ((s[0],), None), lambda _, c: _State(c[0]))


def test_bad_options():
    with pytest.raises(ValueError, match="positive integer"):
        cdlib.contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, k=0)
    with pytest.raises(ValueError, match="fast_decay"):
        cdlib.fast_persistent_contrastive_divergence(
            bernoulli_rbm.free_energy, GIBBS, 10, fast_decay=1.0
        )
    with pytest.raises(ValueError, match="n_chains"):
        rbm_rules.bernoulli_rbm_pcd(0)
    with pytest.raises(ValueError, match="training data"):
        cdlib.persistent_contrastive_divergence(bernoulli_rbm.free_energy, GIBBS, 10).init(
            jax.random.key(0), _params(), None
        )


@pytest.mark.parametrize("factory", ["cd", "pcd", "fpcd"])
def test_rules_pass_the_energy_penalty_on(factory):
    # with a kernel that does not move, negatives equal the chain starts; for CD that is the
    # batch itself, so the contrastive part cancels and only the penalty's gradient remains
    def energy(p, x):
        return 0.5 * jnp.sum((x - p) ** 2, axis=-1)

    sampler = type("S", (), {"init": lambda position, params: _State(position), "step": _step})
    data = jnp.stack([jnp.linspace(0, 1, 8), jnp.linspace(2, 4, 8)], axis=1)
    params = jnp.array([0.5, 1.0])
    kwargs = {"vmap_chains": False, "energy_penalty": 0.1}
    if factory == "cd":
        rule = cdlib.contrastive_divergence(energy, sampler, **kwargs)
    elif factory == "pcd":
        rule = cdlib.persistent_contrastive_divergence(energy, sampler, n_chains=8, **kwargs)
    else:
        rule = cdlib.fast_persistent_contrastive_divergence(energy, sampler, n_chains=8, **kwargs)
    state = rule.init(jax.random.key(0), params, data)
    grads, _, _ = jax.jit(rule.step)(jax.random.key(1), state, params, data)
    negatives = data if factory == "cd" else state.chains.position
    expected, _, _ = cdlib.contrastive_gradient(energy, params, data, negatives, energy_penalty=0.1)
    without, _, _ = cdlib.contrastive_gradient(energy, params, data, negatives)
    np.testing.assert_allclose(grads, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(expected), np.asarray(without))


def _every_model_params():
    from numpyro_ebm.energies import boltzmann, dbm, dbn, gaussian_rbm, lattice_ising, mlp

    key = jax.random.PRNGKey(0)
    rbm = _params()
    return {
        "bernoulli_rbm": rbm,
        "gaussian_rbm": gaussian_rbm.init_params(key, 5, 3),
        "boltzmann": boltzmann.init_params(key, 4),
        "dbm": dbm.init_params(key, 5, 4, 3),
        "dbn": dbn.DBNParams((rbm, bernoulli_rbm.init_params(key, rbm.W.shape[1], 2))),
        "lattice_ising": lattice_ising.init_params(key, (3, 4)),
        "mlp": mlp.init_params(key, [5, 4, 1]),
    }


@pytest.mark.parametrize("model", sorted(_every_model_params()))
def test_weight_decay_decays_every_weight_matrix_and_no_bias(model):
    # the default mask once decayed a DBM's W1/W2 not at all (it looked for a field "W")
    params = _every_model_params()[model]
    params = jax.tree.map(lambda x: x + 1.0, params)  # no zero weight hides a missed decay
    decay = regularizers.weight_decay(0.5)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = decay.update(zeros, decay.init(params), params)
    weights = {"W", "W1", "W2", "J", "horizontal", "vertical"}
    for path, update in jax.tree_util.tree_leaves_with_path(updates):
        name = path[-1].name
        value = jax.tree_util.tree_leaves_with_path(params)
        original = dict(value)[path]
        if name in weights:
            np.testing.assert_allclose(update, 0.5 * original, err_msg=f"{model}.{name}")
        else:
            assert np.all(np.asarray(update) == 0), f"{model}.{name} was decayed"
    assert any(path[-1].name in weights for path, _ in jax.tree_util.tree_leaves_with_path(updates))
