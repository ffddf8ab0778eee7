r"""Toy densities with exact log densities: four squares, a cluster grid, Gaussian mixtures.

Each sampler ``f(rng_key, n, *, <geometry>)`` comes with its normalised
``*_log_density(x, ...)`` (see :mod:`numpyro_ebm.datasets` for the conventions),
so a benchmark can compute true log-likelihoods and a test can integrate them
by quadrature.

References
----------
Hinton, G. E. CSC2535 lecture 3b: products of experts, uni-gauss experts and
contrastive divergence (course notes; the 4-squares data and the 24-cluster
grid, whose figures fix neither the sizes nor the missing cell: the defaults
here are our documented choice).
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
"""

from __future__ import annotations

import itertools
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "FourSquares",
    "four_squares",
    "four_squares_geometry",
    "four_squares_mask",
    "four_squares_log_density",
    "ClustersGrid",
    "clusters_grid",
    "clusters_grid_geometry",
    "clusters_grid_cell",
    "clusters_grid_log_density",
    "MIXTURE_1D_MEANS",
    "MIXTURE_1D_STDS",
    "MIXTURE_1D_WEIGHTS",
    "gaussian_mixture_1d",
    "gaussian_mixture_1d_log_density",
    "ring_means",
    "gaussian_mixture_2d",
    "gaussian_mixture_2d_log_density",
]


_LOG_2PI = math.log(2.0 * math.pi)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n (the number of samples) must be a non-negative integer; got {n!r}")
    return int(n)


def _check_dtype(dtype):
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating-point type (e.g. jnp.float32); got {dtype}")
    return dtype


def _check_positive(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value}")
    return value


def _check_points(x, dim: int):
    x = _checks.check_array(x, "x", finite=False)
    return _checks.check_last_dim(x, dim, "x", "coordinates")


class _Mixture(NamedTuple):
    """Validated isotropic Gaussian mixture (numpy float64, static)."""

    means: np.ndarray  # (K, D)
    stds: np.ndarray  # (K,)
    log_weights: np.ndarray  # (K,)


def _mixture(means, stds, weights, dim: int) -> _Mixture:
    means = np.asarray(means, dtype=np.float64)
    if dim == 1 and means.ndim == 1:
        means = means[:, None]
    if means.ndim != 2 or means.shape[1] != dim or means.shape[0] < 1:
        expected = "(K,) or (K, 1)" if dim == 1 else f"(K, {dim})"
        raise ValueError(
            f"means must have shape {expected} with K >= 1 components; got {means.shape}"
        )
    k = means.shape[0]
    stds = np.asarray(stds, dtype=np.float64)
    if stds.ndim == 0:
        stds = np.full((k,), float(stds))
    if stds.shape != (k,):
        raise ValueError(
            f"stds must be a scalar or have shape ({k},), one per mean; got {stds.shape}"
        )
    if not (np.all(np.isfinite(stds)) and np.all(stds > 0)):
        raise ValueError(f"stds must be positive and finite; got {stds}")
    if not np.all(np.isfinite(means)):
        raise ValueError("means must be finite")
    if weights is None:
        weights = np.full((k,), 1.0 / k)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (k,):
        raise ValueError(f"weights must have shape ({k},), one per mean; got {weights.shape}")
    if not (np.all(np.isfinite(weights)) and np.all(weights > 0)):
        raise ValueError(
            f"weights must be positive (drop components of weight zero); got {weights}"
        )
    if abs(weights.sum() - 1.0) > 1e-6:
        raise ValueError(f"weights must sum to one; they sum to {weights.sum()!r}")
    return _Mixture(means, stds, np.log(weights / weights.sum()))


def _mixture_sample(rng_key, n: int, mix: _Mixture, dtype) -> Array:
    return _mixture_sample_jit(
        rng_key,
        jnp.asarray(mix.means, dtype=dtype),
        jnp.asarray(mix.stds, dtype=dtype),
        jnp.asarray(mix.log_weights, dtype=dtype),
        n,
    )


