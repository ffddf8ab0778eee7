r"""Potts restricted Boltzmann machine: categorical visible units, Bernoulli hidden units.

Visible sites :math:`v \in \{0, \dots, q-1\}^L` (a protein sequence: :math:`q = 21`,
the amino acids and the gap), hidden units :math:`h \in \{0, 1\}^K`,

.. math::

    E(v, h) = -\sum_i f_i(v_i) - \sum_j c_j h_j - \sum_{i,j} W_{i}(v_i)_{j}\, h_j,
    \qquad p(v, h) \propto e^{-E(v, h)},

with fields :math:`f` of shape ``(L, q)``, weights :math:`W` of shape ``(L, q, K)``
and hidden biases :math:`c` of shape ``(K,)``. The closed forms follow from the
bipartite structure: given :math:`v` the hidden units are independent,
:math:`p(h_j = 1 \mid v) = \sigma(c_j + I_j(v))` with the input
:math:`I_j(v) = \sum_i W_i(v_i)_j`; given :math:`h` the sites are independent,
:math:`p(v_i = a \mid h) = \operatorname{softmax}_a(f_i(a) + \sum_j W_i(a)_j h_j)`.
Summing out :math:`h` gives the free energy

.. math::

    F(v) = -\sum_i f_i(v_i) - \sum_j \operatorname{softplus}(c_j + I_j(v)),

and summing out :math:`v` (site by site) the hidden free energy
:math:`-c^\top h - \sum_i \log\sum_a e^{f_i(a) + (W h)_i(a)}`, which is how the exact
partition function of a model with few hidden units is computed
(:mod:`numpyro_ebm.evaluation.potts_exact`).

Visible input, both encodings
-----------------------------
Every function takes ``v`` as **integer codes**, shape ``(*batch, L)`` (any
integer dtype, or floats holding integers: the kernels keep codes in a float
array so that chains and data share a dtype), or **one-hot rows**, shape
``(*batch, L, q)`` (float). ``encoding="auto"`` (the default) decides by shape
and dtype: an integer array is codes; a float array whose last two dimensions
are ``(L, q)`` is one-hot; a float array whose last dimension is ``L`` is codes.
When ``L == q`` a float array of shape ``(..., L, L)`` is read as one-hot; pass
``encoding="codes"`` (or integer codes) to say otherwise. Concrete input is
checked: codes outside ``0..q-1``, non-integer codes and one-hot rows that do not
sum to 1 raise a ValueError naming the site.

Gaussian and dReLU hidden units
-------------------------------
:class:`PottsDReLURBMParams` replaces the Bernoulli hidden units by real ones with
the double-ReLU potential of Tubiana, Cocco & Monasson (2019),
:math:`U_j(h) = \tfrac12\gamma^+_j h_+^2 + \theta^+_j h_+ + \tfrac12\gamma^-_j h_-^2
+ \theta^-_j h_-` (:math:`h_+ = \max(h, 0)`, :math:`h_- = \min(h, 0)`), so that
:math:`E(v, h) = -\sum_i f_i(v_i) - \sum_j I_j(v) h_j + \sum_j U_j(h_j)`; equal
sides (:func:`gaussian_hidden_params`) give Gaussian hidden units. Summing out
:math:`h` gives :math:`F(v) = -\sum_i f_i(v_i) - \sum_j \Gamma_j(I_j(v))` with the
closed form of :func:`drelu_log_partition`; given :math:`v`, each :math:`h_j` is a
mixture of two truncated Gaussians (:func:`drelu_positive_probability` is the weight
of the positive one), sampled by :mod:`numpyro_ebm.kernels.potts_rbm_gibbs`.

Gauge
-----
Adding :math:`a_i` to every :math:`f_i(\cdot)` changes only :math:`Z`, and adding
:math:`m_{ij}` to every :math:`W_i(\cdot)_j` is undone by subtracting
:math:`\sum_i m_{ij}` from :math:`c_j`. :func:`zero_sum_gauge` picks the
representative whose fields and weights sum to zero over the states of each
site, the convention of Tubiana, Cocco & Monasson (2019) that keeps weight
logos comparable and the gradient free of a drifting null direction.

References
----------
Tubiana, J., Cocco, S. & Monasson, R. (2019). Learning protein constitutive
motifs from sequence data. *eLife* 8:e39397.
Tubiana, J., Cocco, S. & Monasson, R. (2019). Learning compositional
representations of interacting systems with restricted Boltzmann machines:
comparative study of lattice proteins. *Neural Computation* 31(8).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = [
    "PottsRBMParams",
    "ENCODINGS",
    "init_params",
    "validate_params",
    "one_hot",
    "as_one_hot",
    "validate_codes",
    "independent_site_fields",
    "hidden_input",
    "hidden_logits",
    "hidden_probs",
    "visible_logits",
    "visible_probs",
    "joint_energy",
    "free_energy",
    "hidden_free_energy",
    "zero_sum_gauge",
    "PottsDReLURBMParams",
    "gaussian_hidden_params",
    "drelu_log_partition",
    "drelu_positive_probability",
    "drelu_free_energy",
    "drelu_joint_energy",
]

ENCODINGS = ("auto", "codes", "one_hot")


class PottsRBMParams(NamedTuple):
    """Parameters of a Potts RBM with Bernoulli hidden units.

    Attributes
    ----------
    W
        Weights, shape ``(L, q, K)`` (sites, states, hidden units).
    fields
        Visible fields :math:`f_i(a)`, shape ``(L, q)``.
    c
        Hidden biases, shape ``(K,)``.
    """

    W: Float[Array, "sites states hidden"]
    fields: Float[Array, "sites states"]
    c: Float[Array, " hidden"]

    @property
    def n_sites(self) -> int:
        return self.W.shape[0]

    @property
    def n_states(self) -> int:
        return self.W.shape[1]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[2]


def validate_params(params: PottsRBMParams, name: str = "params") -> PottsRBMParams:
    """Check shapes (``W (L, q, K)``, ``fields (L, q)``, ``c (K,)``), a shared float dtype
    and finiteness (concrete arrays)."""
    _checks.check_params(params, PottsRBMParams, name)
    W = _checks.check_array(params.W, f"{name}.W", ndim_min=3)
    fields = _checks.check_array(params.fields, f"{name}.fields", ndim_min=2)
    c = _checks.check_array(params.c, f"{name}.c", ndim_min=1)
    if W.ndim != 3:
        raise ValueError(f"{name}.W must have shape (L, q, K); got {tuple(W.shape)}")
    if fields.shape != W.shape[:2]:
        raise ValueError(
            f"{name}.fields must have shape {W.shape[:2]} (sites, states) to match {name}.W of "
            f"shape {tuple(W.shape)}; got {tuple(fields.shape)}"
        )
    if c.shape != (W.shape[2],):
        raise ValueError(
            f"{name}.c must have shape ({W.shape[2]},) to match {name}.W; got {tuple(c.shape)}"
        )
    if not (W.dtype == fields.dtype == c.dtype):
        raise TypeError(
            f"{name}.W, {name}.fields and {name}.c must share a dtype; got "
            f"{W.dtype}, {fields.dtype} and {c.dtype}"
        )
    return PottsRBMParams(W, fields, c)


def init_params(
    rng_key: PRNGKeyArray,
    n_sites: int,
    n_states: int,
    n_hidden: int,
    data=None,
    weights=None,
    weight_scale: float = 0.01,
    pseudo_count: float = 1e-3,
    dtype=jnp.float32,
) -> PottsRBMParams:
    """Weights ``N(0, weight_scale^2)`` in the zero-sum gauge, zero hidden biases, and fields
    ``log`` of each site's state frequencies in ``data`` (the independent-site model),
    smoothed by ``pseudo_count`` and weighted by ``weights``, or zero without data."""
    n_sites = _checks.check_int(n_sites, "n_sites", minimum=1)
    n_states = _checks.check_int(n_states, "n_states", minimum=2)
    n_hidden = _checks.check_int(n_hidden, "n_hidden", minimum=1)
    W = weight_scale * jax.random.normal(rng_key, (n_sites, n_states, n_hidden), dtype=dtype)
    W = W - jnp.mean(W, axis=1, keepdims=True)
    if data is None:
        fields = jnp.zeros((n_sites, n_states), dtype)
    else:
        fields = independent_site_fields(data, n_states, weights, pseudo_count, dtype)
        if fields.shape[0] != n_sites:
            raise ValueError(f"data has {fields.shape[0]} sites but n_sites is {n_sites}")
    return PottsRBMParams(W, fields, jnp.zeros((n_hidden,), dtype))


def independent_site_fields(data, n_states: int, weights=None, pseudo_count=1e-3, dtype=None):
    r"""Fields of the maximum-likelihood independent-site model, :math:`f_i(a) = \log \hat p_i(a)`.

    :math:`\hat p_i(a) = (1 - \lambda) \sum_n w_n [v_{ni} = a] / \sum_n w_n + \lambda / q`
    with :math:`\lambda` = ``pseudo_count``; the model :math:`p(v) = \prod_i \hat p_i(v_i)`
    is normalised (its :math:`\log Z = 0`).
    """
    onehot = as_one_hot(data, _data_sites(data, n_states), n_states, dtype=dtype)
    dtype = onehot.dtype
    flat = onehot.reshape((-1,) + onehot.shape[-2:])
    if weights is None:
        frequencies = jnp.mean(flat, axis=0)
    else:
        w = jnp.asarray(weights, dtype).reshape(-1)
        frequencies = jnp.einsum("n,nia->ia", w, flat) / jnp.sum(w)
    lam = jnp.asarray(pseudo_count, dtype)
    return jnp.log((1 - lam) * frequencies + lam / n_states)


def _data_sites(data, n_states: int) -> int:
    """Number of sites of ``data`` given as codes ``(n, L)`` or one-hot ``(n, L, q)``."""
    data = jnp.asarray(data)
    if jnp.issubdtype(data.dtype, jnp.floating) and data.ndim >= 3 and data.shape[-1] == n_states:
        return data.shape[-2]
    return data.shape[-1]


def one_hot(codes, n_states: int, dtype=jnp.float32) -> Float[Array, "*batch sites states"]:
    """One-hot rows of integer codes (ints, or floats holding integers), shape ``(*batch, L, q)``."""
    codes = jnp.asarray(codes)
    return jax.nn.one_hot(codes.astype(jnp.int32), n_states, dtype=dtype)


def validate_codes(codes, n_states: int, name: str = "v"):
    """Raise (concrete arrays) for codes outside ``0..q-1`` or non-integer codes."""
    if _checks.is_concrete(codes):
        values = np.asarray(codes)
        if jnp.issubdtype(values.dtype, jnp.floating):
            _checks.check_array(codes, name, floating=True)
            not_int = values != np.round(values)
            if not_int.any():
                idx = tuple(int(i) for i in np.argwhere(not_int)[0])
                raise ValueError(
                    f"{name} holds integer codes but {values[idx].item()!r} at index {idx} (site "
                    f"{idx[-1]}) is not an integer"
                )
        bad = (values < 0) | (values >= n_states)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} has code {values[idx].item()!r} at index {idx} (site {idx[-1]}), outside the "
                f"model's {n_states} states 0..{n_states - 1}"
            )
    return codes


def _check_one_hot_rows(x, name: str):
    if _checks.is_concrete(x):
        values = np.asarray(x)
        _checks.check_binary(values, name)
        sums = values.sum(axis=-1)
        bad = sums != 1
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} must hold one-hot rows (one 1 per site); the row at index {idx} (site "
                f"{idx[-1]}) sums to {sums[idx].item()!r}"
            )
    return x


def as_one_hot(
    v, n_sites: int, n_states: int, dtype=None, encoding: str = "auto", name: str = "v"
) -> Float[Array, "*batch sites states"]:
    """``v`` (codes or one-hot, see the module docstring) as one-hot rows ``(*batch, L, q)``.

    ``dtype`` defaults to ``v``'s float dtype (float32 for integer codes).
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; choose one of {ENCODINGS}")
    v = v if isinstance(v, jax.core.Tracer) else jnp.asarray(v)
    is_float = jnp.issubdtype(v.dtype, jnp.floating)
    if encoding == "auto":
        looks_one_hot = is_float and v.ndim >= 2 and tuple(v.shape[-2:]) == (n_sites, n_states)
        encoding = "one_hot" if looks_one_hot else "codes"
    if dtype is None:
        dtype = v.dtype if is_float else jnp.float32
    if encoding == "one_hot":
        _checks.check_array(v, name, ndim_min=2)
        if tuple(v.shape[-2:]) != (n_sites, n_states):
            raise ValueError(
                f"{name} given as one-hot must have shape (..., {n_sites}, {n_states}) (sites, "
                f"states); got {tuple(v.shape)}"
            )
        return _check_one_hot_rows(v, name).astype(dtype)
    if not (is_float or jnp.issubdtype(v.dtype, jnp.integer)):
        raise TypeError(f"{name} must hold integer codes or one-hot floats; got dtype {v.dtype}")
    if v.ndim < 1 or v.shape[-1] != n_sites:
        raise ValueError(
            f"{name} must be integer codes of shape (..., {n_sites}) or one-hot rows of shape "
            f"(..., {n_sites}, {n_states}) for a model of {n_sites} sites and {n_states} "
            f"states; got shape {tuple(v.shape)}"
        )
    validate_codes(v, n_states, name)
    return one_hot(v, n_states, dtype)


