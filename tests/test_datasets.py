"""Toy densities, the MNIST loader and the download helper (numpyro_ebm.datasets)."""

import gzip
import hashlib
import math
import struct
import urllib.request
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from numpyro_ebm import datasets
from tests._stats import chisquare_counts

ALPHA = 1e-3
# One sample size for every toy test: the samplers compile once per (n, shape), and
# compiling dominates the runtime of these tests.
N = 20_000


# --------------------------------------------------------------------------- #
# Toy densities
# --------------------------------------------------------------------------- #

SAMPLERS = [
    (datasets.four_squares, 2),
    (datasets.clusters_grid, 2),
    (datasets.gaussian_mixture_1d, 1),
    (datasets.gaussian_mixture_2d, 2),
]


@pytest.mark.parametrize("sampler, dim", SAMPLERS)
def test_sampler_shape_dtype_and_determinism(sampler, dim):
    key = jax.random.key(0)
    x = sampler(key, N)
    assert x.shape == (N, dim) and x.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(x)))
    np.testing.assert_array_equal(np.asarray(x), np.asarray(sampler(key, N)))
    assert not np.array_equal(np.asarray(x), np.asarray(sampler(jax.random.key(1), N)))


def test_sampler_edge_cases_and_jit():
    # every sampler goes through the same key handling; each case costs a compilation
    key = jax.random.key(0)
    # n = 0, with a legacy uint32 key
    assert datasets.four_squares(jax.random.PRNGKey(0), 0).shape == (0, 2)
    # the sampler jits with n static
    jitted = jax.jit(datasets.four_squares, static_argnums=1)
    np.testing.assert_array_equal(
        np.asarray(jitted(key, N)), np.asarray(datasets.four_squares(key, N))
    )


def test_four_squares_geometry_and_exact_density_values():
    g = datasets.four_squares_geometry()
    # defaults: ([-1.5, -0.5] u [0.5, 1.5])^2
    np.testing.assert_allclose(
        g.lower, [[-1.5, -1.5], [-1.5, 0.5], [0.5, -1.5], [0.5, 0.5]], atol=1e-12
    )
    np.testing.assert_allclose(g.upper, g.lower + 1.0)
    assert g.area == 4.0
    pts = jnp.array(
        [[1.0, 1.0], [-1.0, 1.2], [0.0, 0.0], [1.5, 1.5], [1.6, 1.0], [0.4, -1.0], [-1.0, -0.6]],
        dtype=jnp.float32,
    )
    expected = np.array([True, True, False, True, False, False, True])
    np.testing.assert_array_equal(np.asarray(datasets.four_squares_mask(pts)), expected)
    logp = np.asarray(datasets.four_squares_log_density(pts))
    assert logp.dtype == np.float32
    np.testing.assert_allclose(logp[expected], -math.log(4.0), rtol=1e-6)
    assert np.all(np.isneginf(logp[~expected]))
    g2 = datasets.four_squares_geometry(side=0.5, gap=2.0)
    np.testing.assert_allclose(g2.lower[-1], [1.0, 1.0])
    np.testing.assert_allclose(g2.lower[0], [-1.5, -1.5])


def test_four_squares_samples_are_uniform_on_the_squares():
    side, gap, n = 0.7, 0.4, N
    x = np.asarray(datasets.four_squares(jax.random.key(1), n, side=side, gap=gap))
    assert np.all(np.asarray(datasets.four_squares_mask(x, side=side, gap=gap)))
    g = datasets.four_squares_geometry(side=side, gap=gap)
    # which square: sign pattern, in the order of g.lower
    square = 2 * (x[:, 0] > 0) + (x[:, 1] > 0)
    assert np.all(np.all((x >= g.lower[square]) & (x <= g.upper[square]), axis=1))
    # three tests at alpha = 1e-3 (square counts, then a KS test per coordinate of the
    # position inside the square): false-failure rate about 0.3%
    assert chisquare_counts(np.bincount(square, minlength=4), np.full(4, 0.25)) > ALPHA
    relative = (x - g.lower[square]) / side
    for d in range(2):
        assert stats.kstest(relative[:, d], "uniform").pvalue > ALPHA


