"""Smoke test of bench/mnist_dbn.py (2-layer DBN, AIS on the top RBM, variational bound).

``main`` runs end to end on its synthetic data (no MNIST) with tiny sizes: with a
bottom RBM loaded from a file (and its figures from the JSON beside it, as for the
committed MNIST RBM) or trained with ``mnist_rbm500.train_rbm`` (slow variant), it trains
the top RBM with ``greedy_layerwise``, runs a short AIS and the Monte Carlo bound, and
must write the top RBM (.npz) and its JSON to the given directory with finite figures.
The figures of a real run are in BENCHMARKS.md; nothing statistical is asserted here.
"""

import json
import math

import jax
import numpy as np
import pytest

from bench import mnist_dbn, recipes
from numpyro_ebm.energies import bernoulli_rbm


@pytest.mark.parametrize(
    "bottom",
    [
        # ~10-30 s of CPU, most of it compilation; the library code it drives
        # (greedy_layerwise, DBN AIS and bound) has its own fast tests: slow
        pytest.param("loaded", marks=pytest.mark.slow),
        pytest.param("trained", marks=pytest.mark.slow),  # also the bottom's fit and AIS
    ],
)
def test_mnist_dbn_runs_on_synthetic_data_and_writes_its_results(tmp_path, bottom):
    if bottom == "loaded":
        params = bernoulli_rbm.init_params(jax.random.key(0), 16, 6, weight_scale=0.1)
        recipes.save_rbm(tmp_path / "bottom.npz", params)
        record = {"test_log_likelihood_ais": -10.5, "train_command": "a fixture"}
        (tmp_path / "bottom.json").write_text(json.dumps(record))
        bottom_args = ["--bottom", str(tmp_path / "bottom.npz")]
    else:
        bottom_args = ["--train-bottom", "--bottom-hidden", "6", "--bottom-epochs", "1"]
    argv = [
        "--data", "synthetic", "--synthetic-visible", "16", "--synthetic-train", "200",
        "--synthetic-test", "100", *bottom_args, "--top-init", "random", "--top-hidden", "5",
        "--hidden-activities", "probabilities", "--epochs", "2",
        "--batch-size", "20", "--chains", "20", "--ais-runs", "8", "--ais-temperatures", "50",
        "--bound-samples", "4", "--output-dir", str(tmp_path), "--name", "smoke", "--quiet",
    ]  # fmt: skip
    summary = mnist_dbn.main(argv)
    if bottom == "loaded":  # the bottom RBM's figures come from its JSON
        assert summary["bottom_figures_from"] == str(tmp_path / "bottom.json")
        assert summary["bottom_test_log_likelihood_ais"] == -10.5
    else:
        assert summary["bottom_figures_from"] == "AIS run here"
    written = json.loads((tmp_path / "smoke.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert written["command"].startswith("python -m bench.mnist_dbn --data synthetic")
    assert "cores" in written["machine"]
    for key in (
        "test_variational_bound", "train_variational_bound_first_10000",
        "top_log_partition_function", "top_ais_effective_sample_size",
        "bottom_test_log_likelihood_ais", "top_train_seconds", "top_train_cpu_seconds",
    ):  # fmt: skip
        assert isinstance(written[key], float) and math.isfinite(written[key]), key
    # a log-probability of 16 binary pixels lies in [-16 log 2 - slack, 0]
    assert -16 * math.log(2) - 5 < written["test_variational_bound"] < 0
    assert written["test_examples"] == 100 and written["ais_temperatures"] == 50
    history = written["top_history"]
    assert history["epoch"] == [1, 2]
    assert all(math.isfinite(r) for r in history["chain_rhat"])  # the copies rule's traces
    assert all(math.isfinite(g) for g in history["free_energy_gap"])
    with np.load(tmp_path / "smoke.npz") as top:
        assert top["W"].shape == (6, 5) and top["b"].shape == (6,) and top["c"].shape == (5,)
