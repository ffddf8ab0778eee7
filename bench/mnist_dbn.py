"""Two-layer DBN on binarized MNIST: variational lower bound on log p(v) with AIS on the top RBM.

Salakhutdinov & Murray (2008, section 4), all library code:

1. the bottom layer is a 784-500 Bernoulli RBM: by default the committed
   ``bench/results/mnist_rbm_784_500.npz`` (``bench/mnist_rbm500.py``; its AIS test
   log-likelihood is read from the JSON beside it), or one trained here with
   ``--train-bottom`` (``mnist_rbm500.train``, the same recipe);
2. the top RBM is trained greedily on the bottom layer's hidden activities (binary
   draws or probabilities) of the training images
   (``learning.dbn.greedy_layerwise`` with ``pretrained=(bottom,)``), by ``fit``
   with PCD-1 (``learning.dbn.copies_rbm_pcd``, which takes probabilities as
   data), optionally centered (``learning.rbm.centered``), SGD with momentum, a
   learning rate decaying linearly to zero and L2 decay on the weights;
3. ``evaluation.deep.ais_dbn``: log Z of the top RBM by AIS (base rates from an
   up-pass sample of the training images, 14,500 temperatures, 100 runs), and
   ``evaluation.deep.dbn_variational_bound``: the bound
   E_q[log p(v|h1) + log p*(h1)] + H(q) - log Z_top with q the bottom RBM's
   posterior, by Monte Carlo over h1 ~ q, on the test images and the first
   10,000 training images. Salakhutdinov & Murray report -86.22 for their
   784-500-2000 DBN.

``--data synthetic`` replaces MNIST by a small random binary data set (for the
smoke test; needs ``--train-bottom``). Writes the top RBM to
``<output-dir>/<name>.npz`` (W, b, c; E = -b'h1 - c'h2 - h1'W h2) and the
figures, timings (wall and process CPU time) and command to ``<name>.json``.

The defaults are the committed headline run (BENCHMARKS.md): a 784-unit top RBM
started at the bottom one transposed (``--top-init transpose``), 30 epochs, learning
rate 0.005, trained on binary draws of h1 (``--hidden-activities samples``). The
paper's 500-2000 DBN is ``--top-init random --top-hidden 2000``.

Examples::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_dbn
    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.mnist_dbn --top-init random \\
        --top-hidden 2000 --epochs 20 --lr 0.02 --hidden-activities probabilities
    python -m bench.mnist_dbn --data synthetic --train-bottom --bottom-hidden 8 \\
        --top-hidden 6 --bottom-epochs 2 --epochs 2 --ais-runs 8 --ais-temperatures 50 \\
        --bound-samples 4 --output-dir /tmp/dbn_smoke   # a few seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench import REPOSITORY, RESULTS, mnist_rbm500
from bench._common import (
    command_line,
    interval_figures,
    log_z_figures,
    machine_description,
    mnist_path,
    write_summary,
)
from bench.recipes import load_rbm, save_rbm, sgd_with_momentum_ramp
from numpyro_ebm import datasets
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import ais, deep
from numpyro_ebm.learning import dbn
from numpyro_ebm.learning import rbm as rbm_rules

DEFAULT_BOTTOM = RESULTS / "mnist_rbm_784_500.npz"
PAPER_TEST_BOUND = -86.22  # Salakhutdinov & Murray (2008), 784-500-2000 DBN, test bound


def synthetic_data(n_visible: int, n_train: int, n_test: int, seed: int):
    """Binary vectors near four random prototypes (each bit flipped with probability 0.1)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((4, n_visible)) < 0.5

    def draw(n):
        rows = prototypes[rng.integers(0, 4, n)]
        return np.logical_xor(rows, rng.random((n, n_visible)) < 0.1).astype(np.float32)

    return jnp.asarray(draw(n_train)), jnp.asarray(draw(n_test))


