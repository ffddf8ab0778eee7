r"""Checkerboard (two-colour block) Gibbs sampling for the 2-D lattice Ising model.

Colour site :math:`(i, j)` black when :math:`i + j` is even and white otherwise.
Nearest neighbours always have opposite colours, so given the white sites the
black ones are conditionally independent and are all redrawn in parallel from
:math:`p(s_{ij} \mid \text{neighbours})`; then the white ones given the new black
ones. One step is this full sweep (every site updated once), a valid Gibbs
sampler for :math:`p(s) \propto e^{-E(s)}` of
:mod:`numpyro_ebm.energies.lattice_ising`.

Spins (``spins=True``, default) are drawn as :math:`s = 2b - 1` with
:math:`b \sim \mathrm{Bernoulli}(\sigma(2\phi))`; 0/1 units (``spins=False``) as
:math:`x \sim \mathrm{Bernoulli}(\sigma(\phi))`, with :math:`\phi` the local field.

Follows BlackJAX's kernel contract: ``init(position, params)``,
``build_kernel(spins)`` returning ``kernel(rng_key, state, params)``, and
``as_top_level_api(spins)``; parameters enter at call time. Positions may carry
leading chain dimensions ``(*chains, H, W)`` (one key drives all chains, whose
draws are independent elementwise), and ``vmap`` over chains works as well.

References
----------
Geman, S. and Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the
Bayesian restoration of images. *IEEE TPAMI* 6(6).
Preis, T., Virnau, P., Paul, W. and Schneider, J. J. (2009). GPU accelerated Monte
Carlo simulation of the 2D and 3D Ising model. *Journal of Computational Physics* 228(12).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jax import lax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from numpyro_ebm.energies import lattice_ising
from numpyro_ebm.kernels._bernoulli import bernoulli_from_words, threefry_words

__all__ = [
    "CheckerboardGibbsState",
    "CheckerboardGibbsInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
]


class CheckerboardGibbsState(NamedTuple):
    """State of the checkerboard Gibbs chain.

    position
        Current configuration, shape ``(*chains, H, W)``, spins or 0/1 units.
    """

    position: Float[Array, "*chains height width"]


class CheckerboardGibbsInfo(NamedTuple):
    """Diagnostics of one sweep.

    n_flipped
        Number of sites whose value differs from the start of the sweep, shape
        ``(*chains,)`` (int32). Zero for many sweeps in a row signals a frozen chain.
    """

    n_flipped: Int[Array, "*chains"]


def init(
    position: Float[Array, "*chains height width"],
    params: lattice_ising.LatticeIsingParams,
    spins: bool = True,
) -> CheckerboardGibbsState:
    """Build the state for ``position`` (validated: shape, dtype, NaN, values in
    ``{-1, +1}`` for spins or ``{0, 1}`` otherwise) and check ``params``."""
    params = lattice_ising.validate_params(params)
    position = lattice_ising.validate_state(params, position, spins, "position")
    return CheckerboardGibbsState(position)


def _black_mask(shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the black sites ``(i + j)`` even of an ``(H, W)`` lattice."""
    H, W = shape
    return (np.arange(H)[:, None] + np.arange(W)[None, :]) % 2 == 0


def build_kernel(spins: bool = True):
    """Return ``kernel(rng_key, state, params) -> (CheckerboardGibbsState, CheckerboardGibbsInfo)``.

    Every site is redrawn once per sweep, so one Threefry block per site
    (:func:`~numpyro_ebm.kernels._bernoulli.threefry_words` of ``rng_key``) serves
    both halves: black sites draw with their block in the first half, white sites
    with theirs in the second. The draws are those of ``bernoulli_from_logits``
    with ``rng_key``, computed once per site instead of once per site and half.
    """

    def kernel(
        rng_key: PRNGKeyArray,
        state: CheckerboardGibbsState,
        params: lattice_ising.LatticeIsingParams,
    ) -> tuple[CheckerboardGibbsState, CheckerboardGibbsInfo]:
        position = state.position
        words = threefry_words(rng_key, position.shape)
        black = _black_mask(position.shape[-2:])
        colours = jnp.asarray(np.stack([black, ~black]))

        def half_sweep(carry, colour):
            current, logits = carry
            bits = bernoulli_from_words(words, logits, current.dtype)
            new = jnp.where(colour, 2 * bits - 1 if spins else bits, current)
            return (new, lattice_ising.conditional_logits(params, new, spins)), None

        # Why a scan over the two colours that carries the logits: left to itself, XLA:CPU
        # fuses the whole sweep into one loop in which the white half recomputes the black
        # half's draws at each of its neighbours behind the boundary branches of the
        # neighbour shifts, and that loop is not vectorised (14x slower on jaxlib 0.12, and
        # as slow on 0.10 whenever the couplings are arrays rather than constants). Loop
        # state is materialised, so each draw reads finished logits, and the shifts read a
        # finished configuration. The logits computed after the white half are not used
        # (one extra local field per sweep, cheaper than any fusion that avoids it).
        # BENCHMARKS.md, "Checkerboard Gibbs on JAX 0.12".
        start = (position, lattice_ising.conditional_logits(params, position, spins))
        (new, _), _ = lax.scan(half_sweep, start, colours)
        n_flipped = jnp.sum(new != position, axis=(-2, -1), dtype=jnp.int32)
        return CheckerboardGibbsState(new.astype(position.dtype)), CheckerboardGibbsInfo(n_flipped)

    return kernel


def as_top_level_api(spins: bool = True) -> SamplingAlgorithm:
    """Checkerboard Gibbs for the lattice Ising model as a ``SamplingAlgorithm``.

    ``init(position, params)`` and ``step(rng_key, state, params)``.
    """
    kernel = build_kernel(spins)

    def init_fn(position, params):
        return init(position, params, spins)

    # what training data a learning rule built on this kernel accepts (numpyro_ebm._checks)
    init_fn.data_support = "spins" if spins else "binary"
    return SamplingAlgorithm(init_fn, kernel)
