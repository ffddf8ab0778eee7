"""examples/bayesian_denoising.py runs with tiny arguments and writes its figures.

With 30 warm-up and 30 draws of 2 chains the posterior is not converged, so the checks are
of the run itself (sites, ranges, the check_model report, the ArviZ summary, the plots),
not of its accuracy; tests/infer/test_exchange.py checks the sampler against exact
posteriors.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from numpyro_ebm import datasets

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bayesian_denoising.py"


@pytest.fixture(autouse=True)
def _embedded_digits(monkeypatch):
    monkeypatch.delenv(datasets.MNIST_ENV_VAR, raising=False)


@pytest.mark.slow  # about 2 minutes of compilation and sampling on a loaded 2-core machine
def test_bayesian_denoising_example(tmp_path):
    spec = importlib.util.spec_from_file_location("bayesian_denoising", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(
        ["--warmup", "30", "--samples", "30", "--chains", "2", "--inner-steps", "2",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert results["image_shape"] == (16, 16)  # the 8x8 digit upscaled twice
    # the Ising prior's log Z depends on the inferred coupling
    assert results["check_model"] == {"x": ("coupling",)}
    assert 0 < results["coupling_mean"] < module.COUPLING_MAX
    assert 0 < results["noise_mean"] < module.NOISE_MAX
    assert set(results["r_hat"]) == {"coupling", "noise"}
    assert all(np.isfinite(list(results["r_hat"].values())))
    for key in ("noisy_error", "fixed_coupling_error", "bayesian_error"):
        assert 0 <= results[key] <= 1
    assert 0 < results["accept_prob"] < 1
    assert results["coalescence_time_max"] == 0  # double_mh runs no CFTP
    assert sorted(Path(p).name for p in results["plots"]) == [
        "bayesian_denoising.png",
        "coupling_trace.png",
    ]
    for path in results["plots"]:
        assert Path(path).stat().st_size > 1000
