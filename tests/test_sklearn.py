"""The scikit-learn estimators: scikit-learn's own estimator checks, Pipeline/GridSearchCV,
clone/pickle, error types, parity with ``sklearn.neural_network.BernoulliRBM``, the
extras, and the code in docs/sklearn.md. Skipped when scikit-learn is not installed.

Every fit is tiny (a few units, one or two epochs): what costs time here is XLA compiling
one epoch per data shape.
"""

import pickle
import re
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import BernoulliRBM as SklearnBernoulliRBM  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.utils import gen_even_slices  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from numpyro_ebm.evaluation import exact  # noqa: E402
from numpyro_ebm.sklearn import (  # noqa: E402
    _PARTIAL,
    BernoulliRBM,
    GaussianBernoulliRBM,
    _entropy,
    _step_uniforms,
    sklearn_batch_keys,
    sklearn_batches,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sklearn.md"


def _expected_failed_checks(estimator):
    if isinstance(estimator, BernoulliRBM):
        # the same two checks scikit-learn marks as expected failures for its own BernoulliRBM
        # (sklearn/utils/_test_common/instance_generator.py): the default score_samples flips
        # one random bit per row, so a row's score depends on the rows scored with it
        return {
            "check_methods_subset_invariance": (
                "the default score_samples (scikit-learn's stochastic pseudo-likelihood) draws "
                "the flipped bits for all rows together; scikit-learn's BernoulliRBM fails it too"
            ),
            "check_methods_sample_order_invariance": (
                "the default score_samples draws the flipped bits in row order; "
                "scikit-learn's BernoulliRBM fails it too"
            ),
        }
    return {}


@parametrize_with_checks(
    [
        BernoulliRBM(n_components=3, n_iter=1, random_state=0),
        GaussianBernoulliRBM(n_components=3, n_iter=1, random_state=0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(0)
    prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=np.float64)
    labels = rng.integers(0, 2, 60)
    noise = rng.random((60, 6)) < 0.1
    return np.abs(prototypes[labels] - noise), labels


@pytest.fixture(scope="module")
def real_data(binary_data):
    X, y = binary_data
    return X + 0.3 * np.random.default_rng(1).standard_normal(X.shape), y


@pytest.fixture(scope="module")
def fitted(binary_data):
    return BernoulliRBM(n_components=3, n_iter=2, random_state=0).fit(binary_data[0])


@pytest.mark.parametrize("estimator", ["bernoulli", "gaussian"])
def test_pipeline_grid_search_clone_and_pickle(estimator, binary_data, real_data):
    X, y = binary_data if estimator == "bernoulli" else real_data
    model = (BernoulliRBM if estimator == "bernoulli" else GaussianBernoulliRBM)(
        n_components=3, n_iter=10, random_state=0
    )
    pipeline = Pipeline([("rbm", model), ("logistic", LogisticRegression())])
    search = GridSearchCV(pipeline, {"rbm__learning_rate": [0.1, 0.3]}, cv=2).fit(X, y)
    assert search.best_params_["rbm__learning_rate"] in (0.1, 0.3)
    # the two prototypes are easy to separate from the RBM's features
    assert search.score(X, y) > 0.9

    fitted_rbm = search.best_estimator_.named_steps["rbm"]
    copy = clone(fitted_rbm)
    assert copy.get_params() == fitted_rbm.get_params()
    assert not hasattr(copy, "components_")
    restored = pickle.loads(pickle.dumps(fitted_rbm))
    np.testing.assert_array_equal(restored.transform(X), fitted_rbm.transform(X))
    np.testing.assert_array_equal(restored.components_, fitted_rbm.components_)
    # a restored model keeps training from its chains and optimizer state
    restored.partial_fit(X)
    assert not np.array_equal(restored.components_, fitted_rbm.components_)


def test_errors_are_scikit_learns(binary_data, fitted):
    X = binary_data[0]
    for method in ("transform", "score_samples", "gibbs"):
        with pytest.raises(NotFittedError):
            getattr(BernoulliRBM(), method)(X)
    with pytest.raises(NotFittedError):
        GaussianBernoulliRBM().sample(2)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BernoulliRBM(n_components=2).fit(bad)
    with pytest.raises(ValueError, match="features"):
        fitted.transform(X[:, :4])
    with pytest.raises(ValueError, match="learning_rule"):
        BernoulliRBM(learning_rule="tempered").fit(X)
    with pytest.raises(ValueError, match="binary"):
        fitted.score_samples(X * 0.5, method="pseudo_likelihood")
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)


def test_same_meaning_as_scikit_learns_estimator(binary_data, fitted):
    """Our fitted attributes plugged into scikit-learn's BernoulliRBM give the same outputs."""
    X = binary_data[0]
    theirs = SklearnBernoulliRBM(n_components=3, random_state=0)
    for name in ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_"):
        setattr(theirs, name, getattr(fitted, name).astype(np.float64))
    theirs.n_features_in_ = X.shape[1]
    np.testing.assert_allclose(fitted.transform(X), theirs.transform(X), rtol=1e-5)
    assert fitted.transform(X).dtype == np.float64
    assert fitted.transform(X.astype(np.float32)).dtype == np.float32
    assert fitted.h_samples_.shape == (fitted.batch_size, 3)
    assert fitted.gibbs(X).dtype == theirs.gibbs(X).dtype == np.bool_

    # the same int random_state gives scikit-learn's initial weights (rounded to float32)
    np.testing.assert_allclose(
        BernoulliRBM(n_components=3, n_iter=0, random_state=5).fit(X).components_,
        SklearnBernoulliRBM(n_components=3, n_iter=0, random_state=5).fit(X).components_,
        rtol=1e-6,
    )

    # with one feature the flipped bit is not random: the stochastic pseudo-likelihood is
    # then deterministic and must equal scikit-learn's exactly
    X1 = X[:, :1]
    ours = BernoulliRBM(n_components=2, n_iter=1, random_state=0).fit(X1)
    theirs1 = SklearnBernoulliRBM(n_components=2, random_state=0)
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        setattr(theirs1, name, getattr(ours, name).astype(np.float64))
    theirs1.n_features_in_ = 1
    np.testing.assert_allclose(ours.score_samples(X1), theirs1.score_samples(X1), rtol=1e-5)


class _GivenUniforms:
    """Stands in for scikit-learn's ``RandomState``: ``uniform`` returns the given draws."""

    def __init__(self, draws):
        self.draws = list(draws)

    def uniform(self, size):
        draw = self.draws.pop(0)
        assert draw.shape == size
        return draw


def test_sklearn_batches_are_gen_even_slices():
    for n, batch_size in [(7, 3), (9, 3), (2, 10), (7188, 10)]:
        index, mask = sklearn_batches(n, batch_size)
        n_batches = -(-n // batch_size)
        slices = gen_even_slices(n_batches * batch_size, n_batches, n_samples=n)
        assert [list(i[m]) for i, m in zip(index, mask, strict=True)] == [
            list(range(n))[s] for s in slices
        ]


def test_fit_and_partial_fit_are_scikit_learns_algorithm():
    """Our fit and partial_fit against scikit-learn's own ``_fit``, fed our uniforms.

    7 rows in minibatches of 3 (scikit-learn's slices 3, 3, 1; the last one's chain term
    weighs 3/1), probabilities in [0, 1], 2 epochs, then one partial_fit: the same
    initial weights, minibatch order, step size, persistent hidden samples and updates,
    so the parameters agree to float32 rounding and the binary chains exactly.
    """
    X = np.random.default_rng(1).random((7, 4)).astype(np.float32)
    seed, batch_size, n_components = 3, 3, 2
    ours = BernoulliRBM(
        n_components=n_components,
        batch_size=batch_size,
        n_iter=2,
        learning_rate=0.5,
        random_state=seed,
    ).fit(X)
    theirs = SklearnBernoulliRBM(
        n_components=n_components, batch_size=batch_size, learning_rate=0.5
    )
    theirs.components_ = np.random.RandomState(seed).normal(0, 0.01, (2, 4)).astype(np.float32)
    theirs.intercept_hidden_ = np.zeros(2, np.float32)
    theirs.intercept_visible_ = np.zeros(4, np.float32)
    theirs.h_samples_ = np.zeros((batch_size, 2), np.float32)
    uniforms = jax.jit(_step_uniforms, static_argnums=(1, 2, 3, 4, 5))

    @jax.jit
    def epoch_uniforms(seed, epoch):
        keys = sklearn_batch_keys(seed, epoch, 3)
        return jax.vmap(lambda key: uniforms(key, 1, batch_size, 4, 2, np.float32))(keys)

    def assert_same():
        for name in ("components_", "intercept_hidden_", "intercept_visible_"):
            np.testing.assert_allclose(
                getattr(ours, name), getattr(theirs, name), rtol=1e-5, atol=1e-7
            )
        np.testing.assert_array_equal(ours.h_samples_, theirs.h_samples_)

    for epoch in range(2):
        visible, hidden = (np.asarray(u) for u in epoch_uniforms(np.uint32(seed), epoch))
        slices = gen_even_slices(3 * batch_size, 3, n_samples=7)
        for batch, batch_slice in enumerate(slices):
            theirs._fit(X[batch_slice], _GivenUniforms([visible[batch, 0], hidden[batch, 0]]))
    assert_same()
    assert 0 < theirs.h_samples_.sum() < theirs.h_samples_.size  # the chains did move

    # partial_fit: one step on its whole input, the same chains, lr / n_rows
    key = jax.random.key(_entropy(seed, _PARTIAL, 0))
    visible, hidden = uniforms(key, 1, batch_size, 4, 2, np.float32)
    ours.partial_fit(X[:2])
    theirs._fit(X[:2], _GivenUniforms([np.asarray(visible[0]), np.asarray(hidden[0])]))
    assert_same()


def test_private_hidden_methods_of_scikit_learns_class(binary_data, fitted):
    # scikit-learn's test_rbm.py calls them (test_transform, test_sample_hiddens), and so
    # does code written against its BernoulliRBM
    X = binary_data[0]
    np.testing.assert_array_equal(fitted.transform(X), fitted._mean_hiddens(X))
    one_row = fitted._mean_hiddens(X[0])  # one row, unchecked, as scikit-learn's
    assert one_row.shape == (3,)
    np.testing.assert_array_equal(one_row, fitted.transform(X[:1])[0])
    # the mean of 2000 draws is within 4.5 standard errors (<= 0.5 / sqrt(2000)) of the
    # probability: false-failure rate < 3 units x 6.8e-6
    rng = np.random.RandomState(0)
    draws = np.array([fitted._sample_hiddens(X[0], rng) for _ in range(2000)])
    assert draws.dtype == bool and draws.shape == (2000, 3)
    np.testing.assert_allclose(draws.mean(0), one_row, atol=4.5 * 0.5 / np.sqrt(2000))
    # the same rng state gives the same draw (scikit-learn's contract: rng drives it)
    np.testing.assert_array_equal(
        fitted._sample_hiddens(X[:5], np.random.RandomState(3)),
        fitted._sample_hiddens(X[:5], np.random.RandomState(3)),
    )


def test_score_methods_and_their_relations(binary_data, fitted):
    X = binary_data[0]
    exact_pll = fitted.score_samples(X, method="pseudo_likelihood")
    # the stochastic score is unbiased for the exact one: averaging over the D possible flips
    # (here: many seeds) recovers it. With 400 seeds the standard error of the mean of the
    # per-row averages is below 0.02 nats for these weights; 0.1 is five of them.
    stochastic = np.mean(
        [_with_params(fitted, random_state=seed).score_samples(X) for seed in range(400)], axis=0
    )
    assert abs(np.mean(stochastic) - np.mean(exact_pll)) < 0.1
    # with an int random_state the stochastic score is reproducible
    np.testing.assert_array_equal(fitted.score_samples(X), fitted.score_samples(X))

    log_lik = fitted.score_samples(X, method="log_likelihood")
    params = fitted._params_from_attributes()
    np.testing.assert_allclose(log_lik, exact.log_likelihood_bernoulli_rbm(params, X), rtol=1e-6)
    # log-probabilities of discrete outcomes are negative
    assert np.all(log_lik < 0) and np.all(exact_pll < 0)


def _with_params(model, **changes):
    """A copy of a fitted model with some constructor parameters changed (no refit)."""
    copy = pickle.loads(pickle.dumps(model))
    return copy.set_params(**changes)


@pytest.mark.slow  # two AIS compilations (~10 s of CPU); the AIS estimators have their own tests
def test_log_likelihood_by_ais_matches_enumeration(binary_data, fitted, real_data):
    X = binary_data[0]
    by_enumeration = fitted.score_samples(X, method="log_likelihood")
    # max_exact_units below the smaller layer (3 hidden units) forces AIS; on a 6x3 RBM
    # 100 runs of 2000 temperatures estimate log Z to within ~0.01 nats (a 0.1 bound is
    # far outside its spread)
    ais_model = _with_params(fitted, max_exact_units=2, ais_temperatures=2000)
    by_ais = ais_model.score_samples(X, method="log_likelihood")
    np.testing.assert_allclose(by_ais, by_enumeration, atol=0.1)

    R = real_data[0]
    gaussian = GaussianBernoulliRBM(n_components=3, n_iter=2, random_state=0).fit(R)
    by_enumeration = gaussian.score_samples(R)
    by_ais = _with_params(gaussian, max_exact_units=2, ais_temperatures=2000).score_samples(R)
    np.testing.assert_allclose(by_ais, by_enumeration, atol=0.1)
    free = gaussian.score_samples(R, method="free_energy")
    # -F(v) and log p(v) differ by the constant log Z
    # (up to float32 rounding of the free energy)
    np.testing.assert_allclose(free - by_enumeration, (free - by_enumeration)[0], rtol=1e-5)


def test_training_raises_the_exact_log_likelihood(binary_data):
    X = binary_data[0]
    untrained = BernoulliRBM(n_components=3, n_iter=0, random_state=0).fit(X)
    before = untrained.score_samples(X, method="log_likelihood").mean()
    # the untrained model is nearly uniform, 6 log(1/2) = -4.16 nats; the data (two
    # prototypes, each bit flipped with probability 0.1) has entropy log 2 + 6 H(0.1) = 2.64
    # nats, so the best model scores about -2.64. 600 PCD-1 steps must close half that gap
    # on average over 5 seeds. A single run sometimes stalls near -3.3 to -3.6 (2 of 30
    # seeds for ours, 1 of 30 for scikit-learn's estimator, whose 30-seed mean, -2.661,
    # equals ours, -2.663); the mean of 5 fails only if all 5 stall (about (2/30)^5).
    after = np.mean(
        [
            BernoulliRBM(n_components=3, n_iter=100, learning_rate=0.1, random_state=seed)
            .fit(X)
            .score_samples(X, method="log_likelihood")
            .mean()
            for seed in range(5)
        ]
    )
    assert after > before + 0.75


def test_random_state_reproducible_and_float64_input(binary_data):
    X = binary_data[0]
    a = BernoulliRBM(n_components=3, n_iter=1, random_state=3).fit(X)
    b = BernoulliRBM(n_components=3, n_iter=1, random_state=3).fit(X.astype(np.float32))
    c = BernoulliRBM(n_components=3, n_iter=1, random_state=4).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_.astype(np.float64))
    assert a.components_.dtype == np.float64 and b.components_.dtype == np.float32
    assert not np.array_equal(a.components_, c.components_)
    np.testing.assert_array_equal(
        a.sample(4, n_sweeps=5, random_state=1), a.sample(4, n_sweeps=5, random_state=1)
    )


@pytest.mark.parametrize(
    "extras",
    [
        dict(learning_rule="cd", k=2),
        dict(learning_rule="fpcd", n_chains=7),
        dict(centering=True, momentum=0.5, weight_decay=1e-3),
        dict(learning_rule="pt-pcd", n_temperatures=3),
    ],
)
def test_extras(binary_data, extras):
    X = binary_data[0]
    model = BernoulliRBM(n_components=3, n_iter=1, random_state=0, **extras).fit(X)
    plain = BernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(X)
    assert not np.allclose(model.components_, plain.components_)
    assert model.h_samples_.shape == (extras.get("n_chains", 10), 3)
    samples = model.sample(5, n_sweeps=3)
    assert samples.shape == (5, 6) and set(np.unique(samples)) <= {0.0, 1.0}
    model.partial_fit(X[:10])


def test_checkpoint_and_resume_equal_an_uninterrupted_fit(binary_data, tmp_path):
    X = binary_data[0]
    settings = dict(n_components=3, random_state=0, checkpoint_dir=str(tmp_path))
    BernoulliRBM(n_iter=1, **settings).fit(X)
    assert (tmp_path / "checkpoint.npz").exists()
    resumed = BernoulliRBM(n_iter=2, resume=True, **settings).fit(X)
    uninterrupted = BernoulliRBM(n_components=3, random_state=0, n_iter=2).fit(X)
    np.testing.assert_array_equal(resumed.components_, uninterrupted.components_)
    np.testing.assert_array_equal(resumed.h_samples_, uninterrupted.h_samples_)


def test_gaussian_rbm_extras(real_data):
    R = real_data[0]
    model = GaussianBernoulliRBM(
        n_components=3, n_iter=1, random_state=0, learn_sigma=True, learning_rule="cd"
    ).fit(R)
    fixed = GaussianBernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(R)
    np.testing.assert_allclose(fixed.sigma_, R.std(axis=0), rtol=1e-5)
    assert not np.allclose(model.sigma_, fixed.sigma_)
    assert fixed.sample(4, n_sweeps=3).shape == (4, 6)
    assert fixed.gibbs(R[:3]).dtype == np.float64


def test_docs_code_block_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {"__name__": "__docs__"})
