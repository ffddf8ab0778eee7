"""Strict settings for the whole suite, in the spirit of Equinox's.

- dtype promotion is strict for every test, so an accidental float64/int mix
  in our code is an error (rank promotion stays allowed: energies broadcast
  over batch dimensions). Tests that drive third-party code which itself relies
  on standard promotion (Optax's Adam computes ``decay ** count`` with an int
  count) are marked ``@pytest.mark.standard_promotion`` and say which code needs it;
- warnings are errors (see ``filterwarnings`` in pyproject.toml);
- every statistical test uses fixed seeds and states its false-failure rate.

One XLA compilation cache serves the whole run: the xdist workers and the
subprocesses the tests start (CLI, kill-and-resume, multi-device checks) read
and write the same directory inside this run's pytest temporary directory, so a
computation compiled once is loaded, not compiled again, by every other process
and by every fresh ``jax.jit`` of the same function. It starts empty in every
run (nothing carries over from an earlier one), so a fresh clone times the same.
``NUMPYRO_EBM_TEST_COMPILATION_CACHE=off`` turns it off (to time or debug without it).
The estimators' own on-disk executables (``numpyro_ebm._executable_cache``) go to the
same temporary directory (``NUMPYRO_EBM_CACHE_DIR``), never to the user's ``~/.cache``.
"""

import os

import jax
import pytest

# set by the controller (see pytest_configure) and inherited by workers and subprocesses
_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin has made its factory
def pytest_configure(config):
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has set it up
        return
    # the estimators' on-disk executables (numpyro_ebm._executable_cache) go to this
    # run's temporary directory, never to the user's ~/.cache
    executables = config._tmp_path_factory.getbasetemp() / "numpyro-ebm-cache"
    os.environ.setdefault("NUMPYRO_EBM_CACHE_DIR", str(executables))
    if os.environ.get("NUMPYRO_EBM_TEST_COMPILATION_CACHE") == "off":
        return
    directory = config._tmp_path_factory.getbasetemp() / "jax-compilation-cache"
    directory.mkdir(exist_ok=True)
    os.environ[_CACHE_ENV] = str(directory)
    # not only the slow compiles (JAX's default threshold is 1 s): most of the suite's
    # programs compile in under a second, many of them again in another worker, in a
    # subprocess or by a new jit of the same function; below 0.1 s a write costs as much
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.1"
    _use_compilation_cache()


def _use_compilation_cache():
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs",
        float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
    )


if os.environ.get("PYTEST_XDIST_WORKER") and _CACHE_ENV in os.environ:
    _use_compilation_cache()


@pytest.fixture(autouse=True)
def _dtype_promotion(request):
    mode = "standard" if request.node.get_closest_marker("standard_promotion") else "strict"
    with jax.numpy_dtype_promotion(mode):
        yield


@pytest.fixture
def key():
    return jax.random.key(0)
