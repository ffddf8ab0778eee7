r"""Pairwise Potts model (the direct-coupling-analysis model of protein families).

Sites :math:`v \in \{0, \dots, q-1\}^L`, fields :math:`h_i(a)` and couplings
:math:`J_{ij}(a, b)`:

.. math::

    E(v) = -\sum_i h_i(v_i) - \sum_{i<j} J_{ij}(v_i, v_j), \qquad p(v) \propto e^{-E(v)}.

The couplings are stored as one tensor of shape ``(L, q, L, q)`` with
:math:`J_{ij}(a, b) = J_{ji}(b, a)` and zero diagonal blocks :math:`J_{ii} = 0`
(:func:`symmetrize` projects onto that set), so with one-hot rows :math:`x`
flattened to :math:`Lq` entries the energy is :math:`-h^\top x - \tfrac12 x^\top J x`.
The single-site conditionals are softmaxes of the local fields,

.. math::

    p(v_i = a \mid v_{-i}) = \operatorname{softmax}_a\Bigl(h_i(a) + \sum_{j \ne i} J_{ij}(a, v_j)\Bigr),

which single-site Gibbs (:mod:`numpyro_ebm.kernels.potts_gibbs`) and the
pseudo-likelihood (plmDCA, Ekeberg et al. 2013) use. Visible input is integer
codes ``(*batch, L)`` or one-hot rows ``(*batch, L, q)``, as for the Potts RBM
(:func:`numpyro_ebm.energies.potts_rbm.as_one_hot`).

References
----------
Ekeberg, M., Lövkvist, C., Lan, Y., Weigt, M. & Aurell, E. (2013). Improved
contact prediction in proteins: using pseudolikelihoods to infer Potts models.
*Physical Review E* 87(1).
Morcos, F. et al. (2011). Direct-coupling analysis of residue coevolution captures
native contacts across many protein families. *PNAS* 108(49).
Besag, J. (1975). Statistical analysis of non-lattice data. *The Statistician* 24(3).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies.potts_rbm import as_one_hot

__all__ = [
    "PottsParams",
    "init_params",
    "symmetrize",
    "validate_params",
    "energy",
    "local_fields",
    "site_logits",
    "pseudo_log_likelihood",
    "pseudo_likelihood_objective",
]


class PottsParams(NamedTuple):
    """Parameters of a pairwise Potts model.

    Attributes
    ----------
    fields
        :math:`h_i(a)`, shape ``(L, q)``.
    couplings
        :math:`J_{ij}(a, b)`, shape ``(L, q, L, q)``, symmetric under
        :math:`(i, a) \\leftrightarrow (j, b)` with zero diagonal blocks.
    """

    fields: Float[Array, "sites states"]
    couplings: Float[Array, "sites states sites2 states2"]

    @property
    def n_sites(self) -> int:
        return self.fields.shape[0]

    @property
    def n_states(self) -> int:
        return self.fields.shape[1]


def symmetrize(couplings: Float[Array, "L q L q"]) -> Float[Array, "L q L q"]:
    r"""Project onto valid couplings: :math:`(J + J^\top)/2` with the diagonal blocks zeroed."""
    J = jnp.asarray(couplings)
    if J.ndim != 4 or J.shape[:2] != J.shape[2:]:
        raise ValueError(f"couplings must have shape (L, q, L, q); got {tuple(J.shape)}")
    L = J.shape[0]
    sym = 0.5 * (J + jnp.transpose(J, (2, 3, 0, 1)))
    diagonal = jnp.eye(L, dtype=bool)[:, None, :, None]
    return jnp.where(diagonal, jnp.zeros((), J.dtype), sym)


def init_params(
    rng_key: PRNGKeyArray, n_sites: int, n_states: int, scale: float = 0.01, dtype=jnp.float32
) -> PottsParams:
    """Zero fields and small random symmetric couplings ``N(0, scale^2)`` (zero diagonal blocks)."""
    n_sites = _checks.check_int(n_sites, "n_sites", minimum=1)
    n_states = _checks.check_int(n_states, "n_states", minimum=2)
    shape = (n_sites, n_states, n_sites, n_states)
    J = symmetrize(jnp.sqrt(2.0).astype(dtype) * scale * jax.random.normal(rng_key, shape, dtype))
    return PottsParams(jnp.zeros((n_sites, n_states), dtype), J)


def validate_params(params: PottsParams, name: str = "params") -> PottsParams:
    """Check shapes, a shared float dtype, finiteness, symmetry and zero diagonal blocks."""
    _checks.check_params(params, PottsParams, name)
    fields = _checks.check_array(params.fields, f"{name}.fields", ndim_min=2)
    J = _checks.check_array(params.couplings, f"{name}.couplings", ndim_min=4)
    if fields.ndim != 2 or J.shape != fields.shape + fields.shape:
        raise ValueError(
            f"{name}.fields must have shape (L, q) and {name}.couplings (L, q, L, q); got "
            f"{tuple(fields.shape)} and {tuple(J.shape)}"
        )
    if fields.dtype != J.dtype:
        raise TypeError(
            f"{name}.fields and {name}.couplings must share a dtype; got {fields.dtype} and "
            f"{J.dtype}"
        )
    if _checks.is_concrete(J):
        Jn = np.asarray(J)
        tol = 16 * float(np.finfo(Jn.dtype).eps) * max(1.0, float(np.abs(Jn).max(initial=0.0)))
        asym = np.abs(Jn - np.transpose(Jn, (2, 3, 0, 1)))
        if (asym > tol).any():
            i, a, j, b = (int(k) for k in np.unravel_index(np.argmax(asym), asym.shape))
            raise ValueError(
                f"{name}.couplings must be symmetric; J[{i},{a},{j},{b}] = {Jn[i, a, j, b]!r} but "
                f"J[{j},{b},{i},{a}] = {Jn[j, b, i, a]!r}. Repair with potts.symmetrize."
            )
        diag = np.abs(np.einsum("iaib->iab", Jn))
        if (diag > tol).any():
            i = int(np.unravel_index(np.argmax(diag), diag.shape)[0])
            raise ValueError(
                f"{name}.couplings must have zero diagonal blocks (no self-coupling); block "
                f"J[{i},:,{i},:] is nonzero. Repair with potts.symmetrize."
            )
    return PottsParams(fields, J)


def _visible(params, v, encoding):
    _checks.check_params(params, PottsParams)
    L, q = params.fields.shape
    return as_one_hot(v, L, q, params.fields.dtype, encoding)


def local_fields(
    params: PottsParams, v, encoding: str = "auto"
) -> Float[Array, "*batch sites states"]:
    r"""Local fields :math:`h_i(a) + \sum_j J_{ij}(a, v_j)`, shape ``(*batch, L, q)``:
    the logits of every site's conditional (one matmul of the flattened one-hot rows)."""
    x = _visible(params, v, encoding)
    L, q = params.fields.shape
    flat = x.reshape(x.shape[:-2] + (L * q,)) @ params.couplings.reshape(L * q, L * q)
    return flat.reshape(x.shape) + params.fields


