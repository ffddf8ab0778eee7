r"""Single-site Gibbs sampling for fully-visible Boltzmann machines (dense couplings).

Dense couplings make every unit depend on every other, so units are redrawn one
at a time, each from its exact conditional given the current values of all the
others (for 0/1 units :math:`p(x_i = 1 \mid x_{-i}) = \sigma(\phi_i)`, for spins
:math:`p(s_i = +1 \mid s_{-i}) = \sigma(2\phi_i)`, with the local field
:math:`\phi = Jx + h`). One step is a sweep of :math:`D` single-site updates:

- ``scan="systematic"`` (default): units :math:`0, 1, \dots, D-1` in order;
- ``scan="random"``: :math:`D` units drawn uniformly with replacement, independently
  for each chain.

The local field is computed once per sweep (one matrix product for all chains)
and then kept up to date with a rank-1 correction :math:`\phi \mathrel{+}= J_{:i}\,\Delta x_i`
after each update, so a sweep costs :math:`O(D^2)` per chain, not :math:`O(D^3)`.
The sweep's uniforms (:math:`D` per chain) are drawn in one call; unit :math:`i`
takes the value 1 (or +1) when :math:`u_i < \sigma(\text{logit}_i)`, the rule of
:func:`numpyro_ebm.kernels._bernoulli.bernoulli_from_logits`.

Follows BlackJAX's kernel contract: ``init(position, params)``,
``build_kernel(spins, scan)`` returning ``kernel(rng_key, state, params)``, and
``as_top_level_api(spins, scan)``; parameters enter at call time. Positions may
carry leading chain dimensions ``(*chains, D)``, and ``vmap`` over chains works
as well.

References
----------
Geman, S. and Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the
Bayesian restoration of images. *IEEE TPAMI* 6(6).
Ackley, D. H., Hinton, G. E. and Sejnowski, T. J. (1985). A learning algorithm
for Boltzmann machines. *Cognitive Science* 9(1).
Liu, J. S., Wong, W. H. and Kong, A. (1995). Covariance structure and convergence
rate of the Gibbs sampler with various scans. *JRSS B* 57(1).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, Int, PRNGKeyArray

from numpyro_ebm.energies import boltzmann

__all__ = [
    "BoltzmannGibbsState",
    "BoltzmannGibbsInfo",
    "SCANS",
    "init",
    "build_kernel",
    "as_top_level_api",
]

SCANS = ("systematic", "random")


class BoltzmannGibbsState(NamedTuple):
    """State of the single-site Gibbs chain.

    position
        Current configuration, shape ``(*chains, D)``, 0/1 units or spins.
    """

    position: Float[Array, "*chains units"]


class BoltzmannGibbsInfo(NamedTuple):
    """Diagnostics of one sweep.

    n_flipped
        Number of units whose value differs from the start of the sweep, shape
        ``(*chains,)`` (int32).
    """

    n_flipped: Int[Array, "*chains"]


def _check_scan(scan: str) -> str:
    if scan not in SCANS:
        raise ValueError(f"unknown scan order {scan!r}; choose one of {SCANS}")
    return scan


def init(
    position: Float[Array, "*chains units"],
    params: boltzmann.BoltzmannParams,
    spins: bool = False,
) -> BoltzmannGibbsState:
    """Build the state for ``position`` after validating both.

    Raises for an asymmetric ``J`` or a nonzero diagonal (the conditionals above
    assume both), wrong shapes, non-float dtypes, NaN, and values outside
    ``{0, 1}`` (``spins=False``) or ``{-1, +1}`` (``spins=True``).
    """
    params = boltzmann.validate_params(params)
    position = boltzmann.validate_state(params, position, spins, "position")
    return BoltzmannGibbsState(position)


def _sweep(uniforms, x, field, J, sites, spins: bool):
    """Run ``D`` single-site updates on ``x`` of shape ``(N, D)``.

    ``field`` is the local field ``x J + h`` of ``x``; ``uniforms`` has shape ``(N, D)``
    (one per update); ``sites`` is ``None`` for the systematic scan or an ``(N, D)``
    int array of the units to update. Returns the new ``x`` and its local field.
    """
    n_chains, n_units = x.shape
    dtype = x.dtype
    low = jnp.asarray(-1 if spins else 0, dtype)
    high = jnp.asarray(1, dtype)
    rows = jnp.arange(n_chains)

    def update(t, carry):
        x, field = carry
        u = jax.lax.dynamic_index_in_dim(uniforms, t, axis=1, keepdims=False)
        if sites is None:
            phi = jax.lax.dynamic_index_in_dim(field, t, axis=1, keepdims=False)
            old = jax.lax.dynamic_index_in_dim(x, t, axis=1, keepdims=False)
            coupling = jax.lax.dynamic_index_in_dim(J, t, axis=0, keepdims=True)  # (1, D)
        else:
            i = jax.lax.dynamic_index_in_dim(sites, t, axis=1, keepdims=False)
            phi = field[rows, i]
            old = x[rows, i]
            coupling = J[i]  # (N, D); row i equals column i by symmetry
        logit = 2 * phi if spins else phi
        new = jnp.where(u < jax.nn.sigmoid(logit).astype(u.dtype), high, low)
        delta = (new - old).astype(field.dtype)
        field = field + delta[:, None] * coupling
        if sites is None:
            x = jax.lax.dynamic_update_index_in_dim(x, new, t, axis=1)
        else:
            x = x.at[rows, i].set(new)
        return x, field

    return jax.lax.fori_loop(0, n_units, update, (x, field))


def build_kernel(spins: bool = False, scan: str = "systematic"):
    """Return ``kernel(rng_key, state, params) -> (BoltzmannGibbsState, BoltzmannGibbsInfo)``.

    Parameters
    ----------
    spins
        Units in ``{-1, +1}`` (``True``) or ``{0, 1}`` (``False``, default).
    scan
        ``"systematic"`` (default) or ``"random"``; anything else raises ``ValueError``.
    """
    _check_scan(scan)

    def kernel(
        rng_key: PRNGKeyArray, state: BoltzmannGibbsState, params: boltzmann.BoltzmannParams
    ) -> tuple[BoltzmannGibbsState, BoltzmannGibbsInfo]:
        position = state.position
        n_units = position.shape[-1]
        x = position.reshape(-1, n_units)
        key_uniform, key_sites = jax.random.split(rng_key)
        uniforms = jax.random.uniform(key_uniform, x.shape, dtype=x.dtype)
        if scan == "random":
            sites = jax.random.randint(key_sites, x.shape, 0, n_units)
        else:
            sites = None
        field = boltzmann.local_field(params, x)
        new, _ = _sweep(uniforms, x, field, params.J, sites, spins)
        new = new.reshape(position.shape)
        n_flipped = jnp.sum(new != position, axis=-1, dtype=jnp.int32)
        return BoltzmannGibbsState(new), BoltzmannGibbsInfo(n_flipped)

    return kernel


def as_top_level_api(spins: bool = False, scan: str = "systematic") -> SamplingAlgorithm:
    """Single-site Gibbs for a Boltzmann machine as a ``SamplingAlgorithm``.

    ``init(position, params)`` and ``step(rng_key, state, params)``.
    """
    kernel = build_kernel(spins, scan)

    def init_fn(position, params):
        return init(position, params, spins)

    # what training data a learning rule built on this kernel accepts (numpyro_ebm._checks)
    init_fn.data_support = "spins" if spins else "binary"
    return SamplingAlgorithm(init_fn, kernel)
