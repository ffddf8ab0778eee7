"""Compiled executables kept on disk (``numpyro_ebm._executable_cache``): a later process
loads instead of compiling, a bad file is compiled over, and the results are the same."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm import _executable_cache


@jax.jit
def _program(x, y):
    return jnp.tanh(x @ y).sum(0), {"doubled": x * 2}


_ARGUMENTS = (jnp.linspace(0.0, 1.0, 12).reshape(4, 3), jnp.ones((3, 2)))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMPYRO_EBM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_executable_cache, "_in_process", {})  # as in a fresh process
    # the suite's JAX compilation cache (conftest) keeps compiles over 0.1 s: on a loaded
    # machine this tiny program's compile in an earlier test crosses that, the next compile
    # is a JAX cache hit, and such executables are rightly never stored (see
    # test_an_executable_jax_loaded_from_its_own_cache_is_not_stored), so no file appears
    previous = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    yield tmp_path / "executables"
    jax.config.update("jax_enable_compilation_cache", previous)


def _compile_count(monkeypatch):
    count = []
    real = jax.stages.Lowered.compile

    def counting(self, *args, **kwargs):
        count.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(jax.stages.Lowered, "compile", counting)
    return count


def _fresh_process(monkeypatch):
    monkeypatch.setattr(_executable_cache, "_in_process", {})


def test_a_later_process_loads_the_stored_executable(cache, monkeypatch):
    compiles = _compile_count(monkeypatch)
    first = _executable_cache.compiled(_program, *_ARGUMENTS)
    assert len(compiles) == 1 and len(list(cache.glob("*.bin"))) == 1
    # the same process: no new lowering or compile
    assert _executable_cache.compiled(_program, *_ARGUMENTS) is first
    _fresh_process(monkeypatch)
    second = _executable_cache.compiled(_program, *_ARGUMENTS)
    assert len(compiles) == 1  # loaded, not compiled
    leaves = zip(
        jax.tree.leaves(first(*_ARGUMENTS)), jax.tree.leaves(second(*_ARGUMENTS)), strict=True
    )
    for a, b in leaves:
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(second(*_ARGUMENTS)[0], _program(*_ARGUMENTS)[0])


def test_a_bad_file_is_compiled_over(cache, monkeypatch):
    _executable_cache.compiled(_program, *_ARGUMENTS)
    (path,) = cache.glob("*.bin")
    good = path.read_bytes()
    compiles = _compile_count(monkeypatch)
    for bad in (good[: len(good) // 2], b"garbage", good[:40] + bytes(200) + good[240:]):
        path.write_bytes(bad)
        _executable_cache._in_process.clear()  # a fresh process
        compiles.clear()
        result = _executable_cache.compiled(_program, *_ARGUMENTS)(*_ARGUMENTS)
        np.testing.assert_allclose(result[0], _program(*_ARGUMENTS)[0])
        assert len(compiles) == 1
        assert path.read_bytes() != bad  # replaced by a good one
        _executable_cache._in_process.clear()
        _executable_cache.compiled(_program, *_ARGUMENTS)
        assert len(compiles) == 1  # which loads


def test_another_environment_or_program_gets_another_file(cache, monkeypatch):
    _executable_cache.compiled(_program, *_ARGUMENTS)
    _fresh_process(monkeypatch)
    monkeypatch.setattr(_executable_cache, "_environment", lambda: "another jax")
    _executable_cache.compiled(_program, *_ARGUMENTS)
    _executable_cache.compiled(_program, _ARGUMENTS[0], jnp.ones((3, 5)))
    assert len(list(cache.glob("*.bin"))) == 3


def test_an_executable_jax_loaded_from_its_own_cache_is_not_stored(cache, monkeypatch):
    """JAX's persistent cache hands back executables that do not survive a second
    serialisation ("Function ... not found" when the reloaded copy runs): never store one."""
    real = jax.stages.Lowered.compile

    def loaded_by_jax(self, *args, **kwargs):
        jax.monitoring.record_event("/jax/compilation_cache/cache_hits")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(jax.stages.Lowered, "compile", loaded_by_jax)
    result = _executable_cache.compiled(_program, *_ARGUMENTS)(*_ARGUMENTS)
    np.testing.assert_allclose(result[0], _program(*_ARGUMENTS)[0])
    assert not cache.exists() or not list(cache.glob("*.bin"))


@pytest.mark.parametrize("setting", ["off", "0", ""])
def test_off_writes_nothing(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("NUMPYRO_EBM_CACHE_DIR", setting)
    monkeypatch.chdir(tmp_path)
    _fresh_process(monkeypatch)
    assert _executable_cache.cache_directory() is None
    _executable_cache.compiled(_program, *_ARGUMENTS)
    assert list(tmp_path.iterdir()) == []


def test_default_directory_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMPYRO_EBM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _executable_cache.cache_directory() == tmp_path / "numpyro_ebm" / "executables"


def test_an_unwritable_directory_still_compiles(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("NUMPYRO_EBM_CACHE_DIR", str(blocker))
    _fresh_process(monkeypatch)
    result = _executable_cache.compiled(_program, *_ARGUMENTS)(*_ARGUMENTS)
    np.testing.assert_allclose(result[0], _program(*_ARGUMENTS)[0])
    assert blocker.read_text() == "not a directory"


def test_estimator_fits_the_same_with_a_loaded_epoch(cache, monkeypatch):
    pytest.importorskip("sklearn")  # the estimators need the [sklearn] extra
    from numpyro_ebm import sklearn as sklearn_module

    data = (np.random.default_rng(0).random((60, 9)) < 0.4).astype(np.float64)

    def fit():
        _executable_cache._in_process.clear()
        rbm = sklearn_module.BernoulliRBM(n_components=4, n_iter=3, random_state=0)
        return rbm.fit(data).components_

    compiled = fit()
    assert len(list(cache.glob("*.bin"))) == 1
    compiles = _compile_count(monkeypatch)
    loaded = fit()
    assert not compiles
    monkeypatch.setenv("NUMPYRO_EBM_CACHE_DIR", "off")
    np.testing.assert_array_equal(loaded, compiled)
    np.testing.assert_array_equal(fit(), compiled)


def test_programs_that_differ_only_in_a_constant_never_share_an_executable(cache, monkeypatch):
    x = jnp.arange(3.0)

    def program_adding(constant):
        return jax.jit(lambda v: v + constant)

    for value in (1.0, 2.0):
        _executable_cache._in_process.clear()  # a fresh process for each
        constant = np.full(3, value, np.float32)  # closed over: a constant of the jaxpr
        result = _executable_cache.compiled(program_adding(constant), x)(x)
        np.testing.assert_array_equal(result, x + value)
