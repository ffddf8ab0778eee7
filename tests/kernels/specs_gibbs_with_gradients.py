"""Contract specs for Gibbs with gradients (binary units and one-hot categorical units)."""

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import bernoulli_rbm, mlp
from numpyro_ebm.kernels import gibbs_with_gradients
from tests.kernels.contract import KernelSpec

D, K = 6, 4


def _rbm_params(dtype, variant):
    return bernoulli_rbm.init_params(
        jax.random.key(70 + variant), D, K, weight_scale=1.0, dtype=dtype
    )


def _mlp_params(dtype, variant):
    return mlp.init_params(jax.random.key(80 + variant), (6, 5), dtype)


def _one_hot_energy(params, x):
    return mlp.energy(params, x.reshape(x.shape[:-2] + (6,)))


SPECS = [
    KernelSpec(
        name="gibbs_with_gradients_rbm_free_energy",
        make_algorithm=lambda: gibbs_with_gradients.as_top_level_api(bernoulli_rbm.free_energy),
        make_params=_rbm_params,
        make_position=lambda dtype: jnp.asarray([1, 0, 1, 1, 0, 0], dtype),
        get_position=lambda state: state.position,
    ),
    KernelSpec(
        name="gibbs_with_gradients_one_hot_two_flips",
        make_algorithm=lambda: gibbs_with_gradients.as_top_level_api(
            _one_hot_energy, one_hot=True, n_flips=2
        ),
        make_params=_mlp_params,
        make_position=lambda dtype: jnp.eye(3, dtype=dtype)[jnp.array([0, 2])],
        get_position=lambda state: state.position,
    ),
]
