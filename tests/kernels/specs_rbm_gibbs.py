"""Contract specs for the RBM block-Gibbs kernels."""

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.kernels import rbm_gibbs
from tests.kernels.contract import KernelSpec

D, K = 6, 4


def _bernoulli_params(dtype, variant):
    return bernoulli_rbm.init_params(
        jax.random.key(10 + variant), D, K, weight_scale=1.0, dtype=dtype
    )


def _gaussian_params(dtype, variant):
    params = gaussian_rbm.init_params(
        jax.random.key(20 + variant), D, K, weight_scale=0.5, dtype=dtype
    )
    return params._replace(log_sigma=params.log_sigma + 0.1 * variant)


SPECS = [
    KernelSpec(
        name="rbm_gibbs_bernoulli",
        make_algorithm=lambda: rbm_gibbs.as_top_level_api("bernoulli"),
        make_params=_bernoulli_params,
        make_position=lambda dtype: jnp.array([1, 0, 1, 1, 0, 0], dtype=dtype),
        get_position=lambda state: state.visible,
    ),
    KernelSpec(
        name="rbm_gibbs_gaussian",
        make_algorithm=lambda: rbm_gibbs.as_top_level_api("gaussian"),
        make_params=_gaussian_params,
        make_position=lambda dtype: jnp.linspace(-1, 1, D, dtype=dtype),
        get_position=lambda state: state.visible,
    ),
]
