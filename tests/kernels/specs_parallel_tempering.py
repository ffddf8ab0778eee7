"""Contract specs for parallel tempering: the fused Bernoulli-RBM path and the generic
vmapped path (over Boltzmann-machine Gibbs; PT over HMC and MALA is exercised by
``test_parallel_tempering.py``).

The PT state of one chain holds ``K`` replicas (ladder axis first); the parameters
are :class:`~numpyro_ebm.kernels.parallel_tempering.TemperedParams`, the model's
parameters with the ladder, so a new ladder is a new parameter value (no retrace).
"""

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import bernoulli_rbm, boltzmann
from numpyro_ebm.kernels import parallel_tempering as pt
from tests.kernels.contract import KernelSpec

D, H, N_REPLICAS = 6, 4, 3


def _rbm_params(dtype, variant):
    params = bernoulli_rbm.init_params(
        jax.random.key(30 + variant), D, H, weight_scale=1.0, dtype=dtype
    )
    betas = jnp.array([0.0, 0.4 + 0.2 * variant, 1.0], dtype)
    return pt.TemperedParams(params, betas)


def _boltzmann_params(dtype, variant):
    params = boltzmann.init_params(jax.random.key(40 + variant), D, scale=1.0, dtype=dtype)
    betas = jnp.array([0.1 * variant, 0.5, 1.0], dtype)
    return pt.TemperedParams(params, betas)


SPECS = [
    KernelSpec(
        name="parallel_tempering_rbm_base_rate",
        make_algorithm=lambda: pt.as_top_level_api(
            pt.rbm_tempering(base_visible_bias=jnp.linspace(-1.0, 1.0, D))
        ),
        make_params=_rbm_params,
        make_position=lambda dtype: jnp.stack([jnp.array([1, 0, 1, 1, 0, 0], dtype)] * N_REPLICAS),
        get_position=lambda state: state.replicas.visible,
    ),
    KernelSpec(
        name="parallel_tempering_boltzmann_random_pair",
        make_algorithm=lambda: pt.as_top_level_api(pt.boltzmann_tempering(), swap="random_pair"),
        make_params=_boltzmann_params,
        make_position=lambda dtype: jnp.stack([jnp.array([1, 0, 1, 1, 0, 0], dtype)] * N_REPLICAS),
        get_position=lambda state: state.replicas.position,
    ),
]
