"""Deep belief networks: the tied-copies RBM rule, greedy layer-wise training, the
up-pass and generation, checked against closed forms and exact enumeration.

Statistical tests run many independent chains to a final state and use chi-square
tests at alpha = 1e-3 (false-failure rate 0.1% per assertion); seeds are fixed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import logsumexp

from numpyro_ebm import datasets
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import deep, exact
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning import dbn, fit, rbm_rules
from numpyro_ebm.learning.contrastive_divergence import PCDState
from numpyro_ebm.learning.fit import CHAIN_DIAGNOSTICS
from tests._stats import chisquare_counts, configuration_index

ALPHA = 1e-3
N_CHAINS = 20_000


def _rbm(key, n_visible, n_hidden, scale):
    params = bernoulli_rbm.init_params(jax.random.key(key), n_visible, n_hidden, weight_scale=scale)
    return params._replace(
        b=jnp.linspace(-0.8, 0.8, n_visible), c=jnp.linspace(0.4, -0.4, n_hidden)
    )


def test_one_copy_is_exactly_bernoulli_rbm_pcd():
    params = _rbm(0, 5, 3, 1.0)
    visible = (jax.random.uniform(jax.random.key(1), (50, 5)) < 0.5).astype(jnp.float32)
    hidden = bernoulli_rbm.hidden_probs(params, visible)
    batch = (jax.random.uniform(jax.random.key(2), (20, 5)) < 0.3).astype(jnp.float32)
    reference = rbm_rules.bernoulli_rbm_pcd(50, k=3)
    copies = dbn.copies_rbm_pcd(50, k=3)
    g_ref, s_ref, _ = jax.jit(reference.step)(
        jax.random.key(3), PCDState(rbm_gibbs.RBMGibbsState(visible, hidden)), params, batch
    )
    g, s, _ = jax.jit(copies.step)(
        jax.random.key(3), dbn.CopiesPCDState(dbn.CopiesChains(visible, hidden)), params, batch
    )
    for a, b in zip(g_ref, g, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(s_ref.chains.visible, s.chains.visible)
    np.testing.assert_array_equal(s_ref.chains.hidden, s.chains.hidden)


@pytest.mark.parametrize("visible_copies, hidden_copies", [(2, 1), (1, 2), (2, 2)])
def test_copies_gradient_is_autodiff_of_the_tied_free_energy(visible_copies, hidden_copies):
    params = _rbm(4, 5, 3, 1.0)
    keys = jax.random.split(jax.random.key(5), 2)
    counts = jax.random.randint(keys[0], (30, 5), 0, visible_copies + 1).astype(jnp.float32)
    negatives = jax.random.randint(keys[1], (40, 5), 0, visible_copies + 1).astype(jnp.float32)

    def surrogate(p):
        return jnp.mean(dbn.copies_free_energy(p, counts, hidden_copies)) - jnp.mean(
            dbn.copies_free_energy(p, negatives, hidden_copies)
        )

    expected = jax.jit(jax.grad(surrogate))(params)

    @jax.jit
    def closed_form(params):
        return dbn.copies_rbm_gradient(
            params,
            counts,
            hidden_copies * bernoulli_rbm.hidden_probs(params, counts),
            negatives,
            hidden_copies * bernoulli_rbm.hidden_probs(params, negatives),
        )

    got = closed_form(params)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("visible_copies, hidden_copies", [(2, 1), (1, 2)])
def test_copies_chains_sample_the_expanded_rbm(visible_copies, hidden_copies):
    """The chains' visible counts follow the RBM with explicit tied copies, enumerated."""
    D, K = 3, 2
    params = _rbm(6, D, K, 1.5)
    rule = dbn.copies_rbm_pcd(N_CHAINS, visible_copies=visible_copies, hidden_copies=hidden_copies)
    data = jnp.zeros((1, D))
    state = rule.init(jax.random.key(7), params, data)
    batch = jnp.zeros((2, D))

    @jax.jit
    def run(state, key):
        def body(state, k):
            return rule.step(k, state, params, batch)[1], None

        return jax.lax.scan(body, state, jax.random.split(key, 60))[0]

    counts = np.asarray(run(state, jax.random.key(8)).chains.visible).astype(np.int64)
    # the expanded RBM: visible copies side by side, W tiled over copies of both layers
    expanded = bernoulli_rbm.BernoulliRBMParams(
        jnp.tile(params.W, (visible_copies, hidden_copies)),
        jnp.tile(params.b, visible_copies),
        jnp.tile(params.c, hidden_copies),
    )
    states, log_p = exact.log_probabilities_binary(
        bernoulli_rbm.free_energy, expanded, D * visible_copies
    )
    summed = states.reshape(-1, visible_copies, D).sum(axis=1).astype(np.int64)
    cell = summed @ (visible_copies + 1) ** np.arange(D)
    n_cells = (visible_copies + 1) ** D
    expected = np.array([np.exp(logsumexp(log_p[cell == i])) for i in range(n_cells)])
    observed = np.bincount(counts @ (visible_copies + 1) ** np.arange(D), minlength=n_cells)
    assert chisquare_counts(observed, expected) > ALPHA


