r"""scikit-learn estimators: ``BernoulliRBM`` (a drop-in replacement) and ``GaussianBernoulliRBM``.

:class:`BernoulliRBM` has the constructor parameters, defaults, fitted
attributes and methods of :class:`sklearn.neural_network.BernoulliRBM`, and by
default its algorithm, step for step (:func:`sklearn_pcd_update`, checked against
scikit-learn's own ``_fit`` fed the same random numbers): PCD-1 (stochastic maximum
likelihood, Tieleman 2008) whose persistent state is ``batch_size`` binary hidden
samples ``h_samples_``, started at 0; each minibatch draws :math:`v^- \sim p(v \mid h)`
and :math:`q = p(h \mid v^-)` with the current parameters, steps by ``learning_rate /
n_rows`` times the summed statistics :math:`\sum v\,p(h \mid v)^\top - \sum v^- q^\top`
(and the same for the biases), then resamples :math:`h \sim q`; the minibatches are
scikit-learn's ``gen_even_slices``: ``ceil(n / batch_size)`` contiguous slices in row
order, the same every epoch, the last one shorter when ``batch_size`` does not divide
``n`` (all the chains still enter it); weights drawn from
:math:`\mathcal N(0, 0.01^2)` and zero biases (for an int ``random_state``,
scikit-learn's initial weights exactly). Training runs in JAX: one compiled
``lax.scan`` per epoch, reused by every epoch and every later fit with the same data
shape, ``batch_size``, ``k``, momentum and weight decay (the learning rate and the
seed are traced), and ``transform`` is scikit-learn's numpy arithmetic (no
compilation).

Differences from scikit-learn:

- computations run in float32 unless JAX's x64 mode is enabled (scikit-learn computes
  in float64 for float64 input); inputs may be float64 and outputs have the input's
  dtype, as in scikit-learn;
- the random numbers come from JAX's generator seeded from ``random_state``, so
  results are reproducible but not bit-identical to scikit-learn's;
- the extras (a ``learning_rule`` other than ``"pcd"``, ``centering``, and the
  :class:`GaussianBernoulliRBM`) train with :func:`numpyro_ebm.learning.fit`:
  minibatches in a fresh random order every epoch, the remainder of each shuffled
  epoch dropped, the library's chains (persistent visible states).

``score_samples`` keeps scikit-learn's meaning by default: its *stochastic*
pseudo-likelihood, :math:`D \log \sigma(F(\tilde v) - F(v))` with one randomly
chosen bit of each sample flipped in :math:`\tilde v`. That is an unbiased but
noisy estimate (one bit out of :math:`D`, scaled by :math:`D`) of the
pseudo-log-likelihood :math:`\sum_i \log p(v_i \mid v_{-i})`, and it changes
with the random state, the order of the samples and the subset scored
(scikit-learn issue #23179). ``score_method="pseudo_likelihood"`` gives the exact
per-sample pseudo-log-likelihood over all bits
(:func:`numpyro_ebm.evaluation.metrics.bernoulli_rbm_pseudo_log_likelihood`), and
``score_method="log_likelihood"`` the log-likelihood :math:`\log p(v)`: exact by
enumeration of the smaller layer when it has at most ``max_exact_units`` units
(:mod:`numpyro_ebm.evaluation.exact`), annealed importance sampling otherwise
(:func:`numpyro_ebm.evaluation.ais.ais_bernoulli_rbm`, a stochastic estimate
whose :math:`\log Z` is biased low, so the log-likelihood is biased high).

Importing this module needs scikit-learn (``pip install numpyro_ebm[sklearn]``);
nothing else in the library imports it.

References
----------
Tieleman, T. (2008). Training restricted Boltzmann machines using
approximations to the likelihood gradient. *ICML*.
Tieleman, T. & Hinton, G. E. (2009). Using fast weights to improve persistent
contrastive divergence. *ICML*.
Melchior, J., Fischer, A. & Wiskott, L. (2016). How to center deep Boltzmann
machines. *JMLR* 17(99).
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*.
Cho, K., Ilin, A. & Raiko, T. (2011). Improved learning of Gaussian-Bernoulli
restricted Boltzmann machines. *ICANN*.
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401  (imported first so a missing scikit-learn fails here, clearly)
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "numpyro_ebm.sklearn needs scikit-learn; install it with "
        "`pip install numpyro_ebm[sklearn]` (or `pip install scikit-learn`)"
    ) from error

import functools
import numbers
import os
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted, validate_data

from numpyro_ebm import _executable_cache
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.evaluation import ais as _ais
from numpyro_ebm.evaluation import annealing, exact, metrics
from numpyro_ebm.kernels import binary_gibbs, parallel_tempering, rbm_gibbs
from numpyro_ebm.learning import contrastive_divergence as _cd
from numpyro_ebm.learning import engine, regularizers, tempered
from numpyro_ebm.learning import rbm as _rbm
from numpyro_ebm.learning.checkpoint import (
    TrainState,
    resume_from,
    run_fingerprint,
)
from numpyro_ebm.learning.fit import fit as _train

__all__ = [
    "BernoulliRBM",
    "GaussianBernoulliRBM",
    "LEARNING_RULES",
    "sklearn_batches",
    "sklearn_pcd_update",
]

LEARNING_RULES = ("pcd", "cd", "fpcd", "pt-pcd")
"""Names accepted by ``BernoulliRBM(learning_rule=...)`` (``GaussianBernoulliRBM``: the first three).

More rules plug in here: add the name and a branch in :func:`_bernoulli_rule` (or
:func:`_gaussian_rule`) returning the
:class:`~numpyro_ebm.learning.contrastive_divergence.LearningRule`; everything
else (the parameter, the persistent-chain attributes, checkpoints) follows.
"""

GAUSSIAN_LEARNING_RULES = ("pcd", "cd", "fpcd")


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def _working_dtype():
    """float32, or float64 when JAX's x64 mode is on."""
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


