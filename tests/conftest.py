"""Strict settings for the whole suite, in the spirit of Equinox's.

- dtype promotion is strict for every test, so an accidental float64/int mix
  in our code is an error (rank promotion stays allowed: energies broadcast
  over batch dimensions). Tests that drive third-party code which itself relies
  on standard promotion (Optax's Adam computes ``decay ** count`` with an int
  count) are marked ``@pytest.mark.standard_promotion`` and say which code needs it;
- warnings are errors (see ``filterwarnings`` in pyproject.toml);
- every statistical test uses fixed seeds and states its false-failure rate.
"""

import jax
import pytest


@pytest.fixture(autouse=True)
def _dtype_promotion(request):
    mode = "standard" if request.node.get_closest_marker("standard_promotion") else "strict"
    with jax.numpy_dtype_promotion(mode):
        yield


@pytest.fixture
def key():
    return jax.random.key(0)
