r"""The up-pass of a deep belief network: its features, or a sample of its recognition distribution.

Sampling sits here, with the Bernoulli draws of the Gibbs kernels, so that the
DBN model in :mod:`numpyro_ebm.energies.dbn` stays closed-form; learning
(:mod:`numpyro_ebm.learning.dbn`, which re-exports :func:`up_pass`) and
evaluation (:mod:`numpyro_ebm.evaluation.deep`) both use it.
"""

from __future__ import annotations

import jax
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.energies.dbn import DBNParams, up_probabilities
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = ["up_pass"]


def up_pass(
    params: DBNParams, v: Float[Array, "*batch visible"], rng_key: PRNGKeyArray | None = None
) -> tuple[Float[Array, "*batch units"], ...]:
    r"""Features: the hidden activities of every layer, bottom first.

    Without ``rng_key``: deterministic probabilities,
    :math:`\mu^l = \sigma(c^{(l)} + \mu^{l-1\top} W^{(l)})` with :math:`\mu^0 = v`
    (the usual features, :func:`numpyro_ebm.energies.dbn.up_probabilities`). With
    ``rng_key``: a sample of the factorial recognition distribution,
    :math:`h^l \sim \sigma(c^{(l)} + h^{l-1\top} W^{(l)})` layer by layer (binary
    arrays).
    """
    if rng_key is None:
        return up_probabilities(params, v)
    v = _checks.check_array(v, "v")
    _checks.check_last_dim(v, params.layers[0].W.shape[0], "v", "visible units")
    outputs, below = [], v
    for index, rbm in enumerate(params.layers):
        logits = bernoulli_rbm.hidden_logits(rbm, below)
        below = bernoulli_from_logits(jax.random.fold_in(rng_key, index), logits, v.dtype)
        outputs.append(below)
    return tuple(outputs)
