"""``numpyro-ebm demo``: the main job of the README.

The demo trains a Bernoulli RBM with PCD on the embedded 8×8 digits, shows a
progress bar, reports the exact test log-likelihood (the hidden layer is small
enough to enumerate) against the independent-pixel baseline, and writes a
checkpoint and PNG plots (samples, filters, training curves, and the mixing of
the persistent chains: R-hat and effective sample sizes of their energies per epoch).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from numpyro_ebm.cli._common import check_finite_positive, check_positive

__all__ = ["add_parser", "run", "run_demo"]

MAX_DEMO_HIDDEN = 24
"""Largest ``--hidden``: the exact likelihood enumerates ``2**hidden`` hidden states."""

N_DIGITS_TRAIN = 1438
"""Training images of the embedded digits (the rest of the 1797 are held out)."""


def run_demo(
    output: str | Path = "demo_output",
    *,
    epochs: int = 40,
    n_hidden: int = 16,
    batch_size: int = 20,
    n_chains: int = 100,
    learning_rate: float = 3e-3,
    seed: int = 0,
    sample_sweeps: int = 1000,
    progress: bool = True,
    plots: bool = True,
) -> dict:
    """Train, evaluate and plot; return the summary that is also written to ``summary.json``."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from numpyro_ebm import datasets
    from numpyro_ebm.energies import bernoulli_rbm
    from numpyro_ebm.evaluation import exact, metrics
    from numpyro_ebm.kernels import rbm_gibbs, runner
    from numpyro_ebm.learning import fit, pcd

    started = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    split = datasets.load_digits(binarize=True, seed=seed)
    train, test = jnp.asarray(split.x_train), jnp.asarray(split.x_test)
    n_visible = train.shape[1]
    key_init, key_fit, key_sample = jax.random.split(jax.random.key(seed), 3)
    params = bernoulli_rbm.init_params(key_init, n_visible, n_hidden, data=train)
    gibbs = rbm_gibbs.as_top_level_api("bernoulli")
    rule = pcd(bernoulli_rbm.free_energy, gibbs, n_chains=n_chains, k=1)

    def test_log_likelihood(p, _train, held_out):
        return float(np.mean(exact.log_likelihood_bernoulli_rbm(p, held_out)))

    def pseudo_ll(p, _train, held_out):
        return float(jnp.mean(metrics.bernoulli_rbm_pseudo_log_likelihood(p, held_out)))

    def reconstruction(p, _train, held_out):
        return float(metrics.bernoulli_rbm_reconstruction_error(p, held_out))

    result = fit(
        key_fit,
        params,
        train,
        rule,
        optax.adam(learning_rate),
        epochs=epochs,
        batch_size=batch_size,
        held_out=test,
        energy_fn=bernoulli_rbm.free_energy,
        metrics={
            "test_log_likelihood": test_log_likelihood,
            "test_pseudo_log_likelihood": pseudo_ll,
            "reconstruction_error": reconstruction,
        },
        validate_data=lambda x: bernoulli_rbm.validate_visible(params, x, "data"),
        checkpoint_dir=output / "checkpoint",
        checkpoint_every=10,
        progress=progress,
        config={
            "model": "bernoulli_rbm",
            "n_visible": n_visible,
            "n_hidden": n_hidden,
            "rule": "pcd-1",
            "n_chains": n_chains,
            "batch_size": batch_size,
            "optimizer": f"adam({learning_rate})",
            "epochs": epochs,
            "seed": seed,
            "data": "embedded 8x8 digits, threshold 8",
        },
    )
    params = result.params
    log_z = exact.log_partition_bernoulli_rbm(params)
    test_ll = float(np.mean(exact.log_likelihood_bernoulli_rbm(params, test, log_z=log_z)))
    train_ll = float(np.mean(exact.log_likelihood_bernoulli_rbm(params, train, log_z=log_z)))
    # baseline: independent pixels at the training base rates (the RBM with W = 0)
    rate = np.clip(np.asarray(train).mean(axis=0), 1e-3, 1 - 1e-3)
    x_test = np.asarray(test)
    baseline_ll = float(np.mean(x_test @ np.log(rate) + (1 - x_test) @ np.log1p(-rate)))

    # fantasies: fresh chains from noise, many sweeps of block Gibbs
    chains = gibbs.init(
        jnp.asarray(np.random.default_rng(seed).random((64, n_visible)) < 0.5, jnp.float32), params
    )

    @jax.jit
    def sample(state, key, params):
        return runner.run_sampler(
            key,
            gibbs,
            state,
            params,
            sample_sweeps,
            vmap_chains=False,  # block Gibbs moves every chain with one matrix product
            transform=runner.final_state_only,
        )[0]

    chains = sample(chains, key_sample, params)
    summary = {
        "test_log_likelihood": test_ll,
        "train_log_likelihood": train_ll,
        "independent_pixel_baseline_test_log_likelihood": baseline_ll,
        "log_partition_function": log_z,
        "epochs": result.epochs_completed,
        "seconds": None,
        "checkpoint": str(output / "checkpoint" / "checkpoint.npz"),
    }
    if plots:
        from numpyro_ebm import plots as plotting

        plotting.image_grid(
            chains.visible,
            (8, 8),
            output / "samples.png",
            title=f"Gibbs samples ({sample_sweeps} sweeps from noise)",
        )
        plotting.plot_filters(params.W, (8, 8), output / "filters.png")
        plotting.plot_history(
            result.history,
            output / "training_curves.png",
            keys=[
                "test_log_likelihood",
                "test_pseudo_log_likelihood",
                "reconstruction_error",
                "free_energy_gap",
                "positive_energy",
                "negative_energy",
            ],
            title=f"PCD-1, 64-{n_hidden} RBM on 8x8 digits",
        )
        plotting.plot_mixing(
            result.history,
            output / "mixing.png",
            title=f"PCD-1 chains ({n_chains}): energies within each epoch",
        )
        summary["plots"] = [
            str(output / name)
            for name in ("samples.png", "filters.png", "training_curves.png", "mixing.png")
        ]
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


