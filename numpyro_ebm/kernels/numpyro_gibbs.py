r"""HMC-within-Gibbs for a Gaussian-Bernoulli RBM with NumPyro's ``HMCGibbs``.

A Gaussian-Bernoulli RBM, :math:`p(v, h) \propto e^{-E(v, h)}` with real
:math:`v \in \mathbb{R}^D` and binary :math:`h \in \{0,1\}^K`, written as an
ordinary NumPyro model (:func:`gaussian_rbm_model`), is sampled by NUTS on the
visible units and by exact block Gibbs on the hidden units
(:func:`gaussian_rbm_hidden_gibbs_fn`, since :math:`p(h \mid v)` factorises into
Bernoullis): ``HMCGibbs(NUTS(model), gibbs_fn, gibbs_sites=["h"])``. A worked example
is in ``docs/numpyro.md``.

These are NumPyro building blocks, not BlackJAX-contract kernels: NumPyro's ``MCMC``
drives them.

References
----------
Hinton, G. E. & Salakhutdinov, R. (2006). Reducing the dimensionality of data
with neural networks. *Science* 313.
Geman, S. & Geman, D. (1984). Stochastic relaxation, Gibbs distributions, and the
Bayesian restoration of images. *IEEE TPAMI* 6.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm import _checks, potentials
from numpyro_ebm.energies import gaussian_rbm
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

__all__ = ["validate_params", "joint_energy", "gaussian_rbm_model", "gaussian_rbm_hidden_gibbs_fn"]


def validate_params(params: gaussian_rbm.GaussianRBMParams) -> gaussian_rbm.GaussianRBMParams:
    """Check shapes, dtypes and finiteness of Gaussian-Bernoulli RBM parameters."""
    W = _checks.check_array(params.W, "params.W", ndim_min=2)
    if W.ndim != 2:
        raise ValueError(f"params.W must have shape (D, K); got shape {tuple(W.shape)}")
    n_visible, n_hidden = W.shape
    for name, value, size, what in (
        ("params.b", params.b, n_visible, "visible units"),
        ("params.c", params.c, n_hidden, "hidden units"),
        ("params.log_sigma", params.log_sigma, n_visible, "visible units"),
    ):
        value = _checks.check_array(value, name)
        if value.ndim != 1:
            raise ValueError(f"{name} must be a vector; got shape {tuple(value.shape)}")
        _checks.check_last_dim(value, size, name, what)
    return params


def joint_energy(params: gaussian_rbm.GaussianRBMParams, vh) -> Float[Array, "*batch"]:
    """:math:`E(v, h)` of a pair ``vh = (v, h)``; ``h`` may be an integer array."""
    v, h = vh
    return gaussian_rbm.joint_energy(params, v, h.astype(v.dtype))


def gaussian_rbm_model(
    params: gaussian_rbm.GaussianRBMParams,
    visible_site: str = "v",
    hidden_site: str = "h",
    energy_site: str = "energy",
) -> Callable[[], None]:
    """A NumPyro model whose log joint is :math:`-E(v, h)` up to a constant.

    ``h`` is a latent ``Bernoulli(1/2)`` vector (``to_event(1)``, integer values),
    ``v`` a latent ``ImproperUniform`` real vector, and the energy enters through
    :func:`numpyro_ebm.potentials.factor` over the pair ``(v, h)``, so the log joint is
    :math:`-E(v, h) - K \\log 2`. ``params`` are fixed (closed over).

    Parameters
    ----------
    params
        Gaussian-Bernoulli RBM parameters, ``W`` of shape ``(D, K)``.
    visible_site, hidden_site, energy_site
        Site names.

    Returns
    -------
    callable
        ``model()`` for ``NUTS`` inside ``HMCGibbs``. (Not for ``DiscreteHMCGibbs``:
        NumPyro's ``Independent`` distribution does not implement ``enumerate_support``.)
    """
    params = validate_params(params)
    n_visible, n_hidden = params.W.shape
    dtype = params.W.dtype

    def model():
        h = numpyro.sample(
            hidden_site,
            dist.Bernoulli(probs=jnp.full((n_hidden,), 0.5, dtype)).to_event(1),
        )
        v = numpyro.sample(
            visible_site, dist.ImproperUniform(dist.constraints.real, (), (n_visible,))
        )
        potentials.factor(energy_site, joint_energy, params, (v, h))

    return model


def gaussian_rbm_hidden_gibbs_fn(
    params: gaussian_rbm.GaussianRBMParams, visible_site: str = "v", hidden_site: str = "h"
) -> Callable:
    """Exact Gibbs update :math:`h \\sim p(h \\mid v)` for ``numpyro.infer.HMCGibbs``.

    :math:`p(h_j = 1 \\mid v) = \\sigma(c_j + (v/\\sigma)^\\top W_{:j})`, drawn for all
    hidden units at once with :func:`~numpyro_ebm.kernels._bernoulli.bernoulli_from_logits`;
    the draw keeps the dtype of the current hidden value.

    Returns
    -------
    callable
        ``gibbs_fn(rng_key, gibbs_sites, hmc_sites) -> {hidden_site: h}``, reading
        ``v`` from ``hmc_sites[visible_site]``.
    """
    params = validate_params(params)

    def gibbs_fn(rng_key: PRNGKeyArray, gibbs_sites: dict, hmc_sites: dict) -> dict:
        v = hmc_sites[visible_site]
        logits = gaussian_rbm.hidden_logits(params, v)
        h = bernoulli_from_logits(rng_key, logits, jnp.asarray(gibbs_sites[hidden_site]).dtype)
        return {hidden_site: h}

    return gibbs_fn
