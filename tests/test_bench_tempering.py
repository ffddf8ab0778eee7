"""Smoke tests of ``--rule pt-pcd`` / ``pt-fpcd`` in bench/mnist_rbm25.py and bench/mnist_rbm500.py.

Tiny arguments only: a fake MNIST file of 200 random images (written to a temporary
directory) for the 784-25 script end to end (exact log-likelihood with 3 hidden
units), and ``mnist_rbm500.train`` on 16-unit synthetic data. Nothing statistical is
asserted; the real runs' figures belong in BENCHMARKS.md.
"""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from bench import mnist_rbm25, mnist_rbm500

PT_FLAGS = ["--replicas", "3", "--min-beta", "0.1", "--swap", "deo"]


@pytest.mark.slow  # about 15 s of CPU, most of it compiling fit's epoch and the exact log Z
def test_mnist_rbm25_trains_with_parallel_tempering_and_writes_results(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "fake_mnist.npz",
        x_train=rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 200, dtype=np.uint8),
        x_test=rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 100, dtype=np.uint8),
    )
    argv = [
        "--mnist", str(tmp_path / "fake_mnist.npz"), "--hidden", "3", "--epochs", "1",
        "--batch-size", "50", "--chains", "10", "--rule", "pt-fpcd", *PT_FLAGS,
        "--results-dir", str(tmp_path), "--name", "smoke",
    ]  # fmt: skip
    mnist_rbm25.main(argv)
    summary = json.loads((tmp_path / "smoke.json").read_text())
    assert math.isfinite(summary["test_log_likelihood"])
    assert summary["config"]["rule"] == "pt-fpcd" and summary["config"]["replicas"] == 3
    with np.load(tmp_path / "smoke.npz") as arrays:
        assert arrays["W"].shape == (784, 3)


def test_mnist_rbm500_train_with_parallel_tempering_records_swaps():
    rng = np.random.default_rng(1)
    data = jnp.asarray(rng.random((120, 16)) < 0.3, jnp.float32)
    args = mnist_rbm500.build_parser().parse_args(
        ["--hidden", "4", "--epochs", "2", "--batch-size", "20", "--chains", "10",
         "--rule", "pt-pcd", "--centered", *PT_FLAGS, "--ladder", "linear",
         "--pt-base", "uniform"]
    )  # fmt: skip
    params, _, _, history = mnist_rbm500.train(args, data[:100], data[100:])
    assert params.W.shape == (16, 4)
    assert len(history["swap_rate"]) == 2 and all(0 <= r <= 1 for r in history["swap_rate"])
    assert "round_trips" in history
