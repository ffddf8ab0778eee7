"""Score matching vs CD-k vs PCD at the same budget, scored by exact test log-likelihood.

Three problems, one model each, trained from the same initial parameters with the
same data, epochs, batch size, optimizer (Adam with the same cosine-decayed
learning rate) and training key by three library learning rules, all through
:func:`numpyro_ebm.learning.fit`:

- **score matching**, :func:`numpyro_ebm.learning.score_matching.score_matching`:
  ``"exact"`` (Hyvärinen's objective, Hessian trace by automatic differentiation)
  on every problem; on the Gaussian-Bernoulli RBM also ``"sliced"`` (one Gaussian
  projection per example, Song et al. 2019) and ``"denoising"`` (noise sd
  ``--dsm-noise``, Vincent 2011);
- **CD-k**, :func:`numpyro_ebm.learning.contrastive_divergence.contrastive_divergence`:
  chains restarted at the minibatch, ``k`` kernel steps;
- **PCD**, :func:`numpyro_ebm.learning.contrastive_divergence.persistent_contrastive_divergence`:
  the same kernel and ``k`` as CD, on persistent chains.

Problems (``--problem``):

``four_squares``
    Hinton's 4 squares (``datasets.four_squares``) and the MLP energy of
    ``bench/four_squares.py`` (softplus 2-64-64-1 applied to ``4·x`` on the box
    ``[-3, 3]²``, its ``make_energy``). CD and PCD use random-walk Metropolis
    (proposal sd ``--rw-scale``), ``k = 5``; PCD has 500 chains. Scored by midpoint
    quadrature on the box (``four_squares.quadrature``). The data density is
    discontinuous (uniform on the squares), so its score does not exist at the
    square edges and Hyvärinen's objective ``E[½‖∇E‖² − ΔE]`` is not a Fisher
    divergence here; the box itself is harmless (the data vanish near its edge, and
    score matching never evaluates the energy off the data).
``clusters24``
    The 24 clusters (``datasets.clusters_grid``) and 15 axis-aligned uni-gauss
    experts on the box ``[-3, 3]²`` (``energies.poe``), as in
    ``bench/clusters24.py``; CD-1 and PCD-1 (1000 chains) with the block Gibbs
    kernel ``kernels.unigauss_gibbs``. The model's density does not vanish at the
    box edge, so integration by parts leaves the boundary term
    ``∮ p_data (∇ log p_model · n)``; it is computed (``box_boundary_term``) and
    is negligible because the data density is negligible there. Scored by midpoint
    quadrature on the box.
``gbrbm``
    A Gaussian-Bernoulli RBM (``energies.gaussian_rbm``), 16 visible and 8 hidden
    units (``--gbrbm-visible``, ``--gbrbm-hidden``), visible standard deviations fixed
    at 1 (not learnt, by every rule), fitted to data drawn exactly from a *teacher*
    RBM of the same shape (weights of sd ``--teacher-weight-scale``; hidden
    states from their exact marginal by enumeration, then the visible Gaussian), so
    the model is well specified and the teacher's own test log-likelihood is the
    ceiling; a full-covariance Gaussian fitted by maximum likelihood is the floor.
    CD-1 and PCD-1 (100 chains) with the block Gibbs kernel
    ``kernels.rbm_gibbs("gaussian")`` on the free energy. Scored exactly:
    ``evaluation.exact.log_partition_gaussian_rbm`` (visible Gaussians integrated
    in closed form, the 2^8 hidden states enumerated, float64).

Cost. Besides the wall time and the process CPU time (all threads; robust to other
jobs on the machine) of training (per-epoch metrics excluded, compilation
included), each run records what one update computes, per example:
``x_gradients`` (∇ₓE, for score matching the score), ``hessian_vector_products``
(∇ₓ²E·v, score matching), ``energy_evaluations`` (random-walk Metropolis, which
evaluates energies without gradients; ``refresh=True`` re-evaluates the current
state every step), ``gibbs_sweeps`` (closed-form conditionals, no energy
gradient) and ``theta_gradients`` (examples whose ∇_θ is taken: batch plus
negatives for CD/PCD; for score matching one per example, but through the score
and the Hessian-vector products). ``gradient_evaluations`` sums x-gradients,
Hessian-vector products and θ-gradients, each counted as one.

Every epoch also records an approximate test log-likelihood curve (coarse
quadrature, step ``--curve-grid-step``, on 2000 test points; exact on 2000 test
points for the RBM). Writes ``score_matching_compare_<problem>.json`` (and
``.png``) into ``--output-dir`` (default ``bench/results``). Example (all three
problems, 6 minutes on a 2-core machine shared with other jobs, load average 8)::

    python -m bench.score_matching_compare --problem all
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench import RESULTS, clusters24, four_squares
from bench._common import (
    command_line,
    grid_centres,
    grid_quadrature,
    machine_description,
    pyplot,
    write_summary,
)
from numpyro_ebm import datasets
from numpyro_ebm.energies import gaussian_rbm, mlp, poe
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import random_walk, rbm_gibbs, unigauss_gibbs
from numpyro_ebm.learning import contrastive_divergence as cdlib
from numpyro_ebm.learning import fit
from numpyro_ebm.learning import score_matching as smlib

PROBLEMS = ("four_squares", "clusters24", "gbrbm")

# per-problem defaults (overridden by the command line when given)
DEFAULTS = {
    "four_squares": dict(
        n_train=4000, n_test=20000, epochs=100, lr=3e-3, final_lr_fraction=0.01, k=5, chains=500
    ),
    "clusters24": dict(
        n_train=4800, n_test=24000, epochs=150, lr=1e-2, final_lr_fraction=0.1, k=1, chains=1000
    ),
    "gbrbm": dict(
        n_train=5000, n_test=10000, epochs=100, lr=3e-3, final_lr_fraction=0.1, k=1, chains=100
    ),
}
CURVE_POINTS = 2000


class Method(NamedTuple):
    label: str
    rule: cdlib.LearningRule
    description: str
    cost: dict  # per update, counts of per-example operations


def _cost(**counts) -> dict:
    counts = {k: int(v) for k, v in counts.items()}
    counts["gradient_evaluations"] = (
        counts.get("x_gradients", 0)
        + counts.get("hessian_vector_products", 0)
        + counts.get("theta_gradients", 0)
    )
    return counts


def sm_cost(batch: int, dim: int, method: str, n_probes: int = 1) -> dict:
    hvp = {"exact": dim, "sliced": n_probes, "hutchinson": n_probes, "denoising": 0}[method]
    return _cost(x_gradients=batch, hessian_vector_products=batch * hvp, theta_gradients=batch)


def train_one(key, params, train, method: Method, optimizer, args, energy_fn, curve_fn):
    """``fit`` one rule; returns the result and timings with the curve's evaluation excluded."""
    curve_seconds: list[float] = []
    curve_cpu_seconds: list[float] = []

    def timed_curve(p, *_):
        started, cpu_started = time.perf_counter(), time.process_time()
        value = float(curve_fn(p))
        curve_seconds.append(time.perf_counter() - started)
        curve_cpu_seconds.append(time.process_time() - cpu_started)
        return value

    started, cpu_started = time.perf_counter(), time.process_time()
    result = fit(
        key,
        params,
        train,
        method.rule,
        optimizer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        energy_fn=energy_fn,
        metrics={"test_log_likelihood_curve": timed_curve},
        progress=not args.quiet,
        chain_diagnostics=False,
    )
    total = time.perf_counter() - started - sum(curve_seconds)
    cpu_total = time.process_time() - cpu_started - sum(curve_cpu_seconds)
    # fit also calls each metric once before training, to check it: the last calls, one
    # an epoch, are the ones inside the epochs' wall times
    wall_times = result.history["wall_time"]
    per_epoch_curve = curve_seconds[len(curve_seconds) - len(wall_times) :]
    epoch_seconds = [w - c for w, c in zip(wall_times, per_epoch_curve, strict=True)]
    updates = args.epochs * (len(train) // args.batch_size)
    info = {
        "label": method.label,
        "rule": method.description,
        "train_seconds": round(total, 2),
        "train_cpu_seconds": round(cpu_total, 2),
        "seconds_per_epoch_median": round(statistics.median(epoch_seconds), 4),
        "seconds_per_epoch_median_after_first": round(
            statistics.median(epoch_seconds[1:] or epoch_seconds), 4
        ),
        "cost_per_update": method.cost,
        "gradient_evaluations_total": method.cost["gradient_evaluations"] * updates,
        "updates": updates,
        "curve": {
            "epoch": result.history["epoch"],
            "test_log_likelihood": result.history["test_log_likelihood_curve"],
            "cumulative_train_seconds": np.cumsum(epoch_seconds).round(3).tolist(),
            # the first epoch's time (mostly compilation) replaced by the median of the others
            "cumulative_train_seconds_without_compilation": np.cumsum(
                [statistics.median(epoch_seconds[1:] or epoch_seconds), *epoch_seconds[1:]]
            )
            .round(3)
            .tolist(),
        },
        "rollbacks_learning_rate_scale": result.history["learning_rate_scale"][-1],
    }
    if "loss" in result.history:
        info["final_epoch_score_matching_loss"] = result.history["loss"][-1]
    acceptance = result.history.get("acceptance_rate")
    if acceptance:
        info["final_epoch_acceptance_rate"] = acceptance[-1]
    return result, info


def optimizer_for(args, n_train: int):
    steps = args.epochs * (n_train // args.batch_size)
    schedule = optax.cosine_decay_schedule(args.lr, max(steps, 1), alpha=args.final_lr_fraction)
    return optax.adam(schedule), (
        f"optax.adam(cosine_decay_schedule({args.lr:g}, {steps} steps, "
        f"alpha={args.final_lr_fraction:g}))"
    )


def coarse_curve_2d(energy_fn, half: float, step: float, test):
    """Per-epoch test log-likelihood by coarse midpoint quadrature (jitted)."""
    axis = grid_centres(half, step)
    cx, cy = np.meshgrid(axis, axis, indexing="ij")
    coarse = jnp.asarray(np.stack([cx.ravel(), cy.ravel()], -1), jnp.float32)
    subset = jnp.asarray(test[:CURVE_POINTS])
    log_cell = 2 * math.log(step)

    @jax.jit
    def curve(p):
        log_z = jax.nn.logsumexp(-energy_fn(p, coarse)) + log_cell
        return jnp.mean(-energy_fn(p, subset)) - log_z

    return curve


@functools.cache
def _exact_sm_loss(energy_fn):
    return jax.jit(smlib.score_matching_loss(energy_fn, "exact"))


def test_sm_objective(energy_fn, params, test) -> float:
    """Hyvärinen's objective (exact) of a learned model on (up to 5000) test points."""
    return float(_exact_sm_loss(energy_fn)(params, jnp.asarray(test[:5000])))


# ----------------------------------------------------------------------------------------
# 4 squares
# ----------------------------------------------------------------------------------------


def run_four_squares(args, key):
    key_data, key_test, key_init, key_fit = jax.random.split(key, 4)
    train = datasets.four_squares(key_data, args.n_train)
    test = datasets.four_squares(key_test, args.n_test)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    params0 = mlp.init_params(key_init, (2, *hidden))
    half, input_scale = 3.0, 4.0
    energy_fn = four_squares.make_energy("box", half, 0.0, input_scale)
    sampler = random_walk.as_top_level_api(energy_fn, step_size=args.rw_scale)
    b, k, n = args.batch_size, args.k, args.chains
    methods = {
        "sm_exact": Method(
            "SM (exact)",
            smlib.score_matching(energy_fn, "exact"),
            "learning.score_matching.score_matching(E, 'exact')",
            sm_cost(b, 2, "exact"),
        ),
        "cd": Method(
            f"CD-{k}",
            cdlib.contrastive_divergence(energy_fn, sampler, k=k, vmap_chains=True),
            f"learning.cd(E, random_walk(E, step_size={args.rw_scale:g}), k={k}, vmap_chains=True)",
            _cost(energy_evaluations=b * (1 + 2 * k), theta_gradients=2 * b),
        ),
        "pcd": Method(
            f"PCD-{k}",
            cdlib.persistent_contrastive_divergence(energy_fn, sampler, n, k=k, vmap_chains=True),
            f"learning.pcd(E, random_walk(E, step_size={args.rw_scale:g}), n_chains={n}, k={k}, "
            "vmap_chains=True)",
            _cost(energy_evaluations=n * 2 * k, theta_gradients=b + n),
        ),
    }
    optimizer, _ = optimizer_for(args, len(train))
    curve = coarse_curve_2d(energy_fn, half, args.curve_grid_step, np.asarray(test))
    out, images = {}, {}
    for name, method in methods.items():
        result, info = train_one(key_fit, params0, train, method, optimizer, args, energy_fn, curve)
        params = result.params
        quad = four_squares.quadrature(energy_fn, params, half, args.grid_step)
        info.update(
            test_log_likelihood=four_squares.log_likelihood(energy_fn, params, test, quad.log_z),
            train_log_likelihood=four_squares.log_likelihood(energy_fn, params, train, quad.log_z),
            log_partition_function=quad.log_z,
            mass_in_squares=quad.mass_in_squares,
            square_masses=square_masses(quad),
            # KL(data's square masses || model's), as for clusters24's cells
            square_allocation_kl=allocation_kl(np.array(square_masses(quad))),
            test_score_matching_objective=test_sm_objective(energy_fn, params, test),
        )
        out[name] = info
        images[name] = (quad.axis, quad.log_density)
        report(name, info)
    summary = {
        "problem": "four_squares",
        "model": f"E(x) = MLP{(2, *hidden)}(softplus)({input_scale:g} x) on the box "
        f"[-{half:g}, {half:g}]^2 (+inf outside)",
        "data": f"{args.n_train} training / {args.n_test} test points uniform on "
        "([-1.5, -0.5] u [0.5, 1.5])^2",
        "reference": {"true_test_log_likelihood": four_squares.TRUE_LOG_DENSITY},
        "evaluation": f"midpoint rule, step {args.grid_step:g}, on the box",
        "score_matching_validity": (
            "the data density is uniform on the squares and jumps to 0 at their edges, so its "
            "score does not exist there and Hyvarinen's objective is not a Fisher divergence "
            "(it is unbounded below as the model's walls sharpen); the box is irrelevant to "
            "score matching (the data vanish near its edge, and the energy is only evaluated "
            "at data points)"
        ),
    }
    return summary, out, images, np.asarray(train)


def allocation_kl(model_masses) -> float:
    """``KL(uniform || m) = sum (1/n) log((1/n) / m_i)`` over ``n`` equally weighted regions.

    The data put ``1/n`` on each region and nothing elsewhere, so this is the part of the
    test log-likelihood gap explained by how the model shares its mass between the regions
    (mass outside all of them included); inf when a region gets no mass at all.
    """
    m = np.asarray(model_masses, np.float64)
    n = len(m)
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log((1.0 / n) / m)) / n)


