"""Behavioural parity with scikit-learn: its digits example with both BernoulliRBMs.

scikit-learn's example "Restricted Boltzmann Machine features for digit
classification" (``examples/neural_networks/plot_rbm_logistic_classification.py``):
the 8x8 digits shipped inside scikit-learn (``load_digits``, no download), augmented
five-fold by the example's ``nudge_dataset`` (one-pixel shifts), min-max scaled to
[0, 1], split 80/20 with ``random_state=0``, then
``Pipeline([("rbm", BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10)),
("logistic", LogisticRegression(C=6000))])``. The same pipeline runs with
``sklearn.neural_network.BernoulliRBM`` and with ``numpyro_ebm.sklearn.BernoulliRBM``
(same parameters), one RBM seed after another, the two interleaved.

Printed per implementation: test accuracy (mean and range over the seeds), the RBM's
fit time (median over the seeds; ours also separately for the first fit in the
process, which includes XLA's compilation of the epoch, and the later ones, which
reuse it) and the logistic regression's fit time. The RBM steps are fitted on their
own, timed, and the accuracy is then that of the ``Pipeline`` of the fitted steps
(``Pipeline.fit`` runs exactly ``rbm.fit_transform`` then ``logistic.fit``).

Run: ``python bench/sklearn_digits.py --seeds 3`` (``--n-iter 1 --seeds 1
--max-train 500`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from _common import machine_description
from scipy.ndimage import convolve
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM as SklearnBernoulliRBM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import minmax_scale

from numpyro_ebm.sklearn import BernoulliRBM


def nudge_dataset(X, Y):
    """scikit-learn's example: the images shifted by one pixel in four directions, and the originals."""
    direction_vectors = [
        [[0, 1, 0], [0, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 1], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [0, 1, 0]],
    ]

    def shift(x, w):
        return convolve(x.reshape((8, 8)), mode="constant", weights=w).ravel()

    X = np.concatenate(
        [X] + [np.apply_along_axis(shift, 1, X, vector) for vector in direction_vectors]
    )
    Y = np.concatenate([Y for _ in range(5)], axis=0)
    return X, Y


def digits_data():
    """The example's data, exactly: float32 pixels, nudged, min-max scaled, 80/20 split."""
    X, y = datasets.load_digits(return_X_y=True)
    X = np.asarray(X, "float32")
    X, Y = nudge_dataset(X, y)
    X = minmax_scale(X, feature_range=(0, 1))  # 0-1 scaling
    return train_test_split(X, Y, test_size=0.2, random_state=0)


def run_one(rbm_class, seed, n_iter, n_components, data):
    X_train, X_test, Y_train, Y_test = data
    rbm = rbm_class(n_components=n_components, learning_rate=0.06, n_iter=n_iter, random_state=seed)
    logistic = LogisticRegression(C=6000)
    started = time.perf_counter()
    features = rbm.fit_transform(X_train)
    rbm_seconds = time.perf_counter() - started
    started = time.perf_counter()
    logistic.fit(features, Y_train)
    logistic_seconds = time.perf_counter() - started
    pipeline = Pipeline(steps=[("rbm", rbm), ("logistic", logistic)])
    accuracy = float(pipeline.score(X_test, Y_test))
    return {"accuracy": accuracy, "rbm_fit_s": rbm_seconds, "logistic_fit_s": logistic_seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="RBM random_state 0 .. seeds-1")
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--n-components", type=int, default=100)
    parser.add_argument("--max-train", type=int, default=None, help="cap the training set")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)

    data = digits_data()
    if args.max_train is not None:
        data = [data[0][: args.max_train], data[1], data[2][: args.max_train], data[3]]
    print(machine_description())
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"train {data[0].shape}, test {data[1].shape}, dtype {data[0].dtype}")
    implementations = {"scikit-learn": SklearnBernoulliRBM, "numpyro_ebm": BernoulliRBM}
    runs = {name: [] for name in implementations}
    with warnings.catch_warnings():
        # C=6000 with the default max_iter stops before convergence, in the example too
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(args.seeds):
            for name, rbm_class in implementations.items():
                result = run_one(rbm_class, seed, args.n_iter, args.n_components, data)
                runs[name].append(result)
                print(
                    f"seed {seed} {name:>12}: accuracy {result['accuracy']:.4f}, "
                    f"RBM fit {result['rbm_fit_s']:.2f} s, "
                    f"logistic fit {result['logistic_fit_s']:.2f} s"
                )
    print(f"load average after: {os.getloadavg()[0]:.1f}")

    summary = {}
    for name, results in runs.items():
        accuracies = [r["accuracy"] for r in results]
        times = [r["rbm_fit_s"] for r in results]
        summary[name] = {
            "accuracy_mean": statistics.mean(accuracies),
            "accuracy_min": min(accuracies),
            "accuracy_max": max(accuracies),
            "rbm_fit_s_median": statistics.median(times),
            "rbm_fit_s_first": times[0],
            "rbm_fit_s_later_median": statistics.median(times[1:]) if len(times) > 1 else None,
            "logistic_fit_s_median": statistics.median(r["logistic_fit_s"] for r in results),
            "runs": results,
        }
    ours, theirs = summary["numpyro_ebm"], summary["scikit-learn"]
    print()
    print(
        "| RBM | test accuracy (mean, min-max) | RBM fit s (median) | first fit s | later fits s |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, s in summary.items():
        later = s["rbm_fit_s_later_median"]
        print(
            f"| {name} | {s['accuracy_mean']:.4f} ({s['accuracy_min']:.4f}-{s['accuracy_max']:.4f})"
            f" | {s['rbm_fit_s_median']:.2f} | {s['rbm_fit_s_first']:.2f} | "
            + (f"{later:.2f}" if later is not None else "-")
            + " |"
        )
    speedups = [
        t["rbm_fit_s"] / o["rbm_fit_s"] for t, o in zip(theirs["runs"], ours["runs"], strict=True)
    ]
    print(
        "\nRBM fit speed-up (scikit-learn time / ours, per seed, same run): "
        + ", ".join(f"{s:.2f}x" for s in speedups)
        + f"; median {statistics.median(speedups):.2f}x"
    )
    print(
        "accuracy difference (ours - scikit-learn, mean over seeds): "
        f"{ours['accuracy_mean'] - theirs['accuracy_mean']:+.4f}"
    )
    summary["speedup_median"] = statistics.median(speedups)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
