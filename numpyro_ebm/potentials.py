r"""Energies as unnormalized NumPyro and BlackJAX potentials.

The only module that knows signs. An energy ``E(params, x)`` defines
:math:`p(x) \propto e^{-E(x)}`; so

- BlackJAX receives the log density :math:`-E` (:func:`log_density_fn`);
- NumPyro's ``MCMC(NUTS(potential_fn=...))`` receives the potential :math:`E`
  (:func:`potential_fn`);
- inside a NumPyro model, :func:`factor` adds :math:`-E` to the log joint and
  :class:`UnnormalizedEnergy` is a latent (or observed) site whose ``log_prob``
  is :math:`-E`.

The normalising constant :math:`\log Z(\theta)` is dropped everywhere, which is
right when :math:`\theta` is fixed and wrong when :math:`\theta` is itself
inferred (a doubly-intractable posterior). Two guards catch that mistake and
emit a :class:`DoublyIntractableWarning`:

- :func:`check_model` traces a model with NumPyro's provenance tracking and
  reports every energy whose parameters depend on a latent sample site or a
  ``numpyro.param`` site, however indirectly;
- automatically, when an :class:`UnnormalizedEnergy` or a :func:`factor` is
  built inside a model run under a ``numpyro.handlers.trace`` (every NumPyro
  inference algorithm does this, e.g. when MCMC initialises), a parameter leaf
  that *is* the value of an earlier latent (or param) site in that trace is
  reported once per site. Parameters derived from such a value (``2 * W``,
  ``jnp.exp(log_sigma)``, closures inside ``energy_fn``) are only caught by
  :func:`check_model`.

Under NumPyro's SVI the mistake is not only biased but unbounded (the ELBO's
:math:`-E_\theta(x)` falls without limit while :math:`\log Z(\theta)` is ignored), and
NumPyro's loops swallow warnings, so an energy whose parameters are ``numpyro.param``
sites, traced by an ELBO, raises :class:`LearnableEnergyError` naming the site instead.
An engine that accounts for :math:`\log Z(\theta)` itself runs its models inside
:func:`allow_learnable_energies`.

References
----------
Murray, I., Ghahramani, Z. & MacKay, D. J. C. (2006). MCMC for doubly-intractable
distributions. *UAI*.
Møller, J., Pettitt, A. N., Reeves, R. & Berthelsen, K. K. (2006). An efficient
Markov chain Monte Carlo method for distributions with intractable normalising
constants. *Biometrika* 93(2).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro import handlers
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.distribution import Unit
from numpyro.infer import elbo as numpyro_elbo
from numpyro.infer import svi as numpyro_svi
from numpyro.infer.initialization import init_to_sample
from numpyro.ops.provenance import eval_provenance
from numpyro.primitives import _PYRO_STACK, Messenger

from numpyro_ebm import _checks

__all__ = [
    "log_density_fn",
    "potential_fn",
    "factor",
    "UnnormalizedEnergy",
    "UnnormalizedSampleError",
    "DoublyIntractableWarning",
    "LearnableEnergyError",
    "allow_learnable_energies",
    "check_model",
    "ENERGY_FACTOR_MARK",
    "annealed_energy",
    "energy_gap",
]

ENERGY_FACTOR_MARK = "numpyro_ebm_energy"
"""Key set in the ``infer`` dict of every :func:`factor` site (value ``"factor"``)."""


def log_density_fn(energy_fn: Callable, params) -> Callable:
    """BlackJAX log density ``x -> -energy_fn(params, x)``."""

    def log_density(x):
        return -energy_fn(params, x)

    return log_density


def potential_fn(energy_fn: Callable, params, site: str | None = None) -> Callable:
    """NumPyro potential for ``MCMC(NUTS(potential_fn=...))``: ``z -> energy_fn(params, z)``.

    With ``site`` set, ``z`` is a dict and the energy is evaluated at ``z[site]``
    (so ``init_params={site: x0}`` names the samples in ``mcmc.get_samples()``).
    """

    def potential(z):
        x = z[site] if site is not None else z
        return energy_fn(params, x)

    return potential


# --------------------------------------------------------------------------------------
# The annealing path, shared by AIS, reverse AIS and parallel tempering
# --------------------------------------------------------------------------------------


def annealed_energy(energy_fn: Callable, base=None) -> Callable:
    r"""The energy of the geometric path from a base to the target, ``fn((params, beta), x)``.

    .. math::

        E_\beta(x) = \beta E(\theta, x) - (1 - \beta) \log p_0(x),

    so :math:`e^{-E_\beta} = p_0^{1-\beta} e^{-\beta E}`: the base at
    :math:`\beta = 0`, the target at :math:`\beta = 1` (Neal 2001). ``(params, beta)``
    is the parameter pytree a kernel gets at call time, so one compiled sampler serves
    every temperature. ``base`` is a normalised :math:`p_0` with ``log_prob(x)``
    (e.g. :class:`numpyro_ebm.evaluation.annealing.GaussianBase`); ``None`` is the flat
    measure, :math:`E_\beta = \beta E`. :math:`\beta` is cast to the energy's dtype.

    The one definition of the path: annealed importance sampling and reverse AIS
    (:mod:`numpyro_ebm.evaluation.annealing`) move along it, parallel tempering
    (:func:`numpyro_ebm.kernels.parallel_tempering.tempered_sampler`) holds one
    replica at each of its points.

    References
    ----------
    Neal, R. M. (2001). Annealed importance sampling. *Statistics and Computing* 11.
    """

    def energy(params_and_beta, x):
        params, beta = params_and_beta
        value = energy_fn(params, x)
        beta = jnp.asarray(beta).astype(value.dtype)
        if base is None:
            return beta * value
        return beta * value - (1 - beta) * base.log_prob(x)

    return energy


def energy_gap(energy_fn: Callable, base=None) -> Callable:
    r"""``fn(params, x)``: :math:`G(x) = E(\theta, x) + \log p_0(x)`, the slope of the path.

    :math:`E_\beta = E_0 + \beta G` with :math:`E_0 = -\log p_0` (see
    :func:`annealed_energy`), so a move from :math:`\beta'` to :math:`\beta` changes
    the log weight of an AIS run by :math:`-(\beta - \beta') G(x)`, and a swap of
    adjacent parallel-tempering replicas is accepted with probability
    :math:`\min(1, e^{(\beta_{k+1} - \beta_k)(G(x_{k+1}) - G(x_k))})`.
    """

    def gap(params, x):
        value = energy_fn(params, x)
        return value if base is None else value + base.log_prob(x)

    return gap


# --------------------------------------------------------------------------------------
# The doubly-intractable guard
# --------------------------------------------------------------------------------------


class DoublyIntractableWarning(UserWarning):
    """An energy's parameters are inferred although its :math:`\\log Z(\\theta)` is dropped."""


