r"""The exchange algorithm as a NumPyro ``MCMCKernel``: posteriors of doubly-intractable models.

A model whose energy parameters :math:`\theta` are latent sites has the posterior

.. math::

    p(\theta, z \mid x) \propto p(\theta)\, p(z \mid \theta)\,
        \frac{e^{-E_\theta(x)}}{Z(\theta)},

with an intractable :math:`Z(\theta)` (:func:`numpyro_ebm.potentials.check_model` flags
such models). ``MCMC(NUTS(model))`` would silently drop :math:`Z(\theta)`.
:class:`Exchange` samples the right posterior:

- :math:`\theta` (every continuous latent site) moves by random-walk Metropolis on the
  unconstrained space (NumPyro's transforms, as ``HMC`` and ``SA`` use them), its step
  size adapted during warm-up by NumPyro's dual averaging towards
  ``target_accept_prob``;
- each proposal :math:`\theta'` draws auxiliary data :math:`y \sim e^{-E_{\theta'}}/Z(\theta')`
  for every energy site whose parameters depend on :math:`\theta`, and is accepted with
  probability

  .. math::

      \min\Bigl(1,\ \frac{\tilde p(\theta', z, x)}{\tilde p(\theta, z, x)}
      \cdot \frac{e^{-E_\theta(y)}}{e^{-E_{\theta'}(y)}}\Bigr),

  where :math:`\tilde p` is the model's log joint with :math:`Z` dropped: the unknown
  :math:`Z(\theta')/Z(\theta)` cancels (Murray, Ghahramani & MacKay 2006);
- binary latent sites (e.g. the clean image under an Ising prior) are updated at fixed
  :math:`\theta` by sweeps of the library's single-site Gibbs kernel
  (:mod:`numpyro_ebm.kernels.binary_gibbs`) on the model's log joint: Metropolis-within-Gibbs.

The auxiliary draw is named by ``auxiliary`` (see :mod:`numpyro_ebm.infer.auxiliary`):
``"enumerate"`` and ``"cftp"`` are exact, so the chain targets the exact posterior;
``"double_mh"`` is Liang's (2010) approximation.

References
----------
Murray, I., Ghahramani, Z. & MacKay, D. J. C. (2006). MCMC for doubly-intractable
distributions. *UAI*.
Møller, J., Pettitt, A. N., Reeves, R. & Berthelsen, K. K. (2006). An efficient Markov
chain Monte Carlo method for distributions with intractable normalising constants.
*Biometrika* 93(2).
Propp, J. G. & Wilson, D. B. (1996). Exact sampling with coupled Markov chains and
applications to statistical mechanics. *Random Structures & Algorithms* 9(1-2).
Liang, F. (2010). A double Metropolis-Hastings sampler for spatial models with
intractable normalizing constants. *J. Statistical Computation and Simulation* 80(9).
Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn sampler. *JMLR* 15 (dual averaging).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, Int, PRNGKeyArray
from numpyro import handlers
from numpyro.distributions import constraints
from numpyro.distributions.distribution import Unit
from numpyro.distributions.transforms import biject_to
from numpyro.infer.hmc_util import dual_averaging
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import constrain_fn, potential_energy
from numpyro.util import is_prng_key

from numpyro_ebm import potentials
from numpyro_ebm.infer import auxiliary as _auxiliary
from numpyro_ebm.kernels import binary_gibbs

__all__ = ["Exchange", "ExchangeState"]


class ExchangeState(NamedTuple):
    """State of the exchange sampler (NumPyro's ``MCMC`` collects its fields).

    i
        Iteration number (warm-up included).
    z
        Unconstrained values of the continuous latent sites (:math:`\\theta`) and the
        values (0/1 floats) of the binary latent sites.
    potential_energy
        Minus the log joint with every :math:`Z` dropped (and the Jacobians of the
        transforms), at ``z``. ArviZ reports it as ``lp``.
    accept_prob
        Acceptance probability of the last :math:`\\theta` proposal.
    mean_accept_prob
        Running mean of ``accept_prob`` over the warm-up, then over the sampling phase.
    step_size
        Scale of the random-walk proposal on the unconstrained space.
    coalescence_time
        ``auxiliary="cftp"``: sweeps from the past after which the CFTP chains of the last
        proposal met (the largest over its sites; ``-1`` if they did not within
        ``max_cftp_doublings``); 0 for the other auxiliary draws.
    monotone
        ``auxiliary="cftp"``: whether the model at the last proposal was monotone (a
        proposal that is not is rejected); always True otherwise.
    adapt_state
        NumPyro's dual-averaging state of the log step size.
    rng_key
        Key of the next iteration.
    """

    i: Int[Array, ""]
    z: dict
    potential_energy: Float[Array, ""]
    accept_prob: Float[Array, ""]
    mean_accept_prob: Float[Array, ""]
    step_size: Float[Array, ""]
    coalescence_time: Int[Array, ""]
    monotone: Array
    adapt_state: tuple
    rng_key: PRNGKeyArray


class _Structure(NamedTuple):
    """What :class:`Exchange` learned from tracing the model once (static)."""

    theta: tuple[str, ...]  # continuous latent sites, moved by random-walk Metropolis
    binary: dict  # binary latent site -> shape, updated by Gibbs
    doubly_intractable: dict  # energy site -> its latent sources


def _base_constraint(constraint):
    while isinstance(constraint, constraints.independent):
        constraint = constraint.base_constraint
    return constraint


def _quietly(fn: Callable) -> Callable:
    """``fn`` with the automatic doubly-intractable guard off: this kernel accounts for
    :math:`Z(\\theta)` itself."""

    def run(*args, **kwargs):
        with potentials.allow_learnable_energies():
            return fn(*args, **kwargs)

    return run


class Exchange(MCMCKernel):
    r"""The exchange algorithm for models whose energies depend on latent sites.

    Use it as any NumPyro kernel: ``MCMC(Exchange(model), num_warmup=..., num_samples=...,
    num_chains=...)``, then ``print_summary``, ``get_samples``, ``az.from_numpyro``.

    Parameters
    ----------
    model
        A NumPyro model with at least one :class:`~numpyro_ebm.potentials.UnnormalizedEnergy`
        site (observed or latent, binary support) whose parameters depend on latent
        continuous sites :math:`\theta`. Its binary latent sites are sampled by Gibbs sweeps.
    auxiliary
        How to draw the auxiliary data at a proposal :math:`\theta'`: ``"enumerate"``
        (exact; events of at most ``max_enumeration_bits`` units), ``"cftp"`` (exact,
        monotone coupling from the past; models with non-negative couplings) or
        ``"double_mh"`` (approximate: ``inner_steps`` Gibbs sweeps started at the site's
        current value, Liang 2010).
    inner_steps
        Sweeps of the ``"double_mh"`` draw (ignored by the exact draws).
    step_size
        Initial scale of the random-walk proposal (on the unconstrained space).
    adapt_step_size
        Adapt the scale during warm-up by dual averaging (Hoffman & Gelman 2014, NumPyro's
        ``dual_averaging``) towards ``target_accept_prob``; the averaged scale is kept
        for the sampling phase.
    target_accept_prob
        Target acceptance rate of the :math:`\theta` proposals (0.3: between the
        one-dimensional 0.44 and the high-dimensional 0.234 of Roberts et al. 1997).
    gibbs_sweeps
        Gibbs sweeps of the binary latent sites per iteration.
    init_strategy
        NumPyro's per-site initialisation of the continuous sites (default
        ``init_to_uniform``). Binary latent sites start from independent fair coin
        flips unless ``init_params`` gives them (``MCMC.run(..., init_params={"x": x0})``).
    max_enumeration_bits
        Largest event size ``"enumerate"`` accepts (``2**bits`` configurations).
    max_cftp_doublings
        CFTP restarts from at most ``2**max_cftp_doublings`` sweeps in the past.

    Notes
    -----
    With ``"cftp"`` the monotonicity of the model is checked at the initial value (a
    :class:`ValueError` naming the site when it fails) and at every proposal; a proposal
    at which the model is not monotone is rejected, so the chain samples the posterior
    restricted to the monotone region, which is the posterior itself when the prior puts
    all its mass on non-negative couplings (``Uniform(0, ·)``, ``HalfNormal``, ...).

    Raises
    ------
    ValueError
        At ``init``: a model with no energy whose parameters depend on latent sites
        (use ``numpyro.infer.NUTS`` / ``SVI``); energies depending on ``numpyro.param``
        sites (use ``numpyro_ebm.infer.ContrastiveDivergence``); observed data outside
        its site's support; ``"cftp"`` for a non-monotone model. All name the site.
    NotImplementedError
        Doubly-intractable ``potentials.factor`` sites or energy sites without binary
        support, and discrete latent sites that are not binary.
    """

    sample_field = "z"

    def __init__(
        self,
        model: Callable,
        *,
        auxiliary: str = "enumerate",
        inner_steps: int = 10,
        step_size: float = 0.5,
        adapt_step_size: bool = True,
        target_accept_prob: float = 0.3,
        gibbs_sweeps: int = 1,
        init_strategy: Callable = init_to_uniform,
        max_enumeration_bits: int = 16,
        max_cftp_doublings: int = 12,
    ):
        if not callable(model):
            raise TypeError(f"model must be a NumPyro model (a callable); got {model!r}")
        if auxiliary not in _auxiliary.AUXILIARY_METHODS:
            raise ValueError(
                f"auxiliary must be one of {_auxiliary.AUXILIARY_METHODS} (exact enumeration, exact "
                f"coupling from the past, approximate double Metropolis-Hastings); got {auxiliary!r}"
            )
        for name, value in (
            ("inner_steps", inner_steps),
            ("gibbs_sweeps", gibbs_sweeps),
            ("max_enumeration_bits", max_enumeration_bits),
            ("max_cftp_doublings", max_cftp_doublings),
        ):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not (step_size > 0 and math.isfinite(step_size)):
            raise ValueError(f"step_size must be positive and finite; got {step_size!r}")
        if not 0 < target_accept_prob < 1:
            raise ValueError(f"target_accept_prob must be in (0, 1); got {target_accept_prob!r}")
        self._model = model
        self.auxiliary = auxiliary
        self._inner_steps = int(inner_steps)
        self._step_size = float(step_size)
        self._adapt_step_size = bool(adapt_step_size)
        self._target_accept_prob = float(target_accept_prob)
        self._gibbs_sweeps = int(gibbs_sweeps)
        self._init_strategy = init_strategy
        self._max_enumeration_bits = int(max_enumeration_bits)
        self._max_cftp_doublings = int(max_cftp_doublings)
        self._structure: _Structure | None = None
        self._num_warmup = 0
        self._vectorized = False

    # ----------------------------------------------------------------------------------
    # The MCMCKernel contract
    # ----------------------------------------------------------------------------------

    @property
    def model(self) -> Callable:
        """The model, for tools that trace it (ArviZ's ``from_numpyro`` reads the observed
        data and the dimensions this way). After ``init``, its binary latent sites get a
        placeholder value (zeros) when nothing else gives them one, because an energy site
        has no ``.sample()``; a value substituted by the caller (posterior samples) wins."""
        if self._structure is None:
            return self._model
        shapes = self._structure.binary

        def placeholder(site):
            name = site["name"]
            if site["type"] == "sample" and name in shapes and site["value"] is None:
                return jnp.zeros(shapes[name], jnp.result_type(float))
            return None

        return handlers.substitute(self._model, substitute_fn=placeholder)

    @property
    def default_fields(self) -> tuple[str, ...]:
        return ("z", "potential_energy", "accept_prob", "coalescence_time")

    def get_diagnostics_str(self, state: ExchangeState) -> str:
        step_size = float(jnp.mean(state.step_size))
        text = f"step size {step_size:.2e}. acc. prob={float(jnp.mean(state.mean_accept_prob)):.2f}"
        if self.auxiliary == "cftp":
            text += f". cftp T={int(jnp.max(state.coalescence_time))}"
        return text

    def postprocess_fn(self, model_args, model_kwargs) -> Callable:
        structure = self._structure

        @_quietly
        def constrain(z):
            binary = {name: z[name] for name in structure.binary}
            theta = {name: z[name] for name in structure.theta}
            model = handlers.substitute(self._model, data=binary)
            values = constrain_fn(model, model_args, model_kwargs, theta, return_deterministic=True)
            return {**values, **binary}

        return constrain

    def init(
        self,
        rng_key: PRNGKeyArray,
        num_warmup: int,
        init_params: dict | None = None,
        model_args: tuple = (),
        model_kwargs: dict | None = None,
    ) -> ExchangeState:
        model_kwargs = {} if model_kwargs is None else model_kwargs
        self._num_warmup = int(num_warmup)
        self._structure = self._analyse(model_args, model_kwargs, init_params)
        init_one = _quietly(
            lambda key, params: self._init_state(key, params, model_args, model_kwargs)
        )
        self._vectorized = not is_prng_key(rng_key)
        if not self._vectorized:
            state = init_one(rng_key, init_params)
            if self.auxiliary == "cftp":
                self._check_monotone_at(state, model_args, model_kwargs)
            return state
        params_axes = None
        if init_params is not None:  # one initial value per chain (as MCMC passes them) or shared
            n = rng_key.shape[0]
            params_axes = {
                k: 0 if jnp.ndim(v) > 0 and jnp.shape(v)[0] == n and self._batched(k, v) else None
                for k, v in init_params.items()
            }
        state = jax.vmap(init_one, in_axes=(0, params_axes))(rng_key, init_params)
        if self.auxiliary == "cftp":
            self._check_monotone_at(jax.tree.map(lambda a: a[0], state), model_args, model_kwargs)
        return state

    def sample(self, state: ExchangeState, model_args, model_kwargs) -> ExchangeState:
        step = _quietly(lambda s: self._step(s, model_args, model_kwargs))
        if self._vectorized:
            return jax.vmap(step)(state)
        return step(state)

    # ----------------------------------------------------------------------------------
    # Model analysis (concrete, once per init)
    # ----------------------------------------------------------------------------------

    def _batched(self, name, value) -> bool:
        shape = self._structure.binary.get(name)
        return shape is None or jnp.ndim(value) == len(shape) + 1

    def _prototype(self, model_args, model_kwargs, init_params):
        """A concrete trace of the model with every latent site given a value."""
        given = dict(init_params or {})

        def value_of(site):
            name = site["name"]
            if name in given:
                value = given[name]
                return value[0] if jnp.ndim(value) > len(site["fn"].shape()) else value
            fn = site["fn"]
            if site["type"] == "sample" and not site["is_observed"] and fn.support.is_discrete:
                return jnp.zeros(fn.shape(), jnp.result_type(float))  # no .sample() for energies
            return self._init_strategy(site)

        with (
            potentials.allow_learnable_energies(),
            handlers.trace() as trace,
            handlers.substitute(substitute_fn=value_of),
            handlers.seed(rng_seed=0),
        ):
            self._model(*model_args, **model_kwargs)
        return trace

    def _analyse(self, model_args, model_kwargs, init_params) -> _Structure:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", potentials.DoublyIntractableWarning)
            report = potentials.check_model(self._model, *model_args, **model_kwargs)
        trace = self._prototype(model_args, model_kwargs, init_params)
        params = [name for name, site in trace.items() if site["type"] == "param"]
        if not report:
            raise ValueError(
                "Exchange found no energy site whose parameters depend on a latent site: the "
                "model has no UnnormalizedEnergy or potentials.factor site, or their "
                "parameters are fixed, so its log density is known up to a constant that does "
                "not depend on the latent sites. Sample it with numpyro.infer.NUTS (continuous "
                "sites), DiscreteHMCGibbs (binary sites) or fit it with numpyro.infer.SVI; "
                "Exchange is for doubly-intractable models (see potentials.check_model)."
            )
        for name, sources in report.items():
            learned = [s for s in sources if s in params]
            if learned:
                raise ValueError(
                    f"the energy site {name!r} has parameters that are numpyro.param site(s) "
                    f"{learned}: Exchange samples a posterior over latent sites, it does not "
                    "learn parameters. Learn them with numpyro_ebm.infer.ContrastiveDivergence, "
                    f"or make them latent (numpyro.sample('{learned[0]}', prior)) for a posterior."
                )
        theta, binary = [], {}
        for name, site in trace.items():
            if site["type"] != "sample":
                continue
            fn = site["fn"]
            if site["is_observed"]:
                self._check_support(name, fn, site["value"])
                continue
            if not fn.support.is_discrete:
                theta.append(name)
            elif _base_constraint(fn.support) is constraints.boolean:
                binary[name] = tuple(jnp.shape(site["value"]))
            else:
                raise NotImplementedError(
                    f"latent site {name!r} has discrete support {fn.support}; Exchange updates "
                    "discrete latent sites by binary Gibbs sweeps and supports only binary "
                    "(0/1) sites"
                )
        for name in report:
            site = trace[name]
            if site["infer"].get(potentials.ENERGY_FACTOR_MARK) == "factor":
                raise NotImplementedError(
                    f"the energy factor {name!r} depends on latent sites {list(report[name])}; "
                    "Exchange needs to draw auxiliary data from it, which a potentials.factor "
                    "cannot give. Write it as a site: numpyro.sample("
                    f"{name!r}, UnnormalizedEnergy(energy_fn, params, event_shape, "
                    "support='binary'), obs=x)."
                )
            if _base_constraint(site["fn"].support) is not constraints.boolean:
                raise NotImplementedError(
                    f"the energy site {name!r} has support {site['fn'].support}; Exchange's "
                    "auxiliary draws (enumerate, cftp, double_mh) are for binary (0/1) sites"
                )
        if not theta:
            raise ValueError(
                f"the energy sites {list(report)} depend only on binary latent sites; "
                "Exchange moves continuous latent sites (theta) and has nothing to exchange"
            )
        return _Structure(tuple(theta), binary, dict(report))

    @staticmethod
    def _check_support(name, fn, value):
        concrete = isinstance(value, np.ndarray | jax.Array | int | float) and not isinstance(
            value, jax.core.Tracer
        )
        if isinstance(fn, Unit) or not concrete:  # factors have no data; tracers no values
            return
        inside = np.asarray(fn.support(jnp.asarray(value)))
        if not inside.all():
            index = tuple(int(i) for i in np.argwhere(~inside)[0])
            bad = np.asarray(value)[index] if np.ndim(value) else value
            raise ValueError(
                f"observed site {name!r}: the data are outside the site's support "
                f"{fn.support} ({int((~inside).sum())} value(s), e.g. {bad!r} at index "
                f"{index}); a binary energy site takes 0/1 values (convert spins with "
                "(s + 1) / 2)"
            )

    # ----------------------------------------------------------------------------------
    # The chain
    # ----------------------------------------------------------------------------------

    def _init_state(self, rng_key, init_params, model_args, model_kwargs) -> ExchangeState:
        structure = self._structure
        key_binary, key_theta, key_state = jax.random.split(rng_key, 3)
        given = dict(init_params or {})
        dtype = jnp.result_type(float)
        binary = {}
        for index, (name, shape) in enumerate(structure.binary.items()):
            if name in given:
                value = jnp.asarray(given[name])
                if not jnp.issubdtype(value.dtype, jnp.floating):
                    value = value.astype(dtype)
                binary[name] = value
            else:
                key = jax.random.fold_in(key_binary, index)
                binary[name] = jax.random.bernoulli(key, 0.5, shape).astype(dtype)

        def value_of(site):
            name = site["name"]
            if name in binary:
                return binary[name]
            if name in given:
                return given[name]
            return self._init_strategy(site)

        with (
            handlers.trace() as trace,
            handlers.substitute(substitute_fn=value_of),
            handlers.seed(rng_seed=key_theta),
        ):
            self._model(*model_args, **model_kwargs)
        theta = {}
        for name in structure.theta:
            site = trace[name]
            theta[name] = biject_to(site["fn"].support).inv(site["value"])
        z = {**theta, **binary}
        float_dtype = ravel_pytree(theta)[0].dtype
        log_step = jnp.log(jnp.asarray(self._step_size, float_dtype))
        da_init, _ = dual_averaging()
        adapt_state = jax.tree.map(
            lambda a: (
                jnp.asarray(a, float_dtype)
                if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating)
                else a
            ),
            da_init(jnp.log(10.0 * jnp.asarray(self._step_size, float_dtype))),
        )
        zero = jnp.zeros((), float_dtype)
        return ExchangeState(
            i=jnp.zeros((), jnp.int32),
            z=z,
            potential_energy=self._potential(z, model_args, model_kwargs),
            accept_prob=zero,
            mean_accept_prob=zero,
            step_size=jnp.exp(log_step),
            coalescence_time=jnp.zeros((), jnp.int32),
            monotone=jnp.asarray(True),
            adapt_state=adapt_state,
            rng_key=key_state,
        )

    def _split(self, z):
        structure = self._structure
        return (
            {name: z[name] for name in structure.theta},
            {name: z[name] for name in structure.binary},
        )

    def _potential(self, z, model_args, model_kwargs):
        theta, binary = self._split(z)
        model = handlers.substitute(self._model, data=binary)
        return potential_energy(model, model_args, model_kwargs, theta)

    def _trace(self, z, model_args, model_kwargs):
        theta, binary = self._split(z)
        model = handlers.substitute(self._model, data=binary)
        values = constrain_fn(model, model_args, model_kwargs, theta)
        with handlers.trace() as trace, handlers.substitute(data={**values, **binary}):
            self._model(*model_args, **model_kwargs)
        return trace

    def _check_monotone_at(self, state, model_args, model_kwargs):
        trace = _quietly(self._trace)(state.z, model_args, model_kwargs)
        for name in self._structure.doubly_intractable:
            fn = trace[name]["fn"]
            dtype = ravel_pytree(state.z)[0].dtype
            violation, pair = jax.jit(_auxiliary.monotone_violation, static_argnums=1)(fn, dtype)
            if float(violation) > 0:
                i, j = (np.unravel_index(int(k), tuple(fn.event_shape)) for k in pair)
                raise ValueError(
                    f"auxiliary='cftp' needs a monotone model, but the energy site {name!r} is "
                    f"not monotone at the initial value: units {tuple(map(int, i))} and "
                    f"{tuple(map(int, j))} have coupling {-float(violation):.4g} < 0 (CFTP's "
                    "bounding chains need non-negative couplings: ferromagnetic Ising models, "
                    "Boltzmann machines with J >= 0). Use auxiliary='enumerate' (small sites) "
                    "or 'double_mh', or a prior on non-negative couplings."
                )

    def _gibbs(self, rng_key, z, model_args, model_kwargs):
        """Sweeps of single-site Gibbs over each binary latent site at fixed theta."""
        for index, (name, shape) in enumerate(self._structure.binary.items()):
            z = self._gibbs_site(
                jax.random.fold_in(rng_key, index), z, name, shape, model_args, model_kwargs
            )
        return z

    def _gibbs_site(self, rng_key, z, name, shape, model_args, model_kwargs):
        def energy(_, x):
            return self._potential({**z, name: x.reshape(shape)}, model_args, model_kwargs)

        kernel = binary_gibbs.build_kernel(energy)

        def sweep(state, key):
            return kernel(key, state, None)[0], None

        keys = jax.random.split(rng_key, self._gibbs_sweeps)
        state, _ = jax.lax.scan(sweep, binary_gibbs.BinaryGibbsState(z[name].reshape(-1)), keys)
        return {**z, name: state.position.reshape(shape)}

    def _auxiliary_correction(self, rng_key, trace_now, trace_proposed, dtype):
        """``sum_k log f_theta(y_k) - log f_theta'(y_k)`` with ``y_k ~ f_theta'`` for every
        doubly-intractable site, the CFTP coalescence time and the monotone flag."""
        correction = jnp.zeros((), dtype)
        coalescence = jnp.zeros((), jnp.int32)
        monotone = jnp.asarray(True)
        for index, name in enumerate(self._structure.doubly_intractable):
            key = jax.random.fold_in(rng_key, index)
            fn_now, fn_proposed = trace_now[name]["fn"], trace_proposed[name]["fn"]
            current = trace_now[name]["value"]
            value_dtype = current.dtype if jnp.issubdtype(current.dtype, jnp.floating) else dtype
            if self.auxiliary == "enumerate":
                y = _auxiliary.enumerate_draw(
                    key, fn_proposed, value_dtype, self._max_enumeration_bits
                )
            elif self.auxiliary == "cftp":
                violation, _ = _auxiliary.monotone_violation(fn_proposed, value_dtype)
                monotone = monotone & (violation <= 0)
                y, time = _auxiliary.cftp_draw(
                    key, fn_proposed, value_dtype, self._max_cftp_doublings
                )
                coalescence = jnp.where(
                    (time < 0) | (coalescence < 0), -1, jnp.maximum(coalescence, time)
                )
            else:
                start = current.astype(value_dtype)
                y = _auxiliary.double_mh_draw(key, fn_proposed, start, self._inner_steps)
            correction = correction + jnp.sum(fn_now.log_prob(y)) - jnp.sum(fn_proposed.log_prob(y))
        return correction.astype(dtype), coalescence, monotone

    def _step(self, state: ExchangeState, model_args, model_kwargs) -> ExchangeState:
        key, key_gibbs, key_proposal, key_auxiliary, key_accept = jax.random.split(state.rng_key, 5)
        z = self._gibbs(key_gibbs, state.z, model_args, model_kwargs)
        theta, binary = self._split(z)
        flat, unravel = ravel_pytree(theta)
        dtype = flat.dtype
        noise = jax.random.normal(key_proposal, flat.shape, dtype)
        proposed = {**unravel(flat + state.step_size * noise), **binary}
        energy_now = self._potential(z, model_args, model_kwargs)
        energy_proposed = self._potential(proposed, model_args, model_kwargs)
        correction, coalescence, monotone = self._auxiliary_correction(
            key_auxiliary,
            self._trace(z, model_args, model_kwargs),
            self._trace(proposed, model_args, model_kwargs),
            dtype,
        )
        log_ratio = energy_now - energy_proposed + correction
        log_ratio = jnp.where(jnp.isnan(log_ratio) | ~monotone, -jnp.inf, log_ratio)
        accept_prob = jnp.exp(jnp.minimum(log_ratio, 0.0)).astype(dtype)
        accept = jax.random.uniform(key_accept, (), dtype) < accept_prob
        z = jax.tree.map(lambda new, old: jnp.where(accept, new, old), proposed, z)
        energy = jnp.where(accept, energy_proposed, energy_now)

        step_size, adapt_state = state.step_size, state.adapt_state
        i = state.i + 1
        if self._adapt_step_size and self._num_warmup > 0:
            _, da_update = dual_averaging()
            in_warmup = state.i < self._num_warmup
            updated = da_update(self._target_accept_prob - accept_prob, adapt_state)
            updated = jax.tree.map(
                lambda a, b: jnp.asarray(a, jnp.asarray(b).dtype), updated, adapt_state
            )
            log_step, log_step_average = updated[0], updated[1]
            last_warmup = state.i == self._num_warmup - 1
            adapted = jnp.exp(jnp.where(last_warmup, log_step_average, log_step)).astype(dtype)
            step_size = jnp.where(in_warmup, adapted, step_size)
            adapt_state = jax.tree.map(
                lambda new, old: jnp.where(in_warmup, new, old), updated, adapt_state
            )
        n = jnp.where(state.i < self._num_warmup, i, i - self._num_warmup).astype(dtype)
        mean_accept_prob = state.mean_accept_prob + (accept_prob - state.mean_accept_prob) / n
        return ExchangeState(
            i=i,
            z=z,
            potential_energy=energy.astype(dtype),
            accept_prob=accept_prob,
            mean_accept_prob=mean_accept_prob,
            step_size=step_size,
            coalescence_time=coalescence,
            monotone=monotone,
            adapt_state=adapt_state,
            rng_key=key,
        )
