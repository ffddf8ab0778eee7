"""Checkpoints of :func:`~numpyro_ebm.learning.fit.fit`: write atomically, read back, resume.

A checkpoint is one ``checkpoint.npz`` in the checkpoint directory holding
every array leaf of the training state (parameters, optimizer state, rule
state, learning-rate scale) as ``leaf_00000, leaf_00001, ...`` and a JSON
``meta`` record (epoch, history, config, number of leaves, and the run's
fingerprint). It is written to a temporary file, flushed to disk and moved into
place with :func:`os.replace`, so a reader sees either a previous checkpoint or
the new one, never a partial file; the one it replaces is kept as
``checkpoint.previous.npz``. Resuming reads the newest checkpoint that loads;
if ``checkpoint.npz`` is damaged (a disk error, a copy cut short) it warns and
uses the previous one.

The fingerprint records what the saved state depends on: the training data
(shape, dtype and a SHA-256 of its bytes), the PRNG key, the optimizer (its
first update of a fixed probe gradient, which reflects the learning rate and
the other hyper-parameters) and the user's ``config``.

The resume policy (the library's, the command line's and the scikit-learn estimators'
alike, all through :func:`check_resumed_config`): a change that makes the checkpoint
meaningless is an error (:class:`CheckpointError`): other training data, or a changed
:data:`STRUCTURAL_SETTINGS` entry of ``config`` (the model, its sizes, the rule, its
chains, the optimizer). A change the saved state survives warns
(:class:`CheckpointWarning`): a changed key, optimizer hyper-parameter (lowering the
learning rate of a resumed run can be deliberate) or other ``config`` entry; the run
then no longer matches an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm import sharding

__all__ = [
    "CHECKPOINT_NAME",
    "PREVIOUS_CHECKPOINT_NAME",
    "CheckpointError",
    "CheckpointWarning",
    "TrainState",
    "run_fingerprint",
    "save_checkpoint",
    "load_checkpoint",
    "load_params",
    "load_model",
    "SavedModel",
    "MODEL_MODULES",
    "STRUCTURAL_SETTINGS",
    "check_resumed_config",
    "resume_from",
]

CHECKPOINT_NAME = "checkpoint.npz"
PREVIOUS_CHECKPOINT_NAME = "checkpoint.previous.npz"
_TEMPORARY_PREFIX = "checkpoint."
_TEMPORARY_SUFFIX = ".tmp"


class CheckpointError(ValueError):
    """A checkpoint cannot be used: unreadable, incomplete, or written for another run."""


class CheckpointWarning(UserWarning):
    """A checkpoint was used with a caveat: a damaged newest file, or a changed setting."""


class TrainState(NamedTuple):
    """What a checkpoint holds besides its metadata, and what one compiled epoch carries."""

    params: Any
    opt_state: Any
    rule_state: Any
    learning_rate_scale: jax.Array


@contextlib.contextmanager
def _interrupts_deferred():
    """Hold Ctrl-C (SIGINT) back until the block is done, then deliver it.

    A ``KeyboardInterrupt`` raised inside :mod:`zipfile` while it writes leaves the
    archive with an open member, and zipfile's own cleanup then raises ``ValueError``
    in its place: the caller would see a crash instead of an interrupt, and the
    checkpoint would be lost. Deferred, the interrupt arrives once the checkpoint
    is complete and in place. Only the main thread can install signal handlers;
    elsewhere (and when SIGINT is not handled by Python) this does nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            previous(*received[0])  # the default handler raises KeyboardInterrupt here


def _write_archive(file, arrays: dict[str, np.ndarray]) -> None:
    """Write the archive to an open file (a separate function so tests can interrupt it)."""
    np.savez(file, **arrays)


