"""Energies as unnormalized NumPyro and BlackJAX potentials.

The only module that knows signs. An energy ``E(params, x)`` defines
:math:`p(x) \\propto e^{-E(x)}`; so

- BlackJAX receives the log density :math:`-E` (:func:`log_density_fn`);
- NumPyro's ``MCMC(NUTS(potential_fn=...))`` receives the potential :math:`E`
  (:func:`potential_fn`);
- inside a NumPyro model, :func:`factor` adds :math:`-E` to the log joint and
  :class:`UnnormalizedEnergy` is a latent site whose ``log_prob`` is :math:`-E`.

The normalising constant :math:`\\log Z(\\theta)` is dropped everywhere, which is
right when :math:`\\theta` is fixed and wrong when :math:`\\theta` is itself
inferred (a doubly-intractable posterior); see :func:`check_model`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpyro
from numpyro.distributions import Distribution, constraints

__all__ = [
    "log_density_fn",
    "potential_fn",
    "factor",
    "UnnormalizedEnergy",
    "UnnormalizedSampleError",
]


def log_density_fn(energy_fn: Callable, params) -> Callable:
    """BlackJAX log density ``x -> -energy_fn(params, x)``."""

    def log_density(x):
        return -energy_fn(params, x)

    return log_density


def potential_fn(energy_fn: Callable, params, site: str | None = None) -> Callable:
    """NumPyro potential for ``MCMC(NUTS(potential_fn=...))``: ``z -> energy_fn(params, z)``.

    With ``site`` set, ``z`` is a dict and the energy is evaluated at ``z[site]``
    (so ``init_params={site: x0}`` names the samples in ``mcmc.get_samples()``).
    """

    def potential(z):
        x = z[site] if site is not None else z
        return energy_fn(params, x)

    return potential


def factor(name: str, energy_fn: Callable, params, x):
    """``numpyro.factor(name, -energy_fn(params, x))``, summed over batch dimensions."""
    return numpyro.factor(name, -jnp.sum(energy_fn(params, x)))


class UnnormalizedSampleError(NotImplementedError):
    """Raised when a direct sample is requested from an unnormalized energy."""


_SUPPORTS = {
    "real": constraints.real,
    "binary": constraints.boolean,
    "positive": constraints.positive,
    "unit_interval": constraints.unit_interval,
}


class UnnormalizedEnergy(Distribution):
    """An energy as an (unnormalized) NumPyro distribution: ``log_prob(x) = -E(params, x)``.

    Use it as a latent site, ``x = numpyro.sample("x", UnnormalizedEnergy(E, params, (D,)))``,
    and sample the model with ``MCMC(NUTS(model))`` (real support) or a discrete
    Gibbs kernel (binary support). ``log_prob`` omits :math:`\\log Z(\\theta)`.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)``, broadcasting over leading batch dimensions of ``x``.
    params
        Pytree of parameters (held fixed; see :func:`check_model`).
    event_shape
        Shape of one configuration ``x``, e.g. ``(D,)``.
    support
        ``"real"`` (default), ``"binary"``, ``"positive"`` or ``"unit_interval"``, or a
        NumPyro constraint on a single element.
    """

    arg_constraints = {}
    support = constraints.dependent
    pytree_data_fields = ("params", "support")
    pytree_aux_fields = ("energy_fn",)

    def __init__(
        self, energy_fn: Callable, params, event_shape, support="real", *, validate_args=None
    ):
        if isinstance(support, str):
            if support not in _SUPPORTS:
                raise ValueError(f"unknown support {support!r}; choose one of {sorted(_SUPPORTS)}")
            support = _SUPPORTS[support]
        event_shape = tuple(event_shape)
        self.energy_fn = energy_fn
        self.params = params
        self.support = constraints.independent(support, len(event_shape) - support.event_dim)
        super().__init__(batch_shape=(), event_shape=event_shape, validate_args=validate_args)

    def log_prob(self, value):
        return -self.energy_fn(self.params, value)

    def sample(self, key, sample_shape=()):
        raise UnnormalizedSampleError(
            "UnnormalizedEnergy has no normalising constant and cannot be sampled directly. "
            "Use it as a latent site in a NumPyro model and run MCMC "
            "(numpyro.infer.MCMC(NUTS(model)) for real support, a Gibbs kernel for binary support), "
            "or use a kernel from numpyro_ebm.kernels."
        )
