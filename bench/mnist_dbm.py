"""Two-layer deep Boltzmann machine on binarized MNIST: greedy pretraining, DBM training, AIS bound.

Pipeline (Salakhutdinov & Hinton 2009), all library code:

1. greedy pretraining (``numpyro_ebm.learning.dbm.greedy_pretrain``): the bottom
   RBM with two tied copies of the visible units, the top RBM with two tied copies
   of its hidden units, each by PCD with ``fit``;
2. DBM training with ``fit`` and ``numpyro_ebm.learning.dbm.dbm_pcd``: mean-field
   positive phase, persistent block-Gibbs chains for the negative phase, SGD with
   momentum, a learning rate decaying linearly to zero and L2 decay on W1, W2;
3. evaluation (``numpyro_ebm.evaluation.deep``): log Z by AIS with h1 summed out
   (base model fitted to the training data, 14,500 temperatures, 100 runs by
   default), and the mean-field variational lower bound on the average test
   log-probability, the quantity behind the paper's -84.62 for a 784-500-1000 DBM.

The data follow the project's convention (``datasets.load_mnist(path,
binarize="stochastic")``). Writes the parameters to ``bench/results/<name>.npz``
(W1, W2, b, c1, c2; E = -v'W1 h1 - h1'W2 h2 - b'v - c1'h1 - c2'h2) and the figures
to ``bench/results/<name>.json``, with the wall time of every phase.

Options for the DBM phase (issue 15): ``--rule pcd|fpcd|pt`` (fast weights
``--fast-lr``/``--fast-decay``; tempering ladder ``--pt-replicas``/``--pt-min-beta``),
``--centered`` (the centered DBM, ``learning.dbm.centered_dbm``, whose centered
weight decay then replaces the Optax one), ``--mf-tolerance``/``--mf-damping``
(the positive phase stops at convergence; the history records the iterations) and
``--tightness-images N`` (the paper's check of the bound: the variational bound
against an AIS estimate of log p(v) on N test images, N/10 per class).
``--data synthetic`` replaces MNIST by a small random binary set (for the smoke test).

The defaults are the committed run's recipe (BENCHMARKS.md: 20 pretraining epochs
per RBM, 120 DBM epochs). Examples::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_dbm
    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_dbm \\
        --hidden1 20 --hidden2 20 --pretrain-epochs 1 --epochs 1 --train-subset 2000 \\
        --ais-runs 16 --ais-temperatures 300 --name smoke   # a smoke run, about a minute
    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_dbm \\
        --evaluate bench/results/mnist_dbm_784_500_1000.npz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import (
    command_line,
    interval_figures,
    log_z_figures,
    machine_description,
    mnist_path,
    write_summary,
)
from bench.recipes import load_params, save_params, sgd_with_momentum_ramp
from numpyro_ebm import datasets
from numpyro_ebm.energies import dbm
from numpyro_ebm.evaluation import ais, deep
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.learning import dbm as dbm_rules
from numpyro_ebm.learning import fit

PAPER_TEST_BOUND = -84.62  # Salakhutdinov & Hinton (2009), 784-500-1000 DBM, variational bound


def synthetic_data(n_visible: int, n_train: int, n_test: int, seed: int):
    """Binary vectors near ten random prototypes (bits flipped with probability 0.1),
    with the prototype as the label."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, n_visible)) < 0.5

    def draw(n):
        labels = rng.integers(0, 10, n)
        rows = np.logical_xor(prototypes[labels], rng.random((n, n_visible)) < 0.1)
        return jnp.asarray(rows.astype(np.float32)), labels

    (x_train, _), (x_test, y_test) = draw(n_train), draw(n_test)
    return x_train, x_test, y_test


def per_class_rows(labels, n_images: int):
    """Indices of the first ``n_images // 10`` rows of each of the ten classes (the
    paper's 100 test images, 10 per class)."""
    labels = np.asarray(labels)
    per_class = max(1, n_images // 10)
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])


