"""Sampler shootout: every sampler of the library on targets with exact answers, equal wall clock.

Targets (each with its exact moments):

``rbm20x12``
    A deliberately bimodal 20-12 Bernoulli RBM: two groups of 6 hidden units, each
    tuned to one half of the visible units being on (weights ``+-0.5``), and a small
    visible bias that gives the two modes the masses 0.73/0.27 in the summary
    ``projection[mode]`` (the overlap ``(2 p_A - 1) . v / 20``). Exact: the free
    energy moment by enumerating the 2^20 visible states
    (:func:`numpyro_ebm.diagnostics.enumeration_moments`), the mean activation and
    the mode projection by enumerating the 2^12 hidden states
    (``E[v] = sum_h p(h) sigmoid(b + W h)``).
``ising4_*``, ``ising5_*``
    Homogeneous lattice Ising models (free boundaries, no field) on 4x4 and 5x5 at
    the coupling ``K = 0.30`` (above the critical temperature), ``K = 0.4407``
    (the critical coupling of the infinite lattice, ``log(1 + sqrt 2) / 2``) and
    ``K = 0.60`` (below it: two magnetised modes). Units are 0/1, ``s = 2x - 1``.
    Exact: 4x4 by enumeration (2^16); 5x5 by the row transfer matrix (2^5 row
    states, float64), which this script checks against enumeration on 4x4 (2^25 =
    33.5M states would need a chunked moment enumeration, which
    ``enumeration_moments`` does not do: it materialises every state).
``gbrbm_mixture``
    A Gaussian-Bernoulli RBM with 2 visible and 3 hidden units, whose visible
    marginal is a mixture of 8 Gaussians (4 well-separated clusters); exact by
    2-D quadrature (:func:`numpyro_ebm.diagnostics.quadrature_moments`).
``four_squares_poe``
    A product of two 1-D experts, one a coordinate, each a soft indicator of
    ``[-1.5, -0.5] u [0.5, 1.5]`` (sigmoid walls of sharpness 6): a smooth version of
    Hinton's four squares (:func:`numpyro_ebm.datasets.four_squares_geometry`),
    four separated modes; exact by 2-D quadrature.

Samplers (the registry :data:`SAMPLERS`: a row per entry whose ``kinds`` contain the
target's kind; parallel tempering rows are registry entries like any other):

- binary targets: block Gibbs (RBM block Gibbs; checkerboard Gibbs for the lattice),
  PT over block Gibbs, Gibbs with gradients (``D`` single-flip MH proposals a step),
  PT over Gibbs with gradients, DMALA (step size tuned to acceptance 0.55) and DULA
  (half that step), locally balanced (one exact flip), PAS (paths of 3 flips), Hamming
  ball (blocks of 10, radius 1), single-site Gibbs (one systematic sweep a step),
  NumPyro's ``DiscreteHMCGibbs`` (one random-order Gibbs sweep a step);
- continuous targets: HMC, NUTS, MALA, PT over HMC; and for the Gaussian-Bernoulli
  RBM also block Gibbs and PT over block Gibbs.

Equal wall clock. Each sampler first runs a pilot of ``--pilot-steps`` steps through
:func:`numpyro_ebm.diagnostics.compare_samplers` to measure its time a step; it then
runs ``n = budget / (time a step)`` steps (clipped to ``[--min-steps, --max-steps]``)
after ``n / 4`` burn-in steps, again through ``compare_samplers``, and that run is
the row, unless it took less than half the budget (a short pilot overestimates the
time a step of a fast sampler, whose fixed cost per call dominates): then ``n`` is
rescaled from that run and the sampler runs again, at most ``--max-runs`` runs
(default 3; ``calibration_runs`` in the JSON). Compilation is excluded from the budget (``compare_samplers`` compiles
ahead of time). The ``--budget`` (seconds of recorded sampling per sampler and
target) is a target, not a guarantee: a loaded machine makes the pilot's timing
noisy, so ``wall_time_s`` says what each row actually got; ESS per energy
evaluation does not depend on the load.

Columns: those of ``compare_samplers`` (ESS bulk/tail per second and per evaluation,
largest R-hat, acceptance, moment errors and MCSEs) plus, for PT, the mean and the
smallest swap acceptance over the ladder's adjacent pairs and the round trips per
chain during the recorded steps (DEO swaps, Syed et al. 2021). Evaluations count
energy (or energy-and-gradient) evaluations per chain as documented in
:class:`numpyro_ebm.diagnostics.SamplerSpec`; a PT step counts those of all its
replicas. Writes ``sampler_shootout.json``, ``sampler_shootout.md`` and
``sampler_shootout.png`` into ``--output-dir`` (default ``bench/results``).

Examples::

    # the committed run (bench/results/sampler_shootout.*; about 35 minutes on a loaded
    # 2-core machine, most of it compilation)
    python -m bench.sampler_shootout --budget 3 --pilot-steps 30 --min-steps 200 --max-steps 50000
    python -m bench.sampler_shootout --quick               # a couple of minutes: smoke run
    python -m bench.sampler_shootout --targets ising5_cold --samplers "block Gibbs" --budget 10
    python -m bench.sampler_shootout --replot              # table and figure from the JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bench import RESULTS
from bench._common import command_line, machine_description, pyplot, write_summary
from numpyro_ebm import diagnostics
from numpyro_ebm.diagnostics import SamplerSpec
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm, lattice_ising
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import (
    binary_gibbs,
    checkerboard_gibbs,
    dmala,
    gibbs_with_gradients,
    hamming_ball,
    hmc,
    locally_balanced,
    mala,
    nuts,
    parallel_tempering,
    path_auxiliary,
    rbm_gibbs,
)

CRITICAL_COUPLING = 0.5 * math.log1p(math.sqrt(2.0))

# --------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    """One target: its energy, parameters, exact moments and how to start chains."""

    name: str
    kind: str  # "rbm", "lattice", "continuous", "gbrbm"
    energy_fn: Callable  # energy_fn(params, x), broadcasting over leading axes
    params: Any
    dim: int
    exact_moments: dict[str, float]
    exact_method: str
    initial_positions: Callable[[np.random.Generator, int], np.ndarray]
    projections: dict | None = None
    settings: dict = dataclasses.field(default_factory=dict)

    @property
    def binary(self) -> bool:
        return self.kind in ("rbm", "lattice")


def _binary_start(dim):
    def start(rng, n_chains):
        return rng.integers(0, 2, (n_chains, dim)).astype(np.float32)

    return start


def bimodal_rbm(weight: float = 0.5, bias: float = 0.05) -> Target:
    """The 20-12 RBM with two modes (see the module docs)."""
    n_visible, half = 20, 6
    direction = np.r_[np.ones(10), -np.ones(10)]  # 2 p_A - 1
    W = np.concatenate(
        [
            np.tile(weight * direction[:, None], (1, half)),
            np.tile(-weight * direction[:, None], (1, half)),
        ],
        axis=1,
    )
    params = bernoulli_rbm.BernoulliRBMParams(
        jnp.asarray(W, jnp.float32),
        jnp.asarray(bias * direction, jnp.float32),
        jnp.zeros(2 * half, jnp.float32),
    )
    moments = diagnostics.enumeration_moments(bernoulli_rbm.free_energy, params, n_visible)
    states, log_p = exact.log_probabilities_binary(
        bernoulli_rbm.hidden_free_energy, params, 2 * half
    )
    p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    mean_v = np.exp(log_p) @ (1.0 / (1.0 + np.exp(-(p64.b + states @ p64.W.T))))
    mode = direction / n_visible
    moments["mean_activation_from_hidden"] = float(mean_v.mean())  # cross-check, not a row
    moments["projection[mode]"] = float(mean_v @ mode)
    return Target(
        "rbm20x12",
        "rbm",
        bernoulli_rbm.free_energy,
        params,
        n_visible,
        moments,
        "free energy: 2^20 visible states; E[v]: 2^12 hidden states",
        _binary_start(n_visible),
        projections={"mode": mode.astype(np.float32)},
        settings={"betas": (12, 0.02)},
    )


def lattice_energy_fn(shape):
    """Lattice Ising energy of flattened 0/1 units ``(*batch, H*W)`` (``s = 2x - 1``)."""

    def energy(params, x):
        spins = 2 * x - 1
        return lattice_ising.energy(params, spins.reshape(spins.shape[:-1] + tuple(shape)))

    return energy


def transfer_matrix_moments(params: lattice_ising.LatticeIsingParams) -> dict[str, float]:
    """Exact ``E[energy]`` and ``E[mean x]`` (``x = (s + 1) / 2``) of a lattice Ising model.

    Row transfer matrices over the ``2^W`` spin configurations of a row, in float64,
    carrying for every state of the current row the total weight of the rows above
    and the weighted sums of their energy and of their spins (rescaled every row so
    nothing overflows): cost ``H 4^W``.
    """
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    H, W = p.field.shape
    rows = 2.0 * ((np.arange(2**W)[:, None] >> np.arange(W)) & 1) - 1  # (R, W)

    def intra(i):  # energy inside row i, (R,)
        return -(rows[:, :-1] * rows[:, 1:]) @ p.horizontal[i] - rows @ p.field[i]

    e0 = intra(0)
    shift = e0.min()
    A = np.exp(-(e0 - shift))
    B = A * e0
    C = A * rows.sum(1)
    for i in range(1, H):
        inter = -(rows * p.vertical[i - 1]) @ rows.T  # (R_prev, R_next)
        e = inter + intra(i)[None, :]
        M = np.exp(-(e - e.min()))
        A, B, C = (
            A @ M,
            B @ M + (A[:, None] * e * M).sum(0),
            C @ M + A @ M * rows.sum(1),
        )
        scale = A.max()
        A, B, C = A / scale, B / scale, C / scale
    Z = A.sum()
    return {
        "energy": float(B.sum() / Z),
        "mean_activation": float(0.5 + 0.5 * C.sum() / Z / (H * W)),
    }


def lattice(size: int, label: str, coupling: float) -> Target:
    shape = (size, size)
    params = lattice_ising.uniform_params(shape, coupling=coupling, field=0.0)
    energy_fn = lattice_energy_fn(shape)
    if size * size <= 16:
        moments = diagnostics.enumeration_moments(energy_fn, params, size * size)
        method = f"enumeration of 2^{size * size} states"
    else:
        moments = transfer_matrix_moments(params)
        method = f"row transfer matrix (2^{size} row states)"
    return Target(
        f"ising{size}_{label}",
        "lattice",
        energy_fn,
        params,
        size * size,
        moments,
        method,
        _binary_start(size * size),
        settings={"shape": shape, "coupling": coupling, "betas": (8, 0.2)},
    )


def _uniform_start(low, high, dim):
    def start(rng, n_chains):
        return rng.uniform(low, high, (n_chains, dim)).astype(np.float32)

    return start


def gbrbm_mixture() -> Target:
    W = np.array([[2.5, 0.0, 0.4], [0.0, 2.5, -0.4]])
    params = gaussian_rbm.GaussianRBMParams(
        jnp.asarray(W, jnp.float32),
        jnp.asarray([-1.25, -1.25], jnp.float32),
        jnp.asarray([0.0, 0.0, 0.0], jnp.float32),
        jnp.asarray([-0.7, -0.7], jnp.float32),
    )
    bounds = [(-5.0, 5.0)] * 2
    moments = diagnostics.quadrature_moments(gaussian_rbm.free_energy, params, bounds, n_points=800)
    return Target(
        "gbrbm_mixture",
        "gbrbm",
        gaussian_rbm.free_energy,
        params,
        2,
        moments,
        "2-D midpoint quadrature, 800^2 points on [-5, 5]^2",
        _uniform_start(-2.0, 2.0, 2),
        settings={"hmc": (0.25, 8), "mala": 0.05, "nuts": 0.25, "betas": (6, 0.1)},
    )


class SoftSquaresParams(NamedTuple):
    """Walls of the four-squares product of experts."""

    inner: jax.Array  # half the gap
    outer: jax.Array  # half the gap plus the side
    sharpness: jax.Array


def four_squares_energy(params: SoftSquaresParams, x):
    """``-sum_d log[sigmoid(a(|x_d| - inner)) sigmoid(a(outer - |x_d|))]``: one expert a coordinate."""
    u = jnp.abs(x)
    a = params.sharpness
    log_expert = jax.nn.log_sigmoid(a * (u - params.inner)) + jax.nn.log_sigmoid(
        a * (params.outer - u)
    )
    return -jnp.sum(log_expert, axis=-1)


def four_squares_poe() -> Target:
    from numpyro_ebm.datasets import four_squares_geometry

    geometry = four_squares_geometry()
    inner = geometry.gap / 2
    params = SoftSquaresParams(
        jnp.asarray(inner, jnp.float32),
        jnp.asarray(inner + geometry.side, jnp.float32),
        jnp.asarray(6.0, jnp.float32),
    )
    moments = diagnostics.quadrature_moments(
        four_squares_energy, params, [(-5.0, 5.0)] * 2, n_points=800
    )
    return Target(
        "four_squares_poe",
        "continuous",
        four_squares_energy,
        params,
        2,
        moments,
        "2-D midpoint quadrature, 800^2 points on [-5, 5]^2",
        _uniform_start(-1.5, 1.5, 2),
        settings={"hmc": (0.2, 8), "mala": 0.04, "nuts": 0.2, "betas": (6, 0.1)},
    )


def all_targets(names=None) -> list[Target]:
    makers = {
        "rbm20x12": bimodal_rbm,
        **{
            f"ising{size}_{label}": (lambda size=size, label=label, k=k: lattice(size, label, k))
            for size in (4, 5)
            for label, k in (("hot", 0.30), ("critical", CRITICAL_COUPLING), ("cold", 0.60))
        },
        "gbrbm_mixture": gbrbm_mixture,
        "four_squares_poe": four_squares_poe,
    }
    names = list(makers) if names is None else names
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise SystemExit(f"unknown targets {unknown}; choose from {list(makers)}")
    return [makers[n]() for n in names]


# --------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------


class FlatLatticeState(NamedTuple):
    """Checkerboard Gibbs state seen as flattened 0/1 units (what the other samplers use)."""

    position: jax.Array
    lattice: Any


def flat_checkerboard(shape) -> Any:
    """Checkerboard Gibbs (spins, ``(*chains, H, W)``) on flattened 0/1 positions."""
    base = checkerboard_gibbs.as_top_level_api(spins=True)

    def to_lattice(x):
        spins = 2 * x - 1
        return spins.reshape(spins.shape[:-1] + tuple(shape))

    def to_flat(s):
        return ((s + 1) / 2).reshape(s.shape[:-2] + (-1,))

    def init(position, params):
        return FlatLatticeState(position, base.init(to_lattice(position), params))

    def step(rng_key, state, params):
        inner, info = base.step(rng_key, state.lattice, params)
        return FlatLatticeState(to_flat(inner.position).astype(state.position.dtype), inner), info

    from blackjax.base import SamplingAlgorithm

    return SamplingAlgorithm(init, step)


class PTView(NamedTuple):
    """A parallel-tempering state with its target replica's position in front."""

    position: jax.Array
    pt: parallel_tempering.PTState


