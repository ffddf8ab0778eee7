"""Run a kernel for ``n_sweeps`` steps in one compiled loop: batched chains or vmapped ones.

Shared by the goodness-of-fit tests of the Gibbs kernels (``test_binary_gibbs.py``,
``test_boltzmann_gibbs.py``), which run the same sampler both ways.
"""

import jax

from numpyro_ebm.kernels import runner


def run_batched(algorithm, params, position, key, n_sweeps):
    """All chains as leading dimensions of one position; one key per sweep."""

    @jax.jit
    def run(position, key):
        state = algorithm.init(position, params)
        return runner.run_sampler(
            key,
            algorithm,
            state,
            params,
            n_sweeps,
            vmap_chains=False,
            transform=runner.final_state_only,
        )[0].position

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


def pt_target_replica_from_exact_starts(
    energy_fn, params, sampler, energy, states, betas, *, n_chains, seed, key, n_steps=20
):
    """Parallel tempering over ``sampler`` (``energy_fn -> SamplingAlgorithm``, run by
    ``parallel_tempering.tempered_sampler``) started at exact draws of every tempered
    distribution: ``energy`` (float64) of the enumerated ``states``; replica ``k`` draws
    ``n_chains`` states from ``p_k ∝ exp(-betas[k] * energy)``. Returns the beta = 1
    replica's positions after ``n_steps`` PT steps and the mean swap indicator: a kernel
    or a swap that broke invariance shows in the first at any number of steps (shared by
    the PT tests of Gibbs with gradients and DMALA)."""
    import jax.numpy as jnp
    import numpy as np
    from scipy.special import logsumexp

    from numpyro_ebm.kernels import parallel_tempering

    rng = np.random.default_rng(seed)
    start = []
    for beta in np.asarray(betas, np.float64):
        p_beta = np.exp(-beta * energy - logsumexp(-beta * energy))
        start.append(np.asarray(states)[rng.choice(len(energy), n_chains, p=p_beta)])
    start = jnp.asarray(np.stack(start), jnp.float32)  # (K, chains, D)
    pt = parallel_tempering.as_top_level_api(
        parallel_tempering.tempered_sampler(energy_fn, sampler)
    )

    @jax.jit
    def run(state, key):
        def body(state, k):
            return pt.step(k, state, params, betas)

        return jax.lax.scan(body, state, jax.random.split(key, n_steps))

    state, info = run(pt.init(start, params, betas), key)
    final = parallel_tempering.target_replica(state.replicas).position
    return final, float(np.asarray(info.is_swapped).mean())
