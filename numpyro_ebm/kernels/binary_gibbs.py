r"""Systematic-scan single-site Gibbs sampling for any energy over binary vectors.

The target is :math:`p(x) \propto e^{-E(\theta, x)}` on :math:`x \in \{0,1\}^D`,
for an arbitrary energy ``energy_fn(params, x)`` (no structure is assumed, so
this works for higher-order models, free energies of latent-variable models, or
annealed energies). Unit :math:`i` is redrawn from its exact conditional

.. math::

    p(x_i = 1 \mid x_{-i}) = \sigma\bigl(E(x_{i \leftarrow 0}) - E(x_{i \leftarrow 1})\bigr),

where :math:`x_{i \leftarrow b}` is :math:`x` with unit :math:`i` set to
:math:`b`. One step is a sweep over the units :math:`0, 1, \dots, D-1`
(``reverse=True``: :math:`D-1, \dots, 0`), each update seeing the values the
earlier ones drew. The energy of the current configuration is carried through
the sweep, so each update costs one evaluation of the energy (at the
configuration with unit :math:`i` flipped), and a sweep :math:`D + 1`
evaluations for all chains at once. The carried value is always an energy
evaluated at the current configuration, never an accumulated difference, so it
does not drift.

Each single-site update is reversible with respect to :math:`p`, but their
composition in a fixed order is not: the time reversal of the forward sweep is
the sweep in reverse order (``reverse=True``), and vice versa (Liu, Wong & Kong
1995). Both leave :math:`p` invariant. Reverse annealing
(:func:`numpyro_ebm.evaluation.annealing.reverse_ais`) uses this.

Energies may be :math:`+\infty` on forbidden configurations (hard constraints):
starting from a configuration of finite energy, one of the two energies of every
update is that of the current configuration, so the logit is finite or
:math:`\pm\infty` and never NaN.

Follows BlackJAX's kernel contract: ``init(position, params, energy_fn)``,
``build_kernel(energy_fn, reverse)`` returning ``kernel(rng_key, state, params)``,
and ``as_top_level_api(energy_fn, reverse)`` whose ``step(rng_key, state,
params)`` takes the parameters at call time. Positions may carry leading chain
dimensions ``(*chains, D)`` (``energy_fn`` must then broadcast over them and
return shape ``(*chains,)``; all chains share one key per update and one energy
call), and ``vmap`` over chains works as well. Bernoulli draws go through
:func:`numpyro_ebm.kernels._bernoulli.bernoulli_from_logits`.

References
----------
Geman, S. and Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the
Bayesian restoration of images. *IEEE TPAMI* 6(6).
Liu, J. S., Wong, W. H. and Kong, A. (1995). Covariance structure and convergence
rate of the Gibbs sampler with various scans. *JRSS B* 57(1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = [
    "BinaryGibbsState",
    "BinaryGibbsInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
]


class BinaryGibbsState(NamedTuple):
    """State of the single-site Gibbs chain.

    position
        Current configuration, shape ``(*chains, D)``, values 0 and 1 in a
        floating dtype.
    """

    position: Float[Array, "*chains units"]


class BinaryGibbsInfo(NamedTuple):
    """Diagnostics of one sweep.

    n_flipped
        Number of units whose value differs from the start of the sweep, shape
        ``(*chains,)`` (int32).
    energy
        :math:`E(\\theta, x)` of the new configuration at the ``params`` of the
        step, shape ``(*chains,)`` (computed by the sweep anyway).
    """

    n_flipped: Int[Array, "*chains"]
    energy: Float[Array, "*chains"]


def _check_energy_output(energy_fn: Callable, params, position):
    """Raise unless ``energy_fn(params, position)`` is a float array of shape ``(*chains,)``."""
    out = jax.eval_shape(energy_fn, params, position)
    expected = tuple(position.shape[:-1])
    if not isinstance(out, jax.ShapeDtypeStruct) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, jax.ShapeDtypeStruct) else out
        raise ValueError(
            f"energy_fn must return one energy per configuration: shape {expected} for a "
            f"position of shape {tuple(position.shape)} (units in the last dimension, "
            f"leading chain dimensions broadcast); got {got}"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"energy_fn must return a floating-point energy; got dtype {out.dtype}")


def init(position: Float[Array, "*chains units"], params, energy_fn: Callable) -> BinaryGibbsState:
    """Build the state for ``position`` after validating it.

    Raises for a non-float dtype, a position without a unit dimension, NaN,
    values outside ``{0, 1}``, an energy of the wrong shape or dtype, and (for
    concrete input) a non-finite energy at ``position``.
    """
    position = _checks.check_array(position, "position", ndim_min=1)
    _checks.check_binary(position, "position")
    _check_energy_output(energy_fn, params, position)
    if _checks.is_concrete(position) and all(
        _checks.is_concrete(leaf) for leaf in jax.tree.leaves(params)
    ):
        energy = np.asarray(energy_fn(params, position))
        bad = ~np.isfinite(energy)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"the energy at the initial position is not finite for {int(bad.sum())} "
                f"chain(s), e.g. {energy[idx]!r} at chain index {idx}; start every chain at "
                "a configuration of finite energy"
            )
    return BinaryGibbsState(position)


def build_kernel(energy_fn: Callable, reverse: bool = False):
    """Return ``kernel(rng_key, state, params) -> (BinaryGibbsState, BinaryGibbsInfo)``.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` for ``x`` of shape ``(*chains, D)``, returning
        ``(*chains,)``; the target is :math:`e^{-E}`.
    reverse
        Visit the units in the order :math:`D-1, \\dots, 0` (the time reversal of
        the default sweep :math:`0, \\dots, D-1`).
    """
    reverse = bool(reverse)

    def kernel(
        rng_key: PRNGKeyArray, state: BinaryGibbsState, params
    ) -> tuple[BinaryGibbsState, BinaryGibbsInfo]:
        position = state.position
        n_units = position.shape[-1]
        dtype = position.dtype
        one = jnp.ones((), dtype)
        keys = jax.random.split(rng_key, n_units)

        def update(t, carry):
            x, energy = carry
            site = n_units - 1 - t if reverse else t
            old = jax.lax.dynamic_index_in_dim(x, site, axis=x.ndim - 1, keepdims=False)
            flipped = jax.lax.dynamic_update_index_in_dim(x, one - old, site, axis=x.ndim - 1)
            energy_flipped = energy_fn(params, flipped)
            is_one = old == one
            energy_one = jnp.where(is_one, energy, energy_flipped)
            energy_zero = jnp.where(is_one, energy_flipped, energy)
            new = bernoulli_from_logits(keys[t], energy_zero - energy_one, dtype)
            x = jax.lax.dynamic_update_index_in_dim(x, new, site, axis=x.ndim - 1)
            energy = jnp.where(new == old, energy, energy_flipped)
            return x, energy

        new_position, energy = jax.lax.fori_loop(
            0, n_units, update, (position, energy_fn(params, position))
        )
        n_flipped = jnp.sum(new_position != position, axis=-1, dtype=jnp.int32)
        return BinaryGibbsState(new_position), BinaryGibbsInfo(n_flipped, energy)

    return kernel


def as_top_level_api(energy_fn: Callable, reverse: bool = False) -> SamplingAlgorithm:
    """Single-site Gibbs on ``energy_fn`` as a ``SamplingAlgorithm``.

    ``init(position, params)`` and ``step(rng_key, state, params)``; see
    :func:`build_kernel` for ``reverse``.
    """
    kernel = build_kernel(energy_fn, reverse)

    def init_fn(position, params) -> BinaryGibbsState:
        return init(position, params, energy_fn)

    init_fn.data_support = "binary"  # what a learning rule's data must be (numpyro_ebm._checks)
    return SamplingAlgorithm(init_fn, kernel)