def _to_jax(X):
    """A dense, finite numpy array (already validated) as a JAX array in the working dtype."""
    if sp.issparse(X):
        X = X.toarray()
    return _device(np.asarray(X, dtype=_working_dtype()))


def _device(array):
    """A numpy array on the default device: ``jax.device_put``, which (unlike
    ``jnp.asarray`` in this JAX) compiles nothing, not even once per shape."""
    return jax.device_put(np.asarray(array))


def _seed(random_state) -> int:
    """An integer seed for JAX from a scikit-learn ``random_state`` (int, RandomState or None)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state) % (2**32)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# purposes of the keys derived from one seed
_FIT, _SCORE, _GIBBS, _SAMPLE, _PARTIAL, _CD_HIDDEN = range(6)


def _key(seed: int, purpose: int, count: int = 0):
    """An independent JAX key for each (seed, purpose, count).

    Derived on the host (numpy's ``SeedSequence``) rather than with
    ``jax.random.fold_in``: the estimators make a few keys per call, and each JAX key
    operation would be one more XLA compilation on first use.
    """
    return jax.random.key(int(_entropy(seed, purpose, count)))


def _entropy(seed: int, purpose: int, count: int = 0) -> np.uint32:
    """The 32 bits behind :func:`_key` (to make the key inside a compiled function)."""
    return np.random.SeedSequence([seed, purpose, count]).generate_state(1)[0]


def _initial_weights(seed: int, n_components: int, n_features: int, dtype):
    """scikit-learn's initial ``components_``: ``RandomState(seed).normal(0, 0.01, (K, D))``.

    With the same int ``random_state`` the initial weights are scikit-learn's, exactly.
    Returned as ``W`` (visible by hidden), in ``dtype``.
    """
    rng = np.random.RandomState(seed)
    return _device(rng.normal(0, 0.01, (n_components, n_features)).T.astype(dtype))


def _to_numpy(tree):
    return jax.tree.map(np.asarray, tree)


def _to_jax_tree(tree):
    return jax.tree.map(_device, tree)


def _find_chains(rule_state):
    """The persistent chains' ``RBMGibbsState`` inside a (possibly wrapped) rule state, or None.

    For parallel tempering, the target (:math:`\\beta = 1`) replica's chains.
    """
    if isinstance(rule_state, parallel_tempering.PTState):
        return jax.tree.map(lambda x: x[-1], rule_state.replicas)
    if isinstance(rule_state, rbm_gibbs.RBMGibbsState):
        return rule_state
    if hasattr(rule_state, "_fields"):
        for value in rule_state:
            found = _find_chains(value)
            if found is not None:
                return found
    return None


@functools.lru_cache(maxsize=64)
def _optimizer(learning_rate: float, momentum: float, weight_decay: float):
    """SGD (with momentum and L2 decay on the weights when asked), one object per setting.

    The same object for the same setting lets :func:`numpyro_ebm.learning.fit` reuse
    its compiled epoch across fits (a grid search refits the same configuration).
    """
    sgd = optax.sgd(learning_rate, momentum=momentum or None)
    if weight_decay:
        return optax.chain(regularizers.weight_decay(weight_decay), sgd)
    return sgd


@functools.lru_cache(maxsize=64)
def _jitted_step(rule: _cd.LearningRule, optimizer):
    """The engine's minibatch update (:func:`numpyro_ebm.learning.engine.train_step`),
    compiled once per rule and optimizer (``partial_fit``)."""
    return jax.jit(engine.train_step(rule, optimizer, chain_diagnostics=False))


@functools.partial(jax.jit, static_argnames=("model", "n_sweeps"))
def _run_gibbs(rng_key, params, visible, hidden, *, model: str, n_sweeps: int):
    kernel = rbm_gibbs.build_kernel(model)

    def sweep(state, key):
        return kernel(key, state, params)[0], None

    state = rbm_gibbs.RBMGibbsState(visible, hidden)
    state, _ = jax.lax.scan(sweep, state, jax.random.split(rng_key, n_sweeps))
    return state


# one compiled call per shape (eager, each operation would compile separately)
_hidden_probs = {
    "bernoulli": jax.jit(bernoulli_rbm.hidden_probs),
    "gaussian": jax.jit(gaussian_rbm.hidden_probs),
}


def _store_parameters(estimator, arguments: dict):
    """``estimator.name = name`` for every constructor parameter (scikit-learn's convention:
    ``__init__`` stores its arguments unchanged, ``get_params`` reads them back)."""
    for name in estimator._get_param_names():
        setattr(estimator, name, arguments[name])


class _TrainingState(NamedTuple):
    """What ``partial_fit`` and a later ``fit`` continue from (numpy leaves, picklable)."""

    opt_state: object
    rule_state: object


_COMMON_CONSTRAINTS: dict = {
    "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
    "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_iter": [Interval(numbers.Integral, 0, None, closed="left")],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
    "k": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_chains": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
    "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
    "fast_learning_rate": [Interval(numbers.Real, 0, None, closed="left")],
    "fast_decay": [Interval(numbers.Real, 0, 1, closed="left")],
    "max_exact_units": [Interval(numbers.Integral, 1, exact.MAX_ENUMERATION_BITS, closed="both")],
    "ais_runs": [Interval(numbers.Integral, 1, None, closed="left")],
    "ais_temperatures": [Interval(numbers.Integral, 2, None, closed="left")],
    "checkpoint_dir": [str, os.PathLike, None],
    "resume": ["boolean"],
}

# the keyword parameters (beyond scikit-learn's) shared by both estimators, documented once
_EXTRA_PARAMETERS_DOC = """
    learning_rule : {"pcd", "cd", "fpcd", "pt-pcd"}, default="pcd"
        Persistent contrastive divergence (scikit-learn's algorithm), contrastive
        divergence (chains restart at the minibatch), fast-weights PCD
        (Tieleman & Hinton 2009, with ``fast_learning_rate`` and ``fast_decay``) or,
        for ``BernoulliRBM`` only, PCD whose chains are parallel-tempering chains
        (Desjardins et al. 2010; :func:`numpyro_ebm.learning.tempered.bernoulli_rbm_pt_pcd`,
        ``n_temperatures`` replicas on a geometric ladder from
        ``min_inverse_temperature`` to 1, annealing from the uniform distribution).
    k : int, default=1
        Gibbs sweeps per minibatch.
    n_chains : int or None, default=None
        Number of persistent chains; ``None`` uses ``batch_size``, as scikit-learn
        (with scikit-learn's algorithm, other counts enter the update as their mean
        times ``batch_size``, see :func:`sklearn_pcd_update`).
    momentum : float, default=0.0
        SGD momentum (``optax.sgd``); 0 is plain SGD.
    weight_decay : float, default=0.0
        L2 decay on the weights (not the biases), added to the gradient.
    fast_learning_rate, fast_decay : float, default=0.02, 0.95
        Learning rate and decay of the fast weights (``learning_rule="fpcd"`` only).
    max_exact_units : int, default=20
        ``score_method="log_likelihood"`` enumerates the smaller layer exactly when
        it has at most this many units, and uses AIS otherwise.
    ais_runs, ais_temperatures : int, default=100, 10000
        Runs and temperatures of annealed importance sampling (large models).
    checkpoint_dir : str, path or None, default=None
        Directory where ``fit`` writes ``checkpoint.npz`` after every epoch
        (parameters, optimizer and chain state; see :func:`numpyro_ebm.learning.fit`).
    resume : bool, default=False
        Let ``fit`` continue from the checkpoint in ``checkpoint_dir`` if there is
        one (written by a fit with the same parameters and data shape), up to
        ``n_iter`` epochs in total; the result equals an uninterrupted fit.
"""


class _RBMEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """The machinery both estimators share: validation, fit, partial_fit, sampling."""

    _model: str  # "bernoulli" or "gaussian" (the kernel's model)

    # ---- hooks the subclasses provide ------------------------------------------------
    def _init_params(self, X):
        raise NotImplementedError

    def _rule(self, n_chains: int):
        raise NotImplementedError

    def _params_from_attributes(self):
        raise NotImplementedError

    def _set_attributes(self, params, dtype):
        raise NotImplementedError

    # ---- helpers ---------------------------------------------------------------------
    def _n_chains(self) -> int:
        return self.batch_size if self.n_chains is None else self.n_chains

    def _optimizer(self, weight_decay=None):
        decay = self.weight_decay if weight_decay is None else weight_decay
        return _optimizer(float(self.learning_rate), float(self.momentum), float(decay))

    def _validate(self, X, *, reset: bool):
        return validate_data(
            self, X, accept_sparse="csr", reset=reset, dtype=(np.float64, np.float32)
        )

    def _energy_module(self):
        return bernoulli_rbm if self._model == "bernoulli" else gaussian_rbm

    def _score_inputs(self, X, method):
        """``score_samples``' common start: the method, validated ``X``, params, ``X`` in JAX."""
        check_is_fitted(self)
        method = self.score_method if method is None else method
        X = self._validate(X, reset=False)
        return method, X, self._params_from_attributes(), _to_jax(X)

    def _weights_and_biases(self):
        """``(W, b, c)`` from the fitted attributes, in the working dtype."""
        dtype = _working_dtype()
        return tuple(
            _device(np.asarray(a, dtype=dtype))
            for a in (self.components_.T, self.intercept_visible_, self.intercept_hidden_)
        )

    def _set_weights_and_biases(self, params, dtype):
        self.components_ = np.asarray(params.W, dtype=dtype).T
        self.intercept_hidden_ = np.asarray(params.c, dtype=dtype)
        self.intercept_visible_ = np.asarray(params.b, dtype=dtype)

    def _sklearn_algorithm(self) -> bool:
        """True when training runs scikit-learn's own algorithm (:func:`sklearn_pcd_update`)."""
        return False

    def _store(self, params, opt_state, rule_state, dtype, X):
        self._set_attributes(params, dtype)
        self._n_features_out = self.components_.shape[0]
        self._training_state = _TrainingState(_to_numpy(opt_state), _to_numpy(rule_state))
        chains = _find_chains(rule_state)
        if isinstance(rule_state, SklearnChains):
            hidden = rule_state.hidden
        elif chains is not None:
            hidden = chains.hidden
        else:  # CD keeps no chains: hidden draws for the last minibatch of the data
            batch = X[-self.batch_size :]
            probs = self._energy_module().hidden_probs(params, batch)
            hidden = jax.random.bernoulli(
                _key(self._seed, _CD_HIDDEN, getattr(self, "_partial_fit_calls", 0)), probs
            ).astype(probs.dtype)
        self.h_samples_ = np.asarray(hidden, dtype=dtype)

    # ---- scikit-learn API ------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to the data ``X`` (``n_iter`` epochs of minibatches).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (a sparse matrix is made dense).
        y : None
            Ignored.

        Returns
        -------
        self
            The fitted model.
        """
        X = self._validate(X, reset=True)
        self._seed = _seed(self.random_state)
        self._partial_fit_calls = 0
        if self._sklearn_algorithm():
            return self._fit_sklearn(X)
        dtype = X.dtype
        data = _to_jax(X)
        train_key = _key(self._seed, _FIT)
        params = self._init_params(data)
        rule = self._rule(self._n_chains())
        optimizer = self._optimizer()
        # scikit-learn trains on one sample with batch_size 10: the minibatch cannot be larger
        batch_size = min(self.batch_size, data.shape[0])
        result = _train(
            train_key,
            params,
            data,
            rule,
            optimizer,
            epochs=int(self.n_iter),
            batch_size=int(batch_size),
            checkpoint_dir=self.checkpoint_dir,
            resume=bool(self.resume),
            progress=bool(self.verbose),
            chain_diagnostics=False,
            config={"estimator": type(self).__name__, "n_features": int(X.shape[1])},
        )
        self.history_ = result.history
        self._store(result.params, result.opt_state, result.rule_state, dtype, data)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Fit the model to ``X`` as one minibatch (one gradient step, as scikit-learn).

        The first call initialises the parameters, chains and optimizer; later
        calls (and calls after ``fit``) continue from them.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One minibatch of training data.
        y : None
            Ignored.

        Returns
        -------
        self
            The fitted model.
        """
        first_pass = not hasattr(self, "components_")
        X = self._validate(X, reset=first_pass)
        dtype = X.dtype
        data = _to_jax(X)
        sklearn_algorithm = self._sklearn_algorithm()
        optimizer = self._optimizer()
        if first_pass:
            self._seed = _seed(self.random_state)
            self._partial_fit_calls = 0
            params = self._init_params(data)
            opt_state = optimizer.init(params)
            if sklearn_algorithm:
                rule_state = self._sklearn_start(params)
            else:
                rule_state = self._rule(self._n_chains()).init(
                    _key(self._seed, _FIT, 1), params, data
                )
        else:
            params = self._params_from_attributes()
            opt_state = _to_jax_tree(self._training_state.opt_state)
            rule_state = _to_jax_tree(self._training_state.rule_state)
        if sklearn_algorithm:
            params, opt_state, hidden = _sklearn_partial_step(
                _entropy(self._seed, _PARTIAL, self._partial_fit_calls),
                self._learning_rate(),
                params,
                opt_state,
                rule_state.hidden,
                data,
                **self._sklearn_static(),
            )
            rule_state = SklearnChains(hidden)
        else:
            rule = self._rule(self._n_chains())
            key = _key(self._seed, _PARTIAL, self._partial_fit_calls)
            state = TrainState(params, opt_state, rule_state, _device(np.float32(1.0)))
            state, _ = _jitted_step(rule, optimizer)(state, key, data)
            params, opt_state, rule_state = state.params, state.opt_state, state.rule_state
        self._partial_fit_calls += 1
        self._store(params, opt_state, rule_state, dtype, data)
        return self

    def transform(self, X):
        """Hidden-unit activation probabilities :math:`p(h = 1 \\mid v = X)`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data to be transformed.

        Returns
        -------
        h : ndarray of shape (n_samples, n_components)
            Latent representation of the data, in the dtype of ``X``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        params = self._params_from_attributes()
        probs = _hidden_probs[self._model](params, _to_jax(X))
        return np.asarray(probs, dtype=X.dtype)

    def gibbs(self, v):
        """One block-Gibbs sweep from ``v``: :math:`h \\sim p(h \\mid v)`, then :math:`v' \\sim p(v \\mid h)`.

        Each call uses fresh random numbers (the sequence is reproducible from
        ``random_state``).

        Parameters
        ----------
        v : array-like of shape (n_samples, n_features)
            Visible values to start from.

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            The visible values after one sweep.
        """
        check_is_fitted(self)
        v = self._validate(v, reset=False)
        params = self._params_from_attributes()
        visible = _to_jax(v)
        hidden = _device(np.zeros((visible.shape[0], self.n_components), visible.dtype))
        calls = getattr(self, "_gibbs_calls", 0)
        self._gibbs_calls = calls + 1
        state = _run_gibbs(
            _key(self._seed, _GIBBS, calls),
            params,
            visible,
            hidden,
            model=self._model,
            n_sweeps=1,
        )
        return self._visible_output(state.visible, v.dtype)

    def sample(self, n_samples=1, *, n_sweeps=1000, random_state=None):
        """Draw ``n_samples`` visible vectors from the model by block Gibbs sampling.

        Independent chains start from the model with all hidden units off
        (:math:`v \\sim p(v \\mid h = 0)`) and run ``n_sweeps`` sweeps; the last
        states are returned.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (one chain each).
        n_sweeps : int, default=1000
            Gibbs sweeps per chain (burn-in).
        random_state : int, RandomState instance or None, default=None
            Seed of the chains; ``None`` uses the estimator's ``random_state``
            (a fresh draw for every call).

        Returns
        -------
        samples : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}")
        if not isinstance(n_sweeps, numbers.Integral) or n_sweeps < 1:
            raise ValueError(f"n_sweeps must be a positive integer; got {n_sweeps!r}")
        if random_state is None:
            calls = getattr(self, "_sample_calls", 0)
            self._sample_calls = calls + 1
            seed, count = self._seed, calls
        else:
            seed, count = _seed(random_state), 0
        params = self._params_from_attributes()
        dtype = params.W.dtype
        hidden = _device(np.zeros((int(n_samples), self.n_components), dtype))
        start_key, chain_key = _key(seed, _SAMPLE, 2 * count), _key(seed, _SAMPLE, 2 * count + 1)
        visible = self._visible_given_hidden(start_key, params, hidden)
        state = _run_gibbs(
            chain_key, params, visible, hidden, model=self._model, n_sweeps=int(n_sweeps)
        )
        return self._visible_output(state.visible, self.components_.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


# --------------------------------------------------------------------------------------
# Bernoulli RBM
# --------------------------------------------------------------------------------------


def _start_at_hidden_zero(rng_key, params, n_chains: int):
    """Chains started as scikit-learn's: hidden state 0, so the first negatives are ``p(v | h = 0)``.

    The closed-form rules take the chains' visible state at the start of a sweep as
    the negatives, so the start is a draw of :math:`v \\sim p(v \\mid h = 0)`. (The
    library's own rules start at random training examples, which must be binary;
    scikit-learn accepts any data in [0, 1].)
    """
    dtype = params.W.dtype
    probs = jax.nn.sigmoid(jnp.broadcast_to(params.b, (n_chains, params.W.shape[0])))
    visible = jax.random.bernoulli(rng_key, probs).astype(dtype)
    hidden = jnp.zeros((n_chains, params.W.shape[1]), dtype)
    return rbm_gibbs.RBMGibbsState(visible, hidden)


@functools.lru_cache(maxsize=64)
def _bernoulli_rule(
    name: str,
    n_chains: int,
    k: int,
    fast_learning_rate: float,
    fast_decay: float,
    centering: bool,
    offset_rate: float,
    weight_decay: float,
    n_temperatures: int = 10,
    min_inverse_temperature: float = 0.0,
) -> _cd.LearningRule:
    """The closed-form Bernoulli-RBM rule for these settings (one object per setting)."""
    if name == "pcd":
        inner = _rbm.bernoulli_rbm_pcd(n_chains, k)
        rule = _cd.LearningRule(
            lambda key, params, data=None: _cd.PCDState(
                _start_at_hidden_zero(key, params, n_chains)
            ),
            inner.step,
        )
    elif name == "fpcd":
        inner = _rbm.bernoulli_rbm_fpcd(
            n_chains, k, fast_learning_rate=fast_learning_rate, fast_decay=fast_decay
        )
        rule = _cd.LearningRule(
            lambda key, params, data=None: _cd.FPCDState(
                _start_at_hidden_zero(key, params, n_chains),
                jax.tree.map(jnp.zeros_like, params),
            ),
            inner.step,
        )
    elif name == "cd":
        rule = _rbm.bernoulli_rbm_cd(k)
    elif name == "pt-pcd":
        ladder = parallel_tempering.geometric_ladder(n_temperatures, min_inverse_temperature)
        inner = tempered.bernoulli_rbm_pt_pcd(n_chains, ladder, k)

        def init(key, params, data=None):
            # the rule starts its chains at rows of the data it is given, which must be
            # binary: give it draws of p(v | h = 0), scikit-learn's start
            start_key, pick_key = jax.random.split(key)
            start = _start_at_hidden_zero(start_key, params, n_chains).visible
            return inner.init(pick_key, params, start)

        rule = _cd.LearningRule(init, inner.step)
    else:  # the parameter validation lists LEARNING_RULES; this is the hook for more
        raise ValueError(f"unknown learning_rule {name!r}; choose one of {LEARNING_RULES}")
    if centering:
        rule = _rbm.centered(rule, offset_rate, weight_decay=weight_decay)
    return rule


# --------------------------------------------------------------------------------------
# scikit-learn's algorithm (the default): its batching, chain update and step size
# --------------------------------------------------------------------------------------


class SklearnChains(NamedTuple):
    """scikit-learn's persistent state: binary hidden samples (``h_samples_``)."""

    hidden: jax.Array


def sklearn_batches(n_samples: int, batch_size: int):
    """scikit-learn's minibatches, as ``(n_batches, batch_size)`` row indices and a 0/1 mask.

    The same slices as ``BernoulliRBM.fit``'s ``gen_even_slices(n_batches * batch_size,
    n_batches, n_samples=n_samples)``: ``ceil(n / batch_size)`` contiguous slices in row
    order, all of ``batch_size`` rows but the last, which is shorter when ``batch_size``
    does not divide ``n``. The last slice is padded (index 0, mask 0) so that every step of
    the compiled epoch has the same shape.
    """
    n_batches = -(-n_samples // batch_size)
    positions = np.arange(n_batches * batch_size)
    mask = (positions < n_samples).reshape(n_batches, batch_size)
    index = np.where(positions < n_samples, positions, 0).reshape(n_batches, batch_size)
    return index, mask


def sklearn_pcd_update(
    params, hidden, rows, mask, visible_uniforms, hidden_uniforms, batch_size: int
):
    r"""scikit-learn's ``BernoulliRBM._fit`` on one minibatch, with its uniform draws given.

    The persistent state is the chains' binary hidden sample :math:`h`. With
    :math:`k` = ``len(visible_uniforms)`` (scikit-learn: 1) sweeps
    :math:`v^- \sim p(v \mid h)`, :math:`q = p(h \mid v^-)`, then :math:`h \sim q` (all under
    the parameters *before* this update); the update is

    .. math::
        \Delta\theta \propto \frac{1}{n_+}\Big(\sum_{\text{batch}} v\,p(h \mid v)^\top
        - \frac{B}{n_\text{chains}} \sum_\text{chains} v^- q^\top\Big)

    with :math:`n_+` the rows of the minibatch (``mask.sum()``) and :math:`B` the
    ``batch_size``, i.e. scikit-learn's ``learning_rate / v_pos.shape[0]`` times the summed
    statistics (its ``batch_size`` chains, so :math:`B / n_\text{chains} = 1`; its shorter
    last minibatch keeps all chains, so their term weighs :math:`B / n_+` there).
    ``visible_uniforms`` (``(k, n_chains, n_visible)``) and ``hidden_uniforms``
    (``(k, n_chains, n_hidden)``) are the uniform numbers scikit-learn's ``rng.uniform``
    would return, in order; a unit is on when its uniform is below its probability.

    Returns the gradient to *descend* (a ``BernoulliRBMParams``) and the new hidden sample.
    """
    dtype = params.W.dtype

    def sweep_from(hidden, uniforms):
        visible = (uniforms < bernoulli_rbm.visible_probs(params, hidden)).astype(dtype)
        return visible, bernoulli_rbm.hidden_probs(params, visible)

    visible, hidden_probs = sweep_from(hidden, visible_uniforms[0])
    for sweep in range(1, visible_uniforms.shape[0]):
        hidden = (hidden_uniforms[sweep - 1] < hidden_probs).astype(dtype)
        visible, hidden_probs = sweep_from(hidden, visible_uniforms[sweep])
    new_hidden = (hidden_uniforms[-1] < hidden_probs).astype(dtype)
    weights = mask.astype(dtype)
    positive_hidden = bernoulli_rbm.hidden_probs(params, rows) * weights[:, None]
    rows = rows * weights[:, None]
    scale = 1 / jnp.sum(weights)
    chains = jnp.asarray(batch_size / visible.shape[0], dtype)
    grads = bernoulli_rbm.BernoulliRBMParams(
        (chains * (visible.T @ hidden_probs) - rows.T @ positive_hidden) * scale,
        (chains * jnp.sum(visible, axis=0) - jnp.sum(rows, axis=0)) * scale,
        (chains * jnp.sum(hidden_probs, axis=0) - jnp.sum(positive_hidden, axis=0)) * scale,
    )
    return grads, new_hidden


def _step_uniforms(rng_key, k: int, n_chains: int, n_visible: int, n_hidden: int, dtype):
    """The uniforms of one :func:`sklearn_pcd_update`, from one key."""
    key_visible, key_hidden = jax.random.split(rng_key)
    return (
        jax.random.uniform(key_visible, (k, n_chains, n_visible), dtype),
        jax.random.uniform(key_hidden, (k, n_chains, n_hidden), dtype),
    )


def _sklearn_step(
    rng_key, learning_rate, params, opt_state, hidden, rows, mask, optimizer, k, batch_size
):
    uniforms = _step_uniforms(rng_key, k, hidden.shape[0], *params.W.shape, params.W.dtype)
    grads, hidden = sklearn_pcd_update(params, hidden, rows, mask, *uniforms, batch_size)
    # the optimizer has learning rate 1; the rate itself is traced (no compile per value)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    updates = jax.tree.map(lambda u: u * learning_rate.astype(u.dtype), updates)
    return optax.apply_updates(params, updates), opt_state, hidden


def sklearn_batch_keys(seed, epoch, n_batches: int):
    """The key of every minibatch of one epoch: ``split(fold_in(key(seed), epoch), n_batches)``."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), epoch), n_batches)


@functools.partial(jax.jit, static_argnames=("optimizer", "k", "batch_size"))
def _sklearn_epoch(
    seed,
    epoch,
    learning_rate,
    params,
    opt_state,
    hidden,
    data,
    index,
    mask,
    *,
    optimizer,
    k,
    batch_size,
):
    """One epoch of scikit-learn's PCD, compiled: a scan over its minibatches, in order.

    ``seed``, ``epoch`` and ``learning_rate`` are traced and the uneven last minibatch is
    a masked full one, so every epoch of every fit with the same shapes (and momentum,
    weight decay, ``k``, ``batch_size``) reuses one compilation.
    """
    keys = sklearn_batch_keys(seed, epoch, index.shape[0])

    def body(carry, inputs):
        key, rows, rows_mask = inputs
        step = _sklearn_step(
            key, learning_rate, *carry, data[rows], rows_mask, optimizer, k, batch_size
        )
        return step, None

    carry, _ = jax.lax.scan(body, (params, opt_state, hidden), (keys, index, mask))
    return carry


@functools.partial(jax.jit, static_argnames=("optimizer", "k", "batch_size"))
def _sklearn_partial_step(
    seed, learning_rate, params, opt_state, hidden, rows, *, optimizer, k, batch_size
):
    mask = jnp.ones(rows.shape[0], bool)
    key = jax.random.key(seed)
    return _sklearn_step(
        key, learning_rate, params, opt_state, hidden, rows, mask, optimizer, k, batch_size
    )


@jax.jit
def _stochastic_pseudo_likelihood(seed, params, v):
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


class BernoulliRBM(_RBMEstimator):
    (
        """Bernoulli restricted Boltzmann machine: a drop-in for ``sklearn.neural_network.BernoulliRBM``.

    Binary visible and hidden units, trained by persistent contrastive
    divergence (stochastic maximum likelihood, Tieleman 2008) with the
    closed-form gradients of :func:`numpyro_ebm.learning.rbm.bernoulli_rbm_pcd`,
    compiled with JAX. The parameters up to ``random_state`` are scikit-learn's,
    with the same defaults and meanings; the others are extras, off by default.
    See the module docstring for the (small) differences in the algorithm.

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
        + _EXTRA_PARAMETERS_DOC
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
        **_COMMON_CONSTRAINTS,
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
        _store_parameters(self, locals())

    def _init_params(self, X):
        # scikit-learn's initialisation: N(0, 0.01^2) weights, zero biases
        W = _initial_weights(self._seed, int(self.n_components), X.shape[1], X.dtype)
        return bernoulli_rbm.BernoulliRBMParams(
            W,
            _device(np.zeros(X.shape[1], X.dtype)),
            _device(np.zeros(W.shape[1], X.dtype)),
        )

    def _sklearn_algorithm(self) -> bool:
        return self.learning_rule == "pcd" and not self.centering

    def _sklearn_static(self) -> dict:
        decay = float(self.weight_decay)
        return dict(
            optimizer=_optimizer(1.0, float(self.momentum), decay),
            k=int(self.k),
            batch_size=int(self.batch_size),
        )

    def _learning_rate(self):
        return np.asarray(self.learning_rate, _working_dtype())

    def _sklearn_start(self, params):
        # scikit-learn's h_samples_ start at zero
        return SklearnChains(
            _device(np.zeros((self._n_chains(), params.W.shape[1]), params.W.dtype))
        )

    def _fit_sklearn(self, X):
        """``fit`` with scikit-learn's algorithm: its minibatches in order, one compiled epoch."""
        dtype = X.dtype
        data = _to_jax(X)
        params = self._init_params(data)
        optimizer = self._optimizer()
        state = TrainState(
            params,
            optimizer.init(params),
            self._sklearn_start(params),
            _device(np.float32(1.0)),
        )
        index, mask = sklearn_batches(X.shape[0], int(self.batch_size))
        index, mask = _device(index.astype(np.int32)), _device(mask)
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
                    _sklearn_epoch, *arguments, **self._sklearn_static()
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

    transform.__doc__ = _RBMEstimator.transform.__doc__

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
        return _bernoulli_rule(
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

    sample.__doc__ = _RBMEstimator.sample.__doc__

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
            seed = _entropy(_seed(self.random_state), _SCORE)
            return np.asarray(_stochastic_pseudo_likelihood(seed, params, v), dtype=X.dtype)
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
        if min(params.W.shape) <= self.max_exact_units:
            return np.asarray(exact.log_likelihood_bernoulli_rbm(params, v), dtype=np.float64)
        # base model: no weights, the RBM's own visible biases (the AIS runs start there)
        estimate = _ais.ais_bernoulli_rbm(
            _key(_seed(self.random_state), _SCORE, 1),
            params,
            n_runs=int(self.ais_runs),
            schedule=_ais.default_schedule(int(self.ais_temperatures), params.W.dtype),
            base_visible_bias=params.b,
        )
        return np.asarray(
            _ais.log_likelihood_bernoulli_rbm(params, v, estimate).per_example, dtype=np.float64
        )


# --------------------------------------------------------------------------------------
# Gaussian-Bernoulli RBM
# --------------------------------------------------------------------------------------


def _fixed_scale(rule: _cd.LearningRule) -> _cd.LearningRule:
    """The rule with a zero gradient for ``log_sigma`` (the visible scales stay as initialised)."""

    def step(rng_key, state, params, batch):
        grads, state, info = rule.step(rng_key, state, params, batch)
        return grads._replace(log_sigma=jnp.zeros_like(grads.log_sigma)), state, info

    return _cd.LearningRule(rule.init, step)


@functools.lru_cache(maxsize=64)
def _gaussian_rule(
    name: str,
    n_chains: int,
    k: int,
    fast_learning_rate: float,
    fast_decay: float,
    learn_sigma: bool,
) -> _cd.LearningRule:
    """The Gaussian-Bernoulli rule: autodiff of the free energy, block-Gibbs negatives."""
    energy = gaussian_rbm.free_energy
    sampler = rbm_gibbs.as_top_level_api("gaussian")
    if name == "pcd":
        rule = _cd.persistent_contrastive_divergence(energy, sampler, n_chains, k)
    elif name == "fpcd":
        rule = _cd.fast_persistent_contrastive_divergence(
            energy,
            sampler,
            n_chains,
            k,
            fast_learning_rate=fast_learning_rate,
            fast_decay=fast_decay,
        )
    elif name == "cd":
        rule = _cd.contrastive_divergence(energy, sampler, k)
    else:  # the parameter validation lists LEARNING_RULES; this is the hook for more
        raise ValueError(f"unknown learning_rule {name!r}; choose one of {LEARNING_RULES}")
    return rule if learn_sigma else _fixed_scale(rule)


class GaussianBernoulliRBM(_RBMEstimator):
    (
        """Gaussian-Bernoulli restricted Boltzmann machine for real-valued data.

    Real visible units with per-feature mean :math:`b_i` and scale
    :math:`\\sigma_i`, binary hidden units, energy
    :math:`\\sum_i (v_i - b_i)^2 / 2\\sigma_i^2 - c^\\top h - \\sum_{ij} (v_i/\\sigma_i) W_{ij} h_j`
    (:mod:`numpyro_ebm.energies.gaussian_rbm`). Trained by PCD with block-Gibbs
    negatives (:mod:`numpyro_ebm.kernels.rbm_gibbs`) and SGD, with the same
    interface as :class:`BernoulliRBM`. scikit-learn has no such model (it
    declined one in PRs #2680 and #7916).

    The visible means start at the data means and the scales at the data's
    standard deviations (1 for constant features), weights
    :math:`\\mathcal N(0, 0.01^2)`, hidden biases 0. The scales stay fixed unless
    ``learn_sigma=True`` (learning them is notoriously unstable with plain SGD;
    Cho, Ilin & Raiko 2011); standardising the data first (``StandardScaler``)
    is the usual, robust choice.

    Parameters
    ----------
    n_components : int, default=256
        Number of binary hidden units.
    learning_rate : float, default=0.01
        SGD learning rate on the minibatch mean gradient. Smaller than
        :class:`BernoulliRBM`'s: the Gaussian units' statistics are unbounded
        (Hinton's practical guide, section 13.2).
    batch_size : int, default=10
        Examples per minibatch (and, by default, persistent chains).
    n_iter : int, default=10
        Epochs.
    verbose : int, default=0
        Show a progress bar when non-zero.
    random_state : int, RandomState instance or None, default=None
        Seeds JAX's generator (initial weights, minibatch order, sampling, AIS).
    score_method : {"log_likelihood", "free_energy"}, default="log_likelihood"
        What ``score_samples`` returns: the log density :math:`\\log p(v)`
        (exact by enumerating the hidden layer when ``n_components <=
        max_exact_units``, AIS over the hidden layer otherwise), or the negative
        free energy :math:`-F(v)`, the log density up to the constant
        :math:`\\log Z` (cheap, deterministic, ranks samples identically).
    learn_sigma : bool, default=False
        Learn the visible scales as well.
    """
        + _EXTRA_PARAMETERS_DOC
        + """
    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weight matrix.
    intercept_hidden_ : ndarray of shape (n_components,)
        Biases of the hidden units.
    intercept_visible_ : ndarray of shape (n_features,)
        Means :math:`b` of the visible units.
    sigma_ : ndarray of shape (n_features,)
        Standard deviations :math:`\\sigma` of the visible units.
    h_samples_ : ndarray of shape (n_chains, n_components)
        Hidden states of the persistent chains.
    n_features_in_, feature_names_in_, history_
        As for :class:`BernoulliRBM`.
    """
    )

    _model = "gaussian"

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "score_method": [StrOptions({"log_likelihood", "free_energy"})],
        "learn_sigma": ["boolean"],
        "learning_rule": [StrOptions(set(GAUSSIAN_LEARNING_RULES))],
    }

    def __init__(
        self,
        n_components=256,
        *,
        learning_rate=0.01,
        batch_size=10,
        n_iter=10,
        verbose=0,
        random_state=None,
        score_method="log_likelihood",
        learn_sigma=False,
        learning_rule="pcd",
        k=1,
        n_chains=None,
        momentum=0.0,
        weight_decay=0.0,
        fast_learning_rate=0.02,
        fast_decay=0.95,
        max_exact_units=20,
        ais_runs=100,
        ais_temperatures=10000,
        checkpoint_dir=None,
        resume=False,
    ):
        _store_parameters(self, locals())

    def _init_params(self, X):
        W = _initial_weights(self._seed, int(self.n_components), X.shape[1], X.dtype)
        data = np.asarray(X, dtype=np.float64)
        std = data.std(axis=0)
        # constant features (or a single sample) get scale 1, as StandardScaler does
        std = np.where(std > 10 * np.finfo(np.dtype(X.dtype)).eps, std, 1.0)
        return gaussian_rbm.GaussianRBMParams(
            W,
            _device(data.mean(axis=0).astype(X.dtype)),
            _device(np.zeros(W.shape[1], X.dtype)),
            _device(np.log(std).astype(X.dtype)),
        )

    def _rule(self, n_chains: int):
        return _gaussian_rule(
            self.learning_rule,
            int(n_chains),
            int(self.k),
            float(self.fast_learning_rate),
            float(self.fast_decay),
            bool(self.learn_sigma),
        )

    def _params_from_attributes(self):
        log_sigma = np.log(np.asarray(self.sigma_, dtype=_working_dtype()))
        return gaussian_rbm.GaussianRBMParams(*self._weights_and_biases(), _device(log_sigma))

    def _set_attributes(self, params, dtype):
        self._set_weights_and_biases(params, dtype)
        self.sigma_ = np.asarray(jnp.exp(params.log_sigma), dtype=dtype)

    def _visible_given_hidden(self, key, params, hidden):
        mean = gaussian_rbm.visible_mean(params, hidden)
        return mean + gaussian_rbm.visible_std(params) * jax.random.normal(
            key, mean.shape, mean.dtype
        )

    def _visible_output(self, visible, dtype):
        return np.asarray(visible, dtype=dtype)

    def score_samples(self, X, *, method=None):
        """Log density of each sample (or the negative free energy).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Real-valued visible vectors.
        method : {"log_likelihood", "free_energy"} or None, default=None
            Overrides ``score_method`` for this call. ``"log_likelihood"`` is
            :math:`\\log p(v) = -F(v) - \\log Z`; :math:`\\log Z` is exact (the
            visible units integrated in closed form, the hidden layer enumerated)
            when ``n_components <= max_exact_units``, and otherwise estimated by
            annealed importance sampling over the hidden layer (a stochastic
            lower bound of :math:`\\log Z`: the log-likelihood is then biased high).
            ``"free_energy"`` is :math:`-F(v)`, the log density without
            :math:`\\log Z`.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            float64 for the log-likelihood, the dtype of ``X`` for the free energy.
        """
        method, X, params, v = self._score_inputs(X, method)
        if method == "free_energy":
            return np.asarray(-gaussian_rbm.free_energy(params, v), dtype=X.dtype)
        if method != "log_likelihood":
            raise ValueError(
                f"unknown score method {method!r}; choose 'log_likelihood' or 'free_energy'"
            )
        log_z = self._log_partition(params)
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
            free = gaussian_rbm.free_energy(p64, jnp.asarray(np.asarray(X, np.float64)))
            return -np.asarray(free, dtype=np.float64) - log_z

    def _log_partition(self, params) -> float:
        n_hidden = params.W.shape[1]
        if n_hidden <= self.max_exact_units:
            return exact.log_partition_gaussian_rbm(params)
        # Z = sum_h exp(-F(h)) with the visible units integrated out: AIS over the binary
        # hidden layer from the uniform base, with single-site Gibbs on the hidden free energy
        result = annealing.ais(
            _key(_seed(self.random_state), _SCORE, 1),
            gaussian_rbm.hidden_free_energy,
            params,
            annealing.BernoulliBase(jnp.zeros((n_hidden,), params.W.dtype)),
            binary_gibbs.as_top_level_api,
            n_runs=int(self.ais_runs),
            n_temperatures=int(self.ais_temperatures),
            vmap_chains=False,
        )
        return float(result.log_z)
