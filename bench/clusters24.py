"""24 clusters: axis-aligned uni-gauss experts trained by CD with the PoE Gibbs kernel.

Hinton's lecture 3b: "15 axis-aligned uni-gauss experts fitted to 24 clusters (one
cluster is missing from the grid)", and "fantasies from the model (it fills in the
missing cluster)". The data (:func:`numpyro_ebm.datasets.clusters_grid`) are 24
equally weighted isotropic Gaussians of standard deviation 0.1 on the nodes of the
5 x 5 lattice ``{-2, ..., 2}²``, the centre node ``(0, 0)`` left empty. The model
is a product of uni-gauss experts on the box ``[-3, 3]²``
(:mod:`numpyro_ebm.energies.poe`), learnt by CD-k (or PCD) with the block Gibbs
kernel :mod:`numpyro_ebm.kernels.unigauss_gibbs`::

    rule = learning.cd(lambda p, x: poe.energy(p, x, box), unigauss_gibbs.as_top_level_api(box), k=1)

Axis-aligned experts cannot carve a hole out of a grid: an expert that is sharp in
``x`` and vague in ``y`` is a column of the grid, one sharp in ``y`` a row, and
their product puts mass on every crossing, the empty one included.

Evaluation, all on the box (the model's whole support):

- 2-D quadrature (midpoint rule, step ``--grid-step``) gives ``log Z``, the mean
  test log-likelihood (vs the true data density on the same points, and vs a
  model that fills the gap exactly, the same 24 clusters plus a 25th at the centre,
  all of weight 1/25) and the mass in each lattice cell (the Voronoi cells of
  :func:`numpyro_ebm.datasets.clusters_grid_cell`) and in each cluster's core
  (disc of radius 3 standard deviations);
- fantasies: ``--fantasy-chains`` Gibbs chains started from uniform noise on the
  box, ``--fantasy-sweeps`` sweeps each, one final state per chain (independent
  samples): the fraction in the missing cell, with its binomial standard error.
  These are the model's samples only if the chains have mixed; the JSON's
  ``fantasy_vs_quadrature_cell_tv`` (total variation between the fantasies' and
  the quadrature's cell masses) says whether they have. (An expert whose mixing
  proportion goes to 1 becomes a pure Gaussian, and the Gibbs chain then barely
  leaves the states where that expert chose its uniform.)

The data put 1/24 ≈ 0.0417 on each present cell and 0 on the missing one; a model
that ignored the gap would put 1/25 = 0.04 on every cell. Writes
``clusters24.json`` and ``clusters24.png`` into ``--output-dir`` (default
``bench/results``). Examples (about a minute each on a lightly loaded 2-core
machine)::

    python -m bench.clusters24                                        # CD-1
    python -m bench.clusters24 --rule pcd --name clusters24_pcd       # PCD-1, 1000 chains
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import (
    add_toy_arguments,
    command_line,
    density_figure,
    grid_centres,
    machine_description,
    summary_path,
    timed_toy_fit,
    write_summary,
)
from numpyro_ebm import datasets
from numpyro_ebm.energies import poe
from numpyro_ebm.kernels import unigauss_gibbs
from numpyro_ebm.learning import contrastive_divergence as cdlib

GEOMETRY = datasets.clusters_grid_geometry()  # 5 x 5, centre missing, spacing 1, std 0.1


def filled_log_density(x) -> np.ndarray:
    """Log density of the 24 clusters plus the missing one, 25 equal weights."""
    full = datasets.clusters_grid_log_density(jnp.asarray(x), missing=None)
    return np.asarray(full, np.float64)


def cell_index(points) -> np.ndarray:
    cells = np.asarray(datasets.clusters_grid_cell(jnp.asarray(points)))
    return cells[..., 0] * GEOMETRY.grid + cells[..., 1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=15)
    parser.add_argument("--box-half", type=float, default=3.0)
    add_toy_arguments(
        parser,
        name="clusters24",
        output_dir=RESULTS,
        n_train=4800,
        n_test=24000,
        epochs=300,
        lr=0.01,
        final_lr_fraction=0.1,
    )
    parser.add_argument("--rule", choices=["cd", "pcd"], default="cd")
    parser.add_argument("--k", type=int, default=1, help="Gibbs sweeps per update")
    parser.add_argument("--chains", type=int, default=1000, help="persistent chains (pcd)")
    parser.add_argument(
        "--init-scale",
        type=float,
        default=None,
        help="initial expert standard deviation (default: the data's)",
    )
    parser.add_argument("--fantasy-chains", type=int, default=20000)
    parser.add_argument("--fantasy-sweeps", type=int, default=1000)
    args = parser.parse_args(argv)

    key_data, key_test, key_init, key_fit, key_noise, key_chain = jax.random.split(
        jax.random.key(args.seed), 6
    )
    train = datasets.clusters_grid(key_data, args.n_train)
    test = datasets.clusters_grid(key_test, args.n_test)
    box = poe.make_box(-args.box_half, args.box_half, 2)
    params = poe.init_params(key_init, args.experts, 2, data=train, scale=args.init_scale)

    def energy_fn(p, x):
        return poe.energy(p, x, box)

    sampler = unigauss_gibbs.as_top_level_api(box)
    if args.rule == "cd":
        rule = cdlib.contrastive_divergence(energy_fn, sampler, k=args.k)
    else:
        rule = cdlib.persistent_contrastive_divergence(energy_fn, sampler, args.chains, k=args.k)

    # per-epoch diagnostic: mass of the missing cell on a coarse grid
    coarse_axis = grid_centres(args.box_half, 0.05)
    cx, cy = np.meshgrid(coarse_axis, coarse_axis, indexing="ij")
    coarse = np.stack([cx.ravel(), cy.ravel()], -1).astype(np.float32)
    coarse_missing = jnp.asarray(cell_index(coarse) == 12)

    @jax.jit
    def coarse_missing_mass(p):
        weights = jax.nn.softmax(-energy_fn(p, jnp.asarray(coarse)))
        return jnp.sum(jnp.where(coarse_missing, weights, 0.0))

    result, train_seconds = timed_toy_fit(
        args,
        key_fit,
        params,
        train,
        rule,
        energy_fn,
        {"missing_cell_mass_coarse": lambda p, *_: coarse_missing_mass(p)},
    )
    params = result.params

    # ---- quadrature on the box ----------------------------------------------------------
    started = time.perf_counter()
    step = args.grid_step
    axis = grid_centres(args.box_half, step)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    points = np.stack([xx.ravel(), yy.ravel()], -1).astype(np.float32)
    energy_jit = jax.jit(energy_fn)
    neg_e = -np.asarray(energy_jit(params, jnp.asarray(points)), np.float64)
    log_z = float(np.logaddexp.reduce(neg_e) + 2 * math.log(step))
    log_density = neg_e - log_z
    cell_mass_grid = np.exp(log_density) * step**2
    cells = cell_index(points)
    mass_per_cell = np.bincount(cells, weights=cell_mass_grid, minlength=GEOMETRY.grid**2)
    missing = GEOMETRY.missing[0] * GEOMETRY.grid + GEOMETRY.missing[1]
    present = np.array([i for i in range(GEOMETRY.grid**2) if i != missing])
    core_radius = 3 * GEOMETRY.std
    all_centres = np.concatenate([GEOMETRY.centres, GEOMETRY.missing_centre[None]])
    core_mass = np.array(
        [cell_mass_grid[np.sum((points - c) ** 2, -1) <= core_radius**2].sum() for c in all_centres]
    )
    test_ll = float(np.mean(-np.asarray(energy_jit(params, test), np.float64) - log_z))
    train_ll = float(np.mean(-np.asarray(energy_jit(params, train), np.float64) - log_z))
    true_ll = float(np.mean(np.asarray(datasets.clusters_grid_log_density(test), np.float64)))
    filled_ll = float(np.mean(filled_log_density(test)))

    # ---- fantasies: long Gibbs chains from noise ----------------------------------------
    starts = jax.random.uniform(
        key_noise, (args.fantasy_chains, 2), jnp.float32, -args.box_half, args.box_half
    )
    state = sampler.init(starts, params)

    @jax.jit
    def run(state, key):
        def body(state, key):
            return sampler.step(key, state, params)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, args.fantasy_sweeps))[0]

    fantasies = np.asarray(run(state, key_chain).position)
    fantasy_cells = np.bincount(cell_index(fantasies), minlength=GEOMETRY.grid**2) / len(fantasies)
    f_missing = float(fantasy_cells[missing])
    f_missing_se = math.sqrt(max(f_missing * (1 - f_missing), 1e-12) / len(fantasies))
    eval_seconds = time.perf_counter() - started

    sigma = np.exp(np.asarray(params.log_scale))
    summary = {
        "test_log_likelihood": test_ll,
        "train_log_likelihood": train_ll,
        "true_test_log_likelihood": true_ll,
        "gap_filled_test_log_likelihood": filled_ll,
        "log_partition_function": log_z,
        "missing_cell_mass": float(mass_per_cell[missing]),
        "present_cell_mass_mean": float(mass_per_cell[present].mean()),
        "present_cell_mass_min": float(mass_per_cell[present].min()),
        "present_cell_mass_max": float(mass_per_cell[present].max()),
        "data_present_cell_mass": 1 / 24,
        "gap_ignoring_cell_mass": 1 / 25,
        "missing_core_mass": float(core_mass[-1]),
        "present_core_mass_mean": float(core_mass[:-1].mean()),
        "fantasy_missing_cell_fraction": f_missing,
        "fantasy_missing_cell_fraction_se": f_missing_se,
        "fantasy_present_cell_fraction_mean": float(fantasy_cells[present].mean()),
        "fantasy_present_cell_fraction_min": float(fantasy_cells[present].min()),
        # total variation between the fantasies' and the quadrature's cell masses: large when
        # the chains from noise have not mixed (then the fantasies are not the model's samples)
        "fantasy_vs_quadrature_cell_tv": float(0.5 * np.abs(fantasy_cells - mass_per_cell).sum()),
        "mass_per_cell": mass_per_cell.reshape(GEOMETRY.grid, GEOMETRY.grid).round(5).tolist(),
        "missing_cell_mass_coarse_history": result.history["missing_cell_mass_coarse"][
            :: max(1, args.epochs // 20)
        ],
        "experts": {
            "mixing_proportion": np.asarray(jax.nn.sigmoid(params.logit_mix)).round(3).tolist(),
            "mean": np.asarray(params.mean).round(3).tolist(),
            "std": sigma.round(3).tolist(),
        },
        "train_seconds": round(train_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "quadrature": f"midpoint rule, step {step:g}, on the box [-{args.box_half:g}, {args.box_half:g}]^2",
        "machine": machine_description(),
        "command": command_line("clusters24", argv),
        "config": vars(args),
    }
    output = write_summary(summary_path(args), summary).parent
    if not args.no_plot:
        plot(
            output / f"{args.name}.png",
            axis,
            log_density.reshape(xx.shape),
            np.asarray(train),
            fantasies,
            params,
            args,
        )

    print(f"{'quantity':36s} {'model':>9s} {'data':>9s} {'gap filled':>10s}")
    rows = [
        ("test log-likelihood (nats)", test_ll, true_ll, filled_ll),
        ("mass of the missing cell", summary["missing_cell_mass"], 0.0, 1 / 25),
        ("mean mass of a present cell", summary["present_cell_mass_mean"], 1 / 24, 1 / 25),
        ("fantasies in the missing cell", f_missing, 0.0, 1 / 25),
        (
            "fantasies per present cell (mean)",
            summary["fantasy_present_cell_fraction_mean"],
            1 / 24,
            1 / 25,
        ),
    ]
    for label, *values in rows:
        print(f"{label:36s} {values[0]:9.4f} {values[1]:9.4f} {values[2]:10.4f}")
    print(
        f"train {train_seconds:.0f} s, evaluation {eval_seconds:.0f} s -> {output / args.name}.json"
    )
    return summary


def plot(path, axis, log_density, data, fantasies, params, args):
    from matplotlib.patches import Ellipse

    mean, sigma = np.asarray(params.mean), np.exp(np.asarray(params.log_scale))

    def experts(axes):
        for m, s in zip(mean, sigma, strict=True):
            axes[0].add_patch(Ellipse(m, 2 * s[0], 2 * s[1], fill=False, ec="white", lw=0.6))

    density_figure(
        path,
        axis,
        np.maximum(log_density, log_density.max() - 15),
        [(data, "training data"), (fantasies[:3000], "fantasies")],
        title_prefix="model log density",
        colorbar_label="model log density (clipped 15 nats below the max)",
        title=f"{args.experts} axis-aligned uni-gauss experts, {args.rule.upper()}-{args.k} with "
        "block Gibbs (white: expert Gaussians, 1 sd)",
        alpha=0.5,
        clip_to_grid=True,
        decorate=experts,
    )


if __name__ == "__main__":
    main()
