"""Recipes the MNIST scripts share: their SGD schedule and their parameter files.

``python -m bench.mnist_dbm`` and ``python -m bench.mnist_dbn`` train with
:func:`sgd_with_momentum_ramp`; every MNIST script writes and reads its parameters
with :func:`save_params` / :func:`load_params` (an ``.npz`` with one array per field
of the parameters' NamedTuple, e.g. ``W``, ``b``, ``c`` of a Bernoulli RBM).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning.regularizers import momentum_schedule, weight_decay

__all__ = ["load_params", "load_rbm", "save_params", "save_rbm", "sgd_with_momentum_ramp"]


def sgd_with_momentum_ramp(
    lr: float,
    final_fraction: float,
    momentum: float,
    decay: float,
    steps_per_epoch: int,
    epochs: int,
) -> optax.GradientTransformation:
    """SGD whose learning rate decays linearly from ``lr`` to ``lr * final_fraction``
    over ``epochs``, with momentum ramped from 0.5 to ``momentum`` over the first five
    epochs (Hinton 2010, "A practical guide to training restricted Boltzmann
    machines", section 9) and, when ``decay`` is not zero, L2 weight decay of every
    weight matrix (:func:`~numpyro_ebm.learning.regularizers.weight_decay`: a DBM's
    ``W1`` and ``W2`` too, never the biases)."""
    steps = max(1, epochs * steps_per_epoch)
    schedule = optax.linear_schedule(lr, lr * final_fraction, steps)
    # no decay, no transform: the optimizer state of a run without decay keeps its layout
    chain = [] if decay == 0 else [weight_decay(decay)]
    chain.append(
        optax.inject_hyperparams(optax.sgd)(
            learning_rate=schedule, momentum=momentum_schedule(0.5, momentum, 5 * steps_per_epoch)
        )
    )
    return optax.chain(*chain)


def save_params(path, params) -> None:
    """``params`` (a NamedTuple of arrays) as a compressed ``.npz``, one array per field."""
    np.savez_compressed(path, **{k: np.asarray(v) for k, v in params._asdict().items()})


def load_params(path, params_type, dtype=None):
    """A ``params_type`` NamedTuple from an ``.npz`` of :func:`save_params` (or any
    file with an array per field), its arrays as JAX arrays (cast to ``dtype`` if given)."""
    with np.load(path) as arrays:
        missing = [k for k in params_type._fields if k not in arrays]
        if missing:
            raise ValueError(
                f"{path} has no {', '.join(missing)}: not a saved {params_type.__name__} "
                f"(it holds {', '.join(arrays.files)})"
            )
        return params_type(*(jnp.asarray(arrays[k], dtype) for k in params_type._fields))


def save_rbm(path, params: bernoulli_rbm.BernoulliRBMParams) -> None:
    """A Bernoulli RBM's ``W``, ``b``, ``c`` as a compressed ``.npz``."""
    save_params(path, params)


def load_rbm(path, dtype=None) -> bernoulli_rbm.BernoulliRBMParams:
    """A Bernoulli RBM from an ``.npz`` with ``W``, ``b`` and ``c``."""
    return load_params(path, bernoulli_rbm.BernoulliRBMParams, dtype)
