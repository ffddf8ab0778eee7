r"""The training loop: compiled epochs, history, checkpoints, resume and divergence recovery.

:func:`fit` runs any :class:`~numpyro_ebm.learning.contrastive_divergence.LearningRule`
with any Optax optimizer. One epoch is one compiled call: the data is shuffled
with a key derived from the epoch number, cut into minibatches, and the rule
and optimizer are applied inside ``lax.scan``. Between epochs, in Python, the
loop checks for divergence, computes the per-epoch metrics and the mixing
diagnostics of the persistent chains, updates the progress bar and writes
checkpoints.

Mixing diagnostics. A rule whose negatives are persistent chains reports each
chain's energy at every step (``info.negative_energies``); the epoch stacks
them into a trace of shape ``(n_batches, n_chains)`` and, on the host,
:func:`~numpyro_ebm.diagnostics.mixing.chain_energy_diagnostics` computes with ArviZ the rank-normalized split
R-hat and the bulk and tail effective sample sizes (Vehtari et al. 2021) of
the chains' energies within that epoch. Chains that stopped mixing (stuck in
modes of different energy, or frozen) show an R-hat well above 1 and a small
ESS; :func:`numpyro_ebm.plots.plot_mixing` draws them over training.

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved :math:`\widehat{R}`
for assessing convergence of MCMC. *Bayesian Analysis* 16(2).

Everything random derives from ``rng_key`` and the epoch number alone, so a
run stopped after a checkpoint and resumed with ``resume=True`` ends
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from numpyro_ebm import _checks, sharding
from numpyro_ebm._mixing import CHAIN_DIAGNOSTICS, chain_energy_diagnostics
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    CheckpointWarning,
    TrainState,
    load_checkpoint,
    resume_from,
    run_fingerprint,
    save_checkpoint,
)
from numpyro_ebm.learning.history import (
    MixingWarning,
    append_record,
    epoch_record,
    flag_poor_mixing,
    metric_value,
    mixing_message,
    progress_postfix,
)
from numpyro_ebm.learning.layout import TrainingLayout

__all__ = [
    "FitResult",
    "TrainingDiverged",
    "MixingWarning",
    "fit",
    "load_checkpoint",
    "CheckpointError",
    "CheckpointWarning",
    "chain_energy_diagnostics",
    "CHECKPOINT_NAME",
    "CHAIN_DIAGNOSTICS",
]


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    params, opt_state, rule_state
        Final values (the rule state holds persistent chains, fast weights, ...).
    history
        ``dict`` of per-epoch lists: ``epoch``, ``positive_energy``,
        ``negative_energy``, ``learning_rate_scale``, ``wall_time``, the
        acceptance rate when the kernel reports one, ``loss`` when the rule's
        info has one (score matching), ``free_energy_gap`` when held-out data
        is given, the chain diagnostics ``chain_rhat``, ``chain_ess_bulk``,
        ``chain_ess_tail`` and the flag ``poor_mixing`` (see :func:`fit`'s
        ``chain_diagnostics``), for parallel-tempering rules
        (:mod:`numpyro_ebm.learning.tempered`) ``swap_rate`` (mean swap acceptance
        over pairs, chains and batches) and ``round_trips`` (completed so far,
        summed over the chains), for the DBM rules (:mod:`numpyro_ebm.learning.dbm`)
        ``mean_field_iterations`` (mean over the batches of the positive phase's
        iterations), and one entry per user metric.
    epochs_completed
        Number of epochs done (including those before a resume).
    """

    params: Any
    opt_state: Any
    rule_state: Any
    history: dict
    epochs_completed: int


class TrainingDiverged(RuntimeError):
    """Raised when training stays non-finite after the allowed number of rollbacks."""


def _tree_is_finite(tree) -> bool:
    return all(
        bool(np.all(np.isfinite(np.asarray(x))))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    )


def _find_field(tree, name):
    """The value of the first field named ``name`` in a (nested) NamedTuple, or None."""
    if tree is None:
        return None
    if hasattr(tree, "_fields"):
        if name in tree._fields:
            return getattr(tree, name)
        for field in tree._fields:
            found = _find_field(getattr(tree, field), name)
            if found is not None:
                return found
    return None


