"""The one chain runner (numpyro_ebm.kernels.runner): its key schedule, burn-in/thinning
bookkeeping, the chain-batching flag and its errors.

Every check compares the runner with a hand-written loop over the same keys, bit for bit:
nothing here is statistical (false-failure rate 0).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import rbm_gibbs, runner

N_CHAINS = 5


@pytest.fixture(scope="module")
def gibbs_problem():
    key = jax.random.key(0)
    params = bernoulli_rbm.init_params(key, 6, 3)
    params = params._replace(W=params.W + 0.5 * jax.random.normal(key, params.W.shape))
    start = (jax.random.uniform(jax.random.key(1), (N_CHAINS, 6)) < 0.5).astype(jnp.float32)
    return rbm_gibbs.as_top_level_api(), params, start


def hand_loop(sampler, state, params, keys, vmap_chains):
    """The key schedule the runner promises, written out: one key a step, split into one
    a chain for vmapped kernels."""
    positions = []
    for key in keys:  # unrolled under jit
        if vmap_chains:
            chain_keys = jax.random.split(key, N_CHAINS)
            state, _ = jax.vmap(sampler.step, in_axes=(0, 0, None))(chain_keys, state, params)
        else:
            state, _ = sampler.step(key, state, params)
        positions.append(state.position)
    return state, jnp.stack(positions)


def assert_same_bits(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def position(state, info):
    return state.position


@pytest.mark.parametrize(
    "vmap_chains, burn_in, thin",
    # the buffered path (burn-in and thinning) with the batched kernel, the plain scan with
    # it vmapped (block Gibbs takes one position as well as a batch)
    [(False, 1, 2), (True, 0, 1)],
)
def test_run_sampler_follows_the_key_schedule(gibbs_problem, vmap_chains, burn_in, thin):
    sampler, params, start = gibbs_problem
    state = runner.init_chains(sampler, start, params, vmap_chains=vmap_chains)
    n_steps = 2
    key = jax.random.key(7)
    final, history = jax.jit(
        lambda s, k: runner.run_sampler(
            k,
            sampler,
            s,
            params,
            n_steps,
            vmap_chains=vmap_chains,
            burn_in=burn_in,
            thin=thin,
            transform=position,
        )
    )(state, key)
    keys = jax.random.split(key, burn_in + n_steps)
    expected_final, visited = jax.jit(lambda s, k: hand_loop(sampler, s, params, k, vmap_chains))(
        state, keys
    )
    assert_same_bits(final, expected_final)
    assert history.shape == (n_steps // thin, N_CHAINS, start.shape[1])
    assert_same_bits(history, visited[burn_in + thin - 1 :: thin])


def test_chunks_of_run_steps_equal_one_run(gibbs_problem):
    """A caller showing progress runs consecutive slices of the keys: same draws."""
    sampler, params, start = gibbs_problem
    state = runner.init_chains(sampler, start, params, vmap_chains=False)
    key = jax.random.key(3)
    whole = runner.run_sampler(
        key, sampler, state, params, 5, vmap_chains=False, transform=runner.final_state_only
    )
    keys = jax.random.split(key, 5)
    chunked = state
    for first in (0, 4):  # the second chunk is one step: the path without a loop
        chunked, _ = runner.run_steps(
            sampler,
            chunked,
            params,
            keys[first : first + 4],
            vmap_chains=False,
            transform=runner.final_state_only,
        )
    assert whole[1] is None
    assert_same_bits(whole[0], chunked)


def test_init_chains_vmaps_or_batches(gibbs_problem):
    sampler, params, start = gibbs_problem
    vmapped = runner.init_chains(sampler, start, params, vmap_chains=True)
    one = sampler.init(start[2], params)
    assert_same_bits(jax.tree.map(lambda x: x[2], vmapped), one)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(n_steps=0), "n_steps must be an integer >= 1"),
        (dict(n_steps=2.0), "n_steps must be an integer >= 1"),
        (dict(burn_in=-1), "burn_in must be an integer >= 0"),
        (dict(thin=0), "thin must be an integer >= 1"),
        (dict(n_steps=5, thin=2), r"n_steps \(5\) must be a multiple of thin \(2\)"),
    ],
)
def test_bad_schedule_is_named(gibbs_problem, options, message):
    sampler, params, start = gibbs_problem
    state = runner.init_chains(sampler, start, params, vmap_chains=False)
    arguments = dict(n_steps=4) | options
    with pytest.raises(ValueError, match=message):
        runner.run_sampler(
            jax.random.key(0), sampler, state, params, vmap_chains=False, **arguments
        )


def test_the_flag_must_be_a_boolean(gibbs_problem):
    sampler, params, start = gibbs_problem
    with pytest.raises(TypeError, match="vmap_chains must be True"):
        runner.init_chains(sampler, start, params, vmap_chains="yes")
