"""Run the shared kernel contract over every registered kernel spec."""

import importlib
import pkgutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tests.kernels as kernel_tests


def _collect_specs():
    specs = []
    for module in pkgutil.iter_modules(kernel_tests.__path__):
        if module.name.startswith("specs_"):
            specs.extend(importlib.import_module(f"tests.kernels.{module.name}").SPECS)
    return specs


SPECS = _collect_specs()
IDS = [spec.name for spec in SPECS]


def _leaves_info(tree):
    return [(leaf.shape, leaf.dtype) for leaf in jax.tree.leaves(tree)]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_jit_step_structure_purity_and_no_retrace(spec):
    """One jitted step: it keeps the state's structure, shapes and dtypes, gives a NamedTuple
    info and a state with a finite ``.position``; the same key gives the same result; new parameter values
    reuse the compilation (learning never recompiles the sampler)."""
    algorithm = spec.make_algorithm()
    params0 = spec.make_params(jnp.float32, 0)
    params1 = spec.make_params(jnp.float32, 1)
    assert any(
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(params0), jax.tree.leaves(params1), strict=True)
    ), "the two parameter variants must differ"
    state = algorithm.init(spec.make_position(jnp.float32), params0)
    step = jax.jit(algorithm.step)
    new_state, info = step(jax.random.key(1), state, params0)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert _leaves_info(new_state) == _leaves_info(state)
    assert hasattr(info, "_fields"), "info must be a NamedTuple"
    # every state has a .position, as BlackJAX's do (the Gibbs states' visible units)
    assert hasattr(new_state, "position"), f"{type(new_state).__name__} has no .position"
    for leaf in jax.tree.leaves(spec.get_position(new_state)):
        assert np.all(np.isfinite(np.asarray(leaf)))
    again, _ = step(jax.random.key(1), state, params0)
    for x, y in zip(jax.tree.leaves(again), jax.tree.leaves(new_state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    state, _ = step(jax.random.key(2), new_state, params1)
    state, _ = step(jax.random.key(3), state, params0)
    assert step._cache_size() == 1


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_vmap_over_chains(spec):
    n_chains = 4
    algorithm = spec.make_algorithm()
    params = spec.make_params(jnp.float32, 0)
    position = spec.make_position(jnp.float32)
    positions = jax.tree.map(lambda x: jnp.stack([x] * n_chains), position)
    states = jax.vmap(algorithm.init, in_axes=(0, None))(positions, params)
    keys = jax.random.split(jax.random.key(2), n_chains)
    step = jax.jit(jax.vmap(algorithm.step, in_axes=(0, 0, None)))

    def run(states, n_steps=5):
        for i in range(n_steps):
            states, _ = step(jax.vmap(jax.random.fold_in, (0, None))(keys, i), states, params)
        return states

    states = run(states)
    for leaf in jax.tree.leaves(spec.get_position(states)):
        assert leaf.shape[0] == n_chains
        flat = np.asarray(leaf).reshape(n_chains, -1)
        # independent keys: with 5 steps the chains must not all coincide
        assert not all(np.array_equal(flat[0], flat[i]) for i in range(1, n_chains))


@pytest.mark.parametrize(
    "spec",
    [s for s in SPECS if s.supports_float64],
    ids=[s.name for s in SPECS if s.supports_float64],
)
def test_float64_preserved(spec):
    with jax.enable_x64(True):
        algorithm = spec.make_algorithm()
        params = spec.make_params(jnp.float64, 0)
        state = algorithm.init(spec.make_position(jnp.float64), params)
        new_state, _ = jax.jit(algorithm.step)(jax.random.key(1), state, params)
        for leaf in jax.tree.leaves(spec.get_position(new_state)):
            assert leaf.dtype == jnp.float64
