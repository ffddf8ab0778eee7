"""Speed regression guard: every sampling kernel's steps per second on small fixed problems.

Each kernel runs ``--steps`` steps of 100 chains in one ``lax.scan`` inside one
``jax.jit`` (parameters passed at call time, float32); the kernels and a
reference loop are timed interleaved over ``--repeats`` rounds, and each kernel's
figure is its speed relative to the reference **of the same round** (median over
rounds), so that a loaded or slower machine moves all of them alike. The
reference is the matmul-only sweep of the 256x128 RBM (``h = v @ W; v = h @ W.T``,
the speed of light of ``rbm_gibbs`` on it).

The committed figures live in ``bench/results/regression_jax<major>.<minor>.json``,
one file per JAX line, one entry per CPU kind (model and AVX-512 or not) and clock
(``--clock cpu`` times the process's CPU time, steadier on a shared machine). The run:

- compares each kernel's ratio with the committed one of this JAX line and CPU
  kind, and fails on a drop of more than ``--max-drop-points`` (5) points, points
  being percent of the committed ratio (a ratio of 0.40 may fall to 0.38);
- compares each kernel's ratio with the committed one of the *other* JAX line
  (same CPU kind) and fails if either is more than ``--max-line-factor`` (1.5)
  times the other;

and exits with status 1 listing the failures (0 when none; a missing committed
entry is reported and not a failure). ``--write`` stores this run as the committed
figures of this line and CPU kind. It is a benchmark, not a test: run it on an idle
machine, on both JAX lines (Python 3.11: JAX 0.10; Python >= 3.12: JAX 0.12)::

    .venv/bin/python -m bench.regression --repeats 9
    .venv312/bin/python -m bench.regression --repeats 9
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import (
    command_line,
    cpu_model_and_vector_flags,
    machine_description,
    scanned_steps,
    write_summary,
)
from bench.gibbs_rbm import matmul_only
from numpyro_ebm.energies import bernoulli_rbm, boltzmann, dbm, lattice_ising
from numpyro_ebm.kernels import (
    binary_gibbs,
    boltzmann_gibbs,
    checkerboard_gibbs,
    dbm_gibbs,
    gibbs_with_gradients,
    parallel_tempering,
    rbm_gibbs,
)

REFERENCE = "matmul-only RBM sweep (reference)"
CHAINS = 100


def jax_line() -> str:
    """``"0.10"``, ``"0.12"``: the JAX line of this interpreter."""
    return ".".join(jax.__version__.split(".")[:2])


def results_path(line: str, directory: Path = RESULTS) -> Path:
    return directory / f"regression_jax{line}.json"


def entry_key(clock: str = "wall") -> str:
    """The key of the committed entries: the CPU model, AVX-512 or not, and the clock."""
    cpu, vector = cpu_model_and_vector_flags()
    return f"{cpu}, {'AVX-512' if vector.startswith('AVX-512') else 'no AVX-512'}, {clock} clock"


def _cases(quick: bool):
    """``{name: (step(key, carry, params) -> carry, carry, params)}`` of every kernel."""
    n_visible, n_hidden, n_top = (16, 8, 4) if quick else (256, 128, 64)
    side, n_units, replicas = (4, 8, 2) if quick else (32, 64, 4)
    f32 = jnp.float32
    key = jax.random.key(0)
    rbm = bernoulli_rbm.init_params(key, n_visible, n_hidden, weight_scale=0.1, dtype=f32)
    unit_rbm = rbm._replace(W=rbm.W / jnp.linalg.norm(rbm.W, 2))
    visible = jax.random.bernoulli(jax.random.key(1), 0.5, (CHAINS, n_visible)).astype(f32)
    units = jax.random.bernoulli(jax.random.key(2), 0.5, (CHAINS, n_units)).astype(f32)
    bm = boltzmann.init_params(jax.random.key(3), n_units, scale=0.1, dtype=f32)
    deep = dbm.init_params(jax.random.key(4), n_visible, n_hidden, n_top, weight_scale=0.1)
    rng = np.random.default_rng(5)
    lattice = lattice_ising.LatticeIsingParams(
        jnp.asarray(0.4 + 0.1 * rng.standard_normal((side, side - 1)), f32),
        jnp.asarray(0.4 + 0.1 * rng.standard_normal((side - 1, side)), f32),
        jnp.asarray(0.1 * rng.standard_normal((side, side)), f32),
    )
    spins = 2 * jax.random.bernoulli(jax.random.key(6), 0.5, (CHAINS, side, side)).astype(f32) - 1

    def stepper(algorithm):
        return lambda key, state, params: algorithm.step(key, state, params)[0]

    gibbs = rbm_gibbs.as_top_level_api("bernoulli")
    systematic = boltzmann_gibbs.as_top_level_api()
    generic = binary_gibbs.as_top_level_api(boltzmann.energy)
    gwg = gibbs_with_gradients.as_top_level_api(bernoulli_rbm.free_energy)
    deep_gibbs = dbm_gibbs.as_top_level_api()
    ising = checkerboard_gibbs.as_top_level_api()
    pt = parallel_tempering.as_top_level_api(parallel_tempering.rbm_tempering())
    betas = parallel_tempering.geometric_ladder(replicas, 0.1)
    return {
        REFERENCE: (matmul_only, visible, unit_rbm),
        "rbm_gibbs": (stepper(gibbs), gibbs.init(visible, rbm), rbm),
        "dbm_gibbs": (stepper(deep_gibbs), deep_gibbs.init(visible, deep), deep),
        "boltzmann_gibbs": (stepper(systematic), systematic.init(units, bm), bm),
        "binary_gibbs": (stepper(generic), generic.init(units, bm), bm),
        "gibbs_with_gradients": (stepper(gwg), gwg.init(visible, rbm), rbm),
        "checkerboard_gibbs": (stepper(ising), ising.init(spins, lattice), lattice),
        "parallel_tempering": (
            stepper(pt),
            pt.init(jnp.stack([visible] * replicas), rbm, betas),
            parallel_tempering.TemperedParams(rbm, betas),
        ),
    }


def measure(steps: int, repeats: int, quick: bool = False, clock=time.perf_counter) -> dict:
    """Steps per second (median) and the median per-round ratio to the reference."""
    runs = {name: (scanned_steps(fn, steps), c, p) for name, (fn, c, p) in _cases(quick).items()}
    key = jax.random.key(7)
    for run, carry, params in runs.values():  # compile and warm up
        jax.block_until_ready(run(key, carry, params))
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (run, carry, params) in runs.items():
            start = clock()
            jax.block_until_ready(run(key, carry, params))
            seconds[name].append(clock() - start)
    reference = np.asarray(seconds[REFERENCE])
    return {
        name: {
            "steps_per_second": float(steps / np.median(values)),
            "ratio_to_reference": float(np.median(reference / np.asarray(values))),
        }
        for name, values in seconds.items()
    }


def _committed(path: Path, kind: str):
    if not path.exists():
        return None
    return json.loads(path.read_text()).get(kind)


def compare(
    fresh: dict, same_line: dict | None, other_line: dict | None, max_drop: float, max_factor: float
) -> tuple[list[str], list[str]]:
    """``(failures, notes)`` of a fresh run against the committed entries."""
    failures, notes = [], []
    if same_line is None:
        notes.append("no committed figures of this JAX line and CPU kind: drop check skipped")
    if other_line is None:
        notes.append("no committed figures of the other JAX line on this CPU kind: skipped")
    for name, figures in fresh.items():
        if name == REFERENCE:
            continue
        ratio = figures["ratio_to_reference"]
        if same_line is not None and name in same_line["kernels"]:
            before = same_line["kernels"][name]["ratio_to_reference"]
            drop = 100 * (before - ratio) / before
            if drop > max_drop:
                failures.append(
                    f"{name}: ratio {ratio:.4f} is {drop:.1f} points below the committed "
                    f"{before:.4f} (limit {max_drop:g})"
                )
        if other_line is not None and name in other_line["kernels"]:
            other = other_line["kernels"][name]["ratio_to_reference"]
            factor = max(ratio / other, other / ratio)
            if factor > max_factor:
                slower = "this" if ratio < other else f"the other (jax {other_line['jax']})"
                failures.append(
                    f"{name}: {factor:.2f}x slower on {slower} line (ratio {ratio:.4f} here, "
                    f"{other:.4f} on jax {other_line['jax']}; limit {max_factor:g}x)"
                )
    return failures, notes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="steps per timed call")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved timing rounds")
    parser.add_argument("--max-drop-points", type=float, default=5.0)
    parser.add_argument("--max-line-factor", type=float, default=1.5)
    parser.add_argument("--write", action="store_true", help="commit this run's figures")
    parser.add_argument("--results-dir", default=str(RESULTS))
    parser.add_argument("--quick", action="store_true", help="tiny problems (smoke run)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or the process's CPU time (steadier on a machine shared with other jobs)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error(f"--steps and --repeats must be at least 1; got {args.steps}, {args.repeats}")

    load_before = os.getloadavg()[0]
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    fresh = measure(args.steps, args.repeats, args.quick, clock)
    line, kind = jax_line(), entry_key(args.clock)
    print(f"# {machine_description()}")
    print(
        f"# {CHAINS} chains, float32, {args.steps} steps per call, {args.repeats} interleaved "
        f"rounds, clock={args.clock}; 1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("| kernel | steps/s (median) | speed / reference speed (median) |")
    print("|---|---:|---:|")
    for name, figures in fresh.items():
        print(
            f"| {name} | {figures['steps_per_second']:.0f} | {figures['ratio_to_reference']:.4f} |"
        )

    directory = Path(args.results_dir)
    other = {"0.10": "0.12", "0.12": "0.10"}.get(line)
    same_entry = _committed(results_path(line, directory), kind)
    other_entry = _committed(results_path(other, directory), kind) if other else None
    failures, notes = compare(
        fresh, same_entry, other_entry, args.max_drop_points, args.max_line_factor
    )
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"REGRESSION: {failure}")

    if args.write:
        path = results_path(line, directory)
        stored = json.loads(path.read_text()) if path.exists() else {}
        stored[kind] = {
            "jax": jax.__version__,
            "machine": machine_description(),
            "command": command_line("regression", argv),
            "steps": args.steps,
            "repeats": args.repeats,
            "quick": args.quick,
            "clock": args.clock,
            "kernels": fresh,
        }
        write_summary(path, stored, end="\n")
        print(f"wrote {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