# One compiled program per (n, number of components, dtype) instead of a
# dispatch per primitive: eager mode would compile every small op separately.
@partial(jax.jit, static_argnums=4)
def _mixture_sample_jit(rng_key, means, stds, log_weights, n: int):
    key_component, key_noise = jax.random.split(rng_key)
    component = jax.random.categorical(key_component, log_weights, shape=(n,))
    noise = jax.random.normal(key_noise, (n, means.shape[1]), dtype=means.dtype)
    return means[component] + stds[component][:, None] * noise


def _mixture_log_density(x, mix: _Mixture) -> Array:
    dtype = x.dtype
    return _mixture_log_density_jit(
        x,
        jnp.asarray(mix.means, dtype=dtype),
        jnp.asarray(mix.stds, dtype=dtype),
        jnp.asarray(mix.log_weights, dtype=dtype),
    )


@jax.jit
def _mixture_log_density_jit(x, means, stds, log_weights):
    dim = means.shape[1]
    sq = jnp.sum((x[..., None, :] - means) ** 2, axis=-1)  # (*batch, K)
    log_components = log_weights - 0.5 * sq / stds**2 - dim * jnp.log(stds) - 0.5 * dim * _LOG_2PI
    return jax.nn.logsumexp(log_components, axis=-1)


# ---- four squares ----------------------------------------------------------


class FourSquares(NamedTuple):
    """Geometry of the four-squares data (static numpy description).

    Attributes
    ----------
    lower
        Lower-left corners of the squares, shape ``(4, 2)``, in the order
        lower-left, upper-left, lower-right, upper-right square.
    upper
        Upper-right corners, ``lower + side``.
    side
        Side length of each square.
    gap
        Distance between neighbouring squares.
    """

    lower: np.ndarray
    upper: np.ndarray
    side: float
    gap: float

    @property
    def area(self) -> float:
        """Total area of the support, ``4 * side**2``."""
        return 4.0 * self.side**2


def four_squares_geometry(*, side: float = 1.0, gap: float = 1.0) -> FourSquares:
    """The four squares: side ``side``, centred on ``(±c, ±c)`` with ``c = (side + gap) / 2``.

    The squares sit at the corners of a larger square centred at the origin,
    separated by gaps of width ``gap`` along both axes; with the defaults the
    support is ``([-1.5, -0.5] ∪ [0.5, 1.5])²``. ``gap = 0`` makes them touch
    (one square of side ``2 * side``).
    """
    side = _check_positive(side, "side")
    gap = float(gap)
    if not (math.isfinite(gap) and gap >= 0):
        raise ValueError(f"gap must be a non-negative finite number; got {gap}")
    edges = (-0.5 * gap - side, 0.5 * gap)
    lower = np.array(list(itertools.product(edges, edges)), dtype=np.float64)
    return FourSquares(lower=lower, upper=lower + side, side=side, gap=gap)


def four_squares(
    rng_key: PRNGKeyArray, n: int, *, side: float = 1.0, gap: float = 1.0, dtype=jnp.float32
) -> Float[Array, "n 2"]:
    """``n`` points uniform on the union of four squares (Hinton's "4 squares" data).

    Each point picks one of the four equal squares uniformly, then a uniform
    position inside it, so the density is ``1 / (4 side²)`` on the squares and
    zero elsewhere (:func:`four_squares_log_density`). Geometry as in
    :func:`four_squares_geometry`.

    Parameters
    ----------
    rng_key
        JAX PRNG key.
    n
        Number of points.
    side, gap
        Square side and the gap between squares.
    dtype
        Floating dtype of the result.

    Returns
    -------
    Array of shape ``(n, 2)``.
    """
    n, dtype = _check_n(n), _check_dtype(dtype)
    geometry = four_squares_geometry(side=side, gap=gap)
    return _four_squares_jit(
        rng_key, jnp.asarray(geometry.lower, dtype=dtype), jnp.asarray(geometry.side, dtype), n
    )


