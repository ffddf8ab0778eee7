r"""The training engine: one step, one compiled epoch, one loop.

Every trainer of the library runs on these pieces, in the spirit of BlackJAX's single
``run_inference_algorithm`` and of NumPyro's ``SVI`` (``init`` / ``update`` / ``run``):

- :func:`train_step` turns a :class:`~numpyro_ebm.learning.base.LearningRule` and an Optax
  optimizer into one pure minibatch update, ``step(state, rng_key, batch) -> (state, report)``;
- :func:`scan_epoch` compiles an epoch of such steps over shuffled minibatches of a data
  array (:func:`~numpyro_ebm.learning.fit.fit`), and :func:`scan_steps` an epoch of steps
  that all see the same arguments (a NumPyro program subsamples its own minibatches with
  ``numpyro.plate(..., subsample_size=B)``: :class:`numpyro_ebm.infer.ContrastiveDivergence`);
- :func:`run_epochs` is the host loop around a compiled epoch: divergence rollback,
  the history, the progress bar, and callbacks for everything else (checkpoints:
  :func:`checkpoint_callback`; the mixing warning: :func:`mixing_warning_callback`).

A step's report is a dict of scalars (and, for chain diagnostics, the per-chain energies
``negative_energies``); :func:`summarize_epoch` reduces the stacked reports of an epoch to
the per-epoch summary the history records.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PRNGKeyArray

from numpyro_ebm.learning import checkpoint
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.checkpoint import TrainState
from numpyro_ebm.learning.composition import rule_metrics
from numpyro_ebm.learning.history import (
    MixingWarning,
    append_record,
    mixing_message,
)

__all__ = [
    "TrainState",
    "TrainingDiverged",
    "init_state",
    "train_step",
    "step_report",
    "summarize_epoch",
    "scan_epoch",
    "scan_steps",
    "run_epochs",
    "checkpoint_callback",
    "mixing_warning_callback",
    "tree_is_finite",
]


class TrainingDiverged(RuntimeError):
    """Raised when training stays non-finite after the allowed number of rollbacks."""


def tree_is_finite(tree) -> bool:
    """Whether every inexact leaf of ``tree`` is finite (on the host)."""
    return all(
        bool(np.all(np.isfinite(np.asarray(x))))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    )


def init_state(params: Any, optimizer: optax.GradientTransformation, rule_state: Any) -> TrainState:
    """The engine's state before the first step: parameters, optimizer and rule states,
    and a learning-rate scale of 1 (halved by each divergence rollback)."""
    return TrainState(
        params, optimizer.init(params), rule_state, jnp.asarray(1.0, dtype=jnp.float32)
    )


def step_report(info: Any, grads: Any, chain_diagnostics: bool = True) -> dict:
    """The per-step report: the metrics the rule's ``info`` reports, plus the gradients' check.

    The info reports its own metrics (``info.metrics()``,
    :func:`~numpyro_ebm.learning.composition.rule_metrics`): always ``positive_energy``,
    ``negative_energy`` and ``acceptance_rate`` (NaN when the kernel reports none);
    ``loss`` (score matching, pseudo-likelihood); the per-chain ``negative_energies`` of
    persistent chains (kept only with ``chain_diagnostics``); ``swap_rate`` and
    ``round_trips`` for tempered negative phases; ``mean_field_iterations`` for the DBM's
    positive phase. The engine adds ``all_gradients_finite``.
    """
    report = dict(rule_metrics(info))
    if not chain_diagnostics:
        report.pop("negative_energies", None)
    report["all_gradients_finite"] = jnp.all(
        jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)])
    )
    return report


def train_step(
    rule: LearningRule, optimizer: optax.GradientTransformation, chain_diagnostics: bool = True
) -> Callable[[TrainState, PRNGKeyArray, Any], tuple[TrainState, dict]]:
    """One minibatch update as a pure function ``step(state, rng_key, batch)``.

    The rule estimates the gradient of the negative log-likelihood, the optimizer turns it
    into updates, scaled by ``state.learning_rate_scale``, and the report holds the step's
    metrics (:func:`step_report`). ``batch`` is whatever the rule's ``step`` takes: an
    array of examples, or a NumPyro program's arguments.
    """

    def step(state: TrainState, rng_key: PRNGKeyArray, batch: Any):
        grads, rule_state, info = rule.step(rng_key, state.rule_state, state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        updates = jax.tree.map(lambda u: (u * state.learning_rate_scale).astype(u.dtype), updates)
        params = optax.apply_updates(state.params, updates)
        new_state = TrainState(params, opt_state, rule_state, state.learning_rate_scale)
        return new_state, step_report(info, grads, chain_diagnostics)

    return step


def summarize_epoch(reports: dict) -> tuple[dict, dict]:
    """An epoch's stacked step reports -> ``(summary, traces)``.

    The summary holds means over the steps (``round_trips``: the last value, cumulative
    since the chains started) and ``all_gradients_finite``; the traces hold the per-step
    arrays kept for the host (``negative_energies``, shape ``(steps, chains)``).
    """
    reports = dict(reports)
    summary = {
        "positive_energy": jnp.mean(reports.pop("positive_energy")),
        "negative_energy": jnp.mean(reports.pop("negative_energy")),
        "acceptance_rate": jnp.mean(reports.pop("acceptance_rate")),
        "all_gradients_finite": jnp.all(reports.pop("all_gradients_finite")),
    }
    for name in ("loss", "swap_rate", "mean_field_iterations"):
        if name in reports:
            summary[name] = jnp.mean(reports.pop(name))
    if "round_trips" in reports:
        summary["round_trips"] = reports.pop("round_trips")[-1].astype(jnp.float32)
    return summary, reports


def scan_epoch(
    step: Callable,
    batch_size: int,
    n_batches: int,
    layout=None,
    state_shardings=None,
) -> Callable[[TrainState, Any, PRNGKeyArray], tuple[TrainState, dict, dict]]:
    """One epoch over shuffled minibatches, compiled: ``run_epoch(state, data, epoch_key)``.

    The data is permuted with a key split from ``epoch_key``, the remainder beyond
    ``n_batches * batch_size`` rows dropped, and ``step`` (:func:`train_step`) scanned over
    the minibatches. Returns ``(state, summary, traces)`` (:func:`summarize_epoch`). With a
    ``layout`` (:class:`~numpyro_ebm.learning.layout.TrainingLayout`) the minibatches are
    split over the data axis and the state keeps ``state_shardings`` between epochs.
    """

    def run_epoch(state: TrainState, data, epoch_key):
        shuffle_key, steps_key = jax.random.split(epoch_key)
        order = jax.random.permutation(shuffle_key, data.shape[0])[: n_batches * batch_size]
        keys = jax.random.split(steps_key, n_batches)

        def body(state, inputs):
            key, rows = inputs
            # each step gathers its own minibatch: no shuffled copy of the whole data set
            batch = data[rows]
            if layout is not None:
                batch = layout.constrain_batch(batch)
            return step(state, key, batch)

        state, reports = jax.lax.scan(body, state, (keys, order.reshape(n_batches, batch_size)))
        if state_shardings is not None:
            state = jax.lax.with_sharding_constraint(state, state_shardings)
        return (state, *summarize_epoch(reports))

    return jax.jit(run_epoch)


def scan_steps(
    step: Callable, n_steps: int
) -> Callable[[TrainState, Any, PRNGKeyArray], tuple[TrainState, dict, dict]]:
    """``n_steps`` steps that all see the same ``batch``, compiled: ``run(state, batch, key)``.

    For models that draw their own minibatches (a NumPyro program with
    ``numpyro.plate(..., subsample_size=B)`` subsamples from the step's key). Returns
    ``(state, summary, traces)`` like :func:`scan_epoch`.
    """

    def run(state: TrainState, batch, key):
        keys = jax.random.split(key, n_steps)
        state, reports = jax.lax.scan(lambda s, k: step(s, k, batch), state, keys)
        return (state, *summarize_epoch(reports))

    return jax.jit(run)


def checkpoint_callback(
    directory: str | os.PathLike,
    every: int,
    epochs: int,
    config: dict | None = None,
    fingerprint: dict | None = None,
) -> Callable:
    """A :func:`run_epochs` callback writing a checkpoint every ``every`` epochs and at the end."""
    directory = Path(directory)

    def callback(epoch: int, state: TrainState, record: dict, history: dict) -> None:
        if epoch % every == 0 or epoch == epochs:
            # looked up at call time, so a test can interpose on the module's function
            checkpoint.save_checkpoint(directory, state, epoch, history, config or {}, fingerprint)

    return callback


def mixing_warning_callback() -> Callable:
    """A :func:`run_epochs` callback issuing one :class:`MixingWarning` per run.

    It reads the record's ``poor_mixing`` flag (set by
    :func:`~numpyro_ebm.learning.history.flag_poor_mixing` when the record is made). The
    first epoch is the chains' burn-in (they start at training rows, not at the model), so a
    high R-hat there is flagged without a warning.
    """
    warned = False

    def callback(epoch: int, state: TrainState, record: dict, history: dict) -> None:
        nonlocal warned
        if record.get("poor_mixing", False) and epoch > 1 and not warned:
            warnings.warn(MixingWarning(mixing_message(epoch, record["chain_rhat"])), stacklevel=4)
            warned = True

    return callback


def _summary_is_finite(summary: dict) -> bool:
    # score matching has no negative phase: its negative_energy is a finite placeholder;
    # an epoch that reports nothing (scikit-learn's algorithm) is judged by its parameters
    return summary.pop("all_gradients_finite", 1.0) == 1.0 and all(
        math.isfinite(summary.get(name, 0.0))
        for name in ("positive_energy", "negative_energy", "loss")
    )


def run_epochs(
    run_epoch: Callable[[TrainState, int], tuple[TrainState, dict, dict]],
    state: TrainState,
    *,
    epochs: int,
    record: Callable[[int, dict, dict, TrainState, float], dict],
    start_epoch: int = 0,
    history: dict | None = None,
    params_are_finite: Callable[[Any], bool] | None = tree_is_finite,
    on_divergence: str = "rollback",
    learning_rate_decrease: float = 0.5,
    max_rollbacks: int = 5,
    callbacks: Sequence[Callable] = (),
    progress: bool = True,
    description: str = "fit",
    postfix: Callable[[dict], dict] | None = None,
    log: Callable[[str], None] | None = None,
    last_good: str = "",
) -> tuple[TrainState, dict, int]:
    """The host loop around a compiled epoch; returns ``(state, history, epochs_completed)``.

    Parameters
    ----------
    run_epoch
        ``(state, epoch) -> (state, summary, traces)``, e.g. :func:`scan_epoch`'s program
        with the data and the epoch's key bound.
    state
        The engine state (:func:`init_state`), possibly restored from a checkpoint.
    epochs, start_epoch, history
        Run epochs ``start_epoch + 1 .. epochs``, appending to ``history``.
    record
        ``(epoch, summary, traces, state, started) -> dict``: the epoch's history record
        (:func:`~numpyro_ebm.learning.history.epoch_record` for :func:`~numpyro_ebm.learning.fit.fit`).
    params_are_finite
        Extra divergence check on the new parameters (the summary's gradients, energies and
        loss are always checked); ``None`` checks nothing (scikit-learn's algorithm).
    on_divergence, learning_rate_decrease, max_rollbacks
        ``"rollback"``: on a non-finite epoch, return to the last good state, multiply the
        learning rate by ``learning_rate_decrease`` and redo the epoch (at most
        ``max_rollbacks`` times in a row); ``"raise"``: raise :class:`TrainingDiverged`.
    callbacks
        ``fn(epoch, state, record, history)`` after each good epoch (checkpoints, warnings).
    progress, description, postfix, log
        A tqdm bar with ``postfix(record)`` as live metrics; where messages go (default:
        the bar's ``write`` or ``print``).
    last_good
        Appended to the divergence error (e.g. where the last checkpoint is).
    """
    if on_divergence not in ("rollback", "raise"):
        raise ValueError(
            f"unknown on_divergence option {on_divergence!r}; choose 'rollback' or 'raise'"
        )
    history = {} if history is None else history
    bar = None
    if progress and epochs > start_epoch:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=epochs, initial=start_epoch, desc=description, unit="epoch", dynamic_ncols=True
        )
    write = log or (bar.write if bar is not None else print)
    good_state, rollbacks, epoch = state, 0, start_epoch
    try:
        while epoch < epochs:
            started = time.perf_counter()
            new_state, summary, traces = run_epoch(state, epoch)
            summary = {k: float(v) for k, v in summary.items()}
            finite = _summary_is_finite(summary) and (
                params_are_finite is None or params_are_finite(new_state.params)
            )
            if not finite:
                if on_divergence == "raise" or rollbacks >= max_rollbacks:
                    raise TrainingDiverged(
                        f"training became non-finite in epoch {epoch + 1} "
                        f"(after {rollbacks} rollback(s)); the last good state is epoch {epoch}"
                        + last_good
                    )
                rollbacks += 1
                scale = float(good_state.learning_rate_scale) * learning_rate_decrease
                write(
                    f"epoch {epoch + 1}: non-finite parameters, gradients or energies; rolled back to "
                    f"epoch {epoch} and multiplied the learning rate by {learning_rate_decrease} "
                    f"(now x{scale:g})"
                )
                state = good_state = good_state._replace(
                    learning_rate_scale=jnp.asarray(scale, dtype=jnp.float32)
                )
                continue
            rollbacks = 0
            state = good_state = new_state
            epoch += 1
            entry = record(epoch, summary, traces, state, started)
            append_record(history, entry)
            for callback in callbacks:  # after the history has the epoch (checkpoints keep it)
                callback(epoch, state, entry, history)
            if bar is not None:
                bar.update(1)
                if postfix is not None:
                    bar.set_postfix(postfix(entry))
    finally:
        if bar is not None:
            bar.close()
    return state, history, epoch
