"""bench/sampler_shootout.py: the exact answers it relies on, and a smoke run.

The transfer-matrix moments (the exact answer for the 5x5 lattice) are checked against
enumeration on a small lattice with inhomogeneous couplings and fields, where both are
exact to rounding (fast). The smoke run (slow) runs ``main`` on a tiny budget on one
binary and one continuous target with a PT row each and checks what it writes; the
figures of a real run are in BENCHMARKS.md and docs/sampler_shootout.md; nothing
statistical is asserted here.
"""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from bench import sampler_shootout
from numpyro_ebm import diagnostics
from numpyro_ebm.energies import lattice_ising


def test_transfer_matrix_moments_match_enumeration():
    rng = np.random.default_rng(0)
    H, W = 3, 4
    params = lattice_ising.LatticeIsingParams(
        jnp.asarray(0.5 + 0.3 * rng.standard_normal((H, W - 1)), jnp.float32),
        jnp.asarray(0.5 + 0.3 * rng.standard_normal((H - 1, W)), jnp.float32),
        jnp.asarray(0.3 * rng.standard_normal((H, W)), jnp.float32),
    )
    exact = diagnostics.enumeration_moments(
        sampler_shootout.lattice_energy_fn((H, W)), params, H * W
    )
    transfer = sampler_shootout.transfer_matrix_moments(params)
    assert transfer == pytest.approx(exact, rel=1e-10, abs=1e-10)


@pytest.mark.slow  # a smoke run of the script (~1 min of CPU, most of it compiling; 3-4 min loaded)
def test_quick_run_writes_table_json_and_figure(tmp_path):
    samplers = ["block Gibbs", "PT over block Gibbs", "Gibbs with gradients", "HMC", "PT over HMC"]
    argv = ["--quick", "--targets", "ising4_hot", "four_squares_poe", "--output-dir", str(tmp_path)]
    result = sampler_shootout.main(argv + ["--samplers", *samplers])
    written = json.loads((tmp_path / "sampler_shootout.json").read_text())
    assert written["command"].startswith("python -m bench.sampler_shootout --quick")
    rows = written["rows"]
    assert [(r["target"], r["sampler"]) for r in rows] == [
        ("ising4_hot", "block Gibbs"),
        ("ising4_hot", "PT over block Gibbs"),
        ("ising4_hot", "Gibbs with gradients"),
        ("four_squares_poe", "HMC"),
        ("four_squares_poe", "PT over HMC"),
    ]
    assert len(result["rows"]) == len(rows)
    for row in rows:
        for column in ("ess_bulk_per_s", "ess_bulk_per_eval", "r_hat", "error_energy"):
            assert math.isfinite(row[column]) and row[column] >= 0, (row["sampler"], column)
        assert 40 <= row["n_draws"] <= 200
    for row in (rows[1], rows[4]):
        assert 0 <= row["swap_rate_min"] <= row["swap_rate_mean"] <= 1
        assert len(row["swap_rates"]) == row["n_replicas"] - 1
        assert row["round_trips_per_chain"] >= 0
    table = (tmp_path / "sampler_shootout.md").read_text()
    assert table.count("\n| ising4_hot |") == 3 and "PT over HMC" in table
    assert (tmp_path / "sampler_shootout.png").stat().st_size > 0
    exact = written["targets"]["ising4_hot"]["exact_moments"]
    assert exact["mean_activation"] == pytest.approx(0.5, abs=1e-12)  # no field: symmetric
