r"""Learning an energy-based model written as a NumPyro program: SVI's shape, CD's gradient.

:class:`ContrastiveDivergence` learns the ``numpyro.param`` sites :math:`\theta` of a model
whose log joint :math:`\log \tilde p_\theta(x, z)` contains unnormalized terms
(:class:`~numpyro_ebm.potentials.UnnormalizedEnergy` sites, :func:`~numpyro_ebm.potentials.factor`)
by maximum likelihood, with the gradient

.. math::

    \nabla_\theta \log p_\theta(x)
    = \mathbb{E}_{z \mid x}\bigl[\nabla_\theta \log \tilde p_\theta(x, z)\bigr]
    - \mathbb{E}_{x, z \sim p_\theta}\bigl[\nabla_\theta \log \tilde p_\theta(x, z)\bigr],

which needs no normalising constant. The model is compiled into an energy over *rows*:

- the **replicate plate** is the first plate that holds every sample site (the data plate,
  e.g. ``numpyro.plate("data", N, subsample_size=B)``); one row is one replicate's values of
  the observed sites and of the latent sites that are sampled, flattened. Without such a
  plate, one row is the whole model state;
- the **row energy** :math:`E_\theta(\text{row})` is minus the model's log joint with one
  replicate (the plate resized to 1), computed by tracing the model with
  ``numpyro.handlers`` (``substitute``, ``seed``, ``trace``). Discrete latent sites whose
  joint support per replicate has at most ``max_enumeration`` configurations are **summed
  out exactly** (a log-sum-exp over their enumerated configurations, in both phases);
- the positive rows are the observed values of the step's minibatch (the model draws its
  own minibatch with its plate's ``subsample_size``) together with the latent sites that
  are not summed out, drawn by a **clamped chain** (one per slot of the minibatch:
  ``positive_steps`` steps of ``positive(energy)`` per update, binary Gibbs for binary
  latents and MALA for continuous ones by default). Without subsampling a slot is always
  the same replicate and the chains are persistent; with subsampling a slot's chain is
  warm-started from the previous minibatch's values (a short-run approximation);
- the **negative phase** is any learning rule of :mod:`numpyro_ebm.learning` built on the
  row energy: ``negative(energy)`` returns a
  :class:`~numpyro_ebm.learning.base.LearningRule` (``learning.pcd``, ``learning.fpcd``,
  ``learning.pt_pcd``, ``learning.replay.persistent_with_replay``, ...) or a kernel
  (``SamplingAlgorithm``: this library's kernels and BlackJAX's through
  :mod:`numpyro_ebm.kernels`), which runs as ``learning.pcd`` with ``num_chains``
  persistent chains of ``k`` steps. The default is the fastest correct one: when the
  model is one :class:`~numpyro_ebm.potentials.UnnormalizedEnergy` site over
  :func:`numpyro_ebm.energies.bernoulli_rbm.free_energy` (or the Gaussian RBM's), the
  closed-form block-Gibbs PCD of :mod:`numpyro_ebm.learning.rbm` on the site's parameters,
  its gradient pulled back to :math:`\theta` (the compiled step is the same program as
  ``learning.fit`` with ``bernoulli_rbm_pcd``); binary rows: single-site binary Gibbs;
  continuous rows: MALA with ``step_size``.

The gradient is that of the mean log-likelihood per replicate (the convention of
:func:`numpyro_ebm.learning.fit`; NumPyro's SVI uses the sum over the data plate, which is
``N`` times larger: the same optimum, and the same steps for Adam). The parameters are
optimised unconstrained and returned constrained, as SVI does. Training runs on the
training engine (:mod:`numpyro_ebm.learning.engine`): ``update`` is its ``train_step``,
``run`` its host loop over compiled chunks of steps, with the same history and mixing
diagnostics as :func:`~numpyro_ebm.learning.fit.fit`.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence.
*Neural Computation* 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the
likelihood gradient. *ICML*.
Hoffman, M. D., Blei, D. M., Wang, C. & Paisley, J. (2013). Stochastic variational
inference. *JMLR* 14 (the shape of NumPyro's SVI, mirrored here).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray
from numpyro import handlers
from numpyro.distributions import constraints
from numpyro.distributions.distribution import Unit
from numpyro.distributions.transforms import biject_to
from numpyro.infer.initialization import init_to_sample
from numpyro.primitives import Messenger

from numpyro_ebm import potentials
from numpyro_ebm.energies import bernoulli_rbm, gaussian_rbm
from numpyro_ebm.kernels import binary_gibbs, mala, rbm_gibbs
from numpyro_ebm.learning import engine, rbm
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.chains import check_steps
from numpyro_ebm.learning.contrastive_divergence import persistent_contrastive_divergence
from numpyro_ebm.learning.history import epoch_record, flag_poor_mixing, progress_postfix

__all__ = [
    "ContrastiveDivergence",
    "ContrastiveDivergenceState",
    "ContrastiveDivergenceRunResult",
    "ModelRows",
    "RowSite",
    "compile_model",
    "model_rule",
    "default_sampler",
    "energy_parameters",
    "rbm_energy_site",
    "rows_of",
    "trace_model",
    "split_arguments",
    "join_arguments",
    "NoUnnormalizedSiteError",
]


class NoUnnormalizedSiteError(ValueError):
    """The model has no unnormalized term: it is an ordinary NumPyro model."""


class RowSite(NamedTuple):
    """A sample site stored in the rows: its name, per-replicate shape and plate axis."""

    name: str
    shape: tuple[int, ...]
    axis: int | None  # where the replicate plate's axis sits in the site's value; None: no plate
    is_observed: bool
    is_binary: bool


class ModelRows(NamedTuple):
    """A NumPyro model compiled to an energy over flat rows (see the module docstring).

    ``energy(theta, rows)`` takes the unconstrained parameters and rows of shape
    ``(*batch, n_columns)`` and returns ``(*batch,)`` energies; ``observed`` and
    ``latent`` are the row sites (observed first), ``summed`` the enumerated sites.
    """

    model: Callable
    constraints: dict
    plate: str | None
    plate_size: int
    subsample_size: int
    observed: tuple[RowSite, ...]
    latent: tuple[RowSite, ...]
    summed: tuple[str, ...]
    dtype: Any
    energy: Callable

    @property
    def n_observed_columns(self) -> int:
        return sum(math.prod(s.shape) for s in self.observed)

    def constrain(self, theta: dict) -> dict:
        """Unconstrained parameters -> the values of the ``numpyro.param`` sites."""
        return {name: biject_to(c)(theta[name]) for name, c in self.constraints.items()}

    def unflatten(self, rows, sites=None) -> dict:
        """Rows ``(*batch, n_columns)`` -> ``{site: (*batch, *per-replicate shape)}``."""
        sites = self.observed + self.latent if sites is None else sites
        out, start = {}, 0
        for site in sites:
            size = math.prod(site.shape)
            out[site.name] = rows[..., start : start + size].reshape(rows.shape[:-1] + site.shape)
            start += size
        return out


class _Plates(Messenger):
    """Checks every plate's ``subsample_size`` and resizes the replicate plate to ``size``."""

    def __init__(self, fn=None, resize: str | None = None, size: int | None = None):
        self.resize, self.size, self.sizes = resize, size, {}
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] != "plate":
            return
        size, subsample_size = msg["args"]
        self.sizes[msg["name"]] = size
        if subsample_size is not None and subsample_size > size:
            raise ValueError(
                f"plate {msg['name']!r} has subsample_size {subsample_size} larger than its "
                f"size {size}: a minibatch cannot hold more replicates than the data"
            )
        if msg["name"] == self.resize:
            msg["args"] = (size, self.size)
            msg["value"] = jnp.arange(self.size)


