"""Checkerboard Gibbs on a 2-D Ising lattice: exact check on a small lattice, then the phase transition.

1. On a 4x4 lattice (65,536 states) the Gibbs estimates of the mean energy and of the
   mean |magnetisation| are compared with exact enumeration at several couplings.
2. On a larger lattice (default 32x32) the mean |magnetisation| is printed against the
   coupling J, rising sharply around Onsager's critical coupling J_c = log(1 + sqrt 2)/2 ≈ 0.4407.

Run: ``python examples/ising_lattice.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm.energies import lattice_ising
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import checkerboard_gibbs

CRITICAL_COUPLING = 0.5 * math.log(1 + math.sqrt(2))


def gibbs_statistics(size: int, coupling: float, chains: int, sweeps: int, seed: int):
    """Mean energy per site and mean |magnetisation| over the final states of independent chains."""
    params = lattice_ising.uniform_params((size, size), coupling=coupling, field=0.0)
    gibbs = checkerboard_gibbs.as_top_level_api(spins=True)
    start = jnp.where(
        jax.random.uniform(jax.random.key(seed), (chains, size, size)) < 0.5, 1.0, -1.0
    )

    @jax.jit
    def run(state, params, key):
        return jax.lax.scan(
            lambda s, k: (gibbs.step(k, s, params)[0], None), state, jax.random.split(key, sweeps)
        )[0]

    state = run(gibbs.init(start, params), params, jax.random.key(seed + 1))
    spins = state.position
    energy = np.asarray(lattice_ising.energy(params, spins)) / size**2
    magnetisation = np.abs(np.asarray(jnp.mean(spins, axis=(-1, -2))))
    return (
        energy.mean(),
        energy.std() / math.sqrt(chains),
        magnetisation.mean(),
        magnetisation.std() / math.sqrt(chains),
    )


def exact_statistics(size: int, coupling: float):
    params = lattice_ising.uniform_params((size, size), coupling=coupling, field=0.0)

    def flat_energy(p, s):
        return lattice_ising.energy(p, s.reshape(s.shape[:-1] + (size, size)))

    states, log_p = exact.log_probabilities_binary(flat_energy, params, size * size, spins=True)
    p = np.exp(log_p)
    energy = np.asarray(flat_energy(params, jnp.asarray(states, jnp.float32))) / size**2
    return float(p @ energy), float(p @ np.abs(states.mean(axis=1)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="side of the large lattice")
    parser.add_argument("--chains", type=int, default=2000)
    parser.add_argument("--sweeps", type=int, default=400)
    parser.add_argument(
        "--couplings", type=float, nargs="+", default=[0.2, 0.35, 0.42, 0.44, 0.46, 0.5, 0.6]
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    results = {"exact_check": [], "transition": []}
    print("4x4 lattice: Gibbs (final states of independent chains) vs exact enumeration")
    print(f"{'J':>6s} {'E/site gibbs':>14s} {'exact':>9s} {'|m| gibbs':>14s} {'exact':>8s}")
    for coupling in (0.2, CRITICAL_COUPLING, 0.6):
        e, e_se, m, m_se = gibbs_statistics(
            4, coupling, args.chains, min(args.sweeps, 200), args.seed
        )
        e_exact, m_exact = exact_statistics(4, coupling)
        print(
            f"{coupling:6.3f} {e:8.4f}±{e_se:.4f} {e_exact:9.4f} {m:8.4f}±{m_se:.4f} {m_exact:8.4f}"
        )
        results["exact_check"].append(
            {
                "coupling": coupling,
                "energy": e,
                "energy_se": e_se,
                "energy_exact": e_exact,
                "magnetisation": m,
                "magnetisation_se": m_se,
                "magnetisation_exact": m_exact,
            }
        )
    print(
        f"\n{args.size}x{args.size} lattice, {args.sweeps} sweeps: |m| against J (J_c = {CRITICAL_COUPLING:.4f})"
    )
    for coupling in args.couplings:
        _, _, m, m_se = gibbs_statistics(
            args.size, coupling, max(args.chains // 10, 4), args.sweeps, args.seed
        )
        bar = "#" * int(round(40 * m))
        print(f"J = {coupling:5.3f}  |m| = {m:.3f} ± {m_se:.3f}  {bar}")
        results["transition"].append(
            {"coupling": coupling, "magnetisation": m, "magnetisation_se": m_se}
        )
    return results


if __name__ == "__main__":
    main()
