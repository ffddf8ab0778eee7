"""Shared plumbing of the adapters around BlackJAX's continuous samplers.

The adapters in :mod:`numpyro_ebm.kernels.hmc`, :mod:`~numpyro_ebm.kernels.nuts`,
:mod:`~numpyro_ebm.kernels.mala`, :mod:`~numpyro_ebm.kernels.random_walk` and
:mod:`~numpyro_ebm.kernels.langevin` do three things around BlackJAX's own
kernels, and only these:

1. validate the initial position (floating dtype, finite values, one chain: the
   energy of one position must be a scalar) and the initial state (finite log
   density and gradient), with clear errors;
2. build the log density :math:`-E(\\theta, \\cdot)` at *call time* with
   :func:`numpyro_ebm.potentials.log_density_fn`, so the parameters
   :math:`\\theta` are an argument of the jitted step and a learning loop can
   change them without recompiling;
3. give BlackJAX the step size (and inverse mass matrix) in the position's
   floating dtype (:func:`in_position_dtype`): a Python float becomes a float64
   array when x64 is enabled, and BlackJAX's Gaussian noise
   ``mu + sigma * N(0, 1)`` (``blackjax.util.generate_gaussian_noise``) then is
   float64 too, so a float32 chain would silently turn float64 (or fail under
   strict dtype promotion, or fail NUTS's ``lax.cond`` on mismatched weights);
4. optionally *refresh* the state: BlackJAX states cache the log density (and
   its gradient) at the current position. Once :math:`\\theta` changes, that
   cache belongs to the old target, and a Metropolis correction (or a Langevin
   drift) that uses it targets neither distribution. Refreshing re-evaluates the
   cache at the current :math:`\\theta` with BlackJAX's own ``init``.

Positions may be arrays or pytrees (e.g. dicts of arrays), as in BlackJAX.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from numpyro_ebm import _checks, potentials

__all__ = [
    "validate_position",
    "check_energy_output",
    "check_initial_state",
    "init_state",
    "prepare_state",
    "identity_inverse_mass_matrix",
    "in_position_dtype",
    "check_no_float32_under_x64",
]


def validate_position(position, name: str = "position"):
    """Check every leaf of ``position`` (floating dtype, finite) and return it as JAX arrays.

    Concrete Python scalars become strongly typed arrays, so the state has a
    fixed dtype. Value checks are skipped on tracers (see :mod:`numpyro_ebm._checks`).

    Raises
    ------
    TypeError
        If a leaf does not have a floating-point dtype.
    ValueError
        If the pytree is empty or a leaf holds NaN or inf.
    """
    leaves, treedef = jax.tree_util.tree_flatten_with_path(position)
    if not leaves:
        raise ValueError(f"{name} is an empty pytree; give at least one floating-point array")
    checked = []
    for path, leaf in leaves:
        label = f"{name}{jax.tree_util.keystr(path)}"
        arr = _checks.check_array(leaf, label, ndim_min=0)
        if _checks.is_concrete(arr) and arr.weak_type:
            arr = jax.lax.convert_element_type(arr, arr.dtype, weak_type=False)
        checked.append(arr)
    return jax.tree_util.tree_unflatten(treedef, checked)


def check_energy_output(energy_fn: Callable, params, position, name: str = "position"):
    """Raise unless ``energy_fn(params, position)`` is a floating-point scalar.

    Uses :func:`jax.eval_shape` (no computation), so it also works on traced
    positions, e.g. when ``init`` is vmapped over chains.
    """
    try:
        out = jax.eval_shape(energy_fn, params, position)
    except (TypeError, ValueError, IndexError) as error:
        # the user's energy cannot take this position (wrong shape or structure): say so
        # here, naming the position, rather than from deep inside the energy
        shapes = jax.tree.map(lambda x: tuple(np.shape(x)), position)
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(
            f"energy_fn(params, {name}) fails for the {name} of shape {shapes}: "
            f"{type(error).__name__}: {error}. Check that {name} has the shape (and, for a "
            "pytree, the structure) the energy expects for one chain."
        ) from error
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
        shapes = jax.tree.map(lambda x: tuple(x.shape), position)
        got = tuple(out.shape) if isinstance(out, jax.ShapeDtypeStruct) else out
        raise ValueError(
            f"energy_fn must return a scalar energy for a single position; got {got} for "
            f"{name} of shape {shapes}. These samplers move one chain per state: to run "
            "several chains, jax.vmap init and step over a leading chain axis (the energy "
            "then sees one position at a time)."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"energy_fn must return a floating-point energy; got dtype {out.dtype}")


def check_initial_state(state, name: str = "position"):
    """Raise if the cached log density (or its gradient) of a concrete state is not finite."""
    logdensity = state.logdensity
    if not _checks.is_concrete(logdensity):
        return state
    value = float(np.asarray(logdensity))
    if not np.isfinite(value):
        raise ValueError(
            f"the energy at the initial {name} is {-value} (not finite); start the chain "
            "at a point where exp(-energy) > 0 and the energy is defined"
        )
    grad = getattr(state, "logdensity_grad", None)
    if grad is not None:
        for path, leaf in jax.tree_util.tree_flatten_with_path(grad)[0]:
            if not np.all(np.isfinite(np.asarray(leaf))):
                raise ValueError(
                    "the gradient of the energy at the initial "
                    f"{name}{jax.tree_util.keystr(path)} has non-finite values; "
                    "gradient-based samplers cannot start there"
                )
    return state


def init_state(blackjax_init: Callable, position, params, energy_fn: Callable):
    """Validate, then build BlackJAX's state ``blackjax_init(position, -energy_fn(params, .))``."""
    position = validate_position(position)
    check_energy_output(energy_fn, params, position)
    state = blackjax_init(position, potentials.log_density_fn(energy_fn, params))
    return check_initial_state(state)


