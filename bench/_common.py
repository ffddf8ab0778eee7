"""Shared helpers for the benchmark scripts (timing, machine description, MNIST path, 2-D quadrature,
the JSON summary and the command that wrote it, figures)."""

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

_AVX512_SHOWN = ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16")


def cpu_model_and_vector_flags() -> tuple[str, str]:
    """The CPU model and its widest vector extensions (``/proc/cpuinfo``): e.g.
    ``("AMD EPYC", "AVX-512 (avx512f avx512bw ...)")`` or ``"no AVX-512; AVX2 FMA"``."""
    cpu, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown CPU":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    avx512 = [f for f in _AVX512_SHOWN if f in flags]
    if avx512:
        vector = "AVX-512 (" + " ".join(avx512) + ")"
    elif "avx2" in flags:
        vector = "no AVX-512; AVX2" + (" FMA" if "fma" in flags else "")
    else:
        vector = "no AVX-512, no AVX2" if flags else "vector flags unknown"
    return cpu, vector


def machine_description() -> str:
    """Cores, CPU model, AVX-512 or not, OS, Python, JAX and jaxlib versions, load average."""
    import jaxlib

    cpu, vector = cpu_model_and_vector_flags()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores, {cpu}, {vector}, {platform.system()}, "
        f"Python {platform.python_version()}, jax {jax.__version__}, jaxlib {jaxlib.__version__}, "
        f"1-min load average {load:.1f}"
    )


def scanned_steps(step, n_steps: int):
    """``run(key, carry, params) -> carry``: ``n_steps`` of ``step(key, carry, params)`` in
    one ``lax.scan`` inside one ``jax.jit``, a key split per step (how the speed benches
    time a kernel, with the parameters passed at call time)."""

    @jax.jit
    def run(key, carry, params):
        def body(carry, key):
            return step(key, carry, params), None

        return jax.lax.scan(body, carry, jax.random.split(key, n_steps))[0]

    return run


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
# Figures of the MNIST scripts (mnist_rbm500.py, mnist_dbn.py, mnist_dbm.py)
# ----------------------------------------------------------------------------------------


def log_z_figures(estimate, prefix: str = "", ess_name: str = "ais_effective_sample_size"):
    """``log Z-hat``, its ±3σ interval and the ESS of an AIS estimate, keys prefixed."""
    return {
        f"{prefix}log_partition_function": float(estimate.log_z),
        f"{prefix}log_partition_function_interval_3sigma": [float(x) for x in estimate.interval],
        f"{prefix}{ess_name}": float(estimate.effective_sample_size),
    }


def interval_figures(name: str, estimate):
    """``{name: mean, name_interval_3sigma: [low, high]}`` of a log-likelihood or bound."""
    return {
        name: float(estimate.mean),
        f"{name}_interval_3sigma": [float(x) for x in estimate.interval],
    }


# ----------------------------------------------------------------------------------------
# Scaffolding of the 2-D toy scripts (four_squares.py, clusters24.py)
# ----------------------------------------------------------------------------------------