def test_clusters_grid_geometry():
    g = datasets.clusters_grid_geometry()
    assert g.centres.shape == (24, 2) and g.cells.shape == (24, 2)
    assert g.missing == (2, 2)
    np.testing.assert_allclose(g.missing_centre, [0.0, 0.0])
    grid_points = {(float(a), float(b)) for a in range(-2, 3) for b in range(-2, 3)}
    assert {tuple(c) for c in g.centres.tolist()} == grid_points - {(0.0, 0.0)}
    g2 = datasets.clusters_grid_geometry(grid=4, missing=(0, 3), spacing=2.0, std=0.3)
    assert len(g2.centres) == 15
    np.testing.assert_allclose(g2.missing_centre, [-3.0, 3.0])
    np.testing.assert_allclose(g2.centres, (g2.cells - 1.5) * 2.0)
    full = datasets.clusters_grid_geometry(missing=None)
    assert len(full.centres) == 25 and full.missing_centre is None
    cells = datasets.clusters_grid_cell(jnp.asarray(g.centres, dtype=jnp.float32))
    np.testing.assert_array_equal(np.asarray(cells), g.cells)


def test_clusters_grid_balanced_and_missing_cluster_empty():
    n, std = N, 0.1
    x = datasets.clusters_grid(jax.random.key(2), n, std=std)
    cells = np.asarray(datasets.clusters_grid_cell(x))
    flat = cells[:, 0] * 5 + cells[:, 1]
    counts = np.bincount(flat, minlength=25)
    # a point lands in the missing cell only beyond 5 std of a neighbouring centre:
    # expected number of such points about 1e-3 (false-failure rate about 0.1%)
    assert counts[2 * 5 + 2] == 0
    present = np.delete(counts, 2 * 5 + 2)
    # chi-square at alpha = 1e-3: false-failure rate 0.1%
    assert chisquare_counts(present, np.full(24, 1 / 24)) > ALPHA
    # noise around the assigned centre is N(0, std^2 I): sum of squares / std^2 ~ chi2(2n)
    # (misassignment beyond 5 std is negligible); two-sided z-test at 4.5 sigma
    residual = np.asarray(x, dtype=np.float64) - (cells - 2.0)
    q = np.sum(residual**2) / std**2
    assert abs(q - 2 * n) < 4.5 * math.sqrt(2 * 2 * n)


def _mixture_moments_1d(means, stds, weights):
    means, stds, weights = map(np.asarray, (means, stds, weights))
    mean = np.sum(weights * means)
    second = np.sum(weights * (stds**2 + means**2))
    return mean, second - mean**2


def test_gaussian_mixture_1d_matches_its_exact_density():
    n = N
    x = np.asarray(datasets.gaussian_mixture_1d(jax.random.key(3), n), dtype=np.float64)[:, 0]
    means = np.array(datasets.MIXTURE_1D_MEANS)
    stds = np.array(datasets.MIXTURE_1D_STDS)
    weights = np.array(datasets.MIXTURE_1D_WEIGHTS)

    def cdf(t):
        return np.sum(weights * stats.norm.cdf((np.asarray(t)[..., None] - means) / stds), axis=-1)

    # KS test at alpha = 1e-3: false-failure rate 0.1%
    assert stats.kstest(x, cdf).pvalue > ALPHA
    # moments from the exact density by quadrature agree with the closed form...
    grid = np.linspace(-8.0, 8.0, 16_001)
    density = np.exp(
        np.asarray(datasets.gaussian_mixture_1d_log_density(jnp.asarray(grid[:, None])))
    )
    m1 = np.trapezoid(grid * density, grid)
    m2 = np.trapezoid((grid - m1) ** 2 * density, grid)
    m4 = np.trapezoid((grid - m1) ** 4 * density, grid)
    mean, var = _mixture_moments_1d(means, stds, weights)
    np.testing.assert_allclose([m1, m2], [mean, var], rtol=1e-5, atol=1e-5)
    # ...and the sample moments agree with them: z-tests at 4.5 standard errors
    # (false-failure rate about 1e-5 each)
    assert abs(x.mean() - m1) < 4.5 * math.sqrt(m2 / n)
    assert abs(x.var() - m2) < 4.5 * math.sqrt((m4 - m2**2) / n)