def _base_energy(fn):
    """The UnnormalizedEnergy inside a (possibly expanded or independent) distribution."""
    while fn is not None and not isinstance(fn, potentials.UnnormalizedEnergy):
        fn = getattr(fn, "base_dist", None)
    return fn


def energy_parameters(fn):
    """The ``params`` of the :class:`~numpyro_ebm.potentials.UnnormalizedEnergy` in a site's ``fn``."""
    return _base_energy(fn).params


def _is_unit(fn) -> bool:
    """Whether ``fn`` is a factor's ``Unit`` (possibly expanded by plates)."""
    while fn is not None and not isinstance(fn, Unit):
        fn = getattr(fn, "base_dist", None)
    return fn is not None


def _init_value(site):
    """Latent values at initialisation: zeros for discrete and unnormalized sites (the latter
    cannot be sampled; binary zeros are floats, as the rows hold them), a draw otherwise
    (NumPyro's ``init_to_sample``)."""
    if site["type"] == "sample" and not site["is_observed"] and site["value"] is None:
        fn = site["fn"]
        if fn.support.is_discrete or _base_energy(fn) is not None:
            binary = _base_support(fn) is constraints.boolean
            dtype = jnp.int32 if fn.support.is_discrete and not binary else jnp.result_type(float)
            return jnp.zeros(fn.shape(site["kwargs"].get("sample_shape", ())), dtype)
    return init_to_sample(site)


