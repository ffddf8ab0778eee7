r"""Auxiliary draws :math:`y \sim p(\cdot \mid \theta')` for the exchange algorithm.

The exchange algorithm (Murray, Ghahramani & MacKay 2006) cancels the intractable
:math:`Z(\theta')` of a proposal with one draw from the model at :math:`\theta'`.
Three ways to make that draw for a binary site (values in :math:`\{0,1\}`):

- :func:`enumerate_draw`, **exact**: the site's :math:`2^D` configurations are
  enumerated (:func:`numpyro_ebm.evaluation.exact.binary_states`) and one is drawn per
  independent batch element. For event sizes :math:`D` up to about 16.
- :func:`cftp_draw`, **exact**: monotone coupling from the past (Propp & Wilson 1996).
  Two single-site heat-bath chains, from all-zeros and all-ones, share their uniforms
  and are run from time :math:`-T` to 0 for :math:`T = 1, 2, 4, \dots` (reusing the
  uniforms of each time step) until they meet; the common state is an exact draw.
  Valid when every heat-bath update is monotone: :math:`p(x_i = 1 \mid x_{-i})`
  non-decreasing in every other unit, i.e. for Ising models and Boltzmann machines
  whose couplings are non-negative (checked by :func:`monotone_violation`).
- :func:`double_mh_draw`, **approximate**: ``inner_steps`` sweeps of the library's
  single-site Gibbs kernel (:mod:`numpyro_ebm.kernels.binary_gibbs`) started at the
  current value of the site (the observed data), the double Metropolis-Hastings sampler
  of Liang (2010).

All three take a distribution object (the site's ``fn`` at :math:`\theta'`, e.g. an
:class:`~numpyro_ebm.potentials.UnnormalizedEnergy`, possibly expanded by plates) and
evaluate it only through ``fn.log_prob``, so they work for any energy of binary units.
The batch elements of a site (e.g. independent observed images in a plate) are
independent given :math:`\theta'`; each is drawn by its own chain, all of them in
parallel, so a sweep costs :math:`D` sequential updates for :math:`D` units of one event.

References
----------
Murray, I., Ghahramani, Z. & MacKay, D. J. C. (2006). MCMC for doubly-intractable
distributions. *UAI*.
Propp, J. G. & Wilson, D. B. (1996). Exact sampling with coupled Markov chains and
applications to statistical mechanics. *Random Structures & Algorithms* 9(1-2).
Liang, F. (2010). A double Metropolis-Hastings sampler for spatial models with
intractable normalizing constants. *Journal of Statistical Computing and Simulation* 80(9).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import binary_gibbs

__all__ = [
    "AUXILIARY_METHODS",
    "element_energy",
    "enumerate_draw",
    "cftp_draw",
    "double_mh_draw",
    "monotone_violation",
]

AUXILIARY_METHODS = ("enumerate", "cftp", "double_mh")
"""The names of the auxiliary draws: exact enumeration, exact CFTP, approximate double MH."""


def element_energy(fn) -> Callable:
    """``x -> -fn.log_prob(x)`` for ``x`` of shape ``(*lead, *batch, D)``: one energy per
    batch element of the site ``fn``, with the event flattened to ``D`` units."""
    event_shape = tuple(fn.event_shape)

    def energy(x):
        return -fn.log_prob(x.reshape(x.shape[:-1] + event_shape))

    return energy


def _n_units(fn) -> int:
    return math.prod(tuple(fn.event_shape))


def enumerate_draw(
    rng_key: PRNGKeyArray, fn, dtype, max_bits: int = 16
) -> Float[Array, "*batch *event"]:
    """One exact draw of every batch element of the binary site ``fn`` by enumeration.

    The :math:`2^D` configurations of one event (:math:`D` = ``prod(fn.event_shape)``)
    are scored by ``fn.log_prob``, broadcast over the batch, and one is drawn per batch
    element. Raises ``ValueError`` when :math:`D` exceeds ``max_bits``.
    """
    event_shape, batch_shape = tuple(fn.event_shape), tuple(fn.batch_shape)
    n_bits = _n_units(fn)
    if n_bits > max_bits:
        raise ValueError(
            f"auxiliary='enumerate' would enumerate 2^{n_bits} configurations of one event of "
            f"shape {event_shape} (limit max_enumeration_bits={max_bits}); use "
            "auxiliary='cftp' (exact, monotone models) or 'double_mh' (approximate)"
        )
    states = exact.binary_states(n_bits, dtype=dtype)  # (2^D, D)
    configurations = states.reshape((states.shape[0],) + (1,) * len(batch_shape) + (n_bits,))
    log_prob = jnp.broadcast_to(
        -element_energy(fn)(configurations), (states.shape[0],) + batch_shape
    )
    # inverse CDF with one uniform per element (Gumbel-max would spend 2^D random numbers)
    cdf = jnp.cumsum(jax.nn.softmax(log_prob, axis=0), axis=0)
    u = jax.random.uniform(rng_key, batch_shape, cdf.dtype) * cdf[-1]
    index = jnp.minimum(jnp.sum(cdf <= u, axis=0), states.shape[0] - 1)  # (*batch,)
    return states[index].reshape(batch_shape + event_shape)


def monotone_violation(fn, dtype) -> tuple[Array, Int[Array, "2"]]:
    r"""The most negative coupling of the binary site ``fn`` and the pair of units it joins.

    The coupling of units :math:`i \ne j` in a context :math:`c` is the mixed difference
    :math:`J_{ij} = -[E(c_{ij \leftarrow 11}) - E(c_{ij \leftarrow 10}) -
    E(c_{ij \leftarrow 01}) + E(c_{ij \leftarrow 00})]`; the heat-bath update of unit
    :math:`i` is monotone in unit :math:`j` exactly when :math:`J_{ij} \ge 0`. It is
    evaluated in the all-zeros and the all-ones context of every batch element, which
    decides the question for pairwise energies (Ising models, Boltzmann machines:
    :math:`J_{ij}` is the coupling itself, the same in every context); for energies with
    higher-order terms only these two contexts are checked. Costs :math:`O(D^2)` energy
    evaluations for :math:`D` units of one event.

    Returns
    -------
    violation
        :math:`\max(0, -\min_{i \ne j} J_{ij})` (0 for a monotone model).
    pair
        ``(i, j)``, flat indices into the event, of the most negative coupling.
    """
    n_units, batch_shape = _n_units(fn), tuple(fn.batch_shape)
    energy = element_energy(fn)
    eye = jnp.eye(n_units, dtype=dtype)
    lift = (1,) * len(batch_shape)  # configurations broadcast over the site's batch

    def energies(x):  # (m, D) -> (m, prod(batch))
        out = energy(x.reshape(x.shape[:1] + lift + (n_units,)))
        return jnp.broadcast_to(out, x.shape[:1] + batch_shape).reshape(x.shape[0], -1)

    def couplings(context):
        # flip units i and j away from the context, one row i at a time (O(D^2) memory);
        # from the ones context the mixed difference has the same sign (two flips of -1)
        flip = 1 - 2 * context
        base = jnp.full((1, n_units), context, dtype)
        e_none = energies(base)  # (1, B)
        e_single = energies(base + flip * eye)  # (D, B)

        def row(i):
            both = jnp.clip(base + flip * (eye[i] + eye), 0, 1)
            return -(energies(both) - e_single[i] - e_single + e_none)  # (D, B)

        scale = jnp.maximum(jnp.max(jnp.abs(e_none)), jnp.max(jnp.abs(e_single)))
        return jnp.min(jax.lax.map(row, jnp.arange(n_units)), axis=-1), scale  # (D, D), ()

    (J_zeros, scale_zeros), (J_ones, scale_ones) = couplings(0.0), couplings(1.0)
    J = jnp.where(jnp.eye(n_units, dtype=bool), jnp.inf, jnp.minimum(J_zeros, J_ones))
    flat = jnp.argmin(J)
    pair = jnp.stack([flat // n_units, flat % n_units])
    # a mixed difference of four energies is exact only up to their rounding
    tolerance = 64 * jnp.finfo(dtype).eps * (1 + jnp.maximum(scale_zeros, scale_ones))
    coupling = J.reshape(-1)[flat]
    return jnp.where(coupling < -tolerance, -coupling, 0.0).astype(dtype), pair


def _heat_bath_sweep(energy: Callable, uniforms, x):
    """A systematic single-site heat-bath sweep of the bounding chains ``x``
    ``(2, *batch, D)`` driven by shared ``uniforms`` ``(*batch, D)``: unit ``i`` becomes
    ``u_i < p(x_i = 1 | x_-i)``.

    This is the grand coupling CFTP needs: with a monotone model the order of the two
    chains is preserved, since a unit's conditional probability is monotone in the others
    and both chains compare it with the same uniform.
    """

    def update(i, x):
        ones = jax.lax.dynamic_update_index_in_dim(x, jnp.ones(x.shape[:-1], x.dtype), i, -1)
        zeros = jax.lax.dynamic_update_index_in_dim(x, jnp.zeros(x.shape[:-1], x.dtype), i, -1)
        p_one = jax.nn.sigmoid(energy(zeros) - energy(ones))
        u = jax.lax.dynamic_index_in_dim(uniforms, i, -1, keepdims=False)
        return jax.lax.dynamic_update_index_in_dim(x, (u < p_one).astype(x.dtype), i, -1)

    return jax.lax.fori_loop(0, x.shape[-1], update, x)


def cftp_draw(
    rng_key: PRNGKeyArray, fn, dtype, max_doublings: int = 12
) -> tuple[Float[Array, "*batch *event"], Int[Array, ""]]:
    r"""One exact draw of every batch element of the binary site ``fn`` by monotone CFTP.

    Parameters
    ----------
    rng_key
        The uniforms of time step :math:`-t` are ``uniform(fold_in(rng_key, t), ...)``,
        the same in every restart, as coupling from the past requires.
    fn
        The site's distribution; its heat-bath updates must be monotone (see
        :func:`monotone_violation`).
    max_doublings
        The chains start at :math:`-T` for :math:`T = 1, 2, \dots, 2^{\text{max\_doublings}}`.

    Returns
    -------
    sample
        The coalesced state, shape ``(*batch, *event)``; if the chains have not met after
        :math:`2^{\text{max\_doublings}}` sweeps, the lower chain's state (not exact).
    coalescence_time
        The :math:`T` at which the chains met for every batch element (sweeps from the
        past), or ``-1``. Running all elements from a common :math:`T` is exact: a chain
        that has coalesced from :math:`-T` gives the same state from any earlier start.
    """
    n_units, batch_shape = _n_units(fn), tuple(fn.batch_shape)
    energy = element_energy(fn)
    shape = batch_shape + (n_units,)

    def run_from(T):
        bounds = jnp.stack([jnp.zeros(shape, dtype), jnp.ones(shape, dtype)])

        def step(k, x):
            t = T - k  # time -t, from -T up to -1
            uniforms = jax.random.uniform(jax.random.fold_in(rng_key, t), shape, dtype)
            return _heat_bath_sweep(energy, uniforms, x)

        return jax.lax.fori_loop(0, T, step, bounds)

    def not_done(carry):
        T, _, met = carry
        return ~met & (T <= 2**max_doublings)

    def body(carry):
        T, _, _ = carry
        bounds = run_from(T)
        met = jnp.all(bounds[0] == bounds[1])
        return jnp.where(met, T, 2 * T), bounds, met

    start = (jnp.asarray(1, jnp.int32), jnp.zeros((2,) + shape, dtype), jnp.asarray(False))
    T, bounds, met = jax.lax.while_loop(not_done, body, start)
    return bounds[0].reshape(batch_shape + tuple(fn.event_shape)), jnp.where(met, T, -1)


def double_mh_draw(
    rng_key: PRNGKeyArray, fn, start: Float[Array, "*batch *event"], inner_steps: int
) -> Float[Array, "*batch *event"]:
    """An approximate draw: ``inner_steps`` single-site Gibbs sweeps from ``start``.

    Liang's (2010) double Metropolis-Hastings: the auxiliary variable is the end of a short
    chain at :math:`\theta'` started at the data (one chain per batch element, the
    library's :mod:`~numpyro_ebm.kernels.binary_gibbs` kernel), instead of an exact draw.
    The exchange acceptance ratio is then exact only as ``inner_steps`` grows; see
    ``docs/bayesian_inference.md`` for what this costs.
    """
    batch_shape = tuple(fn.batch_shape)
    energy = element_energy(fn)
    kernel = binary_gibbs.build_kernel(lambda _, x: energy(x))

    def sweep(state, key):
        return kernel(key, state, None)[0], None

    keys = jax.random.split(rng_key, inner_steps)
    position = start.reshape(batch_shape + (_n_units(fn),))
    state, _ = jax.lax.scan(sweep, binary_gibbs.BinaryGibbsState(position), keys)
    return state.position.reshape(start.shape)
