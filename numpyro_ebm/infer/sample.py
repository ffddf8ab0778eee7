r"""Sampling a learned NumPyro energy model: the MCMC analogue of NumPyro's ``Predictive``.

:func:`sample` draws from the joint :math:`p_\theta(x, z) \propto \tilde p_\theta(x, z)` of a
model with unnormalized terms at fixed parameters (e.g. ``ContrastiveDivergence.run(...).params``):
the observed sites are freed, and chains of a kernel of this library run on the model's
row energy (:func:`numpyro_ebm.infer.contrastive.compile_model`: one replicate of the
data plate a row, discrete latent sites of small support summed out). It returns a dict
``{site: (num_chains, num_samples, *per-replicate shape)}`` and :func:`to_inference_data`
converts it for ArviZ (``InferenceData`` on ArviZ 0.23, ``DataTree`` on 1.x).

References
----------
Geman, S. & Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the Bayesian
restoration of images. *IEEE TPAMI* 6(6).
Roberts, G. O. & Tweedie, R. L. (1996). Exponential convergence of Langevin
distributions and their discrete approximations. *Bernoulli* 2(4) (MALA).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray
from numpyro import handlers

from numpyro_ebm import _arviz
from numpyro_ebm.diagnostics.chains import run_chains
from numpyro_ebm.infer.contrastive import (
    compile_model,
    default_sampler,
    energy_parameters,
    rbm_energy_site,
    rows_of,
)
from numpyro_ebm.kernels import rbm_gibbs
from numpyro_ebm.learning.chains import initial_positions
from numpyro_ebm.learning.contrastive_divergence import default_get_position

__all__ = ["sample", "to_inference_data"]


def sample(
    model: Callable,
    params: Mapping,
    kernel: Callable | None,
    num_samples: int,
    rng_key: PRNGKeyArray,
    *args,
    num_chains: int = 4,
    num_warmup: int = 0,
    thinning: int = 1,
    step_size: float = 0.01,
    max_enumeration: int = 4096,
    **kwargs,
) -> dict:
    """Draw ``num_samples`` states of each of ``num_chains`` chains from the model at ``params``.

    Parameters
    ----------
    model
        The NumPyro model (with its ``numpyro.param`` sites).
    params
        ``{param site: constrained value}`` (``ContrastiveDivergence.run(...).params``).
    kernel
        ``kernel(energy) -> SamplingAlgorithm`` on the row energy (``vmap``-ed over the
        chains), or None for the default: block Gibbs for an RBM site, binary Gibbs for
        binary rows, MALA with ``step_size`` for continuous rows.
    num_samples, num_warmup, thinning
        Draws kept per chain, transitions discarded first, and one draw kept in ``thinning``.
    rng_key
        PRNG key (chains start at random replicates of the observed data in ``args``).
    *args, **kwargs
        The model's arguments (the observed data starts the chains).

    Returns
    -------
    dict
        ``{site: (num_chains, num_samples, *shape)}`` for the observed sites (freed) and
        the latent sites that are not summed out.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer; got {num_samples!r}")
    if not isinstance(num_chains, int) or num_chains < 1:
        raise ValueError(f"num_chains must be a positive integer; got {num_chains!r}")
    trace_key, start_key, chain_key = jax.random.split(rng_key, 3)
    fixed = handlers.substitute(model, data=dict(params))
    layout, theta, trace = compile_model(
        fixed, args, kwargs, trace_key, max_enumeration=max_enumeration
    )
    sites = layout.observed + layout.latent
    starts = initial_positions(start_key, rows_of(trace, sites, layout.dtype), num_chains)
    rbm = rbm_energy_site(layout, trace)
    if kernel is not None:
        sampler, vmap_chains, target = kernel(layout.energy), True, theta
    elif rbm is not None:  # block Gibbs on the RBM site's own parameters
        name, kind = rbm
        sampler, vmap_chains = rbm_gibbs.as_top_level_api(kind), False
        target = energy_parameters(trace[name]["fn"])
    else:
        (sampler, vmap_chains), target = default_sampler(layout.energy, sites, step_size), theta
    states, _ = run_chains(
        chain_key,
        sampler,
        starts,
        target,
        num_samples * thinning,
        burn_in=num_warmup,
        thin=thinning,
        batched=not vmap_chains,
    )
    positions = default_get_position(states)
    return layout.unflatten(jnp.swapaxes(positions, 0, 1))  # (chain, draw, ...)


def to_inference_data(samples: Mapping):
    """:func:`sample`'s dict as ArviZ data: a ``posterior`` group with ``(chain, draw, ...)``
    dimensions (``InferenceData`` on ArviZ 0.23, ``xarray.DataTree`` on 1.x)."""
    import xarray as xr

    variables = {}
    for name, value in samples.items():
        value = np.asarray(value)
        dims = ["chain", "draw"] + [f"{name}_dim_{i}" for i in range(value.ndim - 2)]
        variables[name] = (dims, value)
    posterior = xr.Dataset(variables, attrs=_arviz.make_attrs("numpyro_ebm.infer"))
    return _arviz.from_datasets({"posterior": posterior})