def square_masses(quad) -> list[float]:
    """Model mass in each of the four squares (order of ``four_squares_geometry().lower``)."""
    geometry = datasets.four_squares_geometry()
    xx, yy = np.meshgrid(quad.axis, quad.axis, indexing="ij")
    cell = np.exp(quad.log_density) * (quad.axis[1] - quad.axis[0]) ** 2
    masses = []
    for lower, upper in zip(geometry.lower, geometry.upper, strict=True):
        inside = (xx >= lower[0]) & (xx <= upper[0]) & (yy >= lower[1]) & (yy <= upper[1])
        masses.append(float(cell[inside].sum()))
    return masses


# ----------------------------------------------------------------------------------------
# 24 clusters
# ----------------------------------------------------------------------------------------


def box_boundary_term(energy_fn, params, half: float, step: float) -> float:
    """``∮ p_data(x) ∇ₓ log p_model(x) · n(x) dl`` over the box edge (midpoint rule).

    The term Hyvärinen's integration by parts drops; it vanishes when the data
    density does at the box edge.
    """
    t = grid_centres(half, step)
    edges, normals = [], []
    for axis in (0, 1):
        for sign in (-1.0, 1.0):
            pts = np.zeros((len(t), 2), np.float32)
            pts[:, axis] = sign * half
            pts[:, 1 - axis] = t
            normal = np.zeros(2)
            normal[axis] = sign
            edges.append(pts)
            normals.append(np.broadcast_to(normal, (len(t), 2)))
    points, normals = np.concatenate(edges), np.concatenate(normals)
    s = np.asarray(smlib.score(energy_fn, params, jnp.asarray(points)), np.float64)
    p_data = np.exp(np.asarray(datasets.clusters_grid_log_density(jnp.asarray(points)), np.float64))
    return float(np.sum(p_data * np.sum(s * normals, -1)) * step)