def pt_algorithm(tempering, betas, get_position):
    """PT as a plain ``init(position, params)`` / ``step(key, state, params)`` sampler.

    The ladder is fixed here; every replica starts at the chain's initial position. The
    info is a dict of one value per chain (what ``compare_samplers`` records): the
    swap acceptance of each adjacent pair (``swap_acceptance_<k>``), the cumulative round
    trips, and, when the base kernel has one, the target replica's acceptance rate.
    """
    from blackjax.base import SamplingAlgorithm

    pt = parallel_tempering.as_top_level_api(tempering)
    n_replicas = betas.shape[0]

    def view(state):
        return PTView(get_position(parallel_tempering.target_replica(state.replicas)), state)

    def init(position, params):
        stacked = jnp.broadcast_to(position, (n_replicas,) + position.shape)
        return view(pt.init(stacked, params, betas))

    def step(rng_key, state, params):
        new, info = pt.step(rng_key, state.pt, params, betas)
        out = {f"swap_acceptance_{k}": info.swap_acceptance[..., k] for k in range(n_replicas - 1)}
        out["round_trips"] = info.round_trips
        base_accept = getattr(info.replica_info, "acceptance_rate", None)
        if base_accept is not None:
            out["acceptance_rate"] = base_accept[-1]
        return view(new), out

    return SamplingAlgorithm(init, step)