def _tiny_dbn():
    return dbn.DBNParams((_rbm(10, 4, 3, 1.5), _rbm(11, 3, 2, 1.5)))


def test_generate_matches_the_exact_dbn_joint():
    params = _tiny_dbn()
    samples = dbn.generate(jax.random.key(12), params, N_CHAINS, n_gibbs=60)
    assert samples.visible.shape == (N_CHAINS, 4)
    assert [h.shape for h in samples.layers] == [(N_CHAINS, 3), (N_CHAINS, 2)]
    bottom, top = params.layers

    # p(v, h1, h2) = p(v | h1) p_top(h1, h2)
    def energy(p, x):
        v, h1, h2 = x[..., :4], x[..., 4:7], x[..., 7:]
        a = bernoulli_rbm.visible_logits(p[0], h1)
        log_p_v = jnp.sum(v * a - jax.nn.softplus(a), axis=-1)
        return -log_p_v + bernoulli_rbm.joint_energy(p[1], h1, h2)

    _, log_p = exact.log_probabilities_binary(energy, (bottom, top), 9)
    joint = np.concatenate([samples.visible, *samples.layers], axis=1)
    observed = np.bincount(configuration_index(joint), minlength=2**9)
    assert chisquare_counts(observed, np.exp(log_p)) > ALPHA
    np.testing.assert_allclose(
        samples.visible_probs, bernoulli_rbm.visible_probs(bottom, samples.layers[0]), rtol=1e-6
    )


def test_up_pass_probabilities_and_samples():
    params = _tiny_dbn()
    v = jnp.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    mu1, mu2 = dbn.up_pass(params, v)
    np.testing.assert_allclose(mu1, bernoulli_rbm.hidden_probs(params.layers[0], v), rtol=1e-6)
    np.testing.assert_allclose(mu2, bernoulli_rbm.hidden_probs(params.layers[1], mu1), rtol=1e-6)
    h1, h2 = dbn.up_pass(params, v, jax.random.key(0))
    assert h1.shape == (2, 3) and h2.shape == (2, 2)
    assert set(np.unique(np.concatenate([h1.ravel(), h2.ravel()]))) <= {0.0, 1.0}
    assert params.sizes == (4, 3, 2)


def test_greedy_layerwise_trains_each_layer_on_the_one_below():
    data = (jax.random.uniform(jax.random.key(13), (200, 6)) < 0.4).astype(jnp.float32)
    result = dbn.greedy_layerwise(
        jax.random.key(14), data, [4, 3], optax.sgd(0.05), epochs=[2, 1], batch_size=20
    )
    bottom, top = result.params.layers
    assert bottom.W.shape == (6, 4) and top.W.shape == (4, 3)
    assert [h["epoch"][-1] for h in result.histories] == [2, 1]
    # the top layer's visible biases started at the base rates of the bottom layer's
    # hidden probabilities: they moved little in one epoch
    rates = jnp.mean(bernoulli_rbm.hidden_probs(bottom, data), axis=0)
    np.testing.assert_allclose(jax.nn.sigmoid(top.b), rates, atol=0.15)