def trace_model(
    model, args, kwargs, rng_key, values=None, resize=None, size=None, init=False, plates=None
):
    """The model's trace with ``values`` substituted (params, sites, plate resized).

    ``init``: latent sites without values get initial ones (zeros for unnormalized sites);
    ``plates``: a ``_Plates`` handler to use (it records the plates' sizes).
    """
    with potentials.allow_learnable_energies():
        with (
            handlers.trace() as trace,
            plates if plates is not None else _Plates(resize=resize, size=size),
            handlers.substitute(data=values or {}),
            handlers.substitute(substitute_fn=_init_value if init else lambda site: None),
            handlers.seed(rng_seed=rng_key),
        ):
            model(*args, **kwargs)
    return trace


def _base_support(fn):
    support = fn.support
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support


def _site_configurations(fn, shape, max_enumeration, dtype):
    """The configurations of a discrete site's per-replicate value, or None if too many."""
    support = _base_support(fn)
    size = math.prod(shape)
    if support is constraints.boolean:
        levels = np.arange(2)
    elif isinstance(support, constraints.integer_interval):
        levels = np.arange(int(support.lower_bound), int(support.upper_bound) + 1)
    else:
        return None
    if len(levels) ** size > max_enumeration:
        return None
    grid = np.array(list(itertools.product(levels, repeat=size)), dtype=np.int32)
    grid = grid.reshape((len(grid),) + tuple(shape))
    # binary values are floats (as in the rows); categorical ones integer indices
    return grid.astype(dtype) if support is constraints.boolean else grid


def _replicate_plate(trace) -> str | None:
    """The first plate that holds every sample site (None when there is none)."""
    sites = [s for s in trace.values() if s["type"] == "sample"]
    frames = [{f.name for f in s["cond_indep_stack"]} for s in sites]
    order = []
    for site in sites:
        for frame in reversed(site["cond_indep_stack"]):  # outermost first
            if frame.name not in order:
                order.append(frame.name)
    for name in order:
        if all(name in names for names in frames):
            return name
    return None


def _plate_axis(site, plate):
    """The axis of ``plate`` in the site's value (None without a plate)."""
    if plate is None:
        return None
    frame = next(f for f in site["cond_indep_stack"] if f.name == plate)
    value = jnp.shape(site["value"])
    axis = len(value) - len(site["fn"].event_shape) + frame.dim
    if axis < 0 or value[axis] != frame.size:
        raise ValueError(
            f"site {site['name']!r} is inside plate {plate!r} but its value of shape {value} "
            f"does not have the plate's {frame.size} replicates along dimension {frame.dim}"
        )
    return axis


def _per_replicate(value, axis):
    """A site's value with the replicate axis first: ``(replicates, *shape)``."""
    value = jnp.asarray(value)
    return value[None] if axis is None else jnp.moveaxis(value, axis, 0)


def _check_support(site) -> None:
    fn, value = site["fn"], site["value"]
    inside = np.asarray(fn.support(jnp.asarray(value)))
    if not inside.all():
        raise ValueError(
            f"observed site {site['name']!r}: {int((~inside).sum())} value(s) lie outside the "
            f"site's support {fn.support} (e.g. binary data must be 0 or 1)"
        )