def _scale_params(params, beta):
    return jax.tree.map(lambda leaf: jnp.asarray(beta).astype(leaf.dtype) * leaf, params)


def _ladder(target):
    n, low = target.settings["betas"]
    return parallel_tempering.geometric_ladder(n, low)


def _pt_evaluations(per_replica_step):
    """Evaluations of a PT step: the base kernel's, summed over the replicas (and 1 for the
    swap energies of a tempered_sampler, which recomputes them)."""
    return per_replica_step


@dataclasses.dataclass(frozen=True)
class Entry:
    """A row of the shootout: which targets it runs on and how to build it."""

    name: str
    kinds: tuple[str, ...]
    build: Callable[[Target], SamplerSpec]
    pt: bool = False


def _block_gibbs(target):
    if target.kind == "lattice":
        return SamplerSpec(flat_checkerboard(target.settings["shape"]), batched=True)
    model = "gaussian" if target.kind == "gbrbm" else "bernoulli"
    return SamplerSpec(rbm_gibbs.as_top_level_api(model), batched=True)


def _pt_block_gibbs(target):
    betas = _ladder(target)
    K = betas.shape[0]
    if target.kind == "lattice":
        base = flat_checkerboard(target.settings["shape"])
        tempering = parallel_tempering.tempered_kernel(
            base, _scale_params, lambda params, state: target.energy_fn(params, state.position)
        )
        get = lambda state: state.position  # noqa: E731
    else:
        model = "gaussian" if target.kind == "gbrbm" else "bernoulli"
        tempering = parallel_tempering.rbm_tempering(model)
        get = lambda state: state.visible  # noqa: E731
    # one sweep a replica (Gaussian-Bernoulli: plus one matmul for the swap energies)
    return SamplerSpec(pt_algorithm(tempering, betas, get), batched=True, evaluations_per_step=K)


