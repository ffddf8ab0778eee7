"""Parallel-tempering sweeps of a 784x500 Bernoulli RBM against the matmul-only loop.

One PT step of ``--chains`` chains x ``--replicas`` (K) replicas is a block-Gibbs
sweep of every replica (the fused sweep of
``numpyro_ebm.kernels.parallel_tempering.rbm_tempering``, here on the base-rate
path) followed by deterministic even-odd swaps. Its speed of light is K times the
matmul-only sweep of ``--chains`` chains (``h = v @ W; v = h @ W.T``, nothing
else; see ``bench/gibbs_rbm.py``). All variants run ``--sweeps`` steps in one
``lax.scan`` inside one ``jax.jit``, in float32, with the parameters and the
ladder passed at call time:

- ``matmul-only, C chains``: the speed of light per replica;
- ``matmul-only, K*C chains``: the same loop on all replicas' rows at once;
- ``rbm_gibbs, K*C chains``: plain block Gibbs on as many chains;
- ``PT sweep only (no swaps)``: the fused tempered sweep of all replicas;
- ``PT step (sweep + DEO swaps)``: ``parallel_tempering.as_top_level_api`` step.

The speed of light of a PT step is the batched matmul-only loop over all
``K * C`` rows at once (one larger GEMM, faster than ``K`` loops of ``C`` rows on
CPUs), so the headline is ``t_matmul(K * C) / t``; the column ``K * t_matmul(C) / t``
(the per-replica figure quoted before) is kept for comparison. The cost of the
swaps is ``(t_step - t_sweep) / t_step``. Variants are timed interleaved over
``--repeats`` rounds (medians over rounds of per-round ratios), as in
``bench/gibbs_rbm.py``. Example::

    python -m bench.pt_rbm --replicas 8 --chains 100 --sweeps 50 --repeats 7
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench._common import machine_description, scanned_steps
from bench.gibbs_rbm import matmul_only
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import parallel_tempering as pt
from numpyro_ebm.kernels import rbm_gibbs

_GIBBS = rbm_gibbs.as_top_level_api("bernoulli")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--sweeps", type=int, default=50, help="steps per timed call")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--visible", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    n_rep, n_chains = args.replicas, args.chains

    params = bernoulli_rbm.init_params(
        jax.random.key(0), args.visible, args.hidden, weight_scale=0.1, dtype=jnp.float32
    )
    unit_params = params._replace(W=params.W / jnp.linalg.norm(params.W, 2))
    base = jnp.full((args.visible,), -1.0, jnp.float32)
    betas = pt.geometric_ladder(n_rep, 0.0)
    tempering = pt.rbm_tempering(base_visible_bias=base)
    algorithm = pt.as_top_level_api(tempering)
    v_small = jax.random.bernoulli(jax.random.key(1), 0.5, (n_chains, args.visible))
    v_small = v_small.astype(jnp.float32)
    v_all = jnp.tile(v_small, (n_rep, 1))
    pt_state = algorithm.init(jnp.stack([v_small] * n_rep), params, betas)
    tempered = pt.TemperedParams(params, betas)

    def pt_step(key, state, p):
        return algorithm.step(key, state, p)[0]

    def sweep_only(key, states, p):
        return tempering.step(key, states, p.params, p.inverse_temperatures)[0]

    def gibbs(key, state, p):
        return _GIBBS.step(key, state, p)[0]

    variants = {
        f"matmul-only, {n_chains} chains": (matmul_only, v_small, unit_params),
        f"matmul-only, {n_rep}*{n_chains} chains": (matmul_only, v_all, unit_params),
        f"rbm_gibbs, {n_rep}*{n_chains} chains": (gibbs, _GIBBS.init(v_all, params), params),
        "PT sweep only (no swaps)": (sweep_only, pt_state.replicas, tempered),
        "PT step (sweep + DEO swaps)": (pt_step, pt_state, tempered),
    }
    runs = {name: (scanned_steps(fn, args.sweeps), c, p) for name, (fn, c, p) in variants.items()}
    key = jax.random.key(2)
    load_before = os.getloadavg()[0]
    for run, carry, p in runs.values():  # compile and warm up
        jax.block_until_ready(run(key, carry, p))
    seconds = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (run, carry, p) in runs.items():
            start = clock()
            jax.block_until_ready(run(key, carry, p))
            seconds[name].append((clock() - start) / args.sweeps)
    light = n_rep * np.asarray(seconds[f"matmul-only, {n_chains} chains"])
    step = np.asarray(seconds["PT step (sweep + DEO swaps)"])
    sweep = np.asarray(seconds["PT sweep only (no swaps)"])

    big = np.asarray(seconds[f"matmul-only, {n_rep}*{n_chains} chains"])
    print(f"# {machine_description()}")
    print(
        f"# XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}  clock={args.clock}  "
        f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"# {args.visible}x{args.hidden} Bernoulli RBM, {n_chains} chains x {n_rep} replicas, "
        f"float32, {args.sweeps} steps per call, {args.repeats} interleaved rounds"
    )
    print(
        f"| variant | ms per step (median) | matmul-only ({n_rep}*{n_chains} chains) / t "
        f"| K x matmul-only ({n_chains} chains) / t |"
    )
    print("|---|---:|---:|---:|")
    for name, values in seconds.items():
        values = np.asarray(values)
        print(
            f"| {name} | {1e3 * np.median(values):.2f} | {np.median(big / values):.1%} "
            f"| {np.median(light / values):.1%} |"
        )
    swap_share = (step - sweep) / step
    q1, q3 = np.percentile(big / step, [25, 75])
    print(
        f"\nPT step at {np.median(big / step):.1%} of the batched matmul-only loop over all "
        f"{n_rep}*{n_chains} rows (IQR {q1:.1%} to {q3:.1%}; {np.median(light / step):.1%} of K x "
        f"the {n_chains}-chain loop); swaps {np.median(swap_share):.1%} of a step "
        "(median over rounds of per-round shares)"
    )
    return {
        "pt_step_over_batched_matmul": float(np.median(big / step)),
        "pt_step_over_k_matmul": float(np.median(light / step)),
        "swap_share": float(np.median(swap_share)),
        "steps_per_second": float(1 / np.median(step)),
    }


if __name__ == "__main__":
    main()