def compile_model(
    model: Callable,
    args: tuple,
    kwargs: dict,
    rng_key: PRNGKeyArray,
    *,
    max_enumeration: int = 4096,
) -> tuple[ModelRows, dict, Any]:
    """Trace ``model(*args, **kwargs)`` once and compile it to a :class:`ModelRows`.

    Returns ``(rows, theta, trace)``: the compiled model, the initial unconstrained
    parameters and the initial trace. Raises for a model without unnormalized sites, a
    ``subsample_size`` above its plate's size and observed values outside their support,
    each naming the site or plate.
    """
    recorder = _Plates()
    trace = trace_model(model, args, kwargs, rng_key, init=True, plates=recorder)
    params = {n: s for n, s in trace.items() if s["type"] == "param"}
    samples = {n: s for n, s in trace.items() if s["type"] == "sample"}
    if not any(
        _base_energy(s["fn"]) is not None
        or s.get("infer", {}).get(potentials.ENERGY_FACTOR_MARK)
        or _is_unit(s["fn"])
        for s in samples.values()
    ):
        raise NoUnnormalizedSiteError(
            "the model has no unnormalized site (no potentials.UnnormalizedEnergy site and no "
            "potentials.factor): its likelihood is normalized, so fit it with "
            "numpyro.infer.SVI (point estimates or variational posteriors) or "
            "numpyro.infer.MCMC(NUTS(model)); ContrastiveDivergence is for energy-based terms"
        )
    if not params:
        raise ValueError(
            "the model has no numpyro.param site: ContrastiveDivergence learns numpyro.param "
            "sites (for latent energy parameters use numpyro_ebm.infer.Exchange)"
        )
    constraint_of = {n: s["kwargs"].get("constraint", constraints.real) for n, s in params.items()}
    theta = {n: biject_to(constraint_of[n]).inv(jnp.asarray(s["value"])) for n, s in params.items()}
    dtype = jnp.result_type(*[v.dtype for v in jax.tree.leaves(theta)])
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    plate = _replicate_plate(trace)
    observed, latent, summed, configurations = [], [], [], {}
    for name, site in samples.items():
        if _is_unit(site["fn"]):
            continue
        axis = _plate_axis(site, plate)
        value = _per_replicate(site["value"], axis)
        shape = tuple(value.shape[1:])
        is_binary = _base_support(site["fn"]) is constraints.boolean
        if site["is_observed"]:
            _check_support(site)
            observed.append(RowSite(name, shape, axis, True, is_binary))
            continue
        if site["fn"].support.is_discrete:
            grid = _site_configurations(site["fn"], shape, max_enumeration, dtype)
            if grid is not None:
                summed.append(name)
                configurations[name] = grid
                continue
            if not is_binary:
                raise ValueError(
                    f"latent site {name!r} is discrete with too many configurations to sum "
                    f"out (more than max_enumeration={max_enumeration}) and not binary, so no "
                    "kernel of this library samples it"
                )
        latent.append(RowSite(name, shape, axis, False, is_binary))
    joint = _joint_configurations(configurations, max_enumeration, summed)
    subsample_size = 1
    if plate is not None:
        subsample_size = next(
            f.size for s in samples.values() for f in s["cond_indep_stack"] if f.name == plate
        )
    rows = ModelRows(
        model,
        constraint_of,
        plate,
        recorder.sizes.get(plate, 1),
        subsample_size,
        tuple(observed),
        tuple(latent),
        tuple(summed),
        dtype,
        None,
    )
    rows = rows._replace(energy=_row_energy(rows, args, kwargs, joint))
    return rows, theta, trace


def _joint_configurations(configurations: dict, max_enumeration: int, names) -> dict | None:
    """Every joint configuration of the summed sites, ``{site: (n_joint, *shape)}``."""
    if not names:
        return None
    counts = [len(configurations[n]) for n in names]
    if math.prod(counts) > max_enumeration:
        raise ValueError(
            f"the discrete latent sites {list(names)} have {math.prod(counts)} joint "
            f"configurations per replicate, more than max_enumeration={max_enumeration}"
        )
    index = np.array(list(itertools.product(*[range(c) for c in counts])))
    return {n: jnp.asarray(configurations[n][index[:, i]]) for i, n in enumerate(names)}


def _row_energy(layout: ModelRows, args, kwargs, joint) -> Callable:
    sites = layout.observed + layout.latent
    n_columns = sum(math.prod(s.shape) for s in sites)
    seed = jax.random.key(0)  # nothing is drawn: every site and the plate are substituted

    def log_joint(values):
        trace = trace_model(layout.model, args, kwargs, seed, values, layout.plate, 1)
        total = 0.0
        for site in trace.values():
            if site["type"] == "sample":
                total = total + jnp.sum(site["fn"].log_prob(site["value"]))
        return total

    def one_row(theta, row):
        values = dict(layout.constrain(theta))
        per_site = layout.unflatten(row)
        for site in sites:
            value = per_site[site.name]
            values[site.name] = value if site.axis is None else jnp.expand_dims(value, site.axis)
        if joint is None:
            return -log_joint(values)

        def configuration(config):
            with_config = dict(values)
            for name, value in config.items():
                with_config[name] = value[None] if layout.plate is not None else value
            return log_joint(with_config)

        return -jax.scipy.special.logsumexp(jax.vmap(configuration)(joint))

    def energy(theta, rows: Float[Array, "*batch columns"]) -> Float[Array, "*batch"]:
        if rows.shape[-1] != n_columns:
            raise ValueError(
                f"rows must have {n_columns} columns (the sites {[s.name for s in sites]}); "
                f"got shape {tuple(rows.shape)}"
            )
        flat = rows.reshape((-1, n_columns))
        return jax.vmap(one_row, in_axes=(None, 0))(theta, flat).reshape(rows.shape[:-1])

    return energy


