"""Learning rules (Optax-style factories of pure functions) and the training loop.

Contrastive rules are built from parts: ``pcd(estimator, negative_phase)``
(:mod:`~numpyro_ebm.learning.composition`) with a negative phase of
:mod:`~numpyro_ebm.learning.negative_phases` (``data_chains``, ``persistent_chains``,
``tempered_chains``, ``replay_buffer``, wrapped in ``fast_weights`` for FPCD) and an
estimator (``energy_gradient`` of any energy, or a closed form:
``rbm_rules.bernoulli_rbm_estimator``, ``dbm_rules.dbm_estimator``,
``dbn.tied_copies_estimator``, ``potts.potts_rbm_estimator``). The named factories of
the modules ``contrastive_divergence``, ``rbm``, ``tempered``, ``dbm`` and ``replay``
(``cd``, ``fpcd``, ``pt_pcd``, ``bernoulli_rbm_pcd``, ...) are thin aliases of such
compositions; ``rbm`` and ``dbm`` are the old names of ``rbm_rules`` and of
``dbm_rules`` + ``dbm_centering`` + ``dbm_pretraining``.
"""

from numpyro_ebm.learning import (
    base,
    chains,
    checkpoint,
    composition,
    contrastive_divergence,
    dbm,
    dbm_centering,
    dbm_pretraining,
    dbm_rules,
    dbn,
    engine,
    history,
    negative_phases,
    rbm,
    rbm_rules,
    regularizers,
    replay,
    score_matching,
    stacking,
    tempered,
)
from numpyro_ebm.learning.base import LearningRule, RuleInit, RuleStep
from numpyro_ebm.learning.checkpoint import load_model, load_params
from numpyro_ebm.learning.composition import GradientEstimator, energy_gradient, pcd
from numpyro_ebm.learning.contrastive_divergence import (
    contrastive_divergence as cd,
)
from numpyro_ebm.learning.contrastive_divergence import (
    fast_persistent_contrastive_divergence as fpcd,
)
from numpyro_ebm.learning.fit import (
    CHAIN_DIAGNOSTICS,
    CheckpointError,
    CheckpointWarning,
    FitResult,
    MixingWarning,
    TrainingDiverged,
    chain_energy_diagnostics,
    fit,
    load_checkpoint,
)
from numpyro_ebm.learning.negative_phases import (
    NegativePhase,
    data_chains,
    fast_weights,
    persistent_chains,
    replay_buffer,
    tempered_chains,
)
from numpyro_ebm.learning.score_matching import score_matching_loss
from numpyro_ebm.learning.tempered import pt_fpcd, pt_pcd

__all__ = [
    "composition",
    "negative_phases",
    "GradientEstimator",
    "energy_gradient",
    "NegativePhase",
    "data_chains",
    "persistent_chains",
    "tempered_chains",
    "replay_buffer",
    "fast_weights",
    "rbm_rules",
    "dbm_rules",
    "dbm_centering",
    "dbm_pretraining",
    "stacking",
    "contrastive_divergence",
    "rbm",
    "dbn",
    "dbm",
    "regularizers",
    "replay",
    "score_matching",
    "score_matching_loss",
    "tempered",
    "pt_pcd",
    "pt_fpcd",
    "LearningRule",
    "RuleInit",
    "RuleStep",
    "base",
    "chains",
    "checkpoint",
    "engine",
    "history",
    "cd",
    "pcd",
    "fpcd",
    "fit",
    "FitResult",
    "TrainingDiverged",
    "MixingWarning",
    "load_checkpoint",
    "load_params",
    "load_model",
    "CheckpointError",
    "CheckpointWarning",
    "chain_energy_diagnostics",
    "CHAIN_DIAGNOSTICS",
]