def _visible(params, v, encoding):
    _checks.check_params(params, PottsRBMParams)
    L, q = params.W.shape[:2]
    return as_one_hot(v, L, q, params.W.dtype, encoding)


def _hidden(params, h):
    _checks.check_params(params, PottsRBMParams)
    return _checks.check_input(h, "h", params.W.shape[2], "hidden units")


def hidden_input(
    params: PottsRBMParams, v, encoding: str = "auto"
) -> Float[Array, "*batch hidden"]:
    r""":math:`I_j(v) = \sum_i W_i(v_i)_j`: one matmul of the flattened one-hot rows."""
    x = _visible(params, v, encoding)
    L, q, K = params.W.shape
    return x.reshape(x.shape[:-2] + (L * q,)) @ params.W.reshape(L * q, K)


def hidden_logits(params: PottsRBMParams, v, encoding: str = "auto"):
    """Logits of :math:`p(h_j = 1 \\mid v) = \\sigma(c_j + I_j(v))`."""
    return hidden_input(params, v, encoding) + params.c


def hidden_probs(params: PottsRBMParams, v, encoding: str = "auto"):
    return jax.nn.sigmoid(hidden_logits(params, v, encoding))


def visible_logits(
    params: PottsRBMParams, h: Float[Array, "*batch hidden"]
) -> Float[Array, "*batch sites states"]:
    """Logits of :math:`p(v_i = a \\mid h) = \\operatorname{softmax}_a(f_i(a) + (W h)_i(a))`."""
    h = _hidden(params, h)
    L, q, K = params.W.shape
    field = h @ params.W.reshape(L * q, K).T
    return field.reshape(h.shape[:-1] + (L, q)) + params.fields