@partial(jax.jit, static_argnums=3)
def _four_squares_jit(rng_key, lower, side, n: int):
    key_square, key_position = jax.random.split(rng_key)
    square = jax.random.randint(key_square, (n,), 0, 4)
    u = jax.random.uniform(key_position, (n, 2), dtype=lower.dtype)
    return lower[square] + side * u


@jax.jit
def _in_boxes(x, lower, upper):
    inside = jnp.all((x[..., None, :] >= lower) & (x[..., None, :] <= upper), axis=-1)
    return jnp.any(inside, axis=-1)


def four_squares_mask(
    x: Float[Array, "*batch 2"], *, side: float = 1.0, gap: float = 1.0
) -> Bool[Array, "*batch"]:
    """True where ``x`` lies in one of the four (closed) squares."""
    x = _check_points(x, 2)
    geometry = four_squares_geometry(side=side, gap=gap)
    lower = jnp.asarray(geometry.lower, dtype=x.dtype)
    upper = jnp.asarray(geometry.upper, dtype=x.dtype)
    return _in_boxes(x, lower, upper)


def four_squares_log_density(
    x: Float[Array, "*batch 2"], *, side: float = 1.0, gap: float = 1.0
) -> Float[Array, "*batch"]:
    """Exact log density of :func:`four_squares`: ``-log(4 side²)`` inside, ``-inf`` outside."""
    x = _check_points(x, 2)
    geometry = four_squares_geometry(side=side, gap=gap)
    lower = jnp.asarray(geometry.lower, dtype=x.dtype)
    upper = jnp.asarray(geometry.upper, dtype=x.dtype)
    value = jnp.asarray(-math.log(geometry.area), dtype=x.dtype)
    return _uniform_boxes_log_density_jit(x, lower, upper, value)


@jax.jit
def _uniform_boxes_log_density_jit(x, lower, upper, value):
    return jnp.where(_in_boxes(x, lower, upper), value, -jnp.inf)


# ---- clusters grid ---------------------------------------------------------


class ClustersGrid(NamedTuple):
    """Geometry of the clusters-grid data (static numpy description).

    Attributes
    ----------
    centres
        Centres of the present clusters, shape ``(K, 2)``, in row-major order of
        their grid cells.
    cells
        Grid cell ``(i, j)`` of each present cluster, shape ``(K, 2)``.
    missing
        Cell ``(i, j)`` of the missing cluster, or ``None``.
    missing_centre
        Where the missing cluster's centre would be, shape ``(2,)``, or ``None``.
    grid, spacing, std
        As passed to :func:`clusters_grid_geometry`.
    """

    centres: np.ndarray
    cells: np.ndarray
    missing: tuple[int, int] | None
    missing_centre: np.ndarray | None
    grid: int
    spacing: float
    std: float


