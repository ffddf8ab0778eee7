"""``numpyro-ebm compare``: every suitable sampler on one target, with the same budget.

Runs :func:`numpyro_ebm.diagnostics.compare_samplers` on a checkpointed RBM or on
a named built-in target, prints the table (ESS per second and per evaluation,
R-hat, acceptance, and the error of each moment against its exact value when the
target is small enough to know it) and draws it
(:func:`numpyro_ebm.diagnostics.plot_comparison`).

Targets and samplers:

- a Bernoulli RBM (``--target bernoulli-rbm``: 10 visible, 6 hidden units with
  large random weights; or a checkpoint): block Gibbs, single-site Gibbs on the
  free energy, NumPyro's ``DiscreteHMCGibbs``, and the gradient-informed discrete
  proposals on the free energy: Gibbs-with-gradients, DMALA and DULA (their step
  size ``--discrete-step-size``, or tuned over the burn-in by
  :func:`numpyro_ebm.kernels.dmala.adapt_step_size` to an acceptance of 0.55),
  the locally balanced proposal (square-root balancing), the path auxiliary
  sampler (path length 3) and the Hamming-ball sampler (blocks of 4, radius 1);
  exact moments by enumeration when it has at most 20 visible units;
- a Gaussian-Bernoulli RBM (``--target gaussian-rbm-2d``: 2 visible, 3 hidden
  units, a mixture of 8 Gaussians; or a checkpoint): block Gibbs, HMC, MALA,
  random-walk Metropolis and unadjusted Langevin on the free energy; exact
  moments by quadrature for two visible units.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from numpyro_ebm.cli._common import (
    CommandError,
    check_finite_positive,
    check_positive,
    write_json,
)

__all__ = ["add_parser", "validate", "run", "TARGETS", "MAX_ENUMERATED_VISIBLE"]

TARGETS = ("bernoulli-rbm", "gaussian-rbm-2d")
MAX_ENUMERATED_VISIBLE = 20

SHOWN = [
    "sampler",
    "wall_time_s",
    "evaluations",
    "ess_bulk",
    "ess_tail",
    "ess_bulk_per_s",
    "ess_bulk_per_eval",
    "r_hat",
    "acceptance_rate",
]

SAMPLERS = {
    "block-gibbs": "block Gibbs",
    "single-site-gibbs": "single-site Gibbs",
    "discrete-hmc-gibbs": "DiscreteHMCGibbs",
    "gwg": "GWG",
    "dmala": "DMALA",
    "dula": "DULA",
    "locally-balanced": "locally balanced",
    "pas": "PAS",
    "hamming-ball": "Hamming ball",
    "hmc": "HMC",
    "mala": "MALA",
    "rwmh": "RWMH",
    "ula": "ULA",
}
"""``--samplers`` names and the table's: block Gibbs samples both RBMs; HMC, MALA,
RWMH and ULA a gaussian-rbm; the others a bernoulli-rbm."""

GAUSSIAN_ONLY = ("hmc", "mala", "rwmh", "ula")
FITS = {
    "bernoulli-rbm": tuple(name for name in SAMPLERS if name not in GAUSSIAN_ONLY),
    "gaussian-rbm": ("block-gibbs", *GAUSSIAN_ONLY),
}
"""The ``--samplers`` names that fit each model, checked before any setup work."""

DULA_STEP_SIZE_FRACTION = 0.5
"""DULA's step size as a fraction of DMALA's when ``--discrete-step-size`` is given
(the DMALA paper's Ising settings: 0.4 and 0.2)."""

EXAMPLES = """examples:
  numpyro-ebm compare --target bernoulli-rbm --output compare1
  numpyro-ebm compare --target gaussian-rbm-2d --steps 2000 --burn-in 200 --output compare2
  numpyro-ebm compare run1/checkpoint --chains 8 --steps 500 --output compare3
  numpyro-ebm compare --target gaussian-rbm-2d --samplers hmc,mala --output compare4
  numpyro-ebm compare --target bernoulli-rbm --samplers block-gibbs,gwg,dmala,pas --output compare5
"""


def add_parser(subparsers, parents) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare",
        parents=parents,
        help="compare samplers on a checkpointed model or a built-in target",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", nargs="?", help="checkpoint directory or .npz (an RBM)")
    p.add_argument("--target", choices=TARGETS, help="a built-in target instead of a checkpoint")
    p.add_argument("--chains", type=int, default=8, help="chains a sampler (at least 2)")
    p.add_argument("--steps", type=int, default=1000, help="recorded steps a chain")
    p.add_argument("--burn-in", type=int, default=100, help="discarded steps a chain")
    p.add_argument(
        "--step-size",
        type=float,
        default=None,
        help="HMC step size for a gaussian-rbm (MALA, RWMH and ULA scale from it); default 0.3",
    )
    p.add_argument(
        "--discrete-step-size",
        type=float,
        default=None,
        help="DMALA step size for a bernoulli-rbm (DULA: half of it); default: tuned over the "
        "burn-in (at least 100 steps) to an acceptance of 0.55",
    )
    p.add_argument("--output", default="compare_output", help="directory for the table and PNG")
    p.add_argument("--seed", type=int, default=0, help="every random choice derives from it")
    p.add_argument(
        "--samplers",
        help="comma-separated samplers to run, e.g. block-gibbs,single-site-gibbs (default: "
        f"every one that fits the target: {', '.join(SAMPLERS)})",
    )
    p.add_argument("--no-plots", action="store_true", help="write no PNG figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def validate(args, parser) -> None:
    if (args.checkpoint is None) == (args.target is None):
        parser.error("give a checkpoint or --target NAME (one of them)")
    if args.checkpoint is not None and not Path(args.checkpoint).exists():
        parser.error(f"no such checkpoint: {args.checkpoint}")
    if args.chains < 2:
        parser.error(f"--chains must be at least 2 (R-hat compares chains); got {args.chains}")
    check_positive(parser, args.steps, "--steps")
    if args.steps < 4:
        parser.error(f"--steps must be at least 4 for ESS and R-hat; got {args.steps}")
    check_positive(parser, args.burn_in, "--burn-in", allow_zero=True)
    check_finite_positive(parser, args.step_size, "--step-size")
    check_finite_positive(parser, args.discrete_step_size, "--discrete-step-size")
    check_positive(parser, args.seed, "--seed", allow_zero=True)
    if args.samplers is not None:
        args.samplers = [name.strip().lower() for name in args.samplers.split(",") if name.strip()]
        unknown = [name for name in args.samplers if name not in SAMPLERS]
        if unknown or not args.samplers:
            parser.error(
                f"--samplers: unknown sampler(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(SAMPLERS)}"
            )


def _discrete_step_sizes(key, params, start, given: float | None, burn_in: int) -> dict:
    """DMALA's and DULA's step sizes: from ``--discrete-step-size``, or each tuned by
    dual averaging on the starting chains (tuning apart from the kernel)."""
    import jax

    from numpyro_ebm.energies import bernoulli_rbm
    from numpyro_ebm.kernels import dmala

    if given is not None:
        return {"DMALA": given, "DULA": DULA_STEP_SIZE_FRACTION * given}
    sizes = {}
    for index, (name, adjusted) in enumerate((("DMALA", True), ("DULA", False))):
        state = dmala.as_top_level_api(bernoulli_rbm.free_energy, 0.5, adjusted=adjusted).init(
            start, params
        )
        _, step_size, _ = dmala.adapt_step_size(
            jax.random.fold_in(key, index),
            state,
            params,
            bernoulli_rbm.free_energy,
            n_steps=max(100, burn_in),
            adjusted=adjusted,
        )
        sizes[name] = float(step_size)
    return sizes


def _bernoulli_setup(params, discrete_step_sizes: dict | None = None):
    from numpyro_ebm import diagnostics
    from numpyro_ebm.diagnostics import SamplerSpec
    from numpyro_ebm.energies import bernoulli_rbm
    from numpyro_ebm.kernels import (
        binary_gibbs,
        dmala,
        gibbs_with_gradients,
        hamming_ball,
        locally_balanced,
        path_auxiliary,
        rbm_gibbs,
    )

    n_visible = params.W.shape[0]
    energy = bernoulli_rbm.free_energy
    samplers = {
        "block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api("bernoulli"), batched=True),
        "single-site Gibbs": SamplerSpec(
            binary_gibbs.as_top_level_api(energy), batched=True, evaluations_per_step=n_visible + 1
        ),
        "DiscreteHMCGibbs": diagnostics.discrete_hmc_gibbs_spec(
            energy, params, (n_visible,), site="v"
        ),
        "GWG": gibbs_with_gradients.as_top_level_api(energy, refresh=False),
        "locally balanced": locally_balanced.as_top_level_api(energy, refresh=False),
        "PAS": path_auxiliary.as_top_level_api(energy, path_length=3, refresh=False),
        "Hamming ball": hamming_ball.as_top_level_api(
            energy, block_size=min(4, n_visible), radius=1
        ),
    }
    for name, step_size in (discrete_step_sizes or {}).items():
        adjusted = name == "DMALA"
        samplers[name] = dmala.as_top_level_api(energy, step_size, adjusted=adjusted, refresh=False)
    moments = None
    if n_visible <= MAX_ENUMERATED_VISIBLE:
        moments = diagnostics.enumeration_moments(energy, params, n_visible)
    return samplers, energy, moments


def _gaussian_setup(params, step_size: float | None):
    import jax
    import numpy as np

    from numpyro_ebm import diagnostics
    from numpyro_ebm.diagnostics import SamplerSpec
    from numpyro_ebm.energies import gaussian_rbm
    from numpyro_ebm.evaluation import exact
    from numpyro_ebm.kernels import hmc, langevin, mala, random_walk, rbm_gibbs

    energy = gaussian_rbm.free_energy
    scale = 0.3 if step_size is None else step_size
    samplers = {
        "block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api("gaussian"), batched=True),
        "HMC": hmc.as_top_level_api(energy, scale, num_integration_steps=10, refresh=False),
        "MALA": mala.as_top_level_api(energy, 5 * scale / 3, refresh=False),
        "RWMH": random_walk.as_top_level_api(energy, 5 * scale, refresh=False),
        "ULA": langevin.as_top_level_api(energy, scale / 6, refresh=False),
    }
    moments = None
    n_visible, n_hidden = params.W.shape
    if n_visible <= 2 and n_hidden <= 16:
        # quadrature over a box holding every mixture component +- 8 standard deviations
        states, _ = exact.log_probabilities_binary(
            gaussian_rbm.hidden_free_energy, params, n_hidden
        )
        p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
        means = p64.b + np.exp(p64.log_sigma) * (states @ p64.W.T)
        sigma = np.exp(p64.log_sigma)
        bounds = [
            (means[:, i].min() - 8 * sigma[i], means[:, i].max() + 8 * sigma[i])
            for i in range(n_visible)
        ]
        moments = diagnostics.quadrature_moments(energy, params, bounds)
    return samplers, energy, moments


def _chosen(samplers: dict, wanted: list[str] | None, model: str) -> dict:
    """The samplers ``--samplers`` names, in its order (all of them without it)."""
    if wanted is None:
        return samplers
    by_name = {slug: SAMPLERS[slug] for slug in wanted}
    missing = [slug for slug, name in by_name.items() if name not in samplers]
    if missing:
        fits = [slug for slug, name in SAMPLERS.items() if name in samplers]
        raise CommandError(
            f"--samplers: {', '.join(missing)} cannot sample a {model}; choose from "
            f"{', '.join(fits)}"
        )
    return {name: samplers[name] for name in by_name.values()}


def _builtin(target: str, key):
    import jax.numpy as jnp

    from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm

    if target == "bernoulli-rbm":
        return "bernoulli-rbm", bernoulli_rbm.init_params(key, 10, 6, weight_scale=1.0)
    params = gaussian_rbm.init_params(key, 2, 3, weight_scale=1.5)
    return "gaussian-rbm", params._replace(c=jnp.linspace(-1.0, 1.0, 3, dtype=jnp.float32))


def run(args) -> int:
    import jax
    import jax.numpy as jnp
    import pandas as pd

    from numpyro_ebm import diagnostics
    from numpyro_ebm.learning.checkpoint import load_model

    key = jax.random.key(args.seed)
    if args.checkpoint is not None:
        model, params, _ = load_model(args.checkpoint)
        name = f"{model} from {args.checkpoint}"
    else:
        model, params = _builtin(args.target, jax.random.fold_in(key, 0))
        name = f"built-in {args.target}"
    if model == "dbm":
        raise CommandError("compare works on a bernoulli-rbm or gaussian-rbm checkpoint")
    n_visible = params.W.shape[0]
    misfits = [name for name in args.samplers or () if name not in FITS[model]]
    if misfits:
        raise CommandError(
            f"--samplers: {', '.join(misfits)} cannot sample a {model}; choose from "
            f"{', '.join(FITS[model])}"
        )
    if model == "bernoulli-rbm":
        start = jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, (args.chains, n_visible))
        start = start.astype(jnp.float32)
        wanted = set(SAMPLERS) if args.samplers is None else set(args.samplers)
        step_sizes = None
        if wanted & {"dmala", "dula"}:
            step_sizes = _discrete_step_sizes(
                jax.random.fold_in(key, 3), params, start, args.discrete_step_size, args.burn_in
            )
            how = "given" if args.discrete_step_size is not None else "tuned to acceptance 0.55"
            print(", ".join(f"{k} step size {v:.4g}" for k, v in step_sizes.items()) + f" ({how})")
        samplers, energy, moments = _bernoulli_setup(params, step_sizes)
    else:
        samplers, energy, moments = _gaussian_setup(params, args.step_size)
        from numpyro_ebm.energies import gaussian_rbm

        noise = jax.random.normal(jax.random.fold_in(key, 1), (args.chains, n_visible))
        start = params.b + 3.0 * gaussian_rbm.visible_std(params) * noise
    samplers = _chosen(samplers, args.samplers, model)
    # one sampler at a time, so a progress bar can say which one runs (each its own key)
    names = list(samplers)
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(names), desc="samplers", unit="sampler")
    rows = []
    for index, sampler in enumerate(names):
        if bar is not None:
            bar.set_postfix_str(sampler)
        rows.append(
            diagnostics.compare_samplers(
                jax.random.fold_in(jax.random.fold_in(key, 2), index),
                {sampler: samplers[sampler]},
                start,
                params,
                n_steps=args.steps,
                burn_in=args.burn_in,
                energy_fn=energy,
                exact_moments=moments,
            )
        )
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    table = pd.concat(rows, ignore_index=True)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    columns = [c for c in SHOWN if c in table.columns]
    columns += [c for c in table.columns if c.startswith(("error_", "mcse_"))]
    print(f"{name}: {args.chains} chains, {args.steps} steps after {args.burn_in} burn-in")
    if moments:
        print("exact: " + ", ".join(f"{k} = {v:.6g}" for k, v in moments.items()))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[columns].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    table.to_csv(output / "comparison.csv", index=False)
    written = [output / "comparison.csv"]
    if moments:  # the target is small enough to know them
        written.append(write_json(output / "exact_moments.json", dict(moments)))
    if not args.no_plots:
        written.append(diagnostics.plot_comparison(table, output / "comparison.png", title=name))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
