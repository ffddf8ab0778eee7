r"""The Hamming ball sampler: exact block moves inside a small Hamming ball.

Titsias & Yau (2017) move a binary vector :math:`x \in \{0,1\}^D` by a Gibbs
sampler on an augmented space. A step chooses a block :math:`S` of ``block_size``
units uniformly at random (independently of :math:`x`), and with
:math:`H_S(y) = \{z : z_{\neg S} = y_{\neg S},\ |z_S - y_S|_1 \le r\}`, the
configurations within Hamming distance :math:`r` (``radius``) of :math:`y` that
differ from it only inside the block:

1. draws the auxiliary :math:`u` uniformly from :math:`H_S(x)`;
2. draws the new :math:`x'` from :math:`p` restricted to :math:`H_S(u)`,
   :math:`x' \sim p(x') \mathbf 1[x' \in H_S(u)]`.

Since :math:`x \in H_S(u) \iff u \in H_S(x)` and every ball has the same size
:math:`M = \sum_{k \le r} \binom{b}{k}`, both draws are exact conditionals of the
joint :math:`p(x)\, \mathrm{U}(u; H_S(x))`: the step leaves :math:`p` exactly
invariant, needs no Metropolis-Hastings test, and can move up to :math:`2r` units
at once. It costs :math:`M` energy evaluations (one batched call of ``energy_fn``
on the ball), which :attr:`HammingBallInfo.n_evaluations` reports. With
``radius = block_size`` it is block Gibbs on a random block (:math:`2^b`
evaluations); with ``block_size = radius = 1`` it is random-scan single-site
Gibbs (the paper's ``bg-1`` baseline of Zhang et al. 2022 too). The DMALA paper's
Ising experiment runs ``block_size=10, radius=1``.

Binary units (``spins=False``) or spins; positions ``(*chains, D)`` with leading
chain dimensions (each chain draws its own block), and ``vmap`` works as well.
``energy_fn(params, x)`` must broadcast over leading dimensions.

References
----------
Titsias, M. K. & Yau, C. (2017). The Hamming ball sampler. *Journal of the American
Statistical Association* 112(520).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.kernels import gibbs_with_gradients as gwg

__all__ = [
    "HammingBallState",
    "HammingBallInfo",
    "ball_size",
    "init",
    "build_kernel",
    "as_top_level_api",
]


class HammingBallState(NamedTuple):
    """State of the chain: the position, ``(*chains, D)`` (0/1 or spins), floating."""

    position: Float[Array, "*chains units"]


class HammingBallInfo(NamedTuple):
    """Diagnostics of one step.

    n_flipped
        Units that changed, ``(*chains,)`` (int32).
    energy
        Energy of the new position, ``(*chains,)`` (computed by the step anyway).
    n_evaluations
        Energy evaluations one chain spent (the ball size :math:`M`), ``(*chains,)``.
    """

    n_flipped: Int[Array, "*chains"]
    energy: Float[Array, "*chains"]
    n_evaluations: Int[Array, "*chains"]


def ball_size(block_size: int, radius: int) -> int:
    """:math:`M = \\sum_{k \\le r} \\binom{b}{k}`, the energy evaluations of a step."""
    return sum(math.comb(block_size, k) for k in range(radius + 1))


def _ball_masks(block_size: int, radius: int) -> np.ndarray:
    """``(M, block_size)`` boolean: every subset of the block of at most ``radius`` units."""
    masks = [np.zeros(block_size, bool)]
    for k in range(1, radius + 1):
        for subset in itertools.combinations(range(block_size), k):
            mask = np.zeros(block_size, bool)
            mask[list(subset)] = True
            masks.append(mask)
    return np.stack(masks)


def init(
    position: Float[Array, "*chains units"], params, energy_fn: Callable, *, spins: bool = False
) -> HammingBallState:
    """Validate ``position`` (binary or spins, float) and the energy's output there."""
    position = gwg.check_position(position, spins)
    gwg.check_energy_output(energy_fn, params, position)
    if _checks.is_concrete(position) and all(
        _checks.is_concrete(leaf) for leaf in jax.tree.leaves(params)
    ):
        gwg.check_finite_at_start(energy=energy_fn(params, position))
    return HammingBallState(position)


