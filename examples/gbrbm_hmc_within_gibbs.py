"""A Gaussian-Bernoulli RBM sampled by NumPyro's HMCGibbs: NUTS on v, exact Gibbs on h.

The hidden marginal p(h) of a small RBM is known exactly (the visible Gaussians
integrate in closed form), so the sampler's hidden-configuration frequencies and its
mean of v are printed next to the exact values, with ArviZ-style diagnostics from
NumPyro's summary.

Run: ``python examples/gbrbm_hmc_within_gibbs.py``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS, HMCGibbs

from numpyro_ebm.energies import gaussian_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import numpyro_gibbs


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visible", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    params = gaussian_rbm.init_params(
        jax.random.key(args.seed), args.visible, args.hidden, weight_scale=1.0
    )
    params = params._replace(c=jnp.linspace(-1.0, 1.0, args.hidden))
    model = numpyro_gibbs.gaussian_rbm_model(params)
    kernel = HMCGibbs(
        NUTS(model), gibbs_fn=numpyro_gibbs.gaussian_rbm_hidden_gibbs_fn(params), gibbs_sites=["h"]
    )
    # NumPyro's MCMC internals rely on standard dtype promotion (int/float mixes)
    with jax.numpy_dtype_promotion("standard"):
        mcmc = MCMC(kernel, num_warmup=args.warmup, num_samples=args.samples, progress_bar=False)
        mcmc.run(jax.random.key(args.seed + 1))
    samples = mcmc.get_samples()
    h = np.asarray(samples["h"]).astype(np.int64)
    index = h @ (1 << np.arange(args.hidden))
    frequencies = np.bincount(index, minlength=2**args.hidden) / len(index)

    states, log_p = exact.log_probabilities_binary(
        gaussian_rbm.hidden_free_energy, params, args.hidden
    )
    p_h = np.exp(log_p)
    exact_mean_v = p_h @ np.asarray(
        gaussian_rbm.visible_mean(params, jnp.asarray(states, jnp.float32))
    )
    print(f"{'h':>{args.hidden + 2}s} {'HMCGibbs':>9s} {'exact':>8s}")
    for i, state in enumerate(states.astype(int)):
        print(f"{''.join(map(str, state)):>{args.hidden + 2}s} {frequencies[i]:9.4f} {p_h[i]:8.4f}")
    mean_v = np.asarray(samples["v"]).mean(axis=0)
    print("E[v] HMCGibbs:", np.round(mean_v, 3), " exact:", np.round(exact_mean_v, 3))
    total_variation = 0.5 * np.abs(frequencies - p_h).sum()
    print(f"total variation distance of p(h): {total_variation:.4f}")
    return {
        "total_variation": float(total_variation),
        "mean_v": mean_v.tolist(),
        "exact_mean_v": exact_mean_v.tolist(),
    }


if __name__ == "__main__":
    main()
