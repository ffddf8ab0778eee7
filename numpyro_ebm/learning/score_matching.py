r"""Score matching: exact (Hyvärinen), Hutchinson, sliced and denoising.

Score matching fits an energy :math:`E_\theta(x)` on real-valued data
:math:`x \in \mathbb R^D` without its normalising constant, by matching the
model's score :math:`s_\theta(x) = \nabla_x \log p_\theta(x) = -\nabla_x E_\theta(x)`
to the data's. Integrating by parts (Hyvärinen 2005), the Fisher divergence
:math:`\tfrac12 \mathbb E_{\text{data}} \lVert s_\theta - \nabla_x \log p_{\text{data}} \rVert^2`
equals, up to a constant independent of :math:`\theta`, the mean over the data of

.. math::

    J(x) = \tfrac12 \lVert s_\theta(x) \rVert^2 + \operatorname{tr} \nabla_x s_\theta(x)
         = \tfrac12 \lVert \nabla_x E_\theta(x) \rVert^2 - \operatorname{tr} \nabla_x^2 E_\theta(x).

:math:`J` can be negative (the dropped constant is the data's Fisher information).
The estimators of this module:

``"exact"``
    :math:`J(x)`, with the trace of the Hessian computed exactly by automatic
    differentiation: one linearisation of the score and :math:`D` Hessian-vector
    products with the unit vectors (all at once, or ``hessian_chunk_size`` at a time
    to bound memory), so the cost grows like :math:`D` gradient evaluations.
``"hutchinson"``
    :math:`\tfrac12 \lVert s \rVert^2 + \tfrac1M \sum_m v_m^\top \nabla_x s\, v_m` with
    :math:`M` probes :math:`v_m` of identity covariance (Rademacher by default,
    Hutchinson 1989): unbiased for :math:`J`, at the cost of :math:`M` Hessian-vector
    products.
``"sliced"``
    Sliced score matching (Song et al. 2019):
    :math:`\tfrac1M \sum_m \big[v_m^\top \nabla_x s\, v_m + \tfrac12 (v_m^\top s)^2\big]`
    with Gaussian projections by default, unbiased for :math:`J` because
    :math:`\mathbb E[v v^\top] = I`. With ``variance_reduction=True`` the second term
    is replaced by its expectation :math:`\tfrac12 \lVert s \rVert^2` (SSM-VR), which
    is then the Hutchinson estimator with Gaussian probes.
``"denoising"``
    Denoising score matching (Vincent 2011) with noise scale :math:`\sigma`:
    :math:`\tilde x = x + \sigma \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`, and

    .. math:: \tfrac12 \big\lVert s_\theta(\tilde x) + (\tilde x - x) / \sigma^2 \big\rVert^2 ,

    which matches the score of the data smoothed by :math:`\mathcal N(0, \sigma^2 I)`:
    no second derivatives, and a biased estimate of the clean score that
    vanishes as :math:`\sigma \to 0` (while the estimator's variance grows like
    :math:`1/\sigma^2`). The noise is exactly
    ``noise_scale * jax.random.normal(rng_key, x.shape, x.dtype)``.

All estimators work for any ``energy_fn(params, x)`` that broadcasts over leading
batch dimensions; each example is differentiated on its own (``vmap`` over the
flattened batch), so the energy of one example must not depend on the others.
Integration by parts needs a differentiable density on all of :math:`\mathbb R^D`
that vanishes at infinity: score matching is not valid for an energy that is
infinite outside a box (the uni-gauss product of experts) or for binary data.

For a Gaussian-Bernoulli RBM, :math:`J` is a regularised autoencoder (Swersky et
al. 2011): with :math:`\hat h = \sigma(c + W^\top v)` and unit variances,
:math:`J(v) = \tfrac12 \lVert v - b - W \hat h \rVert^2 + \sum_{ij} W_{ij}^2
\hat h_j (1 - \hat h_j) - D` (checked against this module in the tests).

:func:`score_matching_loss` returns ``loss(params, x, rng_key)``, the mean of the
chosen estimator over the batch, to be differentiated with ``jax.grad``;
:func:`score_matching` wraps it as a
:class:`~numpyro_ebm.learning.contrastive_divergence.LearningRule` for
:func:`~numpyro_ebm.learning.fit.fit` and any Optax optimizer.

References
----------
Hyvärinen, A. (2005). Estimation of non-normalized statistical models by score
matching. *JMLR* 6.
Hutchinson, M. F. (1989). A stochastic estimator of the trace of the influence
matrix for Laplacian smoothing splines. *Communications in Statistics -
Simulation and Computation* 18(3).
Vincent, P. (2011). A connection between score matching and denoising
autoencoders. *Neural Computation* 23(7).
Song, Y., Garg, S., Shi, J. & Ermon, S. (2019). Sliced score matching: a scalable
approach to density and score estimation. *UAI*.
Swersky, K., Ranzato, M., Buchman, D., Marlin, B. & de Freitas, N. (2011). On
autoencoders and score matching for energy based models. *ICML*.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks, potentials
from numpyro_ebm.learning.base import LearningRule, loss_metrics

__all__ = [
    "METHODS",
    "PROBES",
    "ScoreMatchingState",
    "ScoreMatchingInfo",
    "score",
    "exact_objective",
    "hutchinson_objective",
    "sliced_objective",
    "denoising_objective",
    "score_matching_loss",
    "score_matching",
]

METHODS = ("exact", "hutchinson", "sliced", "denoising")
PROBES = ("rademacher", "gaussian")


class ScoreMatchingState(NamedTuple):
    """Score matching keeps no state between batches."""


class ScoreMatchingInfo(NamedTuple):
    """Per-batch diagnostics.

    loss
        The batch mean of the chosen estimator (the value whose gradient the step returns).
    positive_energy
        Mean energy of the batch.
    negative_energy
        Always 0: score matching has no negative phase. The field (like
        ``sampler_info``, always ``None``) is there so that
        :func:`~numpyro_ebm.learning.fit.fit`, which records the fields of
        :class:`~numpyro_ebm.learning.contrastive_divergence.ContrastiveInfo`,
        runs this rule unchanged.
    sampler_info
        ``None`` (no sampler).
    """

    loss: Float[Array, ""]
    positive_energy: Float[Array, ""]
    negative_energy: Float[Array, ""]
    sampler_info: Any

    metrics = loss_metrics


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown score-matching method {method!r}; choose one of {METHODS}")
    return method


def _check_probe(probe: str) -> str:
    if probe not in PROBES:
        raise ValueError(f"unknown probe distribution {probe!r}; choose one of {PROBES}")
    return probe


def _check_positive_int(value, name: str) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer; got {value!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    return value


def _check_noise_scale(noise_scale) -> float:
    if noise_scale is None:
        raise ValueError(
            "denoising score matching needs noise_scale, the standard deviation sigma of the "
            "Gaussian noise added to the data (e.g. noise_scale=0.1 for data of unit scale)"
        )
    noise_scale = float(noise_scale)
    if not noise_scale > 0:
        raise ValueError(f"noise_scale must be positive; got {noise_scale}")
    return noise_scale


def _check_key(rng_key, method: str):
    if rng_key is None:
        raise ValueError(
            f"score matching with method={method!r} is random: pass rng_key (a jax.random.key)"
        )
    return rng_key


def _check_input(x):
    """Real-valued ``x`` of shape ``(*batch, D)`` (finiteness checked when concrete)."""
    x = _checks.check_array(x, "x", ndim_min=1)
    if x.shape[-1] < 1:
        raise ValueError(f"x must have at least one coordinate; got shape {tuple(x.shape)}")
    return x


# --------------------------------------------------------------------------------------
# Per-example building blocks
# --------------------------------------------------------------------------------------


def _scalar_log_density(energy_fn: Callable, params) -> Callable:
    """``x -> log p(x)`` for one example ``x`` of shape ``(D,)`` (shape-checked)."""
    log_density = potentials.log_density_fn(energy_fn, params)

    def log_density_one(x):
        value = log_density(x)
        if jnp.shape(value) != ():
            raise ValueError(
                f"energy_fn returned shape {tuple(jnp.shape(value))} for one example of shape "
                f"{tuple(x.shape)}; it must return one energy per example (shape (*batch,) for "
                "x of shape (*batch, D))"
            )
        return value

    return log_density_one


def _per_example(fn: Callable, x, *per_example_args):
    """Apply ``fn(x_row, *arg_rows)`` to every row of ``x`` (shape ``(*batch, D)``).

    The extra arguments have shape ``(n, ...)`` with ``n`` the flattened batch size.
    Returns ``(*batch, ...)``.
    """
    batch_shape = x.shape[:-1]
    flat = x.reshape((-1, x.shape[-1]))
    out = jax.vmap(fn)(flat, *per_example_args)
    return jax.tree.map(lambda a: a.reshape(batch_shape + a.shape[1:]), out)


def _draw_probes(rng_key, probe: str, shape, dtype):
    if probe == "rademacher":
        return jax.random.rademacher(rng_key, shape, dtype=dtype)
    return jax.random.normal(rng_key, shape, dtype=dtype)


def _quadratic_forms(log_density_one, x, probes):
    """Score ``s`` at ``x`` and ``v^T (grad s) v`` for each probe row ``v``."""
    s, hvp = jax.linearize(jax.grad(log_density_one), x)
    quad = jax.vmap(lambda v: jnp.vdot(v, hvp(v)))(probes)
    return s, quad


def score(energy_fn: Callable, params, x: Float[Array, "*batch dim"]) -> Float[Array, "*batch dim"]:
    """The model's score :math:`\\nabla_x \\log p(x) = -\\nabla_x E(x)`, per example."""
    x = _check_input(x)
    return _per_example(jax.grad(_scalar_log_density(energy_fn, params)), x)


