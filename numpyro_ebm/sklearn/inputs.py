"""scikit-learn's inputs as JAX's: arrays on the device in the working dtype, and keys from
``random_state``."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

__all__ = [
    "working_dtype",
    "to_jax",
    "device",
    "seed_of",
    "FIT",
    "SCORE",
    "GIBBS",
    "SAMPLE",
    "PARTIAL",
    "CD_HIDDEN",
    "key",
    "entropy",
    "initial_weights",
    "to_numpy",
    "to_jax_tree",
]


def working_dtype():
    """float32, or float64 when JAX's x64 mode is on."""
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


def to_jax(X):
    """A dense, finite numpy array (already validated) as a JAX array in the working dtype."""
    if sp.issparse(X):
        X = X.toarray()
    return device(np.asarray(X, dtype=working_dtype()))


def device(array):
    """A numpy array on the default device: ``jax.device_put``, which (unlike
    ``jnp.asarray`` in this JAX) compiles nothing, not even once per shape."""
    return jax.device_put(np.asarray(array))


def seed_of(random_state) -> int:
    """An integer seed for JAX from a scikit-learn ``random_state`` (int, RandomState or None)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state) % (2**32)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# purposes of the keys derived from one seed
FIT, SCORE, GIBBS, SAMPLE, PARTIAL, CD_HIDDEN = range(6)


def key(seed: int, purpose: int, count: int = 0):
    """An independent JAX key for each (seed, purpose, count).

    Derived on the host (numpy's ``SeedSequence``) rather than with
    ``jax.random.fold_in``: the estimators make a few keys per call, and each JAX key
    operation would be one more XLA compilation on first use.
    """
    return jax.random.key(int(entropy(seed, purpose, count)))


def entropy(seed: int, purpose: int, count: int = 0) -> np.uint32:
    """The 32 bits behind :func:`key` (to make the key inside a compiled function)."""
    return np.random.SeedSequence([seed, purpose, count]).generate_state(1)[0]


def initial_weights(seed: int, n_components: int, n_features: int, dtype):
    """scikit-learn's initial ``components_``: ``RandomState(seed).normal(0, 0.01, (K, D))``.

    With the same int ``random_state`` the initial weights are scikit-learn's, exactly.
    Returned as ``W`` (visible by hidden), in ``dtype``.
    """
    rng = np.random.RandomState(seed)
    return device(rng.normal(0, 0.01, (n_components, n_features)).T.astype(dtype))


def to_numpy(tree):
    """Every leaf as a numpy array (what the estimators keep: picklable)."""
    return jax.tree.map(np.asarray, tree)


def to_jax_tree(tree):
    """Every leaf on the default device (see :func:`device`)."""
    return jax.tree.map(device, tree)