def test_gaussian_mixture_2d_component_counts_and_ring_moments():
    means = np.array([[-3.0, 0.0], [0.0, 3.0], [3.0, -1.0]])
    stds = np.array([0.3, 0.5, 0.4])
    weights = np.array([0.5, 0.2, 0.3])
    n = N
    x = np.asarray(
        datasets.gaussian_mixture_2d(jax.random.key(4), n, means=means, stds=stds, weights=weights),
        dtype=np.float64,
    )
    nearest = np.argmin(np.sum((x[:, None, :] - means) ** 2, axis=-1), axis=1)
    # components are > 5 std apart, so nearest-mean assignment is the component;
    # chi-square at alpha = 1e-3: false-failure rate 0.1%
    assert chisquare_counts(np.bincount(nearest, minlength=3), weights) > ALPHA
    residual = x - means[nearest]
    for k in range(3):  # per-component spread: z-test on sum of squares at 4.5 sigma
        r = residual[nearest == k]
        q = np.sum(r**2) / stds[k] ** 2
        assert abs(q - r.size) < 4.5 * math.sqrt(2 * r.size)

    # default ring: E[x] = 0 and E[x x^T] = (r^2 / 2 + s^2) I, from quadrature of the density
    ring = np.asarray(datasets.gaussian_mixture_2d(jax.random.key(5), n), dtype=np.float64)
    axis = np.linspace(-3.5, 3.5, 701)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    pts = jnp.asarray(np.stack([xx, yy], axis=-1), dtype=jnp.float32)
    density = np.exp(np.asarray(datasets.gaussian_mixture_2d_log_density(pts), dtype=np.float64))
    second = np.trapezoid(np.trapezoid(xx**2 * density, axis), axis)
    np.testing.assert_allclose(second, 2.0**2 / 2 + 0.2**2, rtol=1e-4)
    fourth = np.trapezoid(np.trapezoid(xx**4 * density, axis), axis)
    # z-tests at 4.5 standard errors (false-failure rate about 1e-5 each)
    for d in range(2):
        assert abs(ring[:, d].mean()) < 4.5 * math.sqrt(second / n)
        assert abs(np.mean(ring[:, d] ** 2) - second) < 4.5 * math.sqrt((fourth - second**2) / n)


def _trapezoid_2d(log_density, low, high, num):
    axis = np.linspace(low, high, num)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    pts = jnp.asarray(np.stack([xx, yy], axis=-1), dtype=jnp.float32)
    density = np.exp(np.asarray(log_density(pts), dtype=np.float64))
    return np.trapezoid(np.trapezoid(density, axis), axis)


def test_exact_log_densities_integrate_to_one():
    grid = np.linspace(-8.0, 8.0, 16_001)
    density = np.exp(
        np.asarray(datasets.gaussian_mixture_1d_log_density(jnp.asarray(grid[:, None])))
    )
    assert abs(np.trapezoid(density, grid) - 1.0) < 1e-5
    # Gaussian mixtures: trapezoid rule with step <= std / 10, > 7 std of margin
    assert abs(_trapezoid_2d(datasets.gaussian_mixture_2d_log_density, -3.6, 3.6, 721) - 1) < 1e-5
    assert abs(_trapezoid_2d(datasets.clusters_grid_log_density, -3.0, 3.0, 601) - 1) < 1e-5
    kwargs = dict(grid=3, missing=(0, 1), spacing=1.5, std=0.25)
    total = _trapezoid_2d(lambda p: datasets.clusters_grid_log_density(p, **kwargs), -3.5, 3.5, 701)
    assert abs(total - 1) < 1e-5
    # four squares: midpoint rule on cells aligned with the square edges is exact
    for side, gap in [(1.0, 1.0), (0.5, 0.3)]:
        h = 0.01
        centres = np.arange(-2.0 + h / 2, 2.0, h)
        xx, yy = np.meshgrid(centres, centres, indexing="ij")
        pts = jnp.asarray(np.stack([xx, yy], axis=-1), dtype=jnp.float32)
        logp = datasets.four_squares_log_density(pts, side=side, gap=gap)
        total = np.sum(np.exp(np.asarray(logp, dtype=np.float64))) * h * h
        assert abs(total - 1.0) < 1e-5


