"""The Bernoulli RBM estimator, a drop-in for ``sklearn.neural_network.BernoulliRBM``."""

from __future__ import annotations

import numbers
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import expit
from sklearn.utils import check_random_state
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted

from numpyro_ebm import _executable_cache
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import exact, metrics, rbm_annealing
from numpyro_ebm.learning import engine
from numpyro_ebm.learning.checkpoint import TrainState, resume_from, run_fingerprint
from numpyro_ebm.sklearn import inputs
from numpyro_ebm.sklearn.estimator import (
    COMMON_CONSTRAINTS,
    EXTRA_PARAMETERS_DOC,
    Interval,
    RBMEstimator,
    StrOptions,
    store_parameters,
)
from numpyro_ebm.sklearn.rules import LEARNING_RULES, bernoulli_rule, optimizer_for
from numpyro_ebm.sklearn.scikit_learn_pcd import SklearnChains, sklearn_batches, sklearn_epoch

__all__ = ["BernoulliRBM", "stochastic_pseudo_likelihood"]


@jax.jit
def stochastic_pseudo_likelihood(seed, params, v):
    """scikit-learn's score: ``D log sigmoid(F(v~) - F(v))``, one random bit flipped per row.

    The key is made from ``seed`` (32 bits) inside: no separate compilation for it.
    """
    rng_key = jax.random.key(seed)
    n, d = v.shape
    rows = jnp.arange(n)
    bit = jax.random.randint(rng_key, (n,), 0, d)
    corrupted = v.at[rows, bit].set(1 - v[rows, bit])
    difference = bernoulli_rbm.free_energy(params, corrupted) - bernoulli_rbm.free_energy(params, v)
    return d * jax.nn.log_sigmoid(difference)


