"""Strict settings for the whole suite, in the spirit of Equinox's.

- dtype promotion is strict, so an accidental float64/int mix is an error;
- warnings are errors (see ``filterwarnings`` in pyproject.toml);
- every statistical test uses fixed seeds and states its false-failure rate.
"""

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    return jax.random.key(0)
