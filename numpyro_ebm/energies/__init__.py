"""Pure energy functions ``energy(params, x)`` with ``p(x) ∝ exp(-energy)``.

No sampling and no NumPyro here: closed forms only (energies, free energies,
conditionals). Every function broadcasts over leading batch dimensions.
"""

from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm

__all__ = ["bernoulli_rbm", "gaussian_rbm"]