class LearnableEnergyError(ValueError):
    """An energy whose parameters are ``numpyro.param`` sites is traced by NumPyro's ELBO.

    SVI would optimise :math:`-E_\\theta(x)` without :math:`-\\log Z(\\theta)`: the loss
    falls without bound while the model gets worse. Learn :math:`\\theta` with
    ``numpyro_ebm.infer.ContrastiveDivergence`` or :func:`numpyro_ebm.learning.fit`.
    """


_WARNED: set = set()  # keys already warned about by the automatic check (once per site)
_SUPPRESS_AUTO_CHECK = [0]  # > 0 while check_model traces a model (it reports by itself)
_ALLOW_LEARNABLE = [0]  # > 0 inside allow_learnable_energies()
_ELBO_FILES = frozenset(os.path.abspath(m.__file__) for m in (numpyro_elbo, numpyro_svi))


@contextlib.contextmanager
def allow_learnable_energies() -> Iterator[None]:
    """Run models whose energies have inferred or learned parameters, by design.

    Inside this context the automatic guard is off: no :class:`LearnableEnergyError`
    when an ELBO traces an energy whose parameters are ``numpyro.param`` sites, and no
    automatic :class:`DoublyIntractableWarning`. It is for engines that account for
    :math:`\\log Z(\\theta)` themselves (``numpyro_ebm.infer`` wraps its tracing of a
    model in it); :func:`check_model` still reports when called. Nests, and is
    restored on exit even when the body raises.

    Examples
    --------
    >>> from numpyro_ebm.potentials import allow_learnable_energies
    >>> with allow_learnable_energies():
    ...     pass  # trace the model here, e.g. jax.grad of a contrastive objective
    """
    _ALLOW_LEARNABLE[0] += 1
    try:
        yield
    finally:
        _ALLOW_LEARNABLE[0] -= 1


