"""Which difference from scikit-learn's BernoulliRBM costs accuracy on its digits example?

scikit-learn's own numpy implementation (``sklearn.neural_network.BernoulliRBM``),
modified one step at a time towards what ``numpyro_ebm.sklearn.BernoulliRBM`` does, on
the data and pipeline of ``bench/sklearn_digits.py``:

- ``shuffled``: the minibatches reshuffled every epoch, the remainder dropped (as
  ``numpyro_ebm.learning.fit``); scikit-learn's chains (the persistent state is the hidden
  layer and the negative visible sample is drawn with the current weights);
- ``lagged``: also the library's chains (the persistent state is the visible layer, so
  the negative sample was drawn one step earlier, with the previous weights), i.e. the
  library's algorithm in numpy, with numpy's random numbers and scikit-learn's dtypes.

Run: ``python bench/sklearn_digits_ablation.py --seeds 5``.
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import BernoulliRBM
from sklearn.utils import check_random_state
from sklearn_digits import digits_data


class Shuffled(BernoulliRBM):
    """scikit-learn's PCD-1 with the minibatches reshuffled every epoch."""

    lagged = False

    def fit(self, X, y=None):
        X = np.asarray(X)
        rng = check_random_state(self.random_state)
        self.components_ = rng.normal(0, 0.01, (self.n_components, X.shape[1])).astype(X.dtype)
        self.intercept_hidden_ = np.zeros(self.n_components, X.dtype)
        self.intercept_visible_ = np.zeros(X.shape[1], X.dtype)
        self.h_samples_ = np.zeros((self.batch_size, self.n_components), X.dtype)
        # the library's chains start at v ~ p(v | h = 0) = Bernoulli(1/2) for zero biases
        self.visible_chains_ = (rng.uniform(size=(self.batch_size, X.shape[1])) < 0.5).astype(
            X.dtype
        )
        n_batches = X.shape[0] // self.batch_size
        for _ in range(self.n_iter):
            order = rng.permutation(X.shape[0])[: n_batches * self.batch_size]
            for b in range(n_batches):
                self._fit(X[order[b * self.batch_size : (b + 1) * self.batch_size]], rng)
        self.n_features_in_ = X.shape[1]
        return self

    def _fit(self, v_pos, rng):
        if not self.lagged:
            return super()._fit(v_pos, rng)
        h_pos = self._mean_hiddens(v_pos)
        v_neg = self.visible_chains_
        h_neg = self._mean_hiddens(v_neg)
        lr = float(self.learning_rate) / v_pos.shape[0]
        update = (v_pos.T @ h_pos).T - h_neg.T @ v_neg
        # the chains advance with the weights before this update, as the library's rule
        hidden = (rng.uniform(size=h_neg.shape) < h_neg).astype(v_neg.dtype)
        self.visible_chains_ = self._sample_visibles(hidden, rng).astype(v_neg.dtype)
        self.components_ += lr * update
        self.intercept_hidden_ += lr * (h_pos.sum(0) - h_neg.sum(0))
        self.intercept_visible_ += lr * (v_pos.sum(0) - v_neg.sum(0))


class Lagged(Shuffled):
    """Also the library's chains: the negative visible sample is one step old."""

    lagged = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    X_train, X_test, Y_train, Y_test = digits_data()
    accuracies = {"shuffled": [], "lagged": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(args.seeds):
            for name, cls in (("shuffled", Shuffled), ("lagged", Lagged)):
                rbm = cls(n_components=100, learning_rate=0.06, n_iter=10, random_state=seed)
                rbm.fit(X_train)
                logistic = LogisticRegression(C=6000).fit(rbm.transform(X_train), Y_train)
                accuracy = float(logistic.score(rbm.transform(X_test), Y_test))
                accuracies[name].append(accuracy)
                print(f"seed {seed} {name:>8}: accuracy {accuracy:.4f}", flush=True)
    for name, values in accuracies.items():
        print(f"{name}: mean accuracy {statistics.mean(values):.4f} over {len(values)} seeds")
    return accuracies


if __name__ == "__main__":
    main()
