"""Contract specs for the discrete proposals: DMALA, DULA, locally balanced, PAS, Hamming ball."""

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import dmala, hamming_ball, locally_balanced, path_auxiliary
from tests.kernels.contract import KernelSpec

D, K = 6, 4


def _rbm_params(dtype, variant):
    return bernoulli_rbm.init_params(
        jax.random.key(90 + variant), D, K, weight_scale=1.0, dtype=dtype
    )


def _spec(name, make_algorithm):
    return KernelSpec(
        name=name,
        make_algorithm=make_algorithm,
        make_params=_rbm_params,
        make_position=lambda dtype: jnp.asarray([1, 0, 1, 1, 0, 0], dtype),
        get_position=lambda state: state.position,
    )


ENERGY = bernoulli_rbm.free_energy
SPECS = [
    _spec("dmala", lambda: dmala.as_top_level_api(ENERGY, 0.5)),
    _spec(
        "locally_balanced_barker",
        lambda: locally_balanced.as_top_level_api(ENERGY, balancing="barker"),
    ),
    _spec("path_auxiliary", lambda: path_auxiliary.as_top_level_api(ENERGY, path_length=3)),
    _spec("hamming_ball", lambda: hamming_ball.as_top_level_api(ENERGY, block_size=3, radius=2)),
]
