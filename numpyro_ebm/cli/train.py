"""``numpyro-ebm train``: fit a Bernoulli RBM, a Gaussian-Bernoulli RBM or a DBM to a data file.

The model, learning rule and optimiser are given by flags or by a TOML file
(``--config``); flags override the file. Training runs
:func:`numpyro_ebm.learning.fit` with a checkpoint after every epoch (written
atomically), so Ctrl-C leaves the last completed epoch on disk and ``--resume``
continues from it, bit-identical to an uninterrupted run. The history goes to a
CSV or JSON file, and the plots (training curves, the persistent chains' mixing,
the filters of image data) to the output directory.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from numpyro_ebm.cli._common import (
    DIGITS,
    MODELS,
    CommandError,
    apply_standardization,
    check_finite_positive,
    check_input_file,
    check_positive,
    energy_module,
    image_shape,
    init_params,
    load_data,
    normalise_model,
    plural,
    scale_warning,
    standardize,
    warn,
    write_json,
)

__all__ = ["add_parser", "validate", "run", "DEFAULTS", "RULES", "OPTIMIZERS"]

RULES = ("cd", "pcd", "fpcd")
OPTIMIZERS = ("sgd", "momentum", "adam")

DEFAULTS = {
    "data": DIGITS,
    "key": None,
    "columns": None,
    "held_out": None,
    "held_out_key": None,
    "binarize": None,
    "standardize": False,
    "model": "bernoulli-rbm",
    "hidden": [16],
    "rule": "pcd",
    "k": 1,
    "chains": 100,
    "centered": False,
    "offset_rate": 0.01,
    "weight_decay": 0.0,
    "fast_learning_rate": 0.02,
    "optimizer": "adam",
    "learning_rate": 3e-3,
    "momentum": 0.9,
    "epochs": 10,
    "batch_size": 20,
    "seed": 0,
    "output": "train_output",
    "checkpoint_dir": None,
    "history": None,
    "image_shape": None,
}
"""Every setting a config file may hold, with its default (keys as in the flags, ``-`` as ``_``)."""

EXAMPLES = """examples:
  numpyro-ebm train --data digits --hidden 32 --epochs 20 --output run1
  numpyro-ebm train --data digits --hidden 32 --epochs 40 --output run1 --resume
  numpyro-ebm train --data mnist.npz --key x_train --binarize 0.5 --hidden 500 \\
      --rule fpcd --centered --optimizer momentum --learning-rate 0.01 --output mnist500
  numpyro-ebm train --data table.csv --columns 1:20 --model gaussian-rbm --hidden 8
  numpyro-ebm train --config run.toml --epochs 5

a config file (TOML; sections are optional, keys as the flags with '_' for '-'):
  [data]
  data = "digits"
  [model]
  model = "bernoulli-rbm"
  hidden = [32]
  [training]
  rule = "pcd"
  chains = 100
  optimizer = "adam"
  learning_rate = 0.003
  epochs = 20

