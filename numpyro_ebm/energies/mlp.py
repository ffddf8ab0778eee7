r"""An energy computed by a multilayer perceptron with deterministic hidden units.

.. math::

    h_0 = x, \qquad h_l = \operatorname{softplus}(h_{l-1} W_l + b_l)\ (l = 1..L), \qquad
    E(x) = h_L w_{\text{out}} + b_{\text{out}},

"energy-based models with deterministic hidden units": hidden activities
contribute additively to the global energy, familiar features help and violated
constraints hurt (Hinton, lecture 3b).

Non-linearity: **softplus**, :math:`\log(1 + e^a)`. It is smooth (:math:`C^\infty`),
so gradient-based samplers (HMC/NUTS, MALA) and score matching, which needs
second derivatives of :math:`E` in :math:`x`, see well-behaved derivatives; its
first and second derivatives (sigmoid and its derivative) are bounded, so
:math:`\nabla_x E` is globally Lipschitz and never explodes far from the data;
and it is the non-linearity that appears in the free energy of an RBM
(:func:`numpyro_ebm.energies.bernoulli_rbm.free_energy`), so a one-hidden-layer
MLP energy with readout weights :math:`-1` *is* an RBM-style free energy. (Swish
would also be smooth, but it is non-monotone and has no such reading.)

Normalisability is not automatic: :math:`e^{-E}` is integrable only if :math:`E`
grows faster than :math:`D \log\lVert x\rVert`, and a softplus MLP grows at most
linearly in :math:`x`. On unbounded spaces add a confining term, which is just
another energy::

    def energy_fn(params, x):
        return mlp.energy(params, x) + 0.5 * jnp.sum(jnp.square(x), axis=-1) / 3.0**2

Any user function ``energy_fn(params, x) -> (*batch,)`` is first-class in this
library, exactly like the built-in energies: :func:`numpyro_ebm.potentials.log_density_fn`
and :func:`numpyro_ebm.potentials.potential_fn` turn it into a BlackJAX log
density or a NumPyro potential, :class:`numpyro_ebm.potentials.UnnormalizedEnergy`
makes it a NumPyro sample site, and the kernels that wrap BlackJAX samplers take
it as is.

References
----------
Hinton, G. E. CSC2535 lecture 3b: energy-based models with deterministic hidden
units; learning constraints.
Teh, Y. W., Welling, M., Osindero, S. & Hinton, G. E. (2003). Energy-based models
for sparse overcomplete representations. *JMLR* 4.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks

__all__ = ["DenseParams", "MLPParams", "init_params", "validate_input", "energy"]


class DenseParams(NamedTuple):
    """One affine layer ``h @ W + b``.

    Attributes
    ----------
    W
        Weights, shape ``(fan_in, fan_out)``.
    b
        Biases, shape ``(fan_out,)``.
    """

    W: Float[Array, "fan_in fan_out"]
    b: Float[Array, " fan_out"]


class MLPParams(NamedTuple):
    """Parameters of an MLP energy: a tuple of :class:`DenseParams` layers.

    Attributes
    ----------
    layers
        ``L`` hidden layers followed by the linear readout (``fan_out = 1``). A
        pytree, so ``jax.grad``, ``optax`` and ``jax.tree.map`` work on it directly.
    """

    layers: tuple[DenseParams, ...]

    @property
    def dim(self) -> int:
        return self.layers[0].W.shape[0]


def init_params(rng_key: PRNGKeyArray, layer_sizes: Sequence[int], dtype=jnp.float32) -> MLPParams:
    """Fan-in scaled initialisation (LeCun): weights ``N(0, 1/fan_in)``, zero biases.

    Parameters
    ----------
    layer_sizes
        ``(D, H_1, ..., H_L)``: the input dimension and the width of each hidden
        layer. The scalar readout layer ``H_L -> 1`` is added automatically.
    """
    try:
        sizes = tuple(operator.index(n) for n in layer_sizes)
    except TypeError:
        raise TypeError(f"layer_sizes must be integers; got {tuple(layer_sizes)}") from None
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes must be (D, H_1, ..., H_L) with at least one hidden layer; got {sizes}"
        )
    if not all(n >= 1 for n in sizes):
        raise ValueError(f"layer_sizes must be positive integers; got {sizes}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating-point type; got {dtype}")
    sizes = sizes + (1,)
    shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
    # one draw for all weights, then sliced: a single sampler to compile, whatever the depth
    flat = jax.random.normal(rng_key, (sum(n_in * n_out for n_in, n_out in shapes),), dtype)
    layers, start = [], 0
    for n_in, n_out in shapes:
        W = flat[start : start + n_in * n_out].reshape(n_in, n_out) / math.sqrt(n_in)
        layers.append(DenseParams(W, jnp.zeros((n_out,), dtype=dtype)))
        start += n_in * n_out
    return MLPParams(tuple(layers))


def validate_input(params: MLPParams, x, name: str = "x"):
    """Check that ``x`` is a finite float array with ``D`` columns."""
    x = _checks.check_array(x, name)
    return _checks.check_last_dim(x, params.dim, name, "dimensions")


def _affine(layer: DenseParams, h):
    b = jnp.reshape(layer.b, (1,) * (h.ndim - 1) + layer.b.shape)
    return h @ layer.W + b


def energy(params: MLPParams, x: Float[Array, "*batch dim"]) -> Float[Array, "*batch"]:
    """:math:`E(x)`, one scalar per example; ``x`` of shape ``(*batch, D)`` gives ``(*batch,)``."""
    _checks.check_params(params, MLPParams)
    x = _checks.check_array(x, "x", finite=False)
    _checks.check_last_dim(x, params.dim, "x", "dimensions")
    h = x
    for layer in params.layers[:-1]:
        h = jax.nn.softplus(_affine(layer, h))
    return _affine(params.layers[-1], h)[..., 0]
