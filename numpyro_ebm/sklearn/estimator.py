"""What both estimators share: scikit-learn's parameter handling and the methods ``fit``,
``partial_fit``, ``transform``, ``gibbs`` and ``sample`` (:class:`RBMEstimator`).

This module is the one place that imports scikit-learn's private names (``_fit_context``,
``Interval``, ``StrOptions``); the estimators take them from here.
"""

from __future__ import annotations

import functools
import numbers
import os
from typing import NamedTuple

import jax
import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from numpyro_ebm import registry
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.evaluation import exact, rbm_annealing
from numpyro_ebm.kernels import parallel_tempering, rbm_gibbs, runner
from numpyro_ebm.learning.checkpoint import TrainState
from numpyro_ebm.learning.fit import fit as _train
from numpyro_ebm.sklearn import inputs
from numpyro_ebm.sklearn.rules import jitted_step, optimizer_for
from numpyro_ebm.sklearn.scikit_learn_pcd import SklearnChains, sklearn_partial_step

__all__ = [
    "Interval",
    "StrOptions",
    "find_chains",
    "run_gibbs",
    "HIDDEN_PROBS",
    "store_parameters",
    "TrainingState",
    "COMMON_CONSTRAINTS",
    "EXTRA_PARAMETERS_DOC",
    "RBMEstimator",
]


def find_chains(rule_state):
    """The persistent chains' ``RBMGibbsState`` inside a (possibly wrapped) rule state, or None.

    For parallel tempering, the target (:math:`\\beta = 1`) replica's chains.
    """
    if isinstance(rule_state, parallel_tempering.PTState):
        return jax.tree.map(lambda x: x[-1], rule_state.replicas)
    if isinstance(rule_state, rbm_gibbs.RBMGibbsState):
        return rule_state
    if hasattr(rule_state, "_fields"):
        for value in rule_state:
            found = find_chains(value)
            if found is not None:
                return found
    return None


@functools.partial(jax.jit, static_argnames=("model", "n_sweeps"))
def run_gibbs(rng_key, params, visible, hidden, *, model: str, n_sweeps: int):
    """``n_sweeps`` block-Gibbs sweeps of the chains ``(visible, hidden)``, compiled per shape."""
    state = rbm_gibbs.RBMGibbsState(visible, hidden)
    state, _ = runner.run_steps(
        rbm_gibbs.as_top_level_api(model),
        state,
        params,
        jax.random.split(rng_key, n_sweeps),
        vmap_chains=False,  # the block-Gibbs step takes the batch of chains itself
        transform=runner.final_state_only,
    )
    return state


# one compiled call per shape (eager, each operation would compile separately)
HIDDEN_PROBS = {
    "bernoulli": jax.jit(bernoulli_rbm.hidden_probs),
    "gaussian": jax.jit(gaussian_rbm.hidden_probs),
}


def store_parameters(estimator, arguments: dict):
    """``estimator.name = name`` for every constructor parameter (scikit-learn's convention:
    ``__init__`` stores its arguments unchanged, ``get_params`` reads them back)."""
    for name in estimator._get_param_names():
        setattr(estimator, name, arguments[name])


class TrainingState(NamedTuple):
    """What ``partial_fit`` and a later ``fit`` continue from (numpy leaves, picklable)."""

    opt_state: object
    rule_state: object