def test_log_densities_agree_with_scipy():
    x = np.array([[-2.5], [-0.1], [0.0], [1.7], [4.0]])
    expected = np.log(
        sum(
            w * stats.norm.pdf(x[:, 0], m, s)
            for m, s, w in zip(
                datasets.MIXTURE_1D_MEANS,
                datasets.MIXTURE_1D_STDS,
                datasets.MIXTURE_1D_WEIGHTS,
                strict=True,
            )
        )
    )
    got = datasets.gaussian_mixture_1d_log_density(jnp.asarray(x, dtype=jnp.float32))
    assert got.shape == (5,) and got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)

    pts = np.array([[[2.0, 0.1], [0.0, 0.0]], [[-1.2, 1.5], [1.9, -2.1]]])  # batch (2, 2)
    g = datasets.clusters_grid_geometry()
    expected = np.log(
        np.mean(
            [stats.multivariate_normal.pdf(pts, c, 0.1**2 * np.eye(2)) for c in g.centres], axis=0
        )
    )
    got = datasets.clusters_grid_log_density(jnp.asarray(pts, dtype=jnp.float32))
    assert got.shape == (2, 2)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(np.asarray(got)[finite], expected[finite], rtol=1e-4)
    ring = datasets.ring_means()
    expected = np.log(
        np.mean([stats.multivariate_normal.pdf(pts, c, 0.04 * np.eye(2)) for c in ring], axis=0)
    )
    got = datasets.gaussian_mixture_2d_log_density(jnp.asarray(pts, dtype=jnp.float32))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: datasets.four_squares(jax.random.key(0), -1), "non-negative integer"),
        (lambda: datasets.four_squares(jax.random.key(0), 2.5), "non-negative integer"),
        (lambda: datasets.four_squares(jax.random.key(0), 5, side=0.0), "side must be a positive"),
        (lambda: datasets.four_squares(jax.random.key(0), 5, gap=-1.0), "gap must be"),
        (lambda: datasets.four_squares(jax.random.key(0), 5, dtype=jnp.int32), "floating"),
        (lambda: datasets.clusters_grid(jax.random.key(0), 5, missing=(5, 0)), "missing must"),
        (lambda: datasets.clusters_grid(jax.random.key(0), 5, grid=0), "grid must"),
        (lambda: datasets.clusters_grid(jax.random.key(0), 5, std=-0.1), "std must"),
        (
            lambda: datasets.gaussian_mixture_1d(jax.random.key(0), 5, weights=(0.5, 0.2, 0.2)),
            "sum to one",
        ),
        (
            lambda: datasets.gaussian_mixture_1d(jax.random.key(0), 5, stds=(1.0, 1.0)),
            r"shape \(3,\)",
        ),
        (lambda: datasets.gaussian_mixture_2d(jax.random.key(0), 5, means=[1.0, 2.0]), "means"),
        (
            lambda: datasets.gaussian_mixture_2d(
                jax.random.key(0), 5, means=[[0.0, 0.0]], weights=[1.0], stds=[0.0]
            ),
            "positive",
        ),
        (lambda: datasets.four_squares_log_density(jnp.zeros((3, 3))), "coordinates"),
        (lambda: datasets.gaussian_mixture_1d_log_density(jnp.zeros((3, 2))), "coordinates"),
        (lambda: datasets.clusters_grid_log_density(jnp.zeros((3, 2), jnp.int32)), "floating"),
    ],
)
def test_toy_argument_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# --------------------------------------------------------------------------- #
# MNIST
# --------------------------------------------------------------------------- #

N_TRAIN, N_TEST = 7, 5


@pytest.fixture
def mnist_arrays():
    rng = np.random.default_rng(123)
    arrays = {
        "x_train": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, N_TRAIN).astype(np.uint8),
        "x_test": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, N_TEST).astype(np.uint8),
    }
    arrays["x_train"][0, 0, :3] = [0, 255, 128]  # the extremes and the threshold
    return arrays