def pt_ladder(args):
    """The tempering ladder: ``--pt-betas`` as given (e.g. a ``bench/dbm_ladder.py``
    pilot's tuned ladder), else geometric from ``--pt-min-beta`` with ``--pt-replicas``."""
    if args.pt_betas:
        return jnp.asarray([float(b) for b in args.pt_betas.split(",")], dtype=jnp.float32)
    return pt.geometric_ladder(args.pt_replicas, args.pt_min_beta)


def dbm_rule(args):
    """The DBM rule the options ask for."""
    positive = {
        "mean_field_iterations": args.mf_iterations,
        "mean_field_tolerance": args.mf_tolerance,
        "mean_field_damping": args.mf_damping,
    }
    fast = {"fast_learning_rate": args.fast_lr, "fast_decay": args.fast_decay}
    if args.rule == "pcd":
        rule = dbm_rules.dbm_pcd(args.chains, k=args.k, **positive)
    elif args.rule == "fpcd":
        rule = dbm_rules.dbm_fpcd(args.chains, k=args.k, **fast, **positive)
    else:
        ladder = pt_ladder(args)
        if args.fast_lr > 0:
            rule = dbm_rules.dbm_pt_fpcd(args.chains, ladder, k=args.k, **fast, **positive)
        else:
            rule = dbm_rules.dbm_pt_pcd(args.chains, ladder, k=args.k, **positive)
    if args.centered:
        rule = dbm_rules.centered_dbm(
            rule,
            args.offset_rate,
            weight_decay=args.weight_decay,
            hidden_offsets=args.hidden_offsets,
        )
    return rule


def pretrain(args, train_data):
    """Greedy pretraining (or the ``--pretrained`` file): parameters, histories, timings."""
    steps_per_epoch = train_data.shape[0] // args.batch_size
    timings = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.pretrained:
        pretrained = load_dbm_params(args.pretrained)
        timings["pretrained_from"] = args.pretrained
        return pretrained, [], timings
    pre = dbm_rules.greedy_pretrain(
        jax.random.key(args.seed),
        train_data,
        args.hidden1,
        args.hidden2,
        sgd_with_momentum_ramp(
            args.pretrain_lr,
            0.0,
            args.momentum,
            args.weight_decay,
            steps_per_epoch,
            args.pretrain_epochs,
        ),
        epochs=args.pretrain_epochs,
        batch_size=args.batch_size,
        n_chains=args.chains,
        progress=not args.quiet,
    )
    timings["pretrain_seconds"] = round(time.perf_counter() - started, 1)
    timings["pretrain_process_cpu_seconds"] = round(time.process_time() - cpu_started, 1)
    pretrain_history = [{k: [float(x) for x in v] for k, v in h.items()} for h in pre.histories]
    return pre.params, pretrain_history, timings


def train(args, train_data, pretrained):
    """DBM training from the pretrained parameters: ``fit`` with the options' rule."""
    steps_per_epoch = train_data.shape[0] // args.batch_size
    timings = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    result = fit(
        jax.random.key(args.seed + 1),
        pretrained,
        train_data,
        dbm_rule(args),
        sgd_with_momentum_ramp(
            args.lr,
            args.final_lr_fraction,
            args.momentum,
            0.0 if args.centered else args.weight_decay,  # centered: decay inside the rule
            steps_per_epoch,
            args.epochs,
        ),
        epochs=args.epochs,
        batch_size=args.batch_size,
        progress=not args.quiet,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=5,
        resume=args.resume,
        config={k: v for k, v in vars(args).items() if k != "evaluate"},
    )
    timings["dbm_train_seconds"] = round(time.perf_counter() - started, 1)
    timings["dbm_train_process_cpu_seconds"] = round(time.process_time() - cpu_started, 1)
    history = {k: [float(x) for x in v] for k, v in result.history.items()}
    return result.params, timings, history


