"""This library's checkerboard Gibbs against thrml's block Gibbs on a 32x32 lattice Ising model.

Run it in the separate peer environment, never in the package's own::

    python3.11 -m venv /work/peervenv
    /work/peervenv/bin/pip install -e /work/main thrml hamon
    /work/peervenv/bin/python -m bench.peers_discrete

Target: the homogeneous 32x32 Ising model, free boundaries, no field, at three
couplings (K = 0.30, the critical 0.4407, 0.60). thrml (``thrml.models.IsingEBM``,
two-colour ``IsingSamplingProgram``, ``sample_states``; one chain per call, chains
vmapped, as its documentation does) and this library's
``kernels.checkerboard_gibbs`` (chains as leading dimensions) run the same number
of sweeps from the same kind of start (independent fair spins), each compiled once
and then timed in ``--rounds`` interleaved rounds (median). From the recorded
sweeps: ArviZ's bulk ESS and R-hat of the magnetisation per site and the energy per
site (the smaller ESS counts), and ESS per second of the median run time.

Not measured here (see BENCHMARKS.md): an exact moment error (the 32x32 row transfer
matrix has 2^32 row states; no exact answer is computed), the bimodal 20-12 RBM row,
block Gibbs rows for a dense coupling matrix, and hamon's adaptive non-reversible PT
(installed, not run: out of time).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import command_line, machine_description, write_summary
from numpyro_ebm.energies import lattice_ising
from numpyro_ebm.kernels import checkerboard_gibbs

CRITICAL_COUPLING = 0.5 * math.log1p(math.sqrt(2.0))


def thrml_runner(size: int, coupling: float, n_chains: int, n_sweeps: int):
    """``run(key) -> spins (chains, sweeps, size*size)`` with thrml's two-colour block Gibbs."""
    import thrml
    from thrml.models import IsingEBM, IsingSamplingProgram

    nodes = [thrml.SpinNode() for _ in range(size * size)]
    edges = []
    for i in range(size):
        for j in range(size):
            if j + 1 < size:
                edges.append((nodes[i * size + j], nodes[i * size + j + 1]))
            if i + 1 < size:
                edges.append((nodes[i * size + j], nodes[(i + 1) * size + j]))
    ebm = IsingEBM(
        nodes,
        edges,
        jnp.zeros(len(nodes)),
        jnp.full(len(edges), coupling),
        jnp.asarray(1.0),
    )
    colour = [(i + j) % 2 for i in range(size) for j in range(size)]
    blocks = [
        thrml.Block([n for n, c in zip(nodes, colour, strict=True) if c == k]) for k in (0, 1)
    ]
    program = IsingSamplingProgram(ebm, blocks, [])
    schedule = thrml.SamplingSchedule(n_warmup=0, n_samples=n_sweeps, steps_per_sample=1)
    everything = [thrml.Block(nodes)]

    def one_chain(key):
        key_init, key_run = jax.random.split(key)
        init = [
            jax.random.bernoulli(k, 0.5, (len(b),))
            for k, b in zip(jax.random.split(key_init, 2), blocks, strict=True)
        ]
        (states,) = thrml.sample_states(key_run, program, schedule, init, [], everything)
        return 2.0 * states.astype(jnp.float32) - 1.0  # (sweeps, nodes)

    return jax.jit(lambda key: jax.vmap(one_chain)(jax.random.split(key, n_chains)))


def library_runner(size: int, coupling: float, n_chains: int, n_sweeps: int):
    """``run(key) -> spins (chains, sweeps, size*size)`` with checkerboard Gibbs."""
    params = lattice_ising.uniform_params((size, size), coupling=coupling)
    algorithm = checkerboard_gibbs.as_top_level_api(spins=True)

    def run(key):
        key_init, key_run = jax.random.split(key)
        start = 2.0 * jax.random.bernoulli(key_init, 0.5, (n_chains, size, size)) - 1.0
        state = algorithm.init(start.astype(jnp.float32), params)

        def body(state, k):
            state = algorithm.step(k, state, params)[0]
            return state, state.position.reshape(n_chains, -1)

        _, spins = jax.lax.scan(body, state, jax.random.split(key_run, n_sweeps))
        return jnp.swapaxes(spins, 0, 1)

    return jax.jit(run)


