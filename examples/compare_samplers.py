"""Every sampler on the same targets: ESS per second and per evaluation, R-hat, exact errors.

Two targets whose exact moments are known, each sampled by several kernels with the same
number of steps per chain (``numpyro_ebm.diagnostics.compare_samplers``):

1. A Gaussian-Bernoulli RBM with 2 visible units: its visible marginal
   ``p(v) ∝ exp(-F(v))`` (F the free energy) is a mixture of ``2^K`` Gaussians, sampled by
   block Gibbs on ``(v, h)``, HMC, NUTS, MALA, random-walk Metropolis and the unadjusted
   Langevin algorithm on ``F``, and by NumPyro's ``DiscreteHMCGibbs`` (exact Gibbs on a
   binary ``h`` site with density ∝ exp(-F(h)), NUTS on ``v | h``). Exact ``E[F(v)]`` and
   ``E[mean v]`` by 2-D quadrature (``quadrature_moments``); ``E[v]`` is also known in
   closed form (the mixture of the conditional means), printed as a cross-check.
2. A Bernoulli RBM, small enough to enumerate its visible units: block Gibbs, single-site
   Gibbs on the free energy and NumPyro's ``DiscreteHMCGibbs`` (the off-the-shelf baseline
   for a binary site). Exact moments by enumeration (``enumeration_moments``).

Each table is printed and drawn (``plot_comparison``) to a PNG in ``--out``. The step
sizes are fixed for the default targets (no adaptation in this project's kernels; NumPyro's
NUTS adapts its own during the burn-in). ULA has no Metropolis correction, so its errors
include a bias of order the step size.

Run: ``python examples/compare_samplers.py --out compare_output`` (about a minute,
mostly compilation).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.infer import NUTS, DiscreteHMCGibbs

from numpyro_ebm import diagnostics
from numpyro_ebm.diagnostics import NumPyroSpec, SamplerSpec
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import binary_gibbs, hmc, langevin, mala, nuts, random_walk, rbm_gibbs
from numpyro_ebm.potentials import UnnormalizedEnergy

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
    "divergences",
]


def gbrbm_discrete_hmc_gibbs(params: gaussian_rbm.GaussianRBMParams) -> NumPyroSpec:
    """``DiscreteHMCGibbs`` on ``h ∝ exp(-F(h))`` (binary site) and ``v | h`` Gaussian: the
    joint is the RBM's. A step is a Gibbs sweep over the K hidden units (K potential
    evaluations) and a NUTS trajectory on v (``num_steps`` gradients)."""
    n_visible, n_hidden = params.W.shape

    def model():
        h = numpyro.sample(
            "h",
            UnnormalizedEnergy(
                gaussian_rbm.hidden_free_energy, params, (n_hidden,), support="binary"
            ),
        )
        mean = gaussian_rbm.visible_mean(params, h.astype(params.W.dtype))
        numpyro.sample("v", dist.Normal(mean, gaussian_rbm.visible_std(params)).to_event(1))

    initialised = numpyro.handlers.substitute(model, data={"h": jnp.zeros(n_hidden, jnp.int32)})
    return NumPyroSpec(
        kernel=DiscreteHMCGibbs(NUTS(initialised)),
        site="v",
        evaluations_per_step=lambda fields: n_hidden + fields["hmc_state.num_steps"],
        extra_fields=("hmc_state.num_steps", "hmc_state.accept_prob", "hmc_state.diverging"),
    )


def gbrbm_comparison(args, key):
    n_hidden = args.hidden
    params = gaussian_rbm.init_params(key, 2, n_hidden, weight_scale=1.5)
    params = params._replace(c=jnp.linspace(-1.0, 1.0, n_hidden, dtype=jnp.float32))
    energy = gaussian_rbm.free_energy

    # exact: quadrature over a box holding every mixture component +- 8 standard deviations
    states, log_p = exact.log_probabilities_binary(
        gaussian_rbm.hidden_free_energy, params, n_hidden
    )
    p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    means = p64.b + np.exp(p64.log_sigma) * (states @ p64.W.T)  # E[v | h], float64
    bounds = [(means[:, i].min() - 8.0, means[:, i].max() + 8.0) for i in range(2)]
    moments = diagnostics.quadrature_moments(energy, params, bounds)
    closed_form = float(np.exp(log_p) @ means.mean(axis=1))

    samplers = {
        "block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api("gaussian"), batched=True),
        "HMC": hmc.as_top_level_api(energy, 0.3, num_integration_steps=10, refresh=False),
        "NUTS": nuts.as_top_level_api(energy, 0.4, max_num_doublings=6, refresh=False),
        "MALA": mala.as_top_level_api(energy, 0.5, refresh=False),
        "RWMH": random_walk.as_top_level_api(energy, 1.5, refresh=False),
        "ULA": langevin.as_top_level_api(energy, 0.05, refresh=False),
        "DiscreteHMCGibbs": gbrbm_discrete_hmc_gibbs(params),
    }
    v0 = 3.0 * jax.random.normal(jax.random.fold_in(key, 1), (args.chains, 2), jnp.float32)
    table = diagnostics.compare_samplers(
        jax.random.fold_in(key, 2),
        samplers,
        v0,
        params,
        n_steps=args.steps,
        burn_in=args.burn_in,
        energy_fn=energy,
        exact_moments=moments,
    )
    return table, moments, closed_form


def bernoulli_comparison(args, key):
    n_visible = args.bernoulli_visible
    params = bernoulli_rbm.init_params(key, n_visible, args.bernoulli_hidden, weight_scale=1.0)
    energy = bernoulli_rbm.free_energy
    moments = diagnostics.enumeration_moments(energy, params, n_visible)
    samplers = {
        "block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api(), batched=True),
        "single-site Gibbs": SamplerSpec(
            binary_gibbs.as_top_level_api(energy),
            batched=True,
            evaluations_per_step=n_visible + 1,
        ),
        "DiscreteHMCGibbs": diagnostics.discrete_hmc_gibbs_spec(
            energy, params, (n_visible,), site="v"
        ),
    }
    v0 = jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, (args.chains, n_visible))
    table = diagnostics.compare_samplers(
        jax.random.fold_in(key, 2),
        samplers,
        v0.astype(jnp.float32),
        params,
        n_steps=args.steps,
        burn_in=args.burn_in,
        energy_fn=energy,
        exact_moments=moments,
    )
    return table, moments


def _show(title, table, moments):
    columns = SHOWN + [c for c in table.columns if c.startswith(("error_", "mcse_"))]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"\n{title}\nexact: {moments}")
        print(table[columns].to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000, help="recorded steps per chain")
    parser.add_argument("--burn-in", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=3, help="hidden units of the 2-D GB-RBM")
    parser.add_argument("--bernoulli-visible", type=int, default=10)
    parser.add_argument("--bernoulli-hidden", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("compare_samplers_output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(args.seed)

    gbrbm_table, gbrbm_moments, closed_form = gbrbm_comparison(args, jax.random.fold_in(key, 0))
    _show("Gaussian-Bernoulli RBM, 2 visible units", gbrbm_table, gbrbm_moments)
    print(
        f"E[mean v]: quadrature {gbrbm_moments['mean_activation']:.10f}, "
        f"closed form {closed_form:.10f}"
    )
    bernoulli_table, bernoulli_moments = bernoulli_comparison(args, jax.random.fold_in(key, 1))
    _show(
        f"Bernoulli RBM {args.bernoulli_visible}x{args.bernoulli_hidden}",
        bernoulli_table,
        bernoulli_moments,
    )

    figures = [
        diagnostics.plot_comparison(
            gbrbm_table, args.out / "compare_gbrbm.png", title="Gaussian-Bernoulli RBM, D = 2"
        ),
        diagnostics.plot_comparison(
            bernoulli_table,
            args.out / "compare_bernoulli_rbm.png",
            title=f"Bernoulli RBM {args.bernoulli_visible}x{args.bernoulli_hidden}",
        ),
    ]
    for path in figures:
        print(f"wrote {path}")
    return {
        "gbrbm": gbrbm_table,
        "gbrbm_exact": gbrbm_moments,
        "gbrbm_closed_form_mean": closed_form,
        "bernoulli": bernoulli_table,
        "bernoulli_exact": bernoulli_moments,
        "figures": figures,
    }


if __name__ == "__main__":
    main()
