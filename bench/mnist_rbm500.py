"""784-500 Bernoulli RBM on binarized MNIST: AIS test log-likelihood, with RAISE beside it.

Trains with this library's ``fit`` (closed-form PCD or fast-weights PCD, or their
parallel-tempering versions ``--rule pt-pcd`` / ``pt-fpcd`` with ``--replicas``,
``--min-beta``, ``--ladder``, ``--swap``, ``--pt-base``; optionally centered, SGD with momentum, a learning rate that decays linearly to zero, L2
weight decay on the weights in ordinary or centered coordinates),
then estimates log Z by annealed importance sampling (Salakhutdinov & Murray
2008: base-rate base model, 14,500 temperatures, 100 runs) and the test
log-likelihood of the 10,000 test images, and runs reverse annealing (RAISE,
Burda et al. 2015) on a random subset of test images as the conservative
second opinion. Writes the parameters to ``bench/results/<name>.npz`` (arrays W
(784x500), b (784), c (500); E = -b'v - c'h - v'Wh) and the figures to
``bench/results/<name>.json``.

The defaults are the committed run's recipe (BENCHMARKS.md has its figures):
centered FPCD-1 (fast learning rate 0.02), 500 epochs, learning rate 0.02, no Optax
weight decay and an L2 decay of 2e-4 in centered coordinates. Examples (the first is
that recipe, the second the same command spelled out, the third plain PCD-1)::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_rbm500
    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_rbm500 --centered \\
        --rule fpcd --fast-lr 0.02 --epochs 500 --lr 0.02 --weight-decay 0 \\
        --centered-weight-decay 2e-4
    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_rbm500 --no-centered \\
        --rule pcd --epochs 300 --lr 0.005 --weight-decay 1e-4
    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_rbm500 \\
        --evaluate bench/results/mnist_rbm_784_500.npz --extra-ais-runs 1000
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import optax

from bench import RESULTS
from bench._common import (
    add_tempering_arguments,
    command_line,
    interval_figures,
    log_z_figures,
    machine_description,
    mnist_path,
    tempered_rbm_rule,
    write_summary,
)
from bench.recipes import load_rbm, save_rbm
from numpyro_ebm import datasets
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning import fit, regularizers


def train(args, train_data, test_data):
    """The command line's run: the rule of ``--rule`` and its options, trained by
    :func:`train_rbm` with the flags' schedule."""
    if args.centered_weight_decay and not args.centered:
        raise SystemExit("--centered-weight-decay needs --centered")
    centered_decay = 2e-4 if args.centered_weight_decay is None else args.centered_weight_decay
    rule = tempered_rbm_rule(
        args, train_data, centering=args.centered, centered_weight_decay=centered_decay
    )
    return train_rbm(
        rule,
        train_data,
        test_data,
        hidden=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        final_lr_fraction=args.final_lr_fraction,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        seed=args.seed,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        config={k: v for k, v in vars(args).items() if k != "evaluate"},
    )