def _gwg(target):
    D = target.dim
    algorithm = gibbs_with_gradients.as_top_level_api(target.energy_fn, n_flips=D, refresh=False)
    return SamplerSpec(algorithm, batched=True, evaluations_per_step=D)


def _pt_gwg(target):
    D, betas = target.dim, _ladder(target)
    K = betas.shape[0]
    tempering = parallel_tempering.tempered_sampler(
        target.energy_fn, lambda fn: gibbs_with_gradients.as_top_level_api(fn, n_flips=D)
    )
    algorithm = pt_algorithm(tempering, betas, lambda state: state.position)
    # D proposals + the refresh a replica, and the swap energies
    return SamplerSpec(algorithm, batched=True, evaluations_per_step=K * (D + 2))


def tuned_dmala_step_size(target, n_chains: int = 64, n_steps: int = 500) -> float:
    """DMALA's step size for ``target``, tuned by dual averaging to acceptance 0.55."""
    start = jnp.asarray(target.initial_positions(np.random.default_rng(0), n_chains))
    state = dmala.init(start, target.params, target.energy_fn)
    tune = jax.jit(
        lambda key, state: dmala.adapt_step_size(
            key, state, target.params, target.energy_fn, n_steps=n_steps
        )[1]
    )
    return float(tune(jax.random.key(0), state))


