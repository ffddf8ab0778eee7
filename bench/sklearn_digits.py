"""Behavioural parity with scikit-learn: its digits example with both BernoulliRBMs.

scikit-learn's example "Restricted Boltzmann Machine features for digit
classification" (``examples/neural_networks/plot_rbm_logistic_classification.py``):
the 8x8 digits shipped inside scikit-learn (``load_digits``, no download), augmented
five-fold by the example's ``nudge_dataset`` (one-pixel shifts), min-max scaled to
[0, 1], split 80/20 with ``random_state=0``, then
``Pipeline([("rbm", BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10)),
("logistic", LogisticRegression(C=6000))])``. The same pipeline runs with
``sklearn.neural_network.BernoulliRBM`` and with ``numpyro_ebm.sklearn.BernoulliRBM``
(same parameters, so the same algorithm; only the random numbers differ), one RBM seed
after another, the two interleaved.

Accuracy. With the same algorithm the two test accuracies at a seed are draws from the
same distribution, so the comparison is statistical: mean and standard error over the
seeds for each, and the paired difference (ours - scikit-learn at the same seed; the
split and the logistic regression are shared) with its standard error.

Fit time of the RBM (``fit_transform`` of the training set), wall clock and process
CPU time (all threads): the median over the seeds in this process (ours: after its
first fit, which compiles the epoch), and, after the seeds, the first fit in fresh processes
(``--fresh N``: N subprocesses per implementation, each importing its estimator and
fitting once; ours also counts the XLA compilations and their seconds). The logistic
regression's time is the same code for both and printed for scale.

Run: ``python -m bench.sklearn_digits --seeds 10 --fresh 3`` (``--n-iter 1 --seeds 2
--fresh 1 --max-train 500`` for a smoke run). ``--extra centering=True`` adds a row for
one of our options beyond scikit-learn (repeatable, ``name=value``).
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import convolve

from bench import REPOSITORY

RBM_SETTINGS = dict(n_components=100, learning_rate=0.06, n_iter=10)


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


def digits_data(max_train=None):
    """The example's data, exactly: float32 pixels, nudged, min-max scaled, 80/20 split."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import minmax_scale

    X, y = datasets.load_digits(return_X_y=True)
    X = np.asarray(X, "float32")
    X, Y = nudge_dataset(X, y)
    X = minmax_scale(X, feature_range=(0, 1))  # 0-1 scaling
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.2, random_state=0)
    if max_train is not None:
        X_train, Y_train = X_train[:max_train], Y_train[:max_train]
    return X_train, X_test, Y_train, Y_test


def rbm_class(implementation: str):
    if implementation == "scikit-learn":
        from sklearn.neural_network import BernoulliRBM
    else:
        from numpyro_ebm.sklearn import BernoulliRBM
    return BernoulliRBM


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_one(implementation, seed, n_iter, n_components, data, extra=None):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X_train, X_test, Y_train, Y_test = data
    settings = {**RBM_SETTINGS, "n_iter": n_iter, "n_components": n_components}
    rbm = rbm_class(implementation)(random_state=seed, **settings, **(extra or {}))
    features, rbm_wall, rbm_cpu = timed(lambda: rbm.fit_transform(X_train))
    logistic = LogisticRegression(C=6000)
    with warnings.catch_warnings():
        # C=6000 with the default max_iter stops before convergence, in the example too
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, logistic_wall, _ = timed(lambda: logistic.fit(features, Y_train))
    pipeline = Pipeline(steps=[("rbm", rbm), ("logistic", logistic)])
    return {
        "seed": seed,
        "accuracy": float(pipeline.score(X_test, Y_test)),
        "rbm_fit_s": rbm_wall,
        "rbm_fit_cpu_s": rbm_cpu,
        "logistic_fit_s": logistic_wall,
    }


