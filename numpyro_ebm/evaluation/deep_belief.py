r"""Likelihood bounds for deep belief nets.

**DBN** (two layers, :class:`numpyro_ebm.energies.dbn.DBNParams`). With
:math:`q(h^1 \mid v) = \prod_j \sigma(c^{(1)}_j + v^\top W^{(1)}_{:j})` (the
bottom RBM's posterior), :math:`p(v \mid h^1)` the directed bottom layer and
:math:`p(h^1) = p^*(h^1)/Z_\text{top}` the top RBM's marginal over its visible
layer :math:`h^1`,

.. math::

    \log p(v) \ge \sum_{h^1} q(h^1 \mid v)\bigl[\log p(v \mid h^1) + \log p^*(h^1)\bigr]
        + H(q) - \log Z_\text{top}

(Salakhutdinov & Murray 2008, section 4). :func:`variational_bound_dbn`
computes :math:`H(q)` exactly and the expectation by Monte Carlo with
``n_samples`` draws of :math:`h^1 \sim q` per test vector (an unbiased estimate of
the bound, with its standard error); :math:`\log Z_\text{top}` comes from
:func:`ais_dbn` (AIS on the top RBM).

The ``exact_*`` functions enumerate tiny models and are the test oracles.

References
----------
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*.
Neal, R. M. (2001). Annealed importance sampling. *Statistics and Computing* 11.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.energies.dbn import DBNParams
from numpyro_ebm.evaluation import exact, rbm_annealing
from numpyro_ebm.evaluation.deep_models import (
    VariationalBound,
    check_exact_hidden,
    log_z_and_interval,
)
from numpyro_ebm.kernels.up_pass import up_pass

__all__ = [
    "VariationalBound",
    "ais_dbn",
    "variational_bound_dbn",
    "exact_log_likelihood_dbn",
    "dbn_variational_bound",  # alias
]


# --------------------------------------------------------------------------------------
# DBN
# --------------------------------------------------------------------------------------


def _check_dbn(params: DBNParams, n_layers: int | None = None) -> DBNParams:
    if not isinstance(params, DBNParams):
        raise TypeError(f"params must be an energies.dbn.DBNParams; got {type(params).__name__}")
    if n_layers is not None and len(params.layers) != n_layers:
        raise ValueError(
            f"this bound is for a DBN with {n_layers} layers (two RBMs); got {len(params.layers)}. "
            "A one-layer DBN is an RBM: use evaluation.rbm_annealing.ais_log_likelihood_bernoulli_rbm"
        )
    for below, above in zip(params.layers[:-1], params.layers[1:], strict=True):
        if below.W.shape[1] != above.W.shape[0]:
            raise ValueError(
                f"layer sizes do not match: an RBM with {below.W.shape[1]} hidden units is "
                f"followed by one with {above.W.shape[0]} visible units"
            )
    return params


def ais_dbn(
    rng_key: PRNGKeyArray,
    params: DBNParams,
    *,
    base_data=None,
    n_runs: int = 100,
    schedule=None,
    progress: bool = False,
) -> rbm_annealing.AISResult:
    r""":math:`\log Z_\text{top}` of a DBN's top RBM by AIS
    (:func:`~numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm`).

    ``base_data`` are *visible* training vectors: the base rates of the top
    RBM's visible layer are taken from a binary up-pass sample of them
    (:func:`~numpyro_ebm.learning.dbn.up_pass`).
    """
    params = _check_dbn(params)
    key_up, key_ais = jax.random.split(rng_key)
    top_data = None
    if base_data is not None:
        base_data = bernoulli_rbm.validate_visible(params.layers[0], base_data, "base_data")
        top_data = base_data if len(params.layers) == 1 else up_pass(params, base_data, key_up)[-2]
    return rbm_annealing.ais_bernoulli_rbm(
        key_ais,
        params.layers[-1],
        n_runs=n_runs,
        schedule=schedule,
        base_data=top_data,
        progress=progress,
    )


def variational_bound_dbn(
    rng_key: PRNGKeyArray,
    params: DBNParams,
    data: Float[Array, "n visible"],
    log_z_top: rbm_annealing.AISResult | float,
    *,
    n_samples: int = 100,
    batch_size: int = 200,
) -> VariationalBound:
    r"""Lower bound on :math:`\log p(v)` of a two-layer DBN (Salakhutdinov & Murray 2008, section 4).

    Per row, :math:`H(q)` is exact and
    :math:`\mathbb{E}_q[\log p(v \mid h^1) + \log p^*(h^1)]` is the average over
    ``n_samples`` independent draws :math:`h^1 \sim q(h^1 \mid v)`, so
    ``per_example`` is an unbiased estimate of the bound and ``standard_error``
    is the Monte Carlo standard error of ``mean``. ``log_z_top`` is the top RBM's
    :math:`\log Z` (an :class:`~numpyro_ebm.evaluation.rbm_annealing.AISResult` from
    :func:`ais_dbn`, or an exact value).
    """
    params = _check_dbn(params, 2)
    bottom, top = params.layers
    data = bernoulli_rbm.validate_visible(bottom, data, "data")
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, {bottom.W.shape[0]}); got {data.shape}")
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int of at least 2; got {n_samples!r}")
    dtype = bottom.W.dtype
    data = jnp.asarray(data, dtype)
    value, (lower, upper) = log_z_and_interval(log_z_top)
    means, variances = [], []
    for index, start in enumerate(range(0, data.shape[0], batch_size)):
        key = jax.random.fold_in(rng_key, index)
        m, var = _dbn_bound_terms(key, bottom, top, data[start : start + batch_size], n_samples)
        means.append(m)
        variances.append(var)
    mean_terms, var_terms = jnp.concatenate(means), jnp.concatenate(variances)
    n = data.shape[0]
    per_example = mean_terms - value
    average = jnp.mean(mean_terms)
    standard_error = jnp.sqrt(jnp.sum(var_terms / n_samples)) / n
    return VariationalBound(
        average - value, (average - upper, average - lower), per_example, standard_error, value
    )


@partial(jax.jit, static_argnums=4)
def _dbn_bound_terms(rng_key, bottom, top, v, n_samples):
    """Per row: the Monte Carlo mean of ``log p(v|h1) + log p*(h1)`` plus ``H(q)``, and the
    sample variance of the Monte Carlo terms."""
    logits = bernoulli_rbm.hidden_logits(bottom, v)
    q = jax.nn.sigmoid(logits)
    entropy = dbm.binary_entropy(q)
    uniform = jax.random.uniform(rng_key, (n_samples,) + q.shape, q.dtype)
    h1 = (uniform < q).astype(q.dtype)  # (S, n, K1)
    terms = _dbn_log_joint(bottom, top, v, h1)
    return jnp.mean(terms, axis=0) + entropy, jnp.var(terms, axis=0, ddof=1)


def _dbn_log_joint(bottom, top, v, h1):
    r""":math:`\log p(v \mid h^1) - F_\text{top}(h^1)` for every ``h1`` (broadcast over leading axes)."""
    a = bernoulli_rbm.visible_logits(bottom, h1)
    log_p_v = jnp.sum(v * a - jax.nn.softplus(a), axis=-1)
    return log_p_v - bernoulli_rbm.free_energy(top, h1)


def exact_log_likelihood_dbn(params: DBNParams, data, log_z_top: float | None = None):
    r"""Exact :math:`\log p(v) = \log \sum_{h^1} p(v \mid h^1)\, p^*(h^1) - \log Z_\text{top}`
    of a two-layer DBN per row (float64 numpy array), enumerating :math:`h^1`."""
    params = _check_dbn(params, 2)
    bottom, top = params.layers
    check_exact_hidden(bottom.W.shape[1])
    data = bernoulli_rbm.validate_visible(bottom, data, "data")
    if log_z_top is None:
        log_z_top = exact.log_partition_bernoulli_rbm(top)
    with jax.enable_x64(True):
        b64, t64 = (jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), p) for p in (bottom, top))
        h1 = exact.binary_states(bottom.W.shape[1], dtype=jnp.float64)
        v = jnp.asarray(data, jnp.float64)
        log_marginal = jax.jit(
            lambda b, t, v, h: jax.lax.map(
                lambda x: jax.nn.logsumexp(_dbn_log_joint(b, t, x, h)), v
            )
        )(b64, t64, v, h1)
        return np.asarray(log_marginal) - log_z_top


# Old names, kept as aliases for existing code (one word order: method, quantity, model).
dbn_variational_bound = variational_bound_dbn
"""Alias of :func:`variational_bound_dbn` (the old name)."""
