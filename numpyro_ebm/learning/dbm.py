"""Deep Boltzmann machines' learning: the rule, centering and pretraining, re-exported.

The content moved into three modules with one job each (issue 24):
:mod:`~numpyro_ebm.learning.dbm_rules` (the estimator and the rules),
:mod:`~numpyro_ebm.learning.dbm_centering` (the centered DBM) and
:mod:`~numpyro_ebm.learning.dbm_pretraining` (greedy layer-wise pretraining, the only one
that imports :func:`~numpyro_ebm.learning.fit.fit`). This module keeps the old import path
``numpyro_ebm.learning.dbm`` and its names working.
"""

from numpyro_ebm.learning.dbm_centering import (
    OFFSET_SOURCES,
    CenteredDBMState,
    centered_dbm,
    centered_dbm_gradient,
)
from numpyro_ebm.learning.dbm_pretraining import (
    PretrainResult,
    compose_pretrained,
    greedy_pretrain,
)
from numpyro_ebm.learning.dbm_rules import (
    DBMInfo,
    DBMNegatives,
    dbm_chains,
    dbm_estimator,
    dbm_fpcd,
    dbm_gradient,
    dbm_pcd,
    dbm_pt_fpcd,
    dbm_pt_pcd,
)

__all__ = [
    "dbm_gradient",
    "DBMNegatives",
    "DBMInfo",
    "dbm_chains",
    "dbm_estimator",
    "dbm_pcd",
    "dbm_fpcd",
    "dbm_pt_pcd",
    "dbm_pt_fpcd",
    "CenteredDBMState",
    "centered_dbm_gradient",
    "centered_dbm",
    "OFFSET_SOURCES",
    "PretrainResult",
    "compose_pretrained",
    "greedy_pretrain",
]