def visible_probs(params: PottsRBMParams, h):
    return jax.nn.softmax(visible_logits(params, h), axis=-1)


def _fields_term(params, x):
    return jnp.sum(x * params.fields, axis=(-2, -1))


def joint_energy(params: PottsRBMParams, v, h, encoding: str = "auto") -> Float[Array, "*batch"]:
    """:math:`E(v, h) = -\\sum_i f_i(v_i) - c^\\top h - \\sum_{ij} W_i(v_i)_j h_j`."""
    x = _visible(params, v, encoding)
    h = _hidden(params, h)
    return -_fields_term(params, x) - jnp.sum(
        (hidden_input(params, x, "one_hot") + params.c) * h, -1
    )


def free_energy(params: PottsRBMParams, v, encoding: str = "auto") -> Float[Array, "*batch"]:
    """:math:`F(v) = -\\sum_i f_i(v_i) - \\sum_j \\mathrm{softplus}(c_j + I_j(v))`."""
    x = _visible(params, v, encoding)
    logits = hidden_input(params, x, "one_hot") + params.c
    return -_fields_term(params, x) - jnp.sum(jax.nn.softplus(logits), axis=-1)


def hidden_free_energy(params: PottsRBMParams, h) -> Float[Array, "*batch"]:
    """:math:`-\\log \\sum_v e^{-E(v, h)} = -c^\\top h - \\sum_i \\log\\sum_a e^{f_i(a) + (W h)_i(a)}`."""
    h = _hidden(params, h)
    logits = visible_logits(params, h)
    return -(h @ params.c) - jnp.sum(jax.nn.logsumexp(logits, axis=-1), axis=-1)