def run_clusters24(args, key):
    key_data, key_test, key_init, key_fit = jax.random.split(key, 4)
    train = datasets.clusters_grid(key_data, args.n_train)
    test = datasets.clusters_grid(key_test, args.n_test)
    half = 3.0
    box = poe.make_box(-half, half, 2)
    params0 = poe.init_params(key_init, args.experts, 2, data=train)
    energy_fn = functools.partial(poe.energy, box=box)
    sampler = unigauss_gibbs.as_top_level_api(box)
    b, k, n = args.batch_size, args.k, args.chains
    methods = {
        "sm_exact": Method(
            "SM (exact)",
            smlib.score_matching(energy_fn, "exact"),
            "learning.score_matching.score_matching(E, 'exact')",
            sm_cost(b, 2, "exact"),
        ),
        "cd": Method(
            f"CD-{k}",
            cdlib.contrastive_divergence(energy_fn, sampler, k=k),
            f"learning.cd(E, unigauss_gibbs(box), k={k})",
            _cost(gibbs_sweeps=b * k, theta_gradients=2 * b),
        ),
        "pcd": Method(
            f"PCD-{k}",
            cdlib.persistent_contrastive_divergence(energy_fn, sampler, n, k=k),
            f"learning.pcd(E, unigauss_gibbs(box), n_chains={n}, k={k})",
            _cost(gibbs_sweeps=n * k, theta_gradients=b + n),
        ),
    }
    optimizer, _ = optimizer_for(args, len(train))
    curve = coarse_curve_2d(energy_fn, half, args.curve_grid_step, np.asarray(test))
    geometry = clusters24.GEOMETRY
    missing = geometry.missing[0] * geometry.grid + geometry.missing[1]
    present = np.array([i for i in range(geometry.grid**2) if i != missing])
    out, images = {}, {}
    for name, method in methods.items():
        result, info = train_one(key_fit, params0, train, method, optimizer, args, energy_fn, curve)
        params = result.params
        grid = grid_quadrature(energy_fn, params, half, args.grid_step)
        cell_mass = np.exp(grid.log_density.ravel()) * args.grid_step**2
        per_cell = np.bincount(
            clusters24.cell_index(grid.points), weights=cell_mass, minlength=geometry.grid**2
        )
        energy_jit = jax.jit(energy_fn)
        info.update(
            test_log_likelihood=float(
                np.mean(-np.asarray(energy_jit(params, test), np.float64)) - grid.log_z
            ),
            train_log_likelihood=float(
                np.mean(-np.asarray(energy_jit(params, train), np.float64)) - grid.log_z
            ),
            log_partition_function=grid.log_z,
            missing_cell_mass=float(per_cell[missing]),
            # KL(data's cell masses || model's): the part of the test log-likelihood lost by
            # sharing the mass wrongly between the lattice cells (whatever the shape within them)
            cell_allocation_kl=allocation_kl(per_cell[present]),
            mass_per_cell=per_cell.reshape(geometry.grid, geometry.grid).round(5).tolist(),
            present_cell_mass_min=float(per_cell[present].min()),
            present_cell_mass_max=float(per_cell[present].max()),
            box_boundary_term=box_boundary_term(energy_fn, params, half, args.grid_step),
            test_score_matching_objective=test_sm_objective(energy_fn, params, test),
            experts={
                "mixing_proportion": np.asarray(jax.nn.sigmoid(params.logit_mix)).round(3).tolist(),
                "mean": np.asarray(params.mean).round(3).tolist(),
                "std": np.exp(np.asarray(params.log_scale)).round(3).tolist(),
            },
        )
        out[name] = info
        images[name] = (grid.axis, grid.log_density)
        report(name, info)
    true_ll = float(np.mean(np.asarray(datasets.clusters_grid_log_density(test), np.float64)))
    summary = {
        "problem": "clusters24",
        "model": f"{args.experts} axis-aligned uni-gauss experts (energies.poe) on the box "
        f"[-{half:g}, {half:g}]^2",
        "data": f"{args.n_train} training / {args.n_test} test points from 24 Gaussians "
        "(sd 0.1) on {-2..2}^2 without the centre",
        "reference": {
            "true_test_log_likelihood": true_ll,
            "gap_filled_test_log_likelihood": float(np.mean(clusters24.filled_log_density(test))),
        },
        "evaluation": f"midpoint rule, step {args.grid_step:g}, on the box",
        "score_matching_validity": (
            "the model density does not vanish at the box edge, so integration by parts leaves "
            "the boundary term (box_boundary_term, the integral over the edge of p_data times "
            "the outward normal component of the model score); it is negligible because p_data "
            "is negligible there (the nearest clusters are 7 sd from the edge)"
        ),
    }
    return summary, out, images, np.asarray(train)


