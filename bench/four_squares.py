"""4 squares: an MLP energy trained with the HMC shortcut, scored by 2-D quadrature.

Hinton's "simple 2-D dataset" (CSC2535 lecture 3b): points uniform on four unit
squares, ``([-1.5, -0.5] ∪ [0.5, 1.5])²``, so the data's log density is
``-log 4 ≈ -1.386`` on the squares and ``-inf`` elsewhere. The model is an energy
with deterministic hidden units, a softplus MLP (:mod:`numpyro_ebm.energies.mlp`),
learnt with "the shortcut" of the lecture: contrastive divergence whose negative
samples start at the data, get one momentum draw and follow the Hamiltonian
dynamics for a few leapfrog steps (one HMC transition, Metropolis-corrected)::

    learning.cd(energy_fn, hmc.as_top_level_api(energy_fn, step_size, num_integration_steps=L),
                k=1, vmap_chains=True)

By default ``step_size = 0.05`` and ``L = 5`` (``--step-size``, ``--leapfrog``): "slight
corruptions of the datavectors", whose Metropolis acceptance stays above 0.9 all
through training. Longer trajectories (e.g. 0.2 x 20) are rejected more and more
as the walls of the squares sharpen (acceptance 0.04 at the end of training), and
a rejected negative equals its datavector, so the shortcut's gradient fades.

**Normalisability.** A softplus MLP grows at most linearly, and CD from the data
never visits the far field, so nothing stops it from *decreasing* away from the
data. The model is therefore defined on a bounding box (``--support box``, the
default): ``E(x) = MLP(s·x)`` for ``x`` in ``[-3, 3]²`` and ``+inf`` outside, so
the density integrates over a compact set and the quadrature grid covers the
whole support exactly. (HMC proposals leaving the box have infinite energy and
are rejected by the Metropolis test, which keeps the box-restricted density
invariant.) ``--support confine`` instead adds ``0.5·λ‖x‖²`` on all of R² and
integrates over ``[-L, L]²``; the JSON then reports the mass in the outer band of
that grid, which must be small for the figures to mean anything.

``s`` (``--input-scale``, default 4) rescales the input of the first layer, i.e.
the initial scale of the first-layer weights: with Adam, whose steps are about
``lr`` per weight whatever its size, a larger ``s`` lets the first-layer
features (and so the walls of the squares) become sharp sooner.

**A persistent negative phase mixed into the shortcut** (``--extra pcd``, the
default, weight ``w = --extra-weight = 0.25``): the gradient is
``(1 - w)·g_shortcut + w·g_pcd``, where ``g_pcd`` comes from
:func:`numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`
with ``--extra-chains`` persistent chains, each advanced ``--extra-k`` steps of
random-walk Metropolis (:mod:`numpyro_ebm.kernels.random_walk`, proposal sd
``--rw-scale = 1``) per update. The shortcut only sees rivals "in the vicinity of
the data" (lecture 3b), so it cannot learn the *relative* masses of the four
squares (its HMC negatives never cross a gap) nor lift the energy of regions far
from the data; the wide random walk jumps between squares and does both.
``--extra replay`` uses a replay buffer instead
(:func:`numpyro_ebm.learning.replay.persistent_with_replay`, noise uniform on the
box); ``--extra none`` is the pure shortcut.

Evaluation (midpoint rule on a grid of step ``--grid-step`` whose lines contain
the square edges): ``log Z``, the mean test and train log-likelihoods, and the
model's probability mass inside the four squares; also, as a sampling
cross-check of that mass, the fraction of the final states of
``--sample-chains`` long chains started from uniform noise (each round one
random-walk step, which moves between squares, then one HMC step) that lie in
the squares. Writes ``four_squares.json`` and ``four_squares.png`` into
``--output-dir`` (default ``bench/results``). Example (defaults: 400 epochs, about
2.5 minutes on a lightly loaded 2-core machine)::

    python -m bench.four_squares
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import (
    add_toy_arguments,
    command_line,
    density_figure,
    energies_on,
    grid_centres,
    grid_quadrature,
    machine_description,
    summary_path,
    timed_toy_fit,
    write_summary,
)
from numpyro_ebm import datasets
from numpyro_ebm.energies import mlp
from numpyro_ebm.kernels import hmc, random_walk
from numpyro_ebm.learning import contrastive_divergence as cdlib
from numpyro_ebm.learning import replay

TRUE_LOG_DENSITY = -math.log(4.0)


# ----------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------


def make_energy(support: str, box_half: float, lam: float, input_scale: float):
    """The energy ``E(params, x)`` of the benchmark (see the module docstring)."""

    def energy_fn(params, x):
        e = mlp.energy(params, input_scale * x)
        if support == "box":
            inside = jnp.all(jnp.abs(x) <= box_half, axis=-1)
            return jnp.where(inside, e, jnp.inf)
        return e + 0.5 * lam * jnp.sum(jnp.square(x), axis=-1)

    return energy_fn


class MixedState(NamedTuple):
    states: tuple


def mix_rules(rules, weights) -> cdlib.LearningRule:
    """A learning rule whose gradient is ``sum_i w_i g_i`` (all rules share the positive phase,
    so this mixes their negative phases). Diagnostics come from the first rule, except
    the negative energy, which is the weighted mean."""
    weights = tuple(float(w) for w in weights)

    def init(rng_key, params, data=None):
        keys = jax.random.split(rng_key, len(rules))
        return MixedState(tuple(r.init(k, params, data) for r, k in zip(rules, keys, strict=True)))

    def step(rng_key, state, params, batch):
        keys = jax.random.split(rng_key, len(rules))
        outputs = [
            r.step(k, s, params, batch) for r, k, s in zip(rules, keys, state.states, strict=True)
        ]
        grads = jax.tree.map(
            lambda *g: sum(w * gi for w, gi in zip(weights, g, strict=True)),
            *[o[0] for o in outputs],
        )
        first = outputs[0][2]
        negative = sum(w * o[2].negative_energy for w, o in zip(weights, outputs, strict=True))
        info = cdlib.ContrastiveInfo(first.positive_energy, negative, first.sampler_info)
        return grads, MixedState(tuple(o[1] for o in outputs)), info

    return cdlib.LearningRule(init, step)


# ----------------------------------------------------------------------------------------
# Quadrature
# ----------------------------------------------------------------------------------------


class Quadrature(NamedTuple):
    axis: np.ndarray
    log_density: np.ndarray  # (n, n), [i, j] at (axis[i], axis[j])
    log_z: float
    mass_in_squares: float
    outer_band_mass: float  # mass in the outermost 10% of the grid (coverage check)


def quadrature(energy_fn, params, half: float, step: float) -> Quadrature:
    grid = grid_quadrature(energy_fn, params, half, step)
    xx, yy = np.meshgrid(grid.axis, grid.axis, indexing="ij")
    cell_mass = np.exp(grid.log_density) * step**2
    mask = np.asarray(datasets.four_squares_mask(jnp.asarray(grid.points))).reshape(xx.shape)
    band = np.maximum(np.abs(xx), np.abs(yy)) > 0.9 * half
    return Quadrature(
        grid.axis,
        grid.log_density,
        grid.log_z,
        float(cell_mass[mask].sum()),
        float(cell_mass[band].sum()),
    )


def log_likelihood(energy_fn, params, x, log_z: float) -> float:
    return float(np.mean(-energies_on(energy_fn, params, np.asarray(x)) - log_z))


# ----------------------------------------------------------------------------------------
# Long chains for the picture (and a sampling cross-check of the mass)
# ----------------------------------------------------------------------------------------


def long_chains(params, samplers, rng_key, starts, n_steps: int):
    """``n_steps`` rounds of one step of each sampler in turn (each MH-exact for the model),
    ``len(starts)`` chains; returns the final positions and each sampler's mean acceptance."""

    @jax.jit
    def run(positions, key):
        def body(positions, key):
            keys = jax.random.split(key, len(samplers))
            rates = []
            for sampler, k in zip(samplers, keys, strict=True):
                states = jax.vmap(sampler.init, in_axes=(0, None))(positions, params)
                chain_keys = jax.random.split(k, positions.shape[0])
                states, info = jax.vmap(sampler.step, in_axes=(0, 0, None))(
                    chain_keys, states, params
                )
                positions = states.position
                rates.append(jnp.mean(info.acceptance_rate))
            return positions, jnp.stack(rates)

        return jax.lax.scan(body, positions, jax.random.split(key, n_steps))

    positions, rates = run(starts, rng_key)
    return positions, [float(r) for r in jnp.mean(rates, axis=0)]


