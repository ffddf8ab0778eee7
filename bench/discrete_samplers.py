"""The discrete-sampler experiments of the DMALA paper, reproduced with this library's kernels.

``--experiment ising`` (default): the 5x5 lattice Ising model of ``ising_sample.py``
(Zhang, Liu & Liu 2022, ruqizhang/discrete-langevin): a periodic lattice (every site
has 4 neighbours), 0/1 units ``x`` with spins ``s = 2x - 1``, and

    log p(x) = s^T J s + b . s + const,   J = 0.1 A (A the lattice adjacency), b = 0.2,

i.e. the energy of :mod:`numpyro_ebm.energies.boltzmann` with couplings ``2 J`` and
field ``b`` on the spins. The exact mean ``E[s]`` comes from enumerating all 2^25 =
33.5M states in chunks of 2^20 (float64, a few seconds). Every sampler runs
``--chains`` chains from the same starts (drawn from Bernoulli(sigmoid(2 b)), the
paper's ``init_dist``) for ``--steps`` steps; the metric is the paper's: the log of
the root-mean-square error, over chains and units, of each chain's running mean of
``s`` against the exact mean, recorded every ``--record-every`` steps and plotted
against steps and against wall-clock seconds (the time of the compiled run, median
of ``--repeats`` runs, spread uniformly over its steps).

Samplers (one step each, as in the paper):

- Gibbs: random-scan single-site Gibbs (the paper's ``bg-1``), run as the Hamming
  ball kernel with block 1 and radius 1, which is exactly that sampler;
- GWG: Gibbs with gradients, one flip a step;
- DMALA (step size 0.4) and DULA (0.2), the paper's settings on 0/1 units;
- LB: the exact locally balanced proposal, sqrt balancing, one flip a step;
- PAS: the path auxiliary sampler, paths of ``--pas-path-length`` flips;
- Hamming ball: blocks of 10, radius 1 (the paper's ``hb-10-1``);
- PT over the best: parallel tempering (4 replicas, geometric ladder down to beta 0.5,
  deterministic even-odd swaps) around the sampler with the lowest final log-RMSE per
  step; a PT step moves every replica once.

``--experiment rbm``: the protocol of ``rbm_sample.py``: a 784-500 Bernoulli RBM
trained on MNIST (``--mnist``, default ``/work/shared/data/mnist.npz``) with CD-10,
Adam 1e-3, batch 100; ground truth: 500 samples after 10,000 block-Gibbs steps; 100
chains per sampler; log-MMD with the exponentiated average-Hamming kernel
``k(x, y) = exp(-mean |x - y|)`` every 10 steps for 5,000 steps.

Writes ``discrete_samplers_<experiment>.json`` and ``.png`` into ``--output-dir``
(default ``bench/results``).

Examples::

    python -m bench.discrete_samplers                       # Ising, 50,000 steps, 16 chains
    python -m bench.discrete_samplers --steps 2000 --chains 4   # smoke run
    python -m bench.discrete_samplers --experiment rbm --rbm-epochs 1
    python -m bench.discrete_samplers --replot
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import command_line, machine_description, pyplot, write_summary
from numpyro_ebm.energies import bernoulli_rbm, boltzmann
from numpyro_ebm.kernels import (
    dmala,
    gibbs_with_gradients,
    hamming_ball,
    locally_balanced,
    parallel_tempering,
    path_auxiliary,
    rbm_gibbs,
)

# --------------------------------------------------------------------------------------
# Target: the periodic lattice Ising model of ising_sample.py
# --------------------------------------------------------------------------------------


def torus_adjacency(size: int) -> np.ndarray:
    """Adjacency of the ``size x size`` periodic lattice (row-major sites)."""
    n = size * size
    A = np.zeros((n, n))
    for i in range(size):
        for j in range(size):
            for di, dj in ((0, 1), (1, 0)):
                a, b = i * size + j, ((i + di) % size) * size + (j + dj) % size
                A[a, b] = A[b, a] = 1.0
    return A


def ising_params(size: int, coupling: float, bias: float) -> boltzmann.BoltzmannParams:
    """``log p = s^T (coupling A) s + bias . s``: Boltzmann couplings ``2 coupling A``."""
    A = torus_adjacency(size)
    return boltzmann.BoltzmannParams(
        jnp.asarray(2.0 * coupling * A, jnp.float32),
        jnp.full((size * size,), bias, jnp.float32),
    )


def ising_energy(params, x):
    """Energy of 0/1 units ``(*batch, D)`` through their spins ``s = 2x - 1``."""
    return boltzmann.energy(params, 2 * x - 1)


def exact_spin_mean(params, chunk_bits: int = 20) -> np.ndarray:
    """``E[s]`` by enumerating all ``2^D`` states in chunks of ``2^chunk_bits`` (float64)."""
    D = params.h.shape[0]
    chunk_bits = min(chunk_bits, D)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        low = (
            (jnp.arange(2**chunk_bits, dtype=jnp.int64)[:, None] >> jnp.arange(chunk_bits)) & 1
        ).astype(jnp.float64)

        @jax.jit
        def chunk(high_bits):
            states = jnp.concatenate(
                [low, jnp.broadcast_to(high_bits, (low.shape[0], D - chunk_bits))], axis=1
            )
            log_w = -boltzmann.energy(p64, 2 * states - 1)
            shift = jnp.max(log_w)
            w = jnp.exp(log_w - shift)
            return shift, jnp.sum(w), w @ (2 * states - 1)

        shifts, totals, sums = [], [], []
        for high in range(2 ** (D - chunk_bits)):
            bits = jnp.asarray([(high >> k) & 1 for k in range(D - chunk_bits)], jnp.float64)
            shift, total, weighted = chunk(bits)
            shifts.append(float(shift))
            totals.append(float(total))
            sums.append(np.asarray(weighted))
    shifts = np.asarray(shifts)
    scale = np.exp(shifts - shifts.max())
    return (scale[:, None] * np.stack(sums)).sum(0) / (scale * np.asarray(totals)).sum()


# --------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------


def ising_samplers(pas_path_length: int) -> dict:
    """``{name: energy_fn -> SamplingAlgorithm}``; the factories take the (tempered) energy."""
    return {
        "Gibbs": lambda fn: hamming_ball.as_top_level_api(fn, block_size=1, radius=1),
        "GWG": lambda fn: gibbs_with_gradients.as_top_level_api(fn),
        "DMALA": lambda fn: dmala.as_top_level_api(fn, 0.4),
        "DULA": lambda fn: dmala.dula(fn, 0.2),
        "LB": lambda fn: locally_balanced.as_top_level_api(fn, balancing="sqrt"),
        "PAS": lambda fn: path_auxiliary.as_top_level_api(fn, path_length=pas_path_length),
        "Hamming ball": lambda fn: hamming_ball.as_top_level_api(fn, block_size=10, radius=1),
    }


def pt_sampler(factory, energy_fn, n_replicas: int = 4, min_beta: float = 0.5):
    """PT around ``factory`` as ``init(position, params)`` / ``step(key, state, params)``."""
    tempering = parallel_tempering.tempered_sampler(energy_fn, factory)
    pt = parallel_tempering.as_top_level_api(tempering)
    betas = parallel_tempering.geometric_ladder(n_replicas, min_beta)

    def init(position, params):
        return pt.init(jnp.broadcast_to(position, (n_replicas,) + position.shape), params, betas)

    def step(key, state, params):
        return pt.step(key, state, params, betas)

    def position(state):
        return parallel_tempering.target_replica(state.replicas).position

    return init, step, position


def running_mean_errors(init, step, position, params, start, exact_mean, n_steps, every):
    """Compiled run: log-RMSE of the chains' running means of ``s`` every ``every`` steps."""
    n_records = n_steps // every
    exact_mean = jnp.asarray(exact_mean, jnp.float32)

    def run(key, start):
        state = init(start, params)

        def inner(carry, k):
            state, total = carry
            state, _ = step(k, state, params)
            return (state, total + (2 * position(state) - 1)), None

        def outer(carry, record):
            carry, _ = jax.lax.scan(
                inner, carry, jax.random.split(jax.random.fold_in(key, record), every)
            )
            mean = carry[1] / ((record + 1) * every).astype(jnp.float32)
            rmse = jnp.sqrt(jnp.mean((mean - exact_mean) ** 2))
            return carry, jnp.log(rmse)

        carry = (state, jnp.zeros(start.shape, jnp.float32))
        _, log_rmse = jax.lax.scan(outer, carry, jnp.arange(n_records))
        return log_rmse

    return jax.jit(run)


