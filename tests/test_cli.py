"""The main job (``numpyro-ebm demo``) with tiny arguments."""

import json

import numpy as np
import pytest

from numpyro_ebm import cli
from numpyro_ebm.learning import load_checkpoint


@pytest.mark.standard_promotion  # optax.adam
def test_demo_trains_reports_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    status = cli.main(
        [
            "demo",
            "--output",
            str(out),
            "--epochs",
            "3",
            "--hidden",
            "8",
            "--sample-sweeps",
            "20",
            "--no-progress",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "test log-likelihood (exact)" in printed
    summary = json.loads((out / "summary.json").read_text())
    # three epochs of PCD already beat the independent-pixel model on held-out digits
    assert (
        summary["test_log_likelihood"]
        > summary["independent_pixel_baseline_test_log_likelihood"] - 0.5
    )
    for name in ("samples.png", "filters.png", "training_curves.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    leaves, meta = load_checkpoint(out / "checkpoint")
    assert meta["epoch"] == 3 and meta["config"]["n_hidden"] == 8
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves if leaf.dtype.kind == "f")
