r"""Products of experts: uni-gauss experts on a box, and Student-t experts.

**Uni-gauss experts.** Each expert is a mixture of an axis-aligned Gaussian and a
uniform density on the box :math:`B = [\ell, u] \subset \mathbb R^D` of volume
:math:`r = \prod_d (u_d - \ell_d)`,

.. math::

    p_m(x) = \pi_m\, \mathcal N(x; \mu_m, \operatorname{diag}\sigma_m^2)
             + \frac{1 - \pi_m}{r}, \qquad
    E(x) = -\sum_{m=1}^M \log p_m(x) \quad (x \in B), \qquad E(x) = +\infty \quad (x \notin B).

Each expert is an "energy dimple"; dimples that are close multiply into a sharper
dimple and dimples that are far apart give a vaguer multimodal density, so the
product can both multiply and add probabilities (Hinton, lecture 3b). The
Gaussian is not renormalised to the box; the product is renormalised anyway, so
this only rescales the effective mixing proportion of experts near the edge.

With a binary latent :math:`z_m` per expert (:math:`z_m = 1`: the expert chose
its Gaussian) the joint energy is

.. math::

    E(x, z) = -\sum_m \Big[ z_m \big(\log\pi_m + \log\mathcal N(x;\mu_m,\sigma_m^2)\big)
              + (1 - z_m)\big(\log(1-\pi_m) - \log r\big) \Big],

so that :math:`\sum_z e^{-E(x,z)} = e^{-E(x)}`. Given :math:`x` the latents are
independent (:func:`responsibilities`); given :math:`z`, :math:`x` is the
product of the active Gaussians (:func:`product_of_active_gaussians`) truncated
to the box, uniform on the box when no expert is active. Block Gibbs on these
two conditionals is :mod:`numpyro_ebm.kernels.unigauss_gibbs`.

**The box is static configuration, not a parameter.** It is passed as a separate
:class:`Box` argument (build one with :func:`make_box`), never inside
:class:`UniGaussParams`. The energy depends on the box through
:math:`\log r`, so :math:`\partial E / \partial \ell \neq 0`: were the box a
field of the parameters, a gradient-based learner (``optax`` over the whole
pytree) would shrink it onto the data, and moving a hard wall by gradient makes
no sense for a model whose density jumps to zero there. Keeping it outside the
parameter pytree makes that impossible without any masking. Where an
``energy_fn(params, x)`` is expected (:mod:`numpyro_ebm.potentials`, BlackJAX
kernels), bind the box first: ``functools.partial(poe.energy, box=box)``.

**Student-t experts** ("frequently approximately satisfied constraints"). Each
expert is a heavy-tailed penalty on the violation :math:`w_k^\top x` of a linear
constraint,

.. math::

    E(x) = \sum_{k=1}^K \alpha_k \log\big(1 + \tfrac12 (w_k^\top x)^2\big),

so a constraint already violated by a lot costs little more when violated more.
See :func:`student_t_energy` for when :math:`e^{-E}` is normalisable.

Every function broadcasts over leading batch dimensions: ``x`` of shape
``(*batch, D)`` gives ``(*batch,)`` (energies) or ``(*batch, M)`` (per-expert
quantities).

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Hinton, G. E. CSC2535 lecture 3b: products of experts ("uni-gauss" experts, the
Markov chain for uni-gauss experts, frequently approximately satisfied constraints).
Teh, Y. W., Welling, M., Osindero, S. & Hinton, G. E. (2003). Energy-based models
for sparse overcomplete representations. *JMLR* 4.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "Box",
    "make_box",
    "validate_box",
    "UniGaussParams",
    "init_params",
    "validate_position",
    "validate_expert_choices",
    "box_bounds",
    "log_box_volume",
    "inside_box",
    "expert_log_densities",
    "expert_logits",
    "responsibilities",
    "energy",
    "joint_energy",
    "product_of_active_gaussians",
    "StudentTParams",
    "init_student_t_params",
    "validate_student_t_input",
    "student_t_energy",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _pad_left(a, ndim: int):
    """Reshape ``a`` to rank ``ndim`` by adding leading axes of size one.

    The test suite (and careful users) run with ``jax_numpy_rank_promotion="raise"``,
    so parameters are broadcast against batched inputs explicitly.
    """
    return jnp.reshape(a, (1,) * (ndim - a.ndim) + a.shape)


# ---------------------------------------------------------------------------
# The box
# ---------------------------------------------------------------------------


class Box(NamedTuple):
    """The axis-aligned box :math:`[\\ell, u]` on which uni-gauss experts live.

    Static configuration, deliberately kept out of :class:`UniGaussParams` (see the
    module docstring). Build it with :func:`make_box`, which validates it.

    Attributes
    ----------
    low
        Lower corner :math:`\\ell`, shape ``(D,)`` (or a scalar, used for every dimension).
    high
        Upper corner :math:`u`, same shape; ``low < high`` elementwise.
    """

    low: Float[Array, " dim"]
    high: Float[Array, " dim"]


def validate_box(box: Box, dim: int | None = None, name: str = "box") -> Box:
    """Check a box: float, finite, ``low < high``, shape ``()`` or ``(dim,)``.

    Value checks run on concrete arrays only (as everywhere in :mod:`numpyro_ebm._checks`).
    """
    if not isinstance(box, Box):
        raise TypeError(
            f"{name} must be a numpyro_ebm.energies.poe.Box(low, high); got {type(box).__name__}. "
            "Build one with poe.make_box(low, high, dim)."
        )
    low = _checks.check_array(box.low, f"{name}.low", ndim_min=0)
    high = _checks.check_array(box.high, f"{name}.high", ndim_min=0)
    for arr, field in ((low, "low"), (high, "high")):
        if arr.ndim > 1 or (dim is not None and arr.ndim == 1 and arr.shape[0] != dim):
            expected = "()" if dim is None else f"() or ({dim},)"
            raise ValueError(
                f"{name}.{field} must have shape {expected}; got shape {tuple(arr.shape)}"
            )
    if _checks.is_concrete(low) and _checks.is_concrete(high):
        lo, hi = np.broadcast_arrays(np.asarray(low), np.asarray(high))
        bad = ~(lo < hi)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if lo.ndim else ()
            raise ValueError(
                f"{name} needs low < high in every dimension; found low={lo[idx]!r} >= "
                f"high={hi[idx]!r} at index {idx}"
            )
    return Box(low, high)


def make_box(low, high, dim: int, dtype=jnp.float32) -> Box:
    """A validated :class:`Box` with ``(dim,)`` arrays of ``dtype``.

    ``low`` and ``high`` may be scalars (the same interval in every dimension) or
    length-``dim`` sequences.
    """
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"a box needs a floating-point dtype; got {dtype}")
    box = validate_box(
        Box(jnp.asarray(low, dtype=dtype), jnp.asarray(high, dtype=dtype)), dim, "box"
    )
    return Box(jnp.broadcast_to(box.low, (dim,)), jnp.broadcast_to(box.high, (dim,)))


def box_bounds(box: Box, dim: int, dtype=jnp.float32):
    """``(low, high)`` as ``(dim,)`` arrays of ``dtype`` (validated when concrete)."""
    box = validate_box(box, dim)
    low = jnp.broadcast_to(box.low.astype(dtype), (dim,))
    high = jnp.broadcast_to(box.high.astype(dtype), (dim,))
    return low, high


def log_box_volume(box: Box, dim: int, dtype=jnp.float32):
    """:math:`\\log r = \\sum_d \\log(u_d - \\ell_d)`."""
    low, high = box_bounds(box, dim, dtype)
    return jnp.sum(jnp.log(high - low))


def inside_box(box: Box, x: Float[Array, "*batch dim"]):
    """Boolean ``(*batch,)``: whether ``x`` lies in the closed box."""
    low, high = box_bounds(box, x.shape[-1], x.dtype)
    low, high = _pad_left(low, x.ndim), _pad_left(high, x.ndim)
    return jnp.all((x >= low) & (x <= high), axis=-1)


# ---------------------------------------------------------------------------
# Uni-gauss experts
# ---------------------------------------------------------------------------


class UniGaussParams(NamedTuple):
    """Parameters of a product of uni-gauss experts.

    Attributes
    ----------
    logit_mix
        Log-odds of each expert's Gaussian, :math:`\\log\\frac{\\pi_m}{1-\\pi_m}`, shape ``(M,)``.
    mean
        Gaussian means :math:`\\mu_m`, shape ``(M, D)``.
    log_scale
        Log standard deviations :math:`\\log\\sigma_{md}` (axis-aligned), shape ``(M, D)``.
    """

    logit_mix: Float[Array, " experts"]
    mean: Float[Array, "experts dim"]
    log_scale: Float[Array, "experts dim"]

    @property
    def n_experts(self) -> int:
        return self.mean.shape[0]

    @property
    def dim(self) -> int:
        return self.mean.shape[1]


def init_params(
    rng_key: PRNGKeyArray,
    n_experts: int,
    dim: int,
    data: Float[Array, "n dim"] | None = None,
    box: Box | None = None,
    mix: float = 0.5,
    scale: float | None = None,
    dtype=jnp.float32,
) -> UniGaussParams:
    """Initialise vague experts.

    Means are ``n_experts`` rows of ``data`` drawn at random (with replacement
    only when there are fewer rows than experts); without data, uniform draws in
    ``box``; without either, standard normal draws. Scales are ``scale`` if given,
    else each dimension's standard deviation of ``data``, else a quarter of the
    box width, else 1: vague experts, whose product is sharp (lecture 3b, "vague
    experts work well because their product can be sharp"). Mixing proportions
    start at ``mix``.
    """
    if n_experts < 1 or dim < 1:
        raise ValueError(f"need n_experts >= 1 and dim >= 1; got {n_experts}, {dim}")
    if not 0 < mix < 1:
        raise ValueError(f"mix must lie strictly between 0 and 1; got {mix}")
    if scale is not None and not scale > 0:
        raise ValueError(f"scale must be positive; got {scale}")
    log_scale = jnp.zeros((n_experts, dim), dtype=dtype)
    if data is not None:
        data = _checks.check_array(data, "data", ndim_min=2)
        _checks.check_last_dim(data, dim, "data", "dimensions")
        flat = data.reshape(-1, dim).astype(dtype)
        rows = jax.random.choice(
            rng_key, flat.shape[0], (n_experts,), replace=flat.shape[0] < n_experts
        )
        mean = flat[rows]
        std = jnp.maximum(jnp.std(flat, axis=0), 1e-3)
        log_scale = jnp.broadcast_to(jnp.log(std), (n_experts, dim)).astype(dtype)
    elif box is not None:
        low, high = box_bounds(box, dim, dtype)
        mean = jax.random.uniform(
            rng_key, (n_experts, dim), dtype=dtype, minval=low[None, :], maxval=high[None, :]
        )
        log_scale = jnp.broadcast_to(jnp.log(0.25 * (high - low)), (n_experts, dim))
    else:
        mean = jax.random.normal(rng_key, (n_experts, dim), dtype=dtype)
    if scale is not None:
        log_scale = jnp.full((n_experts, dim), math.log(scale), dtype=dtype)
    logit_mix = jnp.full((n_experts,), math.log(mix) - math.log1p(-mix), dtype=dtype)
    return UniGaussParams(logit_mix, mean.astype(dtype), log_scale.astype(dtype))


def _check_input(params: UniGaussParams, x, name: str = "x"):
    """Static checks (params type, rank, float dtype, last dimension); valid under ``jit``."""
    _checks.check_params(params, UniGaussParams)
    x = _checks.check_array(x, name, finite=False)
    return _checks.check_last_dim(x, params.mean.shape[-1], name, "dimensions")


def validate_position(params: UniGaussParams, x, box: Box, name: str = "x"):
    """Check that ``x`` is a finite float array with ``D`` columns lying in ``box``."""
    x = _checks.check_array(x, name)
    _checks.check_last_dim(x, params.mean.shape[-1], name, "dimensions")
    box = validate_box(box, x.shape[-1])
    if _checks.is_concrete(x) and _checks.is_concrete(box.low) and _checks.is_concrete(box.high):
        values = np.asarray(x)
        inside = np.all((values >= np.asarray(box.low)) & (values <= np.asarray(box.high)), -1)
        if not inside.all():
            idx = tuple(int(i) for i in np.argwhere(~inside)[0])
            raise ValueError(
                f"{name} must lie inside the box (the energy is +inf outside it); "
                f"{int((~inside).sum())} point(s) do not, e.g. {values[idx]!r} at "
                f"batch index {idx}"
            )
    return x


def validate_expert_choices(params: UniGaussParams, z, name: str = "z"):
    """Check that ``z`` is a float 0/1 array with ``M`` columns."""
    z = _checks.check_array(z, name)
    _checks.check_last_dim(z, params.mean.shape[0], name, "experts")
    return _checks.check_binary(z, name)


def expert_log_densities(
    params: UniGaussParams, x: Float[Array, "*batch dim"]
) -> Float[Array, "*batch experts"]:
    """:math:`\\log \\mathcal N(x; \\mu_m, \\operatorname{diag}\\sigma_m^2)` for every expert."""
    x = _check_input(params, x)
    ndim = x.ndim + 1
    mean = _pad_left(params.mean, ndim)
    inv_scale = _pad_left(jnp.exp(-params.log_scale), ndim)
    standardized = (x[..., None, :] - mean) * inv_scale
    log_norm = _pad_left(jnp.sum(params.log_scale, axis=-1), x.ndim)
    dim = x.shape[-1]
    return -0.5 * jnp.sum(jnp.square(standardized), axis=-1) - log_norm - dim * _HALF_LOG_2PI


def _log_components(params: UniGaussParams, x, box: Box):
    """Log of the Gaussian and uniform parts of every expert, each ``(*batch, M)``."""
    log_gauss = expert_log_densities(params, x)
    log_r = log_box_volume(box, x.shape[-1], x.dtype)
    log_pi = _pad_left(jax.nn.log_sigmoid(params.logit_mix), log_gauss.ndim)
    log_not_pi = _pad_left(jax.nn.log_sigmoid(-params.logit_mix), log_gauss.ndim)
    return log_pi + log_gauss, log_not_pi - log_r


def expert_logits(
    params: UniGaussParams, x: Float[Array, "*batch dim"], box: Box
) -> Float[Array, "*batch experts"]:
    """Log-odds of :math:`p(z_m = 1 \\mid x)`:
    :math:`\\log\\pi_m + \\log\\mathcal N(x;\\mu_m,\\sigma_m^2) - \\log(1-\\pi_m) + \\log r`.

    The posterior over the experts' choices factorises given ``x`` (inference is
    easy in a product of experts), so all ``M`` are computed in parallel. The
    formula is returned for any ``x``; it is the posterior only inside the box.
    """
    log_gauss, log_unif = _log_components(params, x, box)
    return log_gauss - log_unif


def responsibilities(
    params: UniGaussParams, x: Float[Array, "*batch dim"], box: Box
) -> Float[Array, "*batch experts"]:
    """:math:`p(z_m = 1 \\mid x)`, the probability that expert ``m`` used its Gaussian."""
    return jax.nn.sigmoid(expert_logits(params, x, box))


def energy(
    params: UniGaussParams, x: Float[Array, "*batch dim"], box: Box
) -> Float[Array, "*batch"]:
    """:math:`E(x) = -\\sum_m \\log\\big(\\pi_m \\mathcal N(x;\\mu_m,\\sigma_m^2) + (1-\\pi_m)/r\\big)`,
    :math:`+\\infty` outside the box.

    Each expert's mixture is evaluated with ``logaddexp`` of the two log terms, so
    the energy stays finite and accurate far from every Gaussian.
    """
    log_gauss, log_unif = _log_components(params, x, box)
    e = -jnp.sum(jnp.logaddexp(log_gauss, log_unif), axis=-1)
    return jnp.where(inside_box(box, x), e, jnp.inf)


def joint_energy(
    params: UniGaussParams,
    x: Float[Array, "*batch dim"],
    z: Float[Array, "*batch experts"],
    box: Box,
) -> Float[Array, "*batch"]:
    """:math:`E(x, z)` with binary expert choices ``z`` (1: the Gaussian), :math:`+\\infty`
    outside the box. Summing :math:`e^{-E(x,z)}` over ``z`` gives :math:`e^{-E(x)}`."""
    log_gauss, log_unif = _log_components(params, x, box)
    z = _checks.check_input(z, "z", params.mean.shape[0], "experts")
    e = -jnp.sum(z * log_gauss + (1 - z) * log_unif, axis=-1)
    return jnp.where(inside_box(box, x), e, jnp.inf)


def product_of_active_gaussians(
    params: UniGaussParams, z: Float[Array, "*batch experts"]
) -> tuple[Float[Array, "*batch dim"], Float[Array, "*batch dim"]]:
    """Mean and variance of :math:`\\prod_{m: z_m = 1} \\mathcal N(x; \\mu_m, \\operatorname{diag}\\sigma_m^2)`.

    Per dimension ``d``, precisions add and the mean is precision-weighted:

    .. math::

        \\lambda_d = \\sum_m z_m \\sigma_{md}^{-2}, \\qquad
        \\bar\\mu_d = \\lambda_d^{-1} \\sum_m z_m \\sigma_{md}^{-2} \\mu_{md}, \\qquad
        \\bar\\sigma_d^2 = \\lambda_d^{-1}.

    Where no expert is active the precision is zero: the variance is returned as
    ``+inf`` and the mean as ``0`` (the product is flat; the kernel then draws
    uniformly on the box). Since the experts are diagonal, this happens in all
    dimensions at once.

    Returns
    -------
    mean, variance
        Both of shape ``(*batch, D)``.
    """
    _checks.check_params(params, UniGaussParams)
    z = _checks.check_input(z, "z", params.mean.shape[0], "experts")
    precision_md = jnp.exp(-2 * params.log_scale)
    precision = z @ precision_md
    weighted = z @ (precision_md * params.mean)
    active = precision > 0
    safe = jnp.where(active, precision, 1)
    mean = jnp.where(active, weighted / safe, 0)
    variance = jnp.where(active, 1 / safe, jnp.inf)
    return mean, variance


# ---------------------------------------------------------------------------
# Student-t experts
# ---------------------------------------------------------------------------


class StudentTParams(NamedTuple):
    """Parameters of a product of Student-t experts.

    Attributes
    ----------
    W
        Constraint directions :math:`w_k` as rows, shape ``(K, D)``.
    log_alpha
        Log of each expert's weight :math:`\\alpha_k > 0`, shape ``(K,)``.
    """

    W: Float[Array, "experts dim"]
    log_alpha: Float[Array, " experts"]

    @property
    def n_experts(self) -> int:
        return self.W.shape[0]

    @property
    def dim(self) -> int:
        return self.W.shape[1]


def init_student_t_params(
    rng_key: PRNGKeyArray,
    n_experts: int,
    dim: int,
    alpha: float = 1.0,
    weight_scale: float = 1.0,
    dtype=jnp.float32,
) -> StudentTParams:
    """Directions ``N(0, weight_scale^2 / dim)`` and all :math:`\\alpha_k` equal to ``alpha``.

    With ``n_experts >= dim`` random directions are in general position, and the
    default ``alpha = 1`` then gives a normalisable density (see
    :func:`student_t_energy`: it needs :math:`\\alpha > D / (2K)` and
    :math:`\\alpha > 1 / (2(K - D + 1))`). With ``n_experts < dim`` no choice of
    ``alpha`` is normalisable on its own.
    """
    if n_experts < 1 or dim < 1:
        raise ValueError(f"need n_experts >= 1 and dim >= 1; got {n_experts}, {dim}")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive; got {alpha}")
    W = (weight_scale / math.sqrt(dim)) * jax.random.normal(rng_key, (n_experts, dim), dtype=dtype)
    log_alpha = jnp.full((n_experts,), math.log(alpha), dtype=dtype)
    return StudentTParams(W, log_alpha)


def validate_student_t_input(params: StudentTParams, x, name: str = "x"):
    """Check that ``x`` is a finite float array with ``D`` columns."""
    x = _checks.check_array(x, name)
    return _checks.check_last_dim(x, params.W.shape[1], name, "dimensions")


def _log1p_half_square(s):
    """:math:`\\log(1 + s^2/2)` without overflow of :math:`s^2` (finite for any finite ``s``).

    For :math:`|s| > 1` it is :math:`2\\log|s| + \\log(\\tfrac12 + s^{-2})`; both branches
    see safe inputs so gradients are finite everywhere.
    """
    t = jnp.abs(s)
    big = t > 1
    t_big = jnp.where(big, t, 1)
    s_small = jnp.where(big, 0, s)
    large = 2 * jnp.log(t_big) + jnp.log(0.5 + 1 / jnp.square(t_big))
    small = jnp.log1p(0.5 * jnp.square(s_small))
    return jnp.where(big, large, small)


def student_t_energy(
    params: StudentTParams, x: Float[Array, "*batch dim"]
) -> Float[Array, "*batch"]:
    """:math:`E(x) = \\sum_k \\alpha_k \\log(1 + \\tfrac12 (w_k^\\top x)^2)`.

    Finite for every finite ``x`` (no overflow of the square).

    Normalisability. :math:`e^{-E}` is integrable over :math:`\\mathbb R^D` iff for
    every nonzero linear subspace :math:`U`,

    .. math::

        2 \\sum_{k:\\, w_k \\not\\perp U} \\alpha_k > \\dim U

    (far out along :math:`U` each expert not orthogonal to :math:`U` decays like
    :math:`|x|^{-2\\alpha_k}`, against a volume growing like :math:`|x|^{\\dim U - 1}`).
    In particular the :math:`w_k` must span :math:`\\mathbb R^D` (otherwise the energy
    is flat along a direction orthogonal to all of them) and :math:`2\\sum_k\\alpha_k > D`.
    For directions in general position (no ``D`` of them linearly dependent), equal
    :math:`\\alpha` suffices when :math:`2\\alpha(K - D + 1) > 1` and :math:`2\\alpha K > D`.
    Moments of order :math:`q` exist iff the same holds with :math:`\\dim U + q` on
    the right-hand side.
    """
    _checks.check_params(params, StudentTParams)
    x = _checks.check_array(x, "x", finite=False)
    _checks.check_last_dim(x, params.W.shape[1], "x", "dimensions")
    violations = x @ params.W.T
    return _log1p_half_square(violations) @ jnp.exp(params.log_alpha)