def prepare_state(
    blackjax_init: Callable, state, params, energy_fn: Callable, refresh: bool
) -> tuple[Callable, object]:
    """Return ``(logdensity_fn, state)`` for one step at parameters ``params``.

    With ``refresh`` the state's cached log density (and gradient) is recomputed at
    ``params`` by ``blackjax_init``, which costs one log-density (and gradient)
    evaluation; without it the state is passed through unchanged.
    """
    logdensity_fn = potentials.log_density_fn(energy_fn, params)
    if refresh:
        state = blackjax_init(state.position, logdensity_fn)
    return logdensity_fn, state


def identity_inverse_mass_matrix(position):
    """Diagonal identity inverse mass matrix for the flattened ``position`` (its dtype)."""
    flat, _ = ravel_pytree(position)
    return jnp.ones_like(flat)


def in_position_dtype(value, position):
    """``value`` (a step size, scale or inverse mass matrix) cast to ``position``'s float dtype.

    Under ``jax.enable_x64`` a Python float is float64, and BlackJAX draws its noise
    and momenta in the result dtype of the scale and the position (JAX 0.10 and 0.12,
    BlackJAX 1.7.1): a float32 chain would leave float32. Casting the scale to the
    dtype of the (flattened) position keeps the chain in its own dtype; float64
    chains are unchanged. ``None`` passes through.
    """
    if value is None:
        return None
    flat, _ = ravel_pytree(position)
    return jax.tree.map(lambda v: jnp.asarray(v).astype(flat.dtype), value)


def check_no_float32_under_x64(position, sampler: str, upstream: str) -> None:
    """Raise a clear TypeError for a float32 chain under ``jax_enable_x64`` in a sampler
    whose BlackJAX kernel cannot run one (``upstream`` names the float64 inside it).

    The dtype is static, so this costs nothing at run time; without it, BlackJAX fails
    deep inside a ``lax.cond`` ("cond branches must have equal output types").
    """
    if not jax.config.jax_enable_x64:
        return
    flat, _ = ravel_pytree(position)
    if flat.dtype == jnp.float32:
        raise TypeError(
            f"{sampler} cannot run a float32 position while jax_enable_x64 is on: BlackJAX "
            f"makes part of its state float64 ({upstream}), and its kernel then fails. Pass "
            "a float64 position, or run with x64 disabled."
        )