def exact_objective(
    energy_fn: Callable,
    params,
    x: Float[Array, "*batch dim"],
    *,
    hessian_chunk_size: int | None = None,
) -> Float[Array, "*batch"]:
    """Hyvärinen's :math:`J(x) = \\tfrac12 \\lVert s(x) \\rVert^2 + \\operatorname{tr}\\nabla_x s(x)`, per example.

    The trace is exact: the score is linearised once and the diagonal of its Jacobian
    read off :math:`D` Hessian-vector products with the unit vectors, all at once
    (``hessian_chunk_size=None``, memory :math:`D^2` per example, the fastest for
    small :math:`D`) or ``hessian_chunk_size`` at a time (``jax.lax.map``).
    """
    x = _check_input(x)
    log_density_one = _scalar_log_density(energy_fn, params)
    dim = x.shape[-1]
    chunk = (
        None
        if hessian_chunk_size is None
        else _check_positive_int(hessian_chunk_size, "hessian_chunk_size")
    )

    def one(x_row):
        s, hvp = jax.linearize(jax.grad(log_density_one), x_row)

        def diagonal_entry(i):
            return hvp(jax.nn.one_hot(i, dim, dtype=x_row.dtype))[i]

        index = jnp.arange(dim)
        if chunk is None or chunk >= dim:
            diagonal = jax.vmap(diagonal_entry)(index)
        else:
            diagonal = jax.lax.map(diagonal_entry, index, batch_size=chunk)
        return 0.5 * jnp.sum(jnp.square(s)) + jnp.sum(diagonal)

    return _per_example(one, x)