def plot(path: Path, quad: Quadrature, samples: np.ndarray, data: np.ndarray, title: str):
    from matplotlib.patches import Rectangle

    geometry = datasets.four_squares_geometry()

    def squares(axes):
        for ax in axes:
            for lower in geometry.lower:
                ax.add_patch(Rectangle(lower, 1, 1, fill=False, ec="white", lw=0.8))

    density_figure(
        path,
        quad.axis,
        np.maximum(quad.log_density, TRUE_LOG_DENSITY - 12),
        [(data, "training data"), (samples, "model samples")],
        title_prefix="log density",
        colorbar_label="model log density (true: -log 4 = -1.386)",
        title=title,
        alpha=0.6,
        decorate=squares,
    )


# ----------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", default="64,64", help="hidden layer widths, comma-separated")
    parser.add_argument("--support", choices=["box", "confine"], default="box")
    parser.add_argument("--box-half", type=float, default=3.0, help="box [-a, a]^2 (support box)")
    parser.add_argument("--lam", type=float, default=0.05, help="confinement 0.5 lam |x|^2")
    parser.add_argument("--grid-half", type=float, default=8.0, help="quadrature grid (confine)")
    parser.add_argument("--input-scale", type=float, default=4.0)
    add_toy_arguments(
        parser,
        name="four_squares",
        output_dir=RESULTS,
        n_train=4000,
        n_test=20000,
        epochs=400,
        lr=3e-3,
        final_lr_fraction=0.01,
    )
    parser.add_argument("--step-size", type=float, default=0.05, help="leapfrog step size")
    parser.add_argument("--leapfrog", type=int, default=5, help="leapfrog steps of the shortcut")
    parser.add_argument(
        "--extra",
        choices=["none", "pcd", "replay"],
        default="pcd",
        help="extra negative phase mixed with the shortcut",
    )
    parser.add_argument("--extra-weight", type=float, default=0.25)
    parser.add_argument("--extra-sampler", choices=["rw", "hmc"], default="rw")
    parser.add_argument("--extra-chains", type=int, default=500)
    parser.add_argument("--extra-k", type=int, default=5, help="kernel steps per update")
    parser.add_argument("--rw-scale", type=float, default=1.0, help="random-walk proposal sd")
    parser.add_argument("--replay-buffer", type=int, default=10000)
    parser.add_argument("--replay-reinit", type=float, default=0.05)
    parser.add_argument("--sample-chains", type=int, default=2000)
    parser.add_argument("--sample-steps", type=int, default=500)
    args = parser.parse_args(argv)

    hidden = tuple(int(h) for h in args.hidden.split(","))
    key_data, key_test, key_init, key_fit, key_chain, key_start = jax.random.split(
        jax.random.key(args.seed), 6
    )
    train = datasets.four_squares(key_data, args.n_train)
    test = datasets.four_squares(key_test, args.n_test)
    params = mlp.init_params(key_init, (2, *hidden))
    energy_fn = make_energy(args.support, args.box_half, args.lam, args.input_scale)

    sampler = hmc.as_top_level_api(
        energy_fn, step_size=args.step_size, num_integration_steps=args.leapfrog
    )
    rule = cdlib.contrastive_divergence(energy_fn, sampler, k=1, vmap_chains=True)
    half = args.box_half if args.support == "box" else args.grid_half
    if args.extra != "none":
        if args.extra_sampler == "rw":
            extra_sampler = random_walk.as_top_level_api(energy_fn, step_size=args.rw_scale)
        else:
            extra_sampler = sampler
        if args.extra == "pcd":
            extra_rule = cdlib.persistent_contrastive_divergence(
                energy_fn, extra_sampler, args.extra_chains, k=args.extra_k, vmap_chains=True
            )
        else:

            def noise(rng_key, n):
                return jax.random.uniform(
                    rng_key, (n, 2), jnp.float32, -args.box_half, args.box_half
                )

            extra_rule = replay.persistent_with_replay(
                energy_fn,
                extra_sampler,
                n_chains=args.extra_chains,
                buffer_size=args.replay_buffer,
                k=args.extra_k,
                reinit_fraction=args.replay_reinit,
                noise_fn=noise,
                vmap_chains=True,
            )
        rule = mix_rules([rule, extra_rule], [1 - args.extra_weight, args.extra_weight])

    coarse_step = 0.025
    coarse_axis = grid_centres(half, coarse_step)
    cx, cy = np.meshgrid(coarse_axis, coarse_axis, indexing="ij")
    coarse = jnp.asarray(np.stack([cx.ravel(), cy.ravel()], -1), jnp.float32)
    coarse_mask = datasets.four_squares_mask(coarse)

    @jax.jit
    def coarse_mass(params):
        neg_e = -energy_fn(params, coarse)
        return jnp.sum(jnp.where(coarse_mask, jax.nn.softmax(neg_e), 0.0))

    result, train_seconds = timed_toy_fit(
        args,
        key_fit,
        params,
        train,
        rule,
        energy_fn,
        {"mass_in_squares_coarse": lambda p, *_: coarse_mass(p)},
    )
    params = result.params

    started = time.perf_counter()
    quad = quadrature(energy_fn, params, half, args.grid_step)
    test_ll = log_likelihood(energy_fn, params, test, quad.log_z)
    train_ll = log_likelihood(energy_fn, params, train, quad.log_z)
    starts = jax.random.uniform(
        key_start, (args.sample_chains, 2), jnp.float32, -min(half, 3.0), min(half, 3.0)
    )
    # a wide random walk moves chains between (and into) the squares, HMC moves them within
    chain_samplers = [random_walk.as_top_level_api(energy_fn, step_size=args.rw_scale), sampler]
    samples, acceptance = long_chains(params, chain_samplers, key_chain, starts, args.sample_steps)
    samples = np.asarray(samples)
    sample_fraction = float(np.mean(np.asarray(datasets.four_squares_mask(jnp.asarray(samples)))))
    eval_seconds = time.perf_counter() - started

    history = result.history
    summary = {
        "test_log_likelihood": test_ll,
        "train_log_likelihood": train_ll,
        "true_log_likelihood": TRUE_LOG_DENSITY,
        "mass_in_squares": quad.mass_in_squares,
        "log_partition_function": quad.log_z,
        "outer_band_mass": quad.outer_band_mass,
        "sample_fraction_in_squares": sample_fraction,
        "sample_acceptance_rate_random_walk": acceptance[0],
        "sample_acceptance_rate_hmc": acceptance[1],
        "final_training_acceptance_rate": history.get("acceptance_rate", [float("nan")])[-1],
        "mass_in_squares_coarse_history": history["mass_in_squares_coarse"][
            :: max(1, args.epochs // 20)
        ],
        "train_seconds": round(train_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "model": (
            f"E(x) = MLP{(2, *hidden)}(softplus)({args.input_scale:g} x) "
            + (
                f"on the box [-{args.box_half:g}, {args.box_half:g}]^2 (+inf outside)"
                if args.support == "box"
                else f"+ 0.5*{args.lam:g}*|x|^2 on R^2"
            )
        ),
        "quadrature": f"midpoint rule, step {args.grid_step:g}, on [-{half:g}, {half:g}]^2",
        "machine": machine_description(),
        "command": command_line("four_squares", argv),
        "config": vars(args),
    }
    output = write_summary(summary_path(args), summary).parent
    if not args.no_plot:
        plot(output / f"{args.name}.png", quad, samples, np.asarray(train), summary["model"])

    rows = [
        ("test log-likelihood (nats)", test_ll, TRUE_LOG_DENSITY),
        ("train log-likelihood (nats)", train_ll, TRUE_LOG_DENSITY),
        ("mass inside the squares", quad.mass_in_squares, 1.0),
        ("long-chain samples inside", sample_fraction, 1.0),
    ]
    print(f"{'quantity':32s} {'model':>9s} {'data':>9s}")
    for label, value, target in rows:
        print(f"{label:32s} {value:9.4f} {target:9.4f}")
    print(
        f"train {train_seconds:.0f} s, evaluation {eval_seconds:.0f} s -> {output / args.name}.json"
    )
    return summary


if __name__ == "__main__":
    main()