def _dmala(target):
    step = tuned_dmala_step_size(target)
    return SamplerSpec(dmala.as_top_level_api(target.energy_fn, step, refresh=False), batched=True)


def _dula(target):
    # half DMALA's step, the ratio of the paper's Ising settings (0.2 against 0.4)
    step = 0.5 * tuned_dmala_step_size(target)
    return SamplerSpec(dmala.dula(target.energy_fn, step, refresh=False), batched=True)


def _locally_balanced(target):
    # one exact flip a step: D + 1 energies, read from info.n_evaluations
    algorithm = locally_balanced.as_top_level_api(target.energy_fn, refresh=False)
    return SamplerSpec(algorithm, batched=True)


def _pas(target):
    algorithm = path_auxiliary.as_top_level_api(target.energy_fn, path_length=3, refresh=False)
    return SamplerSpec(algorithm, batched=True)


def _hamming_ball(target):
    # the DMALA paper's Ising setting: blocks of 10, radius 1 (11 energies a step)
    algorithm = hamming_ball.as_top_level_api(target.energy_fn, block_size=10, radius=1)
    return SamplerSpec(algorithm, batched=True)


def _single_site(target):
    D = target.dim
    return SamplerSpec(
        binary_gibbs.as_top_level_api(target.energy_fn), batched=True, evaluations_per_step=D + 1
    )


def _discrete_hmc_gibbs(target):
    return diagnostics.discrete_hmc_gibbs_spec(target.energy_fn, target.params, (target.dim,))


def _hmc(target):
    step, L = target.settings["hmc"]
    return SamplerSpec(
        hmc.as_top_level_api(target.energy_fn, step, num_integration_steps=L, refresh=False)
    )


