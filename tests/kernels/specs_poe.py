"""Contract specs for the uni-gauss product-of-experts Gibbs kernel."""

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import poe
from numpyro_ebm.kernels import unigauss_gibbs
from tests.kernels.contract import KernelSpec

M, D = 4, 3
BOX = poe.make_box(-2.0, 2.0, D)


def _params(dtype, variant):
    params = poe.init_params(jax.random.key(30 + variant), M, D, box=BOX, dtype=dtype)
    return params._replace(logit_mix=params.logit_mix + 0.5 * variant)


SPECS = [
    KernelSpec(
        name="unigauss_gibbs",
        make_algorithm=lambda: unigauss_gibbs.as_top_level_api(BOX),
        make_params=_params,
        make_position=lambda dtype: jnp.linspace(-1, 1, D, dtype=dtype),
        get_position=lambda state: state.position,
    ),
]
