"""Contract specs for the Potts samplers (block Gibbs of the Potts RBM, single-site Gibbs)."""

import jax.numpy as jnp
import numpy as np

from numpyro_ebm.energies import potts, potts_rbm
from numpyro_ebm.kernels import potts_gibbs, potts_rbm_gibbs
from tests.kernels.contract import KernelSpec

L, Q, K = 5, 4, 3


def rbm_params(dtype, variant=0):
    rng = np.random.default_rng(50 + variant)
    return potts_rbm.PottsRBMParams(
        jnp.asarray(rng.standard_normal((L, Q, K)), dtype),
        jnp.asarray(0.5 * rng.standard_normal((L, Q)), dtype),
        jnp.asarray(0.5 * rng.standard_normal(K), dtype),
    )


def potts_params(dtype, variant=0):
    rng = np.random.default_rng(60 + variant)
    return potts.PottsParams(
        jnp.asarray(0.5 * rng.standard_normal((L, Q)), dtype),
        potts.symmetrize(jnp.asarray(rng.standard_normal((L, Q, L, Q)), dtype)),
    )


def _position(dtype):
    return jnp.asarray([0, 3, 1, 2, 0], dtype)


def _free_energy(params, v):
    return potts_rbm.free_energy(params, v, "codes")


SPECS = [
    KernelSpec(
        name="potts_rbm_gibbs",
        make_algorithm=potts_rbm_gibbs.as_top_level_api,
        make_params=rbm_params,
        make_position=_position,
        get_position=lambda state: state.position,
    ),
    KernelSpec(
        name="potts_gibbs",
        make_algorithm=potts_gibbs.as_top_level_api,
        make_params=potts_params,
        make_position=_position,
        get_position=lambda state: state.position,
    ),
    KernelSpec(
        name="potts_gibbs_energy_fn",
        make_algorithm=lambda: potts_gibbs.as_top_level_api(_free_energy, Q),
        make_params=rbm_params,
        make_position=_position,
        get_position=lambda state: state.position,
    ),
]
