"""AIS on a 784x500 Bernoulli RBM (14,500 temperatures, 100 runs) against the speed of light.

Three variants, each a full AIS estimate of log Z in float32, timed interleaved
(each of ``--repeats`` rounds times every variant once, in turn):

- ``matmul-only``: ``pre = v @ W; v = pre @ W.T`` once per temperature and nothing
  else, in one ``lax.scan`` over the schedule (``W`` scaled to spectral norm 1 so
  the values stay bounded): the two matmuls a temperature cannot avoid;
- ``plain JAX AIS``: a straightforward implementation, ``jax.random.bernoulli``
  with JAX's default threefry, ``jax.nn.softplus`` differences, keys split per
  temperature: what one writes without engineering it;
- ``numpyro_ebm ais_bernoulli_rbm``: this library's
  :func:`numpyro_ebm.evaluation.ais.ais_bernoulli_rbm` (base-rate base model).

The table gives the median seconds over rounds and the median over rounds of
each variant's speed relative to the matmul-only loop *of the same round*.
``--params`` evaluates a trained RBM (an ``.npz`` with ``W``, ``b``, ``c``) instead
of random weights; the time does not depend on the weights. Example::

    python -m bench.ais_rbm --repeats 5
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench._common import machine_description
from bench.recipes import load_rbm
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import ais


@jax.jit
def matmul_only(key, v, params, betas):
    def body(v, beta):
        return (v @ params.W) @ params.W.T, None

    return jax.lax.scan(body, v, betas[1:])[0]


@jax.jit
def plain_jax_ais(key, base_bias, params, betas):
    """Salakhutdinov & Murray's AIS written plainly (hidden units summed out)."""
    n_runs = 100
    key_init, key_scan = jax.random.split(key)
    v = jax.random.bernoulli(key_init, jax.nn.sigmoid(base_bias), (n_runs, base_bias.shape[0]))
    v = v.astype(jnp.float32)

    def log_f(v, beta):
        pre = v @ params.W + params.c
        return (1 - beta) * (v @ base_bias) + beta * (v @ params.b) + jnp.sum(
            jax.nn.softplus(beta * pre), axis=-1
        ), pre

    def body(carry, xs):
        v, log_w = carry
        key, beta, beta_prev = xs
        log_new, pre = log_f(v, beta)
        log_old, _ = log_f(v, beta_prev)
        key_h, key_v = jax.random.split(key)
        h = jax.random.bernoulli(key_h, jax.nn.sigmoid(beta * pre)).astype(jnp.float32)
        logits = beta * (h @ params.W.T + params.b) + (1 - beta) * base_bias
        v = jax.random.bernoulli(key_v, jax.nn.sigmoid(logits)).astype(jnp.float32)
        return (v, log_w + log_new - log_old), None

    keys = jax.random.split(key_scan, betas.shape[0] - 1)
    v, log_w = jax.lax.scan(body, (v, jnp.zeros(n_runs)), (keys, betas[1:], betas[:-1]))[0]
    return jax.nn.logsumexp(log_w) - jnp.log(n_runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--temperatures", type=int, default=14500)
    parser.add_argument("--visible", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--params", default=None, help="a trained RBM (.npz with W, b, c)")
    args = parser.parse_args(argv)

    if args.params:
        params = load_rbm(args.params, jnp.float32)
    else:
        params = bernoulli_rbm.init_params(
            jax.random.key(0), args.visible, args.hidden, weight_scale=0.1, dtype=jnp.float32
        )
    n_visible = params.W.shape[0]
    base_bias = jnp.full((n_visible,), -1.0, jnp.float32)
    schedule = ais.default_schedule(args.temperatures)
    v0 = jax.random.bernoulli(jax.random.key(1), 0.5, (args.runs, n_visible)).astype(jnp.float32)
    unit_params = params._replace(W=params.W / jnp.linalg.norm(params.W, 2))

    variants = {
        "matmul-only (speed of light)": lambda key: matmul_only(key, v0, unit_params, schedule),
        "plain JAX AIS (threefry, softplus)": lambda key: plain_jax_ais(
            key, base_bias, params, schedule
        ),
        "numpyro_ebm ais_bernoulli_rbm": lambda key: (
            ais.ais_bernoulli_rbm(
                key, params, n_runs=args.runs, schedule=schedule, base_visible_bias=base_bias
            ).log_z
        ),
    }
    key = jax.random.key(2)
    load_before = os.getloadavg()[0]
    for run in variants.values():  # compile and warm up
        jax.block_until_ready(run(key))

    seconds = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            jax.block_until_ready(run(key))
            seconds[name].append(time.perf_counter() - start)
    base = np.asarray(seconds["matmul-only (speed of light)"])

    print(f"# {machine_description()}")
    print(f"# 1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(
        f"# {n_visible}x{params.W.shape[1]} Bernoulli RBM, {args.runs} runs, "
        f"{args.temperatures} temperatures, float32, {args.repeats} interleaved rounds"
    )
    print("| variant | seconds (median) | speed relative to matmul-only (median) | IQR |")
    print("|---|---:|---:|---:|")
    for name, values in seconds.items():
        values = np.asarray(values)
        ratio = base / values
        q1, q3 = np.percentile(ratio, [25, 75])
        print(
            f"| {name} | {np.median(values):.2f} | {np.median(ratio):.1%} | {q1:.1%} to {q3:.1%} |"
        )


if __name__ == "__main__":
    main()
