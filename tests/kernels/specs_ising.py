"""Contract specs for the Ising / Boltzmann machine Gibbs kernels."""

import jax.numpy as jnp
import numpy as np

from numpyro_ebm.energies import boltzmann, lattice_ising
from numpyro_ebm.kernels import boltzmann_gibbs, checkerboard_gibbs
from tests.kernels.contract import KernelSpec

D = 6
SHAPE = (3, 4)


def _boltzmann_params(dtype, variant):
    rng = np.random.default_rng(30 + variant)
    upper = np.triu(rng.standard_normal((D, D)), k=1)
    return boltzmann.BoltzmannParams(
        jnp.asarray(upper + upper.T, dtype), jnp.asarray(0.5 * rng.standard_normal(D), dtype)
    )


def _lattice_params(dtype, variant):
    H, W = SHAPE
    rng = np.random.default_rng(40 + variant)
    return lattice_ising.LatticeIsingParams(
        jnp.asarray(0.5 * rng.standard_normal((H, W - 1)), dtype),
        jnp.asarray(0.5 * rng.standard_normal((H - 1, W)), dtype),
        jnp.asarray(0.3 * rng.standard_normal((H, W)), dtype),
    )


def _checkerboard_position(dtype, spins):
    bits = (np.arange(SHAPE[0] * SHAPE[1]).reshape(SHAPE) % 3 == 0).astype(np.float64)
    return jnp.asarray(2 * bits - 1 if spins else bits, dtype)


SPECS = [
    KernelSpec(
        name=f"boltzmann_gibbs_{scan}_{'spins' if spins else 'binary'}",
        make_algorithm=lambda scan=scan, spins=spins: boltzmann_gibbs.as_top_level_api(
            spins=spins, scan=scan
        ),
        make_params=_boltzmann_params,
        make_position=lambda dtype, spins=spins: jnp.asarray(
            [1, -1, 1, 1, -1, -1] if spins else [1, 0, 1, 1, 0, 0], dtype
        ),
        get_position=lambda state: state.position,
    )
    for scan, spins in [("systematic", False), ("random", True)]
] + [
    KernelSpec(
        name="checkerboard_gibbs_spins",
        make_algorithm=lambda: checkerboard_gibbs.as_top_level_api(spins=True),
        make_params=_lattice_params,
        make_position=lambda dtype: _checkerboard_position(dtype, spins=True),
        get_position=lambda state: state.position,
    )
]
