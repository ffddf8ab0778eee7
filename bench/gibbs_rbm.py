"""Block-Gibbs sweeps per second of a 784x500 Bernoulli RBM, against the speed of light.

All variants run the same number of sweeps in one ``lax.scan`` inside one
``jax.jit``, on ``--chains`` chains in float32, with the parameters passed at
call time:

- ``matmul-only``: ``h = v @ W; v = h @ W.T`` per sweep and nothing else (``W``
  scaled to spectral norm 1 so the values stay bounded): the speed of light on
  this CPU;
- ``no-RNG floor``: the full sweep (biases, sigmoids, comparisons, 0/1 casts)
  against a fixed threshold instead of random numbers: what any random-bit
  scheme can at best reach;
- ``naive plain JAX``: ``jax.random.uniform(k) < jax.nn.sigmoid(logits)`` with
  JAX's default threefry, keys split per sweep;
- ``numpyro_ebm rbm_gibbs``: ``numpyro_ebm.kernels.rbm_gibbs.as_top_level_api(
  "bernoulli")``, its ``step`` scanned.

Shared machines are noisy, so the variants are timed interleaved: each of
``--repeats`` rounds times every variant once, in turn. The table gives the
median sweeps/s over rounds and the median over rounds of each variant's ratio
to the matmul-only loop *of the same round*, with the interquartile range of
that ratio. ``--clock cpu`` measures process CPU time instead of wall time
(useful when other jobs compete for the cores; with one XLA thread it is a
contention-free measure of work). ``--per-draw`` times the Bernoulli draw alone
instead (ns per draw). Example::

    python -m bench.gibbs_rbm --sweeps 200 --repeats 15 --chains 100
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench._common import machine_description, scanned_steps
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.kernels import bernoulli_from_logits, rbm_gibbs


def matmul_only(key, v, params):
    h = v @ params.W
    return h @ params.W.T


def no_rng_floor(key, v, params):
    h = (jax.nn.sigmoid(bernoulli_rbm.hidden_logits(params, v)) > 0.5).astype(v.dtype)
    return (jax.nn.sigmoid(bernoulli_rbm.visible_logits(params, h)) > 0.5).astype(v.dtype)


def naive_gibbs(key, v, params):
    key_h, key_v = jax.random.split(key)
    p_h = jax.nn.sigmoid(bernoulli_rbm.hidden_logits(params, v))
    h = (jax.random.uniform(key_h, p_h.shape, p_h.dtype) < p_h).astype(v.dtype)
    p_v = jax.nn.sigmoid(bernoulli_rbm.visible_logits(params, h))
    return (jax.random.uniform(key_v, p_v.shape, p_v.dtype) < p_v).astype(v.dtype)


_ALGORITHM = rbm_gibbs.as_top_level_api("bernoulli")


def ours(key, state, params):
    return _ALGORITHM.step(key, state, params)[0]


def per_draw(args, clock):
    """ns per Bernoulli draw on ``(chains, visible)`` logits: 400 calls in one lax.scan."""
    calls = 400
    draws = {
        "no RNG (fixed threshold)": lambda key, l: (jax.nn.sigmoid(l) > 0.5).astype(l.dtype),
        "jax.random.uniform < sigmoid": lambda key, l: (
            jax.random.uniform(key, l.shape, l.dtype) < jax.nn.sigmoid(l)
        ).astype(l.dtype),
        "bernoulli_from_logits (ours)": bernoulli_from_logits,
    }

    def scanned(draw):
        @jax.jit
        def run(key, logits):
            def body(carry, key):
                return draw(key, logits + carry[0, 0]), None

            return jax.lax.scan(body, jnp.zeros_like(logits), jax.random.split(key, calls))[0]

        return run

    logits = 3.0 * jax.random.normal(jax.random.key(0), (args.chains, args.visible), jnp.float32)
    runs = {name: scanned(draw) for name, draw in draws.items()}
    key = jax.random.key(1)
    for run in runs.values():
        jax.block_until_ready(run(key, logits))
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = clock()
            jax.block_until_ready(run(key, logits))
            times[name].append((clock() - start) / (calls * logits.size) * 1e9)
    print("| way of drawing | ns/draw (median) |")
    print("|---|---:|")
    for name, values in times.items():
        print(f"| {name} | {np.median(values):.2f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=200, help="sweeps per timed call")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved timing rounds")
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--visible", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument(
        "--per-draw",
        action="store_true",
        help="instead, time the Bernoulli draw alone (ns per draw) on (chains, visible) logits",
    )
    args = parser.parse_args(argv)

    clock = time.perf_counter if args.clock == "wall" else time.process_time
    if args.per_draw:
        per_draw(args, clock)
        return
    params = bernoulli_rbm.init_params(
        jax.random.key(0), args.visible, args.hidden, weight_scale=0.1, dtype=jnp.float32
    )
    v0 = jax.random.bernoulli(jax.random.key(1), 0.5, (args.chains, args.visible)).astype(
        jnp.float32
    )
    unit_params = params._replace(W=params.W / jnp.linalg.norm(params.W, 2))
    variants = {
        "matmul-only (speed of light)": (scanned_steps(matmul_only, args.sweeps), v0, unit_params),
        "no-RNG floor (fixed threshold)": (scanned_steps(no_rng_floor, args.sweeps), v0, params),
        "naive plain JAX (threefry uniform)": (scanned_steps(naive_gibbs, args.sweeps), v0, params),
        "numpyro_ebm rbm_gibbs": (
            scanned_steps(ours, args.sweeps),
            _ALGORITHM.init(v0, params),
            params,
        ),
    }
    key = jax.random.key(2)
    load_before = os.getloadavg()[0]
    for run, carry, p in variants.values():  # compile and warm up
        jax.block_until_ready(run(key, carry, p))
        jax.block_until_ready(run(key, carry, p))

    rates = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (run, carry, p) in variants.items():
            start = clock()
            jax.block_until_ready(run(key, carry, p))
            rates[name].append(args.sweeps / (clock() - start))
    base = np.asarray(rates["matmul-only (speed of light)"])

    print(f"# {machine_description()}")
    print(
        f"# XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}  clock={args.clock}  "
        f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"# {args.visible}x{args.hidden} Bernoulli RBM, {args.chains} chains, float32, "
        f"{args.sweeps} sweeps per call, {args.repeats} interleaved rounds"
    )
    print("| variant | sweeps/s (median) | ratio to matmul-only (median) | ratio IQR |")
    print("|---|---:|---:|---:|")
    for name, values in rates.items():
        values = np.asarray(values)
        ratio = values / base
        q1, q3 = np.percentile(ratio, [25, 75])
        print(
            f"| {name} | {np.median(values):.0f} | {np.median(ratio):.1%} | {q1:.1%} to {q3:.1%} |"
        )


if __name__ == "__main__":
    main()