def _under_elbo() -> bool:
    """Whether the running code was called by NumPyro's SVI or an ELBO (any subclass)."""
    frame = sys._getframe(1)
    while frame is not None:
        if os.path.abspath(frame.f_code.co_filename) in _ELBO_FILES:
            return True
        owner = frame.f_locals.get("self")
        if isinstance(owner, numpyro_elbo.ELBO | numpyro_svi.SVI):
            return True
        frame = frame.f_back
    return False


def _learnable_energy_error(what: str, learnable) -> LearnableEnergyError:
    return LearnableEnergyError(
        f"{what} has parameters that are {_site_list('numpyro.param', learnable)}, and "
        "NumPyro's SVI/ELBO is optimising them. The ELBO uses -E(theta, x) without "
        "-log Z(theta), so the loss falls without bound while the model gets worse "
        "(an RBM trained this way ends far below independent pixels). Learn theta with "
        "numpyro_ebm.infer.ContrastiveDivergence (the NumPyro engine for energy models) "
        "or numpyro_ebm.learning.fit; keep the energy's parameters fixed (concrete "
        "arrays) to run SVI over other sites. Code that accounts for log Z(theta) itself "
        "traces the model inside numpyro_ebm.potentials.allow_learnable_energies()."
    )


_INTERNAL_DIRS = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (sys.modules[__name__.rpartition(".")[0]], numpyro, jax)
)


