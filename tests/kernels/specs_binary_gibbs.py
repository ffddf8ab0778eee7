"""Contract specs for the generic single-site binary Gibbs kernel."""

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm.energies import bernoulli_rbm, boltzmann
from numpyro_ebm.kernels import binary_gibbs
from tests.kernels.contract import KernelSpec

D, K = 6, 4


def _boltzmann_params(dtype, variant):
    rng = np.random.default_rng(50 + variant)
    upper = np.triu(rng.standard_normal((D, D)), k=1)
    return boltzmann.BoltzmannParams(
        jnp.asarray(upper + upper.T, dtype), jnp.asarray(0.5 * rng.standard_normal(D), dtype)
    )


def _rbm_params(dtype, variant):
    return bernoulli_rbm.init_params(
        jax.random.key(60 + variant), D, K, weight_scale=1.0, dtype=dtype
    )


def _position(dtype):
    return jnp.asarray([1, 0, 1, 1, 0, 0], dtype)


SPECS = [
    KernelSpec(
        name="binary_gibbs_boltzmann",
        make_algorithm=lambda: binary_gibbs.as_top_level_api(boltzmann.energy),
        make_params=_boltzmann_params,
        make_position=_position,
        get_position=lambda state: state.position,
    ),
    KernelSpec(
        name="binary_gibbs_rbm_free_energy_reverse",
        make_algorithm=lambda: binary_gibbs.as_top_level_api(
            bernoulli_rbm.free_energy, reverse=True
        ),
        make_params=_rbm_params,
        make_position=_position,
        get_position=lambda state: state.position,
    ),
]
