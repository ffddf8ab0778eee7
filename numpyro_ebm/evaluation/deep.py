r"""Partition functions and likelihood bounds for deep models, split by model (old import
path, kept for existing code): :mod:`~numpyro_ebm.evaluation.deep_boltzmann` (DBM) and
:mod:`~numpyro_ebm.evaluation.deep_belief` (DBN); :class:`VariationalBound` and
:data:`MAX_EXACT_HIDDEN1` from :mod:`~numpyro_ebm.evaluation.deep_models`.
"""

from numpyro_ebm.evaluation import deep_belief, deep_boltzmann
from numpyro_ebm.evaluation.deep_belief import *  # noqa: F403
from numpyro_ebm.evaluation.deep_boltzmann import *  # noqa: F403
from numpyro_ebm.evaluation.deep_models import MAX_EXACT_HIDDEN1  # noqa: F401

__all__ = sorted(
    {*deep_boltzmann.__all__, *deep_belief.__all__, "VariationalBound", "MAX_EXACT_HIDDEN1"}
)