def clusters_grid_geometry(
    *,
    grid: int = 5,
    missing: tuple[int, int] | None = (2, 2),
    spacing: float = 1.0,
    std: float = 0.1,
) -> ClustersGrid:
    """A ``grid × grid`` lattice of cluster centres with cell ``missing`` removed.

    Cell ``(i, j)`` (``0 <= i, j < grid``) is centred at
    ``((i - (grid - 1) / 2) * spacing, (j - (grid - 1) / 2) * spacing)``: the
    lattice is centred on the origin and ``i`` indexes the first coordinate.
    With the defaults, 24 clusters on ``{-2, -1, 0, 1, 2}²`` without the one at
    the origin, each of standard deviation ``0.1`` (ten standard deviations
    between neighbours). The lecture does not say which cluster is missing; the
    default removes the centre one, the cell farthest from the border.
    ``missing=None`` keeps every cluster.
    """
    if isinstance(grid, bool) or not isinstance(grid, int | np.integer) or grid < 1:
        raise ValueError(f"grid must be a positive integer; got {grid!r}")
    grid = int(grid)
    spacing = _check_positive(spacing, "spacing")
    std = _check_positive(std, "std")
    if missing is not None:
        if len(missing) != 2 or not all(
            isinstance(m, int | np.integer) and 0 <= m < grid for m in missing
        ):
            raise ValueError(
                f"missing must be None or a cell (i, j) with 0 <= i, j < grid = {grid}; "
                f"got {missing!r}"
            )
        missing = (int(missing[0]), int(missing[1]))
    cells = np.array(
        [c for c in itertools.product(range(grid), repeat=2) if c != missing], dtype=np.int64
    ).reshape(-1, 2)
    if len(cells) == 0:
        raise ValueError("a 1×1 grid with its only cluster missing has no clusters")
    offset = (grid - 1) / 2.0
    centres = (cells - offset) * spacing
    missing_centre = (
        None if missing is None else (np.array(missing, dtype=np.float64) - offset) * spacing
    )
    return ClustersGrid(centres, cells, missing, missing_centre, grid, spacing, std)


def clusters_grid(
    rng_key: PRNGKeyArray,
    n: int,
    *,
    grid: int = 5,
    missing: tuple[int, int] | None = (2, 2),
    spacing: float = 1.0,
    std: float = 0.1,
    dtype=jnp.float32,
) -> Float[Array, "n 2"]:
    """``n`` points from equally weighted isotropic Gaussian clusters on a grid with one missing.

    The data of Hinton's uni-gauss product of experts (lecture 3b: "15
    axis-aligned uni-gauss experts fitted to 24 clusters (one cluster is missing
    from the grid)"; the model's fantasies fill the missing cluster in).
    Geometry as in :func:`clusters_grid_geometry`; each point picks a present
    cluster uniformly and adds ``N(0, std² I)`` noise. Returns shape ``(n, 2)``.
    """
    n, dtype = _check_n(n), _check_dtype(dtype)
    geometry = clusters_grid_geometry(grid=grid, missing=missing, spacing=spacing, std=std)
    return _mixture_sample(rng_key, n, _grid_mixture(geometry), dtype)


def _grid_mixture(geometry: ClustersGrid) -> _Mixture:
    k = len(geometry.centres)
    return _mixture(geometry.centres, geometry.std, np.full((k,), 1.0 / k), 2)


def clusters_grid_cell(
    x: Float[Array, "*batch 2"], *, grid: int = 5, spacing: float = 1.0
) -> Int[Array, "*batch 2"]:
    """Grid cell ``(i, j)`` of the lattice node nearest to ``x`` (clipped to the grid).

    Counting points per cell (e.g. a model's fantasies landing in the missing
    cell) uses this; points beyond the lattice are assigned to the border cells.
    """
    x = _check_points(x, 2)
    geometry = clusters_grid_geometry(grid=grid, missing=None, spacing=spacing)
    return _grid_cell_jit(x, geometry.spacing, geometry.grid)


@partial(jax.jit, static_argnums=(1, 2))
def _grid_cell_jit(x, spacing: float, grid: int):
    index = jnp.round(x / spacing + (grid - 1) / 2.0)
    return jnp.clip(index, 0, grid - 1).astype(jnp.int32)


def clusters_grid_log_density(
    x: Float[Array, "*batch 2"],
    *,
    grid: int = 5,
    missing: tuple[int, int] | None = (2, 2),
    spacing: float = 1.0,
    std: float = 0.1,
) -> Float[Array, "*batch"]:
    """Exact log density of :func:`clusters_grid` (same geometry arguments)."""
    x = _check_points(x, 2)
    geometry = clusters_grid_geometry(grid=grid, missing=missing, spacing=spacing, std=std)
    return _mixture_log_density(x, _grid_mixture(geometry))


# ---- Gaussian mixtures -----------------------------------------------------