def site_logits(params: PottsParams, x_one_hot, site) -> Float[Array, "*batch states"]:
    r"""Logits of :math:`p(v_i = \cdot \mid v_{-i})` for one ``site`` (may be traced) of
    one-hot rows ``(*batch, L, q)``: :math:`O(Lq)` per chain, for single-site Gibbs."""
    L, q = params.fields.shape
    row = jax.lax.dynamic_index_in_dim(params.couplings, site, axis=0, keepdims=False)
    flat = x_one_hot.reshape(x_one_hot.shape[:-2] + (L * q,))
    field = jax.lax.dynamic_index_in_dim(params.fields, site, axis=0, keepdims=False)
    return flat @ row.reshape(q, L * q).T + field


def energy(params: PottsParams, v, encoding: str = "auto") -> Float[Array, "*batch"]:
    r""":math:`E(v) = -\sum_i h_i(v_i) - \sum_{i<j} J_{ij}(v_i, v_j)`."""
    x = _visible(params, v, encoding)
    L, q = params.fields.shape
    flat = x.reshape(x.shape[:-2] + (L * q,))
    pair = jnp.sum((flat @ params.couplings.reshape(L * q, L * q)) * flat, axis=-1)
    return -jnp.sum(x * params.fields, axis=(-2, -1)) - 0.5 * pair


def pseudo_log_likelihood(params: PottsParams, v, encoding: str = "auto") -> Float[Array, "*batch"]:
    r""":math:`\sum_i \log p(v_i \mid v_{-i})` of each sequence (Besag 1975)."""
    x = _visible(params, v, encoding)
    logits = local_fields(params, x, "one_hot")
    log_conditional = logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
    return jnp.sum(x * log_conditional, axis=(-2, -1))


def pseudo_likelihood_objective(
    params: PottsParams,
    v,
    weights=None,
    l2_fields: float = 0.01,
    l2_couplings: float = 0.01,
    encoding: str = "auto",
) -> Float[Array, ""]:
    r"""plmDCA's objective, to minimise: the weighted mean negative pseudo-log-likelihood
    plus :math:`\lambda_h \|h\|^2 + \lambda_J \|J\|^2 / 2` (Ekeberg et al. 2013).

    The couplings enter through :func:`symmetrize`, so the gradient with respect to
    ``params.couplings`` is itself symmetric with zero diagonal blocks and a gradient
    step keeps valid couplings. ``weights`` (one per sequence, e.g.
    :func:`numpyro_ebm.datasets.fasta.sequence_weights`) weight the mean.
    """
    J = symmetrize(params.couplings)
    sym = PottsParams(params.fields, J)
    pll = pseudo_log_likelihood(sym, v, encoding)
    dtype = params.fields.dtype
    if weights is None:
        mean_pll = jnp.mean(pll)
    else:
        w = jnp.asarray(weights, dtype)
        mean_pll = jnp.sum(w * pll) / jnp.sum(w)
    penalty = jnp.asarray(l2_fields, dtype) * jnp.sum(params.fields**2) + jnp.asarray(
        l2_couplings, dtype
    ) * 0.5 * jnp.sum(J**2)
    return -mean_pll + penalty
