r"""Deep belief networks as a model: the stack of RBMs, its features, and tied-copies RBMs.

A DBN with layers :math:`v = h^0, h^1, \dots, h^L` is the directed model

.. math::

    p(v, h^1, \dots, h^L) = p(h^{L-1}, h^L) \prod_{l=1}^{L-1} p(h^{l-1} \mid h^l),
    \qquad p(h^{l-1}_i = 1 \mid h^l) = \sigma(b^{(l)}_i + W^{(l)}_{i:} h^l),

whose top two layers form an RBM (Hinton, Osindero & Teh 2006), held as
:class:`DBNParams`. :func:`up_probabilities` computes the deterministic
features (the recognition probabilities layer by layer, with the generative
weights transposed); a *sample* of the recognition distribution is
:func:`numpyro_ebm.learning.dbn.up_pass` with a key. :func:`copies_free_energy`
is the free energy of an RBM whose units come in tied copies (the greedy
pretraining of deep Boltzmann machines, Salakhutdinov & Hinton 2009).
Training lives in :mod:`numpyro_ebm.learning.dbn`, bounds on the
log-likelihood in :mod:`numpyro_ebm.evaluation.deep`.

References
----------
Hinton, G. E., Osindero, S. & Teh, Y.-W. (2006). A fast learning algorithm for
deep belief nets. *Neural Computation* 18(7).
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm

__all__ = ["DBNParams", "up_probabilities", "copies_free_energy"]


class DBNParams(NamedTuple):
    """A DBN as its stack of RBMs, bottom first.

    layers
        ``layers[l]`` is the RBM between :math:`h^l` and :math:`h^{l+1}`
        (:math:`h^0 = v`); ``layers[-1]`` is the top, undirected RBM. The
        directed generative weights of layer ``l < L-1`` are ``layers[l].W`` with
        visible biases ``layers[l].b`` (the hidden biases ``layers[l].c`` serve
        the up-pass only).
    """

    layers: tuple[bernoulli_rbm.BernoulliRBMParams, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].W.shape[0],) + tuple(rbm.W.shape[1] for rbm in self.layers)


def up_probabilities(
    params: DBNParams, v: Float[Array, "*batch visible"]
) -> tuple[Float[Array, "*batch units"], ...]:
    r"""Features: the hidden probabilities of every layer, bottom first.

    :math:`\mu^l = \sigma(c^{(l)} + \mu^{l-1\top} W^{(l)})` with :math:`\mu^0 = v`
    (the usual features; :func:`numpyro_ebm.learning.dbn.up_pass` without a key).
    """
    v = _checks.check_array(v, "v")
    _checks.check_last_dim(v, params.layers[0].W.shape[0], "v", "visible units")
    outputs, below = [], v
    for rbm in params.layers:
        below = jax.nn.sigmoid(bernoulli_rbm.hidden_logits(rbm, below))
        outputs.append(below)
    return tuple(outputs)


def copies_free_energy(
    params: bernoulli_rbm.BernoulliRBMParams,
    visible_counts: Float[Array, "*batch visible"],
    hidden_copies: int = 1,
) -> Float[Array, "*batch"]:
    r"""Free energy of the tied-copies RBM as a function of the visible counts.

    With :math:`r` tied copies of the visible units and :math:`s` of the hidden
    units, :math:`E = -\sum_{r,s} v^{(r)\top} W h^{(s)} - b^\top \sum_r v^{(r)} -
    c^\top \sum_s h^{(s)}` depends on the visible copies through their sum
    :math:`n = \sum_r v^{(r)}` only, and summing out the hidden copies gives
    :math:`F(n) = -b^\top n - s \sum_j \mathrm{softplus}(c_j + n^\top W_{:j})`
    (per configuration of the copies; the number of configurations with a given
    :math:`n` does not depend on the parameters).
    """
    return -(visible_counts @ params.b) - hidden_copies * jnp.sum(
        jax.nn.softplus(bernoulli_rbm.hidden_logits(params, visible_counts)), axis=-1
    )