def rows_of(trace, sites, dtype):
    """The sites' values in a trace as rows ``(replicates, columns)``."""
    columns = []
    for site in sites:
        value = _per_replicate(trace[site.name]["value"], site.axis)
        columns.append(value.reshape((value.shape[0], -1)).astype(dtype))
    return jnp.concatenate(columns, axis=-1)


def rbm_energy_site(layout: ModelRows, trace):
    """The RBM energy site the default negative phase recognises, or None.

    Recognised: the model's only non-factor sample site is an observed
    ``UnnormalizedEnergy`` over ``bernoulli_rbm.free_energy`` or
    ``gaussian_rbm.free_energy`` (identity of the function: these are the energies whose
    block-Gibbs kernel, :mod:`numpyro_ebm.kernels.rbm_gibbs`, samples them exactly).
    """
    sample_sites = [s for s in trace.values() if s["type"] == "sample"]
    if layout.latent or layout.summed or len(sample_sites) != 1 or len(layout.observed) != 1:
        return None
    site = sample_sites[0]
    base = _base_energy(site["fn"])
    if base is None or len(base.event_shape) != 1:
        return None
    if base.energy_fn is bernoulli_rbm.free_energy:
        return site["name"], "bernoulli"
    if base.energy_fn is gaussian_rbm.free_energy:
        return site["name"], "gaussian"
    return None


class _RuleState(NamedTuple):
    negative: Any
    positive: Any  # clamped chains over the latent columns (None without such sites)


