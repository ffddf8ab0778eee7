"""Run a kernel for ``n_sweeps`` steps in one compiled loop: batched chains or vmapped ones.

Shared by the goodness-of-fit tests of the Gibbs kernels (``test_binary_gibbs.py``,
``test_boltzmann_gibbs.py``), which run the same sampler both ways.
"""

import jax


def run_batched(algorithm, params, position, key, n_sweeps):
    """All chains as leading dimensions of one position; one key per sweep."""

    @jax.jit
    def run(position, key):
        state = algorithm.init(position, params)

        def body(state, k):
            return algorithm.step(k, state, params)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, n_sweeps))[0].position

    algorithm.init(position, params)  # validate concrete input outside jit
    return run(position, key)


def run_vmapped(algorithm, params, positions, key, n_sweeps):
    """One chain per vmapped lane with its own key stream."""

    @jax.jit
    def run(positions, keys):
        def one_chain(position, key):
            state = algorithm.init(position, params)

            def body(state, k):
                return algorithm.step(k, state, params)[0], None

            return jax.lax.scan(body, state, jax.random.split(key, n_sweeps))[0].position

        return jax.vmap(one_chain)(positions, keys)

    return run(positions, jax.random.split(key, positions.shape[0]))
