"""Smoke tests of the toy quality benchmarks (bench/four_squares.py, bench/clusters24.py).

Each script's ``main`` runs end to end with tiny sizes (a couple of epochs, coarse
quadrature, a few short chains) and must write its JSON (and PNG) into the given
output directory, with the documented keys holding finite numbers in range. The
figures of a real run are in BENCHMARKS.md; nothing statistical is asserted here.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import clusters24, four_squares
from numpyro_ebm.energies import mlp


def _finite(summary, keys):
    for key in keys:
        value = summary[key]
        assert isinstance(value, float) and math.isfinite(value), (key, value)


@pytest.mark.slow  # a smoke run of the benchmark script (~25 s)
@pytest.mark.standard_promotion  # optax.adam
def test_four_squares_runs_and_writes_json(tmp_path):
    argv = [
        "--epochs", "2", "--n-train", "200", "--n-test", "300", "--batch-size", "50",
        "--hidden", "8,8", "--leapfrog", "3", "--grid-step", "0.05",
        "--sample-chains", "16", "--sample-steps", "3",
        "--extra", "replay", "--extra-sampler", "rw", "--extra-chains", "20",
        "--extra-k", "1", "--replay-buffer", "100",
        "--output-dir", str(tmp_path), "--quiet",
    ]  # fmt: skip
    summary = four_squares.main(argv)
    written = json.loads((tmp_path / "four_squares.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert (tmp_path / "four_squares.png").stat().st_size > 0
    _finite(
        written,
        [
            "test_log_likelihood", "train_log_likelihood", "mass_in_squares",
            "log_partition_function", "outer_band_mass", "sample_fraction_in_squares",
            "sample_acceptance_rate_random_walk", "sample_acceptance_rate_hmc",
            "final_training_acceptance_rate",
        ],
    )  # fmt: skip
    assert written["true_log_likelihood"] == pytest.approx(-math.log(4))
    # a log-likelihood on a density over a 6 x 6 box: at most -log(area of the squares) + slack
    assert written["test_log_likelihood"] < 0
    for key in ("mass_in_squares", "outer_band_mass", "sample_fraction_in_squares"):
        assert 0 <= written[key] <= 1 + 1e-6
    assert len(written["mass_in_squares_coarse_history"]) == 2
    assert written["command"].startswith("python -m bench.four_squares --epochs 2")
    assert "cores" in written["machine"]


def test_four_squares_energy_supports():
    """The two documented ways of making the MLP energy normalisable."""
    params = mlp.init_params(jax.random.key(0), (2, 8))
    x = jnp.array([[0.2, -1.0], [2.9, 2.9], [3.5, 0.0], [-4.0, 7.0]], jnp.float32)
    base = mlp.energy(params, 4.0 * x)
    box = four_squares.make_energy("box", 3.0, 0.05, 4.0)(params, x)
    np.testing.assert_allclose(box[:2], base[:2], rtol=1e-6)
    assert np.all(np.isposinf(np.asarray(box[2:])))  # +inf outside [-3, 3]^2
    confined = four_squares.make_energy("confine", 3.0, 0.05, 4.0)(params, x)
    np.testing.assert_allclose(
        confined, base + 0.5 * 0.05 * jnp.sum(jnp.square(x), axis=-1), rtol=1e-5
    )


@pytest.mark.slow  # a smoke run of the benchmark script (~20 s)
@pytest.mark.standard_promotion  # optax.adam
def test_clusters24_runs_and_writes_json(tmp_path):
    argv = [
        "--epochs", "2", "--n-train", "240", "--n-test", "480", "--batch-size", "60",
        "--grid-step", "0.05", "--fantasy-chains", "200", "--fantasy-sweeps", "5",
        "--output-dir", str(tmp_path), "--quiet",
    ]  # fmt: skip
    summary = clusters24.main(argv)
    written = json.loads((tmp_path / "clusters24.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert (tmp_path / "clusters24.png").stat().st_size > 0
    _finite(
        written,
        [
            "test_log_likelihood", "train_log_likelihood", "true_test_log_likelihood",
            "gap_filled_test_log_likelihood", "log_partition_function", "missing_cell_mass",
            "present_cell_mass_mean", "missing_core_mass", "present_core_mass_mean",
            "fantasy_missing_cell_fraction", "fantasy_missing_cell_fraction_se",
            "fantasy_present_cell_fraction_mean", "fantasy_vs_quadrature_cell_tv",
        ],
    )  # fmt: skip
    cells = written["mass_per_cell"]
    assert len(cells) == 5 and all(len(row) == 5 for row in cells)
    # the 25 cells tile the box: their masses sum to one (rounded to 5 decimals each)
    assert sum(map(sum, cells)) == pytest.approx(1.0, abs=1e-3)
    assert written["missing_cell_mass"] == pytest.approx(cells[2][2], abs=1e-5)
    # the exactly gap-filled model loses log(25/24) nats on data from the 24 clusters
    assert written["gap_filled_test_log_likelihood"] == pytest.approx(
        written["true_test_log_likelihood"] - math.log(25 / 24), abs=1e-3
    )
    assert len(written["experts"]["mean"]) == 15
