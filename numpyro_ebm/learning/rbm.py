"""Old name of :mod:`numpyro_ebm.learning.rbm_rules` (the Bernoulli RBM's closed-form
estimator, its rules and centering), kept so that old imports keep working.

``from numpyro_ebm.learning import rbm as rbm_rules`` is now
``from numpyro_ebm.learning import rbm_rules``.
"""

from numpyro_ebm.learning.rbm_rules import (
    CenteredState,
    bernoulli_rbm_cd,
    bernoulli_rbm_chains,
    bernoulli_rbm_estimator,
    bernoulli_rbm_fpcd,
    bernoulli_rbm_gradient,
    bernoulli_rbm_pcd,
    centered,
    centered_gradient,
    free_energy_from_hidden_logits,
)

__all__ = [
    "bernoulli_rbm_gradient",
    "free_energy_from_hidden_logits",
    "bernoulli_rbm_chains",
    "bernoulli_rbm_estimator",
    "bernoulli_rbm_pcd",
    "bernoulli_rbm_cd",
    "bernoulli_rbm_fpcd",
    "CenteredState",
    "centered_gradient",
    "centered",
]