# ----------------------------------------------------------------------------------------
# Gaussian-Bernoulli RBM with a teacher
# ----------------------------------------------------------------------------------------


def make_teacher(key, n_visible: int, n_hidden: int, weight_scale: float):
    """A GB-RBM with unit visible sd; ``c`` cancels each hidden unit's own quadratic and
    bias terms in ``hidden_free_energy`` (plus N(0, 0.5²) noise), so that every hidden
    unit is on about half the time a priori and the 2^K mixture is spread out."""
    key_w, key_b, key_c = jax.random.split(key, 3)
    W = weight_scale * jax.random.normal(key_w, (n_visible, n_hidden), jnp.float32)
    b = 0.5 * jax.random.normal(key_b, (n_visible,), jnp.float32)
    c = -0.5 * jnp.sum(W * W, axis=0) - b @ W + 0.5 * jax.random.normal(key_c, (n_hidden,))
    return gaussian_rbm.GaussianRBMParams(W, b, c, jnp.zeros((n_visible,), jnp.float32))


def sample_teacher(key, teacher, n: int):
    """Exact samples: hidden states from their enumerated marginal, then ``p(v | h)``."""
    states, log_p = exact.log_probabilities_binary(
        gaussian_rbm.hidden_free_energy, teacher, teacher.n_hidden
    )
    key_h, key_v = jax.random.split(key)
    index = jax.random.categorical(key_h, jnp.asarray(log_p, jnp.float32), shape=(n,))
    h = jnp.asarray(states, jnp.float32)[index]
    noise = jax.random.normal(key_v, (n, teacher.n_visible), jnp.float32)
    return gaussian_rbm.visible_mean(teacher, h) + gaussian_rbm.visible_std(teacher) * noise, log_p