def _shown_path(path) -> str:
    """``path`` relative to the repository when it lies inside it (for the JSON record)."""
    path = Path(path).resolve()
    root = REPOSITORY
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def bottom_layer(args, train_data, test_data):
    """The bottom RBM and what is known of it: its AIS figures and where they come from."""
    if not args.train_bottom:
        params = load_rbm(args.bottom)
        info = {"bottom_source": _shown_path(args.bottom)}
        record = Path(args.bottom).with_suffix(".json")
        if record.exists() and not args.bottom_ais:
            saved = json.loads(record.read_text())
            info.update(
                bottom_figures_from=_shown_path(record),
                bottom_test_log_likelihood_ais=saved.get("test_log_likelihood_ais"),
                bottom_test_log_likelihood_ais_interval_3sigma=saved.get(
                    "test_log_likelihood_ais_interval_3sigma"
                ),
                bottom_train_log_likelihood_ais_first_10000=saved.get(
                    "train_log_likelihood_ais_first_10000"
                ),
                bottom_ais_effective_sample_size=saved.get("ais_effective_sample_size"),
                bottom_train_command=saved.get("train_command"),
            )
            return params, info
    else:
        # mnist_rbm500's recipe: centered PCD-k, SGD with momentum, linear decay, L2 decay
        # (in ordinary coordinates: the centered rule's own decay is off)
        rule = rbm_rules.centered(
            rbm_rules.bernoulli_rbm_pcd(n_chains=args.chains, k=args.k), weight_decay=0.0
        )
        schedule = dict(
            hidden=args.bottom_hidden,
            epochs=args.bottom_epochs,
            batch_size=args.batch_size,
            lr=args.bottom_lr,
            final_lr_fraction=0.0,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            seed=args.seed,
        )
        recipe = dict(
            schedule,
            chains=args.chains,
            k=args.k,
            rule="pcd",
            centered=True,
            centered_weight_decay=0.0,
        )
        started, cpu = time.perf_counter(), time.process_time()
        params, _, _, history = mnist_rbm500.train_rbm(
            rule, train_data, test_data, **schedule, config=recipe
        )
        info = {
            "bottom_source": "trained (mnist_rbm500.train_rbm, centered)",
            "bottom_config": recipe,
            "bottom_train_seconds": round(time.perf_counter() - started, 1),
            "bottom_train_cpu_seconds": round(time.process_time() - cpu, 1),
            "bottom_history": history,
        }
    # AIS on the bottom RBM itself, with the schedule and runs used for the top RBM
    started = time.perf_counter()
    estimate = ais.ais_bernoulli_rbm(
        jax.random.key(args.seed + 3),
        params,
        n_runs=args.ais_runs,
        schedule=ais.default_schedule(args.ais_temperatures),
        base_data=train_data,
        progress=not args.quiet,
    )
    test_ll = ais.log_likelihood_bernoulli_rbm(params, test_data, estimate)
    train_ll = ais.log_likelihood_bernoulli_rbm(params, train_data[:10000], estimate)
    info.update(
        bottom_figures_from="AIS run here",
        **interval_figures("bottom_test_log_likelihood_ais", test_ll),
        bottom_train_log_likelihood_ais_first_10000=float(train_ll.mean),
        bottom_ais_effective_sample_size=float(estimate.effective_sample_size),
        bottom_ais_seconds=round(time.perf_counter() - started, 1),
    )
    return params, info


