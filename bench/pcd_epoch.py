"""One PCD-1 epoch of a 784x500 Bernoulli RBM on MNIST, batch 100: several ways, one run.

- ``fit``: this library's training loop with the closed-form PCD rule
  (``numpyro_ebm.learning.rbm.bernoulli_rbm_pcd``), SGD with momentum;
- centered: the same rule wrapped in ``numpyro_ebm.learning.rbm.centered`` (the
  headline recipe's gradient), which reads p(h | batch) from the rule's info, and,
  for comparison, the same wrapper around a rule that does not pass it on (centered
  then recomputes it: a sixth matmul per batch). These three run as the compiled
  epoch ``fit`` runs, one epoch of each in turn per round, and the script prints the
  median over rounds of each round's centered/plain ratio (robust to a machine whose
  load changes during the run);
- ``matmul-only``: a ``lax.scan`` over the same minibatches doing only the five
  matmuls PCD-1 needs per batch (data W, chain W, chain W', and the two outer
  products) and a plain weight update;
- ``update-only``: a ``lax.scan`` doing only momentum SGD's pass over the parameters
  per minibatch (read the parameters, gradient and momentum, write the parameters
  and momentum: 5 arrays of the parameters' size), which the matmul-only loop does
  not have; its bytes over its time are the memory bandwidth this machine gives at
  this working set, and the **bound** (the speed of light of the epoch ``fit`` runs)
  is the matmul-only time plus this update time. Both ratios are printed;
- ``scikit-learn``: ``sklearn.neural_network.BernoulliRBM`` (same hidden size,
  batch size, float32 input), ``fit`` with ``n_iter=1``.

Times are medians over ``--repeats`` epochs after a warm-up epoch (compilation
excluded); the compiled epochs, the matmul-only and the update-only loops are timed
interleaved (one of each per round) and their ratios are medians of per-round ratios. Example::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.pcd_epoch
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench._common import machine_description, median_seconds, mnist_path
from numpyro_ebm import datasets
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning import engine, fit
from numpyro_ebm.learning import rbm as rbm_rules
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.checkpoint import TrainState


def matmul_only_epoch(n_batches: int, batch_size: int):
    @jax.jit
    def epoch(W, data, chains):
        batches = data[: n_batches * batch_size].reshape(n_batches, batch_size, -1)

        def body(carry, batch):
            W, chains = carry
            positive_hidden = batch @ W  # 1
            chain_hidden = chains @ W  # 2
            chains = chain_hidden @ W.T  # 3
            grad = batch.T @ positive_hidden - chains.T @ chain_hidden  # 4, 5
            return (W + 1e-6 * grad, chains), None

        return jax.lax.scan(body, (W, chains), batches)[0]

    return epoch


def update_only_epoch(n_batches: int, momentum: float = 0.9, learning_rate: float = 1e-3):
    """Momentum SGD's parameter pass alone, once per minibatch (the gradient is a fixed
    array, so each step reads parameters, gradient and momentum and writes parameters and
    momentum), as ``optax.sgd(learning_rate, momentum)`` does it."""

    @jax.jit
    def epoch(params, grads, velocity):
        def body(carry, _):
            params, velocity = carry
            velocity = jax.tree.map(lambda m, g: momentum * m + g, velocity, grads)
            params = jax.tree.map(lambda p, m: p - learning_rate * m, params, velocity)
            return (params, velocity), None

        return jax.lax.scan(body, (params, velocity), None, length=n_batches)[0]

    return epoch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args(argv)

    split = datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic")
    train = jnp.asarray(split.x_train)
    n, d = train.shape
    n_batches = n // args.batch_size
    params = bernoulli_rbm.init_params(jax.random.key(0), d, args.hidden, data=train)
    rows = []

    # our fit: per-epoch wall time from the history (epoch 1 includes compilation)
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=args.chains, k=1)
    result = fit(
        jax.random.key(1),
        params,
        train,
        rule,
        optax.sgd(1e-3, momentum=0.9),
        epochs=args.repeats + 1,
        batch_size=args.batch_size,
        progress=False,
    )
    ours = float(np.median(result.history["wall_time"][1:]))
    rows.append(("numpyro_ebm fit (PCD-1)", ours))

    # centered vs plain: the compiled epoch fit runs (learning.fit.epoch_program), one epoch of each
    # variant in turn per round, so that a change of the machine's load hits all of them alike;
    # the ratio is the median over rounds of each round's ratio
    def without_positive_hidden(rule):
        def step(*args):
            grads, state, info = rule.step(*args)
            return grads, state, info._replace(positive_hidden=None)

        return LearningRule(rule.init, step)

    optimizer = optax.sgd(1e-3, momentum=0.9)
    variants = {
        "plain": rule,
        "centered": rbm_rules.centered(rule),
        "centered, recomputing p(h|batch)": rbm_rules.centered(without_positive_hidden(rule)),
    }
    runs = {}
    for label, variant in variants.items():
        state = TrainState(
            params,
            optimizer.init(params),
            variant.init(jax.random.key(1), params, train),
            jnp.asarray(1.0, jnp.float32),
        )
        step = engine.train_step(variant, optimizer, True)
        run_epoch = engine.scan_epoch(step, args.batch_size, n_batches)
        state = jax.block_until_ready(run_epoch(state, train, jax.random.key(2))[0])  # compile
        runs[label] = [run_epoch, state]

    matmul_epoch = matmul_only_epoch(n_batches, args.batch_size)
    chains = train[: args.chains]
    update_epoch = update_only_epoch(n_batches)
    grads = jax.tree.map(lambda x: jnp.full_like(x, 1e-3), params)
    velocity = jax.tree.map(jnp.zeros_like, params)
    light_runs = {
        "matmul-only": lambda: jax.block_until_ready(matmul_epoch(params.W, train, chains)),
        "update-only": lambda: jax.block_until_ready(update_epoch(params, grads, velocity)),
    }
    for run in light_runs.values():  # compile
        run()

    seconds = {label: [] for label in [*variants, *light_runs]}
    for round_ in range(args.repeats):
        for label, run in runs.items():
            started = time.perf_counter()
            run[1] = jax.block_until_ready(run[0](run[1], train, jax.random.key(3 + round_))[0])
            seconds[label].append(time.perf_counter() - started)
        for label, run in light_runs.items():
            started = time.perf_counter()
            run()
            seconds[label].append(time.perf_counter() - started)
    timed = {label: float(np.median(s)) for label, s in seconds.items()}
    ratios = {
        label: float(np.median(np.divide(seconds[label], seconds["plain"])))
        for label in variants
        if label != "plain"
    }
    rows.append(("compiled epoch, plain PCD-1", timed["plain"]))
    rows.append(("compiled epoch, centered PCD-1", timed["centered"]))
    rows.append(("  same, recomputing p(h | batch)", timed["centered, recomputing p(h|batch)"]))
    light = timed["matmul-only"]
    rows.append(("matmul-only loop (5 matmuls/batch)", light))
    rows.append(("update-only loop (momentum SGD)", timed["update-only"]))
    parameter_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(params))
    bandwidth = 5 * parameter_bytes * n_batches / timed["update-only"]
    plain = np.asarray(seconds["plain"])
    to_matmul = float(np.median(np.asarray(seconds["matmul-only"]) / plain))
    to_bound = float(
        np.median((np.asarray(seconds["matmul-only"]) + np.asarray(seconds["update-only"])) / plain)
    )

    if not args.skip_sklearn:
        from sklearn.neural_network import BernoulliRBM

        x32 = np.asarray(split.x_train, dtype=np.float32)
        rbm = BernoulliRBM(
            n_components=args.hidden,
            batch_size=args.batch_size,
            learning_rate=1e-3,
            n_iter=1,
            random_state=0,
        )

        def one_epoch():  # fit with n_iter=1 is one epoch of sklearn's own batch loop
            rbm.fit(x32)

        sk, _ = median_seconds(one_epoch, max(1, min(args.repeats, 3)))
        rows.append(("scikit-learn BernoulliRBM", sk))

    print(f"machine: {machine_description()}")
    print(
        f"784x{args.hidden} RBM, PCD-1, batch {args.batch_size}, {n_batches} batches per epoch, "
        f"median of {args.repeats} epochs"
    )
    print(f"{'':38s} {'s/epoch':>9s} {'vs matmul-only':>15s} {'speed-up vs sklearn':>20s}")
    sk_time = dict(rows).get("scikit-learn BernoulliRBM")
    for name, seconds in rows:
        ratio = light / seconds
        vs_sk = f"{sk_time / seconds:19.2f}x" if sk_time else ""
        print(f"{name:38s} {seconds:9.3f} {ratio:14.0%} {vs_sk}")
    for label, ratio in ratios.items():
        print(
            f"{label} / plain PCD-1 epoch (median of {args.repeats} interleaved rounds): {ratio:.3f}"
        )
    print(
        f"compiled plain PCD-1 epoch at {to_matmul:.1%} of the matmul-only loop and {to_bound:.1%} "
        f"of the bound (matmul-only + momentum-SGD update at the measured "
        f"{bandwidth / 1e9:.1f} GB/s over {parameter_bytes / 1e6:.2f} MB of parameters; "
        "medians of per-round ratios)"
    )
    return {
        "epoch_over_matmul_only": to_matmul,
        "epoch_over_bound": to_bound,
        "bandwidth_bytes_per_second": bandwidth,
        "seconds": timed,
    }


if __name__ == "__main__":
    main()