def zero_sum_gauge(params: PottsRBMParams) -> PottsRBMParams:
    r"""The same distribution with :math:`\sum_a f_i(a) = 0` and :math:`\sum_a W_i(a)_j = 0`.

    The weights' means over states, :math:`m_{ij}`, move into the hidden biases
    (:math:`c_j + \sum_i m_{ij}`), so :math:`p(v, h)` is unchanged; the fields'
    means only change :math:`Z` (``tests/energies/test_potts_rbm.py`` checks both
    by enumeration).
    """
    params = validate_params(params)
    mean_W = jnp.mean(params.W, axis=1, keepdims=True)
    return PottsRBMParams(
        params.W - mean_W,
        params.fields - jnp.mean(params.fields, axis=1, keepdims=True),
        params.c + jnp.sum(mean_W[:, 0, :], axis=0),
    )


# --------------------------------------------------------------------------------------
# Gaussian and dReLU hidden units (Tubiana, Cocco & Monasson 2019)
# --------------------------------------------------------------------------------------


class PottsDReLURBMParams(NamedTuple):
    r"""Parameters of a Potts RBM with dReLU (or Gaussian) hidden units.

    Attributes
    ----------
    W
        Weights, shape ``(L, q, K)``.
    fields
        Visible fields, shape ``(L, q)``.
    gamma_plus, gamma_minus
        Curvatures of the positive and negative sides, shape ``(K,)``, positive.
    theta_plus, theta_minus
        Thresholds of the two sides, shape ``(K,)``.
    """

    W: Float[Array, "sites states hidden"]
    fields: Float[Array, "sites states"]
    gamma_plus: Float[Array, " hidden"]
    gamma_minus: Float[Array, " hidden"]
    theta_plus: Float[Array, " hidden"]
    theta_minus: Float[Array, " hidden"]