def _nuts(target):
    return SamplerSpec(
        nuts.as_top_level_api(target.energy_fn, target.settings["nuts"], refresh=False)
    )


def _mala(target):
    return SamplerSpec(
        mala.as_top_level_api(target.energy_fn, target.settings["mala"], refresh=False)
    )


def _pt_hmc(target):
    step, L = target.settings["hmc"]
    betas = _ladder(target)
    K = betas.shape[0]
    tempering = parallel_tempering.tempered_sampler(
        target.energy_fn,
        lambda fn: hmc.as_top_level_api(fn, step, num_integration_steps=L),
    )
    algorithm = pt_algorithm(tempering, betas, lambda state: state.position)
    # L gradients + the refresh a replica, and the swap energies
    return SamplerSpec(algorithm, evaluations_per_step=K * (L + 2))


BINARY = ("rbm", "lattice")
SAMPLERS: list[Entry] = [
    Entry("block Gibbs", BINARY + ("gbrbm",), _block_gibbs),
    Entry("PT over block Gibbs", BINARY + ("gbrbm",), _pt_block_gibbs, pt=True),
    Entry("Gibbs with gradients", BINARY, _gwg),
    Entry("PT over Gibbs with gradients", BINARY, _pt_gwg, pt=True),
    Entry("DMALA", BINARY, _dmala),
    Entry("DULA", BINARY, _dula),
    Entry("locally balanced", BINARY, _locally_balanced),
    Entry("PAS", BINARY, _pas),
    Entry("Hamming ball", BINARY, _hamming_ball),
    Entry("single-site Gibbs", BINARY, _single_site),
    Entry("NumPyro DiscreteHMCGibbs", BINARY, _discrete_hmc_gibbs),
    Entry("HMC", ("continuous", "gbrbm"), _hmc),
    Entry("NUTS", ("continuous", "gbrbm"), _nuts),
    Entry("MALA", ("continuous", "gbrbm"), _mala),
    Entry("PT over HMC", ("continuous", "gbrbm"), _pt_hmc, pt=True),
]
"""The shootout's rows. Add a sampler by appending an :class:`Entry`."""


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def _pt_columns(idata, n_draws):
    stats = idata.sample_stats
    pairs = sorted(
        (name for name in stats.data_vars if name.startswith("swap_acceptance_")),
        key=lambda name: int(name.rpartition("_")[2]),
    )
    rates = [float(stats[name].mean()) for name in pairs]
    trips = np.asarray(stats["round_trips"])  # (chain, draw), cumulative
    per_chain = trips[:, -1] - trips[:, 0]
    return {
        "n_replicas": len(pairs) + 1,
        "swap_rate_mean": float(np.mean(rates)),
        "swap_rate_min": float(np.min(rates)),
        "swap_rates": rates,
        "round_trips_per_chain": float(per_chain.mean()),
        "round_trips_per_1000_steps": float(1000 * per_chain.mean() / max(n_draws - 1, 1)),
    }


def run_entry(key, entry, target, args):
    spec = entry.build(target)
    rng = np.random.default_rng(args.seed)
    start = jnp.asarray(target.initial_positions(rng, args.chains))
    options = dict(
        energy_fn=target.energy_fn,
        projections=target.projections,
        exact_moments={k: v for k, v in target.exact_moments.items() if k in _rows(target)},
    )
    key_pilot, key_run = jax.random.split(key)
    pilot = diagnostics.compare_samplers(
        key_pilot, {entry.name: spec}, start, target.params, n_steps=args.pilot_steps, **options
    )
    per_step = float(pilot["wall_time_s"].iloc[0]) / args.pilot_steps
    runs = 0
    while True:
        n_steps = int(np.clip(args.budget / max(per_step, 1e-9), args.min_steps, args.max_steps))
        table, idata = diagnostics.compare_samplers(
            jax.random.fold_in(key_run, runs),
            {entry.name: spec},
            start,
            target.params,
            n_steps=n_steps,
            burn_in=n_steps // 4,
            return_inference_data=True,
            **options,
        )
        runs += 1
        wall = float(table["wall_time_s"].iloc[0])
        # a short pilot overestimates the time a step (fixed costs of a call dominate it):
        # rescale from this run, which is longer, until the budget is (roughly) met
        if wall >= 0.5 * args.budget or n_steps >= args.max_steps or runs >= args.max_runs:
            break
        per_step = wall / n_steps
    row = table.iloc[0].to_dict()
    row["target"] = target.name
    row["pilot_seconds_per_step"] = float(pilot["wall_time_s"].iloc[0]) / args.pilot_steps
    row["calibration_runs"] = runs
    if entry.pt:
        row.update(_pt_columns(idata[entry.name], n_steps))
    return row


