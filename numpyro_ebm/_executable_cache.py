"""Compiled programs kept on disk, so that a fresh Python process does not compile them again.

A scikit-learn user's script imports the estimator and fits once: with JAX that
first fit is mostly the XLA compilation of its epoch (about 0.6-0.9 s on a
2-core CPU against scikit-learn's 0.7 s fit of its digits example). This module
compiles a jitted function ahead of time, stores the executable
(:mod:`jax.experimental.serialize_executable`) and loads it in later processes.
It is used by the estimators' compiled epochs only; it never touches JAX's
global persistent-cache configuration, so the rest of a user's program is
unaffected.

Where: ``$NUMPYRO_EBM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/numpyro_ebm``
(``~/.cache/numpyro_ebm``), in ``executables/``. ``NUMPYRO_EBM_CACHE_DIR=off``
turns it off. A file is named by a hash of the traced program (its jaxpr, with the
arguments' shapes and dtypes) and of everything that decides how it compiles or makes
an executable incompatible: JAX's configuration, the jax and jaxlib versions, the
backend and its version, the devices, ``XLA_FLAGS`` and the host CPU's feature flags;
a warm start then neither lowers nor compiles. Anything that goes wrong with the cache (unwritable directory,
a truncated or foreign file, an executable that will not load) falls back to
compiling, and a bad file is replaced. An executable that JAX itself loaded from its
persistent compilation cache (when the user enabled it) is not stored: it would not
survive a second serialisation, and JAX's cache already serves it. As with JAX's cache,
loading an executable runs code from the cache directory: keep it private.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import platform
import tempfile
from pathlib import Path

import jax
import jaxlib
import numpy as np

__all__ = ["cache_directory", "compiled"]

_ENV = "NUMPYRO_EBM_CACHE_DIR"
_FORMAT = b"numpyro_ebm-executable-2\n"


def cache_directory() -> Path | None:
    """Where compiled executables are kept, or None when the cache is off."""
    configured = os.environ.get(_ENV)
    if configured is not None:
        if configured.strip().lower() in ("off", "0", "false", ""):
            return None
        return Path(configured).expanduser() / "executables"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "numpyro_ebm" / "executables"


@functools.cache
def _cpu_flags() -> str:
    """The host CPU's feature flags: an executable compiled for one CPU may not run on another."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _environment() -> str:
    backend = jax.devices()[0].client
    devices = ",".join(f"{d.platform}:{d.device_kind}:{d.id}" for d in jax.devices())
    return "\n".join(
        (
            jax.__version__,
            jaxlib.__version__,
            backend.platform,
            backend.platform_version,
            devices,
            os.environ.get("XLA_FLAGS", ""),
            platform.machine(),
            _cpu_flags(),
        )
    )


def _signature(args, static) -> tuple:
    leaves, treedef = jax.tree.flatten(args)
    avals = tuple(
        (tuple(x.shape), str(x.dtype), bool(getattr(x, "weak_type", False)))
        if hasattr(x, "shape")
        else (type(x).__name__, x)
        for x in leaves
    )
    return treedef, avals, tuple(sorted(static.items()))


# the executables of this process, by abstract signature: lowering again costs ~0.07 s
_in_process: dict = {}

# JAX's own persistent compilation cache hits, counted: an executable that JAX loaded from
# its cache serialises without its compiled functions (running the reloaded copy fails
# with "Function ... not found"), so such an executable is never stored here
_jax_cache_hits = [0]


def _count_jax_cache_hits(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _jax_cache_hits[0] += 1


jax.monitoring.register_event_listener(_count_jax_cache_hits)


def compiled(jitted, *args, **static):
    """``jitted``'s executable for these arguments, from this process, the disk, or compiled.

    Parameters
    ----------
    jitted
        A :func:`jax.jit`-ed function.
    *args
        Its dynamic arguments (concrete arrays).
    **static
        Its static keyword arguments (``static_argnames``).

    Returns
    -------
    jax.stages.Compiled
        Call it with ``*args`` (the static arguments are baked in).
    """
    key = (jitted, _signature(args, static))
    try:
        return _in_process[key]
    except (KeyError, TypeError):  # TypeError: an unhashable static argument
        pass
    traced = jitted.trace(*args, **static)
    directory = cache_directory()
    digest = None if directory is None else _program_digest(traced)
    path = None if digest is None else directory / f"{digest}.bin"
    executable = None if path is None else _load(path)
    if executable is None:
        lowered = traced.lower()
        hits = _jax_cache_hits[0]
        executable = lowered.compile()
        if path is not None and _jax_cache_hits[0] == hits:  # compiled here, not loaded by JAX
            _store(path, executable, lowered)
    try:
        _in_process[key] = executable
    except TypeError:
        pass
    return executable


def _program_digest(traced) -> str | None:
    """A hash of the traced program and of everything that decides how it compiles.

    The jaxpr's text (with the arguments' shapes and dtypes and the static values as
    literals) stands for the program, so a warm start need not lower it (lowering is
    most of the work left once the compilation is stored); JAX's whole configuration
    (the random-number implementation, x64, matmul precision, ...) and the environment
    stand for how it lowers and compiles. ``None`` (no caching) when the program closes
    over constants whose values are not at hand.
    """
    jaxpr = traced.jaxpr
    inner = getattr(jaxpr, "jaxpr", jaxpr)
    consts = getattr(jaxpr, "consts", None)
    if inner.constvars and consts is None:
        return None
    hasher = hashlib.sha256()
    hasher.update(_FORMAT)
    hasher.update(_environment().encode())
    configuration = sorted((name, repr(value)) for name, value in jax.config.values.items())
    hasher.update(repr(configuration).encode())
    hasher.update(str(jaxpr).encode())
    for const in consts or ():
        array = np.asarray(const)
        hasher.update(f"{array.dtype}{array.shape}".encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


def _load(path: Path):
    from jax.experimental import serialize_executable

    try:
        payload = path.read_bytes()
    except OSError:
        return None
    if not payload.startswith(_FORMAT):
        return None
    try:
        in_tree, out_tree, serialized = pickle.loads(payload[len(_FORMAT) :])
        return serialize_executable.deserialize_and_load(serialized, in_tree, out_tree)
    except Exception:  # a truncated, foreign or stale file: compile instead (and replace it)
        return None


def _store(path: Path, executable, lowered) -> None:
    from jax.experimental import serialize_executable

    temporary = None
    try:
        serialized, _, _ = serialize_executable.serialize(executable)
        # the argument and result structures too: a warm start does not lower the program
        payload = pickle.dumps((lowered.in_tree, lowered.out_tree, serialized))
        path.parent.mkdir(parents=True, exist_ok=True)
        # written beside it and renamed: a reader never sees half a file
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as file:
            temporary = file.name
            file.write(_FORMAT + payload)
        os.replace(temporary, path)
    except Exception:  # no room, no permission, or not serializable: the cache is optional
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
