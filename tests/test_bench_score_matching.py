"""Smoke tests of bench/score_matching_compare.py (score matching vs CD vs PCD).

The script's ``main`` runs end to end with tiny sizes (one or two epochs, a coarse
quadrature grid, a handful of chains) and must write, per problem, a JSON whose
documented keys hold finite numbers, the same budget for every method, and the
reference values. The figures of a real run are in BENCHMARKS.md; nothing
statistical is asserted here.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import score_matching_compare

METHOD_KEYS = (
    "test_log_likelihood", "train_log_likelihood", "log_partition_function",
    "test_score_matching_objective", "train_seconds", "train_cpu_seconds",
    "seconds_per_epoch_median",
)  # fmt: skip
COST_KEYS = ("theta_gradients", "gradient_evaluations")


def _finite(mapping, keys):
    for key in keys:
        value = mapping[key]
        assert isinstance(value, int | float) and math.isfinite(value), (key, value)


def _check(tmp_path, problem, summary, expected_methods):
    written = json.loads((tmp_path / f"score_matching_compare_{problem}.json").read_text())
    assert written == json.loads(json.dumps(summary[problem]))
    assert written["problem"] == problem
    assert set(written["methods"]) == set(expected_methods)
    epochs = written["budget"]["epochs"]
    for name, info in written["methods"].items():
        _finite(info, METHOD_KEYS)
        _finite(info["cost_per_update"], COST_KEYS)
        assert info["updates"] == written["budget"]["updates"], name
        assert info["gradient_evaluations_total"] == (
            info["cost_per_update"]["gradient_evaluations"] * info["updates"]
        )
        curve = info["curve"]
        assert curve["epoch"] == list(range(1, epochs + 1))
        assert len(curve["test_log_likelihood"]) == epochs
        assert all(math.isfinite(v) for v in curve["test_log_likelihood"])
        for key in ("cumulative_train_seconds", "cumulative_train_seconds_without_compilation"):
            seconds = curve[key]
            assert len(seconds) == epochs
            assert np.all(np.diff(seconds) >= 0), key
        if name.startswith("sm_"):
            assert math.isfinite(info["final_epoch_score_matching_loss"])
            assert info["cost_per_update"]["x_gradients"] == written["budget"]["batch_size"]
    assert written["command"].startswith("python -m bench.score_matching_compare --problem")
    assert "cores" in written["machine"]
    return written


def test_gbrbm_exact_log_likelihood_matches_quadrature():
    """The script's exact GB-RBM log-likelihood (enumerated hidden layer, Gaussians in
    closed form) agrees with brute-force 2-D quadrature of exp(-F) for a 2-3 teacher."""
    teacher = score_matching_compare.make_teacher(jax.random.key(3), 2, 3, 1.0)
    step, half = 0.02, 12.0
    axis = -half + step * (np.arange(int(2 * half / step)) + 0.5)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    grid = np.stack([xx.ravel(), yy.ravel()], -1)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), teacher)
        free = np.asarray(score_matching_compare.gaussian_rbm.free_energy(p64, jnp.asarray(grid)))
    log_z_quadrature = np.logaddexp.reduce(-free) + 2 * np.log(step)
    points = np.array([[0.3, -0.7], [1.5, 2.0]])
    mean_ll, log_z = score_matching_compare.gbrbm_log_likelihood(teacher, points)
    assert log_z == pytest.approx(log_z_quadrature, abs=1e-6)
    with jax.enable_x64(True):
        f_points = score_matching_compare.gaussian_rbm.free_energy(p64, jnp.asarray(points))
    assert mean_ll == pytest.approx(
        float(np.mean(-np.asarray(f_points))) - log_z_quadrature, abs=1e-6
    )


@pytest.mark.slow  # a smoke run of the benchmark script (~15-25 s, most of it compilation)
@pytest.mark.standard_promotion  # optax.adam
def test_gbrbm_runs_and_writes_json(tmp_path):
    argv = [
        "--problem", "gbrbm", "--epochs", "1", "--n-train", "100", "--n-test", "100",
        "--batch-size", "50", "--gbrbm-visible", "4", "--gbrbm-hidden", "3", "--chains", "10",
        "--sm-variants", "exact", "--output-dir", str(tmp_path), "--quiet", "--no-plot",
    ]  # fmt: skip
    summary = score_matching_compare.main(argv)
    written = _check(tmp_path, "gbrbm", summary, ["sm_exact", "cd", "pcd"])
    ref = written["reference"]
    _finite(ref, list(ref))
    # exact SM on D = 4: one score and 4 Hessian-vector products per example
    assert written["methods"]["sm_exact"]["cost_per_update"]["hessian_vector_products"] == 200
    # the hidden layer of 3 units has at most log 8 nats of entropy
    assert 0 <= ref["teacher_hidden_entropy_nats"] <= math.log(8) + 1e-9


@pytest.mark.slow  # a smoke run of the benchmark script (~30 s)
@pytest.mark.standard_promotion  # optax.adam
def test_four_squares_runs_and_writes_json(tmp_path):
    argv = [
        "--problem", "four_squares", "--epochs", "2", "--n-train", "200", "--n-test", "300",
        "--batch-size", "50", "--hidden", "8,8", "--chains", "20", "--k", "2",
        "--grid-step", "0.05", "--output-dir", str(tmp_path), "--quiet",
    ]  # fmt: skip
    summary = score_matching_compare.main(argv)
    written = _check(tmp_path, "four_squares", summary, ["sm_exact", "cd", "pcd"])
    assert (tmp_path / "score_matching_compare_four_squares.png").stat().st_size > 0
    assert written["reference"]["true_test_log_likelihood"] == pytest.approx(-math.log(4))
    for info in written["methods"].values():
        assert 0 <= info["mass_in_squares"] <= 1 + 1e-6
        assert sum(info["square_masses"]) == pytest.approx(info["mass_in_squares"], abs=1e-3)


@pytest.mark.slow  # a smoke run of the benchmark script (~30 s)
@pytest.mark.standard_promotion  # optax.adam
def test_clusters24_runs_and_writes_json(tmp_path):
    argv = [
        "--problem", "clusters24", "--epochs", "2", "--n-train", "240", "--n-test", "300",
        "--batch-size", "60", "--chains", "20", "--grid-step", "0.05",
        "--output-dir", str(tmp_path), "--quiet", "--no-plot",
    ]  # fmt: skip
    summary = score_matching_compare.main(argv)
    written = _check(tmp_path, "clusters24", summary, ["sm_exact", "cd", "pcd"])
    ref = written["reference"]
    # the exactly gap-filled model loses log(25/24) nats on data from the 24 clusters
    assert ref["gap_filled_test_log_likelihood"] == pytest.approx(
        ref["true_test_log_likelihood"] - math.log(25 / 24), abs=1e-2
    )
    for info in written["methods"].values():
        _finite(info, ["missing_cell_mass", "box_boundary_term"])
        assert 0 <= info["missing_cell_mass"] <= 1
        assert len(info["experts"]["mean"]) == 15