def _rows(target):
    rows = {"energy", "mean_activation"}
    if target.projections:
        rows |= {f"projection[{name}]" for name in target.projections}
    return rows


def resolved_flags(args) -> list[str]:
    """The flags that fix the run's rows, with ``--quick``'s values spelled out."""
    parts = ["--quick"] if args.quick else []
    names = ("budget", "chains", "pilot_steps", "min_steps", "max_steps", "max_runs", "seed")
    for name in names:
        parts.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    if args.targets:
        parts.append("--targets " + " ".join(args.targets))
    return parts


def markdown_table(rows) -> str:
    header = (
        "| target | sampler | steps | wall s | ESS bulk | ESS/s | ESS/1k evals | R-hat | "
        "accept | worst moment error / MCSE | PT swap rate mean (min) | round trips / chain |"
    )
    lines = [header, "|" + "---|" * 12]
    for row in rows:
        worst = _worst_error_in_mcse(row)
        swap = (
            f"{row['swap_rate_mean']:.2f} ({row['swap_rate_min']:.2f})"
            if "swap_rate_mean" in row
            else ""
        )
        trips = f"{row['round_trips_per_chain']:.1f}" if "round_trips_per_chain" in row else ""
        accept = row["acceptance_rate"]
        lines.append(
            f"| {row['target']} | {row['sampler']} | {int(row['n_draws'])} | "
            f"{row['wall_time_s']:.2f} | {row['ess_bulk']:.0f} | {row['ess_bulk_per_s']:.0f} | "
            f"{1000 * row['ess_bulk_per_eval']:.2f} | {row['r_hat']:.3f} | "
            f"{'' if not np.isfinite(accept) else f'{accept:.2f}'} | {worst:.1f} | {swap} | {trips} |"
        )
    return "\n".join(lines)


def _worst_error_in_mcse(row):
    ratios = [
        row[c] / row["mcse_" + c.removeprefix("error_")]
        for c in row
        if c.startswith("error_") and row.get("mcse_" + c.removeprefix("error_"), 0) > 0
    ]
    return max(ratios) if ratios else math.nan


def plot(rows, path):
    """ESS/s, ESS per evaluation, R-hat, the worst moment error in MCSEs and, for the PT
    rows, the swap acceptance and the round trips: a panel each, a group of bars a target
    (one bar a sampler that ran on it, colours by sampler)."""
    from matplotlib.ticker import NullFormatter

    plt = pyplot()
    targets = list(dict.fromkeys(r["target"] for r in rows))
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    rows = [dict(r, worst_error_in_mcse=_worst_error_in_mcse(r)) for r in rows]
    positions, centres, y = {}, [], 0.0
    for t in targets:
        first = y
        for r in rows:
            if r["target"] == t:
                positions[(t, r["sampler"])] = y
                y += 1
        centres.append((first + y - 1) / 2)
        y += 1.0  # a gap between targets
    panels = [
        ("ess_bulk_per_s", "bulk ESS / s", "log"),
        ("ess_bulk_per_eval", "bulk ESS / evaluation", "log"),
        ("r_hat", "max R-hat (clipped at 2)", "linear"),
        ("worst_error_in_mcse", "worst |moment error| / MCSE", "log"),
        ("swap_rate_mean", "PT: mean swap acceptance (| smallest)", "linear"),
        ("round_trips_per_chain", "PT: round trips / chain", "log"),
    ]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.4 * len(panels), 0.17 * y + 1.8), layout="constrained"
    )
    for ax, (column, label, scale) in zip(axes, panels, strict=True):
        for r in rows:
            value = r.get(column, math.nan)
            if value is None or not np.isfinite(value) or value <= 0:
                continue
            if column == "r_hat":
                value = min(value, 2.0)
            yy = positions[(r["target"], r["sampler"])]
            colour = f"C{samplers.index(r['sampler']) % 10}"
            ax.barh(yy, value, height=0.85, color=colour)
            if column == "swap_rate_mean":
                ax.plot(r["swap_rate_min"], yy, "k|", markersize=5)
        if column == "r_hat":
            ax.axvline(1.01, color="k", linestyle="--", linewidth=1)
            ax.set_xlim(0.95, 2.02)
        if column == "worst_error_in_mcse":
            ax.axvline(4.0, color="k", linestyle="--", linewidth=1)
        if column == "swap_rate_mean":
            ax.set_xlim(0, 1)
        ax.set_xscale(scale)
        if scale == "log":
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(centres, targets if ax is axes[0] else [""] * len(targets))
        ax.set_ylim(y - 0.5, -1.0)
        ax.set_title(label, fontsize="medium")
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i % 10}") for i in range(len(samplers))]
    fig.legend(handles, samplers, loc="outside upper center", ncol=5, fontsize="small")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_outputs(result, out: Path, name: str, figure: bool = True):
    """The JSON, the markdown table and (``figure``) the PNG of the rows so far."""
    write_summary(out / f"{name}.json", result, indent=1)
    table = markdown_table(result["rows"])
    failed = "".join(
        f"\n- failed: {f['target']} / {f['sampler']}: {f['error']}"
        for f in result.get("failed", [])
    )
    (out / f"{name}.md").write_text(
        f"Command: `{result['command']}`\n\nMachine: {result['machine']}\n\n{table}\n{failed}"
    )
    if figure and result["rows"]:
        plot([dict(r) for r in result["rows"]], out / f"{name}.png")
    return table