#: Default 1-D mixture: a narrow mode between two wider ones, unequal weights.
MIXTURE_1D_MEANS = (-2.0, 0.0, 2.0)
MIXTURE_1D_STDS = (0.6, 0.3, 0.6)
MIXTURE_1D_WEIGHTS = (0.3, 0.2, 0.5)


def gaussian_mixture_1d(
    rng_key: PRNGKeyArray,
    n: int,
    *,
    means=MIXTURE_1D_MEANS,
    stds=MIXTURE_1D_STDS,
    weights=MIXTURE_1D_WEIGHTS,
    dtype=jnp.float32,
) -> Float[Array, "n 1"]:
    r"""``n`` draws from :math:`\sum_k w_k \mathcal N(\mu_k, \sigma_k^2)`, shape ``(n, 1)``.

    Parameters
    ----------
    rng_key
        JAX PRNG key.
    n
        Number of draws.
    means, stds, weights
        Component means (``K``), standard deviations (``K`` or a scalar) and
        weights (``K``, positive, summing to one; ``None`` for equal weights).
        Defaults: :data:`MIXTURE_1D_MEANS`, :data:`MIXTURE_1D_STDS`,
        :data:`MIXTURE_1D_WEIGHTS`.
    dtype
        Floating dtype of the result.
    """
    n, dtype = _check_n(n), _check_dtype(dtype)
    return _mixture_sample(rng_key, n, _mixture(means, stds, weights, 1), dtype)


def gaussian_mixture_1d_log_density(
    x: Float[Array, "*batch 1"],
    *,
    means=MIXTURE_1D_MEANS,
    stds=MIXTURE_1D_STDS,
    weights=MIXTURE_1D_WEIGHTS,
) -> Float[Array, "*batch"]:
    """Exact log density of :func:`gaussian_mixture_1d`; ``x`` has shape ``(*batch, 1)``."""
    x = _check_points(x, 1)
    return _mixture_log_density(x, _mixture(means, stds, weights, 1))


def ring_means(n_components: int = 8, radius: float = 2.0) -> np.ndarray:
    """``n_components`` points equally spaced on a circle, the first at ``(radius, 0)``; ``(K, 2)``."""
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise ValueError(f"n_components must be a positive integer; got {n_components!r}")
    if n_components < 1:
        raise ValueError(f"n_components must be a positive integer; got {n_components!r}")
    radius = _check_positive(radius, "radius")
    angle = 2.0 * np.pi * np.arange(n_components) / n_components
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def gaussian_mixture_2d(
    rng_key: PRNGKeyArray,
    n: int,
    *,
    means=None,
    stds=0.2,
    weights=None,
    dtype=jnp.float32,
) -> Float[Array, "n 2"]:
    r"""``n`` draws from an isotropic 2-D mixture :math:`\sum_k w_k \mathcal N(\mu_k, \sigma_k^2 I)`.

    Parameters
    ----------
    rng_key
        JAX PRNG key.
    n
        Number of draws.
    means
        Component means, shape ``(K, 2)``; default ``ring_means(8, 2.0)``, a
        ring of eight Gaussians of radius 2.
    stds
        Standard deviation per component (``K``) or shared (scalar); default 0.2.
    weights
        Positive weights summing to one, shape ``(K,)``; default equal.
    dtype
        Floating dtype of the result.

    Returns
    -------
    Array of shape ``(n, 2)``.
    """
    n, dtype = _check_n(n), _check_dtype(dtype)
    means = ring_means() if means is None else means
    return _mixture_sample(rng_key, n, _mixture(means, stds, weights, 2), dtype)


def gaussian_mixture_2d_log_density(
    x: Float[Array, "*batch 2"], *, means=None, stds=0.2, weights=None
) -> Float[Array, "*batch"]:
    """Exact log density of :func:`gaussian_mixture_2d` (same arguments and defaults)."""
    x = _check_points(x, 2)
    means = ring_means() if means is None else means
    return _mixture_log_density(x, _mixture(means, stds, weights, 2))
