"""Contract specs for the DBM block-Gibbs kernel (full-state and visible-only positions)."""

import jax
import jax.numpy as jnp

from numpyro_ebm.energies import dbm
from numpyro_ebm.kernels import dbm_gibbs
from tests.kernels.contract import KernelSpec

D, K1, K2 = 6, 4, 3


def _params(dtype, variant):
    return dbm.init_params(jax.random.key(30 + variant), D, K1, K2, weight_scale=1.0, dtype=dtype)


def _full_position(dtype):
    return (
        jnp.array([1, 0, 1, 1, 0, 0], dtype=dtype),
        jnp.array([0, 1, 1, 0], dtype=dtype),
        jnp.array([1, 0, 1], dtype=dtype),
    )


def _full_state(state):
    return (state.visible, state.hidden1, state.hidden2)


SPECS = [
    KernelSpec(
        name="dbm_gibbs_full_state",
        make_algorithm=dbm_gibbs.as_top_level_api,
        make_params=_params,
        make_position=_full_position,
        get_position=_full_state,
    ),
    KernelSpec(
        name="dbm_gibbs_visible_init",
        make_algorithm=dbm_gibbs.as_top_level_api,
        make_params=_params,
        make_position=lambda dtype: jnp.array([0, 1, 1, 0, 1, 0], dtype=dtype),
        get_position=_full_state,
    ),
]
