"""Samplers in BlackJAX's contract: ``init``, ``build_kernel``, ``as_top_level_api``.

Each kernel takes the model parameters at call time,
``step(rng_key, state, params)``, so a learning loop can change them without
recompiling.

- Block Gibbs written here: :mod:`rbm_gibbs` (both RBM types), :mod:`checkerboard_gibbs`
  (lattice Ising), :mod:`boltzmann_gibbs` (dense couplings, systematic or random scan),
  :mod:`unigauss_gibbs` (products of uni-gauss experts), :mod:`binary_gibbs`
  (single-site Gibbs for any energy of binary vectors), :mod:`clamped_gibbs` (RBM
  block Gibbs with observed units held fixed: missing inputs), :mod:`dbm_gibbs` (deep
  Boltzmann machines, odd/even layers).
- Gradient-informed Metropolis-Hastings for discrete energies: :mod:`gibbs_with_gradients`
  (Grathwohl et al. 2021; binary, spin or one-hot units of any energy differentiable in x),
  :mod:`dmala` (DMALA and DULA, Zhang, Liu & Liu 2022), :mod:`locally_balanced` (exact
  locally balanced flips, Zanella 2020), :mod:`path_auxiliary` (PAS, Sun et al. 2022),
  :mod:`hamming_ball` (Titsias & Yau 2017).
- BlackJAX's own samplers, adapted to energies: :mod:`hmc`, :mod:`nuts`, :mod:`mala`,
  :mod:`random_walk`, :mod:`langevin` (unadjusted).
- Categorical (Potts) sites: :mod:`potts_rbm_gibbs` (block Gibbs of a Potts RBM),
  :mod:`potts_gibbs` (single-site Gibbs of a pairwise Potts model or any energy over
  codes), their draws :mod:`categorical` (one random word per site).
- Around any of these: :mod:`parallel_tempering` (replica exchange with
  non-reversible even-odd swaps), its adapters :mod:`tempering` (any kernel at an
  inverse temperature; AIS's base-rate path for RBMs) and its ladder tuning :mod:`ladder`.
- Running any of these: :mod:`runner` (``init_chains``, ``step_chains``, ``run_sampler``:
  the one chain runner, with the one chain-batching flag ``vmap_chains``).
- For NumPyro's ``HMCGibbs``: :mod:`numpyro_gibbs` (exact hidden-unit Gibbs for a
  Gaussian-Bernoulli RBM).
"""

from numpyro_ebm.kernels import (
    binary_gibbs,
    boltzmann_gibbs,
    checkerboard_gibbs,
    clamped_gibbs,
    dbm_gibbs,
    dmala,
    gibbs_with_gradients,
    hamming_ball,
    hmc,
    ladder,
    langevin,
    locally_balanced,
    mala,
    numpyro_gibbs,
    nuts,
    parallel_tempering,
    path_auxiliary,
    random_walk,
    rbm_gibbs,
    runner,
    tempering,
    unigauss_gibbs,
)
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

bernoulli_rbm_gibbs = rbm_gibbs.as_top_level_api  # model="bernoulli" by default

__all__ = [
    "bernoulli_from_logits",  # the Bernoulli draws every Gibbs sweep makes, for other layers
    "rbm_gibbs",
    "bernoulli_rbm_gibbs",
    "checkerboard_gibbs",
    "clamped_gibbs",
    "dbm_gibbs",
    "boltzmann_gibbs",
    "binary_gibbs",
    "gibbs_with_gradients",
    "dmala",
    "locally_balanced",
    "path_auxiliary",
    "hamming_ball",
    "unigauss_gibbs",
    "hmc",
    "nuts",
    "mala",
    "random_walk",
    "langevin",
    "numpyro_gibbs",
    "parallel_tempering",
    "tempering",
    "ladder",
    "runner",
    "categorical",
    "potts_rbm_gibbs",
    "potts_gibbs",
]
