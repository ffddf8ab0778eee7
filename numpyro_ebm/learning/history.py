"""Per-epoch recording of :func:`~numpyro_ebm.learning.fit.fit`: one history row an epoch.

A row holds the compiled epoch's averages (energies, acceptance rate, loss),
the learning-rate scale, the persistent chains' mixing diagnostics
(:func:`~numpyro_ebm.diagnostics.mixing.chain_energy_diagnostics`), the
held-out free-energy gap, the user's metrics and the wall time; the history is
``{key: [value per epoch]}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import jax.numpy as jnp
import numpy as np

from numpyro_ebm._mixing import CHAIN_DIAGNOSTICS, chain_energy_diagnostics

__all__ = [
    "MixingWarning",
    "RHAT_WARNING_THRESHOLD",
    "MIN_DRAWS_FOR_MIXING_WARNING",
    "epoch_record",
    "flag_poor_mixing",
    "append_record",
    "progress_postfix",
    "metric_value",
]

RHAT_WARNING_THRESHOLD = 1.1
"""R-hat of the persistent chains' energies above which :func:`~numpyro_ebm.learning.fit.fit`
warns (the usual "not converged" threshold of NumPyro's and ArviZ's summaries)."""

MIN_DRAWS_FOR_MIXING_WARNING = 20
"""Fewest draws per chain (minibatches per epoch) for which a high R-hat is reported:
the split R-hat of shorter traces exceeds 1.1 by chance too often to be worth a warning
(for 2 chains of 4 independent normal draws, B/W is F(3, 4)-distributed and R-hat > 1.1
has probability 0.36; at 20 draws the rate falls to a few percent for 2 chains and to
nothing measurable for the tens of chains PCD uses)."""


class MixingWarning(UserWarning):
    """The persistent chains of :func:`~numpyro_ebm.learning.fit.fit` stopped mixing."""


def mixing_message(epoch: int, rhat: float) -> str:
    """The text of the :class:`MixingWarning` for ``epoch``."""
    return (
        f"epoch {epoch}: the persistent chains' energies have R-hat {rhat:.3f} > "
        f"{RHAT_WARNING_THRESHOLD}: the negative phase is not mixing, so the gradient is "
        "biased towards the modes the chains are stuck in. Try more sampler steps per "
        "minibatch (k), more chains, fast weights (FPCD: learning.fpcd or "
        "learning.rbm.bernoulli_rbm_fpcd), or a tempered (parallel tempering) negative "
        "phase. The flag is in the history as 'poor_mixing'; this warning is given once a run."
    )


def metric_value(name: str, value) -> float:
    """A metric's output as a float, or a TypeError naming the metric."""
    shape = np.shape(value)
    if shape != () and int(np.prod(shape)) != 1:
        raise TypeError(
            f"metric {name!r} must return a scalar (a float or a 0-d array); it returned "
            f"{type(value).__name__} of shape {shape}. Reduce it, e.g. with jnp.mean."
        )
    try:
        return float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise TypeError(
            f"metric {name!r} must return a real number; it returned {value!r}"
        ) from None


def epoch_record(
    epoch: int,
    summary: Mapping[str, float],
    traces: Mapping,
    params,
    learning_rate_scale: float,
    *,
    started: float,
    data,
    held_out,
    train_subset,
    energy_fn: Callable | None,
    metrics: Mapping[str, Callable],
) -> dict[str, float]:
    """The history row of a finished epoch (``started``: its ``time.perf_counter()`` start)."""
    record = {"epoch": epoch, **summary, "learning_rate_scale": float(learning_rate_scale)}
    if "negative_energies" in traces:
        trace = traces["negative_energies"]
        record.update(
            chain_energy_diagnostics(trace)
            if trace is not None
            else dict.fromkeys(CHAIN_DIAGNOSTICS, math.nan)
        )
    if held_out is not None and energy_fn is not None:
        gap = jnp.mean(energy_fn(params, held_out)) - jnp.mean(energy_fn(params, train_subset))
        record["free_energy_gap"] = float(gap)
    for name, fn in metrics.items():
        record[name] = metric_value(name, fn(params, data, held_out))
    record["wall_time"] = time.perf_counter() - started
    if math.isnan(record["acceptance_rate"]):
        del record["acceptance_rate"]
    return record


def flag_poor_mixing(record: dict, n_draws: int) -> bool:
    """Set ``record["poor_mixing"]`` (when the row has a ``chain_rhat``) and return it.

    True when R-hat exceeds :data:`RHAT_WARNING_THRESHOLD` on a trace of at least
    :data:`MIN_DRAWS_FOR_MIXING_WARNING` draws per chain (NaN R-hat: False).
    """
    if "chain_rhat" not in record:
        return False
    rhat = record["chain_rhat"]
    poor = bool(rhat > RHAT_WARNING_THRESHOLD) and n_draws >= MIN_DRAWS_FOR_MIXING_WARNING
    record["poor_mixing"] = poor
    return poor


def append_record(history: dict[str, list], record: Mapping[str, float]) -> None:
    """Append every value of ``record`` to its list in ``history``."""
    for name, value in record.items():
        history.setdefault(name, []).append(value)


def progress_postfix(record: Mapping[str, float], metric_names) -> dict[str, str]:
    """What the progress bar shows of a row: the metrics and the main diagnostics, when known."""
    shown = [*metric_names, "loss", "free_energy_gap", "acceptance_rate", "chain_rhat"]
    return {k: f"{record[k]:.4g}" for k in shown if not math.isnan(record.get(k, math.nan))}