def model_rule(
    layout: ModelRows,
    args: tuple,
    kwargs: dict,
    trace,
    *,
    negative: Callable | None,
    num_chains: int,
    k: int,
    positive: Callable | None,
    positive_steps: int,
    step_size: float,
) -> LearningRule:
    """The learning rule of a compiled model: ``init(key, theta, batch)`` and
    ``step(key, state, theta, batch)``, ``batch`` the array arguments of the model
    (:func:`split_arguments`; the model draws its minibatch itself)."""
    structure = split_arguments(args, kwargs)[1]
    rbm_site = rbm_energy_site(layout, trace) if negative is None else None
    rows_sites = layout.observed + layout.latent
    if rbm_site is not None:  # a rule on the site's own parameters, pulled back to theta
        kind = rbm_site[1]
        if kind == "bernoulli":
            site_rule = rbm.bernoulli_rbm_pcd(num_chains, k)
        else:
            site_rule = persistent_contrastive_divergence(
                gaussian_rbm.free_energy, rbm_gibbs.as_top_level_api("gaussian"), num_chains, k
            )
        negative_rule = None
    else:
        site_rule, negative_rule = (
            None,
            _negative_rule(layout, rows_sites, negative, num_chains, k, step_size),
        )

    positive_sampler = None
    if layout.latent:
        check_steps(positive_steps)
        n_observed = layout.n_observed_columns

        def clamped_energy(params, latent_rows):
            theta, observed_rows = params
            return layout.energy(theta, jnp.concatenate([observed_rows, latent_rows], axis=-1))

        if positive is not None:
            positive_sampler = positive(clamped_energy)
        else:
            positive_sampler = default_sampler(clamped_energy, layout.latent, step_size)[0]

    def minibatch(rng_key, theta, batch):
        batch_args, batch_kwargs = join_arguments(batch, structure)
        trace = trace_model(
            layout.model, batch_args, batch_kwargs, rng_key, layout.constrain(theta), init=True
        )
        return trace

    def advance_positive(rng_key, chains, theta, observed_rows):
        def one(key, state, observed_row):
            def body(state, key):
                return positive_sampler.step(key, state, (theta, observed_row))[0], None

            return jax.lax.scan(body, state, jax.random.split(key, positive_steps))[0]

        keys = jax.random.split(rng_key, observed_rows.shape[0])
        return jax.vmap(one)(keys, chains, observed_rows)

    def site_parameters_and_rows(rng_key, theta, batch):
        trace = minibatch(rng_key, theta, batch)
        return energy_parameters(trace[rbm_site[0]]["fn"]), rows_of(
            trace, layout.observed, layout.dtype
        )

    def init(rng_key, theta, data):
        if site_rule is not None:
            params, rows = site_parameters_and_rows(jax.random.fold_in(rng_key, 1), theta, data)
            return _RuleState(site_rule.init(rng_key, params, rows), None)
        trace = minibatch(jax.random.fold_in(rng_key, 1), theta, data)
        rows = rows_of(trace, rows_sites, layout.dtype)
        positive_state = None
        if layout.latent:
            observed_rows, latent_rows = rows[:, :n_observed], rows[:, n_observed:]
            positive_state = jax.vmap(positive_sampler.init, in_axes=(0, (None, 0)))(
                latent_rows, (theta, observed_rows)
            )
        return _RuleState(negative_rule.init(rng_key, theta, rows), positive_state)

    def step(rng_key, state: _RuleState, theta, batch):
        if site_rule is not None:  # one trace: the site's parameters (by VJP) and the rows
            params, pullback, rows = jax.vjp(
                lambda th: site_parameters_and_rows(jax.random.fold_in(rng_key, 1), th, batch),
                theta,
                has_aux=True,
            )
            grads, negative_state, info = site_rule.step(rng_key, state.negative, params, rows)
            return pullback(grads)[0], _RuleState(negative_state, None), info
        trace = minibatch(jax.random.fold_in(rng_key, 1), theta, batch)
        rows = rows_of(trace, layout.observed, layout.dtype)
        positive_state = state.positive
        if layout.latent:
            positive_state = advance_positive(
                jax.random.fold_in(rng_key, 2), positive_state, theta, rows
            )
            latent_rows = jax.vmap(lambda s: s.position)(positive_state)
            rows = jnp.concatenate([rows, latent_rows.astype(rows.dtype)], axis=-1)
        grads, negative_state, info = negative_rule.step(rng_key, state.negative, theta, rows)
        return grads, _RuleState(negative_state, positive_state), info

    return LearningRule(init, step, None)


def default_sampler(energy: Callable, sites, step_size: float):
    """The default kernel on row energies over ``sites``: ``(sampler, vmap_chains)``.

    Binary sites: single-site binary Gibbs (it takes the chain axis itself); continuous
    sites: MALA with ``step_size`` (``vmap``-ed). A mix has no default (ValueError).
    """
    if all(s.is_binary for s in sites):
        return binary_gibbs.as_top_level_api(energy), False
    if not any(s.is_binary for s in sites):
        return mala.as_top_level_api(energy, step_size), True
    raise ValueError(
        f"the sites {[s.name for s in sites if s.is_binary]} are binary and "
        f"{[s.name for s in sites if not s.is_binary]} continuous: no default kernel samples "
        "both; pass negative=lambda energy: <a kernel or learning rule on the rows>"
    )


def _negative_rule(layout, sites, negative, num_chains, k, step_size) -> LearningRule:
    energy = layout.energy
    if negative is None:
        sampler, vmap_chains = default_sampler(energy, sites, step_size)
        return persistent_contrastive_divergence(
            energy, sampler, num_chains, k, vmap_chains=vmap_chains
        )
    built = negative(energy)
    if isinstance(built, LearningRule):
        return built
    if not (hasattr(built, "init") and hasattr(built, "step")):
        raise TypeError(
            "negative must return a learning rule (e.g. learning.fpcd(energy, ...)) or a "
            f"kernel with init(position, params) and step(rng_key, state, params); got {built!r}"
        )
    return persistent_contrastive_divergence(energy, built, num_chains, k, vmap_chains=True)


def split_arguments(args: tuple, kwargs: dict) -> tuple[list, tuple]:
    """A model's arguments as ``(arrays, structure)``: the arrays are traced by the compiled
    steps, everything else (sizes, flags, None) is part of the fixed ``structure``."""
    leaves, treedef = jax.tree.flatten((args, kwargs), is_leaf=lambda x: x is None)
    is_array = [isinstance(leaf, jax.Array | np.ndarray) for leaf in leaves]
    arrays = [leaf for leaf, array in zip(leaves, is_array, strict=True) if array]
    static = tuple(None if array else leaf for leaf, array in zip(leaves, is_array, strict=True))
    return arrays, (treedef, tuple(is_array), static)


