"""Throughput against the device count, the sharded path's overhead, and an 8-GPU projection.

For each device count (``--devices``; on a CPU-only machine each count runs in a
subprocess with ``--xla_force_host_platform_device_count``, so "devices" share
the same cores; with real accelerators, ``--real`` uses them in-process) it
measures, for a ``--visible`` x ``--hidden`` Bernoulli RBM:

- **Gibbs sweeps/s**: ``--sweeps`` block-Gibbs sweeps of ``--chains`` chains
  (``rbm_gibbs``) in one ``lax.scan``, the chains split over a ``chain`` axis;
- **PCD-1 steps/s**: epochs of :func:`numpyro_ebm.learning.fit` with the
  closed-form PCD-1 rule (``--pcd-chains`` chains, minibatches of
  ``--batch``, ``--pcd-batches`` per epoch), chains and minibatches both over
  the mesh (``data_axis="chain"``), the first epoch (compilation) excluded;
- **AIS temperatures/s**: :func:`~numpyro_ebm.evaluation.ais.ais_bernoulli_rbm`
  with ``--ais-runs`` runs and ``--ais-temperatures`` temperatures, runs split;
- **PT steps/s**: ``--sweeps`` parallel-tempering steps (``--pt-replicas``
  replicas x ``--pt-chains`` chains over the fused RBM block-Gibbs sweep, DEO
  swaps) in one ``lax.scan``, the chains split (dimension 1 of the
  replica-first state, as the state declares), so every chain's ladder and its
  swaps stay on one device;
- on one device, the **overhead of the sharded path**: the same loop on a
  one-device mesh against no mesh, timed interleaved (``--repeats`` rounds, the
  median of the per-round ratios).

It then prints a projection of a 784-500 PCD-1 epoch on MNIST and a 1,000-run,
14,500-temperature AIS on 8 GPUs, from a compute and communication model whose
assumptions are arguments, next to what the measured per-device rate of this
machine would give. Example (the figures in BENCHMARKS.md)::

    python -m bench.scaling --devices 1 2 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench import REPOSITORY


def _worker(args) -> dict:
    """Measurements on ``args.worker`` devices (run in the subprocess that has them)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from numpyro_ebm import sharding
    from numpyro_ebm.energies import bernoulli_rbm
    from numpyro_ebm.evaluation import ais
    from numpyro_ebm.kernels import rbm_gibbs
    from numpyro_ebm.learning import fit
    from numpyro_ebm.learning.rbm import bernoulli_rbm_pcd

    n = args.worker
    D, H = args.visible, args.hidden
    rng = np.random.default_rng(0)
    data = (rng.random((args.batch * args.pcd_batches, D)) < 0.2).astype(np.float32)
    params = bernoulli_rbm.init_params(jax.random.key(0), D, H, data=data, weight_scale=0.01)
    mesh = sharding.make_mesh(n)
    kernel = rbm_gibbs.as_top_level_api()

    @jax.jit
    def sweeps(key, state, params):
        def body(state, key):
            return kernel.step(key, state, params)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, args.sweeps))[0]

    start = jnp.asarray(data[np.arange(args.chains) % len(data)])
    plain_state = kernel.init(start, params)
    sharded_state = sharding.put_chains(plain_state, mesh)
    sharded_params = sharding.put_replicated(params, mesh)

    def timed(fn):
        begin = time.perf_counter()
        jax.block_until_ready(fn())
        return time.perf_counter() - begin

    def run_plain():
        return sweeps(jax.random.key(1), plain_state, params)

    def run_sharded():
        return sweeps(jax.random.key(1), sharded_state, sharded_params)

    assert np.array_equal(run_plain().visible, run_sharded().visible)  # also compiles both
    plain_times, sharded_times = [], []
    for _ in range(args.repeats):
        plain_times.append(timed(run_plain))
        sharded_times.append(timed(run_sharded))
    result = {
        "devices": n,
        "gibbs_sweeps_per_s": args.sweeps / statistics.median(sharded_times),
        "gibbs_sweeps_per_s_no_mesh": args.sweeps / statistics.median(plain_times),
        "gibbs_overhead_ratio": statistics.median(
            s / p for s, p in zip(sharded_times, plain_times, strict=True)
        ),
    }

    rule = bernoulli_rbm_pcd(n_chains=args.pcd_chains)

    def epochs(with_mesh):
        history = fit(
            jax.random.key(2),
            params,
            data,
            rule,
            optax.sgd(0.01),
            epochs=args.pcd_epochs + 1,
            batch_size=args.batch,
            progress=False,
            chain_diagnostics=False,
            mesh=mesh if with_mesh else None,
            data_axis="chain" if with_mesh else None,
        ).history
        return history["wall_time"][1:]  # the first epoch compiles (the cache is per call)

    sharded_epochs, plain_epochs = [], []
    for _ in range(2):  # alternated, so load changes hit both alike
        sharded_epochs += epochs(True)
        plain_epochs += epochs(False)
    result["pcd_steps_per_s"] = args.pcd_batches / statistics.median(sharded_epochs)
    result["pcd_steps_per_s_no_mesh"] = args.pcd_batches / statistics.median(plain_epochs)
    result["pcd_overhead_ratio"] = statistics.median(sharded_epochs) / statistics.median(
        plain_epochs
    )

    schedule = ais.default_schedule(args.ais_temperatures)

    def run_ais(with_mesh):
        return ais.ais_bernoulli_rbm(
            jax.random.key(3),
            params,
            n_runs=args.ais_runs,
            schedule=schedule,
            base_data=data,
            mesh=mesh if with_mesh else None,
        ).log_z

    run_ais(True), run_ais(False)  # compile
    ais_sharded, ais_plain = [], []
    for _ in range(args.repeats):  # interleaved
        ais_sharded.append(timed(lambda: run_ais(True)))
        ais_plain.append(timed(lambda: run_ais(False)))
    result["ais_temperatures_per_s"] = args.ais_temperatures / statistics.median(ais_sharded)
    result["ais_temperatures_per_s_no_mesh"] = args.ais_temperatures / statistics.median(ais_plain)
    result["ais_overhead_ratio"] = statistics.median(
        s / p for s, p in zip(ais_sharded, ais_plain, strict=True)
    )
    from numpyro_ebm.kernels import parallel_tempering as pt

    betas = pt.geometric_ladder(args.pt_replicas, 0.1)
    pt_kernel = pt.as_top_level_api(pt.rbm_tempering())

    @jax.jit
    def pt_steps(key, state, params, betas):
        def body(state, key):
            return pt_kernel.step(key, state, params, betas)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, args.sweeps))[0]

    pt_start = jnp.asarray(data[np.arange(args.pt_chains) % len(data)])
    pt_plain = pt_kernel.init(
        jnp.broadcast_to(pt_start, (args.pt_replicas,) + pt_start.shape), params, betas
    )
    pt_sharded = sharding.put_chains(pt_plain, mesh, dim=sharding.chain_dims(pt_plain))
    sharded_betas = sharding.put_replicated(betas, mesh)

    def run_pt_plain():
        return pt_steps(jax.random.key(4), pt_plain, params, betas)

    def run_pt_sharded():
        return pt_steps(jax.random.key(4), pt_sharded, sharded_params, sharded_betas)

    same = run_pt_plain().replicas.visible, run_pt_sharded().replicas.visible  # compiles both
    assert np.array_equal(*same)
    pt_plain_times, pt_sharded_times = [], []
    for _ in range(args.repeats):  # interleaved
        pt_plain_times.append(timed(run_pt_plain))
        pt_sharded_times.append(timed(run_pt_sharded))
    result["pt_steps_per_s"] = args.sweeps / statistics.median(pt_sharded_times)
    result["pt_steps_per_s_no_mesh"] = args.sweeps / statistics.median(pt_plain_times)
    result["pt_overhead_ratio"] = statistics.median(
        s / p for s, p in zip(pt_sharded_times, pt_plain_times, strict=True)
    )
    # multiply-adds x 2 = flops: sweep v@W and h@W.T for every chain
    result["gibbs_gflops_per_device"] = (
        4 * args.chains * D * H * result["gibbs_sweeps_per_s"] / n / 1e9
    )
    return result


