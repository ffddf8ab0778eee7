r"""Fully-visible Boltzmann machine with dense symmetric couplings.

Units :math:`x \in \{0,1\}^D` (the Boltzmann machine of Ackley, Hinton and
Sejnowski) or spins :math:`s \in \{-1,+1\}^D` (the Sherrington-Kirkpatrick /
Ising convention), with a symmetric coupling matrix :math:`J` of zero diagonal
and a field :math:`h`:

.. math::

    E(x) = -\tfrac12 x^\top J x - h^\top x = -\sum_{i<j} J_{ij} x_i x_j - \sum_i h_i x_i,
    \qquad p(x) \propto e^{-E(x)}.

The energy is the same formula for both value sets; the convention only matters
for the single-site conditionals. With the *local field*
:math:`\phi_i(x) = h_i + \sum_j J_{ij} x_j` (which does not depend on
:math:`x_i` because :math:`J_{ii} = 0`),

- units :math:`\{0,1\}`: :math:`p(x_i = 1 \mid x_{-i}) = \sigma(\phi_i)`;
- spins :math:`\{-1,+1\}`: :math:`p(s_i = +1 \mid s_{-i}) = \sigma(2 \phi_i)`.

Every function broadcasts over leading batch dimensions: ``x`` of shape
``(*batch, D)`` gives energies of shape ``(*batch,)`` and local fields of shape
``(*batch, D)``.

References
----------
Ackley, D. H., Hinton, G. E. and Sejnowski, T. J. (1985). A learning algorithm
for Boltzmann machines. *Cognitive Science* 9(1).
Sherrington, D. and Kirkpatrick, S. (1975). Solvable model of a spin-glass.
*Physical Review Letters* 35(26).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "BoltzmannParams",
    "init_params",
    "symmetrize",
    "validate_params",
    "validate_state",
    "energy",
    "local_field",
    "conditional_logits",
]


class BoltzmannParams(NamedTuple):
    """Parameters of a fully-visible Boltzmann machine.

    Attributes
    ----------
    J
        Couplings, shape ``(D, D)``, symmetric with zero diagonal.
    h
        Field (biases), shape ``(D,)``.
    """

    J: Float[Array, "units units"]
    h: Float[Array, " units"]

    @property
    def n_units(self) -> int:
        return self.h.shape[-1]


def symmetrize(J: Float[Array, "units units"]) -> Float[Array, "units units"]:
    r"""Project ``J`` onto valid couplings: :math:`(J + J^\top)/2` with the diagonal zeroed.

    The result is exactly symmetric in floating point. Use it after a gradient
    step on ``J`` (the diagonal of :math:`\langle x x^\top \rangle` is not a
    coupling: it is a constant for spins and duplicates the field for 0/1 units).
    """
    J = jnp.asarray(J)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ValueError(f"J must be a square (D, D) matrix; got shape {tuple(J.shape)}")
    sym = 0.5 * (J + J.T)
    return jnp.where(jnp.eye(J.shape[0], dtype=bool), jnp.zeros((), J.dtype), sym)


def init_params(
    rng_key: PRNGKeyArray, n_units: int, scale: float = 0.01, dtype=jnp.float32
) -> BoltzmannParams:
    """Random symmetric couplings and a zero field.

    Each coupling :math:`J_{ij} = J_{ji}` (:math:`i < j`) is ``N(0, scale^2)``; the
    diagonal is zero and the field ``h`` is zero.
    """
    if n_units < 1:
        raise ValueError(f"n_units must be at least 1; got {n_units}")
    upper = jnp.triu(scale * jax.random.normal(rng_key, (n_units, n_units), dtype=dtype), k=1)
    return BoltzmannParams(upper + upper.T, jnp.zeros((n_units,), dtype=dtype))


def _symmetry_tolerance(J: np.ndarray) -> float:
    eps = float(np.finfo(J.dtype).eps)
    return 16 * eps * max(1.0, float(np.max(np.abs(J), initial=0.0)))


def validate_params(params: BoltzmannParams, name: str = "params") -> BoltzmannParams:
    """Check shapes, dtypes, finiteness, symmetry and the zero diagonal of ``J``.

    Symmetry and the diagonal are checked up to a few ulps of ``max|J|``; use
    :func:`symmetrize` to repair a matrix. Value checks are skipped on tracers.

    Raises
    ------
    TypeError
        For a non-floating dtype.
    ValueError
        For wrong shapes, non-finite values, an asymmetric ``J`` or a nonzero diagonal.
    """
    J = _checks.check_array(params.J, f"{name}.J", ndim_min=2)
    h = _checks.check_array(params.h, f"{name}.h", ndim_min=1)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ValueError(f"{name}.J must be a square (D, D) matrix; got shape {tuple(J.shape)}")
    if h.shape != (J.shape[0],):
        raise ValueError(
            f"{name}.h must have shape ({J.shape[0]},) to match {name}.J of shape "
            f"{tuple(J.shape)}; got {tuple(h.shape)}"
        )
    if J.dtype != h.dtype:
        raise TypeError(f"{name}.J and {name}.h must share a dtype; got {J.dtype} and {h.dtype}")
    if _checks.is_concrete(J):
        Jn = np.asarray(J)
        tol = _symmetry_tolerance(Jn)
        asym = np.abs(Jn - Jn.T)
        if (asym > tol).any():
            i, j = (int(k) for k in np.unravel_index(np.argmax(asym), asym.shape))
            raise ValueError(
                f"{name}.J must be symmetric; J[{i}, {j}] = {Jn[i, j]!r} but "
                f"J[{j}, {i}] = {Jn[j, i]!r}. Repair it with boltzmann.symmetrize(J)."
            )
        diag = np.abs(np.diagonal(Jn))
        if (diag > tol).any():
            i = int(np.argmax(diag))
            raise ValueError(
                f"{name}.J must have a zero diagonal (no self-couplings); "
                f"J[{i}, {i}] = {Jn[i, i]!r}. Repair it with boltzmann.symmetrize(J)."
            )
    return BoltzmannParams(J, h)


def validate_state(params: BoltzmannParams, x, spins: bool = False, name: str = "x"):
    """Check that ``x`` is a finite float array of shape ``(*batch, D)`` with values in
    ``{0, 1}`` (``spins=False``) or ``{-1, +1}`` (``spins=True``)."""
    x = _checks.check_array(x, name)
    _checks.check_last_dim(x, params.J.shape[-1], name, "units")
    if spins:
        _checks.check_spins(x, name)
    else:
        _checks.check_binary(x, name)
    return x


def _batched(a, ndim: int):
    """``a`` with leading singleton axes up to rank ``ndim`` (explicit rank promotion)."""
    return jnp.reshape(a, (1,) * (ndim - a.ndim) + a.shape)


def _checked(params, x):
    """Static checks of params and input (type, float dtype, width); cheap, jit-safe."""
    _checks.check_params(params, BoltzmannParams)
    size = params.J.shape[-1] if params.J.ndim == 2 else None
    return _checks.check_input(x, "x", size, "units")


def energy(params: BoltzmannParams, x: Float[Array, "*batch units"]) -> Float[Array, "*batch"]:
    r""":math:`E(x) = -\tfrac12 x^\top J x - h^\top x`, for 0/1 units and spins alike."""
    x = _checked(params, x)
    return -0.5 * jnp.sum((x @ params.J) * x, axis=-1) - x @ params.h


def local_field(
    params: BoltzmannParams, x: Float[Array, "*batch units"]
) -> Float[Array, "*batch units"]:
    r"""Local fields :math:`\phi_i(x) = h_i + \sum_j J_{ij} x_j`, shape ``(*batch, D)``.

    Flipping unit ``i`` changes the energy by :math:`(2x_i - 1)\phi_i` for 0/1 units
    and by :math:`2 s_i \phi_i` for spins.
    """
    x = _checked(params, x)
    field = x @ params.J  # J is symmetric, so x J = (J x)^T
    return field + _batched(params.h, field.ndim)


def conditional_logits(
    params: BoltzmannParams, x: Float[Array, "*batch units"], spins: bool = False
) -> Float[Array, "*batch units"]:
    r"""Logits of the single-site conditionals, shape ``(*batch, D)``.

    :math:`\operatorname{logit} p(x_i = 1 \mid x_{-i}) = \phi_i` for 0/1 units and
    :math:`\operatorname{logit} p(s_i = +1 \mid s_{-i}) = 2\phi_i` for spins.
    """
    field = local_field(params, x)
    return 2 * field if spins else field
