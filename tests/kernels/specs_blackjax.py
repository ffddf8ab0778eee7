"""Contract specs for the adapters around BlackJAX's continuous samplers."""

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm.kernels import hmc, langevin, mala, nuts, random_walk
from tests.kernels.contract import KernelSpec


class QuarticParams(NamedTuple):
    """A non-Gaussian product energy with a location and a log scale per coordinate."""

    loc: Float[Array, " dim"]
    log_scale: Float[Array, " dim"]


def quartic_energy(params: QuarticParams, x: Float[Array, "*batch dim"]) -> Float[Array, "*batch"]:
    z = (x - params.loc) * jnp.exp(-params.log_scale)
    return jnp.sum(0.5 * z**2 + 0.1 * z**4, axis=-1)


def _params(dtype, variant):
    loc = jnp.array([0.0, 0.5, -0.5], dtype) + 0.3 * variant
    return QuarticParams(loc, jnp.array([0.0, 0.2, -0.2], dtype) - 0.1 * variant)


def _position(dtype):
    return jnp.array([0.3, -0.2, 0.8], dtype)


def dict_energy(params: QuarticParams, x: dict) -> Float[Array, ""]:
    """The quartic energy of ``concatenate([x["a"], x["b"][None]])``: a dict position."""
    return quartic_energy(params, jnp.concatenate([x["a"], x["b"][None]]))


def _dict_position(dtype):
    return {"a": jnp.array([0.3, -0.2], dtype), "b": jnp.array(0.8, dtype)}


def _spec(name, make_algorithm, make_position=_position):
    return KernelSpec(
        name=name,
        make_algorithm=make_algorithm,
        make_params=_params,
        make_position=make_position,
        get_position=lambda state: state.position,
    )


SPECS = [
    # HMC runs on a dict position (the other adapters on a 3-vector); HMC on arrays and
    # MALA on dicts are covered in test_blackjax_adapters.py.
    _spec(
        "blackjax_hmc_dict",
        lambda: hmc.as_top_level_api(dict_energy, 0.3, num_integration_steps=5),
        _dict_position,
    ),
    _spec("blackjax_nuts", lambda: nuts.as_top_level_api(quartic_energy, 0.3)),
    _spec("blackjax_mala", lambda: mala.as_top_level_api(quartic_energy, 0.2)),
    _spec("blackjax_random_walk", lambda: random_walk.as_top_level_api(quartic_energy, 0.5)),
    _spec("blackjax_langevin", lambda: langevin.as_top_level_api(quartic_energy, 0.05)),
]