def hutchinson_objective(
    rng_key: PRNGKeyArray,
    energy_fn: Callable,
    params,
    x: Float[Array, "*batch dim"],
    *,
    n_probes: int = 1,
    probe: str = "rademacher",
) -> Float[Array, "*batch"]:
    """:math:`\\tfrac12\\lVert s\\rVert^2 + \\tfrac1M \\sum_m v_m^\\top \\nabla_x s\\, v_m`, per example.

    Unbiased for :math:`J(x)`: each example gets its own ``n_probes`` probes of
    identity covariance, Rademacher (default; the minimum-variance choice, exact
    when the Hessian is diagonal) or Gaussian.
    """
    x = _check_input(x)
    n_probes = _check_positive_int(n_probes, "n_probes")
    probe = _check_probe(probe)
    log_density_one = _scalar_log_density(energy_fn, params)
    n = x.reshape((-1, x.shape[-1])).shape[0]
    probes = _draw_probes(rng_key, probe, (n, n_probes, x.shape[-1]), x.dtype)

    def one(x_row, v):
        s, quad = _quadratic_forms(log_density_one, x_row, v)
        return 0.5 * jnp.sum(jnp.square(s)) + jnp.mean(quad)

    return _per_example(one, x, probes)


def sliced_objective(
    rng_key: PRNGKeyArray,
    energy_fn: Callable,
    params,
    x: Float[Array, "*batch dim"],
    *,
    n_probes: int = 1,
    probe: str = "gaussian",
    variance_reduction: bool = False,
) -> Float[Array, "*batch"]:
    """Sliced score matching (Song et al. 2019), per example.

    :math:`\\tfrac1M \\sum_m [v_m^\\top \\nabla_x s\\, v_m + \\tfrac12 (v_m^\\top s)^2]` with
    ``n_probes`` projections :math:`v_m` per example (Gaussian by default, or
    Rademacher); with ``variance_reduction=True`` (SSM-VR) the second term is
    :math:`\\tfrac12\\lVert s \\rVert^2`. Unbiased for :math:`J(x)` either way.
    """
    x = _check_input(x)
    n_probes = _check_positive_int(n_probes, "n_probes")
    probe = _check_probe(probe)
    log_density_one = _scalar_log_density(energy_fn, params)
    n = x.reshape((-1, x.shape[-1])).shape[0]
    probes = _draw_probes(rng_key, probe, (n, n_probes, x.shape[-1]), x.dtype)

    def one(x_row, v):
        s, quad = _quadratic_forms(log_density_one, x_row, v)
        if variance_reduction:
            return jnp.mean(quad) + 0.5 * jnp.sum(jnp.square(s))
        return jnp.mean(quad + 0.5 * jnp.square(v @ s))

    return _per_example(one, x, probes)


