"""Pure energy functions ``energy(params, x)`` with ``p(x) ∝ exp(-energy)``.

No sampling and no NumPyro here: closed forms only (energies, free energies,
conditionals). Every function broadcasts over leading batch dimensions.

- :mod:`~numpyro_ebm.energies.bernoulli_rbm`, :mod:`~numpyro_ebm.energies.gaussian_rbm`:
  restricted Boltzmann machines;
- :mod:`~numpyro_ebm.energies.boltzmann`: fully-visible Boltzmann machine, dense couplings;
- :mod:`~numpyro_ebm.energies.lattice_ising`: 2-D nearest-neighbour Ising model with a field;
- :mod:`~numpyro_ebm.energies.poe`: products of uni-gauss and Student-t experts;
- :mod:`~numpyro_ebm.energies.mlp`: a neural energy with deterministic hidden units;
- :mod:`~numpyro_ebm.energies.dbm`: two-hidden-layer deep Boltzmann machine;
- :mod:`~numpyro_ebm.energies.dbn`: deep belief networks (the stack of RBMs) and tied-copies RBMs;
- :mod:`~numpyro_ebm.energies.potts_rbm`, :mod:`~numpyro_ebm.energies.potts`: categorical
  (q-state) sites: the Potts RBM and the pairwise Potts (DCA) model;
- :mod:`~numpyro_ebm.energies.spins`: exact maps between {0,1} units and ±1 spins.
"""

from numpyro_ebm.energies import (
    bernoulli_rbm,
    boltzmann,
    dbm,
    dbn,
    gaussian_rbm,
    lattice_ising,
    mlp,
    poe,
    potts,
    potts_rbm,
    spins,
)

__all__ = [
    "bernoulli_rbm",
    "gaussian_rbm",
    "boltzmann",
    "lattice_ising",
    "poe",
    "mlp",
    "dbm",
    "dbn",
    "potts_rbm",
    "potts",
    "spins",
]
