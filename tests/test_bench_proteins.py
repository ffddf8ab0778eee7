"""Smoke test of bench/proteins.py on a tiny family the test writes (no real data needed).

``main`` must run end to end with tiny sizes and write its JSON with finite figures; the
figures of a real run are in BENCHMARKS.md. Nothing statistical is asserted here.
"""

import json
import math

import numpy as np
import pytest

from bench import proteins
from numpyro_ebm.datasets import fasta


@pytest.mark.slow  # trains three small models (~30 s)
@pytest.mark.standard_promotion  # optax.adam
def test_proteins_bench_runs_and_writes_json(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 21, (120, 5))
    codes[:, 1] = codes[:, 0]  # one coupled pair
    fasta.write_fasta(tmp_path / "Lattice_Proteins_MSA.fasta", codes)
    np.savetxt(tmp_path / "Lattice_Proteins_pnat.txt", rng.random(120))
    out = tmp_path / "results"
    argv = [
        "--data-dir", str(tmp_path), "--families", "lattice", "--epochs", "2",
        "--hidden", "3", "--chains", "16", "--batch-size", "20", "--plm-epochs", "1",
        "--out-dir", str(out),
    ]  # fmt: skip
    proteins.main(argv)
    result = json.loads((out / "proteins_lattice.json").read_text())
    assert result["split"]["n_test"] == 24 and result["split"]["seed"] == 0
    for value in (
        result["independent_site"]["test_log_likelihood"],
        result["potts_rbm"]["test_log_likelihood"],
        result["potts_rbm"]["log_z"],
        result["potts_rbm"]["spearman_pnat"],
        result["potts_pseudo_likelihood"]["test_pseudo_log_likelihood"],
    ):
        assert isinstance(value, float) and math.isfinite(value)
    test_index = np.load(out / "proteins_lattice_split.npz")["test_index"]
    assert len(test_index) == 24
