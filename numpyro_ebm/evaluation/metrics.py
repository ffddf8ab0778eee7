"""Likelihood-type metrics that need no partition function.

- :func:`pseudo_log_likelihood`: the exact pseudo-log-likelihood of binary data,
  over *all* bits (scikit-learn's ``score_samples`` flips one random bit and
  scales by ``D``, a noisy estimate of this quantity).
- :func:`bernoulli_rbm_pseudo_log_likelihood`: the same for a Bernoulli RBM,
  with one matmul for all ``D`` flips.
- :func:`bernoulli_rbm_reconstruction_error`: mean-field reconstruction error.

References
----------
Besag, J. (1975). Statistical analysis of non-lattice data. *The Statistician* 24(3).
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines,
section 5 (reconstruction error, and why it is a poor guide on its own).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm.energies import bernoulli_rbm

__all__ = [
    "pseudo_log_likelihood",
    "bernoulli_rbm_pseudo_log_likelihood",
    "bernoulli_rbm_reconstruction_error",
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
