r"""Two-layer deep Boltzmann machine (DBM) with binary units.

Visible units :math:`v \in \{0,1\}^D`, a first hidden layer
:math:`h^1 \in \{0,1\}^{K_1}` and a second :math:`h^2 \in \{0,1\}^{K_2}`,

.. math::

    E(v, h^1, h^2) = -v^\top W_1 h^1 - h^{1\top} W_2 h^2
        - b^\top v - c_1^\top h^1 - c_2^\top h^2,
    \qquad p(v, h^1, h^2) \propto e^{-E(v, h^1, h^2)}.

There are no connections inside a layer and none between :math:`v` and
:math:`h^2`, so the graph is bipartite between the *odd* layer :math:`h^1` and
the *even* layers :math:`(v, h^2)`: given :math:`h^1` the units of :math:`v` and
:math:`h^2` are all independent, and given :math:`(v, h^2)` the units of
:math:`h^1` are. Summing out either side is closed form
(:func:`outer_free_energy`, :func:`hidden1_free_energy`), and the DBM *is* a
Bernoulli RBM whose "visible" layer is :math:`(v, h^2)` and whose hidden layer
is :math:`h^1` (:func:`as_bipartite_rbm`), which is how its partition function
is estimated and enumerated.

Inference of :math:`p(h^1, h^2 \mid v)` is intractable; :func:`mean_field`
finds the fully factorised :math:`q(h^1, h^2) = \prod_j q(h^1_j) \prod_k q(h^2_k)`
that minimises :math:`\mathrm{KL}(q \,\|\, p(\cdot \mid v))` by coordinate ascent
on its fixed-point equations (Salakhutdinov & Hinton 2009, section 3), and
:func:`variational_free_energy` is the matching upper bound on the free energy
:math:`F(v) = -\log \sum_{h^1, h^2} e^{-E(v, h^1, h^2)}`.

:func:`mean_field_fixed_point` runs the same iteration with damping and a
convergence test, and reports how many iterations it took.

The *centered* DBM (Montavon & Müller 2012; Melchior, Fischer & Wiskott 2016)
writes the same family of distributions with every layer shifted by an offset,
:math:`E_c = -(v-\mu)^\top W_1 (h^1-\lambda^1) - (h^1-\lambda^1)^\top W_2 (h^2-\lambda^2)
- b_c^\top (v-\mu) - c_{1c}^\top (h^1-\lambda^1) - c_{2c}^\top (h^2-\lambda^2)`
(:func:`centered_joint_energy`); :func:`from_centered` and :func:`to_centered`
convert between its parameters and the ordinary ones (the two energies differ by
a constant, so the distributions are the same).

Every function broadcasts over leading batch dimensions: ``v`` of shape
``(*batch, D)`` gives energies of shape ``(*batch,)``.

References
----------
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
Montavon, G. & Müller, K.-R. (2012). Deep Boltzmann machines and the centering
trick. In *Neural Networks: Tricks of the Trade*, 2nd ed., LNCS 7700.
Melchior, J., Fischer, A. & Wiskott, L. (2016). How to center deep Boltzmann
machines. *JMLR* 17(99).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm

__all__ = [
    "DBMParams",
    "MeanField",
    "init_params",
    "validate_visible",
    "validate_state",
    "joint_energy",
    "hidden1_logits",
    "visible_logits",
    "hidden2_logits",
    "outer_free_energy",
    "hidden1_free_energy",
    "as_bipartite_rbm",
    "mean_field_init",
    "mean_field",
    "MeanFieldResult",
    "mean_field_fixed_point",
    "DBMOffsets",
    "centered_joint_energy",
    "to_centered",
    "from_centered",
    "binary_entropy",
    "variational_free_energy",
]


class DBMParams(NamedTuple):
    """Parameters of a two-layer DBM.

    Attributes
    ----------
    W1
        Visible-to-first-hidden weights, shape ``(D, K1)``.
    W2
        First-to-second-hidden weights, shape ``(K1, K2)``.
    b
        Visible biases, shape ``(D,)``.
    c1
        First hidden layer biases, shape ``(K1,)``.
    c2
        Second hidden layer biases, shape ``(K2,)``.
    """

    W1: Float[Array, "visible hidden1"]
    W2: Float[Array, "hidden1 hidden2"]
    b: Float[Array, " visible"]
    c1: Float[Array, " hidden1"]
    c2: Float[Array, " hidden2"]

    @property
    def n_visible(self) -> int:
        return self.W1.shape[0]

    @property
    def n_hidden1(self) -> int:
        return self.W1.shape[1]

    @property
    def n_hidden2(self) -> int:
        return self.W2.shape[1]


class MeanField(NamedTuple):
    r"""Means of the factorised posterior :math:`q(h^1, h^2 \mid v)`.

    hidden1
        :math:`\mu^1_j = q(h^1_j = 1)`, shape ``(*batch, K1)``.
    hidden2
        :math:`\mu^2_k = q(h^2_k = 1)`, shape ``(*batch, K2)``.
    """

    hidden1: Float[Array, "*batch hidden1"]
    hidden2: Float[Array, "*batch hidden2"]


def init_params(
    rng_key: PRNGKeyArray,
    n_visible: int,
    n_hidden1: int,
    n_hidden2: int,
    data: Float[Array, "n visible"] | None = None,
    weight_scale: float = 0.01,
    dtype=jnp.float32,
) -> DBMParams:
    """Small random weights ``N(0, weight_scale^2)``, zero hidden biases, and visible
    biases at the logits of the data's base rates (zero without ``data``), as for
    :func:`numpyro_ebm.energies.bernoulli_rbm.init_params`. In practice a DBM is
    initialised by greedy pretraining (:func:`numpyro_ebm.learning.dbm.greedy_pretrain`)."""
    key1, key2 = jax.random.split(rng_key)
    rbm = bernoulli_rbm.init_params(key1, n_visible, n_hidden1, data, weight_scale, dtype)
    W2 = weight_scale * jax.random.normal(key2, (n_hidden1, n_hidden2), dtype=dtype)
    return DBMParams(rbm.W, W2, rbm.b, rbm.c, jnp.zeros((n_hidden2,), dtype))


def validate_visible(params: DBMParams, v, name: str = "v"):
    """Check that ``v`` is a finite, binary, float array with ``D`` columns."""
    v = _checks.check_array(v, name)
    _checks.check_last_dim(v, params.W1.shape[0], name, "visible units")
    _checks.check_binary(v, name)
    return v


def validate_state(params: DBMParams, v, h1, h2, name: str = "state"):
    """Check a full configuration ``(v, h1, h2)``: binary floats of matching widths and
    the same leading (batch) shape."""
    v = validate_visible(params, v, f"{name}.visible")
    checked = [v]
    for value, size, field in (
        (h1, params.W1.shape[1], "hidden1"),
        (h2, params.W2.shape[1], "hidden2"),
    ):
        value = _checks.check_array(value, f"{name}.{field}")
        _checks.check_last_dim(value, size, f"{name}.{field}", "units")
        _checks.check_binary(value, f"{name}.{field}")
        checked.append(value)
    batches = {tuple(x.shape[:-1]) for x in checked}
    if len(batches) != 1:
        raise ValueError(
            f"{name}: visible, hidden1 and hidden2 must share their leading (chain) shape; got "
            f"{[tuple(x.shape) for x in checked]}"
        )
    dtypes = {x.dtype for x in checked}
    if len(dtypes) != 1:
        raise TypeError(f"{name}: visible, hidden1 and hidden2 must share one dtype; got {dtypes}")
    return tuple(checked)


def _checked(params, v=None, h1=None, h2=None):
    """Static checks of params and inputs (type, float dtype, widths); cheap, jit-safe."""
    _checks.check_params(params, DBMParams)
    two_d = params.W1.ndim == 2 and params.W2.ndim == 2
    sizes = (params.W1.shape[0], params.W1.shape[1], params.W2.shape[1]) if two_d else (None,) * 3
    out = []
    for x, name, size, what in zip(
        (v, h1, h2),
        ("v", "h1", "h2"),
        sizes,
        ("visible units", "hidden1 units", "hidden2 units"),
        strict=True,
    ):
        out.append(None if x is None else _checks.check_input(x, name, size, what))
    return tuple(out)


def joint_energy(
    params: DBMParams,
    v: Float[Array, "*batch visible"],
    h1: Float[Array, "*batch hidden1"],
    h2: Float[Array, "*batch hidden2"],
) -> Float[Array, "*batch"]:
    """:math:`E(v, h^1, h^2) = -v^\\top W_1 h^1 - h^{1\\top} W_2 h^2 - b^\\top v - c_1^\\top h^1 - c_2^\\top h^2`.

    The energy is linear in each layer, so for a factorised distribution over the
    layers (mean field) ``joint_energy(params, v, mu1, mu2)`` is the expected energy.
    """
    v, h1, h2 = _checked(params, v, h1, h2)
    return (
        -jnp.sum((v @ params.W1) * h1, axis=-1)
        - jnp.sum((h1 @ params.W2) * h2, axis=-1)
        - v @ params.b
        - h1 @ params.c1
        - h2 @ params.c2
    )


def hidden1_logits(params: DBMParams, v, h2):
    """Logits of :math:`p(h^1_j = 1 \\mid v, h^2) = \\sigma(c_{1j} + v^\\top W_{1,:j} + W_{2,j:} h^2)`."""
    v, _, h2 = _checked(params, v=v, h2=h2)
    return v @ params.W1 + h2 @ params.W2.T + params.c1


def visible_logits(params: DBMParams, h1):
    """Logits of :math:`p(v_i = 1 \\mid h^1) = \\sigma(b_i + W_{1,i:} h^1)`."""
    _, h1, _ = _checked(params, h1=h1)
    return h1 @ params.W1.T + params.b


def hidden2_logits(params: DBMParams, h1):
    """Logits of :math:`p(h^2_k = 1 \\mid h^1) = \\sigma(c_{2k} + h^{1\\top} W_{2,:k})`."""
    _, h1, _ = _checked(params, h1=h1)
    return h1 @ params.W2 + params.c2


def outer_free_energy(
    params: DBMParams, v: Float[Array, "*batch visible"], h2: Float[Array, "*batch hidden2"]
) -> Float[Array, "*batch"]:
    """Free energy of the even layers with :math:`h^1` summed out,
    :math:`-\\log \\sum_{h^1} e^{-E} = -b^\\top v - c_2^\\top h^2 - \\sum_j \\mathrm{softplus}(c_{1j} + v^\\top W_{1,:j} + W_{2,j:} h^2)`."""
    v, _, h2 = _checked(params, v=v, h2=h2)
    return (
        -(v @ params.b)
        - (h2 @ params.c2)
        - jnp.sum(jax.nn.softplus(hidden1_logits(params, v, h2)), axis=-1)
    )


def hidden1_free_energy(
    params: DBMParams, h1: Float[Array, "*batch hidden1"]
) -> Float[Array, "*batch"]:
    """Free energy of the odd layer with :math:`v` and :math:`h^2` summed out,
    :math:`-c_1^\\top h^1 - \\sum_i \\mathrm{softplus}(b_i + W_{1,i:} h^1) - \\sum_k \\mathrm{softplus}(c_{2k} + h^{1\\top} W_{2,:k})`."""
    _, h1, _ = _checked(params, h1=h1)
    return (
        -(h1 @ params.c1)
        - jnp.sum(jax.nn.softplus(visible_logits(params, h1)), axis=-1)
        - jnp.sum(jax.nn.softplus(hidden2_logits(params, h1)), axis=-1)
    )


def as_bipartite_rbm(params: DBMParams) -> bernoulli_rbm.BernoulliRBMParams:
    r"""The DBM as a Bernoulli RBM between the even layers :math:`x = (v, h^2)` and :math:`h^1`.

    Weights :math:`\begin{pmatrix} W_1 \\ W_2^\top \end{pmatrix}` of shape
    ``(D + K2, K1)``, visible biases :math:`(b, c_2)`, hidden biases :math:`c_1`:
    its joint energy at ``(concat(v, h2), h1)`` is :math:`E(v, h^1, h^2)`, so both
    models have the same partition function, and the RBM's free energy of
    ``concat(v, h2)`` is :func:`outer_free_energy`.
    """
    return bernoulli_rbm.BernoulliRBMParams(
        jnp.concatenate([params.W1, params.W2.T], axis=0),
        jnp.concatenate([params.b, params.c2]),
        params.c1,
    )


def mean_field_init(params: DBMParams, v: Float[Array, "*batch visible"]) -> MeanField:
    r"""Bottom-up start of the mean-field iterations (Salakhutdinov & Hinton 2009, section 3.1).

    :math:`\mu^1 = \sigma(2 v^\top W_1 + c_1)`, :math:`\mu^2 = \sigma(\mu^{1\top} W_2 + c_2)`:
    doubling the bottom-up input stands in for the missing top-down input from
    :math:`h^2`, as in the greedily pretrained stack.
    """
    v, _, _ = _checked(params, v=v)
    mu1 = jax.nn.sigmoid(2 * (v @ params.W1) + params.c1)
    mu2 = jax.nn.sigmoid(hidden2_logits(params, mu1))
    return MeanField(mu1, mu2)


def mean_field(
    params: DBMParams,
    v: Float[Array, "*batch visible"],
    n_iterations: int = 10,
    init: MeanField | None = None,
) -> MeanField:
    r"""Mean-field posterior :math:`q(h^1, h^2 \mid v)` by fixed-point iteration.

    Each iteration updates the two layers in turn,

    .. math::

        \mu^1 \leftarrow \sigma(c_1 + v^\top W_1 + W_2 \mu^2), \qquad
        \mu^2 \leftarrow \sigma(c_2 + \mu^{1\top} W_2),

    which is exact coordinate ascent on the bound :math:`-`\ :func:`variational_free_energy`
    (each layer's update is the optimum given the other), so the bound never
    decreases and the iteration converges to a fixed point of both equations.

    Parameters
    ----------
    params
        The DBM.
    v
        Visible vectors, shape ``(*batch, D)`` (binary or probabilities).
    n_iterations
        Number of two-layer updates (a static Python int).
    init
        Starting means; default :func:`mean_field_init`.
    """
    if not isinstance(n_iterations, int) or n_iterations < 0:
        raise ValueError(f"n_iterations must be a non-negative int; got {n_iterations!r}")
    v, _, _ = _checked(params, v=v)
    q = mean_field_init(params, v) if init is None else MeanField(*init)
    bottom_up = v @ params.W1 + params.c1  # computed once

    def body(_, q: MeanField) -> MeanField:
        mu1 = jax.nn.sigmoid(bottom_up + q.hidden2 @ params.W2.T)
        return MeanField(mu1, jax.nn.sigmoid(hidden2_logits(params, mu1)))

    return jax.lax.fori_loop(0, n_iterations, body, q)


class MeanFieldResult(NamedTuple):
    r"""What :func:`mean_field_fixed_point` returns.

    means
        The :class:`MeanField` means after the last iteration.
    n_iterations
        Two-layer updates done (int32 scalar).
    max_change
        :math:`\max |\Delta\mu|` over the batch and both layers in the last
        iteration (``inf`` if none was done).
    """

    means: MeanField
    n_iterations: Array
    max_change: Array


def mean_field_fixed_point(
    params: DBMParams,
    v: Float[Array, "*batch visible"],
    *,
    max_iterations: int = 30,
    tolerance: float = 1e-3,
    damping: float = 0.0,
    init: MeanField | None = None,
) -> MeanFieldResult:
    r"""Damped mean-field iteration that stops at convergence.

    Each iteration updates the two layers in turn, as :func:`mean_field` does,
    but moves each only part of the way to its update:

    .. math::

        \mu^1 \leftarrow (1 - d)\,\sigma(c_1 + v^	op W_1 + W_2 \mu^2) + d\,\mu^1, \qquad
        \mu^2 \leftarrow (1 - d)\,\sigma(c_2 + \mu^{1	op} W_2) + d\,\mu^2,

    with damping :math:`d \in [0, 1)` (:math:`d = 0` is plain coordinate ascent;
    damping trades speed for robustness against oscillation when the weights are
    large, cf. Salakhutdinov & Hinton 2009, section 3). It stops when the largest
    change of any mean in the batch falls below ``tolerance``, or after
    ``max_iterations``. The fixed points are those of :func:`mean_field` whatever
    the damping. The whole batch iterates together (one matmul per layer), so the
    batch's slowest row sets the count.

    Parameters
    ----------
    params
        The DBM.
    v
        Visible vectors, shape ``(*batch, D)``.
    max_iterations
        Upper limit on the iterations (a static Python int).
    tolerance
        Stop once :math:`\max |\Delta\mu| <` ``tolerance``; 0 runs all ``max_iterations``.
    damping
        :math:`d`, the weight of the old means.
    init
        Starting means; default :func:`mean_field_init`.
    """
    if not isinstance(max_iterations, int) or max_iterations < 0:
        raise ValueError(f"max_iterations must be a non-negative int; got {max_iterations!r}")
    if not tolerance >= 0.0:
        raise ValueError(f"tolerance must be non-negative; got {tolerance}")
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must lie in [0, 1); got {damping}")
    v, _, _ = _checked(params, v=v)
    q = mean_field_init(params, v) if init is None else MeanField(*init)
    dtype = q.hidden1.dtype
    bottom_up = v @ params.W1 + params.c1  # computed once
    keep = jnp.asarray(damping, dtype)
    move = jnp.asarray(1.0 - damping, dtype)
    limit = jnp.asarray(tolerance, dtype)

    def update(new, old):
        return new if damping == 0.0 else move * new + keep * old

    def cond(carry):
        _, count, change = carry
        return (count < max_iterations) & (change >= limit)

    def body(carry):
        q, count, _ = carry
        mu1 = update(jax.nn.sigmoid(bottom_up + q.hidden2 @ params.W2.T), q.hidden1)
        mu2 = update(jax.nn.sigmoid(hidden2_logits(params, mu1)), q.hidden2)
        change = jnp.maximum(jnp.max(jnp.abs(mu1 - q.hidden1)), jnp.max(jnp.abs(mu2 - q.hidden2)))
        return MeanField(mu1, mu2), count + 1, change

    start = (q, jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, dtype))
    q, count, change = jax.lax.while_loop(cond, body, start)
    return MeanFieldResult(q, count, change)


class DBMOffsets(NamedTuple):
    r"""Offsets :math:`(\mu, \lambda^1, \lambda^2)` of a centered DBM, one per unit of each layer."""

    visible: Float[Array, " visible"]
    hidden1: Float[Array, " hidden1"]
    hidden2: Float[Array, " hidden2"]


def centered_joint_energy(
    centered: DBMParams,
    offsets: DBMOffsets,
    v: Float[Array, "*batch visible"],
    h1: Float[Array, "*batch hidden1"],
    h2: Float[Array, "*batch hidden2"],
) -> Float[Array, "*batch"]:
    r"""Energy of the centered DBM (Montavon & Müller 2012; Melchior et al. 2016, eq. 2).

    :math:`-(v-\mu)^	op W_1 (h^1-\lambda^1) - (h^1-\lambda^1)^	op W_2 (h^2-\lambda^2)
    - b_c^	op (v-\mu) - c_{1c}^	op (h^1-\lambda^1) - c_{2c}^	op (h^2-\lambda^2)`,
    with ``centered`` holding :math:`(W_1, W_2, b_c, c_{1c}, c_{2c})`. It equals
    :func:`joint_energy` of :func:`from_centered` plus a constant.
    """
    x, y, z = v - offsets.visible, h1 - offsets.hidden1, h2 - offsets.hidden2
    return joint_energy(centered, x, y, z)


def from_centered(centered: DBMParams, offsets: DBMOffsets) -> DBMParams:
    r"""The ordinary parameters of a centered DBM (the same distribution).

    :math:`b = b_c - W_1\lambda^1`, :math:`c_1 = c_{1c} - W_1^	op\mu - W_2\lambda^2`,
    :math:`c_2 = c_{2c} - W_2^	op\lambda^1`; the weights are shared.
    """
    W1, W2 = centered.W1, centered.W2
    return DBMParams(
        W1,
        W2,
        centered.b - W1 @ offsets.hidden1,
        centered.c1 - offsets.visible @ W1 - W2 @ offsets.hidden2,
        centered.c2 - offsets.hidden1 @ W2,
    )


def to_centered(params: DBMParams, offsets: DBMOffsets) -> DBMParams:
    """The centered biases of the ordinary ``params`` at ``offsets`` (inverse of
    :func:`from_centered`); moving the offsets and re-centering leaves the model unchanged."""
    W1, W2 = params.W1, params.W2
    return DBMParams(
        W1,
        W2,
        params.b + W1 @ offsets.hidden1,
        params.c1 + offsets.visible @ W1 + W2 @ offsets.hidden2,
        params.c2 + offsets.hidden1 @ W2,
    )


def binary_entropy(p: Float[Array, "*batch units"]) -> Float[Array, "*batch"]:
    """Entropy :math:`-\\sum_j [p_j \\log p_j + (1 - p_j) \\log(1 - p_j)]` of independent bits
    (zero at ``p`` = 0 or 1)."""
    return -jnp.sum(jax.scipy.special.xlogy(p, p) + jax.scipy.special.xlogy(1 - p, 1 - p), axis=-1)


def variational_free_energy(
    params: DBMParams,
    v: Float[Array, "*batch visible"],
    q: MeanField | None = None,
    n_iterations: int = 10,
) -> Float[Array, "*batch"]:
    r""":math:`\mathbb{E}_q[E(v, h^1, h^2)] - H(q) \ge F(v)`, the mean-field free energy.

    For any factorised :math:`q`, :math:`\log p(v) \ge -\mathbb{E}_q[E] + H(q) - \log Z`
    (Salakhutdinov & Hinton 2009, eq. 4), with equality iff :math:`q` is the true
    posterior; so this is an upper bound on the free energy
    :math:`F(v) = -\log \sum_{h^1,h^2} e^{-E(v,h^1,h^2)}`. ``q`` defaults to
    :func:`mean_field` with ``n_iterations`` iterations.
    """
    if q is None:
        q = mean_field(params, v, n_iterations)
    return (
        joint_energy(params, v, q.hidden1, q.hidden2)
        - binary_entropy(q.hidden1)
        - binary_entropy(q.hidden2)
    )