class BernoulliRBM(RBMEstimator):
    (
        """Bernoulli restricted Boltzmann machine: a drop-in for ``sklearn.neural_network.BernoulliRBM``.

    Binary visible and hidden units, trained by persistent contrastive
    divergence (stochastic maximum likelihood, Tieleman 2008) with the
    closed-form gradients of :func:`numpyro_ebm.learning.rbm.bernoulli_rbm_pcd`,
    compiled with JAX. The parameters up to ``random_state`` are scikit-learn's,
    with the same defaults and meanings; the others are extras, off by default.
    See :mod:`numpyro_ebm.sklearn` for the (small) differences in the algorithm.

    Parameters
    ----------
    n_components : int, default=256
        Number of binary hidden units.
    learning_rate : float, default=0.1
        SGD learning rate on the minibatch mean gradient: scikit-learn's
        ``learning_rate / n_rows`` times the summed statistics.
    batch_size : int, default=10
        Examples per minibatch (and, by default, persistent chains).
    n_iter : int, default=10
        Epochs (sweeps over the training data).
    verbose : int, default=0
        When non-zero, print scikit-learn's line after every epoch
        (``[BernoulliRBM] Iteration i, pseudo-likelihood = ..., time = ...s``; the
        score costs two free energies of the training set per epoch); the extras
        that train with :func:`numpyro_ebm.learning.fit` show a progress bar.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights (scikit-learn's, for an int) and JAX's generator:
        the Gibbs sampling, the bit flipped by ``score_samples`` (and, for the
        extras that train with :func:`numpyro_ebm.learning.fit`, the minibatch
        order). An int gives reproducible results.
    score_method : {"stochastic_pseudo_likelihood", "pseudo_likelihood", "log_likelihood"}, \
default="stochastic_pseudo_likelihood"
        What ``score_samples`` returns: scikit-learn's stochastic estimate, the
        exact pseudo-log-likelihood over all bits (binary data only), or the
        log-likelihood (binary data only; exact or AIS, see ``max_exact_units``).
    centering : bool, default=False
        Train the centered RBM (Melchior et al. 2016,
        :func:`numpyro_ebm.learning.rbm.centered`): better conditioned gradients,
        usually higher likelihoods. The weight decay is then applied in centered
        coordinates.
    offset_rate : float, default=0.01
        Sliding rate of the centering offsets (``centering=True`` only).
    n_temperatures, min_inverse_temperature : int, float, default=10, 0.0
        The parallel-tempering ladder of ``learning_rule="pt-pcd"``: this many
        replicas per chain, inverse temperatures geometric from
        ``min_inverse_temperature`` to 1
        (:func:`numpyro_ebm.kernels.parallel_tempering.geometric_ladder`).
    """
        + EXTRA_PARAMETERS_DOC
        + """
    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weight matrix.
    intercept_hidden_ : ndarray of shape (n_components,)
        Biases of the hidden units.
    intercept_visible_ : ndarray of shape (n_features,)
        Biases of the visible units.
    h_samples_ : ndarray of shape (n_chains, n_components)
        Hidden states of the persistent chains (for ``learning_rule="cd"``, hidden
        draws for the last minibatch of the data).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string feature names.
    history_ : dict
        Per-epoch training history (``fit`` only): ``epoch``, ``wall_time`` and, with
        ``verbose``, ``pseudo_likelihood``; for the extras that train with
        :func:`numpyro_ebm.learning.fit`, its history.

    Examples
    --------
    >>> import numpy as np
    >>> from numpyro_ebm.sklearn import BernoulliRBM
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> model = BernoulliRBM(n_components=2, random_state=0).fit(X)
    >>> model.transform(X).shape
    (4, 2)
    """
    )

    _model = "bernoulli"

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "score_method": [
            StrOptions({"stochastic_pseudo_likelihood", "pseudo_likelihood", "log_likelihood"})
        ],
        "centering": ["boolean"],
        "learning_rule": [StrOptions(set(LEARNING_RULES))],
        "n_temperatures": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_inverse_temperature": [Interval(numbers.Real, 0, 1, closed="left")],
        "offset_rate": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        n_components=256,
        *,
        learning_rate=0.1,
        batch_size=10,
        n_iter=10,
        verbose=0,
        random_state=None,
        score_method="stochastic_pseudo_likelihood",
        learning_rule="pcd",
        k=1,
        n_chains=None,
        centering=False,
        offset_rate=0.01,
        momentum=0.0,
        weight_decay=0.0,
        fast_learning_rate=0.02,
        fast_decay=0.95,
        max_exact_units=20,
        ais_runs=100,
        ais_temperatures=10000,
        checkpoint_dir=None,
        resume=False,
        n_temperatures=10,
        min_inverse_temperature=0.0,
    ):
        store_parameters(self, locals())

    def _init_params(self, X):
        # scikit-learn's initialisation: N(0, 0.01^2) weights, zero biases
        W = inputs.initial_weights(self._seed, int(self.n_components), X.shape[1], X.dtype)
        return bernoulli_rbm.BernoulliRBMParams(
            W,
            inputs.device(np.zeros(X.shape[1], X.dtype)),
            inputs.device(np.zeros(W.shape[1], X.dtype)),
        )

    def _sklearn_algorithm(self) -> bool:
        return self.learning_rule == "pcd" and not self.centering

    def _sklearn_static(self) -> dict:
        decay = float(self.weight_decay)
        return dict(
            optimizer=optimizer_for(1.0, float(self.momentum), decay),
            k=int(self.k),
            batch_size=int(self.batch_size),
        )

    def _learning_rate(self):
        return np.asarray(self.learning_rate, inputs.working_dtype())

    def _sklearn_start(self, params):
        # scikit-learn's h_samples_ start at zero
        return SklearnChains(
            inputs.device(np.zeros((self._n_chains(), params.W.shape[1]), params.W.dtype))
        )

    def _fit_sklearn(self, X):
        """``fit`` with scikit-learn's algorithm: its minibatches in order, one compiled epoch."""
        dtype = X.dtype
        data = inputs.to_jax(X)
        params = self._init_params(data)
        optimizer = self._optimizer()
        state = TrainState(
            params,
            optimizer.init(params),
            self._sklearn_start(params),
            inputs.device(np.float32(1.0)),
        )
        index, mask = sklearn_batches(X.shape[0], int(self.batch_size))
        index, mask = inputs.device(index.astype(np.int32)), inputs.device(mask)
        seed = np.uint32(self._seed)
        directory = None if self.checkpoint_dir is None else Path(self.checkpoint_dir)
        config = {
            "estimator": type(self).__name__,
            "n_features": int(X.shape[1]),
            "algorithm": "scikit-learn",
        }
        fingerprint = None
        if directory is not None:
            fingerprint = run_fingerprint(np.array([seed]), data, optimizer, params, config)
        history: dict[str, list] = {}
        start = 0
        if self.resume:
            if directory is None:
                raise ValueError("resume=True needs checkpoint_dir")
            state, start, history = resume_from(directory, state, fingerprint)
        epoch_program = None
        clock = {"begin": time.time()}

        def run_epoch(state, epoch):
            nonlocal epoch_program
            arguments = (
                seed,
                np.int32(epoch),
                # a divergence rollback halves the scale (1 otherwise: the same bits)
                self._learning_rate() * np.asarray(state.learning_rate_scale),
                state.params,
                state.opt_state,
                state.rule_state.hidden,
                data,
                index,
                mask,
            )
            if epoch_program is None:
                # the compiled epoch, kept on disk for the next process's first fit
                epoch_program = _executable_cache.compiled(
                    sklearn_epoch, *arguments, **self._sklearn_static()
                )
            params, opt_state, hidden = epoch_program(*arguments)
            state = state._replace(
                params=params, opt_state=opt_state, rule_state=SklearnChains(hidden)
            )
            return state, {}, {}

        def record(epoch, summary, traces, state, started):
            entry = {"epoch": epoch}
            if self.verbose:  # scikit-learn's report, and its cost (a score every epoch)
                self._set_attributes(state.params, dtype)
                pseudo_likelihood = float(np.mean(self.score_samples(X)))
                entry["pseudo_likelihood"] = pseudo_likelihood
                end = time.time()
                print(
                    f"[{type(self).__name__}] Iteration {epoch}, "
                    f"pseudo-likelihood = {pseudo_likelihood:.2f}, "
                    f"time = {end - clock['begin']:.2f}s"
                )
                clock["begin"] = end
            else:
                jax.block_until_ready(state.params)
            entry["wall_time"] = time.perf_counter() - started
            return entry

        callbacks = []
        if directory is not None:
            callbacks.append(
                engine.checkpoint_callback(directory, 1, int(self.n_iter), config, fingerprint)
            )
        state, history, _ = engine.run_epochs(
            run_epoch,
            state,
            epochs=int(self.n_iter),
            record=record,
            start_epoch=start,
            history=history,
            callbacks=callbacks,
            progress=False,
        )
        self.history_ = history
        self._store(state.params, state.opt_state, state.rule_state, dtype, data)
        return self

    def transform(self, X):
        check_is_fitted(self)
        return self._mean_hiddens(self._validate(X, reset=False))

    transform.__doc__ = RBMEstimator.transform.__doc__

    def _mean_hiddens(self, v):
        """:math:`p(h = 1 \\mid v)`, unchecked, as scikit-learn's private method of that name.

        Code written against :class:`sklearn.neural_network.BernoulliRBM` calls it (its
        ``test_rbm.py`` does): ``v`` is one row ``(n_features,)`` or rows ``(n, n_features)``
        (dense or sparse), in the dtype of ``v``.
        """
        # scikit-learn's arithmetic, in numpy: no compilation for each new number of rows
        dtype = v.dtype if np.issubdtype(v.dtype, np.floating) else self.components_.dtype
        weights = self.components_.astype(dtype, copy=False)
        logits = safe_sparse_dot(v, weights.T, dense_output=True)
        logits += self.intercept_hidden_.astype(dtype, copy=False)
        return expit(logits, out=logits)

    def _sample_hiddens(self, v, rng):
        """A draw :math:`h \\sim p(h \\mid v)` with NumPy's ``rng`` (booleans), as
        scikit-learn's private method of that name."""
        probs = self._mean_hiddens(v)
        return check_random_state(rng).uniform(size=probs.shape) < probs

    def _optimizer(self, weight_decay=None):
        # with centering the decay acts in centered coordinates, inside the rule
        return super()._optimizer(0.0 if self.centering else None)

    def _rule(self, n_chains: int):
        return bernoulli_rule(
            self.learning_rule,
            int(n_chains),
            int(self.k),
            float(self.fast_learning_rate),
            float(self.fast_decay),
            bool(self.centering),
            float(self.offset_rate),
            float(self.weight_decay) if self.centering else 0.0,
            int(self.n_temperatures),
            float(self.min_inverse_temperature),
        )

    def _params_from_attributes(self):
        return bernoulli_rbm.BernoulliRBMParams(*self._weights_and_biases())

    def _set_attributes(self, params, dtype):
        self._set_weights_and_biases(params, dtype)

    def _visible_given_hidden(self, key, params, hidden):
        probs = bernoulli_rbm.visible_probs(params, hidden)
        return jax.random.bernoulli(key, probs).astype(probs.dtype)

    def _visible_output(self, visible, dtype):
        # scikit-learn's gibbs returns booleans
        return np.asarray(visible) > 0.5

    def sample(self, n_samples=1, *, n_sweeps=1000, random_state=None):
        return (
            super()
            .sample(n_samples, n_sweeps=n_sweeps, random_state=random_state)
            .astype(self.components_.dtype)
        )

    sample.__doc__ = RBMEstimator.sample.__doc__

    def score_samples(self, X, *, method=None):
        """Score each sample: by default scikit-learn's stochastic pseudo-likelihood.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Values of the visible layer.
        method : {"stochastic_pseudo_likelihood", "pseudo_likelihood", \
"log_likelihood"} or None, default=None
            Overrides ``score_method`` for this call.

            - ``"stochastic_pseudo_likelihood"``: scikit-learn's value,
              :math:`D \\log \\sigma(F(\\tilde v) - F(v))` with one bit of each row
              flipped at random (seeded by ``random_state``, fresh for every call
              when it is ``None``): a noisy estimate of the pseudo-log-likelihood
              that depends on the random state and on which rows are scored
              together (scikit-learn issue #23179).
            - ``"pseudo_likelihood"``: the exact pseudo-log-likelihood
              :math:`\\sum_i \\log p(v_i \\mid v_{-i})`, deterministic (binary ``X``).
            - ``"log_likelihood"``: :math:`\\log p(v) = -F(v) - \\log Z`, exact when
              the smaller layer has at most ``max_exact_units`` units, else with
              :math:`\\log Z` estimated by AIS from the training data's base rates
              (``ais_runs``, ``ais_temperatures``; stochastic) (binary ``X``).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            In the dtype of ``X`` (float64 for the log-likelihood).
        """
        method, X, params, v = self._score_inputs(X, method)
        if method == "stochastic_pseudo_likelihood":
            seed = inputs.entropy(inputs.seed_of(self.random_state), inputs.SCORE)
            return np.asarray(stochastic_pseudo_likelihood(seed, params, v), dtype=X.dtype)
        if method == "pseudo_likelihood":
            scores = metrics.bernoulli_rbm_pseudo_log_likelihood(params, v)
            return np.asarray(scores, dtype=X.dtype)
        if method == "log_likelihood":
            return self._log_likelihood(params, v)
        raise ValueError(
            f"unknown score method {method!r}; choose 'stochastic_pseudo_likelihood', "
            "'pseudo_likelihood' or 'log_likelihood'"
        )

    def _log_likelihood(self, params, v):
        bernoulli_rbm.validate_visible(params, v, "X")
        partition = self._log_partition(params)
        if partition.estimate is None:
            scores = exact.log_likelihood_bernoulli_rbm(params, v, log_z=partition.log_z)
        else:
            estimate = partition.estimate
            scores = rbm_annealing.ais_log_likelihood_bernoulli_rbm(params, v, estimate).per_example
        return np.asarray(scores, dtype=np.float64)
