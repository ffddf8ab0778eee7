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
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from numpyro_ebm import _checks, sharding
from numpyro_ebm._mixing import CHAIN_DIAGNOSTICS, chain_energy_diagnostics
from numpyro_ebm.learning import engine
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    CheckpointWarning,
    load_checkpoint,
    resume_from,
    run_fingerprint,
)
from numpyro_ebm.learning.engine import TrainingDiverged
from numpyro_ebm.learning.history import (
    MixingWarning,
    epoch_record,
    flag_poor_mixing,
    metric_value,
    progress_postfix,
)
from numpyro_ebm.learning.layout import TrainingLayout

__all__ = [
    "FitResult",
    "TrainingDiverged",
    "MixingWarning",
    "fit",
    "epoch_program",
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


def epoch_program(
    rule: LearningRule,
    optimizer,
    batch_size: int,
    n_batches: int,
    chain_diagnostics: bool,
    layout: TrainingLayout | None = None,
    state_shardings=None,
):
    """The compiled epoch :func:`fit` runs (:func:`~numpyro_ebm.learning.engine.scan_epoch`
    of :func:`~numpyro_ebm.learning.engine.train_step`), shared between calls.

    Calling ``fit`` again with the *same* rule and optimizer objects (e.g. a
    scikit-learn estimator refitted in a grid search) reuses the compiled epoch
    instead of compiling it again, for data of a shape already seen. Rules or
    optimizers that cannot be hashed get a fresh compiled epoch every call.
    """
    arguments = (rule, optimizer, batch_size, n_batches, chain_diagnostics, layout, state_shardings)
    try:
        hash(arguments)
    except TypeError:
        return _build_epoch_program(*arguments)
    return _cached_epoch_program(*arguments)


@functools.lru_cache(maxsize=32)
def _cached_epoch_program(*arguments):
    return _build_epoch_program(*arguments)


def _build_epoch_program(
    rule, optimizer, batch_size, n_batches, chain_diagnostics, layout, state_shardings
):
    step = engine.train_step(rule, optimizer, chain_diagnostics)
    return engine.scan_epoch(step, batch_size, n_batches, layout, state_shardings)


def _energies_are_finite(energy_fn: Callable | None, probe, layout) -> Callable:
    """The divergence check on new parameters: finite, and finite energies on a minibatch."""

    def check(params) -> bool:
        return engine.tree_is_finite(params if layout is None else sharding.to_host(params)) and (
            # parameters can be finite yet give non-finite energies (caught only by the
            # next epoch's first gradient, from a state that would then look "good")
            energy_fn is None or bool(jnp.all(jnp.isfinite(energy_fn(params, probe))))
        )

    return check


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
    if on_divergence not in ("rollback", "raise"):  # before any work
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
    if not engine.tree_is_finite(params):
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
    state = engine.init_state(params, optimizer, rule_state)
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
    run_epoch = epoch_program(
        rule, optimizer, batch_size, n_batches, chain_diagnostics, layout, state_shardings
    )
    train_subset = data[: min(len(data), len(held_out))] if held_out is not None else None
    if layout is not None:
        data, probe = layout.place_data(data), layout.place_data(probe)
        if held_out is not None:
            held_out, train_subset = layout.place_data(held_out), layout.place_data(train_subset)

    def run(state, epoch):
        return run_epoch(state, data, jax.random.fold_in(train_key, epoch))

    def record(epoch, summary, traces, state, started):
        if layout is not None:  # host-side diagnostics see whole arrays
            traces = sharding.to_host(traces)
        entry = epoch_record(
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
        flag_poor_mixing(entry, n_batches)
        return entry

    callbacks = [engine.mixing_warning_callback()]
    if checkpoint_dir is not None:
        callbacks.append(
            engine.checkpoint_callback(
                checkpoint_dir, checkpoint_every, epochs, config, fingerprint
            )
        )
    state, history, epoch = engine.run_epochs(
        run,
        state,
        epochs=epochs,
        record=record,
        start_epoch=start_epoch,
        history=history,
        params_are_finite=_energies_are_finite(energy_fn, probe, layout),
        on_divergence=on_divergence,
        learning_rate_decrease=learning_rate_decrease,
        max_rollbacks=max_rollbacks,
        callbacks=callbacks,
        progress=progress,
        postfix=lambda entry: progress_postfix(entry, metrics),
        log=log,
        last_good=f", saved in {checkpoint_dir}" if checkpoint_dir else "",
    )
    return FitResult(state.params, state.opt_state, state.rule_state, history, epoch)