def _epoch_fn(
    rule: LearningRule,
    optimizer,
    batch_size: int,
    n_batches: int,
    chain_diagnostics: bool,
    layout: TrainingLayout | None = None,
    state_shardings=None,
):
    """The compiled epoch, shared between :func:`fit` calls with the same rule and optimizer.

    Calling ``fit`` again with the *same* rule and optimizer objects (e.g. a
    scikit-learn estimator refitted in a grid search) reuses the compiled epoch
    instead of compiling it again, for data of a shape already seen. Rules or
    optimizers that cannot be hashed get a fresh compiled epoch every call.
    """
    arguments = (rule, optimizer, batch_size, n_batches, chain_diagnostics, layout, state_shardings)
    try:
        hash(arguments)
    except TypeError:
        return _build_epoch_fn(*arguments)
    return _cached_epoch_fn(*arguments)


@functools.lru_cache(maxsize=32)
def _cached_epoch_fn(*arguments):
    return _build_epoch_fn(*arguments)


def _build_epoch_fn(
    rule: LearningRule,
    optimizer,
    batch_size: int,
    n_batches: int,
    chain_diagnostics: bool,
    layout: TrainingLayout | None = None,
    state_shardings=None,
):
    """One epoch, compiled: shuffle, scan over minibatches, return averaged diagnostics.

    Also returns the per-batch traces: ``{"negative_energies": (n_batches, n_chains)}``
    when ``chain_diagnostics`` and the rule's info has that field (the value is
    ``None`` when the field is), else ``{}``. With a ``layout`` (``fit(...,
    mesh=)``) the minibatches are split over the data axis and the state keeps
    ``state_shardings`` from epoch to epoch.
    """

    def run_epoch(state: TrainState, data, epoch_key):
        shuffle_key, steps_key = jax.random.split(epoch_key)
        order = jax.random.permutation(shuffle_key, data.shape[0])[: n_batches * batch_size]
        batches = data[order].reshape((n_batches, batch_size) + data.shape[1:])
        if layout is not None:
            batches = layout.constrain_batches(batches)

        def body(state: TrainState, inputs):
            key, batch = inputs
            grads, rule_state, info = rule.step(key, state.rule_state, state.params, batch)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            updates = jax.tree.map(
                lambda u: (u * state.learning_rate_scale).astype(u.dtype), updates
            )
            params = optax.apply_updates(state.params, updates)
            acceptance = _find_field(info.sampler_info, "acceptance_rate")
            acceptance = jnp.mean(acceptance) if acceptance is not None else jnp.nan
            finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
            extra = {}
            if getattr(info, "loss", None) is not None:
                extra["loss"] = info.loss
            if chain_diagnostics and hasattr(info, "negative_energies"):
                extra["negative_energies"] = info.negative_energies  # None: no persistent chains
            # parallel-tempering negative phases report swaps and round trips
            swap_acceptance = _find_field(info.sampler_info, "swap_acceptance")
            if swap_acceptance is not None:
                extra["swap_rate"] = jnp.mean(swap_acceptance)
                extra["round_trips"] = jnp.sum(_find_field(info.sampler_info, "round_trips"))
            # rules with an iterative positive phase (the DBM's mean field) report its cost
            iterations = getattr(info, "mean_field_iterations", None)
            if iterations is not None:
                extra["mean_field_iterations"] = iterations.astype(jnp.float32)
            diagnostics = (info.positive_energy, info.negative_energy, acceptance, finite, extra)
            return TrainState(params, opt_state, rule_state, state.learning_rate_scale), diagnostics

        keys = jax.random.split(steps_key, n_batches)
        state, (positive, negative, acceptance, finite, extra) = jax.lax.scan(
            body, state, (keys, batches)
        )
        summary = {
            "positive_energy": jnp.mean(positive),
            "negative_energy": jnp.mean(negative),
            "acceptance_rate": jnp.mean(acceptance),
            "all_gradients_finite": jnp.all(finite),
        }
        if "loss" in extra:
            summary["loss"] = jnp.mean(extra.pop("loss"))
        if "swap_rate" in extra:
            summary["swap_rate"] = jnp.mean(extra.pop("swap_rate"))
            # cumulative since the chains started, summed over the chains
            summary["round_trips"] = extra.pop("round_trips")[-1].astype(jnp.float32)
        if "mean_field_iterations" in extra:
            summary["mean_field_iterations"] = jnp.mean(extra.pop("mean_field_iterations"))
        if state_shardings is not None:
            state = jax.lax.with_sharding_constraint(state, state_shardings)
        return state, summary, extra

    return jax.jit(run_epoch)


