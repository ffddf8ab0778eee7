"""Device meshes: the same numbers on 1, 2 and 4 devices, and clear errors for bad meshes.

The checks need several devices, which XLA only fakes on the host when
``--xla_force_host_platform_device_count`` is set before JAX starts, so they
run in one subprocess (``tests/_multidevice.py``, every check in a single
JAX start) and the rest of the suite keeps its single device. Each check runs
a computation without a mesh and with meshes of 1, 2 and 4 devices.

Tolerances. Gibbs-type kernels (RBM and DBM sweeps, binary Gibbs) draw every
Bernoulli from the Threefry block of its global position, and their arithmetic
per chain does not depend on how many chains a device holds, so they are
required to be bit-identical. Continuous kernels (MALA) may differ in the last
bit where XLA fuses a per-device program differently (measured: 1 ulp of
float32 after 20 temperatures); 1e-5 absolute on values of order 1 leaves room
for a few ulp per step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from numpyro_ebm import sharding

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "_multidevice.py"


def run_script(script: Path, *args: str, env: dict | None = None, timeout: float = 900) -> str:
    """Run ``script`` with this interpreter and the worktree on the path; return its stdout."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        cwd=ROOT,
    )
    if completed.returncode:
        raise AssertionError(
            f"{script.name} failed ({completed.returncode}):\n{completed.stderr[-4000:]}"
        )
    return completed.stdout


@pytest.fixture(scope="module")
def results():
    return json.loads(run_script(SCRIPT).strip().splitlines()[-1])


def _identical_on_every_device_count(result):
    assert set(result) == {"1", "2", "4"}
    for n, comparison in result.items():
        assert comparison["identical"], (n, comparison)
        assert comparison["split"] == (n != "1"), (n, comparison)


def test_rbm_and_dbm_annealing_do_not_depend_on_the_device_count(results):
    _identical_on_every_device_count(results["ais_rbm"])
    _identical_on_every_device_count(results["ais_dbm"])


def test_generic_annealing_matches_within_float_rounding(results):
    for n, comparison in results["ais_generic"].items():
        assert comparison["max_abs_diff"] <= 1e-5, comparison
        assert comparison["split"] == (n != "1"), (n, comparison)
    assert results["ais_generic"]["1"]["identical"]


def test_run_chains_and_compare_samplers_do_not_depend_on_the_device_count(results):
    _identical_on_every_device_count(results["chains"])


def test_bad_meshes_raise_clear_errors(results):
    errors = results["bad_meshes"]
    assert errors["not_divisible"].startswith("ValueError: n_runs (6) is not divisible")
    assert "size 4 of mesh axis 'chain'" in errors["not_divisible"]
    assert errors["unknown_axis"].startswith("ValueError: chain_axis='x' is not an axis")
    assert errors["no_chain_axis"].startswith("ValueError: the mesh has no axis named 'chain'")
    assert errors["not_a_mesh"].startswith("TypeError: mesh must be a jax.sharding.Mesh")


def test_axis_helpers_on_one_device():
    mesh = sharding.make_mesh(1, ("chain", "data"))
    assert sharding.resolve_axis(mesh, None, "data", "data_axis") == "data"
    assert sharding.resolve_axis(mesh, None, "model", "model_axis") is None
    with pytest.raises(ValueError, match="data_axis='batch' is not an axis"):
        sharding.resolve_axis(mesh, "batch", "data", "data_axis")
    with pytest.raises(ValueError, match=r"n_devices must be an integer in \[1, 1\]"):
        sharding.make_mesh(len(jax.devices()) + 1)