def test_greedy_layerwise_from_a_pretrained_layer_continues_the_stack():
    # starting from the first layer of a greedy run gives that run's second layer: the
    # same keys and the same up-pass, so the same numbers up to float reassociation
    data = (jax.random.uniform(jax.random.key(13), (200, 6)) < 0.4).astype(jnp.float32)
    held_out = (jax.random.uniform(jax.random.key(15), (40, 6)) < 0.4).astype(jnp.float32)
    for mode in ("probabilities", "samples"):
        full = dbn.greedy_layerwise(
            jax.random.key(14),
            data,
            [4, 3],
            optax.sgd(0.05),
            epochs=[2, 1],
            batch_size=20,
            hidden_activities=mode,
        )
        bottom = full.params.layers[0]
        continued = dbn.greedy_layerwise(
            jax.random.key(14),
            data,
            [3],
            optax.sgd(0.05),
            epochs=1,
            batch_size=20,
            hidden_activities=mode,
            pretrained=(bottom,),
            held_out=held_out,
        )
        assert continued.params.sizes == (6, 4, 3) and len(continued.histories) == 1
        for a, b in zip(continued.params.layers[0], bottom, strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(continued.params.layers[1], full.params.layers[1], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        # with held-out data the layer's history has fit's free-energy gap
        (gap,) = continued.histories[0]["free_energy_gap"]
        assert np.isfinite(gap) and "free_energy_gap" not in full.histories[1]


def test_transpose_initialization_starts_the_dbn_at_the_lower_rbm():
    # Hinton, Osindero & Teh (2006): a new layer started at the transpose of the one below
    # makes the DBN define the lower RBM's distribution exactly; with a zero learning rate
    # training leaves it there, so the DBN's exact likelihood is the RBM's
    data = (jax.random.uniform(jax.random.key(21), (120, 6)) < 0.4).astype(jnp.float32)
    bottom = bernoulli_rbm.init_params(jax.random.key(22), 6, 4, weight_scale=0.8)
    bottom = bottom._replace(b=jnp.linspace(-0.5, 0.5, 6), c=jnp.array([0.2, -0.3, 0.1, 0.0]))

    def stack(hidden, **options):
        return dbn.greedy_layerwise(
            jax.random.key(23), data, [hidden], optax.sgd(0.0), epochs=1, batch_size=20, **options
        )

    stacked = stack(6, initialization="transpose", pretrained=(bottom,))
    top = stacked.params.layers[1]
    np.testing.assert_array_equal(top.W, bottom.W.T)
    np.testing.assert_array_equal(top.b, bottom.c)
    np.testing.assert_array_equal(top.c, bottom.b)
    expected = exact.log_likelihood_bernoulli_rbm(bottom, data)
    np.testing.assert_allclose(
        deep.exact_log_likelihood_dbn(stacked.params, data), expected, atol=1e-6
    )
    with pytest.raises(ValueError, match="needs 6 hidden units"):
        stack(5, initialization="transpose", pretrained=(bottom,))
    with pytest.raises(ValueError, match="needs a layer below"):
        stack(4, initialization="transpose")
    with pytest.raises(ValueError, match="unknown initialization 'zeros'"):
        stack(4, initialization="zeros")


def test_copies_rule_reports_each_chains_free_energy_and_fit_its_rhat():
    # negative_energies are the free energies of the chains' negative samples (the state
    # at the start of the last sweep), so fit's chain R-hat and ESS are finite numbers
    params = _rbm(16, 5, 3, 1.0)
    data = (jax.random.uniform(jax.random.key(17), (100, 5)) < 0.4).astype(jnp.float32)
    for hidden_copies in (1, 2):
        rule = dbn.copies_rbm_pcd(30, visible_copies=2, hidden_copies=hidden_copies)
        state = rule.init(jax.random.key(18), params, data)
        _, new_state, info = jax.jit(rule.step)(jax.random.key(19), state, params, data[:10])
        assert not np.array_equal(new_state.chains.visible, state.chains.visible)
        np.testing.assert_allclose(
            info.negative_energies,
            dbn.copies_free_energy(params, state.chains.visible, hidden_copies),
            rtol=1e-5,
            atol=1e-5,
        )
        assert float(info.negative_energy) == pytest.approx(
            float(jnp.mean(info.negative_energies)), rel=1e-6
        )
        result = fit(
            jax.random.key(20),
            params,
            data,
            rule,
            optax.sgd(0.01),
            epochs=2,
            batch_size=10,
            progress=False,
        )
        for key in CHAIN_DIAGNOSTICS:
            assert len(result.history[key]) == 2
            assert all(np.isfinite(result.history[key])), (key, result.history[key])


def _greedy(data, hidden_sizes, **options):
    """``greedy_layerwise`` with the tiny settings of the argument checks below."""
    options = {"epochs": 1, "batch_size": 5, **options}
    return dbn.greedy_layerwise(jax.random.key(0), data, hidden_sizes, optax.sgd(0.1), **options)


def test_pretrained_layers_are_checked():
    data = jnp.zeros((10, 3))
    layer = bernoulli_rbm.init_params(jax.random.key(0), 3, 2)
    with pytest.raises(TypeError, match="wrap a single one"):
        _greedy(data, [2], pretrained=layer)
    with pytest.raises(ValueError, match=r"pretrained\[1\].*2 units of the layer below"):
        _greedy(data, [2], pretrained=(layer, bernoulli_rbm.init_params(jax.random.key(1), 3, 2)))
    with pytest.raises(ValueError, match="3 units of the data"):
        _greedy(data, [2], pretrained=(bernoulli_rbm.init_params(jax.random.key(1), 4, 2),))


def test_bad_arguments():
    data = jnp.zeros((10, 3))
    with pytest.raises(ValueError, match="hidden_sizes"):
        _greedy(data, [])
    with pytest.raises(ValueError, match="hidden_activities"):
        _greedy(data, [2], hidden_activities="means")
    with pytest.raises(ValueError, match="epochs has 3 entries"):
        _greedy(data, [2, 2], epochs=[1, 1, 1])
    with pytest.raises(ValueError, match="binary"):
        _greedy(data + 0.5, [2])
    with pytest.raises(ValueError, match="visible_copies"):
        dbn.copies_rbm_pcd(10, visible_copies=0)


@pytest.mark.slow
def test_greedy_dbn_on_digits_beats_independent_pixels():
    """A 64-12-8 DBN on the 8x8 digits: exact test log-likelihood (enumerating h1)
    well above the independent-pixel model, and the Monte Carlo variational bound below it."""
    split = datasets.load_digits()
    train, test = jnp.asarray(split.x_train), jnp.asarray(split.x_test)
    result = dbn.greedy_layerwise(
        jax.random.key(0), train, [12, 8], optax.sgd(0.05), epochs=60, batch_size=100
    )
    rate = jnp.clip(jnp.mean(train, axis=0), 1e-3, 1 - 1e-3)
    independent = float(jnp.mean(test @ jnp.log(rate) + (1 - test) @ jnp.log1p(-rate)))
    log_likelihood = deep.exact_log_likelihood_dbn(result.params, test)
    assert log_likelihood.mean() > independent + 1.5  # measured: -22.8 vs -25.2
    log_z_top = exact.log_partition_bernoulli_rbm(result.params.layers[1])
    bound = deep.dbn_variational_bound(jax.random.key(1), result.params, test, log_z_top)
    assert float(bound.mean) + 5 * float(bound.standard_error) < log_likelihood.mean()
