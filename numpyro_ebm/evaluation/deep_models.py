r"""What the deep-model bounds share: :class:`VariationalBound`, :func:`log_z_and_interval`
and the limit of exact enumeration, :data:`MAX_EXACT_HIDDEN1`
(used by :mod:`~numpyro_ebm.evaluation.deep_boltzmann` and
:mod:`~numpyro_ebm.evaluation.deep_belief`)."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm.evaluation import rbm_annealing

__all__ = ["VariationalBound", "log_z_and_interval", "MAX_EXACT_HIDDEN1", "check_exact_hidden"]

MAX_EXACT_HIDDEN1 = 20
"""The ``exact_*`` oracles enumerate the first hidden layer: at most this many units."""


class VariationalBound(NamedTuple):
    r"""A variational lower bound on the average log-likelihood of some data.

    Attributes
    ----------
    mean
        Average over the data of the per-example bound.
    interval
        ``mean`` with the :math:`\pm 3\sigma` interval of :math:`\log \hat Z` carried
        through (lower, upper); equal to ``(mean, mean)`` for an exact :math:`\log Z`.
        Monte Carlo error of the bound itself is in ``standard_error``.
    per_example
        The bound for every row (for the DBN: a Monte Carlo estimate).
    standard_error
        Monte Carlo standard error of ``mean`` (zero for the closed-form DBM bound).
    log_z
        The :math:`\log Z` used.
    """

    mean: Float[Array, ""]
    interval: tuple[Float[Array, ""], Float[Array, ""]]
    per_example: Float[Array, " n"]
    standard_error: Float[Array, ""]
    log_z: Float[Array, ""]


def log_z_and_interval(log_z):
    """``(log_z, (lower, upper))`` from an :class:`~numpyro_ebm.evaluation.rbm_annealing.AISResult` or a number."""
    if isinstance(log_z, rbm_annealing.AISResult):
        return log_z.log_z, log_z.interval
    value = jnp.asarray(log_z)
    return value, (value, value)


def check_exact_hidden(n_hidden1: int) -> None:
    """Raise unless the first hidden layer is small enough to enumerate."""
    if n_hidden1 > MAX_EXACT_HIDDEN1:
        raise ValueError(
            f"exact enumeration over the {n_hidden1} units of the first hidden layer exceeds the "
            f"limit of {MAX_EXACT_HIDDEN1}; use ais_dbm with variational_bound_dbm for models this large"
        )