def _epoch_is_finite(
    summary: dict, params, energy_fn: Callable | None, probe, layout: TrainingLayout | None = None
) -> bool:
    """Gradients, energies (and a loss) of the epoch and the new parameters are all finite."""
    # score matching has no negative phase: its negative_energy is a finite placeholder
    # (0), and its loss is checked too
    return (
        summary.pop("all_gradients_finite") == 1.0
        and math.isfinite(summary["positive_energy"])
        and math.isfinite(summary["negative_energy"])
        and math.isfinite(summary.get("loss", 0.0))
        and _tree_is_finite(params if layout is None else sharding.to_host(params))
        # parameters can be finite yet give non-finite energies (caught only by the
        # next epoch's first gradient, from a state that would then look "good")
        and (energy_fn is None or bool(jnp.all(jnp.isfinite(energy_fn(params, probe)))))
    )


def _validate_training_data(
    data, batch_size: int, validate_data: Callable | None, rule_validator: Callable | None
):
    data = _checks.check_array(data, "data", ndim_min=2)
    if data.shape[0] == 0:
        raise ValueError(f"data is empty: it has shape {tuple(data.shape)}")
    if rule_validator is not None:
        data = rule_validator(data, "data")
    if validate_data is not None:
        data = validate_data(data)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if batch_size > data.shape[0]:
        raise ValueError(
            f"batch_size {batch_size} is larger than the number of training examples {data.shape[0]}"
        )
    return data


def _init_rule(rule, rng_key, params, data, batch_size: int):
    """``rule.init``, then one step traced on a minibatch (``jax.eval_shape``: no compile,
    no computation), so data that does not fit the model (e.g. the wrong number of
    columns) fails here, naming ``data``, not while the first epoch compiles."""
    try:
        rule_state = rule.init(rng_key, params, data)
        jax.eval_shape(rule.step, rng_key, rule_state, params, data[:batch_size])
    except (ValueError, TypeError) as error:
        raise type(error)(
            f"data with rows of shape {tuple(data.shape[1:])} does not fit the model and "
            f"rule: {error}"
        ) from error
    return rule_state