Ctrl-C stops training; the checkpoint of the last completed epoch stays in
--checkpoint-dir and '--resume' continues from it (exit status 130).
"""


def add_parser(subparsers, parents) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        parents=parents,
        help="train a model on a data file (or the embedded digits) with checkpoints",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
    )
    p.add_argument("--config", help="TOML file with any of the settings below")
    data = p.add_argument_group("data")
    data.add_argument(
        "--data", help=f"a .npz, .npy or .csv file, or '{DIGITS}' (default: {DIGITS})"
    )
    data.add_argument("--key", help="the array of a .npz archive (needed when it holds several)")
    data.add_argument(
        "--columns",
        help="columns to use: indices, ranges or CSV header names, e.g. 0:64 or 1,3,5:9",
    )
    data.add_argument(
        "--held-out",
        help="held-out data (same format) for the per-epoch metrics; refused when identical "
        "to the training data",
    )
    data.add_argument(
        "--held-out-key",
        help="the array of the --held-out .npz archive, e.g. x_test (default: --key)",
    )
    data.add_argument(
        "--binarize", type=float, help="make binary data: 1 where a value is >= this threshold"
    )
    data.add_argument(
        "--standardize",
        action="store_true",
        default=None,
        help="gaussian-rbm: shift and scale each column to mean 0 and standard deviation 1 "
        "(the training data's; kept in the checkpoint, so evaluate applies them too)",
    )
    model = p.add_argument_group("model")
    model.add_argument("--model", choices=MODELS, help="model type (default: bernoulli-rbm)")
    model.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        help="hidden units; two sizes (first and second layer) for a dbm (default: 16)",
    )
    rule = p.add_argument_group("learning rule")
    rule.add_argument("--rule", choices=RULES, help="cd, pcd or fpcd (default: pcd; dbm: pcd only)")
    rule.add_argument("-k", type=int, help="Gibbs sweeps per update (default: 1)")
    rule.add_argument("--chains", type=int, help="persistent chains of pcd/fpcd (default: 100)")
    rule.add_argument(
        "--centered",
        action="store_true",
        default=None,
        help="centered gradient (Melchior et al. 2016; bernoulli-rbm)",
    )
    rule.add_argument("--offset-rate", type=float, help="centering offsets' running-mean rate")
    rule.add_argument(
        "--weight-decay",
        type=float,
        help="L2 penalty on the weights (centered: in centered coordinates)",
    )
    rule.add_argument("--fast-learning-rate", type=float, help="fpcd's fast-weight learning rate")
    opt = p.add_argument_group("optimiser")
    opt.add_argument(
        "--optimizer", choices=OPTIMIZERS, help="sgd, momentum or adam (default: adam)"
    )
    opt.add_argument("--learning-rate", type=float, help="the optimiser's step size")
    opt.add_argument("--momentum", type=float, help="for --optimizer momentum (default: 0.9)")
    opt.add_argument(
        "--epochs", type=int, help="epochs in total, including resumed ones (default: 10)"
    )
    opt.add_argument("--batch-size", type=int, help="examples per minibatch (default: 20)")
    opt.add_argument("--seed", type=int, help="every random choice derives from it (default: 0)")
    out = p.add_argument_group("output")
    out.add_argument(
        "--output", help="directory for history, plots and summary (default: train_output)"
    )
    out.add_argument("--checkpoint-dir", help="default: OUTPUT/checkpoint")
    out.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint, with the settings it was trained with; flags "
        "(and --config) change what may change, e.g. --epochs, --learning-rate, the data "
        "and the outputs, and a change of the model, rule or optimiser is refused",
    )
    out.add_argument(
        "--overwrite", action="store_true", help="start afresh over an existing checkpoint"
    )
    out.add_argument("--history", help="history file, .csv or .json (default: OUTPUT/history.csv)")
    out.add_argument("--image-shape", help="HxW of image data for the filter plot, e.g. 28x28")
    out.add_argument("--no-plots", action="store_true", help="write no PNG figures")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    # the defaults live in DEFAULTS (a config file sits between them and the flags)
    for action in p._actions:
        default = DEFAULTS.get(action.dest)
        if not (default is None or default is False) and "default" not in (action.help or ""):
            shown = " ".join(map(str, default)) if isinstance(default, list) else default
            action.help = f"{action.help or ''} (default: {shown})".lstrip()
    return p


def _read_config(parser, path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        parser.error(f"--config: cannot read {path}: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        parser.error(f"--config: {path} is not valid TOML: {exc}")
    settings: dict = {}
    for name, value in raw.items():
        if isinstance(value, dict) and name in ("data", "model", "training", "output"):
            settings.update(value)
        else:
            settings[name] = value
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        parser.error(
            f"--config: unknown setting(s) {', '.join(unknown)} in {path}; known: "
            f"{', '.join(DEFAULTS)}"
        )
    if isinstance(settings.get("hidden"), int):
        settings["hidden"] = [settings["hidden"]]
    for name, value in settings.items():
        if not _has_type(value, DEFAULTS[name]):
            parser.error(f"--config: {name} = {value!r} in {path} has the wrong type")
    return settings


def _has_type(value, default) -> bool:
    """Whether a config value has the type of its default (any number for a float)."""
    if default is None or isinstance(default, str):
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, list):
        return isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


RECORDED = ("data", "key", "columns", "held_out", "held_out_key", "binarize", "standardize")
"""Settings recorded in the checkpoint's config under ``settings`` (the others are in the
config itself), so ``--resume`` can read them back."""


def _checkpoint_settings(checkpoint: Path) -> dict:
    """The settings a checkpoint was trained with ({} when it cannot tell)."""
    from numpyro_ebm.learning import load_checkpoint

    try:
        _, meta = load_checkpoint(checkpoint)
    except ValueError:  # damaged: run() reports it with the resume check
        return {}
    config = meta.get("config") or {}
    settings = {k: config[k] for k in DEFAULTS if k in config and k not in RECORDED}
    settings.update(config.get("settings") or {})
    return {k: v for k, v in settings.items() if k in DEFAULTS and _has_type(v, DEFAULTS[k])}


def validate(args, parser) -> None:
    """Merge the flags, the config file, a resumed checkpoint's settings and the defaults
    into ``args`` (in that order of precedence), and check every setting."""
    settings = _read_config(parser, args.config) if args.config else {}
    explicit = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    given = {**settings, **explicit}
    output = given.get("output", DEFAULTS["output"])
    checkpoint = Path(given.get("checkpoint_dir") or Path(output) / "checkpoint") / "checkpoint.npz"
    saved = _checkpoint_settings(checkpoint) if args.resume and checkpoint.exists() else {}
    # what the checkpoint sets beyond the defaults, shown as the flags one would have typed
    args.settings_from_checkpoint = [
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in saved.items()
        if k not in given and v != DEFAULTS[k] and v is not False
    ]
    for name, default in DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, given.get(name, saved.get(name, default)))
    try:
        args.model = normalise_model(args.model)
    except CommandError as exc:
        parser.error(str(exc))
    if args.rule not in RULES:
        parser.error(f"unknown rule {args.rule!r}; choose one of {', '.join(RULES)}")
    if args.optimizer not in OPTIMIZERS:
        parser.error(f"unknown optimizer {args.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    check_input_file(parser, args.data, "--data", digits_ok=True)
    check_input_file(parser, args.held_out, "--held-out")
    if args.key is not None and args.data == DIGITS:
        parser.error("--key applies to .npz files, not to the embedded digits")
    if args.held_out is not None and args.data == DIGITS:
        parser.error("the embedded digits come with their own held-out split; drop --held-out")
    if args.held_out_key is not None and args.held_out is None:
        parser.error("--held-out-key needs --held-out (the file that holds that array)")
    n_layers = 2 if args.model == "dbm" else 1
    if len(args.hidden) != n_layers:
        parser.error(
            f"--hidden takes {n_layers} size(s) for a {args.model}; got {len(args.hidden)}"
        )
    for size in args.hidden:
        check_positive(parser, size, "--hidden")
    check_positive(parser, args.k, "-k")
    check_positive(parser, args.chains, "--chains")
    check_positive(parser, args.epochs, "--epochs")
    check_positive(parser, args.batch_size, "--batch-size")
    check_positive(parser, args.seed, "--seed", allow_zero=True)
    check_finite_positive(parser, args.learning_rate, "--learning-rate")
    check_finite_positive(parser, args.weight_decay, "--weight-decay", allow_zero=True)
    check_finite_positive(parser, args.fast_learning_rate, "--fast-learning-rate", allow_zero=True)
    if not (math.isfinite(args.momentum) and 0.0 <= args.momentum < 1.0):
        parser.error(f"--momentum must lie in [0, 1); got {args.momentum}")
    if not (math.isfinite(args.offset_rate) and 0.0 <= args.offset_rate <= 1.0):
        parser.error(f"--offset-rate must lie in [0, 1]; got {args.offset_rate}")
    if args.binarize is not None and not math.isfinite(args.binarize):
        parser.error(f"--binarize must be a finite threshold; got {args.binarize}")
    if args.binarize is not None and args.model == "gaussian-rbm":
        parser.error("--binarize makes binary data; the gaussian-rbm models real values")
    if args.standardize and args.model != "gaussian-rbm":
        parser.error(f"--standardize is for the gaussian-rbm; the {args.model} models binary data")
    if args.model == "dbm" and args.rule != "pcd":
        parser.error(f"the dbm trains with pcd (mean-field positive phase); got --rule {args.rule}")
    if args.centered and args.model != "bernoulli-rbm":
        parser.error("--centered is implemented for the bernoulli-rbm")
    if args.history is not None and Path(args.history).suffix.lower() not in (".csv", ".json"):
        parser.error(f"--history must end in .csv or .json; got {args.history}")
    args.checkpoint_dir = args.checkpoint_dir or str(Path(args.output) / "checkpoint")
    args.history = args.history or str(Path(args.output) / "history.csv")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other")
    checkpoint = Path(args.checkpoint_dir) / "checkpoint.npz"
    if checkpoint.exists() and not (args.resume or args.overwrite):
        parser.error(
            f"{checkpoint} exists; pass --resume to continue that run or --overwrite to start afresh"
        )


def _config(args, n_visible: int, description: str, standardization) -> dict:
    """What the checkpoint records: enough to rebuild the model, and to refuse a resume that
    would silently change it."""
    return {
        "model": args.model,
        "n_visible": n_visible,
        "hidden": list(args.hidden),
        "rule": args.rule,
        "k": args.k,
        "chains": args.chains,
        "centered": bool(args.centered),
        "offset_rate": args.offset_rate,
        "weight_decay": args.weight_decay,
        "fast_learning_rate": args.fast_learning_rate,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "momentum": args.momentum,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "data": description,
        "standardize": standardization,
        "settings": {k: _absolute(k, getattr(args, k)) for k in RECORDED},
    }


def _absolute(name: str, value):
    """Data paths as absolute paths, so a resume from another directory finds them."""
    if name in ("data", "held_out") and value not in (None, DIGITS):
        return str(Path(value).resolve())
    return value


def _check_resume(checkpoint_dir: Path, config: dict) -> int | None:
    """The epoch of the checkpoint to resume, after the library's resume policy
    (:func:`numpyro_ebm.learning.checkpoint.check_resumed_config`) has accepted its settings:
    a changed model, size, rule, chain count or optimizer is refused here, before any
    compilation; the changes it allows warn when training resumes."""
    import zipfile

    from numpyro_ebm.learning import load_checkpoint
    from numpyro_ebm.learning.checkpoint import CheckpointError, check_resumed_config

    if not (checkpoint_dir / "checkpoint.npz").exists():
        return None
    try:
        _, meta = load_checkpoint(checkpoint_dir)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise CommandError(
            f"--resume: cannot read the checkpoint in {checkpoint_dir}: {exc}"
        ) from None
    try:
        check_resumed_config(checkpoint_dir, meta.get("config", {}), config)
    except CheckpointError as exc:
        raise CommandError(f"--resume: {exc}") from None
    return int(meta["epoch"])


def _rule(args):
    """The learning rule of the flags, from the model registry."""
    from numpyro_ebm import registry

    return registry.build_rule(
        args.model,
        args.rule,
        n_chains=args.chains,
        k=args.k,
        fast_learning_rate=args.fast_learning_rate,
        centering=bool(args.centered),
        offset_rate=args.offset_rate,
        # centered: the decay acts on the centered weights inside the rule (see _optimizer)
        centered_weight_decay=args.weight_decay if args.centered else 0.0,
    )


def _optimizer(args):
    import optax

    from numpyro_ebm.learning import regularizers

    optimizer = {
        "sgd": lambda: optax.sgd(args.learning_rate),
        "momentum": lambda: optax.sgd(args.learning_rate, momentum=args.momentum),
        "adam": lambda: optax.adam(args.learning_rate),
    }[args.optimizer]()
    if args.weight_decay and not args.centered:
        # the weight matrices only, not the biases or log standard deviations
        optimizer = optax.chain(regularizers.weight_decay(args.weight_decay), optimizer)
    return optimizer


def _metrics(args):
    """Cheap per-epoch metrics on the held-out data (Bernoulli RBM only)."""
    if args.model != "bernoulli-rbm":
        return {}
    import jax.numpy as jnp

    from numpyro_ebm.evaluation import metrics

    def pseudo_ll(p, _train, held_out):
        return float(jnp.mean(metrics.bernoulli_rbm_pseudo_log_likelihood(p, held_out)))

    def reconstruction(p, _train, held_out):
        return float(metrics.bernoulli_rbm_reconstruction_error(p, held_out))

    return {"held_out_pseudo_log_likelihood": pseudo_ll, "reconstruction_error": reconstruction}


def write_history(history: dict, path: str | Path) -> Path:
    """The per-epoch history as CSV (one row an epoch) or JSON (``{name: [values]}``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        return write_json(path, {k: [float(x) for x in v] for k, v in history.items()})
    import csv

    names = list(history)
    n = max((len(v) for v in history.values()), default=0)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for i in range(n):
            writer.writerow([history[k][i] if i < len(history[k]) else "" for k in names])
    return path


def _plots(args, history, params, output: Path) -> list[str]:
    try:
        from numpyro_ebm import plots
    except ImportError:  # pragma: no cover - matplotlib is the [plot] extra
        print("matplotlib is not installed: no plots (pip install 'numpyro_ebm[plot]')")
        return []
    written = []
    keys = [k for k in history if k not in ("epoch", "wall_time", "learning_rate_scale")]
    if keys:
        written.append(
            plots.plot_history(
                history, output / "training_curves.png", keys=keys, title=_title(args, history)
            )
        )
    mixing = [*history.get("chain_rhat", []), *history.get("chain_ess_bulk", [])]
    if any(math.isfinite(x) for x in mixing):  # CD has no persistent chains: all NaN
        written.append(plots.plot_mixing(history, output / "mixing.png"))
    weights = params.W1 if args.model == "dbm" else params.W
    shape = image_shape(args.image_shape, weights.shape[0])
    if shape is not None:
        written.append(plots.plot_filters(weights[:, :100], shape, output / "filters.png"))
    return [str(p) for p in written]


ENERGY_GAP_LIMIT = 100.0
"""The data's mean energy more than this many times the model samples' (in magnitude,
at least 1 nat) at the last epoch: the model does not describe the data."""


def energy_gap_warning(history: dict, model: str) -> str | None:
    """A warning when the last epoch's data energy is far above the samples' energy."""
    positive = history.get("positive_energy") or []
    negative = history.get("negative_energy") or []
    if not positive or not negative:
        return None
    data_energy, sample_energy = float(positive[-1]), float(negative[-1])
    if not math.isfinite(data_energy) or data_energy - sample_energy <= ENERGY_GAP_LIMIT * max(
        1.0, abs(sample_energy)
    ):
        return None
    hint = (
        "columns that are nearly constant (image borders) get tiny standard deviations, so "
        "rare values there cost enormous energies; drop them (--columns) or rescale"
        if model == "gaussian-rbm"
        else "lower --learning-rate or train longer"
    )
    return (
        f"the training data's mean energy {data_energy:.6g} is far above the model samples' "
        f"{sample_energy:.6g} after the last epoch: the model does not describe the data ({hint})"
    )


def _title(args, history) -> str:
    sizes = "-".join(str(h) for h in args.hidden)
    return f"{args.model} ({sizes} hidden), {args.rule.upper()}-{args.k}, {plural(len(history.get('epoch', [])), 'epoch')}"


def run(args) -> int:
    import jax
    import numpy as np

    from numpyro_ebm import registry
    from numpyro_ebm.learning import fit

    started = time.perf_counter()
    binary = args.model != "gaussian-rbm"
    train, held_out, description = load_data(args, binary=binary, seed=args.seed)
    standardization = None
    if args.standardize:
        train, standardization = standardize(train)
        held_out = apply_standardization(held_out, standardization)
        description += ", standardized"
    elif not binary and (message := scale_warning(train)) is not None:
        warn("train", message)
    module = energy_module(args.model)
    n_visible = train.shape[1]
    output = Path(args.output)
    checkpoint_dir = Path(args.checkpoint_dir)
    config = _config(args, n_visible, description, standardization)
    resumed_from = _check_resume(checkpoint_dir, config) if args.resume else None
    if args.resume and resumed_from is None:
        print(f"no checkpoint in {checkpoint_dir} yet: starting from scratch")
    if args.overwrite and (checkpoint_dir / "checkpoint.npz").exists():
        (checkpoint_dir / "checkpoint.npz").unlink()

    key_init, key_fit = jax.random.split(jax.random.key(args.seed))
    template = init_params(args.model, key_init, n_visible, list(args.hidden))
    # the data check runs first, so non-binary data is reported before the base rates use it
    train = np.asarray(module.validate_visible(template, train, "data"))
    params = init_params(args.model, key_init, n_visible, list(args.hidden), data=train)
    energy_fn = registry.get(args.model).free_energy  # None for the dbm: no closed form
    if resumed_from is not None and resumed_from >= args.epochs:
        print(
            f"nothing to train: {checkpoint_dir}/checkpoint.npz already holds "
            f"{plural(resumed_from, 'epoch')} and --epochs is {args.epochs}; pass a larger "
            "--epochs (the total, including the resumed epochs) to continue"
        )
        return 0
    if args.settings_from_checkpoint and resumed_from is not None:
        print(f"settings from the checkpoint: {' '.join(args.settings_from_checkpoint)}")
    print(
        f"{args.model} {n_visible}-{'-'.join(map(str, args.hidden))}, {args.rule}-{args.k}"
        f"{' centered' if args.centered else ''}, {args.optimizer}({args.learning_rate:g}); "
        f"{len(train)} training rows from {description}"
        + (f"; resuming at epoch {resumed_from}" if resumed_from is not None else "")
    )
    try:
        result = fit(
            key_fit,
            params,
            train,
            _rule(args),
            _optimizer(args),
            epochs=args.epochs,
            batch_size=args.batch_size,
            held_out=held_out,
            energy_fn=energy_fn,
            metrics=_metrics(args) if held_out is not None else None,
            validate_data=lambda x: module.validate_visible(params, x, "data"),
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=1,
            resume=args.resume,
            progress=not args.no_progress,
            config=config,
        )
    except KeyboardInterrupt:
        _report_interrupt(checkpoint_dir, args.history)
        return 130
    history = result.history
    if (message := energy_gap_warning(history, args.model)) is not None:
        warn("train", message)
    written = [str(write_history(history, args.history))]
    if not args.no_plots:
        written += _plots(args, history, result.params, output)
    summary = {
        "epochs": result.epochs_completed,
        "checkpoint": str(checkpoint_dir / "checkpoint.npz"),
        "history": args.history,
        "config": config,
        "final": {k: float(v[-1]) for k, v in history.items() if v},
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(output / "summary.json", summary)
    new_epochs = result.epochs_completed - (resumed_from or 0)
    trained = plural(new_epochs, "epoch")
    if resumed_from:
        trained += f" (epochs {resumed_from + 1}-{result.epochs_completed})"
    print(
        f"trained {trained}; wrote {checkpoint_dir}/checkpoint.npz, "
        f"{', '.join(written)} and {output / 'summary.json'} in {summary['seconds']} s"
    )
    return 0


def _report_interrupt(checkpoint_dir: Path, history_path: str) -> None:
    """After Ctrl-C: say where the last checkpoint is, and write its history."""
    from numpyro_ebm.learning import load_checkpoint

    checkpoint = checkpoint_dir / "checkpoint.npz"
    if checkpoint.exists():
        _, meta = load_checkpoint(checkpoint)
        write_history(meta["history"], history_path)
        print(
            f"\ninterrupted: {checkpoint} holds epoch {meta['epoch']} (history in {history_path}); "
            "run the same command with --resume to continue",
            file=sys.stderr,
        )
    else:
        print("\ninterrupted before the first epoch ended: no checkpoint written", file=sys.stderr)