def ising_experiment(args) -> dict:
    params = ising_params(args.size, args.coupling, args.bias)
    n_units = args.size * args.size
    start_time = time.perf_counter()
    exact_mean = exact_spin_mean(params)
    enumeration_s = time.perf_counter() - start_time
    print(
        f"exact E[s] by enumerating 2^{n_units} states: {enumeration_s:.1f} s; "
        f"mean {exact_mean.mean():.6f}"
    )
    rng = np.random.default_rng(args.seed)
    init_probability = 1 / (1 + math.exp(-2 * args.bias))
    start = jnp.asarray(rng.random((args.chains, n_units)) < init_probability, jnp.float32)
    factories = ising_samplers(args.pas_path_length)
    names = args.samplers or list(factories)
    rows = {}

    def measure(name, init, step, position):
        key = jax.random.key(args.seed + 1)
        run = running_mean_errors(
            init, step, position, params, start, exact_mean, args.steps, args.record_every
        )
        t0 = time.perf_counter()
        compiled = run.lower(key, start).compile()
        compile_s = time.perf_counter() - t0
        times, log_rmse = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            log_rmse = np.asarray(jax.block_until_ready(compiled(key, start)))
            times.append(time.perf_counter() - t0)
        seconds = float(np.median(times))
        steps = (np.arange(log_rmse.size) + 1) * args.record_every
        rows[name] = {
            "steps": steps.tolist(),
            "log_rmse": log_rmse.tolist(),
            "seconds": (steps / args.steps * seconds).tolist(),
            "run_s": seconds,
            "run_s_all": times,
            "compile_s": compile_s,
            "final_log_rmse": float(log_rmse[-1]),
        }
        print(
            f"{name:>22}: final log-RMSE {log_rmse[-1]:7.3f}  run {seconds:6.2f} s "
            f"(compile {compile_s:.1f} s)",
            flush=True,
        )

    for name in names:
        algorithm = factories[name](ising_energy)
        measure(name, algorithm.init, algorithm.step, lambda state: state.position)
    best = min(rows, key=lambda name: rows[name]["final_log_rmse"])
    if not args.no_pt:
        init, step, position = pt_sampler(factories[best], ising_energy)
        measure(f"PT over {best}", init, step, position)
    return {
        "experiment": "ising",
        "model": {
            "lattice": f"{args.size}x{args.size} periodic",
            "coupling": args.coupling,
            "bias": args.bias,
            "units": "0/1, s = 2x - 1",
        },
        "exact_mean_spin": exact_mean.tolist(),
        "enumeration_s": enumeration_s,
        "chains": args.chains,
        "steps": args.steps,
        "record_every": args.record_every,
        "repeats": args.repeats,
        "best_single": best,
        "samplers": rows,
    }