def gbrbm_log_likelihood(params, v) -> tuple[float, float]:
    """Exact mean log-likelihood ``-F(v) - log Z`` (float64) and ``log Z``."""
    log_z = exact.log_partition_gaussian_rbm(params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        free = _free_energy_jit(p64, jnp.asarray(v, jnp.float64))
        return float(np.mean(-np.asarray(free)) - log_z), log_z


_free_energy_jit = jax.jit(gaussian_rbm.free_energy)


def gaussian_baseline(train, test) -> float:
    """Test log-likelihood of the maximum-likelihood full-covariance Gaussian."""
    train, test = np.asarray(train, np.float64), np.asarray(test, np.float64)
    mean = train.mean(0)
    cov = np.cov(train, rowvar=False, bias=True)
    sign, logdet = np.linalg.slogdet(cov)
    diff = test - mean
    maha = np.sum(diff * np.linalg.solve(cov, diff.T).T, axis=1)
    return float(np.mean(-0.5 * (maha + logdet + train.shape[1] * math.log(2 * math.pi))))


def run_gbrbm(args, key):
    key_teacher, key_data, key_test, key_init, key_fit = jax.random.split(key, 5)
    d, kh = args.gbrbm_visible, args.gbrbm_hidden
    teacher = make_teacher(key_teacher, d, kh, args.teacher_weight_scale)
    train, log_p_h = sample_teacher(key_data, teacher, args.n_train)
    test, _ = sample_teacher(key_test, teacher, args.n_test)
    params0 = gaussian_rbm.init_params(key_init, d, kh, data=train, weight_scale=0.01, sigma=1.0)

    def energy_fn(p, v):  # visible sd fixed (at the teacher's value 1) for every rule
        return gaussian_rbm.free_energy(p._replace(log_sigma=jax.lax.stop_gradient(p.log_sigma)), v)

    sampler = rbm_gibbs.as_top_level_api("gaussian")
    b, k, n = args.batch_size, args.k, args.chains
    methods = {}
    for variant in args.sm_variants.split(","):
        options = {"noise_scale": args.dsm_noise} if variant == "denoising" else {}
        label = f"SM ({variant}" + (f", sigma={args.dsm_noise:g})" if options else ")")
        methods[f"sm_{variant}"] = Method(
            label,
            smlib.score_matching(energy_fn, variant, **options),
            f"learning.score_matching.score_matching(F, {variant!r}"
            + (f", noise_scale={args.dsm_noise:g})" if options else ")"),
            sm_cost(b, d, variant),
        )
    methods["cd"] = Method(
        f"CD-{k}",
        cdlib.contrastive_divergence(energy_fn, sampler, k=k),
        f"learning.cd(F, rbm_gibbs('gaussian'), k={k})",
        _cost(gibbs_sweeps=b * k, theta_gradients=2 * b),
    )
    methods["pcd"] = Method(
        f"PCD-{k}",
        cdlib.persistent_contrastive_divergence(energy_fn, sampler, n, k=k),
        f"learning.pcd(F, rbm_gibbs('gaussian'), n_chains={n}, k={k})",
        _cost(gibbs_sweeps=n * k, theta_gradients=b + n),
    )
    optimizer, _ = optimizer_for(args, len(train))
    subset = np.asarray(test[:CURVE_POINTS])

    def curve(p):
        return gbrbm_log_likelihood(p, subset)[0]

    out = {}
    for name, method in methods.items():
        result, info = train_one(key_fit, params0, train, method, optimizer, args, energy_fn, curve)
        params = result.params
        test_ll, log_z = gbrbm_log_likelihood(params, test)
        info.update(
            test_log_likelihood=test_ll,
            train_log_likelihood=gbrbm_log_likelihood(params, train)[0],
            log_partition_function=log_z,
            test_score_matching_objective=test_sm_objective(energy_fn, params, test),
        )
        out[name] = info
        report(name, info)
    teacher_test, teacher_log_z = gbrbm_log_likelihood(teacher, test)
    p_h = np.exp(log_p_h)
    summary = {
        "problem": "gbrbm",
        "model": f"Gaussian-Bernoulli RBM {d}-{kh}, visible sd fixed at 1 (teacher's value)",
        "data": f"{args.n_train} training / {args.n_test} test points drawn exactly from a "
        f"teacher GB-RBM {d}-{kh} (W ~ N(0, {args.teacher_weight_scale:g}^2), see make_teacher)",
        "reference": {
            "teacher_test_log_likelihood": teacher_test,
            "teacher_train_log_likelihood": gbrbm_log_likelihood(teacher, train)[0],
            "teacher_log_partition_function": teacher_log_z,
            "teacher_hidden_entropy_nats": float(-np.sum(p_h * log_p_h)),
            "initial_model_test_log_likelihood": gbrbm_log_likelihood(params0, test)[0],
            "gaussian_ml_test_log_likelihood": gaussian_baseline(train, test),
        },
        "evaluation": "exact: log Z by evaluation.exact.log_partition_gaussian_rbm (2^K hidden "
        "states, Gaussians integrated in closed form), float64",
        "score_matching_validity": (
            "valid: the GB-RBM density is smooth on R^D and Gaussian-tailed; exact score "
            "matching is a consistent estimator for this well-specified model"
        ),
    }
    return summary, out, None, None


# ----------------------------------------------------------------------------------------


def report(name: str, info: dict):
    print(
        f"  {name:16s} test LL {info['test_log_likelihood']:9.4f}   train {info['train_seconds']:7.1f} s"
        f"   grad evals/update {info['cost_per_update']['gradient_evaluations']:6d}",
        flush=True,
    )


def plot(path: Path, summary: dict, methods: dict, images, data):
    plt = pyplot()

    ref = summary["reference"]
    ceiling = ref.get("true_test_log_likelihood", ref.get("teacher_test_log_likelihood"))
    n_img = 0 if images is None else len(images)
    fig, axes = plt.subplots(
        1, n_img + 2, figsize=(4.3 * (n_img + 2), 4.2), constrained_layout=True
    )
    items = list(images.items()) if n_img else []
    for ax, (name, (axis, log_density)) in zip(axes[:n_img], items, strict=True):
        extent = (axis[0], axis[-1], axis[0], axis[-1])
        shown = np.maximum(log_density, log_density.max() - 15)
        ax.imshow(shown.T, origin="lower", extent=extent, cmap="viridis")
        ax.scatter(data[:500, 0], data[:500, 1], s=0.8, c="tab:red", alpha=0.5)
        ax.set_title(
            f"{methods[name]['label']}: test LL {methods[name]['test_log_likelihood']:.3f}"
        )
        ax.set_aspect("equal")
    for ax, x_key, x_label in (
        (axes[n_img], "epoch", "epoch"),
        (
            axes[n_img + 1],
            "cumulative_train_seconds_without_compilation",
            "training wall time, compilation excluded (s)",
        ),
    ):
        lows = []
        for info in methods.values():
            curve = info["curve"]
            ax.plot(curve[x_key], curve["test_log_likelihood"], label=info["label"])
            lows.append(np.nanpercentile(curve["test_log_likelihood"], 10))
        ax.axhline(ceiling, color="k", ls="--", lw=0.8, label="data / teacher")
        ax.set_ylim(max(min(lows), ceiling - 10), ceiling + 0.2 * max(1.0, abs(ceiling) * 0.05))
        ax.set_xlabel(x_label)
        ax.set_ylabel("test log-likelihood (approx., per epoch)")
        ax.legend(fontsize=7)
    fig.suptitle(f"{summary['problem']}: {summary['model']}", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=[*PROBLEMS, "all"], default="all")
    parser.add_argument("--epochs", type=int, default=None, help="default: per problem")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="initial Adam learning rate")
    parser.add_argument("--final-lr-fraction", type=float, default=None)
    parser.add_argument("--k", type=int, default=None, help="kernel steps per update (CD, PCD)")
    parser.add_argument("--chains", type=int, default=None, help="persistent chains (PCD)")
    parser.add_argument("--hidden", default="64,64", help="four_squares: MLP widths")
    parser.add_argument("--rw-scale", type=float, default=1.0, help="four_squares: RW sd")
    parser.add_argument("--experts", type=int, default=15, help="clusters24: experts")
    parser.add_argument("--gbrbm-visible", type=int, default=16)
    parser.add_argument("--gbrbm-hidden", type=int, default=8)
    parser.add_argument("--teacher-weight-scale", type=float, default=1.0)
    parser.add_argument("--sm-variants", default="exact,sliced,denoising", help="gbrbm")
    parser.add_argument("--dsm-noise", type=float, default=0.1, help="gbrbm: denoising sd")
    parser.add_argument("--grid-step", type=float, default=0.01, help="2-D quadrature step")
    parser.add_argument("--curve-grid-step", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default=str(RESULTS))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    problems = PROBLEMS if args.problem == "all" else (args.problem,)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    runners = {"four_squares": run_four_squares, "clusters24": run_clusters24, "gbrbm": run_gbrbm}
    summaries = {}
    for problem in problems:
        pargs = argparse.Namespace(**vars(args))
        for name, value in DEFAULTS[problem].items():
            if getattr(pargs, name) is None:
                setattr(pargs, name, value)
        print(f"{problem}: {pargs.epochs} epochs, batch {pargs.batch_size}", flush=True)
        started = time.perf_counter()
        summary, methods, images, data = runners[problem](pargs, jax.random.key(args.seed))
        _, optimizer_text = optimizer_for(pargs, pargs.n_train)
        summary.update(
            budget={
                "epochs": pargs.epochs,
                "batch_size": pargs.batch_size,
                "updates": pargs.epochs * (pargs.n_train // pargs.batch_size),
                "optimizer": optimizer_text,
                "same_for_all_methods": "initial parameters, data, epochs, batch size, "
                "optimizer and training key",
            },
            methods=methods,
            total_seconds=round(time.perf_counter() - started, 1),
            machine=machine_description(),
            command=command_line("score_matching_compare", argv),
            config={k: v for k, v in vars(pargs).items()},
        )
        summary["config"]["problem"] = problem
        stem = f"score_matching_compare_{problem}"
        write_summary(output / f"{stem}.json", summary)
        if not args.no_plot:
            plot(output / f"{stem}.png", summary, methods, images, data)
        print(f"  -> {output / stem}.json ({summary['total_seconds']:.0f} s)", flush=True)
        summaries[problem] = summary
    return summaries


if __name__ == "__main__":
    main()
