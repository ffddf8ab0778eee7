r"""Data for the examples, tests and benchmarks.

**Embedded (no download).**

- :func:`load_digits`: the 1,797 8×8 handwritten digits of the UCI "Optical
  Recognition of Handwritten Digits" set (as distributed with scikit-learn,
  CC BY 4.0), embedded in the package so the demo and tests need no network.

**Toy densities from the course material** (Hinton, CSC2535 lecture 3b), each a
sampler together with its exact log density, so a benchmark can compute true
log-likelihoods and a test can integrate them by quadrature:

- :func:`four_squares`: uniform inside four squares ("a simple 2-D dataset: the
  true data is uniformly distributed within the 4 squares");
- :func:`clusters_grid`: a grid of small isotropic Gaussian clusters with one
  cluster missing ("15 axis-aligned uni-gauss experts fitted to 24 clusters (one
  cluster is missing from the grid)"; the product of experts fills the hole in);
- :func:`gaussian_mixture_1d` and :func:`gaussian_mixture_2d` (by default a
  ring of eight Gaussians).

Convention for the samplers: pure functions ``f(rng_key, n, *, <geometry>)``
of a JAX PRNG key (:func:`jax.random.key`; legacy ``PRNGKey`` arrays work too),
returning a float array of shape ``(n, D)`` (``D = 1`` for the 1-D mixture, so
every sample set is a batch of ``D``-vectors like the library's energies expect).
The same key and arguments give the same samples. The geometry arguments are
static Python numbers or sequences (validated eagerly); to ``jit`` a sampler,
mark ``n`` and the geometry static. Every ``*_log_density(x, ...)`` takes ``x``
of shape ``(*batch, D)`` and returns the normalised log density, shape
``(*batch,)``, in the dtype of ``x``; pass it the same geometry arguments as
the sampler.

**MNIST from a local file.** :func:`load_mnist` reads an ``.npz`` archive
(keys ``x_train``, ``y_train``, ``x_test``, ``y_test``) or a directory holding
the four original IDX files, and binarizes by the project's convention
(see :func:`load_mnist`). It never downloads. :func:`download` is an opt-in
download-and-cache helper with SHA-256 verification, e.g.

>>> path = download(MNIST_NPZ_URL, "~/.cache/numpyro_ebm/mnist.npz", MNIST_NPZ_SHA256)  # doctest: +SKIP
>>> split = load_mnist(path)  # doctest: +SKIP

References
----------
Hinton, G. E. CSC2535 lecture 3b: products of experts, uni-gauss experts and
contrastive divergence (course notes; the 4-squares data and the 24-cluster
grid, whose figures fix neither the sizes nor the missing cell: the defaults
here are our documented choice).
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning
applied to document recognition. *Proc. IEEE* 86(11). (MNIST and the IDX format.)
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*. (Stochastically binarized MNIST.)
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import math
import os
import struct
import urllib.request
import uuid
import zipfile
from functools import partial
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "Split",
    "load_digits",
    "binarize_threshold",
    "binarize_stochastic",
    # toy densities
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
    # MNIST
    "MNIST_ENV_VAR",
    "MNIST_IDX_FILES",
    "MNIST_NPZ_URL",
    "MNIST_NPZ_SHA256",
    "load_mnist",
    "ChecksumError",
    "download",
]


class Split(NamedTuple):
    """A train/test split of images (rows) and labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def binarize_threshold(x: np.ndarray, threshold: float) -> np.ndarray:
    """``1.0`` where ``x >= threshold``, else ``0.0`` (float32)."""
    return (np.asarray(x) >= threshold).astype(np.float32)


