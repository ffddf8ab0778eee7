r"""Partition functions and likelihood bounds for deep Boltzmann machines.

**DBM** (two layers). The DBM is a Bernoulli RBM between its odd layer
:math:`h^1` and its even layers :math:`x = (v, h^2)`
(:func:`numpyro_ebm.energies.dbm.as_bipartite_rbm`), so :func:`ais_dbm` runs the
RBM annealer :func:`numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm` on that RBM:
:math:`h^1` is summed out analytically, the chains move over :math:`(v, h^2)`
with the DBM's block-Gibbs sweep at each inverse temperature, and the base
model is factorised over :math:`v` and :math:`h^2` with :math:`h^1` free
(Salakhutdinov & Hinton 2009, section 4; Salakhutdinov & Murray 2008). With a
mean-field posterior :math:`q` (:func:`numpyro_ebm.energies.dbm.mean_field`),

.. math::

    \log p(v) \ge -\mathbb{E}_q[E(v, h^1, h^2)] + H(q) - \log Z,

the variational bound of :func:`variational_bound_dbm` (the paper's eq. 4, the
quantity behind its reported test figure of :math:`-84.62` nats on MNIST).
Because :math:`\log \hat Z` from AIS is itself a stochastic *under*-estimate,
the bound computed with it is a lower bound only up to the AIS error (and its
:math:`\pm 3\sigma` interval is reported).

**How tight is the DBM's bound?** With :math:`v` clamped, the DBM over
:math:`(h^1, h^2)` is an RBM (weights :math:`W_2`, biases :math:`c_1 + W_1^\top v`
and :math:`c_2`), so :math:`Z(v) = \sum_{h^1,h^2} e^{-E(v,h^1,h^2)} = e^{b^\top v} Z_\text{RBM}(v)`
is an RBM partition function and :math:`\log p(v) = \log Z(v) - \log Z`.
:func:`ais_log_likelihood_dbm` estimates :math:`\log Z(v)` of every test vector
by AIS (all at once, :func:`~numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm_family`,
with :math:`h^1` summed out and each image's base at its mean-field
:math:`\mu^2`), and :func:`bound_tightness_dbm` sets it beside the variational
bound: the paper's check on 100 test images (Salakhutdinov & Hinton 2009,
section 4). The gap :math:`\log \hat Z(v) - (-\mathbb{E}_q[E] + H(q)) \approx
\mathrm{KL}(q \,\|\, p(h \mid v))` does not involve :math:`\log Z` at all.

Why no RAISE-type (conservative) estimate for the DBM: RAISE (Burda, Grosse &
Salakhutdinov 2015; :func:`~numpyro_ebm.evaluation.rbm_annealing.reverse_ais_bernoulli_rbm`)
starts its reverse chain at an exact draw from the target, which for the RBM is
the test vector itself with the hidden units summed out. For the DBM the
reverse chain over :math:`(v, h^2)` would have to start at :math:`h^2 \sim p(h^2 \mid v)`,
the intractable posterior; starting it at a draw from the mean-field :math:`q`
instead makes the weight an estimate of a different quantity, and turning that
into a bound needs a further variational argument (an extra
:math:`\mathbb{E}_q[-\log q]` term and its own error analysis) that this library
has not derived or tested. So the DBM figures carry AIS's error in
:math:`\log Z` (an under-estimate in expectation, which makes the bound
optimistic), reported as the :math:`\pm 3\sigma` interval. The per-image
:math:`\log Z(v)` is from AIS too, also an under-estimate in expectation, so the
estimated gap errs on the small side; each row's interval and effective sample
size (``conditional`` of :class:`DBMLikelihoodEstimate`) say how far to trust it.

The ``exact_*`` functions enumerate tiny models and are the test oracles.

References
----------
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*.
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
Neal, R. M. (2001). Annealed importance sampling. *Statistics and Computing* 11.
Burda, Y., Grosse, R. & Salakhutdinov, R. (2015). Accurate and conservative
estimates of MRF log-likelihood using reverse annealing. *AISTATS*.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks, sharding
from numpyro_ebm.energies import bernoulli_rbm, dbm
from numpyro_ebm.evaluation import exact, rbm_annealing
from numpyro_ebm.evaluation.deep_models import (
    VariationalBound,
    check_exact_hidden,
    log_z_and_interval,
)

__all__ = [
    "VariationalBound",
    "base_biases_dbm",
    "ais_dbm",
    "variational_bound_dbm",
    "DBMLikelihoodEstimate",
    "ais_log_likelihood_dbm",
    "BoundTightness",
    "bound_tightness_dbm",
    "exact_log_partition_dbm",
    "exact_log_likelihood_dbm",
    "dbm_variational_bound",  # alias
    "dbm_log_likelihood_ais",  # alias
    "dbm_bound_tightness",  # alias
    "dbm_base_biases",  # alias
]


def _check_dbm(params):
    if not isinstance(params, dbm.DBMParams):
        raise TypeError(f"params must be a dbm.DBMParams; got {type(params).__name__}")
    for name, value in zip(params._fields, params, strict=True):
        _checks.check_array(value, f"params.{name}", ndim_min=1)
    dtype = params.W1.dtype
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), params)


# --------------------------------------------------------------------------------------
# DBM
# --------------------------------------------------------------------------------------


def _smoothed_logit(mean_activity, n: int, pseudo_count: float = 0.05):
    p = (mean_activity * n + pseudo_count) / (n + 2 * pseudo_count)
    return jnp.log(p) - jnp.log1p(-p)


def base_biases_dbm(
    params: dbm.DBMParams, data, mean_field_iterations: int = 10
) -> Float[Array, " visible_plus_hidden2"]:
    r"""Biases of the factorised AIS base over :math:`(v, h^2)` fitted to ``data``.

    Visible: the smoothed base rates of the data
    (:func:`~numpyro_ebm.evaluation.rbm_annealing.base_rate_visible_bias`); second hidden
    layer: the smoothed logits of the mean-field means :math:`\mu^2` averaged over
    the data. Returned concatenated, shape ``(D + K2,)``.
    """
    data = dbm.validate_visible(params, data, "base_data")
    dtype = params.W1.dtype
    data = jnp.asarray(data, dtype)
    q = jax.jit(dbm.mean_field, static_argnums=2)(params, data, mean_field_iterations)
    visible = rbm_annealing.base_rate_visible_bias(data)
    hidden2 = _smoothed_logit(jnp.mean(q.hidden2, axis=0), data.shape[0])
    return jnp.concatenate([visible, hidden2]).astype(dtype)


def ais_dbm(
    rng_key: PRNGKeyArray,
    params: dbm.DBMParams,
    *,
    n_runs: int = 100,
    schedule=None,
    base_data=None,
    base_biases=None,
    mean_field_iterations: int = 10,
    progress: bool = False,
    mesh=None,
    chain_axis: str | None = None,
) -> rbm_annealing.AISResult:
    r"""Estimate :math:`\log Z` of a two-layer DBM by AIS with :math:`h^1` summed out.

    The annealing path is the geometric path of the RBM
    :func:`~numpyro_ebm.energies.dbm.as_bipartite_rbm` (weights and :math:`c_1`
    scaled by :math:`\beta`, biases of :math:`(v, h^2)` moving from the base to
    the model's), i.e. of the joint :math:`p(v, h^1, h^2)`, marginalised over
    :math:`h^1`; the transitions are DBM block-Gibbs sweeps at inverse
    temperature :math:`\beta`. Runs in the dtype of ``params.W1``.

    Parameters
    ----------
    rng_key
        PRNG key.
    params
        The DBM.
    n_runs, schedule, progress
        As for :func:`~numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm` (default: the
        14,500 temperatures of Salakhutdinov & Murray 2008).
    base_data
        Binary training data for the base (:func:`base_biases_dbm`); recommended.
    base_biases
        Or the base's biases over ``concat(v, h2)`` directly, shape ``(D + K2,)``.
        Without either, the base is uniform.
    mean_field_iterations
        Used by :func:`base_biases_dbm`.
    mesh, chain_axis
        Optional :class:`jax.sharding.Mesh` splitting the runs over its axis
        ``chain_axis`` (default ``"chain"``), as in
        :func:`~numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm`.

    Returns
    -------
    AISResult
        Its ``samples`` are the final states as a tuple ``(visible, hidden2)``.
    """
    params = _check_dbm(params)
    if mesh is not None:
        mesh, chain_axis = sharding.validate_chain_mesh(mesh, chain_axis, n_runs, "n_runs")
    if base_data is not None and base_biases is not None:
        raise ValueError("give base_data or base_biases, not both")
    if base_data is not None:
        base_biases = base_biases_dbm(params, base_data, mean_field_iterations)
    result = rbm_annealing.ais_bernoulli_rbm(
        rng_key,
        dbm.as_bipartite_rbm(params),
        n_runs=n_runs,
        schedule=schedule,
        base_visible_bias=base_biases,
        progress=progress,
        mesh=mesh,
        chain_axis=chain_axis,
    )
    samples = result.samples
    D = params.n_visible
    return result._replace(samples=(samples[:, :D], samples[:, D:]))


def variational_bound_dbm(
    params: dbm.DBMParams,
    data: Float[Array, "n visible"],
    log_z: rbm_annealing.AISResult | float,
    *,
    mean_field_iterations: int = 30,
    batch_size: int = 1000,
) -> VariationalBound:
    r"""Mean-field lower bound :math:`-\mathbb{E}_q[E] + H(q) - \log Z` on :math:`\log p(v)` per row.

    ``log_z`` is an :class:`~numpyro_ebm.evaluation.rbm_annealing.AISResult` (from
    :func:`ais_dbm`; its interval is carried through) or an exact value.
    More ``mean_field_iterations`` never loosen the bound (coordinate ascent).
    Rows are processed ``batch_size`` at a time.
    """
    params = _check_dbm(params)
    data = dbm.validate_visible(params, data, "data")
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, {params.n_visible}); got {data.shape}")
    data = jnp.asarray(data, params.W1.dtype)
    value, (lower, upper) = log_z_and_interval(log_z)
    free = jnp.concatenate(
        [
            _variational_free_energy(params, data[i : i + batch_size], mean_field_iterations)
            for i in range(0, data.shape[0], batch_size)
        ]
    )
    per_example = -free - value
    mean_neg_free = jnp.mean(-free)
    zero = jnp.zeros((), per_example.dtype)
    return VariationalBound(
        mean_neg_free - value,
        (mean_neg_free - upper, mean_neg_free - lower),
        per_example,
        zero,
        value,
    )


class DBMLikelihoodEstimate(NamedTuple):
    r"""AIS estimates of :math:`\log p(v) = \log Z(v) - \log Z` for test vectors.

    Attributes
    ----------
    mean
        Average of ``per_example``.
    per_example
        :math:`\log \hat Z(v) - \log Z` per row.
    interval
        Per row, the :math:`\pm 3\sigma` intervals of :math:`\log \hat Z(v)` and of
        :math:`\log \hat Z` carried through (lower, upper), each shape ``(n,)``.
    log_z_clamped
        :math:`\log \hat Z(v)` per row.
    conditional
        The :class:`~numpyro_ebm.evaluation.rbm_annealing.AISResult` of the clamped models
        (leading axis: the rows), with ESS per row.
    log_z
        The :math:`\log Z` used.
    """

    mean: Float[Array, ""]
    per_example: Float[Array, " n"]
    interval: tuple[Float[Array, " n"], Float[Array, " n"]]
    log_z_clamped: Float[Array, " n"]
    conditional: rbm_annealing.AISResult
    log_z: Float[Array, ""]


def ais_log_likelihood_dbm(
    rng_key: PRNGKeyArray,
    params: dbm.DBMParams,
    data: Float[Array, "n visible"],
    log_z: rbm_annealing.AISResult | float,
    *,
    n_runs: int = 100,
    schedule=None,
    mean_field_iterations: int = 30,
    base_clip: float = 0.01,
    progress: bool = False,
) -> DBMLikelihoodEstimate:
    r"""AIS estimate of the true :math:`\log p(v)` of every row (not a bound).

    For each row, :math:`\log Z(v) = b^\top v + \log Z_\text{RBM}(v)` where the
    RBM has "visible" units :math:`h^2` (biases :math:`c_2`), hidden units
    :math:`h^1` summed out (biases :math:`c_1 + W_1^\top v`) and weights
    :math:`W_2^\top`; its AIS base is the product of Bernoullis at the row's
    mean-field :math:`\mu^2` (clipped to ``[base_clip, 1 - base_clip]``), so each
    run starts near the posterior. All rows anneal together
    (:func:`~numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm_family`): ``n * n_runs``
    chains of :math:`K_2` units, two matmuls with :math:`W_2` per temperature.

    Parameters
    ----------
    rng_key
        PRNG key.
    params
        The DBM.
    data
        Binary rows, shape ``(n, D)`` (the paper uses 100 test images, 10 per class).
    log_z
        :math:`\log Z` (an :class:`~numpyro_ebm.evaluation.rbm_annealing.AISResult` from
        :func:`ais_dbm`, its interval carried through, or an exact value).
    n_runs, schedule, progress
        Runs per row and the schedule, as for
        :func:`~numpyro_ebm.evaluation.rbm_annealing.ais_bernoulli_rbm`.
    mean_field_iterations
        For the base's :math:`\mu^2`.
    base_clip
        Keeps the base's probabilities away from 0 and 1.
    """
    params = _check_dbm(params)
    data = dbm.validate_visible(params, data, "data")
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, {params.n_visible}); got {data.shape}")
    if not 0.0 < base_clip < 0.5:
        raise ValueError(f"base_clip must lie in (0, 0.5); got {base_clip}")
    dtype = params.W1.dtype
    data = jnp.asarray(data, dtype)
    value, (lower, upper) = log_z_and_interval(log_z)
    q = jax.jit(dbm.mean_field, static_argnums=2)(params, data, mean_field_iterations)
    p2 = jnp.clip(q.hidden2, base_clip, 1 - base_clip)
    clamped = bernoulli_rbm.BernoulliRBMParams(params.W2.T, params.c2, params.c1)
    conditional = rbm_annealing.ais_bernoulli_rbm_family(
        rng_key,
        clamped,
        data @ params.W1 + params.c1,
        jnp.log(p2) - jnp.log1p(-p2),
        n_runs=n_runs,
        schedule=schedule,
        progress=progress,
    )
    visible_term = data @ params.b
    log_z_clamped = visible_term + conditional.log_z
    low_clamped, up_clamped = (visible_term + x for x in conditional.interval)
    per_example = log_z_clamped - value
    return DBMLikelihoodEstimate(
        jnp.mean(per_example),
        per_example,
        (low_clamped - upper, up_clamped - lower),
        log_z_clamped,
        conditional,
        value,
    )


class BoundTightness(NamedTuple):
    r"""The variational bound beside an AIS estimate of :math:`\log p(v)`, per row.

    Attributes
    ----------
    bound
        The mean-field bound :math:`-\mathbb{E}_q[E] + H(q) - \log Z` per row.
    log_likelihood
        The :class:`DBMLikelihoodEstimate` (AIS) of the same rows.
    gap
        ``log_likelihood.per_example - bound`` per row: :math:`\log \hat Z(v) +
        F_q(v)`, an estimate of :math:`\mathrm{KL}(q \,\|\, p(h \mid v))`,
        independent of :math:`\log Z`.
    mean_gap
        Its average.
    """

    bound: Float[Array, " n"]
    log_likelihood: DBMLikelihoodEstimate
    gap: Float[Array, " n"]
    mean_gap: Float[Array, ""]


def bound_tightness_dbm(
    rng_key: PRNGKeyArray,
    params: dbm.DBMParams,
    data: Float[Array, "n visible"],
    log_z: rbm_annealing.AISResult | float,
    *,
    n_runs: int = 100,
    schedule=None,
    mean_field_iterations: int = 30,
    progress: bool = False,
) -> BoundTightness:
    r"""The paper's check of the bound (Salakhutdinov & Hinton 2009, section 4):
    :func:`variational_bound_dbm` against :func:`ais_log_likelihood_dbm` on the
    same rows (e.g. 100 test images, 10 per class). Arguments as for
    :func:`ais_log_likelihood_dbm`; ``mean_field_iterations`` serves both."""
    estimate = ais_log_likelihood_dbm(
        rng_key,
        params,
        data,
        log_z,
        n_runs=n_runs,
        schedule=schedule,
        mean_field_iterations=mean_field_iterations,
        progress=progress,
    )
    bound = variational_bound_dbm(
        params, data, estimate.log_z, mean_field_iterations=mean_field_iterations
    ).per_example
    gap = estimate.per_example - bound
    return BoundTightness(bound, estimate, gap, jnp.mean(gap))


@partial(jax.jit, static_argnums=2)
def _variational_free_energy(params, v, n_iterations):
    return dbm.variational_free_energy(params, v, n_iterations=n_iterations)


def exact_log_partition_dbm(params: dbm.DBMParams, **kwargs) -> float:
    r"""Exact :math:`\log Z` of a DBM by enumeration (float64): the bipartite RBM's
    smaller side (:math:`h^1`, or :math:`(v, h^2)`) is enumerated, the other summed out."""
    return exact.log_partition_bernoulli_rbm(dbm.as_bipartite_rbm(_check_dbm(params)), **kwargs)


def exact_log_likelihood_dbm(params: dbm.DBMParams, data, log_z: float | None = None):
    r"""Exact :math:`\log p(v)` per row (float64 numpy array), enumerating :math:`h^1`.

    :math:`\log p(v) = \log \sum_{h^1} \exp\bigl(b^\top v + c_1^\top h^1 + v^\top W_1 h^1
    + \sum_k \mathrm{softplus}(c_{2k} + h^{1\top} W_{2,:k})\bigr) - \log Z`.
    """
    params = _check_dbm(params)
    check_exact_hidden(params.n_hidden1)
    data = dbm.validate_visible(params, data, "data")
    if log_z is None:
        log_z = exact_log_partition_dbm(params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        h1 = exact.binary_states(params.n_hidden1, dtype=jnp.float64)
        v = jnp.asarray(data, jnp.float64)
        return np.asarray(_dbm_log_marginal(p64, v, h1)) - log_z


@jax.jit
def _dbm_log_marginal(params, v, h1):
    def row(x):
        # -E(v, h1, h2) summed over h2, for every h1
        terms = (
            x @ params.b
            + h1 @ params.c1
            + h1 @ (x @ params.W1)
            + jnp.sum(jax.nn.softplus(dbm.hidden2_logits(params, h1)), axis=-1)
        )
        return jax.nn.logsumexp(terms)

    return jax.lax.map(row, v)


# Old names, kept as aliases for existing code (one word order: method, quantity, model).
dbm_variational_bound = variational_bound_dbm
"""Alias of :func:`variational_bound_dbm` (the old name)."""
dbm_log_likelihood_ais = ais_log_likelihood_dbm
"""Alias of :func:`ais_log_likelihood_dbm` (the old name)."""
dbm_bound_tightness = bound_tightness_dbm
"""Alias of :func:`bound_tightness_dbm` (the old name)."""
dbm_base_biases = base_biases_dbm
"""Alias of :func:`base_biases_dbm` (the old name)."""
