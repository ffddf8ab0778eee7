"""Learning rules (Optax-style factories of pure functions) and the training loop."""

from numpyro_ebm.learning import (
    base,
    chains,
    checkpoint,
    contrastive_divergence,
    dbm,
    dbn,
    engine,
    history,
    rbm,
    regularizers,
    replay,
    score_matching,
    tempered,
)
from numpyro_ebm.learning.base import LearningRule, RuleInit, RuleStep
from numpyro_ebm.learning.checkpoint import load_model, load_params
from numpyro_ebm.learning.contrastive_divergence import (
    contrastive_divergence as cd,
)
from numpyro_ebm.learning.contrastive_divergence import (
    fast_persistent_contrastive_divergence as fpcd,
)
from numpyro_ebm.learning.contrastive_divergence import (
    persistent_contrastive_divergence as pcd,
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
from numpyro_ebm.learning.score_matching import score_matching_loss
from numpyro_ebm.learning.tempered import pt_fpcd, pt_pcd

__all__ = [
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