COMMON_CONSTRAINTS: dict = {
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
EXTRA_PARAMETERS_DOC = """
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


class RBMEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
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
        return optimizer_for(float(self.learning_rate), float(self.momentum), float(decay))

    def _validate(self, X, *, reset: bool):
        return validate_data(
            self, X, accept_sparse="csr", reset=reset, dtype=(np.float64, np.float32)
        )

    def _energy_module(self):
        return registry.get(f"{self._model}-rbm").energy_module

    def _log_partition(self, params) -> registry.LogPartition:
        """log Z for ``score_samples``: exact when the enumerated layer has at most
        ``max_exact_units`` units, else AIS (``ais_runs``, ``ais_temperatures``; for a
        Bernoulli RBM from the base model with no weights and the RBM's own visible biases,
        for a Gaussian-Bernoulli RBM over the hidden layer from the uniform distribution)."""
        model = f"{self._model}-rbm"
        if registry.exact_bits(model, params) <= self.max_exact_units:
            return registry.log_partition(model, params, method="exact")
        return registry.log_partition(
            model,
            params,
            inputs.key(inputs.seed_of(self.random_state), inputs.SCORE, 1),
            method="ais",
            n_runs=int(self.ais_runs),
            schedule=rbm_annealing.default_schedule(int(self.ais_temperatures), params.W.dtype),
            base_visible_bias=params.b if self._model == "bernoulli" else None,
        )

    def _score_inputs(self, X, method):
        """``score_samples``' common start: the method, validated ``X``, params, ``X`` in JAX."""
        check_is_fitted(self)
        method = self.score_method if method is None else method
        X = self._validate(X, reset=False)
        return method, X, self._params_from_attributes(), inputs.to_jax(X)

    def _weights_and_biases(self):
        """``(W, b, c)`` from the fitted attributes, in the working dtype."""
        dtype = inputs.working_dtype()
        return tuple(
            inputs.device(np.asarray(a, dtype=dtype))
            for a in (self.components_.T, self.intercept_visible_, self.intercept_hidden_)
        )

    def _set_weights_and_biases(self, params, dtype):
        self.components_ = np.asarray(params.W, dtype=dtype).T
        self.intercept_hidden_ = np.asarray(params.c, dtype=dtype)
        self.intercept_visible_ = np.asarray(params.b, dtype=dtype)

    def _sklearn_algorithm(self) -> bool:
        """True when training runs scikit-learn's own algorithm (:func:`~numpyro_ebm.sklearn.sklearn_pcd_update`)."""
        return False

    def _store(self, params, opt_state, rule_state, dtype, X):
        self._set_attributes(params, dtype)
        self._n_features_out = self.components_.shape[0]
        self._training_state = TrainingState(
            inputs.to_numpy(opt_state), inputs.to_numpy(rule_state)
        )
        chains = find_chains(rule_state)
        if isinstance(rule_state, SklearnChains):
            hidden = rule_state.hidden
        elif chains is not None:
            hidden = chains.hidden
        else:  # CD keeps no chains: hidden draws for the last minibatch of the data
            batch = X[-self.batch_size :]
            probs = self._energy_module().hidden_probs(params, batch)
            hidden = jax.random.bernoulli(
                inputs.key(self._seed, inputs.CD_HIDDEN, getattr(self, "_partial_fit_calls", 0)),
                probs,
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
        self._seed = inputs.seed_of(self.random_state)
        self._partial_fit_calls = 0
        if self._sklearn_algorithm():
            return self._fit_sklearn(X)
        dtype = X.dtype
        data = inputs.to_jax(X)
        train_key = inputs.key(self._seed, inputs.FIT)
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
        data = inputs.to_jax(X)
        sklearn_algorithm = self._sklearn_algorithm()
        optimizer = self._optimizer()
        if first_pass:
            self._seed = inputs.seed_of(self.random_state)
            self._partial_fit_calls = 0
            params = self._init_params(data)
            opt_state = optimizer.init(params)
            if sklearn_algorithm:
                rule_state = self._sklearn_start(params)
            else:
                rule_state = self._rule(self._n_chains()).init(
                    inputs.key(self._seed, inputs.FIT, 1), params, data
                )
        else:
            params = self._params_from_attributes()
            opt_state = inputs.to_jax_tree(self._training_state.opt_state)
            rule_state = inputs.to_jax_tree(self._training_state.rule_state)
        if sklearn_algorithm:
            params, opt_state, hidden = sklearn_partial_step(
                inputs.entropy(self._seed, inputs.PARTIAL, self._partial_fit_calls),
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
            key = inputs.key(self._seed, inputs.PARTIAL, self._partial_fit_calls)
            state = TrainState(params, opt_state, rule_state, inputs.device(np.float32(1.0)))
            state, _ = jitted_step(rule, optimizer)(state, key, data)
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
        probs = HIDDEN_PROBS[self._model](params, inputs.to_jax(X))
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
        visible = inputs.to_jax(v)
        hidden = inputs.device(np.zeros((visible.shape[0], self.n_components), visible.dtype))
        calls = getattr(self, "_gibbs_calls", 0)
        self._gibbs_calls = calls + 1
        state = run_gibbs(
            inputs.key(self._seed, inputs.GIBBS, calls),
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
            seed, count = inputs.seed_of(random_state), 0
        params = self._params_from_attributes()
        dtype = params.W.dtype
        hidden = inputs.device(np.zeros((int(n_samples), self.n_components), dtype))
        start_key, chain_key = (
            inputs.key(seed, inputs.SAMPLE, 2 * count),
            inputs.key(seed, inputs.SAMPLE, 2 * count + 1),
        )
        visible = self._visible_given_hidden(start_key, params, hidden)
        state = run_gibbs(
            chain_key, params, visible, hidden, model=self._model, n_sweeps=int(n_sweeps)
        )
        return self._visible_output(state.visible, self.components_.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