# --------------------------------------------------------------------------------------
# RBM, log-MMD (rbm_sample.py protocol)
# --------------------------------------------------------------------------------------


def log_mmd(x, y):
    """log of the (biased) MMD^2 with the exponentiated average-Hamming kernel."""

    def kernel(a, b):
        return jnp.exp(-jnp.mean(jnp.abs(a[:, None, :] - b[None, :, :]), axis=-1))

    mmd = kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean()
    return jnp.log(jnp.maximum(mmd, 1e-30))


def train_rbm_cd(data, n_hidden, epochs, seed, cd_steps=10, batch=100, learning_rate=1e-3):
    """CD-k with Adam (the paper's RBM training), written out with the library's Gibbs sweep."""
    import optax

    key = jax.random.key(seed)
    params = bernoulli_rbm.init_params(key, data.shape[1], n_hidden, weight_scale=0.01)
    # as rbm_sample.py: visible biases at the logits of the (clamped) data mean
    mean = np.clip(data.mean(0), 0.01, 0.99)
    params = params._replace(b=jnp.asarray(np.log(mean / (1 - mean)), jnp.float32))
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(params)
    sampler = rbm_gibbs.as_top_level_api("bernoulli")

    def mean_free_energy(params, v):
        return jnp.mean(bernoulli_rbm.free_energy(params, v))

    @jax.jit
    def update(params, opt_state, v, key):
        state = sampler.init(v, params)

        def body(state, k):
            return sampler.step(k, state, params)[0], None

        state, _ = jax.lax.scan(body, state, jax.random.split(key, cd_steps))
        negative = jax.lax.stop_gradient(state.visible)
        grads = jax.grad(lambda p: mean_free_energy(p, v) - mean_free_energy(p, negative))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(data.shape[0])
        for i in range(0, data.shape[0] - batch + 1, batch):
            key, sub = jax.random.split(key)
            params, opt_state = update(
                params, opt_state, jnp.asarray(data[order[i : i + batch]]), sub
            )
        print(f"epoch {epoch + 1}/{epochs}", flush=True)
    return params