def build_kernel(energy_fn: Callable, *, block_size: int = 4, radius: int = 1, spins: bool = False):
    """Return ``kernel(rng_key, state, params) -> (HammingBallState, HammingBallInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` broadcasting over leading dimensions; the target
        is :math:`e^{-E}`.
    block_size
        :math:`b`, units in the random block of a step (at most ``D``, checked
        at the first call).
    radius
        :math:`r \\le b`, the Hamming radius of the ball inside the block.
    spins
        Units in :math:`\\{-1, +1\\}` instead of :math:`\\{0, 1\\}`.
    """
    block_size = _checks.check_int(block_size, "block_size", minimum=1)
    radius = _checks.check_int(radius, "radius", minimum=1)
    if radius > block_size:
        raise ValueError(
            f"radius must be at most block_size (the ball lives in the block); got radius "
            f"{radius} > block_size {block_size}"
        )
    masks = _ball_masks(block_size, radius)  # (M, b), static
    n_masks = masks.shape[0]
    spins = bool(spins)

    def kernel(
        rng_key: PRNGKeyArray, state: HammingBallState, params
    ) -> tuple[HammingBallState, HammingBallInfo]:
        position = state.position
        n_units = position.shape[-1]
        if block_size > n_units:
            raise ValueError(
                f"block_size {block_size} is larger than the {n_units} units of the position"
            )
        chains = position.shape[:-1]
        key_block, key_aux, key_new = jax.random.split(rng_key, 3)
        # a uniform block per chain: the first b units of a random permutation
        order = jnp.argsort(jax.random.uniform(key_block, chains + (n_units,)), axis=-1)
        block = jax.nn.one_hot(order[..., :block_size], n_units, dtype=jnp.int32)  # (*c, b, D)
        # ball masks spread to the units: (*chains, M, D)
        spread = jnp.einsum("mb,...bd->...md", jnp.asarray(masks, jnp.int32), block) > 0
        aux_choice = jax.random.randint(key_aux, chains, 0, n_masks)
        aux_mask = jnp.take_along_axis(spread, aux_choice[..., None, None], axis=-2)[..., 0, :]
        flip = gwg.flipped(position, spins)
        aux = jnp.where(aux_mask, flip, position)
        candidates = jnp.where(spread, gwg.flipped(aux, spins)[..., None, :], aux[..., None, :])
        energies = energy_fn(params, candidates)  # (*chains, M)
        # NaN energies (inf - inf) are excluded like infinite ones
        logits = jnp.where(jnp.isnan(energies), -jnp.inf, -energies)
        choice = jax.random.categorical(key_new, logits, axis=-1)
        new = jnp.take_along_axis(candidates, choice[..., None, None], axis=-2)[..., 0, :]
        energy = jnp.take_along_axis(energies, choice[..., None], axis=-1)[..., 0]
        info = HammingBallInfo(
            jnp.sum(new != position, axis=-1, dtype=jnp.int32),
            energy,
            jnp.full(chains, n_masks, jnp.int32),
        )
        return HammingBallState(new), info

    return kernel


def as_top_level_api(
    energy_fn: Callable, *, block_size: int = 4, radius: int = 1, spins: bool = False
) -> SamplingAlgorithm:
    """The Hamming ball sampler on ``energy_fn`` as a ``SamplingAlgorithm``; see :func:`build_kernel`."""
    kernel = build_kernel(energy_fn, block_size=block_size, radius=radius, spins=spins)

    def init_fn(position, params) -> HammingBallState:
        return init(position, params, energy_fn, spins=spins)

    return SamplingAlgorithm(init_fn, kernel)
