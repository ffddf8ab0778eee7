"""What the DBM's mean-field positive phase costs in an epoch, and how many iterations it needs.

For a trained 784-500-1000 DBM (default: the committed
``bench/results/mnist_dbm_784_500_1000.npz``) and MNIST minibatches of 100, times
``--batches`` steps of ``learning.dbm.dbm_pcd`` (100 chains, one sweep) compiled in one
``lax.scan``, for each positive-phase setting: a fixed number of iterations (3, 5, or 10 as in
the committed run), or stopping at ``mean_field_tolerance`` (at most 30
iterations) with optional damping, and with 0 iterations (the bottom-up pass alone)
as the floor, so that "mean-field share" = (t - t0) / t. For each setting it also
reports the iterations actually used and how far its means and bound are from the
converged ones (200 iterations) on the same batches: the largest error of any mean,
and the mean error of the per-image bound term -E_q[E] + H(q) in nats.

Settings are timed interleaved, round by round (``--repeats``), and the ratios are to
the fixed-10 setting in the same round. Example::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.dbm_mean_field --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import command_line, machine_description, mnist_path, write_summary
from bench.recipes import load_params
from numpyro_ebm import datasets
from numpyro_ebm.energies import dbm
from numpyro_ebm.learning import dbm as dbm_rules

SETTINGS = {  # name: (max iterations, tolerance, damping)
    "fixed 0 (bottom-up only)": (0, 0.0, 0.0),
    "fixed 3": (3, 0.0, 0.0),
    "fixed 5": (5, 0.0, 0.0),
    "fixed 10 (committed run)": (10, 0.0, 0.0),
    "tolerance 1e-2": (30, 1e-2, 0.0),
    "tolerance 1e-3": (30, 1e-3, 0.0),
    "tolerance 1e-3, damping 0.5": (30, 1e-3, 0.5),
}
REFERENCE = "fixed 10 (committed run)"


def _runner(rule, n_batches):
    @jax.jit
    def run(key, state, params, batches):
        def body(state, inputs):
            key, batch = inputs
            grads, state, info = rule.step(key, state, params, batch)
            return state, (info.mean_field_iterations, grads.W1[0, 0])

        keys = jax.random.split(key, n_batches)
        return jax.lax.scan(body, state, (keys, batches))

    return run


def _bound_terms(params, batch, q):
    return -dbm.variational_free_energy(params, batch, q)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--params", default=str(RESULTS / "mnist_dbm_784_500_1000.npz"))
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(RESULTS / "dbm_mean_field.json"))
    args = parser.parse_args(argv)

    params = load_params(args.params, dbm.DBMParams)
    split = datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic")
    train = jnp.asarray(split.x_train)
    n = args.batches * args.batch_size
    batches = train[:n].reshape(args.batches, args.batch_size, -1)
    key = jax.random.key(0)
    runs = {}
    for name, (iterations, tolerance, damping) in SETTINGS.items():
        rule = dbm_rules.dbm_pcd(
            100,
            mean_field_iterations=iterations,
            mean_field_tolerance=tolerance,
            mean_field_damping=damping,
        )
        state = rule.init(key, params, train)
        run = _runner(rule, args.batches)
        jax.block_until_ready(run(key, state, params, batches))  # compile
        runs[name] = (run, state, rule)
    seconds = {name: [] for name in SETTINGS}
    iterations_used = {}
    for _ in range(args.repeats):
        for name, (run, state, _) in runs.items():
            started = time.perf_counter()
            _, (used, _) = jax.block_until_ready(run(key, state, params, batches))
            seconds[name].append(time.perf_counter() - started)
            iterations_used[name] = float(np.mean(used))
    converged = jax.jit(dbm.mean_field, static_argnums=2)(params, train[:n], 200)
    reference_bound = _bound_terms(params, train[:n], converged)
    epoch = 60000 // args.batch_size
    floor = np.asarray(seconds["fixed 0 (bottom-up only)"])
    reference = np.asarray(seconds[REFERENCE])
    table = {}
    for name, (iterations, tolerance, damping) in SETTINGS.items():
        q = dbm.mean_field_fixed_point(
            params, train[:n], max_iterations=iterations, tolerance=tolerance, damping=damping
        ).means
        # the positive phase runs batch by batch; its whole-set error is a fair summary
        error = max(
            float(jnp.max(jnp.abs(q.hidden1 - converged.hidden1))),
            float(jnp.max(jnp.abs(q.hidden2 - converged.hidden2))),
        )
        t = np.asarray(seconds[name])
        table[name] = {
            "seconds_per_epoch_median": float(np.median(t) * epoch / args.batches),
            "ratio_to_fixed_10_median": float(np.median(t / reference)),
            "mean_field_share_median": float(np.median((t - floor) / t)) if iterations else 0.0,
            "iterations_used_mean": iterations_used[name],
            "max_mean_error": error,
            "mean_bound_error_nats": float(
                jnp.mean(reference_bound - _bound_terms(params, train[:n], q))
            ),
        }
    summary = {
        "machine": machine_description(),
        "command": command_line("dbm_mean_field", argv),
        "batches": args.batches,
        "repeats": args.repeats,
        "settings": table,
    }
    write_summary(args.output, summary)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