def train_rbm(
    rule,
    train_data,
    test_data,
    *,
    hidden: int,
    epochs: int,
    batch_size: int = 100,
    lr: float = 0.02,
    final_lr_fraction: float = 0.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
    checkpoint_dir=None,
    resume: bool = False,
    config: dict | None = None,
):
    """The 784-500 recipe: a ``hidden``-unit Bernoulli RBM (visible biases at the data's
    log-odds) trained by ``rule`` with SGD, the learning rate decaying linearly from
    ``lr`` to ``lr * final_lr_fraction``, momentum ramped from 0.5 to ``momentum`` over
    five epochs (Hinton 2010, "A practical guide to training RBMs", section 9) and L2
    ``weight_decay`` on ``W``; the held-out metrics on ``test_data[:2000]``.

    Returns ``(params, wall seconds, process CPU seconds, history)``. ``config`` is what
    a checkpoint records (and a resume compares).
    """
    params = bernoulli_rbm.init_params(
        jax.random.key(seed), train_data.shape[1], hidden, data=train_data
    )
    steps_per_epoch = train_data.shape[0] // batch_size
    steps = epochs * steps_per_epoch
    schedule = optax.linear_schedule(lr, lr * final_lr_fraction, steps)
    momentum_ramp = regularizers.momentum_schedule(0.5, momentum, 5 * steps_per_epoch)
    optimizer = optax.chain(
        regularizers.weight_decay(weight_decay),
        optax.inject_hyperparams(optax.sgd)(learning_rate=schedule, momentum=momentum_ramp),
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    result = fit(
        jax.random.key(seed + 1),
        params,
        train_data,
        rule,
        optimizer,
        epochs=epochs,
        batch_size=batch_size,
        held_out=test_data[:2000],
        energy_fn=bernoulli_rbm.free_energy,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=10,
        resume=resume,
        config=config,
    )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    history = {k: [float(x) for x in v] for k, v in result.history.items()}
    return result.params, seconds, cpu_seconds, history


def evaluate(args, params, train_data, test_data):
    from numpyro_ebm.evaluation import ais

    key = jax.random.key(args.seed + 2)
    key_ais, key_raise, key_subset = jax.random.split(key, 3)
    started = time.perf_counter()
    estimate = ais.ais_bernoulli_rbm(
        key_ais, params, n_runs=args.ais_runs, base_data=train_data, progress=True
    )
    ais_seconds = time.perf_counter() - started
    test_ll = ais.log_likelihood_bernoulli_rbm(params, test_data, estimate)
    train_ll = ais.log_likelihood_bernoulli_rbm(params, train_data[:10000], estimate)
    subset = jax.random.choice(
        key_subset, test_data.shape[0], (args.raise_examples,), replace=False
    )
    started = time.perf_counter()
    reverse = ais.raise_bernoulli_rbm(
        key_raise,
        params,
        test_data[subset],
        n_runs=args.raise_runs,
        n_temperatures=args.raise_temperatures,
        base_data=train_data,
        progress=True,
    )
    raise_seconds = time.perf_counter() - started
    subset_ais = ais.log_likelihood_bernoulli_rbm(params, test_data[subset], estimate)
    extra = {}
    if args.extra_ais_runs:
        # a second, larger AIS with an independent key: log Z-hat is biased low with few runs
        started = time.perf_counter()
        larger = ais.ais_bernoulli_rbm(
            jax.random.fold_in(key_ais, 1),
            params,
            n_runs=args.extra_ais_runs,
            base_data=train_data,
            progress=True,
        )
        larger_ll = ais.log_likelihood_bernoulli_rbm(params, test_data, larger)
        larger_subset = ais.log_likelihood_bernoulli_rbm(params, test_data[subset], larger)
        prefix = f"ais{args.extra_ais_runs}_"
        extra = {
            **log_z_figures(larger, prefix, ess_name="effective_sample_size"),
            prefix + "seconds": round(time.perf_counter() - started, 1),
            **interval_figures(prefix + "test_log_likelihood", larger_ll),
            prefix + "test_log_likelihood_raise_subset": float(larger_subset.mean),
        }
    return {
        **log_z_figures(estimate),
        "ais_runs": args.ais_runs,
        "ais_temperatures": int(estimate.n_temperatures),
        "ais_seconds": round(ais_seconds, 1),
        **interval_figures("test_log_likelihood_ais", test_ll),
        "train_log_likelihood_ais_first_10000": float(train_ll.mean),
        "raise_examples": args.raise_examples,
        "raise_runs_per_example": args.raise_runs,
        "raise_temperatures": args.raise_temperatures,
        "raise_seconds": round(raise_seconds, 1),
        "test_log_likelihood_raise_subset": float(reverse.mean),
        "test_log_likelihood_raise_subset_standard_error": float(reverse.standard_error),
        "test_log_likelihood_ais_same_subset": float(subset_ais.mean),
        **extra,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--k", type=int, default=1, help="Gibbs sweeps per update")
    parser.add_argument("--rule", choices=("pcd", "fpcd", "pt-pcd", "pt-fpcd"), default="fpcd")
    parser.add_argument("--fast-lr", type=float, default=0.02, help="FPCD fast learning rate")
    parser.add_argument("--fast-decay", type=float, default=19 / 20, help="FPCD fast decay")
    parser.add_argument(
        "--centered",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="centered RBM gradient (Melchior et al. 2016)",
    )
    parser.add_argument("--lr", type=float, default=0.02, help="initial SGD learning rate")
    parser.add_argument("--final-lr-fraction", type=float, default=0.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="L2 decay of W (optax, ordinary coordinates)",
    )
    parser.add_argument(
        "--centered-weight-decay",
        type=float,
        default=None,
        help="L2 decay of W in centered coordinates (learning.rbm.centered's weight_decay; "
        "default 2e-4 when centered)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--ais-runs", type=int, default=100)
    parser.add_argument(
        "--extra-ais-runs",
        type=int,
        default=0,
        help="also run a second AIS with this many runs (another key) and report it beside",
    )
    parser.add_argument("--raise-examples", type=int, default=500)
    parser.add_argument("--raise-runs", type=int, default=1)
    parser.add_argument("--raise-temperatures", type=int, default=14500)
    parser.add_argument(
        "--evaluate", default=None, help="skip training; evaluate these parameters (.npz)"
    )
    parser.add_argument(
        "--name", default=None, help="output file stem (default mnist_rbm_784_<hidden>)"
    )
    add_tempering_arguments(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)

    split = datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic")
    train_data, test_data = jnp.asarray(split.x_train), jnp.asarray(split.x_test)
    stem = args.name or f"mnist_rbm_784_{args.hidden}"
    RESULTS.mkdir(exist_ok=True)
    summary = {
        "machine": machine_description(),
        "command": command_line("mnist_rbm500", argv),
    }
    if args.evaluate:
        params = load_rbm(args.evaluate)
        previous = RESULTS / f"{stem}.json"
        if previous.exists():
            summary = {**json.loads(previous.read_text()), **summary}
    else:
        params, seconds, cpu_seconds, history = train(args, train_data, test_data)
        save_rbm(RESULTS / f"{stem}.npz", params)
        summary.update(
            train_seconds=round(seconds, 1),
            train_process_cpu_seconds=round(cpu_seconds, 1),
            train_command=summary["command"],
            config=vars(args),
            history=history,
        )
        write_summary(RESULTS / f"{stem}.json", summary)
    summary.update(evaluate(args, params, train_data, test_data))
    write_summary(RESULTS / f"{stem}.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()