def gaussian_hidden_params(W, fields, gamma, theta) -> PottsDReLURBMParams:
    r"""Gaussian hidden units, :math:`U(h) = \gamma h^2 / 2 + \theta h`: a dReLU with equal sides."""
    gamma, theta = jnp.asarray(gamma), jnp.asarray(theta)
    return PottsDReLURBMParams(jnp.asarray(W), jnp.asarray(fields), gamma, gamma, theta, theta)


def _drelu_sides(params, inputs):
    r"""log of the two half-line integrals of :math:`e^{-U(h) + I h}`, each ``(*batch, K)``."""
    a_plus, a_minus = params.gamma_plus, params.gamma_minus
    b_plus, b_minus = inputs - params.theta_plus, inputs - params.theta_minus
    log_2pi = jnp.log(jnp.asarray(2 * np.pi, inputs.dtype))
    positive = (
        0.5 * (log_2pi - jnp.log(a_plus))
        + b_plus**2 / (2 * a_plus)
        + jax.scipy.special.log_ndtr(b_plus / jnp.sqrt(a_plus))
    )
    negative = (
        0.5 * (log_2pi - jnp.log(a_minus))
        + b_minus**2 / (2 * a_minus)
        + jax.scipy.special.log_ndtr(-b_minus / jnp.sqrt(a_minus))
    )
    return positive, negative


def drelu_log_partition(params: PottsDReLURBMParams, inputs) -> Float[Array, "*batch hidden"]:
    r""":math:`\Gamma_j(I) = \log\int e^{-U_j(h) + I h}\,dh`, the sum of two half-line
    Gaussian integrals, each :math:`\sqrt{2\pi/\gamma}\, e^{b^2/2\gamma}\,\Phi(\pm b/\sqrt\gamma)`
    with :math:`b = I - \theta^\pm` (in logs, with ``log_ndtr``: finite for any input)."""
    positive, negative = _drelu_sides(params, inputs)
    return jnp.logaddexp(positive, negative)


def drelu_positive_probability(params: PottsDReLURBMParams, inputs):
    r""":math:`p(h_j > 0 \mid v)` for the inputs :math:`I(v)`."""
    positive, negative = _drelu_sides(params, inputs)
    return jax.nn.sigmoid(positive - negative)


def _drelu_input(params, v, encoding):
    _checks.check_params(params, PottsDReLURBMParams)
    L, q, K = params.W.shape
    x = as_one_hot(v, L, q, params.W.dtype, encoding)
    return x, x.reshape(x.shape[:-2] + (L * q,)) @ params.W.reshape(L * q, K)


def drelu_free_energy(params: PottsDReLURBMParams, v, encoding: str = "auto"):
    r""":math:`F(v) = -\sum_i f_i(v_i) - \sum_j \Gamma_j(I_j(v))`."""
    x, inputs = _drelu_input(params, v, encoding)
    fields = jnp.sum(x * params.fields, axis=(-2, -1))
    return -fields - jnp.sum(drelu_log_partition(params, inputs), axis=-1)


def drelu_joint_energy(params: PottsDReLURBMParams, v, h, encoding: str = "auto"):
    r""":math:`E(v, h) = -\sum_i f_i(v_i) - I(v)^\top h + \sum_j U_j(h_j)`."""
    x, inputs = _drelu_input(params, v, encoding)
    h = _checks.check_input(h, "h", params.W.shape[2], "hidden units")
    h_plus, h_minus = jnp.maximum(h, 0), jnp.minimum(h, 0)
    potential = (
        0.5 * params.gamma_plus * h_plus**2
        + params.theta_plus * h_plus
        + 0.5 * params.gamma_minus * h_minus**2
        + params.theta_minus * h_minus
    )
    fields = jnp.sum(x * params.fields, axis=(-2, -1))
    return -fields - jnp.sum(inputs * h, axis=-1) + jnp.sum(potential, axis=-1)
