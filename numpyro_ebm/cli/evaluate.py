"""``numpyro-ebm evaluate``: log-likelihood, pseudo-likelihood and reconstruction error of a checkpoint.

The log-likelihood is exact (enumeration of the smaller layer, float64) when the
model is small enough, and otherwise estimated by annealed importance sampling
(AIS, Salakhutdinov & Murray 2008) with its interval, together with the
conservative reverse-annealing estimate RAISE (Burda, Grosse & Salakhutdinov
2015); for a DBM the AIS estimate of log Z goes with the mean-field lower bound.
The numbers are printed as a table and, with ``--json``, written to a file.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from numpyro_ebm.cli._common import (
    DIGITS,
    CommandError,
    apply_standardization,
    as_flags,
    check_input_file,
    check_positive,
    energy_module,
    load_data,
    plural,
    warn,
    write_json,
)

__all__ = [
    "add_parser",
    "validate",
    "run",
    "evaluate_checkpoint",
    "MAX_EXACT_BITS",
    "RAISE_IMAGES",
]

MAX_EXACT_BITS = 24  # numpyro_ebm.registry.MAX_EXACT_BITS (spelt out: --help imports no JAX)
"""``--method auto`` enumerates up to ``2**24`` states (seconds on a CPU) and uses AIS beyond."""

RAISE_IMAGES = 500
"""RAISE's default number of rows, drawn at random (the benchmark protocol)."""

EXAMPLES = """examples:
  numpyro-ebm evaluate run1/checkpoint --data digits
  numpyro-ebm evaluate run1/checkpoint --data test.npz --key x_test --method ais \\
      --ais-runs 100 --ais-temperatures 10000 --json run1/evaluation.json
  numpyro-ebm evaluate demo_output/checkpoint --data digits --split train
"""


def add_parser(subparsers, parents) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        parents=parents,
        help="log-likelihood (exact or AIS/RAISE), pseudo-likelihood and reconstruction error",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="checkpoint directory or .npz file (from train or demo)")
    p.add_argument(
        "--data", required=True, help=f"a .npz, .npy or .csv file, or '{DIGITS}' (its test split)"
    )
    p.add_argument("--key", help="the array of a .npz archive")
    p.add_argument("--columns", help="columns to use, as for train")
    p.add_argument("--binarize", type=float, help="threshold to binarize the data, as for train")
    p.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which split of the embedded digits (default: test)",
    )
    p.add_argument(
        "--method",
        choices=("auto", "exact", "ais"),
        default="auto",
        help=f"log-likelihood method; auto: exact up to 2^{MAX_EXACT_BITS} states, else AIS",
    )
    p.add_argument("--ais-runs", type=int, default=100, help="AIS runs (default: 100)")
    p.add_argument(
        "--ais-temperatures",
        type=int,
        default=14500,
        help="AIS and RAISE temperatures (default: 14500)",
    )
    p.add_argument("--no-raise", action="store_true", help="skip the RAISE estimate")
    p.add_argument(
        "--raise-images",
        default=str(RAISE_IMAGES),
        help="rows RAISE anneals from, drawn at random (it costs a full annealing per row: "
        "about 9 minutes for MNIST's 10,000 on a CPU), or 'all'",
    )
    p.add_argument("--seed", type=int, default=0, help="every random choice derives from it")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def validate(args, parser) -> None:
    check_input_file(parser, args.data, "--data", digits_ok=True)
    if not Path(args.checkpoint).exists():
        parser.error(f"no such checkpoint: {args.checkpoint}")
    check_positive(parser, args.ais_runs, "--ais-runs")
    if args.ais_temperatures < 3:
        parser.error(f"--ais-temperatures must be at least 3; got {args.ais_temperatures}")
    check_positive(parser, args.seed, "--seed", allow_zero=True)
    if args.binarize is not None and not math.isfinite(args.binarize):
        parser.error(f"--binarize must be a finite threshold; got {args.binarize}")
    if args.key is not None and args.data == DIGITS:
        parser.error("--key applies to .npz files, not to the embedded digits")
    if args.raise_images != "all":
        try:
            args.raise_images = int(args.raise_images)
        except ValueError:
            parser.error(
                f"--raise-images takes a number of rows or 'all'; got {args.raise_images!r}"
            )
        check_positive(parser, args.raise_images, "--raise-images")
    else:
        args.raise_images = None


