"""Pilot a parallel-tempering ladder for a DBM's negative phase: ``adapt_ladder`` on saved parameters.

Issue 30: the committed DBM run's PT option exchanged nothing between neighbours of
the geometric ladder 0.5 -> 1 (swap acceptance 0.0004-0.002), because at 784 + 1,500
units the tempered joint distributions hardly overlap. This pilot measures, on a
saved DBM (e.g. the committed trained model, the model late in training, or a
pretrained one), how many replicas a ladder from ``--min-beta`` to 1 needs: it runs
``kernels.parallel_tempering.adapt_ladder`` (Syed et al. 2021, Algorithm 4: pilot
rounds of doubling length, each moving the ladder to equal rejection rates) with
persistent chains started from training images, and prints the tuned ladder, the
per-pair rejection rates, the global barrier Lambda and ``suggested_n_replicas``
(ceil(2 Lambda) + 1). The tuned ladder goes to ``bench/mnist_dbm.py --pt-betas``.

Example (about two minutes on 2 cores)::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.dbm_ladder \\
        --params bench/results/mnist_dbm_784_500_1000_centered.npz --min-beta 0.9 --replicas 4
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench._common import command_line, machine_description, mnist_path, write_summary
from bench.mnist_dbm import load_dbm_params
from numpyro_ebm import datasets
from numpyro_ebm.kernels import dbm_gibbs
from numpyro_ebm.kernels import parallel_tempering as pt


def pilot(rng_key, params, start_visible, betas, n_rounds: int, n_steps: int, swap: str):
    """``adapt_ladder`` from chains at ``start_visible`` (hidden layers drawn from the
    bottom-up mean field), every replica starting from the same configuration."""
    key_start, rng_key = jax.random.split(rng_key)
    mean_field = dbm_gibbs.init(start_visible, params)
    keys = jax.random.split(key_start)
    start = mean_field._replace(
        hidden1=jax.random.bernoulli(keys[0], mean_field.hidden1).astype(start_visible.dtype),
        hidden2=jax.random.bernoulli(keys[1], mean_field.hidden2).astype(start_visible.dtype),
    )
    replicas = jax.tree.map(lambda x: jnp.stack([x] * betas.shape[0]), start)
    algorithm = pt.as_top_level_api(pt.dbm_tempering(), swap)
    state = algorithm.init(replicas, params, betas)
    return pt.adapt_ladder(
        rng_key, algorithm, state, params, betas, n_rounds=n_rounds, n_steps=n_steps
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="DBM parameters (.npz of mnist_dbm)")
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--min-beta", type=float, default=0.9)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=64, help="PT steps in the first round")
    parser.add_argument("--swap", default="deo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)

    params = load_dbm_params(args.params)
    split = datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic")
    rows = np.random.default_rng(args.seed).choice(split.x_train.shape[0], args.chains, False)
    start = jnp.asarray(split.x_train[rows])
    betas = pt.geometric_ladder(args.replicas, args.min_beta)
    started = time.perf_counter()
    _, tuned, tuning = pilot(
        jax.random.key(args.seed), params, start, betas, args.rounds, args.steps, args.swap
    )
    rejection = np.diff(np.asarray(tuning.cumulative_barrier))  # at the last round's ladder
    summary = {
        "machine": machine_description(),
        "command": command_line("dbm_ladder", argv),
        "params": args.params,
        "pilot_ladder": [float(b) for b in np.asarray(betas)],
        "last_round_rejection_rates": [float(r) for r in rejection],
        "barrier": float(tuning.barrier),
        "suggested_n_replicas": int(tuning.suggested_n_replicas),
        "round_trip_rate_per_step": float(tuning.round_trip_rate),
        "tuned_ladder": [float(b) for b in np.asarray(tuned)],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, indent=2))
    print("--pt-betas " + ",".join(f"{b:.5f}" for b in summary["tuned_ladder"]))
    if args.json:
        write_summary(args.json, summary)
    return summary


if __name__ == "__main__":
    main()
