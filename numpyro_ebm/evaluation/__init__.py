"""Partition functions and likelihood-type metrics.

- :mod:`exact`: enumeration (the test oracle).
- :mod:`ais`: annealed importance sampling and reverse annealing (RAISE) for
  Bernoulli RBMs (Salakhutdinov & Murray 2008; Burda et al. 2015).
- :mod:`annealing`: AIS and reverse AIS for any energy, with a tractable base
  and the library's kernels as transitions.
- :mod:`deep`: AIS and variational bounds for deep belief nets and deep Boltzmann
  machines (Salakhutdinov & Murray 2008; Salakhutdinov & Hinton 2009).
- :mod:`metrics`: pseudo-likelihood, reconstruction error, anomaly scores, AUROC.
- :mod:`potts`: exact log Z of Potts RBMs (hidden layer enumerated), the independent-site
  model, and its base for AIS/RAISE of categorical models.
"""

from numpyro_ebm.evaluation import ais, annealing, deep, exact, metrics, potts

__all__ = ["ais", "annealing", "deep", "exact", "metrics", "potts"]