def summaries(spins: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Magnetisation and energy per site, ``(chains, sweeps)``, from flattened spins."""
    lattice = spins.reshape(spins.shape[:2] + (size, size))
    bonds = (lattice[..., :, 1:] * lattice[..., :, :-1]).sum((-1, -2)) + (
        lattice[..., 1:, :] * lattice[..., :-1, :]
    ).sum((-1, -2))
    return {"magnetisation": lattice.mean((-1, -2)), "bond_energy": -bonds / (size * size)}


def diagnose(spins: np.ndarray, size: int, burn_in: int) -> dict[str, float]:
    import arviz as az

    out = {}
    for name, values in summaries(spins, size).items():
        values = values[:, burn_in:]
        out[f"ess_{name}"] = float(az.ess(values, method="bulk"))
        out[f"rhat_{name}"] = float(az.rhat(values))
        out[f"mean_{name}"] = float(values.mean())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--couplings", type=float, nargs="*", default=[0.3, CRITICAL_COUPLING, 0.6])
    parser.add_argument("--output-dir", default=str(RESULTS))
    args = parser.parse_args(argv)
    import importlib.metadata as metadata

    versions = {name: metadata.version(name) for name in ("thrml", "hamon", "jax")}
    machine = machine_description()
    print(machine, versions)
    rows = []
    for coupling in args.couplings:
        runners = {
            "thrml block Gibbs": thrml_runner(args.size, coupling, args.chains, args.sweeps),
            "numpyro_ebm checkerboard Gibbs": library_runner(
                args.size, coupling, args.chains, args.sweeps
            ),
        }
        compiled, outputs, times = {}, {}, {name: [] for name in runners}
        key = jax.random.key(0)
        for name, run in runners.items():
            t0 = time.perf_counter()
            compiled[name] = run.lower(key).compile()
            print(
                f"K={coupling:.4f} {name}: compiled in {time.perf_counter() - t0:.1f} s", flush=True
            )
        for r in range(args.rounds):  # interleaved, so load changes hit both alike
            for name in runners:
                t0 = time.perf_counter()
                out = jax.block_until_ready(compiled[name](jax.random.fold_in(key, r)))
                times[name].append(time.perf_counter() - t0)
                outputs[name] = np.asarray(out)
        for name in runners:
            seconds = statistics.median(times[name])
            diag = diagnose(outputs[name], args.size, burn_in=args.sweeps // 4)
            ess = min(diag["ess_magnetisation"], diag["ess_bond_energy"])
            row = {
                "coupling": coupling,
                "sampler": name,
                "sweeps": args.sweeps,
                "chains": args.chains,
                "median_s": seconds,
                "times_s": times[name],
                "sweeps_per_s": args.sweeps / seconds,
                "ess_min": ess,
                "ess_per_s": ess / (0.75 * seconds),  # the ESS of the post-burn-in 3/4 of the run
                **diag,
            }
            rows.append(row)
            print(
                f"K={coupling:.4f} {name:>32}: {seconds:.3f} s for {args.sweeps} sweeps x "
                f"{args.chains} chains; min bulk ESS {ess:.0f}; R-hat m "
                f"{diag['rhat_magnetisation']:.3f} e {diag['rhat_bond_energy']:.3f}; <e> "
                f"{diag['mean_bond_energy']:.4f}",
                flush=True,
            )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine,
        "versions": versions,
        "command": command_line("peers_discrete", argv),
        "rows": rows,
    }
    write_summary(out / "peers_discrete.json", result, indent=1)
    print(f"wrote {out / 'peers_discrete.json'}")
    return result


if __name__ == "__main__":
    main()
