"""Smoke test of bench/sklearn_digits.py (the parity benchmark against scikit-learn's
BernoulliRBM) with tiny arguments; the figures of a real run are in BENCHMARKS.md."""

import math

import pytest

pytest.importorskip("sklearn")

from bench import sklearn_digits


@pytest.mark.slow  # fresh processes, RBM fits and logistic regressions on the digits (~40 s)
def test_sklearn_digits_runs_and_writes_json(tmp_path):
    out = tmp_path / "digits.json"
    summary = sklearn_digits.main(
        ["--seeds", "2", "--fresh", "1", "--n-iter", "1", "--n-components", "8"]
        + ["--max-train", "300", "--json", str(out)]
    )
    assert out.exists()
    for name in ("scikit-learn", "numpyro_ebm"):
        row = summary["rows"][name]
        assert 0.0 <= row["accuracy_mean"] <= 1.0
        assert math.isfinite(row["rbm_fit_s_median"]) and math.isfinite(row["rbm_fit_cpu_s_median"])
        assert math.isfinite(summary["fresh"][name]["first_fit_s_median"])
    # one compiled epoch: the first fit of a fresh process compiles once, and a later
    # process loads the executable the first one stored instead of compiling
    compiles = summary["fresh"]["numpyro_ebm"]["runs"][0]["compile_events"]
    assert compiles["backend_compile_duration"]["count"] == 1
    stored = summary["fresh"]["numpyro_ebm, stored executable"]["runs"][0]["compile_events"]
    assert "backend_compile_duration" not in stored
    assert math.isfinite(summary["speedup"]["first_fit_stored_wall"])
