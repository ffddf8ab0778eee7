"""Helpers shared by the examples that train a Bernoulli RBM on images.

Not an example itself: the scripts import it from their own directory.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import optax

from numpyro_ebm import datasets
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning import fit
from numpyro_ebm.learning.rbm import bernoulli_rbm_pcd


def load_images(mnist: str | None, use_digits: bool, seed: int):
    """``(split, image_shape, name)``: MNIST when a path is given (or NUMPYRO_EBM_MNIST is
    set and ``use_digits`` is false), else the embedded 8x8 digits."""
    path = mnist or (None if use_digits else os.environ.get(datasets.MNIST_ENV_VAR))
    if path:
        return datasets.load_mnist(path), (28, 28), "MNIST"
    return datasets.load_digits(binarize=True, seed=seed), (8, 8), "8x8 digits"


def train_rbm(rng_key, train, *, n_hidden, epochs, batch_size, learning_rate, n_chains):
    """A Bernoulli RBM trained by PCD-1 (closed-form gradients) with Adam."""
    key_init, key_fit = jax.random.split(rng_key)
    train = jnp.asarray(train)
    params = bernoulli_rbm.init_params(key_init, train.shape[1], n_hidden, data=train)
    result = fit(
        key_fit,
        params,
        train,
        bernoulli_rbm_pcd(n_chains),
        optax.adam(learning_rate),
        epochs=epochs,
        batch_size=batch_size,
        energy_fn=bernoulli_rbm.free_energy,
        validate_data=lambda x: bernoulli_rbm.validate_visible(params, x, "data"),
        progress=False,
    )
    return result.params