def join_arguments(arrays: list, structure: tuple) -> tuple[tuple, dict]:
    """The inverse of :func:`split_arguments`: ``(args, kwargs)``."""
    treedef, is_array, static = structure
    arrays = iter(arrays)
    leaves = [next(arrays) if array else leaf for array, leaf in zip(is_array, static, strict=True)]
    return jax.tree.unflatten(treedef, leaves)


class ContrastiveDivergenceState(NamedTuple):
    """The training engine's state and the key of the next :meth:`ContrastiveDivergence.update`."""

    train: engine.TrainState
    rng_key: PRNGKeyArray


class ContrastiveDivergenceRunResult(NamedTuple):
    """What :meth:`ContrastiveDivergence.run` returns (cf. NumPyro's ``SVIRunResult``).

    params
        The ``numpyro.param`` sites' values, constrained (as ``SVI.get_params``).
    state
        The final :class:`ContrastiveDivergenceState`.
    history
        Per chunk of steps: the energies, acceptance rate, the persistent chains' mixing
        diagnostics (``chain_rhat``, ``chain_ess_bulk``, ``chain_ess_tail``, ``poor_mixing``)
        and wall time, as :func:`numpyro_ebm.learning.fit.fit` records them per epoch.
    """

    params: dict
    state: ContrastiveDivergenceState
    history: dict


