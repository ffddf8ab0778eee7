"""Exact log Z of Potts RBMs (hidden layer enumerated) against brute enumeration of the
sequences, and AIS through the generic annealing code against it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm.energies import potts, potts_rbm
from numpyro_ebm.evaluation import annealing
from numpyro_ebm.evaluation import potts as potts_eval
from numpyro_ebm.kernels import potts_gibbs

L, Q, K = 4, 3, 3


def _rbm(dtype=jnp.float32):
    rng = np.random.default_rng(21)
    return potts_rbm.PottsRBMParams(
        jnp.asarray(rng.standard_normal((L, Q, K)), dtype),
        jnp.asarray(rng.standard_normal((L, Q)), dtype),
        jnp.asarray(rng.standard_normal(K), dtype),
    )


def _free_energy(params, v):
    return potts_rbm.free_energy(params, v, "codes")


def _potts_energy(params, v):
    return potts.energy(params, v, "codes")


def test_exact_log_partition_matches_brute_enumeration():
    params = _rbm()
    exact = potts_eval.log_partition_potts_rbm(params)
    brute = potts_eval.log_partition_categorical(_free_energy, params, L, Q)
    assert abs(exact - brute) < 1e-10
    codes = np.array(np.unravel_index(np.arange(Q**L), (Q,) * L)).T.astype(np.float32)
    log_likelihood = potts_eval.log_likelihood_potts_rbm(params, codes, exact)
    assert abs(np.logaddexp.reduce(log_likelihood)) < 1e-10  # a normalised distribution
    fields = jnp.asarray(np.random.default_rng(0).standard_normal((L, Q)), jnp.float32)
    independent = np.asarray(potts_eval.independent_site_log_likelihood(fields, codes), np.float64)
    assert abs(np.logaddexp.reduce(independent)) < 1e-5


def test_exact_log_partition_refuses_too_many_hidden_units():
    params = potts_rbm.init_params(jax.random.key(0), 2, 3, 21)
    with pytest.raises(ValueError, match="K = 21 > max_hidden = 20"):
        potts_eval.log_partition_potts_rbm(params)


def _sampler(fn):
    return potts_gibbs.as_top_level_api(fn, Q)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["potts_rbm", "potts"])
def test_ais_through_the_annealing_code_matches_exact(model):
    """AIS (200 runs, 300 temperatures, single-site Gibbs transitions) from the
    independent-site base: the exact log Z lies inside the estimate's ±3σ interval widened
    by 0.05 nats (a correct estimator misses with probability about 0.3%; the seed is fixed)."""
    if model == "potts_rbm":
        params, energy_fn = _rbm(), _free_energy
        exact = potts_eval.log_partition_potts_rbm(params)
    else:
        rng = np.random.default_rng(5)
        params = potts.PottsParams(
            jnp.asarray(rng.standard_normal((L, Q)), jnp.float32),
            potts.symmetrize(jnp.asarray(0.7 * rng.standard_normal((L, Q, L, Q)), jnp.float32)),
        )
        energy_fn = _potts_energy
        exact = potts_eval.log_partition_categorical(energy_fn, params, L, Q)
    base = potts_eval.CategoricalBase(jnp.zeros((L, Q), jnp.float32))
    result = annealing.ais(
        jax.random.key(0),
        energy_fn,
        params,
        base,
        _sampler,
        n_runs=200,
        n_temperatures=300,
        vmap_chains=False,
    )
    low, high = (float(x) for x in result.interval)
    assert low - 0.05 <= exact <= high + 0.05, (exact, float(result.log_z), low, high)


@pytest.mark.slow
def test_ais_with_block_gibbs_transitions_matches_exact():
    """AIS with the Potts RBM's block-Gibbs sweep as transition, from a data-free uniform
    base, and RAISE with the same sampler: the exact log Z lies inside AIS's ±3σ interval
    widened by 0.05 nats (a correct estimator misses with probability about 0.3%; the seed
    is fixed), and RAISE's estimate of the mean log-likelihood of exact samples does not
    exceed the exact value by more than 0.1 nats (it is a stochastic lower bound)."""
    from numpyro_ebm.kernels import potts_rbm_gibbs

    params = _rbm()
    exact = potts_eval.log_partition_potts_rbm(params)
    base_logits = jnp.zeros((L, Q), jnp.float32)
    sampler = potts_rbm_gibbs.annealing_sampler(base_logits)
    base = potts_eval.CategoricalBase(base_logits)
    result = annealing.ais(
        jax.random.key(0),
        _free_energy,
        params,
        base,
        sampler,
        n_runs=200,
        n_temperatures=300,
        vmap_chains=False,
    )
    low, high = (float(x) for x in result.interval)
    assert low - 0.05 <= exact <= high + 0.05, (exact, float(result.log_z), low, high)
    data = result.samples[:20]
    raise_result = annealing.reverse_ais(
        jax.random.key(1),
        _free_energy,
        params,
        base,
        sampler,
        data,
        n_temperatures=300,
        vmap_chains=False,
    )
    exact_ll = potts_eval.log_likelihood_potts_rbm(params, data, exact)
    assert float(raise_result.mean) <= float(np.mean(exact_ll)) + 0.1
