r"""Ising model on a 2-D lattice with nearest-neighbour couplings, for image models.

Sites :math:`(i, j)` of an ``(H, W)`` grid with free boundaries, each coupled to
its right and lower neighbour by its own coupling, and an external field:

.. math::

    E(s) = -\sum_{i,j} K^{\mathrm{h}}_{ij}\, s_{i,j} s_{i,j+1}
           -\sum_{i,j} K^{\mathrm{v}}_{ij}\, s_{i,j} s_{i+1,j}
           -\sum_{i,j} f_{ij}\, s_{ij}, \qquad p(s) \propto e^{-E(s)}.

Spins :math:`s \in \{-1,+1\}^{H \times W}` by default; 0/1 units work with the
same formula (``spins=False`` where it matters: validation and conditionals).
The local field :math:`\phi_{ij} = f_{ij} + \sum_{\text{neighbours } n} K_{(ij),n}\, s_n`
gives :math:`p(s_{ij} = +1 \mid \text{rest}) = \sigma(2\phi_{ij})` for spins and
:math:`p(x_{ij} = 1 \mid \text{rest}) = \sigma(\phi_{ij})` for 0/1 units. It is
computed with shifts and pads, never a dense matrix; :func:`to_boltzmann` gives
the equivalent dense :class:`~numpyro_ebm.energies.boltzmann.BoltzmannParams`
on the row-major flattened lattice (site ``(i, j)`` is unit ``i * W + j``).

States have shape ``(*batch, H, W)`` and energies ``(*batch,)``.

References
----------
Ising, E. (1925). Beitrag zur Theorie des Ferromagnetismus. *Zeitschrift für Physik* 31.
Geman, S. and Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the
Bayesian restoration of images. *IEEE TPAMI* 6(6).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import boltzmann

__all__ = [
    "LatticeIsingParams",
    "init_params",
    "uniform_params",
    "validate_params",
    "validate_state",
    "energy",
    "local_field",
    "conditional_logits",
    "to_boltzmann",
]


class LatticeIsingParams(NamedTuple):
    """Parameters of a 2-D nearest-neighbour Ising model with free boundaries.

    Attributes
    ----------
    horizontal
        Coupling of site ``(i, j)`` to ``(i, j + 1)``, shape ``(H, W - 1)``.
    vertical
        Coupling of site ``(i, j)`` to ``(i + 1, j)``, shape ``(H - 1, W)``.
    field
        External field, shape ``(H, W)``.
    """

    horizontal: Float[Array, "height width_minus_1"]
    vertical: Float[Array, "height_minus_1 width"]
    field: Float[Array, "height width"]

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.field.shape[-2:])


def uniform_params(
    shape: tuple[int, int], coupling: float = 1.0, field: float = 0.0, dtype=jnp.float32
) -> LatticeIsingParams:
    """The homogeneous model: every coupling equal to ``coupling``, every field to ``field``.

    ``coupling > 0`` is ferromagnetic; the free-boundary square-lattice model orders
    (for ``field = 0``) above the critical coupling :math:`\\tfrac12\\log(1+\\sqrt2) \\approx 0.4407`.
    """
    H, W = _check_shape(shape)
    return LatticeIsingParams(
        jnp.full((H, W - 1), coupling, dtype=dtype),
        jnp.full((H - 1, W), coupling, dtype=dtype),
        jnp.full((H, W), field, dtype=dtype),
    )


def init_params(
    rng_key: PRNGKeyArray, shape: tuple[int, int], scale: float = 0.01, dtype=jnp.float32
) -> LatticeIsingParams:
    """Couplings ``N(0, scale^2)`` on every edge and a zero field."""
    H, W = _check_shape(shape)
    key_h, key_v = jax.random.split(rng_key)
    return LatticeIsingParams(
        scale * jax.random.normal(key_h, (H, W - 1), dtype=dtype),
        scale * jax.random.normal(key_v, (H - 1, W), dtype=dtype),
        jnp.zeros((H, W), dtype=dtype),
    )


def _check_shape(shape) -> tuple[int, int]:
    shape = _checks.as_shape(shape, "lattice shape")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"lattice shape must be (H, W) with H, W >= 1; got {shape}")
    return shape


def validate_params(params: LatticeIsingParams, name: str = "params") -> LatticeIsingParams:
    """Check that the three arrays are finite floats of matching shapes
    ``(H, W - 1)``, ``(H - 1, W)``, ``(H, W)`` and one dtype."""
    field = _checks.check_array(params.field, f"{name}.field", ndim_min=2)
    if field.ndim != 2:
        raise ValueError(f"{name}.field must have shape (H, W); got {tuple(field.shape)}")
    H, W = field.shape
    horizontal = _checks.check_array(params.horizontal, f"{name}.horizontal", ndim_min=2)
    vertical = _checks.check_array(params.vertical, f"{name}.vertical", ndim_min=2)
    for arr, what, expected in (
        (horizontal, "horizontal", (H, W - 1)),
        (vertical, "vertical", (H - 1, W)),
    ):
        if tuple(arr.shape) != expected:
            raise ValueError(
                f"{name}.{what} must have shape {expected} for a lattice of shape ({H}, {W}) "
                f"(from {name}.field); got {tuple(arr.shape)}"
            )
        if arr.dtype != field.dtype:
            raise TypeError(
                f"{name}.{what} and {name}.field must share a dtype; got {arr.dtype} "
                f"and {field.dtype}"
            )
    return LatticeIsingParams(horizontal, vertical, field)


def validate_state(params: LatticeIsingParams, s, spins: bool = True, name: str = "s"):
    """Check that ``s`` is a finite float array of shape ``(*batch, H, W)`` with values in
    ``{-1, +1}`` (``spins=True``) or ``{0, 1}`` (``spins=False``)."""
    s = _checks.check_array(s, name, ndim_min=2)
    if tuple(s.shape[-2:]) != params.shape:
        raise ValueError(
            f"{name} must have shape (*batch, {params.shape[0]}, {params.shape[1]}) to match "
            f"the lattice; got shape {tuple(s.shape)}"
        )
    if spins:
        _checks.check_spins(s, name)
    else:
        _checks.check_binary(s, name)
    return s


def _batched(a, ndim: int):
    """``a`` with leading singleton axes up to rank ``ndim`` (explicit rank promotion)."""
    return jnp.reshape(a, (1,) * (ndim - a.ndim) + a.shape)


def _checked(params, s):
    """Static checks of params and input (type, float dtype, lattice shape); cheap, jit-safe."""
    _checks.check_params(params, LatticeIsingParams)
    s = _checks.check_array(s, "s", ndim_min=2, finite=False)
    if params.field.ndim == 2 and tuple(s.shape[-2:]) != tuple(params.field.shape):
        raise ValueError(
            f"s must have shape (*batch, {params.field.shape[0]}, {params.field.shape[1]}) to "
            f"match the lattice; got shape {tuple(s.shape)}"
        )
    return s


def energy(
    params: LatticeIsingParams, s: Float[Array, "*batch height width"]
) -> Float[Array, "*batch"]:
    """:math:`E(s) = -\\sum_{\\langle ij\\rangle} K_{ij} s_i s_j - \\sum_i f_i s_i`, shape ``(*batch,)``."""
    s = _checked(params, s)
    nd = s.ndim
    horizontal = _batched(params.horizontal, nd) * s[..., :, :-1] * s[..., :, 1:]
    vertical = _batched(params.vertical, nd) * s[..., :-1, :] * s[..., 1:, :]
    external = _batched(params.field, nd) * s
    return -(
        jnp.sum(horizontal, axis=(-2, -1))
        + jnp.sum(vertical, axis=(-2, -1))
        + jnp.sum(external, axis=(-2, -1))
    )


def _pad(a, nd: int, axis: int, before: int, after: int):
    widths = [(0, 0)] * nd
    widths[axis] = (before, after)
    return jnp.pad(a, widths)


def local_field(
    params: LatticeIsingParams, s: Float[Array, "*batch height width"]
) -> Float[Array, "*batch height width"]:
    """Local fields :math:`\\phi_{ij} = f_{ij} + \\sum_{n \\sim (i,j)} K_{(ij),n} s_n`,
    shape ``(*batch, H, W)``, from shifted neighbour products (no dense matrix).

    Flipping site ``(i, j)`` changes the energy by :math:`2 s_{ij} \\phi_{ij}` for
    spins and by :math:`(2x_{ij} - 1)\\phi_{ij}` for 0/1 units.
    """
    s = _checked(params, s)
    nd = s.ndim
    horizontal = _batched(params.horizontal, nd)
    vertical = _batched(params.vertical, nd)
    from_right = _pad(horizontal * s[..., :, 1:], nd, nd - 1, 0, 1)
    from_left = _pad(horizontal * s[..., :, :-1], nd, nd - 1, 1, 0)
    from_below = _pad(vertical * s[..., 1:, :], nd, nd - 2, 0, 1)
    from_above = _pad(vertical * s[..., :-1, :], nd, nd - 2, 1, 0)
    return _batched(params.field, nd) + from_right + from_left + from_below + from_above


def conditional_logits(
    params: LatticeIsingParams, s: Float[Array, "*batch height width"], spins: bool = True
) -> Float[Array, "*batch height width"]:
    """Logits of the single-site conditionals: :math:`2\\phi` for spins, :math:`\\phi` for
    0/1 units (the probability of ``+1``, respectively ``1``)."""
    field = local_field(params, s)
    return 2 * field if spins else field


def to_boltzmann(params: LatticeIsingParams) -> boltzmann.BoltzmannParams:
    """The same model as a dense Boltzmann machine on the flattened lattice.

    Site ``(i, j)`` becomes unit ``i * W + j`` (``s.reshape(*batch, H * W)``), so
    ``boltzmann.energy(to_boltzmann(p), s.reshape(..., H * W)) == energy(p, s)``.
    Costs :math:`O((HW)^2)` memory: meant for checks and small lattices.
    """
    H, W = params.shape
    index = np.arange(H * W).reshape(H, W)
    rows = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    cols = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    values = jnp.concatenate([params.horizontal.reshape(-1), params.vertical.reshape(-1)])
    J = jnp.zeros((H * W, H * W), dtype=params.field.dtype)
    J = J.at[rows, cols].set(values).at[cols, rows].set(values)
    return boltzmann.BoltzmannParams(J, params.field.reshape(-1))
