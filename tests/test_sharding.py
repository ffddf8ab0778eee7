"""Device meshes: the same numbers on 1, 2 and 4 devices, and clear errors for bad meshes.

The checks need several devices, which XLA only fakes on the host when
``--xla_force_host_platform_device_count`` is set before JAX starts, so they
run in one subprocess (``tests/_multidevice.py``, every check in a single
JAX start) and the rest of the suite keeps its single device. Each check runs
a computation without a mesh and with meshes of 1, 2 and 4 devices.

Tolerances. Gibbs-type kernels (RBM and DBM sweeps, binary Gibbs) draw every
Bernoulli from the Threefry block of its global position, and their arithmetic
per chain does not depend on how many chains a device holds, so they are
required to be bit-identical. Sums over a sharded axis (the mean gradient over chains and examples) are
reduced in another order on another device count: parameters trained for a
few steps differ by about one float32 ulp (measured 6e-8 on values below 1);
1e-6 allows ten times that, and the energies in the history (of order 10)
get 1e-5. Continuous kernels (MALA) may differ in the last
bit where XLA fuses a per-device program differently (measured: 1 ulp of
float32 after 20 temperatures); 1e-5 absolute on values of order 1 leaves room
for a few ulp per step.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
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


# one worker runs every test here, so the module-scoped 4-device subprocess (the costliest
# fixture of the suite: 96 s of an idle 2-core run) runs once a session, not once in each
# xdist worker; it is `slow` to keep the default suite within its 9-minute budget
pytestmark = [pytest.mark.xdist_group("multidevice_subprocess"), pytest.mark.slow]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The checks' output, computed once per test session even with several xdist workers.

    Under xdist each worker would set a module fixture up on its own; the first one
    runs the subprocess under a file lock and leaves the output in the session's
    shared temporary directory for the others.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return json.loads(run_script(SCRIPT).strip().splitlines()[-1])
    shared = tmp_path_factory.getbasetemp().parent
    cache = shared / "multidevice_results.json"
    with open(shared / "multidevice_results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cache.exists():
            cache.write_text(run_script(SCRIPT).strip().splitlines()[-1])
    return json.loads(cache.read_text())


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


PARAMS_TOLERANCE = 1e-6  # a few float32 ulp of parameters below 1 (see the module docstring)
HISTORY_TOLERANCE = 1e-5  # energies of order 10


def _close_to_the_unsharded_run(comparison, label):
    assert comparison["chains"]["identical"], (label, comparison)
    assert comparison["params"]["max_abs_diff"] <= PARAMS_TOLERANCE, (label, comparison)
    assert comparison["history"]["max_abs_diff"] <= HISTORY_TOLERANCE, (label, comparison)


def test_fit_chains_are_bit_identical_and_parameters_agree_on_every_device_count(results):
    fitted = results["fit_all"]
    assert set(fitted["chain"]) == {"1", "2", "4"}
    for n, comparison in fitted["chain"].items():
        _close_to_the_unsharded_run(comparison, f"chain axis, {n} devices")
    # the sharded path on one device is the unsharded computation
    one = fitted["chain"]["1"]
    assert one["params"]["identical"] and one["history"]["identical"]
    assert fitted["chain"]["4"]["chains"]["split"]
    _close_to_the_unsharded_run(fitted["data"], "minibatches over data")
    _close_to_the_unsharded_run(fitted["both"], "2 x 2 (chain, data)")
    assert fitted["both"]["chains"]["split"]


def test_checkpoints_of_a_sharded_run_resume_on_another_device_count(results):
    resumed = results["fit_all"]["resume"]
    assert {n: r["epochs"] for n, r in resumed.items()} == {"2": 4, "none": 4, "4": 4}
    for n, comparison in resumed.items():
        _close_to_the_unsharded_run(comparison, f"resumed on {n}")
    # against four epochs on 4 devices in one go: the same device count resumes bit-exact
    assert resumed["4"]["vs_four_devices"]["identical"]


def test_a_weight_matrix_split_over_a_model_axis_keeps_its_layout(results):
    model = results["fit_all"]["model"]
    assert model["W_spec"] == "P(None, 'model')"
    assert model["chains"]["split"]
    _close_to_the_unsharded_run(model, "W over model")


def test_scaling_doc_example_runs_on_four_devices(results):
    out = results["docs_example"]
    assert "devices: 4" in out
    assert "chains split as P('chain',)" in out
    assert "same draws as on one device: True" in out
    found = re.search(r"AIS log Z (\S+) from 16 runs, exact (\S+)", out)
    log_z, exact = float(found.group(1)), float(found.group(2))
    # 16 runs of 500 temperatures from the data's base rates on a small, weakly trained RBM;
    # 0.5 nats is far outside AIS's spread here: this checks the sharded run is a valid AIS
    assert abs(log_z - exact) < 0.5


def test_fit_rejects_bad_meshes_before_training(results):
    errors = results["fit_bad_meshes"]
    assert errors["chains_not_divisible"].startswith(
        "ValueError: the number of persistent chains (6) is not divisible by the size 4"
    )
    assert errors["batch_not_divisible"].startswith(
        "ValueError: batch_size (16) is not divisible by the size 3 of mesh axis 'data'"
    )
    assert errors["unknown_axis"].startswith("ValueError: data_axis='batch' is not an axis")
    assert errors["no_known_axis"].startswith("ValueError: the mesh has neither a 'chain' nor")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_train_the_same_rbm_as_one(tmp_path):
    """jax.distributed on localhost: 2 processes, 1 CPU device each, CPU collectives (Gloo)."""
    port = str(_free_port())
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("XLA_FLAGS", None)
    processes = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "_multiprocess.py"), str(i), port, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
            cwd=ROOT,
        )
        for i in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=600)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]
    first, second, single = (
        np.load(tmp_path / f"{name}.npz") for name in ("process0", "process1", "single")
    )
    with first, second, single:
        names = first.files
        assert len(names) == 5  # W, b, c, chain visible, chain hidden
        for name in names:  # both processes gathered the same global state
            np.testing.assert_array_equal(first[name], second[name])
        for name in names[3:]:  # the chains: bit-identical to the single-process run
            np.testing.assert_array_equal(first[name], single[name])
        for name in names[:3]:  # parameters: gradient sums reduced across processes
            np.testing.assert_allclose(first[name], single[name], rtol=0, atol=PARAMS_TOLERANCE)
    assert (tmp_path / "history.txt").read_text() == "True"
    assert (tmp_path / "checkpoint" / "checkpoint.npz").exists()  # written by process 0


# --- parallel tempering composed with sharding (pt-shard branch; checks in _multidevice.py) ---


def test_parallel_tempering_splits_its_chains_not_its_ladder(results):
    """PT over RBM block Gibbs: bit-identical draws on 1, 2, 4 devices, the chain axis split
    (dimension 1 of the replica-first states), and a compiled step with no collective."""
    tempering = results["pt_chains"]
    # bit-identical on JAX 0.10 (Python 3.11); JAX 0.12 (3.12) rounds the float info
    # (hidden probabilities, swap acceptances) of the split run differently, by 1 ulp-scale
    for n, comparison in tempering["compare"].items():
        assert comparison["identical"] or comparison["max_abs_diff"] <= 1e-6, (n, comparison)
        assert comparison["split"] == (n != "1"), (n, comparison)
    for n in ("2", "4"):
        assert tempering["draw_specs"][n] == {
            "draws_visible": "P(None, None, 'chain')",  # (draw, replica, chain, visible)
            "draws_replica_index": "P(None, None, 'chain')",
            "draws_round_trips": "P(None, 'chain')",
            "info_swap_acceptance": "P(None, 'chain')",  # info: (draw, chain, pair)
            "info_hidden_probs": "P(None, None, 'chain')",
        }, n
    assert tempering["state_specs"] == {
        "replicas": {"visible": "P(None, 'chain')", "hidden": "P(None, 'chain')"},
        "replica_index": "P(None, 'chain')",
        "direction": "P(None, 'chain')",
        "round_trips": "P('chain',)",
        "step_count": "P()",
    }
    assert tempering["compare_samplers_state_visible"] == "P(None, 'chain')"
    # split over chains the swaps are device-local; split over the ladder they communicate
    assert tempering["step_collectives"] == {}
    assert tempering["ladder_split_collectives"], tempering
    step = tempering["step_vs_one_device"]
    assert step["identical"] or step["max_abs_diff"] <= 1e-6, step  # as above


def test_tempered_fit_does_not_depend_on_the_device_count(results):
    fitted = results["pt_fit"]
    assert set(fitted["rbm_pt_pcd"]) == {"1", "2", "4"}
    for n, comparison in fitted["rbm_pt_pcd"].items():
        _close_to_the_unsharded_run(comparison, f"bernoulli_rbm_pt_pcd, {n} devices")
    assert fitted["rbm_pt_pcd"]["4"]["chains"]["split"]
    _close_to_the_unsharded_run(fitted["pt_pcd"], "generic pt_pcd, 4 devices")
    assert fitted["specs"] == {
        "visible": "P(None, 'chain')",
        "replica_index": "P(None, 'chain')",
        "round_trips": "P('chain',)",
        "step_count": "P()",
        "inverse_temperatures": "P()",
    }
    assert {"swap_rate", "round_trips"} <= set(fitted["history_keys"])
    # the rule step as fit places it: no exchange between devices along the ladder (swaps);
    # the gradient's statistics over the chains cross devices (XLA chose all-gathers of the
    # small negative statistics and one all-reduce, measured: 6 and 1)
    collectives = fitted["rule_step_collectives"]
    assert "collective-permute" not in collectives and "all-to-all" not in collectives, fitted
    assert set(collectives) <= {"all-reduce", "all-gather"}, fitted


def test_scaling_doc_tempering_example_runs_on_four_devices(results):
    out = results["docs_example"]
    assert "PT draws (draw, replica, chain, visible) split as P(None, None, 'chain')" in out
    assert "same PT draws as on one device: True" in out
    assert "own state split as P(None, 'chain') P()" in out


# --- end parallel tempering composed with sharding ---