def pcd_step_flops(batch: int, chains: int, D: int, H: int) -> float:
    """Flops of a closed-form PCD-1 step: (2 B + 4 C) D H multiply-adds.

    Positive hidden probabilities and statistics (2 B D H), one sweep of the
    chains (2 C D H), the negative hidden probabilities and statistics (2 C D H).
    """
    return 2.0 * (2 * batch + 4 * chains) * D * H


def projection(args, measured_gflops_per_device: float | None) -> str:
    """The 8-GPU cost model, printed with its assumptions."""
    N, D, H = args.project_devices, 784, 500
    tput = args.gpu_tflops * 1e12
    gradient_bytes = 4.0 * (D * H + D + H)
    allreduce = args.collective_latency_us * 1e-6 + 2 * (N - 1) / N * gradient_bytes / (
        args.link_gbps * 1e9
    )
    overhead = args.step_overhead_us * 1e-6
    lines = [
        f"Projection for {N} GPUs (assumptions: {args.gpu_tflops:g} TFLOP/s effective float32 "
        f"matmul per GPU, {args.link_gbps:g} GB/s all-reduce bandwidth, "
        f"{args.collective_latency_us:g} us per collective, {args.step_overhead_us:g} us of "
        "launch overhead per step):"
    ]
    steps = 60000 // 100
    for chains in (100, 10000):
        flops = pcd_step_flops(100, chains, D, H)
        one = steps * (flops / tput + overhead)
        many = steps * (flops / N / tput + allreduce + overhead)
        lines.append(
            f"  784-500 PCD-1 epoch, 600 minibatches of 100, {chains} chains: "
            f"{flops / 1e9:.2f} GFLOP and one {gradient_bytes / 1e6:.2f} MB gradient all-reduce "
            f"per step ({allreduce * 1e6:.0f} us); 1 GPU {one:.3f} s, {N} GPUs {many:.3f} s "
            f"(speed-up {one / many:.1f}x)"
        )
        if measured_gflops_per_device:
            cpu = steps * (flops / N / (measured_gflops_per_device * 1e9) + allreduce)
            lines.append(
                f"    with this machine's measured {measured_gflops_per_device:.1f} GFLOP/s per "
                f"device instead of a GPU's: {cpu:.2f} s on {N} such devices"
            )
    runs, temperatures = 1000, 14500
    flops = 4.0 * runs * D * H  # two matmuls per temperature
    one = temperatures * (flops / tput + overhead)
    many = temperatures * (flops / N / tput + overhead)
    lines.append(
        f"  AIS, {runs} runs, {temperatures} temperatures, 784-500: {flops / 1e9:.2f} GFLOP per "
        f"temperature, no communication until the final log-mean-exp; 1 GPU {one:.2f} s, "
        f"{N} GPUs {many:.2f} s (speed-up {one / many:.1f}x)"
    )
    lines.append(
        "  At these sizes a step is a few microseconds of matmul per GPU: the fixed costs "
        "(launch overhead, collective latency) dominate, so the speed-up needs many chains, "
        "large minibatches or many runs per device."
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--real", action="store_true", help="use this machine's devices")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--visible", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--chains", type=int, default=200)
    parser.add_argument("--sweeps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pcd-chains", type=int, default=100)
    parser.add_argument("--pcd-batches", type=int, default=30)
    parser.add_argument("--pcd-epochs", type=int, default=3)
    parser.add_argument("--ais-runs", type=int, default=100)
    parser.add_argument("--ais-temperatures", type=int, default=200)
    parser.add_argument("--pt-replicas", type=int, default=4)
    parser.add_argument("--pt-chains", type=int, default=100)
    parser.add_argument("--project-devices", type=int, default=8)
    parser.add_argument("--gpu-tflops", type=float, default=10.0)
    parser.add_argument("--link-gbps", type=float, default=100.0)
    parser.add_argument("--collective-latency-us", type=float, default=20.0)
    parser.add_argument("--step-overhead-us", type=float, default=30.0)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    flags = list(sys.argv[1:] if argv is None else argv)
    if args.worker is not None:
        print(json.dumps(_worker(args)))
        return

    from bench._common import machine_description

    results = []
    for n in args.devices:
        command = [sys.executable, "-m", "bench.scaling", "--worker", str(n)] + [
            a for a in flags if a != "--real"
        ]
        environment = dict(os.environ)
        if not args.real:
            environment["XLA_FLAGS"] = (
                environment.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n}"
            )
        out = subprocess.run(
            command,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            cwd=REPOSITORY,
        )
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(machine_description())
    print(
        f"RBM {args.visible}x{args.hidden}; Gibbs: {args.chains} chains x {args.sweeps} sweeps; "
        f"PCD-1: {args.pcd_chains} chains, minibatch {args.batch}, {args.pcd_batches} steps an "
        f"epoch; AIS: {args.ais_runs} runs x {args.ais_temperatures} temperatures; PT: "
        f"{args.pt_replicas} replicas x {args.pt_chains} chains x {args.sweeps} steps; medians of "
        f"{args.repeats} rounds" + ("" if args.real else " (forced host devices, shared cores)")
    )
    base = results[0]
    print(
        "devices | Gibbs sweeps/s (x vs first) | PCD steps/s (x) | AIS temperatures/s (x) | "
        "PT steps/s (x) | overhead vs no mesh: Gibbs, PCD, PT"
    )
    for r in results:
        print(
            f"{r['devices']:7d} | {r['gibbs_sweeps_per_s']:9.1f} "
            f"({r['gibbs_sweeps_per_s'] / base['gibbs_sweeps_per_s']:.2f}) | "
            f"{r['pcd_steps_per_s']:7.1f} ({r['pcd_steps_per_s'] / base['pcd_steps_per_s']:.2f}) | "
            f"{r['ais_temperatures_per_s']:7.1f} "
            f"({r['ais_temperatures_per_s'] / base['ais_temperatures_per_s']:.2f}) | "
            f"{r['pt_steps_per_s']:7.1f} ({r['pt_steps_per_s'] / base['pt_steps_per_s']:.2f}) | "
            f"{r['gibbs_overhead_ratio']:.3f}, {r['pcd_overhead_ratio']:.3f}, "
            f"{r['pt_overhead_ratio']:.3f}"
        )
    one = next((r for r in results if r["devices"] == 1), None)
    if one is not None:
        print(
            f"sharded path on a one-device mesh / no mesh: Gibbs {one['gibbs_overhead_ratio']:.3f}, "
            f"PCD epoch {one['pcd_overhead_ratio']:.3f}, AIS {one['ais_overhead_ratio']:.3f}, "
            f"PT {one['pt_overhead_ratio']:.3f} "
            "(time ratios, median over interleaved rounds; target < 1.03)"
        )
    print(projection(args, one["gibbs_gflops_per_device"] if one else None))


if __name__ == "__main__":
    main()