def denoising_objective(
    rng_key: PRNGKeyArray,
    energy_fn: Callable,
    params,
    x: Float[Array, "*batch dim"],
    *,
    noise_scale: float,
) -> Float[Array, "*batch"]:
    """Denoising score matching (Vincent 2011), per example.

    :math:`\\tfrac12 \\lVert s(\\tilde x) + (\\tilde x - x)/\\sigma^2 \\rVert^2` with
    :math:`\\tilde x = x + \\sigma\\varepsilon` and the noise
    ``noise_scale * jax.random.normal(rng_key, x.shape, x.dtype)``.
    """
    x = _check_input(x)
    noise_scale = _check_noise_scale(noise_scale)
    log_density_one = _scalar_log_density(energy_fn, params)
    noise = noise_scale * jax.random.normal(rng_key, x.shape, x.dtype)
    noisy = x + noise
    s = _per_example(jax.grad(log_density_one), noisy)
    return 0.5 * jnp.sum(jnp.square(s + noise / noise_scale**2), axis=-1)


# --------------------------------------------------------------------------------------
# Loss and learning rule
# --------------------------------------------------------------------------------------


def _reject_unused(method: str, **options):
    """Options given (not None) that ``method`` does not use are an error, not ignored."""
    used = {
        "exact": {"hessian_chunk_size"},
        "hutchinson": {"n_probes", "probe"},
        "sliced": {"n_probes", "probe", "variance_reduction"},
        "denoising": {"noise_scale"},
    }[method]
    unused = sorted(
        name for name, value in options.items() if value is not None and name not in used
    )
    if unused:
        raise ValueError(
            f"option(s) {', '.join(unused)} do not apply to method={method!r}, which takes "
            f"{', '.join(sorted(used))}"
        )