def rbm_experiment(args) -> dict:
    with np.load(args.mnist) as f:
        data = (f["x_train"].reshape(-1, 784) / 255.0 > 0.5).astype(np.float32)
    data = data[: args.rbm_train_images]
    params = train_rbm_cd(data, 500, args.rbm_epochs, args.seed)
    sampler = rbm_gibbs.as_top_level_api("bernoulli")
    key = jax.random.key(args.seed + 2)
    start = jax.random.bernoulli(key, 0.5, (500, 784)).astype(jnp.float32)

    @jax.jit
    def ground_truth(key):
        state = sampler.init(start, params)
        state, _ = jax.lax.scan(
            lambda s, k: (sampler.step(k, s, params)[0], None),
            state,
            jax.random.split(key, args.rbm_truth_steps),
        )
        return state.visible

    truth = ground_truth(jax.random.key(args.seed + 3))
    factories = ising_samplers(args.pas_path_length)
    # rbm_sample.py's step sizes on the RBM
    factories["DMALA"] = lambda fn: dmala.as_top_level_api(fn, 0.2)
    factories["DULA"] = lambda fn: dmala.dula(fn, 0.1)
    # the exact locally balanced proposal needs D + 1 = 785 free energies a step: at 100
    # chains x 5,000 steps that is beyond a CPU (and the paper's RBM runs leave it out)
    del factories["LB"]
    # chains start from Bernoulli(data mean), the paper's init_dist
    data_mean = jnp.asarray(np.clip(data.mean(0), 0.01, 0.99), jnp.float32)
    chains_start = jax.random.bernoulli(jax.random.key(args.seed + 4), data_mean, (100, 784))
    chains_start = chains_start.astype(jnp.float32)
    rows = {}
    for name in args.samplers or list(factories):
        algorithm = factories[name](bernoulli_rbm.free_energy)

        @jax.jit
        def run(key, algorithm=algorithm):
            state = algorithm.init(chains_start, params)

            def outer(state, k):
                state, _ = jax.lax.scan(
                    lambda s, kk: (algorithm.step(kk, s, params)[0], None),
                    state,
                    jax.random.split(k, 10),
                )
                return state, log_mmd(state.position, truth)

            n_records = args.rbm_sample_steps // 10
            return jax.lax.scan(outer, state, jax.random.split(key, n_records))[1]

        key = jax.random.key(args.seed + 5)
        compiled = run.lower(key).compile()
        t0 = time.perf_counter()
        values = np.asarray(jax.block_until_ready(compiled(key)))
        rows[name] = {
            "steps": (10 * np.arange(1, values.size + 1)).tolist(),
            "log_mmd": values.tolist(),
            "run_s": time.perf_counter() - t0,  # compilation excluded
        }
        print(f"{name:>14}: final log-MMD {values[-1]:.3f}", flush=True)
    return {"experiment": "rbm", "epochs": args.rbm_epochs, "samplers": rows}


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def plot(result: dict, path: Path) -> Path:
    plt = pyplot()

    rows = result["samplers"]
    if result["experiment"] == "rbm":
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, row in rows.items():
            ax.plot(row["steps"], row["log_mmd"], label=name)
        ax.set_xlabel("steps")
        ax.set_ylabel("log MMD")
        ax.legend(fontsize="small")
    else:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for name, row in rows.items():
            style = "--" if name.startswith("PT") else "-"
            axes[0].plot(row["steps"], row["log_rmse"], style, label=name)
            axes[1].plot(row["seconds"], row["log_rmse"], style, label=name)
        axes[0].set_xlabel("steps")
        axes[1].set_xlabel("wall-clock seconds (compiled run)")
        axes[1].set_xscale("log")
        for ax in axes:
            ax.set_ylabel("log RMSE of the running mean")
        axes[0].legend(fontsize="small")
        fig.suptitle(
            f"{result['model']['lattice']} Ising, coupling {result['model']['coupling']}, bias "
            f"{result['model']['bias']}: {result['chains']} chains"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=["ising", "rbm"], default="ising")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--record-every", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per sampler (median)")
    parser.add_argument("--size", type=int, default=5, help="lattice side (5: 2^25 states)")
    parser.add_argument("--coupling", type=float, default=0.1)
    parser.add_argument("--bias", type=float, default=0.2)
    parser.add_argument("--pas-path-length", type=int, default=3)
    parser.add_argument("--samplers", nargs="*", default=None)
    parser.add_argument("--no-pt", action="store_true", help="skip PT over the best sampler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist", default="/work/shared/data/mnist.npz")
    parser.add_argument("--rbm-epochs", type=int, default=1)
    parser.add_argument("--rbm-train-images", type=int, default=60_000)
    parser.add_argument("--rbm-truth-steps", type=int, default=10_000)
    parser.add_argument("--rbm-sample-steps", type=int, default=5_000)
    parser.add_argument("--output-dir", default=str(RESULTS))
    parser.add_argument("--replot", action="store_true")
    args = parser.parse_args(argv)
    if args.steps % args.record_every:
        parser.error("--steps must be a multiple of --record-every")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"discrete_samplers_{args.experiment}"
    if args.replot:
        result = json.loads((out / f"{stem}.json").read_text())
    else:
        machine = machine_description()
        print(machine)
        result = ising_experiment(args) if args.experiment == "ising" else rbm_experiment(args)
        result["machine"] = machine
        result["command"] = command_line("discrete_samplers", argv)
        write_summary(out / f"{stem}.json", result, indent=1)
    print(f"wrote {out / f'{stem}.json'} and {plot(result, out / f'{stem}.png')}")
    return result


if __name__ == "__main__":
    main()
