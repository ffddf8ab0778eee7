"""784-25 Bernoulli RBM on binarized MNIST: exact test log-likelihood.

Trains with this library's ``fit`` and evaluates the exact log-likelihood of the
10,000 test images (log Z by enumerating the 2^25 hidden configurations in
float64). Writes the parameters to ``bench/results/mnist_rbm_784_25.npz``
(arrays W (784x25), b (784), c (25); E = -b'v - c'h - v'Wh) and the figures to
``bench/results/mnist_rbm_784_25.json``.

The defaults are the committed run's recipe (BENCHMARKS.md: PCD-1, 1000 chains,
learning rate 0.005, 150 epochs). ``--rule pt-pcd`` / ``pt-fpcd`` train with
parallel-tempering chains (``--replicas``, ``--min-beta``, ``--ladder``, ``--swap``,
``--pt-base``). Examples::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_rbm25
    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_rbm25 \\
        --rule pt-pcd --replicas 10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench import RESULTS
from bench._common import (
    add_tempering_arguments,
    command_line,
    machine_description,
    mnist_path,
    tempered_rbm_rule,
    write_summary,
)
from bench.recipes import save_rbm
from numpyro_ebm import datasets
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning import contrastive_divergence as cdlib
from numpyro_ebm.learning import fit
from numpyro_ebm.learning import rbm as rbm_rules


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--hidden", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--k", type=int, default=1, help="Gibbs sweeps per update")
    parser.add_argument("--rule", choices=["pcd", "fpcd", "pt-pcd", "pt-fpcd"], default="pcd")
    parser.add_argument("--lr", type=float, default=0.005, help="initial SGD learning rate")
    parser.add_argument(
        "--final-lr-fraction", type=float, default=0.0, help="learning rate decays linearly to this"
    )
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--fast-lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--float64", action="store_true", help="enumerate log Z in float64 (several times slower)"
    )
    parser.add_argument(
        "--name", default=None, help="output file stem (default mnist_rbm_784_<hidden>)"
    )
    parser.add_argument(
        "--results-dir", default=str(RESULTS), help="where the .npz and .json are written"
    )
    add_tempering_arguments(parser)
    args = parser.parse_args(argv)

    split = datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic")
    train, test = jnp.asarray(split.x_train), jnp.asarray(split.x_test)
    params = bernoulli_rbm.init_params(
        jax.random.key(args.seed), train.shape[1], args.hidden, data=train
    )
    if args.rule == "pcd":
        rule = rbm_rules.bernoulli_rbm_pcd(n_chains=args.chains, k=args.k)
    elif args.rule in ("pt-pcd", "pt-fpcd"):
        rule = tempered_rbm_rule(args, train)
    else:
        rule = cdlib.fast_persistent_contrastive_divergence(
            bernoulli_rbm.free_energy,
            rbm_gibbs.as_top_level_api("bernoulli"),
            n_chains=args.chains,
            k=args.k,
            fast_learning_rate=args.fast_lr,
        )
    steps = args.epochs * (train.shape[0] // args.batch_size)
    schedule = optax.linear_schedule(args.lr, args.lr * args.final_lr_fraction, steps)
    optimizer = optax.sgd(schedule, momentum=args.momentum)
    if args.weight_decay:
        from numpyro_ebm.learning.regularizers import weight_decay

        optimizer = optax.chain(weight_decay(args.weight_decay), optimizer)
    started = time.perf_counter()
    result = fit(
        jax.random.key(args.seed + 1),
        params,
        train,
        rule,
        optimizer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        held_out=test[:2000],
        energy_fn=bernoulli_rbm.free_energy,
        config=vars(args),
    )
    train_seconds = time.perf_counter() - started
    params = result.params
    started = time.perf_counter()
    # float32 per-configuration free energies, accumulated chunk by chunk: error well under 1e-3 nats
    # (tests/evaluation/test_exact.py checks float32 against float64 on a smaller RBM)
    log_z = exact.log_partition_bernoulli_rbm(params, float64=args.float64)
    eval_seconds = time.perf_counter() - started
    test_ll = float(np.mean(exact.log_likelihood_bernoulli_rbm(params, test, log_z=log_z)))
    train_ll = float(np.mean(exact.log_likelihood_bernoulli_rbm(params, train, log_z=log_z)))
    stem = args.name or f"mnist_rbm_784_{args.hidden}"
    results = Path(args.results_dir)
    results.mkdir(exist_ok=True)
    save_rbm(results / f"{stem}.npz", params)
    summary = {
        "test_log_likelihood": test_ll,
        "train_log_likelihood": train_ll,
        "log_partition_function": log_z,
        "train_seconds": round(train_seconds, 1),
        "log_z_seconds": round(eval_seconds, 1),
        "machine": machine_description(),
        "command": command_line("mnist_rbm25", argv),
        "config": vars(args),
    }
    write_summary(results / f"{stem}.json", summary)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
