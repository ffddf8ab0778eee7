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
(:func:`numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm`, a stochastic estimate
whose :math:`\log Z` is biased low, so the log-likelihood is biased high).

Importing this package needs scikit-learn (``pip install numpyro_ebm[sklearn]``);
nothing else in the library imports it. One job a module: ``inputs`` (scikit-learn's
arrays and ``random_state`` as JAX's), ``rules`` (the learning rules by name, from
:mod:`numpyro_ebm.registry`), ``scikit_learn_pcd`` (scikit-learn's own algorithm),
``estimator`` (what both estimators share), ``bernoulli`` and ``gaussian`` (the two
estimators).

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

from numpyro_ebm.sklearn import inputs, scikit_learn_pcd
from numpyro_ebm.sklearn.bernoulli import BernoulliRBM
from numpyro_ebm.sklearn.gaussian import GaussianBernoulliRBM
from numpyro_ebm.sklearn.rules import GAUSSIAN_LEARNING_RULES as GAUSSIAN_LEARNING_RULES
from numpyro_ebm.sklearn.rules import LEARNING_RULES
from numpyro_ebm.sklearn.scikit_learn_pcd import (
    SklearnChains as SklearnChains,
)
from numpyro_ebm.sklearn.scikit_learn_pcd import (
    sklearn_batch_keys as sklearn_batch_keys,
)
from numpyro_ebm.sklearn.scikit_learn_pcd import (
    sklearn_batches,
    sklearn_pcd_update,
)

__all__ = [
    "BernoulliRBM",
    "GaussianBernoulliRBM",
    "LEARNING_RULES",
    "sklearn_batches",
    "sklearn_pcd_update",
]

# GAUSSIAN_LEARNING_RULES, SklearnChains and sklearn_batch_keys (imported above) and these
# private names stay where the one-file module this package was had them, for code (and
# tests) written against it
_PARTIAL = inputs.PARTIAL
_entropy = inputs.entropy
_step_uniforms = scikit_learn_pcd.step_uniforms