def first_fit_in_this_process(implementation, n_iter, n_components, max_train):
    """Import, data and one RBM fit in a fresh interpreter (run by ``--first-fit``)."""
    compiles = {}
    if implementation == "numpyro_ebm":
        import jax

        def listen(event, duration, **kwargs):
            count, seconds = compiles.get(event, (0, 0.0))
            compiles[event] = (count + 1, seconds + duration)

        jax.monitoring.register_event_duration_secs_listener(listen)
    cls, import_wall, import_cpu = timed(lambda: rbm_class(implementation))
    import_compiles = dict(compiles)
    compiles.clear()
    X_train = digits_data(max_train)[0]
    settings = {**RBM_SETTINGS, "n_iter": n_iter, "n_components": n_components}
    rbm = cls(random_state=0, **settings)
    _, wall, cpu = timed(lambda: rbm.fit_transform(X_train))
    _, second_wall, second_cpu = timed(lambda: cls(random_state=1, **settings).fit(X_train))
    return {
        "import_s": import_wall,
        "import_cpu_s": import_cpu,
        "first_fit_s": wall,
        "first_fit_cpu_s": cpu,
        "second_fit_s": second_wall,
        "second_fit_cpu_s": second_cpu,
        "import_compile_events": _events(import_compiles),
        "compile_events": _events(compiles),  # during the two fits
    }


def _events(compiles):
    return {
        event.rsplit("/", 1)[-1]: {"count": count, "seconds": seconds}
        for event, (count, seconds) in compiles.items()
    }


def fresh_process(implementation, args, cache_directory=None):
    """One ``--first-fit`` subprocess; ours keeps its compiled epoch in ``cache_directory``
    (``numpyro_ebm._executable_cache``): empty, it compiles; filled by an earlier process,
    it loads."""
    environment = dict(os.environ)
    # a user's default: no JAX persistent compilation cache (the test suite sets one)
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache_directory is not None:
        environment["NUMPYRO_EBM_CACHE_DIR"] = str(cache_directory)
    command = [
        sys.executable,
        "-m",
        "bench.sklearn_digits",
        "--first-fit",
        implementation,
        "--n-iter",
        str(args.n_iter),
    ]
    command += ["--n-components", str(args.n_components)]
    if args.max_train is not None:
        command += ["--max-train", str(args.max_train)]
    completed = subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=REPOSITORY
    )
    if completed.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def mean_and_error(values):
    mean = statistics.mean(values)
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return mean, error


def parse_extra(text):
    name, value = text.split("=", 1)
    return name, ast.literal_eval(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="RBM random_state 0 .. seeds-1")
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes per implementation")
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--n-components", type=int, default=100)
    parser.add_argument("--max-train", type=int, default=None, help="cap the training set")
    parser.add_argument("--extra", type=parse_extra, action="append", default=[])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--first-fit", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_fit is not None:
        result = first_fit_in_this_process(
            args.first_fit, args.n_iter, args.n_components, args.max_train
        )
        print(json.dumps(result))
        return result

    # the in-process fits keep their executable in a directory of this run only
    with tempfile.TemporaryDirectory() as scratch:
        previous = os.environ.setdefault("NUMPYRO_EBM_CACHE_DIR", scratch)
        try:
            return compare(args)
        finally:
            if previous == scratch:
                del os.environ["NUMPYRO_EBM_CACHE_DIR"]