class ContrastiveDivergence:
    r"""Maximum-likelihood learning of a NumPyro model's ``numpyro.param`` sites by (P)CD.

    Parameters
    ----------
    model
        A NumPyro model with at least one unnormalized term
        (:class:`~numpyro_ebm.potentials.UnnormalizedEnergy` or
        :func:`~numpyro_ebm.potentials.factor`); the data are its observed sites.
    negative
        ``negative(energy) -> LearningRule | kernel`` on the row energy (see the module
        docstring); None: the fastest correct default.
    optim
        An Optax optimizer (default ``optax.adam(1e-3)``).
    num_chains, k
        Persistent chains and kernel steps per update of the default (or kernel) negative
        phase.
    positive, positive_steps
        ``positive(energy) -> kernel`` for the clamped chains of latent sites that are not
        summed out, and its steps per update (default: binary Gibbs or MALA, 1 step).
    step_size
        MALA's step size for the default kernels of continuous sites.
    max_enumeration
        Discrete latent sites with at most this many joint configurations per replicate
        are summed out exactly.
    steps_per_chunk
        Steps per compiled chunk of :meth:`run` (one history row, one progress-bar tick);
        default: the replicate plate's ``size // subsample_size`` (an epoch), at least 20.

    Examples
    --------
    >>> cd = ContrastiveDivergence(model, optim=optax.adam(3e-3))  # doctest: +SKIP
    >>> result = cd.run(jax.random.key(0), 1000, data)  # doctest: +SKIP
    >>> result.params["W"]  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Callable,
        negative: Callable | None = None,
        optim: optax.GradientTransformation | None = None,
        *,
        num_chains: int = 100,
        k: int = 1,
        positive: Callable | None = None,
        positive_steps: int = 1,
        step_size: float = 0.01,
        max_enumeration: int = 4096,
        steps_per_chunk: int | None = None,
    ):
        if not callable(model):
            raise TypeError(f"model must be a NumPyro model (a callable); got {model!r}")
        check_steps(k)
        if not isinstance(num_chains, int) or num_chains < 1:
            raise ValueError(f"num_chains must be a positive integer; got {num_chains!r}")
        self.model = model
        self.negative = negative
        self.optim = optax.adam(1e-3) if optim is None else optim
        self.num_chains, self.k = num_chains, k
        self.positive, self.positive_steps = positive, positive_steps
        self.step_size, self.max_enumeration = step_size, max_enumeration
        self.steps_per_chunk = steps_per_chunk
        self.layout: ModelRows | None = None
        self.rule: LearningRule | None = None
        self._step = None
        self._structure = None

    def _build(self, rng_key, args, kwargs):
        layout, theta, trace = compile_model(
            self.model, args, kwargs, rng_key, max_enumeration=self.max_enumeration
        )
        rule = model_rule(
            layout,
            args,
            kwargs,
            trace,
            negative=self.negative,
            num_chains=self.num_chains,
            k=self.k,
            positive=self.positive,
            positive_steps=self.positive_steps,
            step_size=self.step_size,
        )
        self.layout, self.rule = layout, rule
        self._step = jax.jit(engine.train_step(rule, self.optim))
        return theta

    def init(self, rng_key: PRNGKeyArray, *args, **kwargs) -> ContrastiveDivergenceState:
        """Trace the model, compile it and start the chains; returns the first state."""
        init_key, chains_key, update_key = jax.random.split(rng_key, 3)
        theta = self._build(init_key, args, kwargs)
        self._structure = split_arguments(args, kwargs)[1]
        rule_state = self.rule.init(chains_key, theta, self.arrays(*args, **kwargs))
        return ContrastiveDivergenceState(
            engine.init_state(theta, self.optim, rule_state), update_key
        )

    def update(self, state: ContrastiveDivergenceState, *args, **kwargs):
        """One step: ``(state, report)`` (the report: energies, acceptance, finiteness)."""
        if self._step is None:
            raise RuntimeError("call init(rng_key, *args, **kwargs) before update")
        key, step_key = jax.random.split(state.rng_key)
        train, report = self._step(state.train, step_key, self.arrays(*args, **kwargs))
        return ContrastiveDivergenceState(train, key), report

    def arrays(self, *args, **kwargs) -> list:
        """The model's array arguments, what the compiled steps take (the other arguments,
        e.g. a ``subsample_size``, are fixed by :meth:`init`)."""
        arrays, structure = split_arguments(args, kwargs)
        if structure != self._structure:
            raise ValueError(
                "the model's non-array arguments (or the arguments' structure) differ from "
                "those given to init; call init (or run) with them"
            )
        return arrays

    def get_params(self, state: ContrastiveDivergenceState) -> dict:
        """The ``numpyro.param`` sites' values, constrained (as ``SVI.get_params``)."""
        return self.layout.constrain(state.train.params)

    def run(
        self,
        rng_key: PRNGKeyArray,
        num_steps: int,
        *args,
        progress_bar: bool = True,
        init_state: ContrastiveDivergenceState | None = None,
        **kwargs,
    ) -> ContrastiveDivergenceRunResult:
        """``num_steps`` updates in compiled chunks on the training engine's host loop."""
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive integer; got {num_steps!r}")
        state = self.init(rng_key, *args, **kwargs) if init_state is None else init_state
        chunk = self.steps_per_chunk or max(20, self._epoch_steps())
        chunk = min(chunk, num_steps)
        n_chunks, remainder = divmod(num_steps, chunk)
        step = engine.train_step(self.rule, self.optim)
        programs = {chunk: engine.scan_steps(step, chunk)}
        if remainder:
            programs[remainder] = engine.scan_steps(step, remainder)
        lengths = [chunk] * n_chunks + ([remainder] if remainder else [])
        batch = self.arrays(*args, **kwargs)
        run_key = state.rng_key

        def run_chunk(train, index):
            length = lengths[index]
            return programs[length](train, batch, jax.random.fold_in(run_key, index))

        def record(index, summary, traces, train, started):
            entry = epoch_record(
                index,
                summary,
                traces,
                train.params,
                train.learning_rate_scale,
                started=started,
                data=None,
                held_out=None,
                train_subset=None,
                energy_fn=None,
                metrics={},
            )
            entry["step"] = sum(lengths[:index])
            flag_poor_mixing(entry, lengths[index - 1])
            return entry

        train, history, _ = engine.run_epochs(
            run_chunk,
            state.train,
            epochs=len(lengths),
            record=record,
            callbacks=[engine.mixing_warning_callback()],
            progress=progress_bar,
            description="ContrastiveDivergence",
            postfix=lambda entry: progress_postfix(entry, ()),
        )
        final = ContrastiveDivergenceState(train, jax.random.fold_in(run_key, len(lengths)))
        return ContrastiveDivergenceRunResult(self.get_params(final), final, history)

    def _epoch_steps(self) -> int:
        """Steps per pass over the replicate plate (1 without subsampling)."""
        layout = self.layout
        if layout.plate is None:
            return 1
        return max(1, layout.plate_size // layout.subsample_size)