def binarize_stochastic(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``1.0`` with probability ``x`` (``x`` in ``[0, 1]``), as ``(rng.random(x.shape) < x)``.

    Draws exactly ``x.size`` uniforms from ``rng`` in C order, so applying it to
    the training set and then to the test set with one
    ``numpy.random.default_rng(0)`` reproduces the project's binarized-MNIST
    convention (:func:`load_mnist` does this for you). Returns float32.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"binarize_stochastic expects probabilities in [0, 1] as a float array; got dtype "
            f"{x.dtype}. Scale first (e.g. images / 255)."
        )
    if np.isnan(x).any() or (x.size and (x.min() < 0 or x.max() > 1)):
        raise ValueError(
            "binarize_stochastic expects probabilities in [0, 1]; found values outside"
        )
    return (rng.random(x.shape) < x).astype(np.float32)


def load_digits(
    binarize: bool = True, threshold: int = 8, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """The embedded 8×8 digits, flattened to 64 columns.

    Parameters
    ----------
    binarize
        If true, pixels (0..16 ink levels) become ``1.0`` where ``>= threshold``;
        otherwise they are scaled to ``[0, 1]``.
    threshold
        Ink level at which a pixel counts as on.
    test_fraction
        Fraction of images held out, chosen by a permutation from ``seed``.
    seed
        Seed of :func:`numpy.random.default_rng` for the split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    with resources.files("numpyro_ebm.data").joinpath("digits8x8.npz").open("rb") as f:
        with np.load(f) as archive:
            images = archive["images"].reshape(-1, 64)
            labels = archive["labels"].astype(np.int64)
    x = binarize_threshold(images, threshold) if binarize else (images / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return Split(x[train], labels[train], x[test], labels[test])


# --------------------------------------------------------------------------- #
# Toy densities
# --------------------------------------------------------------------------- #

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


# --------------------------------------------------------------------------- #
# MNIST
# --------------------------------------------------------------------------- #

#: Environment variable naming the MNIST file (or IDX directory) used when
#: :func:`load_mnist` gets no path.
MNIST_ENV_VAR = "NUMPYRO_EBM_MNIST"

#: The four original IDX files (each may also be gzipped, with a ``.gz`` suffix).
MNIST_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

#: The ``mnist.npz`` distributed by Keras (keys ``x_train``, ``y_train``,
#: ``x_test``, ``y_test``) and its published SHA-256, for :func:`download`.
MNIST_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_IMAGE_SHAPE = (28, 28)
# Rows of images binarized per step: bounds the float64 temporaries (the
# uniform stream is the same as one draw over the whole array, see load_mnist).
_BINARIZE_CHUNK_ROWS = 4096

_HOW_TO_POINT = (
    f"Pass the path of an .npz archive (keys x_train, y_train, x_test, y_test; uint8 "
    f"N×28×28 images) or of a directory holding the four IDX files "
    f"({', '.join(MNIST_IDX_FILES.values())}, optionally .gz), e.g. "
    f"load_mnist('/data/mnist.npz'), or set the environment variable {MNIST_ENV_VAR} to it "
    f"(export {MNIST_ENV_VAR}=/data/mnist.npz). With internet access, "
    f"numpyro_ebm.datasets.download(MNIST_NPZ_URL, destination, MNIST_NPZ_SHA256) fetches "
    f"and verifies a copy."
)


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    binarize: str | None = "stochastic",
    flatten: bool = True,
    threshold: float = 0.5,
    seed: int = 0,
) -> Split:
    """MNIST from a local file, scaled to ``[0, 1]`` and binarized by the project's convention.

    Never downloads (see :func:`download`).

    Parameters
    ----------
    path
        An ``.npz`` archive with uint8 arrays ``x_train`` (``N×28×28``),
        ``y_train`` (``N``), ``x_test``, ``y_test`` (the layout of Keras'
        ``mnist.npz``), or a directory with the four IDX files of
        :data:`MNIST_IDX_FILES` (each plain or ``.gz``; a plain file wins when
        both exist). Defaults to the environment variable ``NUMPYRO_EBM_MNIST``.
    binarize
        ``"stochastic"`` (default): the project's convention for binarized
        MNIST. With ``rng = numpy.random.default_rng(seed)``, the training images
        are binarized first, then the test images, each as
        ``(rng.random(x.shape) < x / 255)`` on the arrays with the shape they
        have in the file (``60000×28×28``, then ``10000×28×28``), in float64, so
        the result is bit-for-bit what someone following ``../shared/README.md``
        gets (the draws are made in row blocks to bound memory; the uniform
        stream is the same). ``"threshold"``: ``1.0`` where
        ``x / 255 >= threshold``. ``None``: the grey levels ``x / 255``.
    flatten
        Return images as rows of 784 pixels (default) or as ``N×28×28``.
    threshold
        Used by ``binarize="threshold"`` only.
    seed
        Seed of the stochastic binarization; the convention is 0.

    Returns
    -------
    Split
        float32 images and int64 labels.

    Raises
    ------
    FileNotFoundError
        No path given and ``NUMPYRO_EBM_MNIST`` unset, or the file is missing.
    ValueError
        The file is not a readable ``.npz``/IDX set, or its keys, shapes,
        dtypes or labels are wrong.
    """
    if binarize not in ("stochastic", "threshold", None):
        raise ValueError(f"binarize must be 'stochastic', 'threshold' or None; got {binarize!r}")
    path = _mnist_path(path)
    arrays = _read_mnist_dir(path) if path.is_dir() else _read_mnist_npz(path)
    for part in ("train", "test"):
        _check_mnist_part(arrays[f"x_{part}"], arrays[f"y_{part}"], part, path)

    rng = np.random.default_rng(seed) if binarize == "stochastic" else None
    images = {}
    for part in ("train", "test"):  # order matters: the training set draws first
        raw = arrays[f"x_{part}"]
        if binarize == "stochastic":
            x = _binarize_uint8_stochastic(raw, rng)
        elif binarize == "threshold":
            x = binarize_threshold(raw / 255.0, threshold)
        else:
            x = (raw / 255.0).astype(np.float32)
        images[part] = x.reshape(len(x), -1) if flatten else x
    return Split(
        images["train"],
        arrays["y_train"].astype(np.int64),
        images["test"],
        arrays["y_test"].astype(np.int64),
    )


def _binarize_uint8_stochastic(raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # rng.random fills in C order, one double per element, so consecutive row
    # blocks consume the stream exactly as rng.random(raw.shape) does.
    out = np.empty(raw.shape, dtype=np.float32)
    for start in range(0, len(raw), _BINARIZE_CHUNK_ROWS):
        block = raw[start : start + _BINARIZE_CHUNK_ROWS] / 255.0
        out[start : start + len(block)] = rng.random(block.shape) < block
    return out


def _mnist_path(path) -> Path:
    if path is None:
        path = os.environ.get(MNIST_ENV_VAR)
        if not path:
            raise FileNotFoundError(
                f"load_mnist needs a local copy of MNIST: no path was given and the "
                f"environment variable {MNIST_ENV_VAR} is not set. {_HOW_TO_POINT}"
            )
        source = f" (from the environment variable {MNIST_ENV_VAR})"
    else:
        source = ""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"MNIST file {str(path)!r}{source} does not exist. {_HOW_TO_POINT}")
    return path


def _read_mnist_npz(path: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is neither an .npz archive nor a directory of IDX files. {_HOW_TO_POINT}"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in MNIST_IDX_FILES if k not in archive.files]
            if missing:
                raise ValueError(
                    f"{str(path)!r} lacks the key(s) {missing}; an MNIST .npz needs x_train, "
                    f"y_train, x_test, y_test and has {sorted(archive.files)}"
                )
            return {k: archive[k] for k in MNIST_IDX_FILES}
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"could not read the .npz archive {str(path)!r}: {err}") from err


def _read_mnist_dir(path: Path) -> dict[str, np.ndarray]:
    files = {}
    for key, name in MNIST_IDX_FILES.items():
        candidates = [path / name, path / f"{name}.gz"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"the MNIST directory {str(path)!r} has no {name} (nor {name}.gz); it needs "
                f"all four IDX files. {_HOW_TO_POINT}"
            )
        files[key] = found
    return {
        key: _read_idx(file, ndim=3 if key.startswith("x") else 1) for key, file in files.items()
    }


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (LeCun's format, optionally gzipped)."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"could not read the IDX file {str(path)!r}: {err}") from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"{str(path)!r} is not an IDX file of unsigned bytes: it must start with the magic "
            f"number 0x0000080{ndim}; starts with 0x{data[:4].hex()}"
        )
    if data[3] != ndim:
        raise ValueError(f"the IDX file {str(path)!r} has {data[3]} dimension(s); expected {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"the IDX file {str(path)!r} is truncated inside its header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    count = math.prod(dims)
    if len(data) - header != count:
        raise ValueError(
            f"the IDX file {str(path)!r} declares shape {dims} ({count} bytes of data) but "
            f"holds {len(data) - header} bytes of data: truncated or corrupted"
        )
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header).reshape(dims)


def _check_mnist_part(x: np.ndarray, y: np.ndarray, part: str, path: Path):
    where = f"in {str(path)!r}"
    if x.dtype != np.uint8:
        raise ValueError(f"x_{part} {where} must be uint8 grey levels 0..255; got dtype {x.dtype}")
    if x.ndim != 3 or x.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(
            f"x_{part} {where} must have shape (N, 28, 28) (images as in the original files); "
            f"got {x.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise ValueError(
            f"y_{part} {where} must be a 1-D integer array of labels; got dtype {y.dtype}, "
            f"shape {y.shape}"
        )
    if len(y) != len(x):
        raise ValueError(f"{where}: x_{part} has {len(x)} images but y_{part} has {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(
            f"y_{part} {where} must hold digit labels 0..9; found {y.min()}..{y.max()}"
        )


# ---- download --------------------------------------------------------------


class ChecksumError(ValueError):
    """A downloaded or cached file does not have the expected SHA-256."""


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    destination: str | os.PathLike,
    sha256: str,
    *,
    overwrite: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``destination`` once, verifying its SHA-256.

    Opt-in only: nothing in the library calls it. Any URL :mod:`urllib.request`
    opens works, including ``file://``.

    - If ``destination`` exists and its SHA-256 matches, it is returned without
      any download.
    - If it exists with another checksum, a :class:`ChecksumError` is raised
      unless ``overwrite=True`` (then it is replaced by a fresh download; with
      ``overwrite=True`` the download always happens).
    - The data are streamed to a temporary file next to ``destination``, hashed,
      and moved into place with :func:`os.replace` only when the checksum
      matches, so ``destination`` is never left partial. On a mismatch or any
      error the temporary file is removed, and an existing ``destination`` is
      left as it was.

    Parameters
    ----------
    url
        Source URL.
    destination
        File to write (parent directories are created; ``~`` is expanded).
    sha256
        Expected SHA-256 as 64 hexadecimal digits.
    overwrite
        Download even if ``destination`` exists.
    timeout
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    ChecksumError
        The downloaded data (or, without ``overwrite``, the existing file) do
        not have the expected checksum.
    OSError
        The download failed (:class:`urllib.error.URLError` is an OSError).
    """
    expected = str(sha256).strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"sha256 must be 64 hexadecimal digits; got {sha256!r}")
    destination = Path(destination).expanduser()
    if destination.is_dir():
        raise IsADirectoryError(f"destination {str(destination)!r} is a directory; name a file")
    if destination.exists() and not overwrite:
        actual = _sha256_of(destination)
        if actual == expected:
            return destination
        raise ChecksumError(
            f"{str(destination)!r} already exists but its SHA-256 is {actual}, not the expected "
            f"{expected}; delete it or pass overwrite=True to replace it with a fresh download "
            f"of {url}"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.part")
    try:
        digest = hashlib.sha256()
        with (
            urllib.request.urlopen(url, timeout=timeout) as response,
            open(temporary, "xb") as out,
        ):
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumError(
                f"the data downloaded from {url} have SHA-256 {actual}, not the expected "
                f"{expected}; nothing was written to {str(destination)!r}. The file at the URL "
                "changed or the transfer was corrupted."
            )
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return destination
