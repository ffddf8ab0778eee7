"""NUTS through NumPyro on a 2-D product of Student-t experts, against quadrature.

The energy enters a NumPyro model as a latent site
``numpyro.sample("x", potentials.UnnormalizedEnergy(poe.student_t_energy, params, (2,)))``
and ``numpyro.infer.MCMC(NUTS(model))`` samples it. The mean and covariance of
the draws are compared with 2-D quadrature of :math:`e^{-E}`.

Experts: four directions in general position, all with :math:`\\alpha = 2.5`.
Along any direction the density decays at least like :math:`|x|^{-2\\alpha \\cdot 3} = |x|^{-15}`
(at most one direction is orthogonal to a given line), so moments up to order 12
exist (see :func:`numpyro_ebm.energies.poe.student_t_energy`): the mean and the
covariance exist, and so do the fourth moments that make the Monte Carlo
standard errors of the covariance meaningful.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS

from numpyro_ebm import potentials
from numpyro_ebm.energies import poe

PARAMS = poe.StudentTParams(
    W=jnp.array([[1.0, 0.0], [0.0, 1.5], [1.0, 1.0], [1.0, -0.5]], jnp.float32),
    log_alpha=jnp.log(jnp.full((4,), 2.5, jnp.float32)),
)


def _quadrature_moments(half_width=30.0, n=1201):
    """Mean and covariance of ``exp(-E)`` by a Riemann sum on a fine grid (float64)."""
    grid = np.linspace(-half_width, half_width, n)
    points = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1)
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), PARAMS)
        e = np.asarray(jax.jit(poe.student_t_energy)(params64, jnp.asarray(points)))
    w = np.exp(-(e - e.min()))
    w /= w.sum()
    mean = np.einsum("ij,ijd->d", w, points)
    centred = points - mean
    cov = np.einsum("ij,ijd,ije->de", w, centred, centred)
    return mean, cov


def model():
    numpyro.sample("x", potentials.UnnormalizedEnergy(poe.student_t_energy, PARAMS, (2,)))


def _mcse(values):
    """Monte Carlo standard error of the mean of ``values`` (chains, draws) from its ESS."""
    ess = float(effective_sample_size(values))
    return float(np.std(values)) / np.sqrt(ess), ess


def test_nuts_student_t_poe_matches_quadrature_moments():
    true_mean, true_cov = _quadrature_moments()
    mcmc = MCMC(
        NUTS(model),
        num_warmup=1000,
        num_samples=4000,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    # NumPyro's NUTS itself divides a float by an int (numpyro/infer/hmc.py, _nuts_next),
    # which the suite's strict promotion rejects; our energy is checked under strict
    # promotion in tests/energies/test_poe.py.
    with jax.numpy_dtype_promotion("standard"):
        mcmc.run(jax.random.key(0))
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"], np.float64)  # (4, 4000, 2)
    assert x.shape == (4, 4000, 2)

    # Each of the 5 checks (2 means, 3 covariance entries) is a z-test at |z| < 4.5
    # with the MCMC standard error sd/sqrt(ESS): nominal false-failure rate
    # 5 * 6.8e-6 = 3.4e-5; below 1e-4 allowing for the error of the ESS estimate.
    z = 4.5
    for d in range(2):
        se, ess = _mcse(x[..., d])
        assert ess > 1000, ess
        assert abs(x[..., d].mean() - true_mean[d]) < z * se, (d, x[..., d].mean(), true_mean[d])
    centred = x - true_mean
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        products = centred[..., i] * centred[..., j]
        se, ess = _mcse(products)
        assert ess > 500, ess
        assert abs(products.mean() - true_cov[i, j]) < z * se, (i, j, products.mean(), true_cov)