def train_top(args, bottom, train_data, test_data):
    steps_per_epoch = train_data.shape[0] // args.batch_size
    optimizer = sgd_with_momentum_ramp(
        args.lr,
        args.final_lr_fraction,
        args.momentum,
        args.weight_decay,
        steps_per_epoch,
        args.epochs,
    )
    rule = dbn.copies_rbm_pcd(args.chains, k=args.k)
    if args.centered:
        rule = rbm_rules.centered(rule)
    started, cpu = time.perf_counter(), time.process_time()
    result = dbn.greedy_layerwise(
        jax.random.key(args.seed + 1),
        train_data,
        [args.top_hidden],
        optimizer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        rule=rule,
        hidden_activities=args.hidden_activities,
        initialization=args.top_init,
        pretrained=(bottom,),
        held_out=test_data[:2000],
        progress=not args.quiet,
    )
    jax.block_until_ready(result.params)
    timings = {
        "top_train_seconds": round(time.perf_counter() - started, 1),
        "top_train_cpu_seconds": round(time.process_time() - cpu, 1),
    }
    history = {k: [float(x) for x in v] for k, v in result.histories[0].items()}
    return result.params, timings, history


def evaluate(args, params: dbn.DBNParams, train_data, test_data):
    key_ais, key_test, key_train = jax.random.split(jax.random.key(args.seed + 2), 3)
    started = time.perf_counter()
    estimate = deep.ais_dbn(
        key_ais,
        params,
        base_data=train_data,
        n_runs=args.ais_runs,
        schedule=ais.default_schedule(args.ais_temperatures),
        progress=not args.quiet,
    )
    jax.block_until_ready(estimate.log_z)
    ais_seconds = time.perf_counter() - started
    started = time.perf_counter()
    test = deep.dbn_variational_bound(
        key_test, params, test_data, estimate, n_samples=args.bound_samples
    )
    train = deep.dbn_variational_bound(
        key_train, params, train_data[:10000], estimate, n_samples=args.bound_samples
    )
    jax.block_until_ready((test.mean, train.mean))
    bound_seconds = time.perf_counter() - started
    return {
        **log_z_figures(estimate, "top_"),
        "ais_runs": args.ais_runs,
        "ais_temperatures": int(estimate.n_temperatures),
        "ais_seconds": round(ais_seconds, 1),
        **interval_figures("test_variational_bound", test),
        "test_variational_bound_monte_carlo_standard_error": float(test.standard_error),
        "train_variational_bound_first_10000": float(train.mean),
        "train_variational_bound_monte_carlo_standard_error": float(train.standard_error),
        "test_examples": int(test_data.shape[0]),
        "bound_samples_per_example": args.bound_samples,
        "bound_seconds": round(bound_seconds, 1),
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("mnist", "synthetic"), default="mnist")
    parser.add_argument("--mnist", default=None, help="default: $NUMPYRO_EBM_MNIST")
    parser.add_argument("--synthetic-visible", type=int, default=64)
    parser.add_argument("--synthetic-train", type=int, default=600)
    parser.add_argument("--synthetic-test", type=int, default=200)
    parser.add_argument("--bottom", default=str(DEFAULT_BOTTOM), help="bottom RBM (.npz)")
    parser.add_argument(
        "--train-bottom", action="store_true", help="train the bottom RBM instead of loading it"
    )
    parser.add_argument(
        "--bottom-ais",
        action="store_true",
        help="run AIS on a loaded bottom RBM instead of reading its figures from its JSON",
    )
    parser.add_argument("--bottom-hidden", type=int, default=500)
    parser.add_argument("--bottom-epochs", type=int, default=160)
    parser.add_argument("--bottom-lr", type=float, default=0.02)
    parser.add_argument(
        "--top-hidden",
        type=int,
        default=None,
        help="top RBM's hidden units (default: the bottom's visible units with --top-init "
        "transpose, else 2000)",
    )
    parser.add_argument(
        "--top-init",
        choices=("random", "transpose"),
        default="transpose",
        help="start the top RBM from small random weights, or at the bottom RBM transposed "
        "(needs --top-hidden equal to the bottom's visible units; Hinton et al. 2006)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the top RBM")
    parser.add_argument("--lr", type=float, default=0.005, help="initial SGD learning rate")
    parser.add_argument("--final-lr-fraction", type=float, default=0.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--chains", type=int, default=100, help="persistent chains")
    parser.add_argument("--k", type=int, default=1, help="Gibbs sweeps per update")
    parser.add_argument(
        "--centered",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="centered gradient (Melchior et al. 2016) for the top RBM",
    )
    parser.add_argument(
        "--hidden-activities", choices=("probabilities", "samples"), default="samples"
    )
    parser.add_argument("--train-subset", type=int, default=None, help="first N training images")
    parser.add_argument("--test-subset", type=int, default=None, help="first N test images")
    parser.add_argument("--ais-runs", type=int, default=100)
    parser.add_argument("--ais-temperatures", type=int, default=14500)
    parser.add_argument("--bound-samples", type=int, default=100, help="h1 draws per image")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--evaluate", default=None, help="skip training; evaluate this top RBM (.npz)"
    )
    parser.add_argument(
        "--transpose-top",
        action="store_true",
        help="skip training; the top RBM is the bottom one transposed (a check: its bound "
        "equals the bottom RBM's log-likelihood, Hinton et al. 2006)",
    )
    parser.add_argument("--output-dir", default=str(RESULTS))
    parser.add_argument(
        "--name", default=None, help="output stem (default mnist_dbn_784_500_<top>)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.data == "synthetic":
        if not args.train_bottom and args.bottom == str(DEFAULT_BOTTOM):
            raise SystemExit("--data synthetic needs --train-bottom (the committed RBM is 784-500)")
        train_data, test_data = synthetic_data(
            args.synthetic_visible, args.synthetic_train, args.synthetic_test, args.seed
        )
    else:
        split = datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic")
        train_data, test_data = jnp.asarray(split.x_train), jnp.asarray(split.x_test)
    train_data, test_data = train_data[: args.train_subset], test_data[: args.test_subset]

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bottom, bottom_info = bottom_layer(args, train_data, test_data)
    if args.top_hidden is None:
        args.top_hidden = bottom.W.shape[0] if args.top_init == "transpose" else 2000
    if args.transpose_top:
        top_name = "transpose"
    else:
        top_name = (
            str(args.top_hidden)
            + ("_from_transpose" if args.top_init == "transpose" else "")
            + ("_samples" if args.hidden_activities == "samples" else "")
        )
    stem = args.name or f"mnist_dbn_{bottom.W.shape[0]}_{bottom.W.shape[1]}_{top_name}"
    summary = {
        "machine": machine_description(),
        "command": command_line("mnist_dbn", argv),
        "data": args.data,
        "paper_test_variational_bound": PAPER_TEST_BOUND,
        "config": vars(args),
        **bottom_info,
    }
    if args.transpose_top:
        # p_top(h1) is then the bottom RBM's own marginal over its hidden units and q its
        # exact posterior, so the bound is tight: log p(v) of the bottom RBM
        top = bernoulli_rbm.BernoulliRBMParams(bottom.W.T, bottom.c, bottom.b)
        summary["top_source"] = "the bottom RBM transposed (W', c, b)"
        params = dbn.DBNParams((bottom, top))
    elif args.evaluate:
        top = load_rbm(args.evaluate)
        summary["top_source"] = args.evaluate
        previous = output / f"{stem}.json"
        if previous.exists():  # keep the training record of that run
            saved = json.loads(previous.read_text())
            summary = {**{k: v for k, v in saved.items() if k.startswith("top_")}, **summary}
            summary["top_history"] = saved.get("top_history")
        params = dbn.DBNParams((bottom, top))
    else:
        params, timings, history = train_top(args, bottom, train_data, test_data)
        save_rbm(output / f"{stem}.npz", params.layers[1])
        summary.update(timings, top_history=history)
        write_summary(output / f"{stem}.json", summary)
    summary.update(evaluate(args, params, train_data, test_data))
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    write_summary(output / f"{stem}.json", summary)
    if not args.quiet:
        shown = {k: v for k, v in summary.items() if not k.endswith("history") and k != "config"}
        print(json.dumps(shown, indent=2))
    return summary


if __name__ == "__main__":
    main()
