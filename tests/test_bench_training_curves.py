"""bench/training_curves.py on the committed 784-500 runs: milestones and the figure."""

import json

import numpy as np
import pytest

from bench import RESULTS, training_curves


def test_milestones_are_the_stored_history_and_the_figure_is_written(tmp_path):
    runs = [RESULTS / "mnist_rbm_784_500.json", RESULTS / "mnist_rbm_784_500_pt.json"]
    out = tmp_path / "curves.png"
    summary = training_curves.main([str(p) for p in runs] + ["--out", str(out)])
    history = json.loads(runs[1].read_text())["history"]
    final_rhat = np.mean(history["chain_rhat"][-5:])
    assert summary["mnist_rbm_784_500_pt"]["chain_rhat"][-1] == pytest.approx(final_rhat)
    assert "swap_rate" not in summary["mnist_rbm_784_500"]  # not a tempered run
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_file_without_history_is_a_clear_error(tmp_path):
    path = tmp_path / "figures.json"
    path.write_text('{"test_log_likelihood_ais": -85.0}')
    with pytest.raises(ValueError, match="has no per-epoch 'history'"):
        training_curves.load_history(path)
