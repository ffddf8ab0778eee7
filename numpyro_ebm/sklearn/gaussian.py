"""The Gaussian-Bernoulli RBM estimator, for real-valued data (scikit-learn has none).

References
----------
Cho, K., Ilin, A. & Raiko, T. (2011). Improved learning of Gaussian-Bernoulli
restricted Boltzmann machines. *ICANN*.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm.energies import gaussian_rbm
from numpyro_ebm.sklearn import inputs
from numpyro_ebm.sklearn.estimator import (
    COMMON_CONSTRAINTS,
    EXTRA_PARAMETERS_DOC,
    RBMEstimator,
    StrOptions,
    store_parameters,
)
from numpyro_ebm.sklearn.rules import GAUSSIAN_LEARNING_RULES, gaussian_rule

__all__ = ["GaussianBernoulliRBM"]


class GaussianBernoulliRBM(RBMEstimator):
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
        + EXTRA_PARAMETERS_DOC
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
        **COMMON_CONSTRAINTS,
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
        store_parameters(self, locals())

    def _init_params(self, X):
        W = inputs.initial_weights(self._seed, int(self.n_components), X.shape[1], X.dtype)
        data = np.asarray(X, dtype=np.float64)
        std = data.std(axis=0)
        # constant features (or a single sample) get scale 1, as StandardScaler does
        std = np.where(std > 10 * np.finfo(np.dtype(X.dtype)).eps, std, 1.0)
        return gaussian_rbm.GaussianRBMParams(
            W,
            inputs.device(data.mean(axis=0).astype(X.dtype)),
            inputs.device(np.zeros(W.shape[1], X.dtype)),
            inputs.device(np.log(std).astype(X.dtype)),
        )

    def _rule(self, n_chains: int):
        return gaussian_rule(
            self.learning_rule,
            int(n_chains),
            int(self.k),
            float(self.fast_learning_rate),
            float(self.fast_decay),
            bool(self.learn_sigma),
        )

    def _params_from_attributes(self):
        log_sigma = np.log(np.asarray(self.sigma_, dtype=inputs.working_dtype()))
        return gaussian_rbm.GaussianRBMParams(*self._weights_and_biases(), inputs.device(log_sigma))

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
        log_z = self._log_partition(params).log_z
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
            free = gaussian_rbm.free_energy(p64, jnp.asarray(np.asarray(X, np.float64)))
            return -np.asarray(free, dtype=np.float64) - log_z
