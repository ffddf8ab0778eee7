r"""One registry of the models the command line, the scikit-learn estimators and the benchmarks
train by name: ``"bernoulli-rbm"``, ``"gaussian-rbm"`` and ``"dbm"``.

For each model, :func:`get` gives its energy module, initialisation, energy and free
energy, default (block-Gibbs) kernel and the learning rules it trains with;
:func:`build_rule` builds a rule from its name (``"cd"``, ``"pcd"``, ``"fpcd"``,
``"pt-pcd"``, ``"pt-fpcd"``) and options, optionally centered; :func:`log_partition`
computes :math:`\log Z`, exactly by enumeration when the enumerated layer is small and by
annealed importance sampling (AIS) otherwise. These are the only places in the package
where a model or a rule is chosen by a string: the callers (``numpyro-ebm train |
evaluate | sample``, :mod:`numpyro_ebm.sklearn`, ``bench/``) pass their flags through.

The Bernoulli RBM and the DBM train with their closed-form gradients
(:mod:`numpyro_ebm.learning.rbm_rules`, :mod:`numpyro_ebm.learning.tempered`,
:mod:`numpyro_ebm.learning.dbm_rules`); the Gaussian-Bernoulli RBM with the generic rules
(:func:`numpyro_ebm.learning.pcd` and friends: automatic differentiation of its free
energy, block-Gibbs negatives).

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to
the likelihood gradient. *ICML*.
Tieleman, T. & Hinton, G. E. (2009). Using fast weights to improve persistent
contrastive divergence. *ICML*.
Desjardins, G., Courville, A., Bengio, Y., Vincent, P. & Delalleau, O. (2010).
Tempered Markov chain Monte Carlo for training of restricted Boltzmann machines.
*AISTATS*.
Melchior, J., Fischer, A. & Wiskott, L. (2016). How to center deep Boltzmann machines.
*JMLR* 17(99).
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep belief
networks. *ICML*.
Salakhutdinov, R. & Hinton, G. E. (2009). Deep Boltzmann machines. *AISTATS*.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, Float, PRNGKeyArray

from numpyro_ebm.energies import bernoulli_rbm, dbm, gaussian_rbm
from numpyro_ebm.evaluation import annealing, deep_boltzmann, exact, rbm_annealing
from numpyro_ebm.kernels import binary_gibbs, dbm_gibbs, rbm_gibbs
from numpyro_ebm.learning import dbm_rules, rbm_rules, tempered
from numpyro_ebm.learning.base import LearningRule
from numpyro_ebm.learning.contrastive_divergence import (
    FPCDState,
    PCDState,
    contrastive_divergence,
    fast_persistent_contrastive_divergence,
    persistent_contrastive_divergence,
)

__all__ = [
    "Model",
    "MODELS",
    "RULES",
    "MAX_EXACT_BITS",
    "get",
    "normalise_name",
    "build_rule",
    "exact_bits",
    "LogPartition",
    "log_partition",
]

RULES = ("cd", "pcd", "fpcd", "pt-pcd", "pt-fpcd")
"""Every rule name :func:`build_rule` knows (each model trains with some of them)."""

MAX_EXACT_BITS = 24
"""``method="auto"`` of :func:`log_partition` enumerates up to ``2**24`` states (seconds on a
CPU) and uses AIS beyond."""


class Model(NamedTuple):
    """What the registry knows about one model.

    Attributes
    ----------
    name
        The registry's name, e.g. ``"bernoulli-rbm"``.
    energy_module
        Its module of :mod:`numpyro_ebm.energies` (parameters, conditionals,
        ``validate_visible``).
    init_params
        ``init_params(rng_key, n_visible, *hidden_sizes, data=None)``.
    energy
        The joint energy ``energy(params, v, *hidden)``.
    free_energy
        ``free_energy(params, v)`` with the hidden units summed out, or None where it has
        no closed form (the DBM).
    default_kernel
        ``default_kernel()``: the block-Gibbs ``SamplingAlgorithm`` of the model.
    rules
        The rule names of :func:`build_rule` it trains with, the default first.
    closed_form
        Whether its rules use closed-form gradients (rather than automatic
        differentiation of the free energy).
    """

    name: str
    energy_module: ModuleType
    init_params: Callable
    energy: Callable
    free_energy: Callable | None
    default_kernel: Callable[[], SamplingAlgorithm]
    rules: tuple[str, ...]
    closed_form: bool


MODELS: dict[str, Model] = {
    "bernoulli-rbm": Model(
        "bernoulli-rbm",
        bernoulli_rbm,
        bernoulli_rbm.init_params,
        bernoulli_rbm.joint_energy,
        bernoulli_rbm.free_energy,
        lambda: rbm_gibbs.as_top_level_api("bernoulli"),
        ("pcd", "cd", "fpcd", "pt-pcd", "pt-fpcd"),
        True,
    ),
    "gaussian-rbm": Model(
        "gaussian-rbm",
        gaussian_rbm,
        gaussian_rbm.init_params,
        gaussian_rbm.joint_energy,
        gaussian_rbm.free_energy,
        lambda: rbm_gibbs.as_top_level_api("gaussian"),
        ("pcd", "cd", "fpcd"),
        False,
    ),
    "dbm": Model(
        "dbm",
        dbm,
        dbm.init_params,
        dbm.joint_energy,
        None,
        dbm_gibbs.as_top_level_api,
        ("pcd",),
        True,
    ),
}
"""The models by name: the names (and energy modules) of
:data:`numpyro_ebm.learning.checkpoint.MODEL_MODULES`, which checkpoints record
(``tests/test_registry.py`` keeps the two equal)."""


def normalise_name(name: str) -> str:
    """The registry's spelling of a model name (``bernoulli_rbm`` is ``bernoulli-rbm``).

    Raises
    ------
    ValueError
        Naming the unknown model and the known ones.
    """
    model = str(name).replace("_", "-").lower()
    if model not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return model


def get(name: str) -> Model:
    """The :class:`Model` called ``name`` (underscores accepted for dashes)."""
    return MODELS[normalise_name(name)]


def build_rule(
    model: str,
    method: str,
    *,
    n_chains: int = 100,
    k: int = 1,
    fast_learning_rate: float = 0.02,
    fast_decay: float = 19.0 / 20.0,
    centering: bool = False,
    offset_rate: float = 0.01,
    centered_weight_decay: float = 0.0,
    inverse_temperatures=None,
    base_visible_bias=None,
    swap: str = "deo",
    chain_start: Callable | None = None,
) -> LearningRule:
    r"""The learning rule ``method`` for ``model``, built from its name and options.

    Parameters
    ----------
    model
        A name of :data:`MODELS`.
    method
        One of ``Model.rules`` of the model: ``"cd"`` (contrastive divergence, Hinton
        2002: chains restart at the minibatch), ``"pcd"`` (persistent chains, Tieleman
        2008), ``"fpcd"`` (PCD with fast weights, Tieleman & Hinton 2009), ``"pt-pcd"``
        and ``"pt-fpcd"`` (their persistent chains parallel-tempered, Desjardins et al.
        2010; Bernoulli RBM only).
    n_chains
        Persistent chains (every rule but ``"cd"``).
    k
        Block-Gibbs sweeps per update.
    fast_learning_rate, fast_decay
        The fast weights of ``"fpcd"`` and ``"pt-fpcd"``.
    centering
        Wrap the rule in the centered gradient (Melchior et al. 2016,
        :func:`numpyro_ebm.learning.rbm_rules.centered`; Bernoulli RBM only) with the offsets'
        running-mean rate ``offset_rate`` and an L2 decay ``centered_weight_decay`` of the
        centered weights (pass the optimizer no weight decay then).
    inverse_temperatures
        The ladder of ``"pt-pcd"`` / ``"pt-fpcd"`` (required for them), e.g.
        :func:`numpyro_ebm.kernels.parallel_tempering.geometric_ladder`.
    base_visible_bias, swap
        The tempering path's base (None: uniform) and swap scheme of the tempered rules.
    chain_start
        ``chain_start(rng_key, params, n_chains) -> RBMGibbsState``: where the persistent
        chains of a Bernoulli RBM start, instead of at random rows of the training data
        (scikit-learn's estimator starts them at :math:`v \sim p(v \mid h = 0)`). The
        tempered rules start every replica at the returned visible states.

    Returns
    -------
    LearningRule
        ``init(rng_key, params, data)`` and ``step(rng_key, state, params, batch)``.

    Raises
    ------
    ValueError
        For an unknown model, a rule the model does not train with, a tempered rule
        without its ladder, centering of another model than the Bernoulli RBM, or a
        ``chain_start`` for a rule without persistent chains.
    """
    spec = get(model)
    if method not in spec.rules:
        raise ValueError(
            f"the {spec.name} trains with {', '.join(spec.rules)}; got the rule {method!r}"
        )
    tempering = method.startswith("pt-")
    if tempering and inverse_temperatures is None:
        raise ValueError(f"the rule {method!r} needs inverse_temperatures (the ladder)")
    if centering and spec.name != "bernoulli-rbm":
        raise ValueError(f"centering is implemented for the bernoulli-rbm, not the {spec.name}")
    if chain_start is not None and (spec.name != "bernoulli-rbm" or method == "cd"):
        raise ValueError(
            f"chain_start places the persistent chains of a bernoulli-rbm; the {spec.name}'s "
            f"{method!r} has none to place"
        )
    fast = dict(fast_learning_rate=fast_learning_rate, fast_decay=fast_decay)
    if spec.name == "dbm":
        return dbm_rules.dbm_pcd(n_chains, k=k)
    if spec.name == "gaussian-rbm":
        sampler = spec.default_kernel()
        if method == "cd":
            return contrastive_divergence(spec.free_energy, sampler, k)
        if method == "pcd":
            return persistent_contrastive_divergence(spec.free_energy, sampler, n_chains, k)
        return fast_persistent_contrastive_divergence(
            spec.free_energy, sampler, n_chains, k, **fast
        )
    tempering_options = dict(base_visible_bias=base_visible_bias, swap=swap)
    if method == "cd":
        rule = rbm_rules.bernoulli_rbm_cd(k)
    elif method == "pcd":
        rule = rbm_rules.bernoulli_rbm_pcd(n_chains, k)
    elif method == "fpcd":
        rule = rbm_rules.bernoulli_rbm_fpcd(n_chains, k, **fast)
    elif method == "pt-pcd":
        rule = tempered.bernoulli_rbm_pt_pcd(n_chains, inverse_temperatures, k, **tempering_options)
    else:
        rule = tempered.bernoulli_rbm_pt_fpcd(
            n_chains, inverse_temperatures, k, **fast, **tempering_options
        )
    if chain_start is not None:
        rule = _started_at(rule, chain_start, n_chains, method)
    if centering:
        rule = rbm_rules.centered(rule, offset_rate, weight_decay=centered_weight_decay)
    return rule


def _started_at(rule: LearningRule, chain_start: Callable, n_chains: int, method: str):
    """``rule`` whose persistent chains start at ``chain_start`` instead of training rows."""

    def init(rng_key, params, data=None):
        if method.startswith("pt-"):
            # the tempered rules place their replicas at rows of the data they are given
            start_key, pick_key = jax.random.split(rng_key)
            start = chain_start(start_key, params, n_chains).visible
            return rule.init(pick_key, params, start)
        chains = chain_start(rng_key, params, n_chains)
        if method == "fpcd":  # the fast weights start at zero, as in the rule's own init
            return FPCDState(chains, jax.tree.map(jnp.zeros_like, params))
        return PCDState(chains)

    # no data check: the data no longer start the chains, and the closed-form statistics
    # take any real rows (scikit-learn's estimator accepts them)
    return LearningRule(init, rule.step)


def exact_bits(model: str, params) -> int:
    """How many binary units :func:`log_partition` enumerates exactly for ``model``: the
    smaller layer of a Bernoulli RBM, the hidden layer of a Gaussian-Bernoulli RBM, the
    first hidden layer of a DBM."""
    name = normalise_name(model)
    if name == "dbm":
        return params.n_hidden1
    if name == "gaussian-rbm":
        return params.W.shape[1]
    return min(params.W.shape)


class LogPartition(NamedTuple):
    """:math:`\\log Z` of a model and how it was computed.

    Attributes
    ----------
    method
        ``"exact"`` or ``"ais"``.
    log_z
        :math:`\\log Z` as a float.
    estimate
        The AIS result (``log_z``, ``interval``, effective sample size) when ``method``
        is ``"ais"``, else None.
    """

    method: str
    log_z: float
    estimate: Any


def log_partition(
    model: str,
    params,
    rng_key: PRNGKeyArray | None = None,
    *,
    method: str = "auto",
    max_exact_bits: int = MAX_EXACT_BITS,
    n_runs: int = 100,
    schedule: Float[Array, " temperatures"] | None = None,
    base_data=None,
    base_visible_bias=None,
    progress: bool = False,
) -> LogPartition:
    r""":math:`\log Z` of ``model``: exact when small, annealed importance sampling otherwise.

    Parameters
    ----------
    model
        A name of :data:`MODELS`.
    params
        The model's parameters.
    rng_key
        PRNG key of AIS (unused when exact).
    method
        ``"exact"`` (enumerate :func:`exact_bits` units, float64), ``"ais"`` or
        ``"auto"``: exact when :func:`exact_bits` is at most ``max_exact_bits``.
    n_runs, schedule
        AIS runs and inverse temperatures (default
        :func:`numpyro_ebm.evaluation.rbm_annealing.default_schedule`).
    base_data, base_visible_bias
        The AIS base model of a Bernoulli RBM or DBM: the base rates of ``base_data``, or
        the visible biases given (Salakhutdinov & Murray 2008); a Gaussian-Bernoulli
        RBM's AIS runs over its hidden layer from the uniform distribution, by
        single-site Gibbs on :func:`numpyro_ebm.energies.gaussian_rbm.hidden_free_energy`.
    progress
        Show AIS's progress bar.

    Raises
    ------
    ValueError
        For an unknown model or method, a missing ``rng_key`` of AIS, or an exact
        enumeration beyond :data:`numpyro_ebm.evaluation.exact.MAX_ENUMERATION_BITS`.
    """
    name = normalise_name(model)
    if method not in ("auto", "exact", "ais"):
        raise ValueError(f"unknown log_partition method {method!r}; choose auto, exact or ais")
    bits = exact_bits(name, params)
    if method == "auto":
        method = "exact" if bits <= max_exact_bits else "ais"
    if method == "exact":
        if bits > exact.MAX_ENUMERATION_BITS:
            raise ValueError(
                f"exact log Z of this {name} would enumerate 2^{bits} states (the limit is "
                f"2^{exact.MAX_ENUMERATION_BITS}); use method='ais'"
            )
        log_z = {
            "bernoulli-rbm": exact.log_partition_bernoulli_rbm,
            "gaussian-rbm": exact.log_partition_gaussian_rbm,
            "dbm": deep_boltzmann.exact_log_partition_dbm,
        }[name](params)
        return LogPartition("exact", float(log_z), None)
    if rng_key is None:
        raise ValueError("log_partition by AIS needs rng_key")
    if name == "bernoulli-rbm":
        estimate = rbm_annealing.ais_bernoulli_rbm(
            rng_key,
            params,
            n_runs=n_runs,
            schedule=schedule,
            base_visible_bias=base_visible_bias,
            base_data=base_data,
            progress=progress,
        )
    elif name == "dbm":
        estimate = deep_boltzmann.ais_dbm(
            rng_key,
            params,
            n_runs=n_runs,
            schedule=schedule,
            base_data=base_data,
            progress=progress,
        )
    else:
        n_hidden = params.W.shape[1]
        estimate = annealing.ais(
            rng_key,
            gaussian_rbm.hidden_free_energy,
            params,
            annealing.BernoulliBase(jnp.zeros((n_hidden,), params.W.dtype)),
            binary_gibbs.as_top_level_api,
            n_runs=n_runs,
            schedule=schedule,
            vmap_chains=False,
            progress=progress,
        )
    return LogPartition("ais", float(estimate.log_z), estimate)