def evaluate_checkpoint(
    model,
    params,
    data,
    *,
    method,
    key,
    ais_runs,
    n_temperatures,
    raise_,
    progress,
    raise_images: int | None = RAISE_IMAGES,
):
    """``{name: value}`` and ``{name: (lower, upper)}`` of every metric the model supports.

    RAISE anneals from ``raise_images`` rows drawn at random without replacement (every
    row when None or when there are no more rows than that)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from numpyro_ebm import registry
    from numpyro_ebm.energies import dbm, gaussian_rbm
    from numpyro_ebm.evaluation import deep_boltzmann, exact, metrics, rbm_annealing

    bits = registry.exact_bits(model, params)
    if method == "auto":
        method = "exact" if bits <= MAX_EXACT_BITS else "ais"
    if method == "exact" and bits > exact.MAX_ENUMERATION_BITS:
        raise CommandError(
            f"--method exact would enumerate 2^{bits} states (the limit is "
            f"2^{exact.MAX_ENUMERATION_BITS}); use --method ais"
        )
    values: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    x = jnp.asarray(data)
    key_ais, key_raise = jax.random.split(key)
    schedule = rbm_annealing.default_schedule(n_temperatures)
    partition = registry.log_partition(
        model,
        params,
        key_ais,
        method=method,
        n_runs=ais_runs,
        schedule=schedule,
        base_data=x if model != "gaussian-rbm" else None,
        progress=progress,
    )
    values["log_partition_function"] = partition.log_z
    estimate = partition.estimate  # the AIS result, None when exact
    if estimate is not None:
        _warn_if_unreliable(estimate)
        intervals["log_partition_function"] = tuple(float(b) for b in estimate.interval)
    if model == "bernoulli-rbm":
        if estimate is None:
            values["log_likelihood"] = float(
                np.mean(exact.log_likelihood_bernoulli_rbm(params, x, log_z=partition.log_z))
            )
        else:
            ll = rbm_annealing.ais_log_likelihood_bernoulli_rbm(params, x, estimate)
            values["log_likelihood"] = float(ll.mean)
            intervals["log_likelihood"] = tuple(float(b) for b in ll.interval)
            if raise_:
                key_rows, key_raise = jax.random.split(key_raise)
                rows = x
                if raise_images is not None and raise_images < x.shape[0]:
                    picked = jax.random.choice(key_rows, x.shape[0], (raise_images,), replace=False)
                    rows = x[picked]
                values["raise_images"] = int(rows.shape[0])
                reverse = rbm_annealing.reverse_ais_bernoulli_rbm(
                    key_raise, params, rows, schedule=schedule, base_data=x, progress=progress
                )
                values["log_likelihood_raise"] = float(reverse.mean)
                # the standard error of the mean over rows (RAISE gives no interval)
                values["log_likelihood_raise_standard_error"] = float(reverse.standard_error)
        values["pseudo_log_likelihood"] = float(
            jnp.mean(metrics.bernoulli_rbm_pseudo_log_likelihood(params, x))
        )
        values["reconstruction_error"] = float(
            metrics.bernoulli_rbm_reconstruction_error(params, x)
        )
    elif model == "gaussian-rbm":
        free = np.asarray(jax.jit(gaussian_rbm.free_energy)(params, x), np.float64)
        values["log_likelihood"] = float(-np.mean(free) - partition.log_z)
        if estimate is not None:  # log p(v) = -F(v) - log Z: the interval of log Z reversed
            lower, upper = intervals["log_partition_function"]
            intervals["log_likelihood"] = (-np.mean(free) - upper, -np.mean(free) - lower)
        mean = gaussian_rbm.visible_mean(params, gaussian_rbm.hidden_probs(params, x))
        values["reconstruction_error"] = float(jnp.mean((mean - x) ** 2))
    else:
        if estimate is None:
            values["log_likelihood"] = float(
                np.mean(deep_boltzmann.exact_log_likelihood_dbm(params, x, log_z=partition.log_z))
            )
        bound = deep_boltzmann.variational_bound_dbm(
            params, x, partition.log_z if estimate is None else estimate
        )
        values["log_likelihood_lower_bound"] = float(bound.mean)
        if estimate is not None:
            intervals["log_likelihood_lower_bound"] = tuple(float(b) for b in bound.interval)
        q = jax.jit(dbm.mean_field)(params, x)
        recon = jax.nn.sigmoid(dbm.visible_logits(params, q.hidden1))
        values["reconstruction_error"] = float(jnp.mean(jnp.sum((recon - x) ** 2, axis=-1)))
    values["method"] = method  # type: ignore[assignment]
    return values, intervals


def _warn_if_unreliable(estimate) -> None:
    """An interval unbounded below or a tiny ESS is not a result: say so, with the flags."""
    from numpyro_ebm.evaluation import rbm_annealing

    problem = rbm_annealing.reliability_problem(estimate)
    if problem is not None:
        warn("evaluate", as_flags(problem))


def _sizes(model: str, params) -> str:
    if model == "dbm":
        return f"{params.n_visible}-{params.n_hidden1}-{params.n_hidden2}"
    return f"{params.n_visible}-{params.n_hidden}"


def format_table(values: dict, intervals: dict) -> str:
    """The results as an aligned two- or three-column text table."""
    rows = [("metric", "value", "interval")]
    for name, value in values.items():
        if name in ("method", "raise_images"):
            continue
        lower_upper = intervals.get(name)
        shown = f"[{lower_upper[0]:.4f}, {lower_upper[1]:.4f}]" if lower_upper else ""
        rows.append((name, f"{value:.4f}", shown))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]}".rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def run(args) -> int:
    import jax

    from numpyro_ebm.learning.checkpoint import load_model

    model, params, meta = load_model(args.checkpoint)
    args.held_out = None
    train, test, description = load_data(args, binary=model != "gaussian-rbm")
    data = train if args.data != DIGITS or args.split == "train" else test
    standardization = (meta.get("config") or {}).get("standardize")
    if standardization is not None:  # trained with --standardize: the same shift and scale
        data = apply_standardization(data, standardization)
        description += ", standardized as in training"
    data = energy_module(model).validate_visible(params, data, "data")
    if data.ndim != 2:
        raise CommandError(f"data must have shape (n, {data.shape[-1]}); got {data.shape}")
    values, intervals = evaluate_checkpoint(
        model,
        params,
        data,
        method=args.method,
        key=jax.random.key(args.seed),
        ais_runs=args.ais_runs,
        n_temperatures=args.ais_temperatures,
        raise_=not args.no_raise,
        progress=not args.no_progress,
        raise_images=args.raise_images,
    )
    print(
        f"{model} {_sizes(model, params)} after {plural(meta['epoch'], 'epoch')}, on {len(data)} rows of {description}"
        f"{' (' + args.split + ' split)' if args.data == DIGITS else ''}; "
        f"log-likelihood by {values['method']} (nats per row)"
    )
    if "raise_images" in values:
        shown = values.pop("raise_images")
        print(
            f"RAISE on {'all' if shown == len(data) else f'a random {shown} of the'} "
            f"{plural(len(data), 'row')}"
            + ("" if shown == len(data) else " (--raise-images all for every row)")
        )
        values["raise_images"] = shown
    print(format_table(values, intervals))
    if args.json:
        result = {
            "checkpoint": str(args.checkpoint),
            "model": model,
            "epoch": meta["epoch"],
            "data": description,
            "n_rows": int(len(data)),
            **values,
            "intervals": {k: list(v) for k, v in intervals.items()},
        }
        print(f"wrote {write_json(args.json, result)}")
    return 0
