r"""Exact-moment oracles for sampler comparisons: enumeration (binary) and quadrature (1-D, 2-D)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm import _checks

__all__ = ["enumeration_moments", "quadrature_moments"]

# --------------------------------------------------------------------------------------
# Exact moments
# --------------------------------------------------------------------------------------


def _vmapped(energy_fn: Callable) -> Callable:
    """``energy_fn`` over a batch of configurations, whether or not it broadcasts itself."""

    def batched(params, x):
        return jax.vmap(lambda one: energy_fn(params, one))(x)

    return batched


def enumeration_moments(
    energy_fn: Callable,
    params,
    n_units: int,
    *,
    spins: bool = False,
    energy_name: str = "energy",
    max_bits: int = 22,
) -> dict[str, float]:
    r"""Exact :math:`E[E(x)]` and :math:`E[\bar x]` of a binary model, by enumeration.

    All :math:`2^n` configurations with their exact probabilities
    (:func:`numpyro_ebm.evaluation.exact.log_probabilities_binary`, float64).

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` of one configuration (or broadcasting over a batch).
    params
        Parameters.
    n_units
        Number of binary units enumerated, or the shape of one configuration
        (``8``, ``(8,)`` or ``(2, 4)``; the energy then sees that shape).
    spins
        Units in :math:`\{-1, +1\}` instead of :math:`\{0, 1\}`.
    energy_name
        Key of the energy moment (as in :func:`compare_samplers`).
    max_bits
        Largest ``n_units`` accepted.

    Returns
    -------
    dict
        ``{energy_name: E[E(x)], "mean_activation": E[mean_i x_i]}``, keyed like the
        summaries of :func:`summarize`, ready for ``exact_moments``.
    """
    from numpyro_ebm.evaluation import exact

    event_shape = _checks.as_shape(n_units, "n_units")
    n_units = math.prod(event_shape)
    if len(event_shape) != 1:
        # the enumeration lists flat configurations; the energy sees them in its own shape
        flat_energy = energy_fn

        def energy_fn(params, x):
            return flat_energy(params, x.reshape(x.shape[:-1] + event_shape))

    batched = _vmapped(energy_fn)
    states, log_probs = exact.log_probabilities_binary(
        batched, params, n_units, spins=spins, max_bits=max_bits
    )
    probs = np.exp(log_probs)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        energies = np.asarray(batched(p64, jnp.asarray(states)), np.float64)
    return {
        energy_name: float(probs @ energies),
        "mean_activation": float(probs @ states.mean(axis=1)),
    }


def quadrature_moments(
    energy_fn: Callable,
    params,
    bounds: Sequence[tuple[float, float]],
    *,
    n_points: int = 512,
    energy_name: str = "energy",
    boundary_tolerance: float | None = 1e-8,
) -> dict[str, float]:
    r"""Exact (to quadrature accuracy) :math:`E[E(x)]` and :math:`E[\bar x]` of a 1-D or 2-D density.

    Midpoint rule on a regular grid of ``n_points`` per dimension over the box
    ``bounds``, in float64: :math:`p_i \propto e^{-E(x_i)}` normalised over the
    grid. For a smooth density that has decayed at the edges the midpoint rule
    converges faster than any power of the spacing; for a density whose support
    is the box itself (a hard wall) pass that box.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` of one configuration ``x`` of shape ``(d,)``
        (or broadcasting over a batch); ``+inf`` outside the support is allowed.
    params
        Parameters.
    bounds
        ``[(low, high)]`` per dimension (one or two dimensions).
    n_points
        Grid points per dimension.
    energy_name
        Key of the energy moment.
    boundary_tolerance
        Raise if the probability of the outermost ring of grid cells exceeds it
        (the box cuts off mass), unless ``None``.

    Returns
    -------
    dict
        ``{energy_name: E[E(x)], "mean_activation": E[mean_i x_i]}``.
    """
    bounds = [(float(low), float(high)) for low, high in bounds]
    if not 1 <= len(bounds) <= 2:
        raise ValueError(f"quadrature needs 1 or 2 dimensions; got {len(bounds)} bounds")
    if any(not high > low for low, high in bounds):
        raise ValueError(f"every bound needs low < high; got {bounds}")
    axes = [low + (np.arange(n_points) + 0.5) * (high - low) / n_points for low, high in bounds]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(bounds))
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        energies = np.asarray(jax.jit(_vmapped(energy_fn))(p64, jnp.asarray(grid)), np.float64)
    if np.any(np.isnan(energies)):
        raise ValueError("the energy is NaN on the quadrature grid")
    finite = np.isfinite(energies)
    if not finite.any():
        raise ValueError("the energy is infinite everywhere on the quadrature grid")
    log_w = np.where(finite, -energies, -np.inf)
    weights = np.exp(log_w - log_w.max())
    weights /= weights.sum()
    if boundary_tolerance is not None:
        edge = np.zeros((n_points,) * len(bounds), bool)
        for axis in range(len(bounds)):
            index = [slice(None)] * len(bounds)
            for end in (0, -1):
                index[axis] = end
                edge[tuple(index)] = True
        mass = float(weights[edge.ravel()].sum())
        if mass > boundary_tolerance:
            raise ValueError(
                f"the outermost grid cells hold probability {mass:.2e} > "
                f"{boundary_tolerance:g}: widen the bounds {bounds} (or, for a density "
                "supported on exactly this box, pass boundary_tolerance=None)"
            )
    safe_energies = np.where(finite, energies, 0.0)
    return {
        energy_name: float(weights @ safe_energies),
        "mean_activation": float(weights @ grid.mean(axis=1)),
    }
