"""Metrics that need no partition function.

- :func:`pseudo_log_likelihood`: the exact pseudo-log-likelihood of binary data,
  over *all* bits (scikit-learn's ``score_samples`` flips one random bit and
  scales by ``D``, a noisy estimate of this quantity).
- :func:`bernoulli_rbm_pseudo_log_likelihood`: the same for a Bernoulli RBM,
  with one matmul for all ``D`` flips.
- :func:`bernoulli_rbm_reconstruction_error`: mean-field reconstruction error.
- :func:`anomaly_scores`: per-example energy (free energy for an RBM) as an
  anomaly score; :math:`\\log Z` is a shared constant, so ranking by energy is
  ranking by likelihood.
- :func:`auroc` and :func:`roc_curve`: how well anomaly scores separate normal
  from anomalous examples (exact Mann-Whitney statistic, ties counted as 1/2).

References
----------
Besag, J. (1975). Statistical analysis of non-lattice data. *The Statistician* 24(3).
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines,
section 5 (reconstruction error, and why it is a poor guide on its own).
Zhai, S., Cheng, Y., Lu, W. & Zhang, Z. (2016). Deep structured energy based models
for anomaly detection. *ICML* (energy as the anomaly score).
Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a receiver
operating characteristic (ROC) curve. *Radiology* 143(1) (AUROC = Mann-Whitney U / mn).
Fawcett, T. (2006). An introduction to ROC analysis. *Pattern Recognition Letters* 27(8).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm

__all__ = [
    "pseudo_log_likelihood",
    "bernoulli_rbm_pseudo_log_likelihood",
    "bernoulli_rbm_reconstruction_error",
    "anomaly_scores",
    "auroc",
    "roc_curve",
]


def pseudo_log_likelihood(
    energy_fn: Callable, params, x: Float[Array, "n d"], *, spins: bool = False
):
    """:math:`\\sum_i \\log p(x_i \\mid x_{-i})` per row, for any energy of binary vectors.

    Uses :math:`\\log p(x_i \\mid x_{-i}) = -\\mathrm{softplus}(E(x) - E(x^{(i)}))`
    with :math:`x^{(i)}` equal to :math:`x` with bit ``i`` flipped. Costs ``D + 1``
    energy evaluations per row.
    """
    x = jnp.asarray(x)
    d = x.shape[-1]
    energy = energy_fn(params, x)  # (n,)
    flip_value = -x if spins else 1.0 - x

    def flipped_energy(i):
        return energy_fn(params, x.at[..., i].set(flip_value[..., i]))

    flipped = jax.lax.map(flipped_energy, jnp.arange(d))  # (d, n)
    return jnp.sum(-jax.nn.softplus(energy[None] - flipped), axis=0)


@jax.jit
def _rbm_pll_rows(params: bernoulli_rbm.BernoulliRBMParams, v):
    pre = bernoulli_rbm.hidden_logits(params, v)  # (n, K)
    sign = 1.0 - 2.0 * v  # +1 where a bit turns on, -1 where it turns off
    free = bernoulli_rbm.free_energy(params, v)  # (n,)
    # F(v^(i)) for every i at once: the hidden pre-activations shift by sign_i W_i.
    flipped_pre = pre[:, None, :] + sign[:, :, None] * params.W[None, :, :]  # (n, D, K)
    flipped_free = (
        -(v @ params.b)[:, None] - sign * params.b - jnp.sum(jax.nn.softplus(flipped_pre), axis=-1)
    )
    return jnp.sum(-jax.nn.softplus(free[:, None] - flipped_free), axis=-1)


def bernoulli_rbm_pseudo_log_likelihood(
    params: bernoulli_rbm.BernoulliRBMParams, v, *, chunk_size: int = 64
):
    """Exact pseudo-log-likelihood of each row of ``v`` under a Bernoulli RBM (all bits).

    Memory is ``chunk_size * D * K`` floats; rows are processed in chunks.
    """
    v = bernoulli_rbm.validate_visible(params, v, "v")
    flat = v.reshape(-1, v.shape[-1])
    out = [
        _rbm_pll_rows(params, flat[i : i + chunk_size]) for i in range(0, flat.shape[0], chunk_size)
    ]
    return jnp.concatenate(out).reshape(v.shape[:-1])


@jax.jit
def bernoulli_rbm_reconstruction_error(params: bernoulli_rbm.BernoulliRBMParams, v):
    """Mean squared error per unit between ``v`` and its mean-field reconstruction
    :math:`p(v \\mid h = p(h \\mid v))`."""
    reconstruction = bernoulli_rbm.visible_probs(params, bernoulli_rbm.hidden_probs(params, v))
    return jnp.mean(jnp.square(v - reconstruction))


# --------------------------------------------------------------------------------------
# Anomaly detection
# --------------------------------------------------------------------------------------


def anomaly_scores(
    energy_fn: Callable, params, x: Float[Array, " n *event"], *, batch_size: int | None = None
) -> Float[Array, " n"]:
    """Per-example anomaly score: the energy :math:`E(x)`, higher meaning more anomalous.

    Since :math:`-\\log p(x) = E(x) + \\log Z` and :math:`\\log Z` is the same for
    every example, the energy ranks examples exactly as the negative log-likelihood
    does, without the partition function (Zhai et al., 2016). For an RBM pass the
    *free* energy (``bernoulli_rbm.free_energy``, ``gaussian_rbm.free_energy``): the
    hidden units are summed out, so the score is :math:`-\\log p(v)` up to that constant.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` for ``x`` of shape ``(m, *event)``, returning one energy
        per example, shape ``(m,)``.
    params
        Pytree of parameters.
    x
        Examples, shape ``(n, *event)``: the first axis indexes them. Floating-point,
        finite; model-specific checks (binary values, number of units) are up to the
        caller, e.g. ``bernoulli_rbm.validate_visible(params, x)``.
    batch_size
        When set, ``energy_fn`` sees ``batch_size`` examples at a time (one
        :func:`jax.lax.map` over the batches), so memory stays bounded for large ``x``.
        The last batch is padded with copies of the first example, whose scores are
        dropped.

    Returns
    -------
    Array
        Scores of shape ``(n,)``, in the dtype ``energy_fn`` returns.

    Raises
    ------
    TypeError
        If ``x`` is not floating-point or ``batch_size`` is not an integer.
    ValueError
        If ``x`` is a scalar, holds no examples or NaN/inf values, if ``batch_size``
        is not positive, if ``energy_fn`` does not return one energy per example, or if
        it returns NaN (inf is allowed: a configuration of zero probability is
        infinitely anomalous).
    """
    x = _checks.check_array(x, "x", ndim_min=1)
    n = x.shape[0]
    if n == 0:
        raise ValueError(f"x holds no examples (shape {tuple(x.shape)}); nothing to score")
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"batch_size must be a positive integer or None; got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or None; got {batch_size}")

    if batch_size is None or batch_size >= n:
        scores = energy_fn(params, x)
        _check_scores_shape(scores, (n,), tuple(x.shape))
    else:
        n_batches = -(-n // batch_size)
        pad = n_batches * batch_size - n
        if pad:
            x = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))])
        batches = x.reshape(n_batches, batch_size, *x.shape[1:])

        def score_batch(batch):
            energies = energy_fn(params, batch)
            _check_scores_shape(energies, (batch_size,), tuple(batch.shape))
            return energies

        scores = jax.lax.map(score_batch, batches).reshape(-1)[:n]

    if _checks.is_concrete(scores):
        nan = np.isnan(np.asarray(scores))
        if nan.any():
            raise ValueError(
                f"energy_fn returned NaN for {int(nan.sum())} of {n} example(s), the first at "
                f"index {int(np.argmax(nan))}; check the parameters (NaN or overflowing values)"
            )
    return scores


def _check_scores_shape(scores, expected: tuple, x_shape: tuple):
    if tuple(jnp.shape(scores)) != expected:
        raise ValueError(
            f"energy_fn must return one energy per example, shape {expected} for x of shape "
            f"{x_shape}; got shape {tuple(jnp.shape(scores))}. The first axis of x indexes the "
            "examples and energies must broadcast over it (do not sum over examples)."
        )


def _as_scores(scores, name: str) -> np.ndarray:
    """``scores`` as a non-empty, NaN-free, real 1-D numpy array (no copy when possible)."""
    if not _checks.is_concrete(scores):
        raise TypeError(
            f"{name} is a JAX tracer: AUROC and ROC curves are computed on the host "
            "(numpy sorting, a Python float). Compute scores inside jit if you like, but "
            "call this function outside it."
        )
    arr = np.asarray(scores)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of per-example scores; got shape {arr.shape} "
            f"(flatten it with {name}.ravel() if each entry is one example's score)"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; AUROC needs at least one score in each group")
    if np.issubdtype(arr.dtype, np.floating):
        nan = np.isnan(arr)
        if nan.any():
            raise ValueError(
                f"{name} contains {int(nan.sum())} NaN score(s), the first at index "
                f"{int(np.argmax(nan))}; NaN cannot be ranked"
            )
    return arr


def auroc(scores_normal, scores_anomalous) -> float:
    """Area under the ROC curve, with anomalies expected to score higher.

    The probability that a random anomalous example scores above a random normal
    one, ties counting one half:

    .. math::

        \\mathrm{AUROC} = \\frac{1}{mn} \\sum_{i=1}^{m} \\sum_{j=1}^{n}
        \\left( [a_j > s_i] + \\tfrac12 [a_j = s_i] \\right) = \\frac{U}{mn},

    the Mann-Whitney :math:`U` statistic of the anomalous scores (Hanley & McNeil,
    1982). Computed exactly in :math:`O((m + n) \\log(m + n))` from mid-ranks of the
    pooled scores, in integer arithmetic, so the result is the correctly rounded value
    of that fraction (``0.5`` exactly for identical inputs). It equals the trapezoidal
    area under :func:`roc_curve`. 1 means perfect separation, 0.5 chance, 0 perfectly
    reversed scores.

    Parameters
    ----------
    scores_normal
        1-D scores of the normal examples (numpy or concrete JAX array), e.g. from
        :func:`anomaly_scores`.
    scores_anomalous
        1-D scores of the anomalous examples.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        For non-real dtypes, or JAX tracers (call it outside ``jit``).
    ValueError
        If either input is empty, not 1-D, or holds NaN (``±inf`` is ranked normally).
    """
    normal = _as_scores(scores_normal, "scores_normal")
    anomalous = _as_scores(scores_anomalous, "scores_anomalous")
    m, n = normal.size, anomalous.size
    pooled = np.concatenate([normal, anomalous])
    # tie groups of the pooled scores in increasing order (np.unique sorts: O(N log N))
    _, group, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts  # scores strictly below each group
    # twice the mid-rank of every group (ranks start at 1): 2 * below + count + 1, an integer
    twice_rank = 2 * below.astype(np.int64) + counts + 1
    twice_rank_sum = int(np.sum(twice_rank[group.reshape(-1)[m:]], dtype=np.int64))
    twice_u = twice_rank_sum - n * (n + 1)  # 2U = 2 * (rank sum - n(n+1)/2)
    return twice_u / (2 * m * n)  # int / int: the correctly rounded float


def roc_curve(scores_normal, scores_anomalous) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve for plotting, flagging an example as anomalous when its score is ``>= t``.

    One point per distinct score (Fawcett, 2006, algorithm 1), preceded by
    ``t = +inf`` where nothing is flagged; tied scores move the curve diagonally,
    so its trapezoidal area (``np.trapezoid(tpr, fpr)``) is :func:`auroc`. Matches
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)`` with anomalies as the
    positive class.

    Parameters
    ----------
    scores_normal, scores_anomalous
        As in :func:`auroc`.

    Returns
    -------
    false_positive_rate : numpy.ndarray
        Fraction of normal examples with score ``>= t``, non-decreasing from 0 to 1.
    true_positive_rate : numpy.ndarray
        Fraction of anomalous examples with score ``>= t``, non-decreasing from 0 to 1.
    thresholds : numpy.ndarray
        ``t``: ``+inf`` followed by the distinct pooled scores in decreasing order
        (float64).
    """
    normal = np.sort(_as_scores(scores_normal, "scores_normal"))
    anomalous = np.sort(_as_scores(scores_anomalous, "scores_anomalous"))
    distinct = np.unique(np.concatenate([normal, anomalous]))[::-1]
    false_positives = normal.size - np.searchsorted(normal, distinct, side="left")
    true_positives = anomalous.size - np.searchsorted(anomalous, distinct, side="left")
    fpr = np.concatenate([[0.0], false_positives / normal.size])
    tpr = np.concatenate([[0.0], true_positives / anomalous.size])
    thresholds = np.concatenate([[np.inf], distinct.astype(np.float64)])
    return fpr, tpr, thresholds