def tightness(args, params, test_data, test_labels, estimate, label):
    """The bound against AIS of log p(v) on ``--tightness-images`` test images, 10% per class."""
    rows = per_class_rows(test_labels, args.tightness_images)
    started = time.perf_counter()
    check = deep.dbm_bound_tightness(
        jax.random.fold_in(jax.random.key(args.seed + 3), len(label)),
        params,
        test_data[rows],
        estimate,
        n_runs=args.tightness_runs,
        schedule=ais.default_schedule(args.tightness_temperatures),
        mean_field_iterations=args.eval_mf_iterations,
        progress=not args.quiet,
    )
    ess = np.asarray(check.log_likelihood.conditional.effective_sample_size)
    return {
        f"{label}tightness_images": int(rows.shape[0]),
        f"{label}tightness_ais_runs": args.tightness_runs,
        f"{label}tightness_ais_temperatures": args.tightness_temperatures,
        f"{label}tightness_variational_bound": float(np.mean(check.bound)),
        f"{label}tightness_ais_log_likelihood": float(check.log_likelihood.mean),
        f"{label}tightness_mean_gap": float(check.mean_gap),
        f"{label}tightness_max_gap": float(np.max(check.gap)),
        f"{label}tightness_min_ess": float(np.min(ess)),
        f"{label}tightness_seconds": round(time.perf_counter() - started, 1),
    }


def evaluate(args, params, train_data, test_data, label, test_labels=None):
    key = jax.random.fold_in(jax.random.key(args.seed + 2), len(label))
    started = time.perf_counter()
    estimate = deep.ais_dbm(
        key,
        params,
        n_runs=args.ais_runs,
        schedule=ais.default_schedule(args.ais_temperatures),
        base_data=train_data,
        progress=not args.quiet,
    )
    ais_seconds = time.perf_counter() - started
    started = time.perf_counter()
    test_bound = deep.dbm_variational_bound(
        params, test_data, estimate, mean_field_iterations=args.eval_mf_iterations
    )
    train_bound = deep.dbm_variational_bound(
        params, train_data[:10000], estimate, mean_field_iterations=args.eval_mf_iterations
    )
    bound_seconds = time.perf_counter() - started
    checked = {}
    if args.tightness_images and test_labels is not None:
        checked = tightness(args, params, test_data, test_labels, estimate, label)
    return {
        **checked,
        **log_z_figures(estimate, label),
        f"{label}ais_runs": args.ais_runs,
        f"{label}ais_temperatures": int(estimate.n_temperatures),
        f"{label}ais_seconds": round(ais_seconds, 1),
        **interval_figures(f"{label}test_variational_bound", test_bound),
        f"{label}train_variational_bound_first_10000": float(train_bound.mean),
        f"{label}bound_seconds": round(bound_seconds, 1),
    }