def _warn(message: str):
    """Warn with the stack level of the first frame outside numpyro_ebm, numpyro and jax."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DoublyIntractableWarning, stacklevel=level)


def _site_list(kind: str, names) -> str:
    return f"{kind} site{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)}"


def _guard_head(what: str, latent, learnable) -> str:
    sources = []
    if latent:
        sources.append("latent " + _site_list("sample", latent))
    if learnable:
        sources.append(_site_list("numpyro.param", learnable))
    return f"{what} has parameters that depend on {' and '.join(sources)}."


_GUARD_EXPLANATION = (
    "numpyro_ebm uses an energy as an unnormalized log density and drops its normalising "
    "constant log Z(theta). That is exact when theta is fixed, but when theta is inferred "
    "the log joint is missing -log Z(theta), so the posterior over theta that MCMC samples "
    "(or the objective SVI optimizes) is wrong: this is a doubly-intractable model. Either "
    "fix theta (pass concrete arrays as params), or learn theta with "
    "numpyro_ebm.infer.ContrastiveDivergence or numpyro_ebm.learning.fit (CD / persistent "
    "CD, numpyro_ebm.learning.contrastive_divergence), whose gradient accounts for "
    "log Z(theta) with samples from the model; for a posterior over theta, use "
    "numpyro_ebm.infer.Exchange (the exchange algorithm). If this is intended (log Z does "
    "not depend on these sites, or you mean one joint energy over x and theta: then pass "
    "theta inside x, e.g. factor(name, energy_fn, params, (x, theta))), silence it with "
    "warnings.filterwarnings('ignore', category=DoublyIntractableWarning)."
)


def _is_array_leaf(leaf) -> bool:
    return isinstance(leaf, jax.Array | np.ndarray)


def _sources_in_running_trace(params) -> tuple[list[str], list[str]]:
    """Latent sample sites and param sites, recorded by active ``trace`` handlers, whose
    value is itself a leaf of ``params`` (identity, not dependency)."""
    if _SUPPRESS_AUTO_CHECK[0] or _ALLOW_LEARNABLE[0] or not _PYRO_STACK:
        return [], []
    leaf_ids = {id(leaf) for leaf in jax.tree.leaves(params) if _is_array_leaf(leaf)}
    latent, learnable = [], []
    if not leaf_ids:
        return latent, learnable
    for handler in list(_PYRO_STACK):
        if not isinstance(handler, handlers.trace):
            continue
        for name, site in getattr(handler, "trace", {}).items():
            if id(site.get("value")) not in leaf_ids:
                continue
            if site["type"] == "sample" and not site["is_observed"] and name not in latent:
                latent.append(name)
            elif site["type"] == "param" and name not in learnable:
                learnable.append(name)
    return latent, learnable


def _auto_check(what: str, key, params) -> tuple[str, ...]:
    """Warn about latent or param sources of ``params``; return the param sites when an
    ELBO is tracing (the caller raises :class:`LearnableEnergyError` naming its site)."""
    latent, learnable = _sources_in_running_trace(params)
    if learnable and _under_elbo():
        return tuple(learnable)
    if not (latent or learnable):
        return ()
    key = (key, tuple(latent), tuple(learnable))
    if key in _WARNED:
        return
    _WARNED.add(key)
    _warn(
        _guard_head(what, latent, learnable)
        + " "
        + _GUARD_EXPLANATION
        + " (Detected automatically; numpyro_ebm.potentials.check_model(model, *args) "
        "also finds parameters derived from latent sites.)"
    )
    return ()


class _EnergyRecorder(Messenger):
    """Collects ``(params, x)`` of every :func:`factor` run while it is on the stack."""

    def __init__(self):
        super().__init__()
        self.factors: dict = {}

    def __enter__(self):
        super().__enter__()
        return self


def _fn_name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


# --------------------------------------------------------------------------------------
# factor
# --------------------------------------------------------------------------------------


def factor(name: str, energy_fn: Callable, params, x):
    """``numpyro.factor(name, -energy_fn(params, x))``, summed over batch dimensions.

    ``x`` is the configuration the energy is a density of: any pytree of (latent or
    observed) values, e.g. ``(v, h)`` for a joint energy over two sites. ``params``
    is :math:`\\theta`, which must be fixed: :math:`\\log Z(\\theta)` is dropped. The
    site is a ``numpyro.factor`` site whose ``infer`` dict also carries
    ``{ENERGY_FACTOR_MARK: "factor"}``.

    Warns with :class:`DoublyIntractableWarning` (once per site name) when a leaf of
    ``params`` is the value of an earlier latent or ``numpyro.param`` site of the
    running trace; see :func:`check_model` for the complete check. Raises
    :class:`LearnableEnergyError` instead when the leaf is a ``numpyro.param`` site and
    NumPyro's SVI/ELBO is tracing the model (outside :func:`allow_learnable_energies`).
    """
    what = f"The energy factor {name!r} ({_fn_name(energy_fn)})"
    learnable = _auto_check(what, ("factor", name), params)
    if learnable:
        raise _learnable_energy_error(what, learnable)
    for handler in _PYRO_STACK:
        if isinstance(handler, _EnergyRecorder):
            handler.factors[name] = (params, x)
    log_factor = -jnp.sum(energy_fn(params, x))
    unit = Unit(log_factor)
    numpyro.sample(
        name,
        unit,
        obs=unit.sample(None),
        infer={"is_auxiliary": True, ENERGY_FACTOR_MARK: "factor"},
    )


# --------------------------------------------------------------------------------------
# UnnormalizedEnergy
# --------------------------------------------------------------------------------------


class UnnormalizedSampleError(NotImplementedError):
    """Raised when a direct sample is requested from an unnormalized energy."""


_SUPPORTS = {
    "real": constraints.real,
    "binary": constraints.boolean,
    "positive": constraints.positive,
    "unit_interval": constraints.unit_interval,
}


def _float_dtype(params):
    for leaf in jax.tree.leaves(params):
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
            return dtype
    return jnp.result_type(float)


class UnnormalizedEnergy(Distribution):
    """An energy as an (unnormalized) NumPyro distribution: ``log_prob(x) = -E(params, x)``.

    Use it as a latent site, ``x = numpyro.sample("x", UnnormalizedEnergy(E, params, (D,)))``,
    and sample the model with ``MCMC(NUTS(model))`` (real support) or with
    ``DiscreteHMCGibbs`` / ``DiscreteGibbs`` (binary support), or as an observed site.
    ``log_prob`` omits :math:`\\log Z(\\theta)`, so ``params`` must be fixed (see
    :func:`check_model`); :meth:`sample` raises :class:`UnnormalizedSampleError`.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)``: ``x`` of shape ``(*batch, *event_shape)`` gives
        energies of shape ``(*batch,)``.
    params
        Pytree of parameters (held fixed), shared by every batch element.
    event_shape
        Shape of one configuration ``x``, e.g. ``(D,)``.
    support
        ``"real"`` (default), ``"binary"``, ``"positive"`` or ``"unit_interval"``, or a
        NumPyro constraint on a single element.
    batch_shape
        Batch of independent configurations, each with density :math:`\\propto e^{-E}`
        (default ``()``). ``numpyro.plate`` also expands the site as usual.
    validate_args
        When on, ``log_prob`` of values outside the support is ``-inf`` with NumPyro's
        out-of-support warning. A value whose trailing shape is not ``event_shape`` is
        always a ``ValueError``.

    Notes
    -----
    With binary support the site has ``has_enumerate_support = True`` and
    :meth:`enumerate_support` enumerates the two values of *one coordinate* (shape
    ``(2, 1, ...)``, as a ``Bernoulli`` with a batch of coordinates does), which is what
    ``DiscreteGibbs`` / ``DiscreteHMCGibbs`` / ``MixedHMC`` need for their
    coordinate-wise Gibbs updates. Parallel enumeration
    (``infer={"enumerate": "parallel"}``) would need all :math:`2^D` joint
    configurations and is rejected by the shape check. NumPyro draws the initial
    value of a discrete latent site with ``.sample()``, so give the model one with
    ``numpyro.handlers.substitute(model, data={name: x0})`` (an integer array, as
    NumPyro's discrete proposals are integers); integer and boolean values are cast to
    the floating dtype of ``params`` before ``energy_fn`` sees them.
    """

    arg_constraints = {}
    support = constraints.dependent
    has_enumerate_support = False
    pytree_data_fields = ("params", "support")
    pytree_aux_fields = ("energy_fn", "has_enumerate_support")

    def __init__(
        self,
        energy_fn: Callable,
        params,
        event_shape,
        support="real",
        *,
        batch_shape=(),
        validate_args=None,
    ):
        if not callable(energy_fn):
            raise TypeError(
                f"energy_fn must be callable as energy_fn(params, x); got {energy_fn!r}"
            )
        if isinstance(support, str):
            if support not in _SUPPORTS:
                raise ValueError(f"unknown support {support!r}; choose one of {sorted(_SUPPORTS)}")
            support = _SUPPORTS[support]
        if not isinstance(support, constraints.Constraint):
            raise TypeError(
                f"support must be a string or a numpyro constraint; got {type(support).__name__}"
            )
        event_shape = _checks.as_shape(event_shape, "event_shape")
        batch_shape = _checks.as_shape(batch_shape, "batch_shape")
        if support.event_dim > len(event_shape):
            raise ValueError(
                f"support {support} has event_dim {support.event_dim} but event_shape "
                f"{event_shape} has only {len(event_shape)} dimension(s)"
            )
        self.energy_fn = energy_fn
        self.params = params
        self.support = constraints.independent(support, len(event_shape) - support.event_dim)
        self.has_enumerate_support = support is constraints.boolean
        super().__init__(
            batch_shape=batch_shape, event_shape=event_shape, validate_args=validate_args
        )
        learnable = _auto_check(
            f"An UnnormalizedEnergy({_fn_name(energy_fn)})",
            ("UnnormalizedEnergy", _fn_name(energy_fn)),
            params,
        )
        # The site's name exists only once numpyro.sample has recorded it, so the error
        # is raised by log_prob, which the ELBO calls once the model trace is complete.
        self._learnable_under_elbo = (
            (learnable, [h for h in _PYRO_STACK if isinstance(h, handlers.trace)])
            if learnable
            else None
        )

    def _site_description(self, trace_handlers) -> str:
        what = f"UnnormalizedEnergy({_fn_name(self.energy_fn)})"
        for handler in trace_handlers:
            for name, site in handler.trace.items():
                if site["type"] == "sample" and _unnormalized_base(site["fn"]) is self:
                    kind = "observed" if site["is_observed"] else "latent"
                    return f"The {kind} {what} site {name!r}"
        return f"An {what}"

    def _batch_of(self, value):
        n_event = len(self.event_shape)
        shape = tuple(jnp.shape(value))
        if len(shape) < n_event or shape[len(shape) - n_event :] != self.event_shape:
            raise ValueError(
                f"UnnormalizedEnergy: value of shape {shape} does not end with the event "
                f"shape {self.event_shape}. Values must have shape (*batch, "
                f"{', '.join(map(str, self.event_shape))}). (NumPyro's parallel enumeration "
                "of a binary energy is not supported: it would need all joint "
                "configurations; use numpyro_ebm.evaluation.exact for that.)"
            )
        return shape[: len(shape) - n_event]

    def log_prob(self, value):
        """:math:`-E(\\text{params}, x)` (no :math:`\\log Z`), shape ``(*sample, *batch)``."""
        pending = getattr(self, "_learnable_under_elbo", None)  # lost by tree_unflatten
        if pending is not None:
            learnable, trace_handlers = pending
            raise _learnable_energy_error(self._site_description(trace_handlers), learnable)
        value = value if isinstance(value, jax.Array) else jnp.asarray(value)
        batch = self._batch_of(value)
        if not jnp.issubdtype(value.dtype, jnp.floating):
            value = value.astype(_float_dtype(self.params))
        mask = self._validate_sample(value) if self._validate_args else None
        energy = self.energy_fn(self.params, value)
        if tuple(jnp.shape(energy)) != batch:
            raise ValueError(
                f"energy_fn returned shape {tuple(jnp.shape(energy))} for values of shape "
                f"{tuple(value.shape)}; it must return one energy per configuration, shape "
                f"{batch} (broadcast over leading batch dimensions, do not sum them)"
            )
        log_prob = jnp.broadcast_to(-energy, jax.lax.broadcast_shapes(batch, self.batch_shape))
        if mask is not None:
            log_prob = jnp.where(mask, log_prob, -jnp.inf)
        return log_prob

    def enumerate_support(self, expand: bool = True):
        """The two values ``{0, 1}`` of one coordinate (binary support only).

        Shape ``(2, 1, ..., 1)`` (``expand=False``) or ``(2, *batch_shape, *event_shape)``,
        as for a ``Bernoulli`` whose batch holds the coordinates.
        """
        if not self.has_enumerate_support:
            raise NotImplementedError(
                f"enumerate_support needs binary support; this energy has support {self.support}"
            )
        shape = self.batch_shape + self.event_shape
        values = jnp.arange(2).reshape((2,) + (1,) * len(shape))
        if expand:
            values = jnp.broadcast_to(values, (2,) + shape)
        return values

    def sample(self, key, sample_shape=()):
        raise UnnormalizedSampleError(
            "UnnormalizedEnergy has no normalising constant and cannot be sampled directly. "
            "Use it as a latent site in a NumPyro model and run MCMC "
            "(numpyro.infer.MCMC(NUTS(model)) for real support, a Gibbs kernel for binary support), "
            "or use a kernel from numpyro_ebm.kernels. "
            "(For a binary latent site, NumPyro draws the initial value with .sample(): supply it "
            "with numpyro.handlers.substitute(model, data={site_name: x0}).)"
        )


def _unnormalized_base(fn) -> UnnormalizedEnergy | None:
    """The UnnormalizedEnergy inside ``fn`` (through Independent / Expanded / Masked)."""
    while fn is not None:
        if isinstance(fn, UnnormalizedEnergy):
            return fn
        fn = getattr(fn, "base_dist", None)
    return None


# --------------------------------------------------------------------------------------
# check_model
# --------------------------------------------------------------------------------------


class _suppress_auto_check:
    def __enter__(self):
        _SUPPRESS_AUTO_CHECK[0] += 1

    def __exit__(self, *exc):
        _SUPPRESS_AUTO_CHECK[0] -= 1


def _init_value(site):
    """Initial values for the abstract trace: zeros for discrete energy sites (they have
    no ``sample``), NumPyro's ``init_to_sample`` otherwise."""
    if site["type"] == "sample" and not site["is_observed"] and site["value"] is None:
        fn = site["fn"]
        if _unnormalized_base(fn) is not None and fn.support.is_discrete:
            return jnp.zeros(fn.shape(site["kwargs"].get("sample_shape", ())), jnp.int32)
    return init_to_sample(site)


def _array_leaves(tree):
    return [
        jnp.asarray(leaf)
        for leaf in jax.tree.leaves(tree)
        if _is_array_leaf(leaf) or isinstance(leaf, int | float | complex)
    ]


def _union(provenances) -> frozenset:
    return frozenset().union(
        *jax.tree.leaves(provenances, is_leaf=lambda p: isinstance(p, frozenset))
    )


def check_model(model: Callable, *args, **kwargs) -> dict[str, tuple[str, ...]]:
    """Find energies whose parameters are inferred (the doubly-intractable mistake).

    Traces ``model(*args, **kwargs)`` abstractly (no array computation) and uses
    NumPyro's provenance tracking (:func:`numpyro.ops.provenance.eval_provenance`, the
    machinery of :func:`numpyro.infer.inspect.get_dependencies`) to find, for every
    :class:`UnnormalizedEnergy` site and every :func:`factor`, the latent sample sites
    and ``numpyro.param`` sites its parameters depend on. "Parameters" means
    everything the energy depends on except its own configuration: the ``params``
    pytree, and whatever ``energy_fn`` closes over (the dependencies of the log
    factor minus those of ``x``). Any such site means :math:`\\log Z(\\theta)` is
    silently dropped from a quantity that varies with the inferred sites.

    Parameters
    ----------
    model
        A NumPyro model.
    *args, **kwargs
        Its arguments.

    Returns
    -------
    dict
        ``{energy_site_name: (source_site, ...)}`` for every offending energy site
        (empty when the model is fine). When non-empty, a
        :class:`DoublyIntractableWarning` naming them is also emitted.

    Notes
    -----
    An energy over several latent sites meant as one joint density (e.g. an RBM's
    :math:`E(v, h)`) is fine: pass all of them as ``x`` (``factor(name, E, params,
    (v, h))``). Dependence is structural: a parameter computed from a latent site
    counts even if the value would not change :math:`\\log Z`.
    """
    with _suppress_auto_check():
        latent, learnable, energies = [], [], {}  # energies: site name -> kind

        def abstract_run():
            with (
                handlers.trace() as tr,
                handlers.substitute(substitute_fn=_init_value),
                handlers.seed(rng_seed=0),  # inside substitute: keys reach _init_value
                _EnergyRecorder() as recorder,
            ):
                model(*args, **kwargs)
            values = {}
            for name, site in tr.items():
                if site["type"] == "sample":
                    if name in recorder.factors:
                        energies[name] = "energy factor"
                    elif _unnormalized_base(site["fn"]) is not None:
                        energies[name] = "UnnormalizedEnergy site"
                    if not site["is_observed"]:
                        latent.append(name)
                        values[name] = site["value"]
                elif site["type"] == "param":
                    learnable.append(name)
                    values[name] = site["value"]
            return values

        values = jax.eval_shape(abstract_run)
        if not energies:
            return {}

        def energy_inputs(**values):
            with (
                handlers.trace() as tr,
                handlers.substitute(data=values),
                handlers.seed(rng_seed=0),
                _EnergyRecorder() as recorder,
            ):
                model(*args, **kwargs)
            out = {}
            for name in energies:
                site = tr[name]
                if name in recorder.factors:
                    params, x = recorder.factors[name]
                    log_factor = site["fn"].log_factor
                else:
                    params, x = _unnormalized_base(site["fn"]).params, site["value"]
                    log_factor = site["fn"].log_prob(site["value"])
                out[name] = {
                    "params": _array_leaves(params),
                    "log_factor": jnp.asarray(log_factor),
                    "x": _array_leaves(x),
                }
            return out

        provenance = eval_provenance(energy_inputs, **values)

    report = {}
    for name in energies:
        p = provenance[name]
        sources = _union(p["params"]) | (_union(p["log_factor"]) - _union(p["x"]))
        sources = sources - {name}
        if sources:
            report[name] = tuple(s for s in latent + learnable if s in sources)
    if report:
        lines = [
            _guard_head(
                f"The {energies[name]} {name!r}",
                [s for s in sources if s in latent],
                [s for s in sources if s in learnable],
            )
            for name, sources in report.items()
        ]
        _warn(
            "check_model found doubly-intractable energies:\n  - "
            + "\n  - ".join(lines)
            + "\n"
            + _GUARD_EXPLANATION
        )
    return report