def save_checkpoint(
    directory: Path,
    state: TrainState,
    epoch: int,
    history: dict,
    config: dict,
    fingerprint: dict | None = None,
):
    """Write params, optimizer and rule state, epoch, history, config and fingerprint.

    Atomic: the archive goes to a temporary file in ``directory``, is flushed to
    disk, and replaces ``checkpoint.npz``; the checkpoint it replaces becomes
    ``checkpoint.previous.npz``. A process killed at any moment leaves at least
    one complete checkpoint (and perhaps a stray temporary file, removed on resume).
    Ctrl-C during the write is delivered (as ``KeyboardInterrupt``) once the new
    checkpoint is in place.
    """
    leaves = jax.tree.leaves(
        (state.params, state.opt_state, state.rule_state, state.learning_rate_scale)
    )
    # to_host is np.asarray for arrays of this process and gathers the shards of a run
    # over several processes (jax.distributed: every process takes part); one writes
    arrays = {f"leaf_{i:05d}": x for i, x in enumerate(sharding.to_host(leaves))}
    if jax.process_index() != 0:
        return
    meta = {
        "epoch": epoch,
        "history": history,
        "config": config,
        "n_leaves": len(leaves),
        "fingerprint": fingerprint or {},
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    with _interrupts_deferred():
        _write_in_place(directory, arrays)


def _write_in_place(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to a temporary file, then move it to ``checkpoint.npz``."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_TEMPORARY_PREFIX, suffix=_TEMPORARY_SUFFIX)
    try:
        # mkstemp makes the file private (0600); a checkpoint is an ordinary output file
        with contextlib.suppress(AttributeError, OSError):  # no fchmod on Windows
            os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as f:
            _write_archive(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        current = directory / CHECKPOINT_NAME
        if current.exists():
            _keep_as_previous(current, directory)
        os.replace(tmp, current)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def _read(path: Path):
    """``(leaves, meta)`` of the archive at ``path``, or a CheckpointError saying why not."""
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        # our own handle: np.load(path) leaks its file when the archive is not a zip
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as archive:
            if "meta" not in archive.files:
                raise CheckpointError(
                    f"checkpoint {path} is incomplete: it has no 'meta' record (arrays "
                    f"{sorted(archive.files)[:5]}...); it was not written by fit"
                )
            meta = json.loads(archive["meta"].tobytes().decode())
            missing = [k for k in ("epoch", "history", "n_leaves") if k not in meta]
            if missing:
                raise CheckpointError(f"checkpoint {path} is incomplete: its meta lacks {missing}")
            names = [f"leaf_{i:05d}" for i in range(meta["n_leaves"])]
            absent = [name for name in names if name not in archive.files]
            if absent:
                raise CheckpointError(
                    f"checkpoint {path} is incomplete: {len(absent)} of its {len(names)} "
                    f"arrays are missing (e.g. {absent[0]})"
                )
            leaves = [archive[name] for name in names]
    except CheckpointError:
        raise
    except Exception as error:  # zipfile.BadZipFile, zlib.error, EOFError, ValueError, ...
        raise CheckpointError(
            f"checkpoint {path} is unreadable (truncated or corrupted): "
            f"{type(error).__name__}: {error}"
        ) from error
    return leaves, meta


def _keep_as_previous(current: Path, directory: Path):
    """Keep ``current`` as ``checkpoint.previous.npz`` while ``current`` stays in place.

    A second name (a hard link, or a copy where links are not supported) is made
    under a temporary name and renamed over the previous checkpoint, so at every
    moment ``checkpoint.npz`` exists: a run interrupted here (Ctrl-C, SIGKILL)
    never leaves a directory whose newest checkpoint is only the previous one.
    """
    fd, second = tempfile.mkstemp(dir=directory, prefix=_TEMPORARY_PREFIX, suffix=_TEMPORARY_SUFFIX)
    os.close(fd)
    os.remove(second)
    try:
        try:
            os.link(current, second)
        except OSError:
            shutil.copy2(current, second)
        os.replace(second, directory / PREVIOUS_CHECKPOINT_NAME)
    except BaseException:
        if os.path.exists(second):
            os.remove(second)
        raise


def load_checkpoint(path, template=None):
    """Read a checkpoint written by :func:`~numpyro_ebm.learning.fit.fit`.

    Returns ``(leaves_or_state, meta)``: with ``template`` (a pytree of the same
    structure as ``(params, opt_state, rule_state, learning_rate_scale)``) the
    leaves are put back into that structure. ``path`` is the file or the
    checkpoint directory (then its ``checkpoint.npz``).

    Raises
    ------
    CheckpointError
        (a ``ValueError``) naming the path and the problem: missing, truncated or
        corrupted file, incomplete archive, or arrays that do not fit ``template``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    leaves, meta = _read(path)
    if template is None:
        return leaves, meta
    treedef = jax.tree.structure(template)
    if treedef.num_leaves != len(leaves):
        raise CheckpointError(
            f"checkpoint {path} has {len(leaves)} arrays but the model/optimizer/rule state "
            f"has {treedef.num_leaves}: it was written by a different configuration"
        )
    template_leaves = jax.tree.leaves(template)
    for i, (saved, expected) in enumerate(zip(leaves, template_leaves, strict=True)):
        if saved.shape != np.shape(expected):
            raise CheckpointError(
                f"checkpoint {path}: array {i} has shape {saved.shape}, expected "
                f"{np.shape(expected)}: it was written by a different configuration"
            )
    restored = [
        jnp.asarray(s, dtype=jnp.asarray(t).dtype)
        for s, t in zip(leaves, template_leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, restored), meta


MODEL_MODULES = {
    "bernoulli-rbm": "numpyro_ebm.energies.bernoulli_rbm",
    "gaussian-rbm": "numpyro_ebm.energies.gaussian_rbm",
    "dbm": "numpyro_ebm.energies.dbm",
}
"""The models a checkpoint's ``config["model"]`` may name, and the energy module of each
(``bernoulli_rbm`` spelt with an underscore is accepted too)."""


class SavedModel(NamedTuple):
    """What :func:`load_model` reads from a checkpoint.

    Attributes
    ----------
    model
        The model's name, a key of :data:`MODEL_MODULES` (e.g. ``"bernoulli-rbm"``).
    params
        Its parameters as the model's own NamedTuple (e.g.
        :class:`~numpyro_ebm.energies.bernoulli_rbm.BernoulliRBMParams`, with ``W``,
        ``b``, ``c``), float arrays of the dtypes the model initialises with.
    meta
        The checkpoint's record: ``epoch``, ``history``, ``config`` (the training
        settings) and ``fingerprint``.
    """

    model: str
    params: Any
    meta: dict


def _model_name(name, path) -> str:
    model = str(name).replace("_", "-").lower()
    if model not in MODEL_MODULES:
        raise CheckpointError(
            f"checkpoint {path} holds an unknown model {name!r}; known: {', '.join(MODEL_MODULES)}"
        )
    return model


def load_model(checkpoint) -> SavedModel:
    """The model's name, its named parameters and the record of a checkpoint.

    Reads a checkpoint written by ``numpyro-ebm train`` or ``demo`` (or by
    :func:`~numpyro_ebm.learning.fit.fit` with a ``config`` that holds ``model``,
    ``n_visible`` and ``hidden``): the parameters are the first leaves of the saved
    state ``(params, opt_state, rule_state, learning_rate_scale)``, put back into the
    model's parameter NamedTuple.

    Parameters
    ----------
    checkpoint
        The checkpoint directory or its ``checkpoint.npz``.

    Returns
    -------
    SavedModel
        ``(model, params, meta)``.

    Raises
    ------
    CheckpointError
        (a ``ValueError``) when the file is missing or damaged, when its config does not
        say which model it holds, or when its arrays do not fit that model.
    """
    import importlib

    path = Path(checkpoint)
    leaves, meta = load_checkpoint(path)
    config = meta.get("config") or {}
    if "model" not in config or "n_visible" not in config:
        raise CheckpointError(
            f"the checkpoint {path} does not say which model it holds (no 'model' and "
            "'n_visible' in its config); it was not written by numpyro-ebm train or demo"
        )
    model = _model_name(config["model"], path)
    hidden = config.get("hidden", [config.get("n_hidden")])
    if not hidden or any(not isinstance(h, int) for h in hidden):
        raise CheckpointError(f"the checkpoint {path} has no hidden layer sizes in its config")
    module = importlib.import_module(MODEL_MODULES[model])
    template = jax.eval_shape(
        lambda: module.init_params(jax.random.key(0), int(config["n_visible"]), *hidden)
    )
    expected = jax.tree.leaves(template)
    if len(leaves) < len(expected):
        raise CheckpointError(f"the checkpoint {path} has too few arrays for a {model}")
    for saved, wanted in zip(leaves, expected, strict=False):
        if saved.shape != wanted.shape:
            raise CheckpointError(
                f"the checkpoint {path} holds an array of shape {saved.shape} where a "
                f"{model} with {config['n_visible']} visible and {hidden} hidden units has "
                f"{wanted.shape}"
            )
    restored = [jnp.asarray(s, w.dtype) for s, w in zip(leaves, expected, strict=False)]
    return SavedModel(model, jax.tree.unflatten(jax.tree.structure(template), restored), meta)


def load_params(checkpoint):
    """The model's named parameters from a checkpoint of ``numpyro-ebm train`` or ``demo``.

    ``load_params("run1/checkpoint")`` is, e.g., a
    :class:`~numpyro_ebm.energies.bernoulli_rbm.BernoulliRBMParams` with ``W``, ``b``
    and ``c``, ready for :func:`numpyro_ebm.energies.bernoulli_rbm.free_energy`, the
    kernels and the evaluation functions (not the flat list of every saved array that
    :func:`load_checkpoint` returns). :func:`load_model` also gives the model's name
    and the training record.

    Parameters
    ----------
    checkpoint
        The checkpoint directory or its ``checkpoint.npz``.

    Raises
    ------
    CheckpointError
        As :func:`load_model`.

    Examples
    --------
    >>> from numpyro_ebm.learning import load_params  # doctest: +SKIP
    >>> params = load_params("run1/checkpoint")  # doctest: +SKIP
    >>> params.W.shape  # doctest: +SKIP
    (64, 16)
    """
    return load_model(checkpoint).params


def _key_data(rng_key) -> list[int]:
    if jnp.issubdtype(jnp.asarray(rng_key).dtype, jax.dtypes.prng_key):
        rng_key = jax.random.key_data(rng_key)
    return [int(x) for x in np.asarray(rng_key).ravel()]


def run_fingerprint(rng_key, data, optimizer, params, config: dict) -> dict:
    """What a checkpoint's state depends on, as JSON: data, key, optimizer and config.

    The optimizer is summarised by its first update of the probe gradient
    ``ones_like(params)`` from a fresh state: one sum per leaf, which moves with
    the learning rate (and momentum, schedules, weight decay) of any Optax
    optimizer. The data hash reads every byte once (about 0.1 s per 100 MB).
    """
    host = np.ascontiguousarray(np.asarray(data))
    probe = jax.tree.map(jnp.ones_like, params)
    updates, _ = optimizer.update(probe, optimizer.init(params), params)
    return {
        "data": {
            "shape": list(host.shape),
            "dtype": str(host.dtype),
            "sha256": hashlib.sha256(host.data).hexdigest(),
        },
        "rng_key": _key_data(rng_key),
        "optimizer": [float(np.sum(np.asarray(u, np.float64))) for u in jax.tree.leaves(updates)],
        "config": json.loads(json.dumps(config)),
    }


STRUCTURAL_SETTINGS = (
    "estimator",
    "algorithm",
    "model",
    "n_visible",
    "n_features",
    "hidden",
    "rule",
    "k",
    "chains",
    "centered",
    "optimizer",
    "standardize",
)
"""Entries of a run's ``config`` that say what the saved state *is*: the estimator or model,
its sizes, the learning rule and its chains, the kind of optimizer, the data's
standardization. Resuming with any of them changed is refused (the saved parameters,
chains or optimizer moments would be read as something else); entries not listed (a
learning rate, a note, the paths of the data) may change, with a warning."""


def check_resumed_config(path, saved: dict, current: dict) -> bool:
    """Apply the resume policy to the ``config`` a checkpoint was written with.

    Raises :class:`CheckpointError` when an entry of :data:`STRUCTURAL_SETTINGS` present in
    both differs (naming each, ``name: old -> new``); returns whether anything else differs
    (the caller warns).
    """
    saved, current = saved or {}, current or {}
    changed = [
        name
        for name in STRUCTURAL_SETTINGS
        if name in saved and name in current and saved[name] != current[name]
    ]
    if changed:
        details = ", ".join(f"{name}: {saved[name]!r} -> {current[name]!r}" for name in changed)
        raise CheckpointError(
            f"the checkpoint in {path} was trained with other settings ({details}); resume "
            "with the same settings or start in another checkpoint directory"
        )
    return saved != current


def _compare_fingerprints(path: Path, saved: dict, current: dict) -> None:
    """Raise for other data or a structural config change; warn for a changed key, optimizer
    or other config entry (the policy of :func:`check_resumed_config`)."""
    if not saved:  # written before fingerprints existed
        return
    if saved.get("data") != current["data"]:
        old, new = saved.get("data", {}), current["data"]
        what = (
            f"shape {tuple(old.get('shape', ()))} {old.get('dtype')} -> "
            f"{tuple(new['shape'])} {new['dtype']}"
            if (old.get("shape"), old.get("dtype")) != (new["shape"], new["dtype"])
            else "same shape and dtype, different values"
        )
        raise CheckpointError(
            f"checkpoint {path} was written for other training data ({what}); resume with the "
            "data it was trained on, or start a new checkpoint_dir"
        )
    changed = []
    if saved.get("rng_key") != current["rng_key"]:
        changed.append("rng_key")
    old_updates = saved.get("optimizer")
    if old_updates is not None and not (
        len(old_updates) == len(current["optimizer"])
        and all(
            math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-12)
            for a, b in zip(old_updates, current["optimizer"], strict=True)
        )
    ):
        changed.append("optimizer (learning rate or other hyper-parameters)")
    if check_resumed_config(path, saved.get("config"), current["config"]):
        changed.append(f"config ({saved.get('config')!r} -> {current['config']!r})")
    if changed:
        warnings.warn(
            f"resuming from {path} with a different {', '.join(changed)} than it was written "
            "with: training continues with the new settings, so the run no longer matches "
            "an uninterrupted one",
            CheckpointWarning,
            stacklevel=3,
        )


def resume_from(
    checkpoint_dir: Path, state: TrainState, fingerprint: dict | None = None
) -> tuple[TrainState, int, dict[str, list]]:
    """The state, epoch and history to continue from.

    The newest checkpoint in ``checkpoint_dir`` that loads (``checkpoint.npz``,
    else ``checkpoint.previous.npz``, with a :class:`CheckpointWarning` when the
    newest is damaged), its arrays put into the structure of ``state``, checked
    against ``fingerprint``; ``(state, 0, {})`` when there is no checkpoint.
    Stray temporary files of interrupted writes are removed.

    Raises
    ------
    CheckpointError
        When every checkpoint present is damaged, or the state or data differ.
    """
    for stray in checkpoint_dir.glob(f"{_TEMPORARY_PREFIX}*{_TEMPORARY_SUFFIX}"):
        stray.unlink(missing_ok=True)
    candidates = [
        path
        for path in (checkpoint_dir / CHECKPOINT_NAME, checkpoint_dir / PREVIOUS_CHECKPOINT_NAME)
        if path.exists()
    ]
    if not candidates:
        return state, 0, {}
    problems = []
    for path in candidates:
        try:
            leaves, meta = _read(path)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        if problems:
            warnings.warn(
                f"{problems[-1]}; resuming from the previous checkpoint {path} "
                f"(epoch {meta['epoch']})",
                CheckpointWarning,
                stacklevel=3,
            )
        restored, meta = load_checkpoint(path, template=tuple(state))
        if fingerprint is not None:
            _compare_fingerprints(path, meta.get("fingerprint", {}), fingerprint)
        history = {k: list(v) for k, v in meta["history"].items()}
        return TrainState(*restored), meta["epoch"], history
    raise CheckpointError(f"no usable checkpoint in {checkpoint_dir}: " + "; ".join(problems))
