"""The application examples (denoising, missing inputs, anomaly detection, RBM features) run
with tiny arguments on the embedded digits, their figures are sane, and they write their PNGs.

The "sane figure" checks are margins, not tight statistics: with the tiny settings below the
restoration error is a few percent against a 10% noise level, the imputation and the AUROCs
are far from their baselines. Where a check is statistical its false-failure rate is stated.
"""

import functools
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm import datasets

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@functools.cache  # one module object per example, so jitted functions stay compiled
def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _embedded_digits(monkeypatch):
    """The examples switch to MNIST when NUMPYRO_EBM_MNIST is set: these tests use the digits."""
    monkeypatch.delenv(datasets.MNIST_ENV_VAR, raising=False)


def _check_plots(paths, expected):
    assert sorted(Path(p).name for p in paths) == sorted(expected)
    for path in paths:
        assert Path(path).is_file() and Path(path).stat().st_size > 1000


@pytest.mark.standard_promotion  # NumPyro's MCMC (DiscreteGibbs) in the cross-check
def test_ising_denoising_example(tmp_path):
    results = _load("ising_denoising").main(
        [
            "--images", "4", "--noise", "0.1", "--chains", "4", "--burn-in", "30",
            "--sweeps", "60", "--anneal-sweeps", "60", "--check-chains", "2000",
            "--numpyro-samples", "1000", "--numpyro-chains", "1", "--check-size", "3",
            "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert results["image_shape"] == (32, 32)
    # NumPyro's log joint minus the posterior Ising energy is constant (float64 rounding)
    assert results["identity_deviation"] < 1e-8
    (row,) = results["table"]
    # 4 x 1024 pixels flipped with probability 0.1: standard error 0.0047, 5 SE allowed
    # (false-failure rate below 1e-6)
    assert abs(row["noisy_error"] - 0.1) < 5 * np.sqrt(0.09 / 4096)
    # the restorations remove most of the noise (about 1-2% error left on these digits)
    assert row["mpm_error"] < 0.5 * row["noisy_error"]
    assert row["map_error"] < 0.5 * row["noisy_error"]
    # posterior marginals of a 3x3 crop against exact enumeration. Checkerboard Gibbs: final
    # states of 2,000 independent chains, 5 standard errors on each of 9 pixels (false-failure
    # rate below 1e-5). NumPyro DiscreteGibbs: correlated draws, standard errors from the
    # effective sample size (approximate), same 5-sigma bound.
    assert results["crop_gibbs_max_z"] < 5
    assert results["crop_numpyro_max_z"] < 5
    assert results["crop_numpyro_max_abs_diff"] < 0.15
    _check_plots(results["plots"], ["denoising.png", "denoising_errors.png"])


@pytest.mark.standard_promotion  # optax.adam in the training loop
def test_missing_inputs_example(tmp_path):
    results = _load("missing_inputs").main(
        [
            "--epochs", "20", "--hidden", "32", "--fractions", "0.1", "0.5", "--test-size", "120",
            "--chains", "4", "--burn-in", "20", "--sweeps", "30", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert [row["fraction"] for row in results["table"]] == [0.1, 0.5]
    for row in results["table"]:
        # the RBM uses the observed pixels, the baseline does not (a margin of 0.03 on both)
        assert row["rbm_mae"] < row["baseline_mae"] - 0.03
        assert row["rbm_bit_error"] < row["baseline_bit_error"] - 0.03
    _check_plots(results["plots"], ["imputations.png", "imputation_errors.png"])


@pytest.mark.standard_promotion  # optax.adam in the training loop
def test_anomaly_detection_example(tmp_path):
    results = _load("anomaly_detection").main(
        ["--epochs", "5", "--hidden", "32", "--out", str(tmp_path)]
    )
    auroc = {row["anomalies"]: row for row in results["table"]}
    assert set(auroc) == {"bit flips", "inverted", "uniform noise", "unseen classes"}
    assert auroc["inverted"]["RBM"] > 0.9
    assert auroc["uniform noise"]["RBM"] > 0.9
    assert auroc["bit flips"]["RBM"] > 0.8
    assert auroc["unseen classes"]["RBM"] > 0.5
    _check_plots(results["plots"], ["roc_rbm.png", "roc_all.png", "anomaly_examples.png"])


@pytest.mark.standard_promotion  # optax.adam and optax.lbfgs
def test_rbm_features_classifier_example(tmp_path):
    results = _load("rbm_features_classifier").main(
        [
            "--epochs", "20", "--hidden", "64", "--classifier", "jax", "--iterations", "100",
            "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert results["classifier"] == "jax"
    # 359 test digits, 10 classes: a linear classifier on raw pixels gets about 93%
    assert results["raw_accuracy"] > 0.85
    assert results["rbm_accuracy"] > 0.8
    _check_plots(results["plots"], ["rbm_features.png"])


@pytest.mark.standard_promotion  # optax.lbfgs
def test_jax_softmax_regression_reaches_the_optimum():
    """The fallback classifier: the gradient of its objective vanishes at the returned weights.

    Same shapes and iterations as the example's call above, so the compiled fit is reused.
    """
    module = _load("rbm_features_classifier")
    split = datasets.load_digits(binarize=True, seed=0)
    x = jnp.asarray(split.x_train)
    y = jnp.asarray(split.y_train, jnp.int32)
    l2 = 1.0 / len(x)
    weights, values = module.fit_softmax_regression(x, y, n_classes=10, l2=l2, iterations=100)
    grad = jax.grad(module.softmax_regression_loss)(weights, x, y, l2)
    assert max(float(jnp.max(jnp.abs(g))) for g in grad) < 1e-3
    assert float(values[-1]) < float(values[0])
