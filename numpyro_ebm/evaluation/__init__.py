"""Partition functions and likelihood-type metrics.

- :mod:`exact`: enumeration (the test oracle).
- :mod:`rbm_annealing`: annealed importance sampling and reverse annealing (RAISE) for
  Bernoulli RBMs (Salakhutdinov & Murray 2008; Burda et al. 2015), with the one annealing
  driver; :mod:`ais` is its old name.
- :mod:`annealing`: AIS and reverse AIS for any energy, with a tractable base
  and the library's kernels as transitions.
- :mod:`deep_boltzmann`: AIS, variational bounds and their tightness for deep Boltzmann
  machines (Salakhutdinov & Hinton 2009); :mod:`deep_belief`: the same for deep belief
  nets (Salakhutdinov & Murray 2008); :mod:`deep_models`: what they share;
  :mod:`deep`: both under their old common import path.
- :mod:`metrics`: pseudo-likelihood, reconstruction error, anomaly scores, AUROC.
- :mod:`potts`: exact log Z of Potts RBMs (hidden layer enumerated), the independent-site
  model, and its base for AIS/RAISE of categorical models.
"""

from numpyro_ebm.evaluation import (
    ais,
    annealing,
    deep,
    deep_belief,
    deep_boltzmann,
    deep_models,
    exact,
    metrics,
    potts,
    rbm_annealing,
)

__all__ = [
    "ais",
    "annealing",
    "deep",
    "deep_belief",
    "deep_boltzmann",
    "deep_models",
    "exact",
    "metrics",
    "potts",
    "rbm_annealing",
]
