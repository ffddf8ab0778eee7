"""Samplers in BlackJAX's contract: ``init``, ``build_kernel``, ``as_top_level_api``.

Each kernel takes the model parameters at call time,
``step(rng_key, state, params)``, so a learning loop can change them without
recompiling.
"""

from numpyro_ebm.kernels import rbm_gibbs

bernoulli_rbm_gibbs = rbm_gibbs.as_top_level_api  # model="bernoulli" by default

__all__ = ["rbm_gibbs", "bernoulli_rbm_gibbs"]