def add_toy_arguments(
    parser,
    *,
    name: str,
    output_dir,
    n_train: int,
    n_test: int,
    epochs: int,
    lr: float,
    final_lr_fraction: float,
):
    """The data, schedule, quadrature and output arguments both toy scripts share."""
    parser.add_argument("--n-train", type=int, default=n_train)
    parser.add_argument("--n-test", type=int, default=n_test)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=lr, help="initial Adam learning rate")
    parser.add_argument(
        "--final-lr-fraction",
        type=float,
        default=final_lr_fraction,
        help="cosine decay of the learning rate to this fraction (1: constant)",
    )
    parser.add_argument("--grid-step", type=float, default=0.01, help="quadrature grid step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=name, help="output file stem")
    parser.add_argument("--output-dir", default=str(output_dir))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cosine_adam(args):
    """Adam with a cosine decay from ``--lr`` to ``--final-lr-fraction`` of it over the run."""
    import optax

    steps = args.epochs * (args.n_train // args.batch_size)
    schedule = optax.cosine_decay_schedule(args.lr, max(steps, 1), alpha=args.final_lr_fraction)
    return optax.adam(schedule)


def timed_toy_fit(args, rng_key, params, train, rule, energy_fn, metrics):
    """``fit`` with :func:`cosine_adam` and the toy scripts' arguments; ``(result, seconds)``."""
    from numpyro_ebm.learning import fit

    started = time.perf_counter()
    result = fit(
        rng_key,
        params,
        train,
        rule,
        cosine_adam(args),
        epochs=args.epochs,
        batch_size=args.batch_size,
        energy_fn=energy_fn,
        metrics=metrics,
        progress=not args.quiet,
        config=vars(args),
    )
    return result, time.perf_counter() - started


def command_line(script: str, argv=None, *, flags: list[str] | None = None) -> str:
    """The command that ran the module ``bench.<script>``: ``python -m bench.<script>``
    and ``flags`` (already quoted), else ``argv``, else the process's arguments."""
    import sys

    if flags is None:
        flags = list(argv if argv is not None else sys.argv[1:])
    return " ".join([f"python -m bench.{script}", *flags])


def write_summary(path, summary: dict, *, indent: int = 2, end: str = "") -> Path:
    """Write ``summary`` as JSON to ``path`` (its directory created if missing) and
    return the path. ``indent`` and ``end`` keep each script's committed layout."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=indent) + end)
    return path


def summary_path(args) -> Path:
    """``<--output-dir>/<--name>.json``, where the toy scripts write their summary."""
    return Path(args.output_dir) / f"{args.name}.json"


def pyplot():
    """``matplotlib.pyplot`` on the off-screen Agg backend (the scripts only save PNGs;
    imported on first use, so a run without figures never loads matplotlib)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def density_figure(
    path,
    axis,
    log_density,
    panels,
    *,
    title_prefix: str,
    colorbar_label: str,
    title: str,
    alpha: float,
    clip_to_grid: bool = False,
    decorate=None,
):
    """Two panels (or more) of a 2-D log density on a grid with points over it, saved as PNG.

    ``panels`` is ``[(points, label), ...]``; ``log_density[i, j]`` is at
    ``(axis[i], axis[j])``; ``decorate(axes)`` draws what a script adds (squares, experts).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 5), constrained_layout=True)
    extent = (axis[0], axis[-1], axis[0], axis[-1])
    for ax, (points, label) in zip(axes, panels, strict=True):
        im = ax.imshow(log_density.T, origin="lower", extent=extent, cmap="viridis")
        ax.scatter(points[:, 0], points[:, 1], s=1.5, c="tab:red", alpha=alpha)
        ax.set_title(f"{title_prefix} and {label}")
        ax.set_aspect("equal")
        if clip_to_grid:
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
    if decorate is not None:
        decorate(axes)
    fig.colorbar(im, ax=axes, shrink=0.8, label=colorbar_label)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def tempered_rbm_rule(args, train_data, **options):
    """The closed-form Bernoulli-RBM rule of ``args.rule`` (``pcd``, ``fpcd``, ``pt-pcd``,
    ``pt-fpcd``) from the model registry, with ``options`` of
    :func:`numpyro_ebm.registry.build_rule` (e.g. ``centering``)."""
    from numpyro_ebm import registry
    from numpyro_ebm.evaluation import ais

    tempering = args.rule.startswith("pt-")
    base = None
    if tempering and args.pt_base == "base-rate":
        base = ais.base_rate_visible_bias(train_data)
    return registry.build_rule(
        "bernoulli-rbm",
        args.rule,
        n_chains=args.chains,
        k=args.k,
        fast_learning_rate=getattr(args, "fast_lr", 0.02),
        fast_decay=getattr(args, "fast_decay", 19 / 20),
        inverse_temperatures=tempering_ladder(args) if tempering else None,
        base_visible_bias=base,
        swap=getattr(args, "swap", "deo"),
        **options,
    )
