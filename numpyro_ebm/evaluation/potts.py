r"""Partition functions and likelihoods of categorical (Potts) models.

- :func:`log_partition_potts_rbm`: exact :math:`\log Z` of a Potts RBM with few
  hidden units (at most :data:`MAX_HIDDEN` by default): the :math:`2^K` hidden
  configurations are enumerated and, for each, the visible sites are summed out
  site by site in closed form (:func:`numpyro_ebm.energies.potts_rbm.hidden_free_energy`),
  :math:`\log Z = \log\sum_h e^{c^\top h} \prod_i \sum_a e^{f_i(a) + (W h)_i(a)}`;
  a 20-hidden-unit model of a 27-site protein costs :math:`2^{20}` hidden free
  energies (seconds).
- :func:`log_partition_categorical`: brute enumeration of all :math:`q^L`
  sequences for any energy (the test oracle of tiny models).
- :class:`CategoricalBase`: the independent-site model as the normalised base of
  :func:`numpyro_ebm.evaluation.annealing.ais` and
  :func:`~numpyro_ebm.evaluation.annealing.reverse_ais`, so AIS and RAISE run on
  Potts RBMs and Potts models with
  :func:`numpyro_ebm.kernels.potts_gibbs.as_top_level_api` as the transition, or,
  for Potts RBMs, the block-Gibbs sweep
  :func:`numpyro_ebm.kernels.potts_rbm_gibbs.annealing_sampler` (two matmuls per
  temperature; the one to use beyond toy sizes).
- :func:`independent_site_log_likelihood`: exact log-likelihood of the
  independent-site model (the baseline of every protein benchmark).

References
----------
Tubiana, J., Cocco, S. & Monasson, R. (2019). Learning protein constitutive motifs
from sequence data. *eLife* 8:e39397 (exact and AIS log-likelihoods of Potts RBMs).
Neal, R. M. (2001). Annealed importance sampling. *Statistics and Computing* 11.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import potts_rbm
from numpyro_ebm.evaluation.exact import log_partition_binary
from numpyro_ebm.kernels.categorical import categorical_from_logits

__all__ = [
    "MAX_HIDDEN",
    "log_partition_potts_rbm",
    "log_likelihood_potts_rbm",
    "log_partition_categorical",
    "independent_site_log_likelihood",
    "CategoricalBase",
]

MAX_HIDDEN = 20
"""Default limit on the hidden units :func:`log_partition_potts_rbm` enumerates."""


def log_partition_potts_rbm(
    params: potts_rbm.PottsRBMParams, *, max_hidden: int = MAX_HIDDEN, **kwargs
) -> float:
    """Exact :math:`\\log Z` of a Potts RBM by enumerating its hidden layer (float64).

    ``kwargs`` go to :func:`numpyro_ebm.evaluation.exact.log_partition_binary`
    (``chunk_size``, ``float64``). Raises a ValueError for more than ``max_hidden``
    hidden units (use AIS then: :class:`CategoricalBase`).
    """
    params = potts_rbm.validate_params(params)
    if params.n_hidden > max_hidden:
        raise ValueError(
            f"exact log Z enumerates 2^K hidden configurations; this model has K = "
            f"{params.n_hidden} > max_hidden = {max_hidden}. Use AIS "
            "(numpyro_ebm.evaluation.annealing.ais with potts.CategoricalBase) or raise max_hidden."
        )
    return log_partition_binary(
        potts_rbm.hidden_free_energy, params, params.n_hidden, max_bits=max_hidden, **kwargs
    )


@jax.jit
def _free_energies(params, data):
    return potts_rbm.free_energy(params, data, "codes")


def log_likelihood_potts_rbm(
    params: potts_rbm.PottsRBMParams, data, log_z: float | None = None, chunk_size: int = 4096
) -> np.ndarray:
    """Per-sequence exact log-likelihood :math:`-F(v) - \\log Z` (float64 numpy), for
    integer codes ``(n, L)`` (or one-hot rows, converted)."""
    params = potts_rbm.validate_params(params)
    if log_z is None:
        log_z = log_partition_potts_rbm(params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        x = potts_rbm.as_one_hot(data, params.n_sites, params.n_states, jnp.float64, name="data")
        codes = jnp.argmax(x, axis=-1).astype(jnp.float64).reshape(-1, params.n_sites)
        free = np.concatenate(
            [
                np.asarray(_free_energies(p64, codes[start : start + chunk_size]))
                for start in range(0, codes.shape[0], chunk_size)
            ]
        )
    return -free - log_z


def log_partition_categorical(
    energy_fn: Callable, params, n_sites: int, n_states: int, *, max_states: int = 2**20
) -> float:
    """:math:`\\log\\sum_v e^{-E(v)}` over all :math:`q^L` sequences, in float64.

    ``energy_fn(params, codes)`` for float codes ``(m, L)``, returning ``(m,)``.
    """
    n_sites = _checks.check_int(n_sites, "n_sites", minimum=1)
    n_states = _checks.check_int(n_states, "n_states", minimum=2)
    if n_states**n_sites > max_states:
        raise ValueError(
            f"enumerating {n_states}^{n_sites} sequences exceeds max_states = {max_states}"
        )
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        codes = jnp.asarray(list(itertools.product(range(n_states), repeat=n_sites)), jnp.float64)
        return float(jax.nn.logsumexp(-energy_fn(p64, codes)))


def independent_site_log_likelihood(fields, data) -> Float[Array, " n"]:
    r""":math:`\sum_i \log \operatorname{softmax}(f_i)(v_i)` of each sequence: the exact
    log-likelihood of the independent-site model with fields ``(L, q)`` (e.g.
    :func:`numpyro_ebm.energies.potts_rbm.independent_site_fields`)."""
    fields = _checks.check_array(fields, "fields", ndim_min=2)
    x = potts_rbm.as_one_hot(data, fields.shape[0], fields.shape[1], fields.dtype, name="data")
    log_p = fields - jax.nn.logsumexp(fields, axis=-1, keepdims=True)
    return jnp.sum(x * log_p, axis=(-2, -1))


class CategoricalBase(NamedTuple):
    r"""Independent-site base :math:`p_0(v) = \prod_i \operatorname{softmax}(\ell_i)(v_i)` for AIS.

    Attributes
    ----------
    logits
        :math:`\ell`, shape ``(L, q)``; zeros give the uniform distribution. Fields of
        the independent-site model fitted to data
        (:func:`~numpyro_ebm.energies.potts_rbm.independent_site_fields`) give a base
        close to the data, the analogue of the base-rate RBM of Salakhutdinov &
        Murray (2008).
    """

    logits: Float[Array, "sites states"]

    def sample(self, rng_key: PRNGKeyArray, n: int) -> Float[Array, "n sites"]:
        """``n`` independent sequences as float codes ``(n, L)``."""
        logits = jnp.broadcast_to(self.logits, (n, *self.logits.shape))
        return categorical_from_logits(rng_key, logits)

    def log_prob(self, x: Float[Array, "*batch sites"]) -> Float[Array, "*batch"]:
        """Normalised :math:`\\log p_0(v)` of float codes ``(*batch, L)``."""
        return independent_site_log_likelihood(
            self.logits, potts_rbm.one_hot(x, self.logits.shape[1], self.logits.dtype)
        )
