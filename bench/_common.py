"""Shared helpers for the benchmark scripts (timing, machine description, MNIST path, 2-D quadrature)."""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()}, Python {platform.python_version()}, jax {jax.__version__}"


def median_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` (which must block until its result is ready)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def mnist_path(argument: str | None) -> str:
    path = argument or os.environ.get("NUMPYRO_EBM_MNIST")
    if not path:
        raise SystemExit(
            "point to MNIST with --mnist PATH or the NUMPYRO_EBM_MNIST environment variable "
            "(an .npz with x_train, y_train, x_test, y_test)"
        )
    return path


# ----------------------------------------------------------------------------------------
# 2-D midpoint quadrature (shared by four_squares.py, clusters24.py, score_matching_compare.py)
# ----------------------------------------------------------------------------------------


def grid_centres(half: float, step: float) -> np.ndarray:
    """Midpoints of the cells of a regular grid on ``[-half, half]``."""
    n = int(round(2 * half / step))
    return -half + step * (np.arange(n) + 0.5)


def energies_on(energy_fn, params, points: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """``energy_fn(params, points)`` in float32 chunks of ``chunk`` 2-D points, as float64."""
    fn = jax.jit(energy_fn)
    out = []
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk]
        pad = chunk - len(block)
        block = np.concatenate([block, np.zeros((pad, 2), block.dtype)]) if pad else block
        out.append(np.asarray(fn(params, jnp.asarray(block, jnp.float32)))[: chunk - pad])
    return np.concatenate(out).astype(np.float64)


class GridQuadrature(NamedTuple):
    axis: np.ndarray  # cell midpoints along each axis, shape (n,)
    points: np.ndarray  # (n * n, 2) float32, point [i * n + j] at (axis[i], axis[j])
    log_density: np.ndarray  # (n, n), [i, j] at (axis[i], axis[j])
    log_z: float


def grid_quadrature(energy_fn, params, half: float, step: float) -> GridQuadrature:
    """Midpoint rule on ``[-half, half]²``: ``log Z`` and the normalised log density."""
    axis = grid_centres(half, step)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    points = np.stack([xx.ravel(), yy.ravel()], axis=-1).astype(np.float32)
    neg_e = -energies_on(energy_fn, params, points)
    log_z = float(np.logaddexp.reduce(neg_e) + 2 * math.log(step))
    return GridQuadrature(axis, points, (neg_e - log_z).reshape(xx.shape), log_z)


# ----------------------------------------------------------------------------------------
# Parallel-tempering rules for the MNIST RBM scripts (--rule pt-pcd / pt-fpcd)
# ----------------------------------------------------------------------------------------


def add_tempering_arguments(parser) -> None:
    """The ladder and swap flags of ``--rule pt-pcd`` / ``pt-fpcd``."""
    group = parser.add_argument_group("parallel tempering (--rule pt-pcd, pt-fpcd)")
    group.add_argument("--replicas", type=int, default=10, help="replicas per chain (K)")
    group.add_argument(
        "--min-beta", type=float, default=0.0, help="inverse temperature of the hottest replica"
    )
    group.add_argument(
        "--ladder",
        choices=("geometric", "linear"),
        default="geometric",
        help="spacing of the inverse temperatures from --min-beta to 1",
    )
    group.add_argument("--swap", choices=("deo", "seo", "random_pair"), default="deo")
    group.add_argument(
        "--pt-base",
        choices=("base-rate", "uniform"),
        default="base-rate",
        help="path from the base-rate RBM of the training data (as AIS) or from uniform",
    )


def tempering_ladder(args):
    """The ``--replicas`` inverse temperatures of ``--ladder`` from ``--min-beta`` to 1."""
    from numpyro_ebm.kernels import parallel_tempering

    if args.ladder == "geometric":
        return parallel_tempering.geometric_ladder(args.replicas, args.min_beta)
    return jnp.linspace(args.min_beta, 1.0, args.replicas, dtype=jnp.float32)


def tempered_rbm_rule(args, train_data):
    """The closed-form PT-PCD / PT-FPCD rule of ``args.rule`` for a Bernoulli RBM."""
    from numpyro_ebm.evaluation import ais
    from numpyro_ebm.learning import tempered

    base = ais.base_rate_visible_bias(train_data) if args.pt_base == "base-rate" else None
    common = dict(base_visible_bias=base, swap=args.swap)
    betas = tempering_ladder(args)
    if args.rule == "pt-fpcd":
        return tempered.bernoulli_rbm_pt_fpcd(
            args.chains,
            betas,
            args.k,
            fast_learning_rate=args.fast_lr,
            fast_decay=getattr(args, "fast_decay", 19 / 20),
            **common,
        )
    return tempered.bernoulli_rbm_pt_pcd(args.chains, betas, args.k, **common)