def compare(args):
    """The seeds, the fresh processes and the tables (``main`` without its arguments)."""
    from bench._common import machine_description, write_summary

    data = digits_data(args.max_train)
    print(machine_description())
    load_before = os.getloadavg()[0]
    print(f"load average before: {load_before:.1f}")
    print(f"train {data[0].shape}, test {data[1].shape}, dtype {data[0].dtype}")

    rows = {"scikit-learn": ("scikit-learn", {}), "numpyro_ebm": ("numpyro_ebm", {})}
    for name, value in args.extra:
        rows[f"numpyro_ebm {name}={value!r}"] = ("numpyro_ebm", {name: value})
    runs = {row: [] for row in rows}
    for seed in range(args.seeds):
        for row, (implementation, extra) in rows.items():
            result = run_one(implementation, seed, args.n_iter, args.n_components, data, extra)
            runs[row].append(result)
            print(
                f"seed {seed} {row:>12}: accuracy {result['accuracy']:.4f}, "
                f"RBM fit {result['rbm_fit_s']:.2f} s (CPU {result['rbm_fit_cpu_s']:.2f} s), "
                f"logistic fit {result['logistic_fit_s']:.2f} s",
                flush=True,
            )
    # ours twice per round: with an empty executable cache (a user's very first fit, which
    # compiles), then a second process with the executable the first one stored
    fresh = {"scikit-learn": [], "numpyro_ebm": [], "numpyro_ebm, stored executable": []}
    for _ in range(args.fresh):
        with tempfile.TemporaryDirectory() as cache_directory:
            for name in fresh:
                implementation = "scikit-learn" if name == "scikit-learn" else "numpyro_ebm"
                result = fresh_process(implementation, args, cache_directory)
                fresh[name].append(result)
                print(
                    f"fresh process {name:>12}: import {result['import_s']:.2f} s, first fit "
                    f"{result['first_fit_s']:.2f} s (CPU {result['first_fit_cpu_s']:.2f} s), "
                    f"second fit {result['second_fit_s']:.2f} s; compilation at import "
                    f"{result['import_compile_events']}, in the fits {result['compile_events']}",
                    flush=True,
                )

    load_after = os.getloadavg()[0]
    print(f"load average after: {load_after:.1f}")

    theirs = runs["scikit-learn"]
    summary = {
        "load_average": [load_before, load_after],
        "seeds": args.seeds,
        "rows": {},
        "fresh": {},
    }
    print()
    print(
        "| RBM | test accuracy, mean ± s.e. | paired difference vs scikit-learn ± s.e. "
        "| seeds ours ≥ theirs | RBM fit s (median) | RBM fit CPU s (median) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row, results in runs.items():
        # our first fit in this process compiles the epoch (timed separately, in fresh
        # processes); the later ones are the steady state
        steady = results[1:] if row != "scikit-learn" and len(results) > 1 else results
        accuracy = mean_and_error([r["accuracy"] for r in results])
        differences = [o["accuracy"] - t["accuracy"] for o, t in zip(results, theirs, strict=True)]
        difference = mean_and_error(differences)
        at_least = sum(d >= 0 for d in differences)
        wall = statistics.median(r["rbm_fit_s"] for r in steady)
        cpu = statistics.median(r["rbm_fit_cpu_s"] for r in steady)
        summary["rows"][row] = {
            "accuracy_mean": accuracy[0],
            "accuracy_standard_error": accuracy[1],
            "paired_difference_mean": difference[0],
            "paired_difference_standard_error": difference[1],
            "seeds_at_least_as_accurate": at_least,
            "rbm_fit_s_median": wall,
            "rbm_fit_cpu_s_median": cpu,
            "logistic_fit_s_median": statistics.median(r["logistic_fit_s"] for r in results),
            "runs": results,
        }
        paired = "—" if row == "scikit-learn" else f"{difference[0]:+.4f} ± {difference[1]:.4f}"
        print(
            f"| {row} | {accuracy[0]:.4f} ± {accuracy[1]:.4f} | {paired} | "
            f"{'—' if row == 'scikit-learn' else f'{at_least}/{len(results)}'} | "
            f"{wall:.2f} | {cpu:.2f} |"
        )
    print()
    print(
        "| RBM, fresh process | import s | first fit s | first fit CPU s | second fit s "
        "| XLA compilations in the fits (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, results in fresh.items():
        if not results:
            continue
        medians = {
            key: statistics.median(r[key] for r in results)
            for key in ("import_s", "first_fit_s", "first_fit_cpu_s", "second_fit_s")
        }
        compiles = results[0]["compile_events"].get("backend_compile_duration")
        summary["fresh"][name] = {**{f"{k}_median": v for k, v in medians.items()}, "runs": results}
        print(
            f"| {name} | {medians['import_s']:.2f} | {medians['first_fit_s']:.2f} | "
            f"{medians['first_fit_cpu_s']:.2f} | {medians['second_fit_s']:.2f} | "
            + (f"{compiles['count']} ({compiles['seconds']:.2f})" if compiles else "—")
            + " |"
        )
    ours, sk = summary["rows"]["numpyro_ebm"], summary["rows"]["scikit-learn"]
    ratios = {
        "steady_wall": sk["rbm_fit_s_median"] / ours["rbm_fit_s_median"],
        "steady_cpu": sk["rbm_fit_cpu_s_median"] / ours["rbm_fit_cpu_s_median"],
    }
    if fresh["numpyro_ebm"]:
        first = summary["fresh"]
        for name, label in (("numpyro_ebm", ""), ("numpyro_ebm, stored executable", "_stored")):
            for clock, key in (("wall", "first_fit_s_median"), ("cpu", "first_fit_cpu_s_median")):
                ratios[f"first_fit{label}_{clock}"] = first["scikit-learn"][key] / first[name][key]
    summary["speedup"] = ratios
    print(
        "\nRBM fit speed-up, scikit-learn / ours (same run, medians): "
        + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
    )
    if args.json is not None:
        write_summary(args.json, summary)
    return summary


if __name__ == "__main__":
    main()
