"""What the commands share: argument checks, data files, models and checkpoints.

Nothing here imports JAX at module level, so ``numpyro-ebm --help`` and the argument
checks (which run before any data is read or anything is compiled) stay fast.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = [
    "CommandError",
    "MODELS",
    "DIGITS",
    "common_parent",
    "CommandParser",
    "HelpFormatter",
    "plain_text",
    "check_positive",
    "check_finite_positive",
    "check_input_file",
    "parse_columns",
    "load_array",
    "load_data",
    "normalise_model",
    "init_params",
    "energy_module",
    "standardize",
    "apply_standardization",
    "scale_warning",
    "warn",
    "as_flags",
    "warnings_as_lines",
    "plural",
    "image_shape",
    "write_json",
]

MODELS = ("bernoulli-rbm", "gaussian-rbm", "dbm")
"""Model types, as given to ``--model`` (underscores are accepted too): the names of
:data:`numpyro_ebm.registry.MODELS`, spelt out here so that the argument checks import no JAX
(``tests/test_cli.py`` checks they are the registry's)."""

DIGITS = "digits"
"""The ``--data`` value that selects the 8x8 digits embedded in the package."""

_ARRAY_SUFFIXES = (".npz", ".npy", ".csv", ".txt")


class CommandError(Exception):
    """A failed run with a message for the user (printed on one line, exit status 1)."""


def plain_text(text: str | None) -> str | None:
    """A docstring as terminal text: reST roles and inline literals without their markup
    (``:func:`numpyro_ebm.learning.fit``` -> numpyro_ebm.learning.fit)."""
    import re

    if text is None:
        return None
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (paragraphs and lists kept); every option's help ends
    with its default unless the help already names it."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        default = action.default
        shown = not (default is None or default is False or default is argparse.SUPPRESS)
        if shown and "default" not in help_text and action.option_strings:
            help_text += f" (default: {default})"
        return help_text


class CommandParser(argparse.ArgumentParser):
    """Bad usage is one line on stderr (exit status 2), not the whole usage block."""

    def error(self, message: str):

        self.exit(2, f"{self.prog}: error: {message} ('{self.prog} --help' for more)\n")


def common_parent() -> argparse.ArgumentParser:
    """Options every command takes."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error instead of a one-line message",
    )
    return parent


def check_positive(parser, value, flag: str, *, allow_zero: bool = False):
    """``parser.error`` unless ``value`` is a positive (or, with ``allow_zero``, non-negative) int."""
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        parser.error(f"{flag} must be {'non-negative' if allow_zero else 'positive'}; got {value}")


def check_finite_positive(parser, value, flag: str, *, allow_zero: bool = False):
    """``parser.error`` unless ``value`` is a finite positive (or non-negative) float."""
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        parser.error(f"{flag} must be a finite {kind} number; got {value}")


def check_input_file(parser, path: str | None, flag: str, *, digits_ok: bool = False):
    """``parser.error`` unless ``path`` names an existing array file (or ``digits``)."""
    if path is None or (digits_ok and path == DIGITS):
        return
    p = Path(path)
    if not p.exists():
        hint = f" (or '{DIGITS}' for the embedded digits)" if digits_ok else ""
        parser.error(f"{flag}: no such file: {path}{hint}")
    if p.is_file() and p.suffix.lower() not in _ARRAY_SUFFIXES:
        parser.error(f"{flag}: {path} is not a .npz, .npy or .csv file")


def parse_columns(spec: str | None, header: list[str] | None, width: int) -> list[int] | None:
    """Column indices from ``spec``: comma-separated indices, ``start:stop`` ranges or
    (for a CSV file with a header) column names, e.g. ``"0:64"``, ``"1,3,5:9"``, ``"x1,x2"``."""
    if spec is None:
        return None
    indices: list[int] = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        if ":" in token:
            start, _, stop = token.partition(":")
            try:
                window = slice(int(start) if start else None, int(stop) if stop else None)
            except ValueError:
                raise CommandError(f"--columns: cannot read the range {token!r}") from None
            indices.extend(range(width)[window])
            continue
        try:
            index = int(token)
        except ValueError:
            if header is None or token not in header:
                known = f"; the columns are {', '.join(header)}" if header else ""
                raise CommandError(f"--columns: no column named {token!r}{known}") from None
            index = header.index(token)
        if not -width <= index < width:
            raise CommandError(f"--columns: index {index} is out of range for {width} columns")
        indices.append(index % width)
    if not indices:
        raise CommandError(f"--columns {spec!r} selects no column")
    return indices


def _read_csv(path: Path):
    import numpy as np

    with path.open() as f:
        first = f.readline()
    tokens = [t.strip() for t in first.split(",")]
    try:
        [float(t) for t in tokens]
        header = None
    except ValueError:
        header = tokens
    try:
        array = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, ndmin=2)
    except ValueError as exc:
        raise CommandError(f"cannot read {path} as comma-separated numbers: {exc}") from None
    return array, header


def load_array(
    path: str | Path, *, key: str | None = None, columns: str | None = None, what="data"
):
    """Read an ``(n, D)`` float32 array from a ``.npz`` (array ``key``), ``.npy`` or ``.csv`` file.

    Arrays with more than two dimensions (images ``(n, H, W)``) are flattened to
    ``(n, H*W)``; ``columns`` then selects columns (see :func:`parse_columns`).
    """
    import zipfile

    import numpy as np

    path = Path(path)
    suffix = path.suffix.lower()
    header = None
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if key is None:
                    if len(names) != 1:
                        raise CommandError(
                            f"{path} holds {len(names)} arrays ({', '.join(names)}); "
                            f"pick the {what} with --key"
                        )
                    key = names[0]
                if key not in names:
                    raise CommandError(
                        f"{path} has no array {key!r}; it holds {', '.join(names) or 'nothing'}"
                    )
                array = archive[key]
        elif suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            array, header = _read_csv(path)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    if key is not None and suffix != ".npz":
        raise CommandError(f"--key applies to .npz archives; {path} is a {suffix} file")
    if array.dtype.kind not in "biuf":
        raise CommandError(f"{what} in {path} must be numbers; got dtype {array.dtype}")
    if array.ndim < 2:
        raise CommandError(
            f"{what} in {path} must have shape (examples, units); got shape {array.shape}"
        )
    array = array.reshape(array.shape[0], -1)
    selected = parse_columns(columns, header, array.shape[1])
    if selected is not None:
        array = array[:, selected]
    if array.shape[0] == 0:
        raise CommandError(f"{what} in {path} has no rows")
    return np.asarray(array, dtype=np.float32)


def load_data(args, *, binary: bool, seed: int = 0):
    """``(train, held_out, description)`` from ``args.data`` (and ``args.held_out``)."""
    import numpy as np

    if args.data == DIGITS:
        from numpyro_ebm import datasets

        split = datasets.load_digits(binarize=binary, seed=seed)
        train, held_out = split.x_train, split.x_test
        description = "embedded 8x8 digits" + (", threshold 8" if binary else ", scaled to [0, 1]")
        if args.columns is not None:
            picked = parse_columns(args.columns, None, train.shape[1])
            train, held_out = train[:, picked], held_out[:, picked]
    else:
        train = load_array(args.data, key=args.key, columns=args.columns)
        held_out = None
        if getattr(args, "held_out", None):
            held_out_key = getattr(args, "held_out_key", None) or args.key
            if _same_file(args.held_out, args.data) and held_out_key == args.key:
                raise CommandError(
                    f"--held-out {args.held_out} names the training array itself"
                    + (f" ({args.key})" if args.key else "")
                    + "; pick the held-out array with --held-out-key"
                )
            held_out = load_array(
                args.held_out, key=held_out_key, columns=args.columns, what="held-out data"
            )
            if held_out.shape == train.shape and np.array_equal(held_out, train):
                raise CommandError(
                    f"the held-out data ({args.held_out}"
                    + (f"[{held_out_key}]" if held_out_key else "")
                    + ") are identical to the training data: held-out metrics would measure "
                    "nothing; pass other rows (--held-out, --held-out-key)"
                )
        description = str(args.data) + (f"[{args.key}]" if args.key else "")
    threshold = getattr(args, "binarize", None)
    if threshold is not None:
        train = (train >= threshold).astype(np.float32)
        if held_out is not None:
            held_out = (held_out >= threshold).astype(np.float32)
        description += f", binarized at {threshold}"
    if held_out is not None and held_out.shape[1] != train.shape[1]:
        raise CommandError(
            f"held-out data has {held_out.shape[1]} columns but the training data has "
            f"{train.shape[1]}"
        )
    return np.asarray(train, np.float32), held_out, description


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).samefile(b)
    except OSError:
        return False


def plural(n: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


AS_FLAGS = (
    (
        "numpyro_ebm.datasets.binarize_threshold or binarize_stochastic",
        "--binarize THRESHOLD",
    ),
    ("a Gaussian-Bernoulli RBM", "--model gaussian-rbm"),
    ("(FPCD: learning.fpcd or learning.rbm.bernoulli_rbm_fpcd)", "(--rule fpcd)"),
    ("minibatch (k)", "minibatch (-k)"),
    ("more chains,", "more chains (--chains),"),
    (
        "more AIS runs or more temperatures",
        "more AIS runs (--ais-runs) or more temperatures (--ais-temperatures)",
    ),
)
"""Library advice (function names) and what it means on the command line (flags)."""


def as_flags(message: str) -> str:
    """``message`` with the library's function names replaced by the command's flags."""
    for library, flag in AS_FLAGS:
        message = message.replace(library, flag)
    return message


def warnings_as_lines(command: str):
    """A context in which every warning is one line ``numpyro-ebm COMMAND: warning: ...``
    in the command's terms (no source path, no source line)."""
    import warnings

    manager = warnings.catch_warnings()

    def show(message, category, filename, lineno, file=None, line=None):
        warn(command, f"{as_flags(str(message))} ({category.__name__})")

    class _Lines:
        def __enter__(self):
            manager.__enter__()
            warnings.showwarning = show

        def __exit__(self, *exc):
            return manager.__exit__(*exc)

    return _Lines()


def warn(command: str, message: str) -> None:
    """One line on stderr: ``numpyro-ebm COMMAND: warning: MESSAGE``."""
    import sys

    print(f"numpyro-ebm {command}: warning: {message}", file=sys.stderr)


def standardize(train):
    """``(standardized train, {"mean": [...], "std": [...]})``: every column to mean 0 and
    standard deviation 1 (a constant column is only centred)."""
    import numpy as np

    mean = train.mean(axis=0, dtype=np.float64)
    std = train.std(axis=0, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    stats = {"mean": mean.tolist(), "std": std.tolist()}
    return apply_standardization(train, stats), stats


def apply_standardization(data, stats: dict | None):
    """``(data - mean) / std`` with the training data's ``stats`` (``None``: unchanged)."""
    import numpy as np

    if stats is None or data is None:
        return data
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    if data.shape[-1] != mean.shape[0]:
        raise CommandError(
            f"the data have {data.shape[-1]} columns but the standardization was fitted "
            f"on {mean.shape[0]}"
        )
    return ((data - mean) / std).astype(np.float32)


SCALE_LIMITS = (0.05, 20.0)
"""A Gaussian model starts at unit scale: data whose overall standard deviation lies
outside these bounds (or whose mean is more than the upper bound away from 0) are
"far from the model's scale" and get :func:`scale_warning`."""


def scale_warning(train) -> str | None:
    """A warning with the numbers when ``train`` is far from unit scale, else None."""
    import numpy as np

    mean, std = float(np.mean(train)), float(np.std(train))
    low, high = SCALE_LIMITS
    if low <= std <= high and abs(mean) <= high:
        return None
    return (
        f"the data have mean {mean:.4g} and standard deviation {std:.4g} (values from "
        f"{float(np.min(train)):.4g} to {float(np.max(train)):.4g}), far from the unit "
        "scale a Gaussian model learns on: energies will be dominated by the scale. "
        "Pass --standardize (each column to mean 0 and standard deviation 1), or rescale "
        "the file; columns that are nearly constant (image borders) are best dropped "
        "(--columns)"
    )


def normalise_model(name: str) -> str:
    """``bernoulli_rbm`` and ``bernoulli-rbm`` name the same model."""
    model = str(name).replace("_", "-").lower()
    if model not in MODELS:
        raise CommandError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return model


def energy_module(model: str):
    """The module of :mod:`numpyro_ebm.energies` that defines ``model`` (from the registry)."""
    from numpyro_ebm import registry

    return registry.get(model).energy_module


def init_params(model: str, rng_key, n_visible: int, hidden: list[int], data=None):
    """Initial parameters of ``model`` with ``n_visible`` units and the ``hidden`` layer sizes."""
    from numpyro_ebm import registry

    return registry.get(model).init_params(rng_key, n_visible, *hidden, data=data)


def image_shape(spec: str | None, n_visible: int) -> tuple[int, int] | None:
    """``(H, W)`` from ``"HxW"``, or the square that holds ``n_visible`` units, or None."""
    if spec:
        try:
            height, width = (int(x) for x in spec.lower().split("x"))
        except ValueError:
            raise CommandError(f"--image-shape must look like 28x28; got {spec!r}") from None
        if height * width != n_visible:
            raise CommandError(
                f"--image-shape {spec} has {height * width} pixels but the model has "
                f"{n_visible} visible units"
            )
        return height, width
    side = math.isqrt(n_visible)
    return (side, side) if side * side == n_visible and side > 1 else None


def write_json(path: str | Path, value) -> Path:
    """Write ``value`` as indented JSON (NaN and infinities become null)."""
    import json

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(value), indent=2) + "\n")
    return path