def load_dbm_params(path) -> dbm.DBMParams:
    """DBM parameters from a ``.npz`` written by this script (W1, W2, b, c1, c2)."""
    return load_params(path, dbm.DBMParams)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--hidden1", type=int, default=500)
    parser.add_argument("--hidden2", type=int, default=1000)
    parser.add_argument("--pretrain-epochs", type=int, default=20, help="epochs per pretrained RBM")
    parser.add_argument("--pretrain-lr", type=float, default=0.005)
    parser.add_argument("--epochs", type=int, default=120, help="DBM training epochs")
    parser.add_argument("--lr", type=float, default=0.005, help="initial DBM learning rate")
    parser.add_argument("--final-lr-fraction", type=float, default=0.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--chains", type=int, default=100, help="persistent chains (fantasy particles)"
    )
    parser.add_argument("--k", type=int, default=1, help="Gibbs sweeps per update")
    parser.add_argument(
        "--mf-iterations", type=int, default=10, help="mean-field iterations in training"
    )
    parser.add_argument(
        "--mf-tolerance",
        type=float,
        default=0.0,
        help="stop the mean-field iterations when no mean moves more (0: run them all)",
    )
    parser.add_argument("--mf-damping", type=float, default=0.0)
    parser.add_argument("--rule", choices=("pcd", "fpcd", "pt"), default="pcd")
    parser.add_argument("--fast-lr", type=float, default=0.0, help="fpcd/pt fast-weight rate")
    parser.add_argument("--fast-decay", type=float, default=19.0 / 20.0)
    parser.add_argument("--pt-replicas", type=int, default=4)
    parser.add_argument("--pt-min-beta", type=float, default=0.5)
    parser.add_argument(
        "--pt-betas", default=None, help="explicit ladder, comma-separated, ending in 1"
    )
    parser.add_argument(
        "--pretrained", default=None, help="skip pretraining; start from these parameters (.npz)"
    )
    parser.add_argument(
        "--pretrain-only",
        action="store_true",
        help="stop after pretraining (writes *_pretrained.npz)",
    )
    parser.add_argument("--centered", action="store_true", help="the centered DBM")
    parser.add_argument("--offset-rate", type=float, default=0.01)
    parser.add_argument("--hidden-offsets", choices=dbm_rules.OFFSET_SOURCES, default="data")
    parser.add_argument("--eval-mf-iterations", type=int, default=30)
    parser.add_argument(
        "--tightness-images",
        type=int,
        default=100,
        help="test images (10%% per class) for the bound-vs-AIS check; 0 skips it",
    )
    parser.add_argument("--tightness-runs", type=int, default=20)
    parser.add_argument("--tightness-temperatures", type=int, default=5000)
    parser.add_argument("--data", choices=("mnist", "synthetic"), default="mnist")
    parser.add_argument("--synthetic-visible", type=int, default=64)
    parser.add_argument("--synthetic-train", type=int, default=600)
    parser.add_argument("--synthetic-test", type=int, default=200)
    parser.add_argument("--output-dir", default=None, help="default bench/results")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--train-subset", type=int, default=None, help="first N training images only"
    )
    parser.add_argument("--test-subset", type=int, default=None, help="first N test images only")
    parser.add_argument("--ais-runs", type=int, default=100)
    parser.add_argument("--ais-temperatures", type=int, default=14500)
    parser.add_argument(
        "--no-pretrained-eval",
        action="store_true",
        help="skip the AIS evaluation of the pretrained DBM",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--evaluate", default=None, help="skip training; evaluate these parameters (.npz)"
    )
    parser.add_argument(
        "--name", default=None, help="output stem (default mnist_dbm_784_<h1>_<h2>)"
    )
    args = parser.parse_args(argv)

    if args.rule == "fpcd" and args.fast_lr <= 0:
        parser.error("--rule fpcd needs --fast-lr > 0")
    if args.data == "synthetic":
        train_data, test_data, test_labels = synthetic_data(
            args.synthetic_visible, args.synthetic_train, args.synthetic_test, args.seed
        )
    else:
        split = datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic")
        train_data = jnp.asarray(split.x_train[: args.train_subset])
        test_data = jnp.asarray(split.x_test[: args.test_subset])
        test_labels = split.y_test[: args.test_subset]
    stem = args.name or f"mnist_dbm_784_{args.hidden1}_{args.hidden2}"
    results = Path(args.output_dir) if args.output_dir else RESULTS
    results.mkdir(exist_ok=True, parents=True)
    summary = {
        "machine": machine_description(),
        "command": command_line("mnist_dbm", argv),
        "paper_test_variational_bound": PAPER_TEST_BOUND,
    }
    started = time.perf_counter()
    if args.evaluate:
        params = load_dbm_params(args.evaluate)
    else:
        pretrained, pretrain_history, timings = pretrain(args, train_data)
        save_params(results / f"{stem}_pretrained.npz", pretrained)
        summary.update(timings, config=vars(args), pretrain_history=pretrain_history)
        if args.pretrain_only:
            write_summary(results / f"{stem}.json", summary)
            print(json.dumps(timings, indent=2))
            return summary
        params, timings, history = train(args, train_data, pretrained)
        save_params(results / f"{stem}.npz", params)
        summary.update(timings, history=history)
        write_summary(results / f"{stem}.json", summary)
        if not args.no_pretrained_eval:
            summary.update(evaluate(args, pretrained, train_data, test_data, "pretrained_"))
    summary.update(evaluate(args, params, train_data, test_data, "", test_labels))
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    write_summary(results / f"{stem}.json", summary)
    shown = {k: v for k, v in summary.items() if not k.endswith("history") and k != "config"}
    print(json.dumps(shown, indent=2))
    return summary


if __name__ == "__main__":
    main()
