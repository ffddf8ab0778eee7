"""Contract specs for the clamped RBM block-Gibbs kernel (half of the units clamped)."""

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm

from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.kernels import clamped_gibbs
from tests.kernels.contract import KernelSpec

D, K = 6, 4
OBSERVED = jnp.array([True, False, True, False, False, True])


def _bernoulli_params(dtype, variant):
    return bernoulli_rbm.init_params(
        jax.random.key(30 + variant), D, K, weight_scale=1.0, dtype=dtype
    )


def _gaussian_params(dtype, variant):
    params = gaussian_rbm.init_params(
        jax.random.key(40 + variant), D, K, weight_scale=0.5, dtype=dtype
    )
    return params._replace(log_sigma=params.log_sigma + 0.1 * variant)


def _algorithm(model):
    """The contract calls ``init(position, params)``: bind the mask."""
    api = clamped_gibbs.as_top_level_api(model)
    return SamplingAlgorithm(
        lambda position, params: api.init(position, params, OBSERVED), api.step
    )


SPECS = [
    KernelSpec(
        name="clamped_gibbs_bernoulli",
        make_algorithm=lambda: _algorithm("bernoulli"),
        make_params=_bernoulli_params,
        make_position=lambda dtype: jnp.array([1, 0, 1, 1, 0, 0], dtype=dtype),
        get_position=lambda state: state.visible,
    ),
    KernelSpec(
        name="clamped_gibbs_gaussian",
        make_algorithm=lambda: _algorithm("gaussian"),
        make_params=_gaussian_params,
        make_position=lambda dtype: jnp.linspace(-1, 1, D, dtype=dtype),
        get_position=lambda state: state.visible,
    ),
]