def _plain(value):
    if isinstance(value, list):
        return value
    return value.item() if hasattr(value, "item") else value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget, two small targets")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of sampling per row")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--pilot-steps", type=int, default=50)
    parser.add_argument("--min-steps", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-runs", type=int, default=3, help="runs per row to meet the budget (calibration)"
    )
    parser.add_argument("--targets", nargs="*", default=None)
    parser.add_argument("--samplers", nargs="*", default=None, help="subset of sampler names")
    parser.add_argument("--output-dir", default=str(RESULTS))
    parser.add_argument("--name", default="sampler_shootout", help="output file stem")
    parser.add_argument(
        "--replot", action="store_true", help="only rewrite the table and figure from the JSON"
    )
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    if args.replot:
        result = json.loads((out / f"{args.name}.json").read_text())
        print(write_outputs(result, out, args.name))
        return result
    if args.quick:
        args.budget, args.pilot_steps, args.min_steps, args.max_steps = 0.2, 10, 40, 200
        args.max_runs = 1
        args.chains = 4
        if args.targets is None:
            args.targets = ["ising4_critical", "four_squares_poe"]
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    targets = all_targets(args.targets)
    result = {
        "command": command_line("sampler_shootout", flags=resolved_flags(args)),
        "machine": machine_description(),
        "budget_seconds_per_row": args.budget,
        "targets": {
            t.name: {
                "exact_method": t.exact_method,
                "exact_moments": t.exact_moments,
                "kind": t.kind,
            }
            for t in targets
        },
        "rows": [],
        "failed": [],
    }
    key = jax.random.key(args.seed)
    for target in targets:
        print(f"== {target.name} ({target.exact_method}): exact {target.exact_moments}", flush=True)
        for entry in SAMPLERS:
            if target.kind not in entry.kinds:
                continue
            if args.samplers and entry.name not in args.samplers:
                continue
            key, sub = jax.random.split(key)
            try:
                row = run_entry(sub, entry, target, args)
            except Exception as error:  # one failing row must not lose the others
                traceback.print_exc()
                result["failed"].append(
                    {"target": target.name, "sampler": entry.name, "error": repr(error)}
                )
                continue
            result["rows"].append({k: _plain(v) for k, v in row.items()})
            result["total_seconds"] = time.perf_counter() - started
            write_outputs(result, out, args.name, figure=False)  # partial results survive
            print(
                f"  {entry.name:30s} steps {int(row['n_draws']):6d}  wall {row['wall_time_s']:6.2f} s  "
                f"ESS/s {row['ess_bulk_per_s']:9.1f}  ESS/1k eval {1000 * row['ess_bulk_per_eval']:8.3f}  "
                f"R-hat {row['r_hat']:.3f}",
                flush=True,
            )
    table = write_outputs(result, out, args.name)
    print(table)
    print(f"total {result['total_seconds']:.0f} s; wrote {out / args.name}.{{json,md,png}}")
    return result


if __name__ == "__main__":
    main()