def fit(
    rng_key,
    params,
    data,
    rule: LearningRule,
    optimizer: optax.GradientTransformation,
    *,
    epochs: int,
    batch_size: int,
    held_out=None,
    energy_fn: Callable | None = None,
    metrics: Mapping[str, Callable] | None = None,
    validate_data: Callable | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    on_divergence: str = "rollback",
    learning_rate_decrease: float = 0.5,
    max_rollbacks: int = 5,
    progress: bool = True,
    config: dict | None = None,
    log: Callable[[str], None] | None = None,
    chain_diagnostics: bool = True,
    mesh=None,
    chain_axis: str | None = None,
    data_axis: str | None = None,
) -> FitResult:
    """Train ``params`` on ``data`` with a learning rule and an Optax optimizer.

    Parameters
    ----------
    rng_key
        PRNG key; every random choice derives from it and the epoch number.
    params
        Initial parameters (pytree).
    data
        Training data, shape ``(n, *event)``, float.
    rule
        A learning rule (CD-k, PCD, FPCD, ...).
    optimizer
        Any ``optax.GradientTransformation`` (schedules included).
    epochs, batch_size
        Epochs to run in total (including any already in a resumed checkpoint),
        and examples per minibatch (the remainder of each shuffled epoch is dropped).
    held_out
        Optional held-out data; with ``energy_fn`` the history records the
        free-energy gap ``mean E(held_out) - mean E(train subset)`` (an
        overfitting signal; Hinton's practical guide, section 6).
    energy_fn
        The (free) energy used for the gap and, on a minibatch, for the divergence check
        after every epoch.
    metrics
        ``{name: fn(params, train, held_out) -> float}`` evaluated after every
        epoch (e.g. exact pseudo-likelihood, reconstruction error, exact
        log-likelihood from :mod:`numpyro_ebm.evaluation`). Each is also
        evaluated once on the initial parameters before training (not recorded),
        so a metric that fails or returns an array (TypeError naming it) does so
        before the first epoch rather than after it.
    validate_data
        Extra ``fn(data) -> data`` raising on bad input; run on ``data`` and
        ``held_out`` before training. The rule's own ``rule.validate_data``
        always runs first (on the full data): the Bernoulli-RBM rules accept
        binary data and probabilities in ``[0, 1]`` (used as mean-field data; see
        :func:`numpyro_ebm._checks.validate_bernoulli_data`), the generic rules
        with a binary or spin Gibbs kernel accept binary or spin data, and
        anything outside raises a ValueError naming ``data`` before training.
    checkpoint_dir, checkpoint_every
        Where and how often (in epochs) to write ``checkpoint.npz`` atomically
        (the one it replaces is kept as ``checkpoint.previous.npz``). A
        checkpoint is only written from a finite state. See
        :mod:`numpyro_ebm.learning.checkpoint`.
    resume
        Continue from the newest usable checkpoint in ``checkpoint_dir`` if
        there is one (falling back, with a ``CheckpointWarning``, to the
        previous one when the newest is damaged). Other training data raises a
        :class:`~numpyro_ebm.learning.checkpoint.CheckpointError`; a different
        ``rng_key``, optimizer (e.g. learning rate) or ``config`` than the
        checkpoint was written with warns (``CheckpointWarning``).
    on_divergence
        ``"rollback"``: on non-finite parameters, gradients or energies, return
        to the last good state, multiply the learning rate by
        ``learning_rate_decrease`` and redo the epoch (at most ``max_rollbacks``
        times in a row); ``"raise"``: raise :class:`TrainingDiverged` at once.
    progress
        Show a tqdm progress bar with live metrics.
    config
        JSON-serialisable description of the run, stored in checkpoints.
    log
        Where messages go (default: the progress bar's ``write`` or ``print``).
    chain_diagnostics
        Record, every epoch, ``chain_rhat``, ``chain_ess_bulk`` and
        ``chain_ess_tail``: the mixing diagnostics of the persistent chains'
        energies within the epoch
        (:func:`~numpyro_ebm.diagnostics.mixing.chain_energy_diagnostics`; one trace
        point per chain and minibatch, so an epoch needs at least 4 minibatches).
        Alongside ``acceptance_rate`` they show when the negative phase stopped
        mixing: R-hat well above 1 (say above 1.1) and an ESS small compared
        with ``n_batches * n_chains``. Recorded for rules with persistent chains
        (PCD, FPCD, the closed-form RBM PCD, the centered and sparsity wrappers
        around them, replay with ``buffer_size == n_chains``, the DBM rule
        ``learning.dbm.dbm_pcd`` and the tied-copies rule
        ``learning.dbn.copies_rbm_pcd``). Rules whose info
        has a ``negative_energies`` field set to ``None`` (the default) record NaN: CD-k
        restarts its chains at the batch every step, so the per-batch energies
        are not a Markov chain and R-hat would mean nothing. Rules without a
        negative phase (score matching) record no chain diagnostics. Cost: the
        compiled epoch keeps ``n_batches * n_chains`` extra floats (no extra
        energy evaluations), and ArviZ ranks and autocorrelates them on the host
        after the epoch: about 60 ms of CPU for 600 x 100, 1% of a PCD-1 epoch of
        a 784x500 RBM on MNIST and 3.5% at 784x100 (the first epoch also imports
        ArviZ, a second or two). ``False`` skips both. Either way the parameters,
        optimizer and rule states are bit-identical. With the diagnostics on,
        the history also records ``poor_mixing`` each epoch: True when
        ``chain_rhat`` exceeds 1.1 on a trace of at least 20 minibatches; the
        first such epoch of a run after the first epoch (the chains' burn-in from
        training rows) issues a :class:`MixingWarning` naming what to try (more
        sweeps ``k``, more chains, FPCD, a tempered negative phase).
    mesh, chain_axis, data_axis
        Optional :class:`jax.sharding.Mesh` to train on several devices (or
        processes, with ``jax.distributed``): the persistent chains are split
        over its axis ``chain_axis`` and the examples of each minibatch over its
        axis ``data_axis`` (defaults ``"chain"`` and ``"data"``, each used when
        the mesh has it; a name given explicitly must exist, and both may be the
        same axis), with the gradients averaged across both; parameters and
        optimizer state are replicated unless already placed on the mesh (see
        :mod:`numpyro_ebm.learning.layout` and ``docs/scaling.md``). The chain
        count and ``batch_size`` must be multiples of the axes' sizes (checked
        from shapes, before the epoch is compiled). The random numbers do not depend on the
        number of devices: chains and their Gibbs draws are bit-identical, sums
        over the sharded axes (the gradients) may differ in the last bits.
        Checkpoints are gathered to the host (process 0 writes) and resume on
        any device count. Without a mesh, everything runs on the default device.
    """
    if on_divergence not in ("rollback", "raise"):
        raise ValueError(
            f"unknown on_divergence option {on_divergence!r}; choose 'rollback' or 'raise'"
        )
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer; got {epochs!r}")
    rule_validator = getattr(rule, "validate_data", None)
    data = _validate_training_data(data, batch_size, validate_data, rule_validator)
    if held_out is not None:
        held_out = _checks.check_array(held_out, "held_out", ndim_min=2)
        if held_out.shape[1:] != data.shape[1:]:
            raise ValueError(
                f"held_out rows have shape {held_out.shape[1:]} but data rows have {data.shape[1:]}"
            )
        if rule_validator is not None:
            held_out = rule_validator(held_out, "held_out")
        if validate_data is not None:
            held_out = validate_data(held_out)
    if not _tree_is_finite(params):
        raise ValueError("initial params contain non-finite values")
    metrics = dict(metrics or {})
    for name, fn in metrics.items():
        if not callable(fn):
            raise TypeError(f"metric {name!r} must be callable as fn(params, train, held_out)")
        metric_value(name, fn(params, data, held_out))
    config = dict(config or {})

    init_key, train_key = jax.random.split(rng_key)
    layout = None
    if mesh is not None:
        shapes = jax.eval_shape(
            lambda key, p: (optimizer.init(p), rule.init(key, p, data)), init_key, params
        )
        layout = TrainingLayout.create(mesh, chain_axis, data_axis, batch_size, shapes)
    rule_state = _init_rule(rule, init_key, params, data, batch_size)
    if layout is not None:
        params = layout.place_params(params)
    state = TrainState(
        params, optimizer.init(params), rule_state, jnp.asarray(1.0, dtype=jnp.float32)
    )
    state_shardings = None
    if layout is not None:
        state = layout.place_state(state)
        state_shardings = layout.shardings(state)
    history: dict[str, list] = {}
    start_epoch = 0
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = (
        run_fingerprint(rng_key, data, optimizer, params, config)
        if checkpoint_dir is not None
        else None
    )
    if resume:
        if checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        state, start_epoch, history = resume_from(checkpoint_dir, state, fingerprint)
        if layout is not None:
            state = jax.tree.map(sharding.put, state, state_shardings)

    n_batches = data.shape[0] // batch_size
    probe = data[:batch_size]
    run_epoch = _epoch_fn(
        rule, optimizer, batch_size, n_batches, chain_diagnostics, layout, state_shardings
    )
    train_subset = data[: min(len(data), len(held_out))] if held_out is not None else None
    if layout is not None:
        data, probe = layout.place_data(data), layout.place_data(probe)
        if held_out is not None:
            held_out, train_subset = layout.place_data(held_out), layout.place_data(train_subset)

    bar = None
    if progress and epochs > start_epoch:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start_epoch, desc="fit", unit="epoch", dynamic_ncols=True)
    write = log or (bar.write if bar is not None else print)

    good_state, rollbacks, epoch = state, 0, start_epoch
    warned_mixing = False
    try:
        while epoch < epochs:
            started = time.perf_counter()
            new_state, summary, traces = run_epoch(
                state, data, jax.random.fold_in(train_key, epoch)
            )
            summary = {k: float(v) for k, v in summary.items()}
            if layout is not None:  # host-side checks and diagnostics see whole arrays
                traces = sharding.to_host(traces)
            if not _epoch_is_finite(summary, new_state.params, energy_fn, probe, layout):
                if on_divergence == "raise" or rollbacks >= max_rollbacks:
                    raise TrainingDiverged(
                        f"training became non-finite in epoch {epoch + 1} "
                        f"(after {rollbacks} rollback(s)); the last good state is epoch {epoch}"
                        + (f", saved in {checkpoint_dir}" if checkpoint_dir else "")
                    )
                rollbacks += 1
                scale = float(good_state.learning_rate_scale) * learning_rate_decrease
                write(
                    f"epoch {epoch + 1}: non-finite parameters, gradients or energies; rolled back to "
                    f"epoch {epoch} and multiplied the learning rate by {learning_rate_decrease} "
                    f"(now x{scale:g})"
                )
                state = good_state._replace(
                    learning_rate_scale=jnp.asarray(scale, dtype=jnp.float32)
                )
                good_state = state
                continue
            rollbacks = 0
            state = good_state = new_state
            epoch += 1
            record = epoch_record(
                epoch,
                summary,
                traces,
                state.params,
                state.learning_rate_scale,
                started=started,
                data=data,
                held_out=held_out,
                train_subset=train_subset,
                energy_fn=energy_fn,
                metrics=metrics,
            )
            # the first epoch is the chains' burn-in: they start at training rows, not at
            # the model, so a high R-hat there is expected and flagged without a warning
            if flag_poor_mixing(record, n_batches) and epoch > 1 and not warned_mixing:
                warnings.warn(
                    MixingWarning(mixing_message(epoch, record["chain_rhat"])), stacklevel=2
                )
                warned_mixing = True
            append_record(history, record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(progress_postfix(record, metrics))
            if checkpoint_dir is not None and (epoch % checkpoint_every == 0 or epoch == epochs):
                save_checkpoint(checkpoint_dir, state, epoch, history, config, fingerprint)
    finally:
        if bar is not None:
            bar.close()
    return FitResult(state.params, state.opt_state, state.rule_state, history, epoch)