def _write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _write_idx_dir(directory: Path, arrays, gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for key, name in datasets.MNIST_IDX_FILES.items():
        _write_idx(directory / name, arrays[key], gz=gz)
    return directory


@pytest.fixture
def mnist_npz(tmp_path, mnist_arrays):
    path = tmp_path / "mnist.npz"
    np.savez(path, **mnist_arrays)
    return path


def _readme_convention(arrays):
    """What someone following ../shared/README.md writes (train first, then test)."""
    rng = np.random.default_rng(0)
    x_train = arrays["x_train"] / 255
    train = rng.random(x_train.shape) < x_train
    x_test = arrays["x_test"] / 255
    test = rng.random(x_test.shape) < x_test
    return train, test


def test_load_mnist_npz_grey_levels_and_threshold(mnist_npz, mnist_arrays):
    split = datasets.load_mnist(mnist_npz, binarize=None)
    assert isinstance(split, datasets.Split)
    assert split.x_train.shape == (N_TRAIN, 784) and split.x_test.shape == (N_TEST, 784)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    np.testing.assert_array_equal(
        split.x_train, (mnist_arrays["x_train"] / 255).astype(np.float32).reshape(N_TRAIN, -1)
    )
    np.testing.assert_array_equal(split.y_test, mnist_arrays["y_test"])
    images = datasets.load_mnist(mnist_npz, binarize=None, flatten=False)
    assert images.x_test.shape == (N_TEST, 28, 28)
    thresholded = datasets.load_mnist(mnist_npz, binarize="threshold")
    np.testing.assert_array_equal(
        thresholded.x_train, (mnist_arrays["x_train"] >= 128).reshape(N_TRAIN, -1)
    )
    assert thresholded.x_train[0, :3].tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("chunk_rows", [3, 4096])  # blocks that do and do not divide N
def test_stochastic_binarization_is_the_readme_convention(
    mnist_npz, mnist_arrays, monkeypatch, chunk_rows
):
    monkeypatch.setattr(datasets.images, "_BINARIZE_CHUNK_ROWS", chunk_rows)
    train, test = _readme_convention(mnist_arrays)
    split = datasets.load_mnist(mnist_npz)  # binarize="stochastic" is the default
    assert split.x_train.dtype == np.float32
    np.testing.assert_array_equal(split.x_train, train.reshape(N_TRAIN, -1))
    np.testing.assert_array_equal(split.x_test, test.reshape(N_TEST, -1))
    unflat = datasets.load_mnist(mnist_npz, flatten=False)
    np.testing.assert_array_equal(unflat.x_train, train)
    np.testing.assert_array_equal(unflat.x_test, test)
    # grey level 0 never turns on and 255 always does
    assert unflat.x_train[0, 0, 0] == 0.0 and unflat.x_train[0, 0, 1] == 1.0
    # another seed is another binarization
    assert not np.array_equal(datasets.load_mnist(mnist_npz, seed=1).x_train, split.x_train)
    # the public helper, applied train then test with one generator, is the same draw
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(
        datasets.binarize_stochastic(mnist_arrays["x_train"] / 255, rng), train
    )
    np.testing.assert_array_equal(
        datasets.binarize_stochastic(mnist_arrays["x_test"] / 255, rng), test
    )


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx_directory(tmp_path, mnist_npz, gz, mnist_arrays):
    directory = _write_idx_dir(tmp_path / "idx", mnist_arrays, gz=gz)
    for binarize in (None, "stochastic"):
        from_idx = datasets.load_mnist(directory, binarize=binarize)
        from_npz = datasets.load_mnist(mnist_npz, binarize=binarize)
        for a, b in zip(from_idx, from_npz, strict=True):
            np.testing.assert_array_equal(a, b)


def test_load_mnist_idx_prefers_plain_file_over_gz(tmp_path, mnist_arrays):
    directory = _write_idx_dir(tmp_path / "idx", mnist_arrays)
    name = datasets.MNIST_IDX_FILES["x_test"]
    (directory / f"{name}.gz").write_bytes(b"not gzip")
    split = datasets.load_mnist(directory, binarize=None, flatten=False)
    np.testing.assert_array_equal(split.x_test, mnist_arrays["x_test"] / np.float32(255))


def test_load_mnist_path_from_environment(mnist_npz, mnist_arrays, monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.MNIST_ENV_VAR, str(mnist_npz))
    split = datasets.load_mnist(binarize=None)
    np.testing.assert_array_equal(split.y_train, mnist_arrays["y_train"])
    # an explicit path wins over the variable
    other = tmp_path / "other.npz"
    np.savez(other, **{**mnist_arrays, "y_train": np.zeros(N_TRAIN, np.uint8)})
    assert np.all(datasets.load_mnist(other, binarize=None).y_train == 0)


def test_load_mnist_without_a_file_says_how_to_point_at_one(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist must never download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.delenv(datasets.MNIST_ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match="NUMPYRO_EBM_MNIST is not set") as err:
        datasets.load_mnist()
    assert "load_mnist('/data/mnist.npz')" in str(err.value)
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.load_mnist(missing)
    monkeypatch.setenv(datasets.MNIST_ENV_VAR, str(missing))
    with pytest.raises(FileNotFoundError, match="from the environment variable NUMPYRO_EBM_MNIST"):
        datasets.load_mnist()


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.pop("y_test"), r"lacks the key\(s\) \['y_test'\]"),
        (lambda a: a.update(x_train=a["x_train"].reshape(N_TRAIN, 784)), r"shape \(N, 28, 28\)"),
        (lambda a: a.update(x_test=a["x_test"][:, :, :27]), r"shape \(N, 28, 28\)"),
        (lambda a: a.update(x_train=a["x_train"].astype(np.float32)), "must be uint8"),
        (lambda a: a.update(y_train=a["y_train"][:-1]), "has 7 images but y_train has 6"),
        (lambda a: a.update(y_test=a["y_test"].astype(np.float32)), "integer array of labels"),
        (lambda a: a.update(y_test=np.full(N_TEST, 10, np.uint8)), "labels 0..9"),
    ],
)
def test_load_mnist_bad_npz(tmp_path, mnist_arrays, change, match):
    change(mnist_arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **mnist_arrays)
    with pytest.raises(ValueError, match=match):
        datasets.load_mnist(path)


