r"""AIS and reverse AIS (RAISE) of Bernoulli RBMs under their old module name (kept for
existing code): the module is :mod:`numpyro_ebm.evaluation.rbm_annealing` now, beside
:mod:`numpyro_ebm.evaluation.annealing` (any energy), so that the module no longer shares
its name with the function :func:`numpyro_ebm.evaluation.annealing.ais`.
"""

from numpyro_ebm.evaluation import rbm_annealing
from numpyro_ebm.evaluation.rbm_annealing import *  # noqa: F403

__all__ = list(rbm_annealing.__all__)
