r"""Exact maps between {0, 1} units and ±1 spins for the binary models.

With :math:`x = (s + 1)/2` a model with quadratic energy in :math:`x \in \{0,1\}^D`
is the same distribution as a model of the same form in :math:`s \in \{-1,+1\}^D`:
expanding :math:`x_i x_j = \tfrac14 (s_i s_j + s_i + s_j + 1)` gives couplings
divided by 4 and fields

.. math::

    h^{\pm}_i = \tfrac12 h_i + \tfrac14 \sum_j J_{ij}, \qquad
    J^{\pm} = \tfrac14 J,

(and the inverse :math:`J = 4 J^{\pm}`, :math:`h = 2(h^{\pm} - \sum_j J^{\pm}_{ij})`),
the energies differing by a constant, which only changes :math:`\log Z`. The
energy functions of :mod:`~numpyro_ebm.energies.boltzmann`,
:mod:`~numpyro_ebm.energies.lattice_ising` and
:mod:`~numpyro_ebm.energies.bernoulli_rbm` are the same formula for either
value set, so the mapped parameters are used with them unchanged, and the spin
conditionals are :math:`p(s_i = +1 \mid \cdot) = \sigma(2\phi_i)` (the
``spins=True`` option of the Gibbs kernels of the Boltzmann machine and the
lattice). For the RBM both layers are mapped (visible and hidden spins); the
joint energy :math:`-b^\top s - c^\top t - s^\top W t` then has
:math:`p(t_j = +1 \mid s) = \sigma(2(c_j + s^\top W_{:j}))`.

Each pair ``*_to_spins`` / ``*_from_spins`` is tested both ways against
enumeration (``tests/energies/test_spins.py``).

References
----------
Glauber, R. J. (1963). Time-dependent statistics of the Ising model. *J. Math.
Phys.* 4(2). (The two conventions of the Ising model.)
"""

from __future__ import annotations

import jax.numpy as jnp

from numpyro_ebm.energies import bernoulli_rbm, boltzmann, lattice_ising

__all__ = [
    "boltzmann_to_spins",
    "boltzmann_from_spins",
    "bernoulli_rbm_to_spins",
    "bernoulli_rbm_from_spins",
    "lattice_ising_to_spins",
    "lattice_ising_from_spins",
    "lattice_neighbour_sum",
]


def boltzmann_to_spins(params: boltzmann.BoltzmannParams) -> boltzmann.BoltzmannParams:
    """{0,1} Boltzmann machine -> the same distribution on spins: ``(J/4, h/2 + J 1/4)``."""
    params = boltzmann.validate_params(params)
    J = params.J / 4
    return boltzmann.BoltzmannParams(J, params.h / 2 + jnp.sum(J, axis=1))


def boltzmann_from_spins(params: boltzmann.BoltzmannParams) -> boltzmann.BoltzmannParams:
    """Spin Boltzmann machine -> {0,1}: ``(4 J, 2 (h - J 1))``."""
    params = boltzmann.validate_params(params)
    return boltzmann.BoltzmannParams(4 * params.J, 2 * (params.h - jnp.sum(params.J, axis=1)))


def bernoulli_rbm_to_spins(
    params: bernoulli_rbm.BernoulliRBMParams,
) -> bernoulli_rbm.BernoulliRBMParams:
    """{0,1} RBM -> spin RBM (both layers): ``W/4``, ``b/2 + W 1/4``, ``c/2 + W^T 1/4``."""
    W = params.W / 4
    return bernoulli_rbm.BernoulliRBMParams(
        W, params.b / 2 + jnp.sum(W, axis=1), params.c / 2 + jnp.sum(W, axis=0)
    )


def bernoulli_rbm_from_spins(
    params: bernoulli_rbm.BernoulliRBMParams,
) -> bernoulli_rbm.BernoulliRBMParams:
    """Spin RBM -> {0,1} RBM: ``4 W``, ``2 (b - W 1)``, ``2 (c - W^T 1)``."""
    W = params.W
    return bernoulli_rbm.BernoulliRBMParams(
        4 * W, 2 * (params.b - jnp.sum(W, axis=1)), 2 * (params.c - jnp.sum(W, axis=0))
    )


def lattice_neighbour_sum(params: lattice_ising.LatticeIsingParams):
    r""":math:`\sum_{n \sim (i,j)} K_{(ij),n}`, the sum of each site's couplings, shape ``(H, W)``."""
    K_h, K_v = params.horizontal, params.vertical
    zero_col = jnp.zeros(K_h.shape[:-1] + (1,), K_h.dtype)
    zero_row = jnp.zeros((1,) + K_v.shape[1:], K_v.dtype)
    right = jnp.concatenate([K_h, zero_col], axis=-1)
    left = jnp.concatenate([zero_col, K_h], axis=-1)
    down = jnp.concatenate([K_v, zero_row], axis=0)
    up = jnp.concatenate([zero_row, K_v], axis=0)
    return right + left + down + up


def lattice_ising_to_spins(
    params: lattice_ising.LatticeIsingParams,
) -> lattice_ising.LatticeIsingParams:
    """{0,1} lattice model -> spins: couplings ``/4``, field ``f/2 + (neighbour sum)/4``."""
    params = lattice_ising.validate_params(params)
    spin = lattice_ising.LatticeIsingParams(
        params.horizontal / 4, params.vertical / 4, params.field
    )
    return spin._replace(field=params.field / 2 + lattice_neighbour_sum(spin))


def lattice_ising_from_spins(
    params: lattice_ising.LatticeIsingParams,
) -> lattice_ising.LatticeIsingParams:
    """Spin lattice model -> {0,1}: couplings ``4 K``, field ``2 (f - neighbour sum)``."""
    params = lattice_ising.validate_params(params)
    return lattice_ising.LatticeIsingParams(
        4 * params.horizontal,
        4 * params.vertical,
        2 * (params.field - lattice_neighbour_sum(params)),
    )