EXAMPLES = """examples:
  numpyro-ebm demo                         # 40 epochs, 64-16 RBM, under a minute
  numpyro-ebm demo --epochs 5 --hidden 8 --no-plots --output /tmp/demo
"""


def add_parser(subparsers, parents) -> argparse.ArgumentParser:
    demo = subparsers.add_parser(
        "demo",
        parents=parents,
        help="train a small RBM on the embedded digits and report its exact log-likelihood",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--output", default="demo_output", help="directory for the checkpoint, plots and summary"
    )
    demo.add_argument("--epochs", type=int, default=40, help="training epochs")
    demo.add_argument(
        "--hidden",
        type=int,
        default=16,
        help=f"hidden units (at most {MAX_DEMO_HIDDEN}: the exact likelihood enumerates 2^hidden states)",
    )
    demo.add_argument("--batch-size", type=int, default=20, help="images per minibatch")
    demo.add_argument("--learning-rate", type=float, default=3e-3, help="Adam's step size")
    demo.add_argument("--seed", type=int, default=0, help="every random choice derives from it")
    demo.add_argument(
        "--sample-sweeps", type=int, default=1000, help="Gibbs sweeps for the sample figure"
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.add_argument("--no-plots", action="store_true", help="write no PNG figures")
    return demo


def validate(args, parser) -> None:
    """Every check that needs no data: a bad value never costs an epoch."""
    check_positive(parser, args.epochs, "--epochs")
    check_positive(parser, args.hidden, "--hidden")
    if args.hidden > MAX_DEMO_HIDDEN:
        parser.error(
            f"--hidden {args.hidden} is too large for the demo's exact likelihood (it enumerates "
            f"2^hidden states; at most {MAX_DEMO_HIDDEN}); for larger models use "
            "'numpyro-ebm train' and 'numpyro-ebm evaluate --method ais'"
        )
    check_positive(parser, args.batch_size, "--batch-size")
    if args.batch_size > N_DIGITS_TRAIN:
        parser.error(
            f"--batch-size {args.batch_size} is larger than the {N_DIGITS_TRAIN} training images"
        )
    check_finite_positive(parser, args.learning_rate, "--learning-rate")
    check_positive(parser, args.sample_sweeps, "--sample-sweeps")
    check_positive(parser, args.seed, "--seed", allow_zero=True)


def run(args) -> int:
    summary = run_demo(
        args.output,
        epochs=args.epochs,
        n_hidden=args.hidden,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        sample_sweeps=args.sample_sweeps,
        progress=not args.no_progress,
        plots=not args.no_plots,
    )
    print(f"test log-likelihood (exact): {summary['test_log_likelihood']:.3f} nats per image")
    print(
        f"  independent-pixel baseline: {summary['independent_pixel_baseline_test_log_likelihood']:.3f}"
    )
    print(f"  train log-likelihood:       {summary['train_log_likelihood']:.3f}")
    print(f"wrote {args.output}/ (checkpoint, plots, summary.json) in {summary['seconds']} s")
    return 0
