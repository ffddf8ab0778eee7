"""Shared helpers for the benchmark scripts (timing, machine description, MNIST path)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import jax


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