def score_matching_loss(
    energy_fn: Callable,
    method: str = "exact",
    *,
    n_probes: int | None = None,
    probe: str | None = None,
    variance_reduction: bool | None = None,
    noise_scale: float | None = None,
    hessian_chunk_size: int | None = None,
) -> Callable:
    """A score-matching loss ``loss(params, x, rng_key=None)``: the batch mean of an estimator.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` for real-valued ``x`` of shape ``(*batch, D)``,
        returning ``(*batch,)``; twice differentiable in ``x`` (three times for
        gradients of the exact, Hutchinson and sliced losses in ``params``).
    method
        ``"exact"``, ``"hutchinson"``, ``"sliced"`` or ``"denoising"`` (see the module
        docstring).
    n_probes
        Probe vectors (``"hutchinson"``) or projections (``"sliced"``) per example;
        default 1.
    probe
        ``"rademacher"`` (default for ``"hutchinson"``) or ``"gaussian"`` (default for
        ``"sliced"``).
    variance_reduction
        ``"sliced"`` only: the SSM-VR form (default ``False``).
    noise_scale
        ``"denoising"`` only, required: the noise standard deviation :math:`\\sigma`.
    hessian_chunk_size
        ``"exact"`` only: Hessian-vector products per batch of the trace loop
        (default: all :math:`D` at once).

    Returns
    -------
    callable
        ``loss(params, x, rng_key=None) -> scalar``; ``rng_key`` is required by every
        method except ``"exact"``. Differentiate it in ``params`` with ``jax.grad``.

    Raises
    ------
    ValueError
        For an unknown method or probe, a missing ``noise_scale``, or an option that
        the method does not use.
    """
    _check_method(method)
    _reject_unused(
        method,
        n_probes=n_probes,
        probe=probe,
        variance_reduction=variance_reduction,
        noise_scale=noise_scale,
        hessian_chunk_size=hessian_chunk_size,
    )
    if method == "exact":
        if hessian_chunk_size is not None:
            _check_positive_int(hessian_chunk_size, "hessian_chunk_size")

        def loss(params, x, rng_key=None):
            return jnp.mean(
                exact_objective(energy_fn, params, x, hessian_chunk_size=hessian_chunk_size)
            )

    elif method in ("hutchinson", "sliced"):
        n = 1 if n_probes is None else _check_positive_int(n_probes, "n_probes")
        if method == "hutchinson":
            dist = _check_probe("rademacher" if probe is None else probe)

            def loss(params, x, rng_key=None):
                _check_key(rng_key, method)
                return jnp.mean(
                    hutchinson_objective(rng_key, energy_fn, params, x, n_probes=n, probe=dist)
                )

        else:
            dist = _check_probe("gaussian" if probe is None else probe)
            reduce_variance = bool(variance_reduction)

            def loss(params, x, rng_key=None):
                _check_key(rng_key, method)
                return jnp.mean(
                    sliced_objective(
                        rng_key,
                        energy_fn,
                        params,
                        x,
                        n_probes=n,
                        probe=dist,
                        variance_reduction=reduce_variance,
                    )
                )

    else:
        sigma = _check_noise_scale(noise_scale)

        def loss(params, x, rng_key=None):
            _check_key(rng_key, method)
            return jnp.mean(denoising_objective(rng_key, energy_fn, params, x, noise_scale=sigma))

    return loss


def score_matching(
    energy_fn: Callable,
    method: str = "exact",
    *,
    n_probes: int | None = None,
    probe: str | None = None,
    variance_reduction: bool | None = None,
    noise_scale: float | None = None,
    hessian_chunk_size: int | None = None,
) -> LearningRule:
    """Score matching as a learning rule: ``step`` returns the gradient of the mean loss.

    Same options as :func:`score_matching_loss`. ``init(rng_key, params, data=None)``
    returns an empty :class:`ScoreMatchingState`; ``step(rng_key, state, params,
    batch)`` returns ``(grads, state, ScoreMatchingInfo)`` where ``grads`` is
    :math:`\\nabla_\\theta` of the batch mean of the estimator (evaluated with
    ``rng_key``), to be *minimised* by any Optax optimizer, e.g. inside
    :func:`~numpyro_ebm.learning.fit.fit`. No sampler and no negative phase.
    """
    loss_fn = score_matching_loss(
        energy_fn,
        method,
        n_probes=n_probes,
        probe=probe,
        variance_reduction=variance_reduction,
        noise_scale=noise_scale,
        hessian_chunk_size=hessian_chunk_size,
    )

    def init(rng_key, params, data=None):
        return ScoreMatchingState()

    def step(rng_key, state: ScoreMatchingState, params, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, rng_key)
        energy = jnp.mean(energy_fn(params, batch))
        return grads, state, ScoreMatchingInfo(loss, energy, jnp.zeros_like(energy), None)

    return LearningRule(init, step)
