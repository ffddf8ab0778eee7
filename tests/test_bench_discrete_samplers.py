"""bench/discrete_samplers.py: the chunked enumeration is exact, and a small run writes its outputs."""

import itertools
import json

import numpy as np
import pytest

from bench import discrete_samplers


@pytest.mark.slow
def test_chunked_enumeration_matches_direct_enumeration():
    """E[s] of the periodic 3x3 model in chunks of 2^4 states equals the direct sum over
    all 2^9 (float64, numpy), and the lattice has 4 neighbours a site."""
    params = discrete_samplers.ising_params(3, 0.1, 0.2)
    A = discrete_samplers.torus_adjacency(3)
    np.testing.assert_array_equal(A.sum(1), 4.0)
    spins = np.array(list(itertools.product([-1.0, 1.0], repeat=9)))

    def mean(log_w):
        w = np.exp(log_w - log_w.max())
        return (w[:, None] * spins).sum(0) / w.sum()

    chunked = discrete_samplers.exact_spin_mean(params, chunk_bits=4)
    # exact for the float32 parameters it was given
    J, h = (np.asarray(a, np.float64) for a in params)
    np.testing.assert_allclose(chunked, mean(0.5 * (spins @ J * spins).sum(1) + spins @ h), 1e-10)
    # and the paper's log p = s^T (0.1 A) s + 0.2 . s, up to float32 rounding of 0.1, 0.2
    paper = mean((spins @ (0.1 * A) * spins).sum(1) + 0.2 * spins.sum(1))
    np.testing.assert_allclose(chunked, paper, rtol=1e-6)


@pytest.mark.slow
def test_small_ising_run_writes_json_and_figure(tmp_path):
    argv = ["--size", "4", "--steps", "200", "--chains", "2", "--record-every", "100"]
    result = discrete_samplers.main(argv + ["--repeats", "1", "--output-dir", str(tmp_path)])
    names = ["Gibbs", "GWG", "DMALA", "DULA", "LB", "PAS", "Hamming ball"]
    assert list(result["samplers"]) == names + [f"PT over {result['best_single']}"]
    written = json.loads((tmp_path / "discrete_samplers_ising.json").read_text())
    assert written["command"].startswith("python -m bench.discrete_samplers --size 4")
    for row in written["samplers"].values():
        assert row["steps"] == [100, 200] and np.isfinite(row["log_rmse"]).all()
    assert (tmp_path / "discrete_samplers_ising.png").stat().st_size > 10_000
