r"""Systematic-scan single-site Gibbs sampling over categorical sites.

Site :math:`i` is redrawn from its exact conditional
:math:`p(v_i = a \mid v_{-i}) \propto e^{-E(v_{i \leftarrow a})}`; one step is a
sweep over the sites :math:`0, \dots, L-1` (``reverse=True``: :math:`L-1, \dots, 0`,
the time reversal, as for :mod:`~numpyro_ebm.kernels.binary_gibbs`), each update
seeing the values the earlier ones drew. Two targets:

- the **pairwise Potts model** (``energy_fn=None``, parameters
  :class:`~numpyro_ebm.energies.potts.PottsParams`): the conditional's logits are
  the local field :math:`h_i(a) + \sum_j J_{ij}(a, v_j)`
  (:func:`numpyro_ebm.energies.potts.site_logits`, :math:`O(Lq)` per chain), so a
  sweep costs :math:`O(L^2 q)`;
- **any energy** over codes, ``energy_fn(params, v)`` for ``v`` of shape
  ``(*chains, L)`` returning ``(*chains,)`` (a Potts RBM's free energy, an
  annealed energy of :func:`numpyro_ebm.evaluation.annealing.ais`): the
  conditional takes :math:`q` energy evaluations per site.

The draws are :func:`numpyro_ebm.kernels.categorical.categorical_from_logits`.
Chains hold integer codes in a float array, ``(*chains, L)``. Follows BlackJAX's
kernel contract; :func:`tempering` runs the Potts sampler inside parallel tempering
(for an ``energy_fn``, use
:func:`~numpyro_ebm.kernels.parallel_tempering.tempered_sampler`).

References
----------
Geman, S. and Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the
Bayesian restoration of images. *IEEE TPAMI* 6(6).
Liu, J. S., Wong, W. H. and Kong, A. (1995). Covariance structure and convergence
rate of the Gibbs sampler with various scans. *JRSS B* 57(1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, Int, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import potts, potts_rbm
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels.categorical import categorical_from_logits
from numpyro_ebm.kernels.potts_rbm_gibbs import scaled_params

__all__ = [
    "PottsGibbsState",
    "PottsGibbsInfo",
    "init",
    "build_kernel",
    "as_top_level_api",
    "tempering",
]


class PottsGibbsState(NamedTuple):
    """State of the chain: codes ``(*chains, L)``, integers in a float dtype."""

    position: Float[Array, "*chains sites"]


class PottsGibbsInfo(NamedTuple):
    """Diagnostics of one sweep.

    n_changed
        Number of sites whose state differs from the start of the sweep, ``(*chains,)``.
    """

    n_changed: Int[Array, "*chains"]


def _n_states(params, energy_fn, n_states):
    if energy_fn is None:
        return params.fields.shape[-1]
    if n_states is None:
        raise ValueError("a sampler over an energy_fn needs n_states, the number of site states")
    return n_states


def init(
    position: Float[Array, "*chains sites"],
    params,
    energy_fn: Callable | None = None,
    n_states: int | None = None,
) -> PottsGibbsState:
    """Build the state for ``position`` after checking dtype and codes (and, for the Potts
    model, its parameters)."""
    position = _checks.check_array(position, "position", ndim_min=1)
    if energy_fn is None:
        params = potts.validate_params(params)
    q = _n_states(params, energy_fn, n_states)
    potts_rbm.validate_codes(position, q, "position")
    if energy_fn is not None:
        out = jax.eval_shape(energy_fn, params, position)
        if tuple(out.shape) != tuple(position.shape[:-1]):
            raise ValueError(
                f"energy_fn must return one energy per chain, shape {position.shape[:-1]}; got "
                f"{tuple(out.shape)}"
            )
    return PottsGibbsState(position)


def build_kernel(
    energy_fn: Callable | None = None, n_states: int | None = None, reverse: bool = False
):
    """Return ``kernel(rng_key, state, params) -> (PottsGibbsState, PottsGibbsInfo)``.

    ``energy_fn=None``: the pairwise Potts model (``params`` a ``PottsParams``);
    otherwise ``energy_fn(params, codes)`` over ``n_states`` states per site.
    """
    reverse = bool(reverse)
    if energy_fn is not None and n_states is None:
        raise ValueError("a sampler over an energy_fn needs n_states, the number of site states")

    def kernel(
        rng_key: PRNGKeyArray, state: PottsGibbsState, params
    ) -> tuple[PottsGibbsState, PottsGibbsInfo]:
        position = state.position
        n_sites = position.shape[-1]
        dtype = position.dtype
        q = _n_states(params, energy_fn, n_states)
        keys = jax.random.split(rng_key, n_sites)
        axis = position.ndim - 1
        states = jnp.arange(q, dtype=dtype)

        def conditional_logits(v, site):
            if energy_fn is None:
                return potts.site_logits(params, potts_rbm.one_hot(v, q, dtype), site)
            # the q candidates v_{i <- a} on a leading axis: one energy call for all
            candidates = jnp.broadcast_to(v, (q,) + v.shape)
            column = jnp.broadcast_to(
                states.reshape((q,) + (1,) * (v.ndim - 1)), (q,) + v.shape[:-1]
            )
            candidates = jax.lax.dynamic_update_index_in_dim(candidates, column, site, v.ndim)
            return jnp.moveaxis(-energy_fn(params, candidates), 0, -1)

        def update(t, v):
            site = n_sites - 1 - t if reverse else t
            logits = conditional_logits(v, site)
            new = categorical_from_logits(keys[t], logits, dtype)
            return jax.lax.dynamic_update_index_in_dim(v, new, site, axis)

        new_position = jax.lax.fori_loop(0, n_sites, update, position)
        n_changed = jnp.sum(new_position != position, axis=-1, dtype=jnp.int32)
        return PottsGibbsState(new_position), PottsGibbsInfo(n_changed)

    return kernel


def as_top_level_api(
    energy_fn: Callable | None = None, n_states: int | None = None, reverse: bool = False
) -> SamplingAlgorithm:
    """Single-site Gibbs as a ``SamplingAlgorithm`` (see :func:`build_kernel`)."""
    kernel = build_kernel(energy_fn, n_states, reverse)

    def init_fn(position, params) -> PottsGibbsState:
        return init(position, params, energy_fn, n_states)

    return SamplingAlgorithm(init_fn, kernel)


def tempering() -> pt.Tempering:
    r"""Single-site Gibbs of the pairwise Potts model on every replica of parallel tempering;
    the energy is linear in :math:`(h, J)`, so replica :math:`\beta` runs with
    :math:`(\beta h, \beta J)`."""

    def energy_gap(params, state):
        return potts.energy(params, state.position, "codes")

    return pt.tempered_kernel(as_top_level_api(), scaled_params, energy_gap)