def test_load_mnist_not_an_npz_and_bad_binarize(tmp_path, mnist_npz):
    text = tmp_path / "mnist.npz.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="neither an .npz archive nor a directory"):
        datasets.load_mnist(text)
    with pytest.raises(ValueError, match="binarize must be"):
        datasets.load_mnist(mnist_npz, binarize="yes")


def _corrupt_magic(path):
    data = bytearray(path.read_bytes())
    data[2] = 0x0D  # float data
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "corrupt, error, match",
    [
        (lambda p: p.unlink(), FileNotFoundError, "has no t10k-images-idx3-ubyte"),
        (_corrupt_magic, ValueError, "not an IDX file of unsigned bytes"),
        (lambda p: p.write_bytes(p.read_bytes()[:-10]), ValueError, "truncated or corrupted"),
        (lambda p: p.write_bytes(p.read_bytes()[:6]), ValueError, "truncated inside its header"),
        (
            lambda p: _write_idx(p, np.zeros((N_TEST, 784), np.uint8)),
            ValueError,
            "has 2 dimension",
        ),
        (
            lambda p: (p.unlink(), p.with_name(p.name + ".gz").write_bytes(b"garbage")),
            ValueError,
            "could not read the IDX file",
        ),
    ],
)
def test_load_mnist_bad_idx(tmp_path, mnist_arrays, corrupt, error, match):
    directory = _write_idx_dir(tmp_path / "idx", mnist_arrays)
    corrupt(directory / datasets.MNIST_IDX_FILES["x_test"])
    with pytest.raises(error, match=match):
        datasets.load_mnist(directory)


def test_binarize_stochastic_rejects_non_probabilities():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="Scale first"):
        datasets.binarize_stochastic(np.array([0, 255], np.uint8), rng)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        datasets.binarize_stochastic(np.array([0.5, 1.5]), rng)


SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="../shared/data/mnist.npz not present")
def test_shared_mnist_with_the_convention():
    split = datasets.load_mnist(SHARED_MNIST)
    assert split.x_train.shape == (60_000, 784) and split.x_test.shape == (10_000, 784)
    assert split.x_train.dtype == np.float32 and set(np.unique(split.x_train)) == {0.0, 1.0}
    with np.load(SHARED_MNIST) as f:
        arrays = {k: f[k] for k in f.files}
    np.testing.assert_array_equal(split.y_train, arrays["y_train"])
    # bit-for-bit the README's recipe on the full arrays
    train, test = _readme_convention(arrays)
    np.testing.assert_array_equal(split.x_train, train.reshape(60_000, -1))
    np.testing.assert_array_equal(split.x_test, test.reshape(10_000, -1))
    # mean intensity: the well-known 0.1307 (train) / 0.1325 (test) of x / 255, and the
    # binarized means within 5 binomial standard errors (< 3e-4) of the grey-level means
    grey_train, grey_test = arrays["x_train"].mean() / 255, arrays["x_test"].mean() / 255
    assert abs(grey_train - 0.1307) < 1e-4 and abs(grey_test - 0.1325) < 1e-4
    assert abs(split.x_train.mean(dtype=np.float64) - grey_train) < 3e-4
    assert abs(split.x_test.mean(dtype=np.float64) - grey_test) < 5e-4


# --------------------------------------------------------------------------- #
# download
# --------------------------------------------------------------------------- #


@pytest.fixture
def source(tmp_path):
    """A 2.5 MB file (more than one read chunk) behind a file:// URL, and its SHA-256."""
    path = tmp_path / "server" / "blob.bin"
    path.parent.mkdir()
    data = np.random.default_rng(7).integers(0, 256, 2_500_000, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    return path.as_uri(), hashlib.sha256(data).hexdigest(), data


def _leftovers(directory: Path):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_verifies_and_caches(tmp_path, source, monkeypatch):
    url, sha, data = source
    destination = tmp_path / "cache" / "nested" / "blob.bin"
    calls = []
    real_urlopen = urllib.request.urlopen

    def counting_urlopen(*args, **kwargs):
        calls.append(args[0])
        return real_urlopen(*args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", counting_urlopen)
    assert datasets.download(url, destination, sha) == destination
    assert destination.read_bytes() == data and len(calls) == 1
    assert _leftovers(destination.parent) == ["blob.bin"]  # no temporary file left
    mtime = destination.stat().st_mtime_ns
    # cached: the matching file is returned without opening the URL
    assert datasets.download(url, str(destination), sha.upper()) == destination
    assert len(calls) == 1 and destination.stat().st_mtime_ns == mtime
    # overwrite=True downloads again
    datasets.download(url, destination, sha, overwrite=True)
    assert len(calls) == 2 and destination.read_bytes() == data


def test_download_wrong_checksum_leaves_no_file(tmp_path, source):
    url, sha, _ = source
    wrong = hashlib.sha256(b"something else").hexdigest()
    destination = tmp_path / "cache" / "blob.bin"
    with pytest.raises(datasets.ChecksumError, match=f"not the expected {wrong}"):
        datasets.download(url, destination, wrong)
    assert not destination.exists() and _leftovers(destination.parent) == []
    assert issubclass(datasets.ChecksumError, ValueError)


def test_download_existing_file_with_other_content(tmp_path, source):
    url, sha, data = source
    destination = tmp_path / "blob.bin"
    destination.write_bytes(b"stale")
    with pytest.raises(datasets.ChecksumError, match="pass overwrite=True"):
        datasets.download(url, destination, sha)
    assert destination.read_bytes() == b"stale"
    # a failed overwrite keeps the old file intact (atomic replace only on success)
    with pytest.raises(datasets.ChecksumError):
        datasets.download(url, destination, "0" * 64, overwrite=True)
    assert destination.read_bytes() == b"stale" and _leftovers(tmp_path) == ["blob.bin", "server"]
    datasets.download(url, destination, sha, overwrite=True)
    assert destination.read_bytes() == data


def test_download_bad_arguments_and_unreachable_url(tmp_path, source):
    url, sha, _ = source
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        datasets.download(url, tmp_path / "x", "abc")
    with pytest.raises(IsADirectoryError):
        datasets.download(url, tmp_path, sha)
    missing = (tmp_path / "server" / "missing.bin").as_uri()
    destination = tmp_path / "out" / "missing.bin"
    with pytest.raises(OSError):
        datasets.download(missing, destination, sha)
    assert _leftovers(destination.parent) == []
