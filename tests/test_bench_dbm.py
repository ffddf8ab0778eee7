"""Smoke test of bench/mnist_dbm.py (greedy pretraining, DBM training, AIS, bound, tightness).

``main`` runs end to end on its synthetic data (no MNIST) with tiny sizes and the new
options at once (centered DBM, FPCD or (slow) PT negative phase with fast weights, tolerance-stopped
damped mean field, the bound-vs-AIS tightness check) and must write the parameters and
a JSON with finite figures. Nothing statistical is asserted: a real run's figures are
in BENCHMARKS.md.
"""

import json
import math

import numpy as np
import pytest

from bench import mnist_dbm


@pytest.mark.parametrize(
    "negative_phase",
    [
        # ~30 s of CPU (pretraining, DBM fit, AIS and the tightness check all compile): slow,
        # like the older bench smoke tests; the options' library code has its own fast tests
        pytest.param(["--rule", "fpcd", "--fast-lr", "0.01"], marks=pytest.mark.slow),
        # parallel tempering compiles a second, larger step: slow
        pytest.param(
            ["--rule", "pt", "--pt-replicas", "3", "--fast-lr", "0.01"], marks=pytest.mark.slow
        ),
    ],
    ids=["fpcd", "pt"],
)
def test_mnist_dbm_runs_on_synthetic_data_with_the_new_options(tmp_path, negative_phase):
    argv = [
        "--data", "synthetic", "--synthetic-visible", "16", "--synthetic-train", "200",
        "--synthetic-test", "100", "--hidden1", "6", "--hidden2", "5", "--pretrain-epochs", "1",
        "--epochs", "2", "--batch-size", "20", "--chains", "10", *negative_phase,
        "--centered", "--hidden-offsets", "average",
        "--mf-iterations", "20", "--mf-tolerance", "1e-3", "--mf-damping", "0.2",
        "--ais-runs", "8", "--ais-temperatures", "50", "--tightness-images", "20",
        "--tightness-runs", "4", "--tightness-temperatures", "50", "--no-pretrained-eval",
        "--output-dir", str(tmp_path), "--name", "smoke", "--quiet",
    ]  # fmt: skip
    summary = mnist_dbm.main(argv)
    written = json.loads((tmp_path / "smoke.json").read_text())
    assert written == json.loads(json.dumps(summary))
    for key in (
        "test_variational_bound", "log_partition_function", "ais_effective_sample_size",
        "tightness_variational_bound", "tightness_ais_log_likelihood", "tightness_mean_gap",
    ):  # fmt: skip
        assert isinstance(written[key], float) and math.isfinite(written[key]), key
    assert -16 * math.log(2) - 5 < written["test_variational_bound"] < 0
    assert written["tightness_images"] == 20  # 2 of each of the ten classes
    history = written["history"]
    assert history["epoch"] == [1, 2]
    assert all(1 <= x <= 20 for x in history["mean_field_iterations"])
    if "pt" in negative_phase:
        assert all(0 <= x <= 1 for x in history["swap_rate"])
    with np.load(tmp_path / "smoke.npz") as params:
        assert params["W1"].shape == (16, 6) and params["W2"].shape == (6, 5)
