"""Checkpoints of :func:`~numpyro_ebm.learning.fit.fit`: write atomically, read back, resume.

A checkpoint is one ``checkpoint.npz`` in the checkpoint directory holding
every array leaf of the training state (parameters, optimizer state, rule
state, learning-rate scale) as ``leaf_00000, leaf_00001, ...`` and a JSON
``meta`` record (epoch, history, config, number of leaves). It is written to a
temporary file and moved into place with :func:`os.replace`, so a reader sees
either the previous checkpoint or the new one, never a partial file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CHECKPOINT_NAME", "TrainState", "save_checkpoint", "load_checkpoint", "resume_from"]

CHECKPOINT_NAME = "checkpoint.npz"


class TrainState(NamedTuple):
    """What a checkpoint holds besides its metadata, and what one compiled epoch carries."""

    params: Any
    opt_state: Any
    rule_state: Any
    learning_rate_scale: jax.Array


def save_checkpoint(directory: Path, state: TrainState, epoch: int, history: dict, config: dict):
    """Write params, optimizer and rule state, epoch, history and config atomically."""
    leaves = jax.tree.leaves(
        (state.params, state.opt_state, state.rule_state, state.learning_rate_scale)
    )
    arrays = {f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(leaves)}
    meta = {"epoch": epoch, "history": history, "config": config, "n_leaves": len(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, directory / CHECKPOINT_NAME)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path, template=None):
    """Read a checkpoint written by :func:`~numpyro_ebm.learning.fit.fit`.

    Returns ``(leaves_or_state, meta)``: with ``template`` (a pytree of the same
    structure as ``(params, opt_state, rule_state, learning_rate_scale)``) the
    leaves are put back into that structure.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    with np.load(path) as archive:
        meta = json.loads(archive["meta"].tobytes().decode())
        leaves = [archive[f"leaf_{i:05d}"] for i in range(meta["n_leaves"])]
    if template is None:
        return leaves, meta
    treedef = jax.tree.structure(template)
    if treedef.num_leaves != len(leaves):
        raise ValueError(
            f"checkpoint {path} has {len(leaves)} arrays but the model/optimizer/rule state "
            f"has {treedef.num_leaves}: it was written by a different configuration"
        )
    template_leaves = jax.tree.leaves(template)
    for i, (saved, expected) in enumerate(zip(leaves, template_leaves, strict=True)):
        if saved.shape != np.shape(expected):
            raise ValueError(
                f"checkpoint array {i} has shape {saved.shape}, expected {np.shape(expected)}"
            )
    restored = [
        jnp.asarray(s, dtype=jnp.asarray(t).dtype)
        for s, t in zip(leaves, template_leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, restored), meta


def resume_from(checkpoint_dir: Path, state: TrainState) -> tuple[TrainState, int, dict[str, list]]:
    """The state, epoch and history to continue from: the checkpoint in ``checkpoint_dir``
    if there is one (its arrays put into the structure of ``state``), else ``state`` at
    epoch 0 with an empty history."""
    if not (checkpoint_dir / CHECKPOINT_NAME).exists():
        return state, 0, {}
    restored, meta = load_checkpoint(checkpoint_dir, template=tuple(state))
    history = {k: list(v) for k, v in meta["history"].items()}
    return TrainState(*restored), meta["epoch"], history
