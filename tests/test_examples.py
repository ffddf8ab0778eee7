"""Every script in examples/ runs with tiny arguments and its numbers agree with the exact answers it prints."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_test():
    # each example is run with tiny arguments by a test in this file, in
    # tests/test_examples_numpyro.py or in tests/test_compare_samplers.py
    tested = {
        "ising_lattice",
        "gbrbm_hmc_within_gibbs",
        "ising_denoising",
        "missing_inputs",
        "anomaly_detection",
        "rbm_features_classifier",
        "compare_samplers",
        "bayesian_denoising",  # tests/infer/test_bayesian_denoising_example.py
    }
    assert {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")} == tested


def test_ising_lattice_example():
    results = _load("ising_lattice").main(
        ["--size", "8", "--chains", "2000", "--sweeps", "100", "--couplings", "0.2", "0.6"]
    )
    for row in results["exact_check"]:
        # final states of 2,000 independent chains: 5 standard errors (false-failure rate < 1e-5 per check)
        assert abs(row["energy"] - row["energy_exact"]) < 5 * row["energy_se"] + 1e-3
        assert (
            abs(row["magnetisation"] - row["magnetisation_exact"])
            < 5 * row["magnetisation_se"] + 1e-3
        )
    low, high = results["transition"]
    assert high["magnetisation"] > low["magnetisation"]


@pytest.mark.standard_promotion  # NumPyro's MCMC
def test_gbrbm_hmc_within_gibbs_example():
    results = _load("gbrbm_hmc_within_gibbs").main(["--warmup", "200", "--samples", "2000"])
    # 2,000 correlated draws over 8 cells: a total variation above 0.1 would be far outside MCMC error
    assert results["total_variation"] < 0.1
    np.testing.assert_allclose(results["mean_v"], results["exact_mean_v"], atol=0.3)
