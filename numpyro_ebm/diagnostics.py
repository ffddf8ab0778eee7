r"""ArviZ everywhere: one conversion from any chain output to ``InferenceData``.

Chains of this project's kernels, of BlackJAX's kernels and of NumPyro's ``MCMC``
become an :class:`arviz.InferenceData` with ``(chain, draw)`` dimensions and
ArviZ's sample-stat names, so ``az.summary``, ``az.plot_trace``,
``az.plot_autocorr``, ``az.plot_rank`` and ``az.plot_energy`` work on it directly.

A state of an energy-based model is often high-dimensional (784 pixels), and
per-pixel R-hat tables and trace plots are unreadable. The ``posterior`` group
therefore holds only named summaries of the state, each one value per chain and
draw (or a short labelled vector), so plain ``az.summary(idata)``,
``az.plot_trace(idata)`` and ``az.plot_rank(idata)`` show exactly these:

``energy``
    :math:`E(\theta, x)` of the position (``energy_fn`` given); for an RBM pass
    the free energy (and ``energy_name="free_energy"`` if you like).
``mean_activation``
    Mean over all units of the position (the magnetisation of spins).
``coordinate``
    Chosen coordinates of the position, dimension ``chosen_unit`` labelled by
    index or by name (``az.summary`` rows ``coordinate[406]``).
``projection``
    Dot products with chosen directions (e.g. principal components of the data),
    dimension ``direction`` labelled by position or by name (``projection[pc1]``).
The full position lives in its own group, ``state`` (``keep_full_state=True``,
the default): ``idata.state["position"]`` with dimensions ``(chain, draw,
unit)`` (a multi-dimensional position has ``unit_dim_0, unit_dim_1, ...``; a
pytree position one variable ``position_<key>`` a leaf; :func:`from_numpyro`
keeps the site's own name). ArviZ accepts such extra groups (no warning) and
every function that takes a ``group`` argument reads it, e.g.
``az.summary(idata, group="state")`` for the per-unit table,
``az.extract(idata, group="state")`` for draws stacked over chains, or
``idata.state["position"].sel(chain=0)``; ``idata.to_netcdf`` saves it too.

The ``sample_stats`` group holds, under ArviZ's names (see
:data:`SAMPLE_STAT_NAMES`): ``lp`` (log density of the position, up to a
constant), ``acceptance_rate``, ``diverging``, ``energy`` (the *Hamiltonian*
energy, which ``az.plot_energy`` and the BFMI use; not the model energy),
``n_steps``, ``tree_depth``, ``step_size``, plus every other info field that has
one value per chain and draw, under its own name (``is_accepted``, ``n_flipped``...).

Layout. Stacking the output of ``lax.scan`` over steps of vmapped (or batched)
chains gives arrays shaped ``(draw, chain, ...)``; that is the default
(``chain_axis=1``). Pass ``chain_axis=0`` for ``(chain, draw, ...)`` and
``chain_axis=None`` for a single chain ``(draw, ...)``. :func:`run_chains` runs
any :class:`blackjax.base.SamplingAlgorithm` over several chains and returns
exactly this layout; with ``record=partial(summarize, ...)`` it stores only the
summaries, so memory does not grow with the dimension of the state.

Comparing samplers. :func:`compare_samplers` runs several kernels (this
project's, and NumPyro's ``DiscreteHMCGibbs`` through :class:`NumPyroSpec`) on
one target with the same number of steps and tabulates ESS per second and per
evaluation, R-hat, acceptance, divergences and, when the exact answer is known
(:func:`enumeration_moments`, :func:`quadrature_moments`), the error of the
estimated moments; :func:`plot_comparison` draws the table.

References
----------
Gelman, A. & Rubin, D. B. (1992). Inference from iterative simulation using
multiple sequences. *Statistical Science* 7(4).
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved :math:`\widehat{R}`
for assessing convergence of MCMC. *Bayesian Analysis* 16(2).
Betancourt, M. (2016). Diagnosing suboptimal cotangent disintegrations in
Hamiltonian Monte Carlo. arXiv:1604.00695.
Kumar, R., Carroll, C., Hartikainen, A. & Martin, O. (2019). ArviZ a unified
library for exploratory analysis of Bayesian models in Python. *JOSS* 4(33).
Liu, J. S. (1996). Peskun's theorem and a modified discrete-state Gibbs sampler.
*Biometrika* 83(3).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm
from jaxtyping import Array, PRNGKeyArray

from numpyro_ebm import _checks, potentials

__all__ = [
    "ChainSummaries",
    "SAMPLE_STAT_NAMES",
    "NUMPYRO_EXTRA_FIELDS",
    "summarize",
    "to_inference_data",
    "from_numpyro",
    "run_chains",
    "SamplerSpec",
    "NumPyroSpec",
    "COMPARISON_COLUMNS",
    "discrete_hmc_gibbs_spec",
    "compare_samplers",
    "enumeration_moments",
    "quadrature_moments",
    "plot_comparison",
]

SAMPLE_STAT_NAMES: dict[str, str] = {
    "is_divergent": "diverging",
    "acceptance_rate": "acceptance_rate",
    "energy": "energy",
    "num_integration_steps": "n_steps",
    "num_trajectory_expansions": "tree_depth",
}
"""Info field (BlackJAX / this project) -> ArviZ sample-stat name.

Fields not listed that hold one value per chain and draw keep their own name;
the position's cached ``logdensity`` (a state field) becomes ``lp``."""

NUMPYRO_EXTRA_FIELDS = (
    "potential_energy",
    "energy",
    "diverging",
    "accept_prob",
    "num_steps",
    "adapt_state.step_size",
)
"""``extra_fields`` for ``MCMC.run`` with NumPyro's ``HMC``/``NUTS`` so that
``az.from_numpyro`` (and :func:`from_numpyro`) fill ``lp``, ``energy`` (needed by
``az.plot_energy``), ``diverging``, ``acceptance_rate``, ``n_steps``,
``tree_depth`` and ``step_size``."""

_ENERGY_CHUNK = 4096  # configurations per vectorised energy evaluation (bounds memory)


# --------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChainSummaries:
    """Per-draw summaries of chains, ready for :func:`to_inference_data`.

    A JAX pytree (so it can be the output of a ``lax.scan`` body): the arrays are
    data, the names of their extra dimensions and the coordinate labels are static.

    Attributes
    ----------
    posterior
        ``{name: array}`` with leading batch dimensions (draws and/or chains)
        followed by the variable's own dimensions.
    sample_stats
        ``{ArviZ name: array}``, one value per chain and draw.
    state
        ``{name: array}``, the full position (empty unless ``keep_full_state``);
        becomes the ``state`` group.
    dims
        ``((group, name, extra_dims), ...)`` for every variable, in display order.
    coords
        ``((dim, labels), ...)`` for labelled dimensions (``chosen_unit``, ``direction``).
    """

    posterior: dict[str, Array]
    sample_stats: dict[str, Array]
    state: dict[str, Array] = dataclasses.field(default_factory=dict)
    dims: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    coords: tuple[tuple[str, tuple], ...] = ()


jax.tree_util.register_dataclass(
    ChainSummaries,
    data_fields=["posterior", "sample_stats", "state"],
    meta_fields=["dims", "coords"],
)


def _fields(tree) -> tuple[str, ...]:
    fields = getattr(tree, "_fields", None)
    return tuple(fields) if fields is not None else ()


def _default_position(state):
    """``state.position`` or ``state.visible`` (by name); a bare array or dict is the position."""
    fields = _fields(state)
    if not fields:
        return state
    for name in ("position", "visible"):
        if name in fields:
            return getattr(state, name)
    raise ValueError(
        f"cannot tell which field of {type(state).__name__} (fields {fields}) is the position; "
        "pass position=lambda state: state.<field>"
    )


def _named_items(info) -> list[tuple[str, Any]]:
    if info is None:
        return []
    if _fields(info):
        return list(info._asdict().items())
    if isinstance(info, Mapping):
        return list(info.items())
    raise TypeError(
        f"infos must be a NamedTuple (e.g. blackjax's HMCInfo) or a dict of arrays; got "
        f"{type(info).__name__}"
    )


def _is_array(x) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


def _float_dtype(dtypes):
    dtype = np.result_type(*dtypes)
    if jnp.issubdtype(dtype, jnp.floating):
        return dtype
    return jax.dtypes.canonicalize_dtype(jnp.float64)  # float32 unless x64 is on


def _leaf_names(position) -> list[str]:
    paths = jax.tree_util.tree_flatten_with_path(position)[0]
    if len(paths) == 1:
        return ["position"]
    names = []
    for path, _ in paths:
        parts = []
        for key in path:
            for attr in ("key", "name", "idx"):
                if hasattr(key, attr):
                    parts.append(str(getattr(key, attr)))
                    break
        names.append("position_" + "_".join(parts))
    return names


def _parse_coordinates(coordinates, event_shape, size: int):
    """Flat indices and labels of the chosen coordinates."""
    if isinstance(coordinates, Mapping):
        items = list(coordinates.items())
    else:
        items = []
        for index in coordinates:
            label = ",".join(str(int(i)) for i in index) if isinstance(index, tuple) else index
            items.append((label, index))
    if not items:
        raise ValueError("coordinates is empty; pass None for no coordinates")
    flat, labels = [], []
    for label, index in items:
        if isinstance(index, tuple):
            if event_shape is None:
                raise ValueError(
                    f"coordinate {label!r}: multi-indices need a single-array position; "
                    "give flat indices into the flattened position instead"
                )
            try:
                f = int(np.ravel_multi_index(tuple(int(i) for i in index), event_shape))
            except ValueError as error:
                raise IndexError(
                    f"coordinate {label!r}: index {index} is outside the position's shape "
                    f"{event_shape}"
                ) from error
        elif isinstance(index, int | np.integer):
            f = int(index)
            if not 0 <= f < size:
                raise IndexError(
                    f"coordinate {label!r}: flat index {f} is outside the flattened position "
                    f"of {size} units"
                )
        else:
            raise TypeError(
                f"coordinate {label!r}: an index must be an int (flat index) or a tuple "
                f"(multi-index); got {type(index).__name__}"
            )
        flat.append(f)
        labels.append(int(label) if isinstance(label, np.integer) else label)
    if len(set(labels)) != len(labels):
        raise ValueError(f"coordinate labels must be unique; got {labels}")
    if not all(isinstance(label, int) for label in labels):
        labels = [str(label) for label in labels]
    return np.asarray(flat), tuple(labels)


def _parse_projections(projections, size: int, dtype):
    """Directions as a ``(P, D)`` array of ``dtype`` and their labels."""
    if isinstance(projections, Mapping):
        labels = tuple(str(name) for name in projections)
        rows = [np.asarray(v) for v in projections.values()]
        if any(r.ndim != 1 for r in rows):
            raise ValueError("every projection direction must be a vector of shape (D,)")
        directions = np.stack(rows) if rows else np.zeros((0, size))
    else:
        directions = np.asarray(projections)
        if directions.ndim == 1:
            directions = directions[None]
        if directions.ndim != 2:
            raise ValueError(
                f"projections must have shape (P, D) (one direction a row); got shape "
                f"{directions.shape}"
            )
        labels = tuple(range(directions.shape[0]))
    if directions.shape[0] == 0:
        raise ValueError("projections is empty; pass None for no projections")
    if directions.shape[1] != size:
        raise ValueError(
            f"projection directions have {directions.shape[1]} entries but the flattened "
            f"position has {size} units"
        )
    directions = _checks.check_array(directions.astype(np.float64), "projections", ndim_min=2)
    return directions.astype(dtype), labels


def _per_configuration(fn: Callable, position, batch_shape: tuple[int, ...]):
    """``fn`` on every configuration of ``position`` (chunked vmap), shape ``batch_shape``."""
    n = math.prod(batch_shape)
    nb = len(batch_shape)
    flat = jax.tree.map(lambda leaf: leaf.reshape((n,) + leaf.shape[nb:]), position)
    out = jax.lax.map(fn, flat, batch_size=min(n, _ENERGY_CHUNK))
    return jax.tree.map(lambda o: o.reshape(batch_shape), out)


def summarize(
    states,
    infos=None,
    *,
    energy_fn: Callable | None = None,
    params=None,
    position: Callable | None = None,
    coordinates: Sequence | Mapping | None = None,
    projections=None,
    keep_full_state: bool = True,
    step_size=None,
    energy_name: str = "energy",
    batch_ndim: int = 1,
) -> ChainSummaries:
    r"""Summaries of chain states and ArviZ sample stats of their infos.

    Works on one step of several chains (inside a ``lax.scan`` body, as the
    ``record`` of :func:`run_chains`, ``batch_ndim=1``) as well as on stacked
    draws (``batch_ndim=2``); it is jit-compatible.

    Parameters
    ----------
    states
        A state NamedTuple (its position is found by name: ``position``, else
        ``visible``), or the positions themselves (array or pytree). Leading
        ``batch_ndim`` dimensions are batch (chains, draws).
    infos
        The kernels' info NamedTuple (or a dict), same batch dimensions, or None.
        Fields are read by name and renamed with :data:`SAMPLE_STAT_NAMES`; fields
        without exactly one value per batch element (momenta, proposals,
        conditional probabilities) are skipped.
    energy_fn
        ``energy_fn(params, x)`` for one configuration ``x`` (scalar output). Gives
        the posterior variable ``energy_name``, and ``lp`` (via
        :func:`numpyro_ebm.potentials.log_density_fn`) when the state has no
        cached ``logdensity``.
    params
        Parameters passed to ``energy_fn``.
    position
        ``state -> position`` when the default lookup does not apply.
    coordinates
        Coordinates to follow: flat indices into the flattened position (C order;
        leaves concatenated for pytrees), multi-indices ``(i, j)`` for a
        single-array position, or ``{name: index}``. Variable ``coordinate``.
    projections
        Directions ``(P, D)`` (one a row; or one vector ``(D,)``) or
        ``{name: vector}``; variable ``projection`` holds the dot products of the
        flattened position with them.
    keep_full_state
        Also store the full position, in the separate ``state`` group (not in
        ``posterior``): variable ``position`` with dimension ``unit`` (a pytree
        position gives one ``position_<key>`` variable a leaf).
    step_size
        Sampler step size, a scalar or an array broadcastable to the batch shape;
        stored as the sample stat ``step_size``.
    energy_name
        Name of the energy variable (e.g. ``"free_energy"``).
    batch_ndim
        Number of leading batch dimensions.

    Returns
    -------
    ChainSummaries
    """
    if batch_ndim < 1:
        raise ValueError(f"batch_ndim must be at least 1; got {batch_ndim}")
    pos = position(states) if position is not None else _default_position(states)
    leaves = jax.tree.leaves(pos)
    if not leaves:
        raise ValueError("the position is an empty pytree")
    leaves = [leaf if _is_array(leaf) else jnp.asarray(leaf) for leaf in leaves]
    batch_shape = tuple(leaves[0].shape[:batch_ndim])
    for leaf in leaves:
        if leaf.ndim < batch_ndim or tuple(leaf.shape[:batch_ndim]) != batch_shape:
            raise ValueError(
                f"every leaf of the position must start with the {batch_ndim} batch "
                f"dimension(s) {batch_shape}; got shapes {[tuple(x.shape) for x in leaves]}"
            )
    dtype = _float_dtype([leaf.dtype for leaf in leaves])
    if not all(jnp.issubdtype(leaf.dtype, jnp.floating) for leaf in leaves):
        # integer or boolean states (NumPyro's discrete sites): the energy sees floats
        pos = jax.tree.map(
            lambda leaf: leaf if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf.astype(dtype),
            pos,
        )
    flat = jnp.concatenate(
        [leaf.reshape(batch_shape + (-1,)).astype(dtype) for leaf in leaves], axis=-1
    )
    size = flat.shape[-1]
    single = len(leaves) == 1
    event_shape = tuple(leaves[0].shape[batch_ndim:]) if single else None

    posterior: dict[str, Array] = {}
    sample_stats: dict[str, Array] = {}
    state: dict[str, Array] = {}
    dims: list[tuple[str, str, tuple[str, ...]]] = []
    coords: list[tuple[str, tuple]] = []

    has_logdensity = "logdensity" in _fields(states)
    if energy_fn is not None:
        one = jax.tree.map(
            lambda leaf: jax.ShapeDtypeStruct(leaf.shape[batch_ndim:], leaf.dtype), pos
        )
        out = jax.eval_shape(energy_fn, params, one)
        if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
            raise ValueError(
                "energy_fn must return a scalar energy for one configuration; got "
                f"{getattr(out, 'shape', out)} for a position of shape "
                f"{jax.tree.map(lambda s: s.shape, one)}"
            )
        log_density = potentials.log_density_fn(energy_fn, params)

        def energy_and_lp(x):
            e = energy_fn(params, x)
            return (e, log_density(x)) if not has_logdensity else (e,)

        values = _per_configuration(energy_and_lp, pos, batch_shape)
        posterior[energy_name] = values[0]
        dims.append(("posterior", energy_name, ()))
        if not has_logdensity:
            sample_stats["lp"] = values[1]
    posterior["mean_activation"] = jnp.mean(flat, axis=-1)
    dims.append(("posterior", "mean_activation", ()))
    if coordinates is not None:
        indices, labels = _parse_coordinates(coordinates, event_shape, size)
        posterior["coordinate"] = flat[..., indices]
        dims.append(("posterior", "coordinate", ("chosen_unit",)))
        coords.append(("chosen_unit", labels))
    if projections is not None:
        directions, labels = _parse_projections(projections, size, dtype)
        posterior["projection"] = flat @ jnp.asarray(directions).T
        dims.append(("posterior", "projection", ("direction",)))
        coords.append(("direction", labels))
    if keep_full_state:
        for name, leaf in zip(_leaf_names(pos), leaves, strict=True):
            event_ndim = leaf.ndim - batch_ndim
            if single and event_ndim == 1:
                leaf_dims = ("unit",)
            else:
                base = "unit" if single else name
                leaf_dims = tuple(f"{base}_dim_{i}" for i in range(event_ndim))
            state[name] = leaf
            dims.append(("state", name, leaf_dims))

    if has_logdensity:
        sample_stats["lp"] = states.logdensity
    for field, value in _named_items(infos):
        if not _is_array(value) or tuple(value.shape) != batch_shape:
            continue
        name = SAMPLE_STAT_NAMES.get(field, field)
        if name in sample_stats:
            continue
        sample_stats[name] = value.astype(bool) if name == "diverging" else value
    if step_size is not None:
        sample_stats["step_size"] = jnp.broadcast_to(jnp.asarray(step_size), batch_shape)
    dims.extend(("sample_stats", name, ()) for name in sample_stats)
    return ChainSummaries(posterior, sample_stats, state, tuple(dims), tuple(coords))


# --------------------------------------------------------------------------------------
# InferenceData
# --------------------------------------------------------------------------------------


def _arviz():
    import arviz as az  # imported on first use: importing ArviZ takes a second or two

    return az


def _attrs() -> dict:
    az = _arviz()
    return {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "arviz_version": az.__version__,
        "inference_library": "numpyro_ebm",
    }


def _arrange(array, chain_axis) -> np.ndarray:
    """To numpy with the chain axis first: ``(chain, draw, ...)``."""
    array = np.asarray(jax.device_get(array))
    if chain_axis is None:
        return array[None]
    if chain_axis == 1:
        return np.swapaxes(array, 0, 1)
    return array


def _step_size_stat(step_size, n_chains: int, n_draws: int) -> np.ndarray:
    value = np.asarray(jax.device_get(step_size))
    if value.ndim == 0:
        return np.full((n_chains, n_draws), value)
    if value.shape == (n_chains,):
        return np.broadcast_to(value[:, None], (n_chains, n_draws)).copy()
    raise ValueError(
        f"step_size must be a scalar or have one value per chain, shape ({n_chains},); "
        f"got shape {value.shape}"
    )


def _datasets(summaries: ChainSummaries, chain_axis, step_size=None):
    import xarray as xr

    az = _arviz()
    origin = az.rcParams["data.index_origin"]
    arranged = {
        group: {name: _arrange(a, chain_axis) for name, a in getattr(summaries, group).items()}
        for group in ("posterior", "sample_stats", "state")
    }
    first = next(iter(arranged["posterior"].values()))
    n_chains, n_draws = first.shape[:2]
    if step_size is not None:
        arranged["sample_stats"]["step_size"] = _step_size_stat(step_size, n_chains, n_draws)
    labels = dict(summaries.coords)
    extra_dims = {(group, name): d for group, name, d in summaries.dims}
    datasets = {}
    for group, arrays in arranged.items():
        if not arrays:
            continue
        order = [n for g, n, _ in summaries.dims if g == group and n in arrays]
        order += [n for n in arrays if n not in order]
        data_vars, coords = (
            {},
            {
                "chain": np.arange(origin, origin + n_chains),
                "draw": np.arange(origin, origin + n_draws),
            },
        )
        for name in order:
            array = arrays[name]
            var_dims = extra_dims.get((group, name), ())
            if array.shape[:2] != (n_chains, n_draws) or array.ndim != 2 + len(var_dims):
                raise ValueError(
                    f"{group} variable {name!r} has shape {array.shape}; expected "
                    f"({n_chains}, {n_draws}) followed by {len(var_dims)} dimension(s)"
                )
            for dim, length in zip(var_dims, array.shape[2:], strict=True):
                coords.setdefault(dim, np.asarray(labels.get(dim, range(length))))
            data_vars[name] = (("chain", "draw") + tuple(var_dims), array)
        datasets[group] = xr.Dataset(data_vars, coords=coords, attrs=_attrs())
    return datasets


def to_inference_data(
    states,
    infos=None,
    *,
    energy_fn: Callable | None = None,
    params=None,
    position: Callable | None = None,
    coordinates: Sequence | Mapping | None = None,
    projections=None,
    keep_full_state: bool = True,
    step_size=None,
    energy_name: str = "energy",
    chain_axis: int | None = 1,
):
    r"""Chains of any kernel as an :class:`arviz.InferenceData`.

    Parameters
    ----------
    states
        Stacked states (a state NamedTuple such as
        :class:`~numpyro_ebm.kernels.rbm_gibbs.RBMGibbsState` or BlackJAX's
        ``HMCState``; or the positions themselves), laid out as ``chain_axis``
        says. Or a :class:`ChainSummaries` already computed (e.g. by
        :func:`run_chains` with ``record=partial(summarize, ...)``); then no
        other summary argument may be given.
    infos
        Stacked infos (``HMCInfo``, ``NUTSInfo``, ``MALAInfo``, ``RWInfo``, this
        project's infos...) or None.
    energy_fn, params, position, coordinates, projections, keep_full_state, energy_name
        What to summarise; see :func:`summarize`.
    step_size
        The sampler's step size, a scalar or one value per chain; sample stat
        ``step_size``.
    chain_axis
        ``1`` (default): arrays are ``(draw, chain, ...)``, the layout of a
        ``lax.scan`` over steps of vmapped or batched chains (and of
        :func:`run_chains`). ``0``: ``(chain, draw, ...)``. ``None``: a single
        chain, ``(draw, ...)``.

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` (the summaries only), ``sample_stats`` and, with
        ``keep_full_state``, ``state`` (the full position), dimensions
        ``(chain, draw, ...)``.

    Notes
    -----
    ``az.summary(idata)``, ``az.plot_trace(idata)`` and ``az.plot_rank(idata)``
    read the ``posterior`` group only, so they show the summaries however large
    the state is. The full position is ``idata.state["position"]``; per-unit
    diagnostics with ``az.summary(idata, group="state")`` (or ``az.ess``,
    ``az.rhat`` on ``idata.state``). The arrays are built directly with xarray,
    so there is no "more chains than draws" warning for many short chains.

    Examples
    --------
    >>> states, infos = run_chains(key, rbm_gibbs.as_top_level_api(), v0, params, 1000)  # doctest: +SKIP
    >>> idata = to_inference_data(states, infos, energy_fn=bernoulli_rbm.free_energy,
    ...                           params=params, projections=pcs)  # doctest: +SKIP
    >>> az.summary(idata)  # doctest: +SKIP
    >>> idata.state["position"].sel(chain=0)  # doctest: +SKIP
    """
    if chain_axis not in (0, 1, None):
        raise ValueError(
            f"chain_axis must be 0 ((chain, draw, ...)), 1 ((draw, chain, ...)) or None "
            f"(one chain, (draw, ...)); got {chain_axis!r}"
        )
    if isinstance(states, ChainSummaries):
        given = {
            "infos": infos,
            "energy_fn": energy_fn,
            "position": position,
            "coordinates": coordinates,
            "projections": projections,
        }
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise TypeError(
                f"states is already a ChainSummaries; {', '.join(extra)} cannot be applied "
                "again (pass them to summarize / the record of run_chains)"
            )
        summaries = states
    else:
        summaries = summarize(
            states,
            infos,
            energy_fn=energy_fn,
            params=params,
            position=position,
            coordinates=coordinates,
            projections=projections,
            keep_full_state=keep_full_state,
            energy_name=energy_name,
            batch_ndim=1 if chain_axis is None else 2,
        )
    if not summaries.posterior:
        raise ValueError("there is nothing to put in the posterior group")
    if step_size is not None and "step_size" in summaries.sample_stats:
        raise ValueError("the sample stats already hold a step_size; do not pass step_size again")
    return _arviz().InferenceData(**_datasets(summaries, chain_axis, step_size))


def from_numpyro(
    mcmc,
    *,
    site: str | None = None,
    energy_fn: Callable | None = None,
    params=None,
    coordinates: Sequence | Mapping | None = None,
    projections=None,
    keep_full_state: bool = True,
    energy_name: str = "energy",
    **kwargs,
):
    r"""``az.from_numpyro(mcmc, **kwargs)`` with the state site replaced by its summaries.

    Parameters
    ----------
    mcmc
        A NumPyro ``MCMC`` that has run. Run it with
        ``extra_fields=NUMPYRO_EXTRA_FIELDS`` to get ``lp``, ``energy`` (for
        ``az.plot_energy``), ``diverging``, ``acceptance_rate``, ``n_steps``,
        ``tree_depth`` and ``step_size`` in ``sample_stats``.
    site
        The sample site holding the state (needed when there are several). For
        ``MCMC(NUTS(potential_fn=...))`` name it with
        :func:`numpyro_ebm.potentials.potential_fn` ``(..., site=...)`` and
        ``init_params={site: x0}``; unnamed (non-dict) samples are summarised as
        a whole. Integer (discrete) values are cast to floats for the summaries.
    energy_fn, params, coordinates, projections, energy_name
        As in :func:`summarize`; ``energy_fn`` sees the value of ``site``.
    keep_full_state
        Move the state site (ArviZ's name and dimensions) to the ``state``
        group; without it the site is dropped.
    **kwargs
        Passed to :func:`arviz.from_numpyro` (``coords``, ``dims``, ...).

    Returns
    -------
    arviz.InferenceData
        ArviZ's conversion, whose ``posterior`` holds the summaries followed by
        the model's other sample sites (the state site is not there: it is in
        ``state``, e.g. ``idata.state["x"]``).
    """
    import xarray as xr

    idata = _arviz().from_numpyro(mcmc, **kwargs)
    samples = mcmc.get_samples(group_by_chain=True)
    if isinstance(samples, dict):
        if site is None:
            if len(samples) != 1:
                raise ValueError(
                    f"the run has several sample sites {sorted(samples)}; pass site=<name> "
                    "of the one holding the state"
                )
            site = next(iter(samples))
        if site not in samples:
            raise ValueError(f"no sample site {site!r}; the sites are {sorted(samples)}")
        state, state_vars = samples[site], [site]
    else:
        if site is not None:
            raise ValueError("site= needs samples named by site (a dict); these are not")
        state = samples
        state_vars = [name for name in idata.posterior.data_vars if name.startswith("Param:")]
    summaries = summarize(
        state,
        None,
        energy_fn=energy_fn,
        params=params,
        coordinates=coordinates,
        projections=projections,
        keep_full_state=False,
        energy_name=energy_name,
        batch_ndim=2,
    )
    new = _datasets(
        ChainSummaries(summaries.posterior, {}, {}, summaries.dims, summaries.coords), 0
    )
    posterior = idata.posterior
    others = {name: var for name, var in posterior.data_vars.items() if name not in state_vars}
    idata.posterior = xr.Dataset(
        {**new["posterior"].data_vars, **others}, attrs=dict(posterior.attrs)
    )
    if keep_full_state:
        state_group = xr.Dataset(
            {name: posterior[name] for name in state_vars}, attrs=dict(posterior.attrs)
        )
        idata.add_groups({"state": state_group})
    return idata


# --------------------------------------------------------------------------------------
# Running chains
# --------------------------------------------------------------------------------------


def _check_initial_positions(initial_positions) -> int:
    """Validate every leaf (floating, finite, common leading chain axis); return the chain count."""
    leaves = jax.tree_util.tree_flatten_with_path(initial_positions)[0]
    if not leaves:
        raise ValueError("initial_positions is an empty pytree")
    for path, leaf in leaves:
        _checks.check_array(leaf, f"initial_positions{jax.tree_util.keystr(path)}")
    n_chains = jnp.shape(leaves[0][1])[0]
    if any(jnp.shape(leaf)[0] != n_chains for _, leaf in leaves):
        raise ValueError(
            "every leaf of initial_positions needs the same leading chain dimension; got "
            f"shapes {[tuple(jnp.shape(leaf)) for _, leaf in leaves]}"
        )
    return int(n_chains)


def _init_chains(sampler: SamplingAlgorithm, initial_positions, params, batched: bool):
    if batched:
        return sampler.init(initial_positions, params)
    sampler.init(jax.tree.map(lambda x: x[0], initial_positions), params)  # validation
    return jax.vmap(sampler.init, in_axes=(0, None))(initial_positions, params)


def _multi_chain_step(sampler: SamplingAlgorithm, batched: bool, n_chains: int) -> Callable:
    """``step(states, key, params)`` moving all chains: one key for a batched kernel,
    ``vmap`` over split keys otherwise."""

    def step(states, key, params):
        if batched:
            return sampler.step(key, states, params)
        keys = jax.random.split(key, n_chains)
        return jax.vmap(sampler.step, in_axes=(0, 0, None))(keys, states, params)

    return step


def run_chains(
    rng_key: PRNGKeyArray,
    sampler: SamplingAlgorithm,
    initial_positions,
    params,
    n_steps: int,
    *,
    burn_in: int = 0,
    thin: int = 1,
    batched: bool = False,
    record: Callable | None = None,
):
    r"""Run several chains of ``sampler`` with ``lax.scan`` and stack what they visit.

    Parameters
    ----------
    rng_key
        PRNG key.
    sampler
        A :class:`blackjax.base.SamplingAlgorithm` with this project's contract,
        ``init(position, params)`` and ``step(rng_key, state, params)`` (every
        kernel in :mod:`numpyro_ebm.kernels`).
    initial_positions
        One position a chain, stacked on a leading chain axis (array or pytree).
    params
        Parameters of the target (an argument of the compiled loop).
    n_steps
        Transitions after burn-in; every ``thin``-th is recorded, so there are
        ``n_steps // thin`` draws (``n_steps`` must be a multiple of ``thin``).
    burn_in
        Transitions run first and discarded (not stored).
    thin
        Record one transition in ``thin``.
    batched
        ``False`` (default): ``jax.vmap`` over chains with one key a chain (works
        for every kernel). ``True``: the kernel takes the chain axis itself with
        one key for all chains (e.g. :mod:`~numpyro_ebm.kernels.rbm_gibbs`, one
        matmul for all chains).
    record
        ``record(state, info) -> pytree`` of what to keep from each recorded
        transition (shapes ``(chain, ...)``); default both. To keep memory
        independent of the state's dimension, store only the summaries:
        ``record=functools.partial(summarize, energy_fn=..., params=...,
        keep_full_state=False)``, and pass the result to :func:`to_inference_data`.

    Returns
    -------
    ``(states, infos)`` (or the stacked output of ``record``), every leaf shaped
    ``(draw, chain, ...)``: pass it to :func:`to_inference_data` with the default
    ``chain_axis=1``.

    Notes
    -----
    All starting positions are checked for finite floating-point values; with
    ``batched=False`` the kernel's own ``init`` validation runs on the first chain
    (the others are initialised under ``vmap``, where values are not inspected).

    Burn-in, thinning and recording share one ``lax.scan`` over all
    ``burn_in + n_steps`` transitions, so the kernel is compiled once; ``record``
    runs only on the kept transitions. The loop is compiled anew on every call.
    """
    for name, value, low in (("n_steps", n_steps, 1), ("burn_in", burn_in, 0), ("thin", thin, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if n_steps % thin:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of thin ({thin})")
    n_draws = n_steps // thin
    n_chains = _check_initial_positions(initial_positions)
    states = _init_chains(sampler, initial_positions, params, batched)

    step = _multi_chain_step(sampler, batched, n_chains)

    def output(states, info):
        return (states, info) if record is None else record(states, info)

    def run(rng_key, states, params):
        # One scan over all burn_in + n_steps transitions, so the kernel is compiled
        # once (separate scans for burn-in and thinning would compile it up to three
        # times). Recorded transitions are written into a preallocated buffer; the
        # record itself only runs (lax.cond) on the transitions that are kept.
        total = burn_in + n_steps
        keys = jax.random.split(rng_key, total)
        shapes = jax.eval_shape(lambda s, k: output(*step(s, k, params)), states, keys[0])
        buffer = jax.tree.map(lambda x: jnp.zeros((n_draws,) + x.shape, x.dtype), shapes)

        def body(carry, inputs):
            states, buffer = carry
            t, key = inputs
            states, info = step(states, key, params)
            offset = t - burn_in + 1  # transitions done after burn-in
            write = (offset > 0) & (offset % thin == 0)
            index = jnp.clip(offset // thin - 1, 0, n_draws - 1)
            row = jax.lax.cond(
                write,
                output,
                lambda *_: jax.tree.map(lambda b: b[index], buffer),
                states,
                info,
            )
            buffer = jax.tree.map(lambda b, r: b.at[index].set(r), buffer, row)
            return (states, buffer), None

        steps = jnp.arange(total, dtype=jnp.int32)
        return jax.lax.scan(body, (states, buffer), (steps, keys))[0][1]

    return jax.jit(run)(rng_key, states, params)


# --------------------------------------------------------------------------------------
# Comparing samplers
# --------------------------------------------------------------------------------------

EvaluationCount = float | Callable[[Any], Any] | None


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    r"""A kernel of this project's contract, as :func:`compare_samplers` runs it.

    Attributes
    ----------
    algorithm
        A :class:`blackjax.base.SamplingAlgorithm` with ``init(position, params)``
        and ``step(rng_key, state, params)`` (every kernel in
        :mod:`numpyro_ebm.kernels`). Build gradient kernels with
        ``refresh=False``: the parameters are fixed during a comparison, and the
        refresh would spend one uncounted evaluation per step.
    batched
        The kernel takes the chain axis itself with one key for all chains
        (:mod:`~numpyro_ebm.kernels.rbm_gibbs`,
        :mod:`~numpyro_ebm.kernels.binary_gibbs`); otherwise chains are vmapped.
    evaluations_per_step
        Energy (or energy-and-gradient) evaluations one chain spends per step: a
        number, or ``info -> array`` giving it per chain from the step's info.
        ``None`` (default) reads ``info.num_integration_steps`` when the info has
        it (BlackJAX's HMC and NUTS: one gradient per leapfrog step) and counts 1
        otherwise (MALA: one value and gradient at the proposal; random-walk
        Metropolis: one energy; Langevin: one gradient; block Gibbs of an RBM:
        one sweep, two matrix products, the cost of one free energy and its
        gradient). Single-site :mod:`~numpyro_ebm.kernels.binary_gibbs` evaluates
        the energy ``D + 1`` times per sweep: pass ``evaluations_per_step=D + 1``.
    """

    algorithm: SamplingAlgorithm
    batched: bool = False
    evaluations_per_step: EvaluationCount = None


@dataclasses.dataclass(frozen=True)
class NumPyroSpec:
    r"""A NumPyro MCMC kernel (e.g. ``DiscreteHMCGibbs``) as :func:`compare_samplers` runs it.

    The kernel is driven through NumPyro's kernel interface exactly as
    ``MCMC(kernel, num_warmup=burn_in, num_samples=n_steps,
    chain_method=jax.vmap)`` drives it (``kernel.init(key, burn_in, init, (),
    {})`` per chain, ``kernel.sample`` vmapped over chains, draws constrained by
    ``kernel.postprocess_fn``; warm-up adaptation, e.g. NUTS's step size, happens
    inside ``sample`` during the first ``burn_in`` steps), but inside the same
    ahead-of-time compiled loop as this project's kernels (checked: with the same
    key it gives the same draws as ``MCMC.run``). ``MCMC.run``
    re-traces its whole loop on every call (seconds of Python work that do not
    depend on the number of steps), so timing it would measure that rather than
    the sampler. Runs under JAX's standard dtype promotion, which NumPyro's
    internals need. The model must take no arguments (close over data).

    Attributes
    ----------
    kernel
        A ``numpyro.infer.MCMCKernel`` built on a model (see
        :func:`discrete_hmc_gibbs_spec` for a binary energy).
    site
        The sample site holding the state the summaries are computed from.
    evaluations_per_step
        Potential (or potential-and-gradient) evaluations one chain spends per
        step: a number, or ``{extra field: value} -> array`` computing it per
        chain from the fields named in ``extra_fields``. NumPyro's discrete Gibbs
        sweep over a binary site of ``D`` coordinates costs ``D`` evaluations
        (one per coordinate and value other than the current one); the NUTS block
        of ``DiscreteHMCGibbs`` adds ``hmc_state.num_steps`` gradients.
    init_params
        ``initial_positions -> init_params`` (values per chain, leading chain
        axis; unconstrained values for HMC sites, as for ``MCMC.run``). Default
        ``{site: initial_positions}``.
    extra_fields
        State fields to collect, dotted as in ``MCMC.run`` (``"hmc_state.diverging"``).
        Fields whose last component is ``accept_prob``, ``diverging`` or
        ``num_steps`` become the sample stats ``acceptance_rate``, ``diverging``
        and ``n_steps`` (feeding the table's acceptance and divergence columns).
    """

    kernel: Any
    site: str
    evaluations_per_step: float | Callable[[Mapping[str, Any]], Any] = 1.0
    init_params: Callable | None = None
    extra_fields: tuple[str, ...] = ()


def discrete_hmc_gibbs_spec(
    energy_fn: Callable,
    params,
    event_shape,
    *,
    site: str = "x",
    modified: bool = False,
) -> NumPyroSpec:
    r"""NumPyro's ``DiscreteHMCGibbs`` on a binary energy, ready for :func:`compare_samplers`.

    The model is one latent site ``site`` with density :math:`\propto e^{-E}` over
    :math:`\{0,1\}^D` (a binary :class:`numpyro_ebm.potentials.UnnormalizedEnergy`);
    it has no continuous site, so the NUTS block of ``DiscreteHMCGibbs(NUTS(model))``
    has nothing to move and a step is the discrete Gibbs block's: one sweep a step over the ``D`` coordinates in a random
    order, each redrawn from its exact conditional (``modified=True``: Liu's
    Metropolised proposal, which always proposes the other value). A sweep costs
    ``D`` potential evaluations. Initial values become ``int32``, as NumPyro's
    discrete proposals are integers.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` broadcasting over leading batch dimensions (the
        contract of :class:`~numpyro_ebm.potentials.UnnormalizedEnergy`), e.g.
        :func:`numpyro_ebm.energies.bernoulli_rbm.free_energy`.
    params
        Parameters of the energy (fixed).
    event_shape
        Shape of one configuration, e.g. ``(D,)``.
    site
        Name of the sample site.
    modified
        Use the modified (Metropolised) Gibbs proposal.
    """
    import numpyro
    from numpyro.infer import NUTS, DiscreteHMCGibbs

    event_shape = tuple(int(d) for d in event_shape)
    energy = potentials.UnnormalizedEnergy(energy_fn, params, event_shape, support="binary")

    def model():
        numpyro.sample(site, energy)

    # the energy cannot draw its own initial value: NumPyro traces the model once with
    # this one, and init_params (compare_samplers' initial positions) set each chain's start
    initialised = numpyro.handlers.substitute(model, data={site: jnp.zeros(event_shape, jnp.int32)})
    return NumPyroSpec(
        kernel=DiscreteHMCGibbs(NUTS(initialised), modified=modified),
        site=site,
        evaluations_per_step=float(math.prod(event_shape)),
        init_params=lambda positions: {site: jnp.asarray(positions).astype(jnp.int32)},
    )


def _default_evaluations(info):
    count = getattr(info, "num_integration_steps", None)
    return 1.0 if count is None else count


@dataclasses.dataclass
class _Run:
    idata: Any
    wall_time: float
    burn_in_time: float
    compile_time: float
    evaluations: float


def _timed_loop(transition: Callable, rng_key, states, params, n_steps: int, burn_in: int) -> _Run:
    """Burn-in, then ``n_steps`` recorded transitions, with one compiled executable.

    ``transition(states, key, params) -> (states, summaries, evaluations)`` moves all
    chains one step. The loop ``run(key, states, params, n, write)`` runs ``n``
    transitions (a dynamic count) and, when ``write``, stores their summaries and
    evaluation counts; it is compiled ahead of time once and called twice (burn-in
    without writing, then the recorded steps), each call timed on its own.
    """

    def run(rng_key, states, params, n, write):
        shapes = jax.eval_shape(transition, states, rng_key, params)[1:]
        buffer = jax.tree.map(lambda x: jnp.zeros((n_steps,) + x.shape, x.dtype), shapes)

        def body(t, carry):
            states, buffer = carry
            states, summaries, evals = transition(states, jax.random.fold_in(rng_key, t), params)
            index = jnp.minimum(t, n_steps - 1)
            buffer = jax.lax.cond(
                write,
                lambda b: jax.tree.map(
                    lambda column, row: column.at[index].set(row), b, (summaries, evals)
                ),
                lambda b: b,
                buffer,
            )
            return states, buffer

        return jax.lax.fori_loop(0, n, body, (states, buffer))

    key_burn, key_sample = jax.random.split(rng_key)
    start = time.perf_counter()
    compiled = jax.jit(run).lower(key_sample, states, params, jnp.int32(n_steps), True).compile()
    compile_time = time.perf_counter() - start
    burn_in_time = 0.0
    if burn_in:
        start = time.perf_counter()
        states = jax.block_until_ready(
            compiled(key_burn, states, params, jnp.int32(burn_in), False)[0]
        )
        burn_in_time = time.perf_counter() - start
    start = time.perf_counter()
    _, (summaries, evals) = jax.block_until_ready(
        compiled(key_sample, states, params, jnp.int32(n_steps), True)
    )
    wall_time = time.perf_counter() - start
    return _Run(
        to_inference_data(summaries),
        wall_time,
        burn_in_time,
        compile_time,
        float(np.sum(np.asarray(evals, np.float64))),
    )


def _total(value, n_chains: int):
    value = jnp.asarray(value, jnp.float32)
    return jnp.sum(jnp.broadcast_to(value, (n_chains,)))


def _run_spec(
    rng_key, spec: SamplerSpec, initial_positions, params, n_steps, burn_in, record
) -> _Run:
    n_chains = _check_initial_positions(initial_positions)
    states = _init_chains(spec.algorithm, initial_positions, params, spec.batched)
    step = _multi_chain_step(spec.algorithm, spec.batched, n_chains)
    count = spec.evaluations_per_step
    if count is None:
        count = _default_evaluations

    def transition(states, key, params):
        states, info = step(states, key, params)
        evals = count(info) if callable(count) else count
        return states, record(states, info, params), _total(evals, n_chains)

    return _timed_loop(transition, rng_key, states, params, n_steps, burn_in)


_NUMPYRO_STAT_NAMES = {
    "accept_prob": "acceptance_rate",
    "diverging": "diverging",
    "num_steps": "n_steps",
}


def _run_numpyro(
    rng_key, spec: NumPyroSpec, initial_positions, params, n_steps, burn_in, record
) -> _Run:
    import operator

    n_chains = _check_initial_positions(initial_positions)
    init_params = (
        spec.init_params(initial_positions)
        if spec.init_params is not None
        else {spec.site: initial_positions}
    )
    kernel = spec.kernel
    fields = {name: operator.attrgetter(name) for name in spec.extra_fields}
    count = spec.evaluations_per_step
    key_init, key_run = jax.random.split(rng_key)
    # NumPyro's kernels mix integer and float arrays (e.g. NUTS divides by a step count)
    with jax.numpy_dtype_promotion("standard"):
        # as MCMC(..., chain_method=jax.vmap) does: one init per chain; NumPyro states
        # carry their own keys, so the loop's keys are not used
        keys = jax.random.split(key_init, n_chains)
        states = jax.vmap(lambda key, init: kernel.init(key, burn_in, init, (), {}))(
            keys, init_params
        )
        constrain = kernel.postprocess_fn((), {})

        def transition(states, key, params):
            states = jax.vmap(lambda state: kernel.sample(state, (), {}))(states)
            z = jax.vmap(constrain)(getattr(states, kernel.sample_field))
            extra = {name: get(states) for name, get in fields.items()}
            info = {}
            for name, value in extra.items():
                info.setdefault(_NUMPYRO_STAT_NAMES.get(name.rpartition(".")[2], name), value)
            evals = count(extra) if callable(count) else count
            return states, record(z[spec.site], info, params), _total(evals, n_chains)

        return _timed_loop(transition, key_run, states, params, n_steps, burn_in)


def _summary_rows(posterior: Mapping[str, Any], coords: Mapping[str, Sequence]) -> list[str]:
    """Row names ``az.summary`` gives the summaries (``name`` or ``name[label]``)."""
    rows = []
    for name, value in posterior.items():
        if value.ndim == 1:
            rows.append(name)
        else:
            dim = "chosen_unit" if name == "coordinate" else "direction"
            rows.extend(f"{name}[{label}]" for label in coords[dim])
    return rows


COMPARISON_COLUMNS = (
    "sampler",
    "n_chains",
    "n_draws",
    "wall_time_s",
    "burn_in_time_s",
    "compile_time_s",
    "evaluations",
    "ess_bulk",
    "ess_tail",
    "ess_bulk_per_s",
    "ess_tail_per_s",
    "ess_bulk_per_eval",
    "ess_tail_per_eval",
    "r_hat",
    "acceptance_rate",
    "divergences",
)
"""Columns of :func:`compare_samplers`' table, before the moment errors."""


def compare_samplers(
    rng_key: PRNGKeyArray,
    samplers: Mapping[str, SamplerSpec | NumPyroSpec | SamplingAlgorithm],
    initial_positions,
    params,
    *,
    n_steps: int,
    burn_in: int = 0,
    energy_fn: Callable | None = None,
    coordinates: Sequence | Mapping | None = None,
    projections=None,
    energy_name: str = "energy",
    exact_moments: Mapping[str, float] | None = None,
    return_inference_data: bool = False,
):
    r"""Run several samplers on one target with the same budget and tabulate their efficiency.

    Every sampler starts its chains from the same ``initial_positions``, runs
    ``burn_in`` transitions (discarded), then ``n_steps`` transitions per chain,
    all recorded. The budget is this number of steps, the same for every
    sampler, and the cost of a step differs (a NUTS trajectory against one
    Gibbs sweep); the table therefore reports the time and the number of
    energy/gradient evaluations the steps took, and the effective sample size
    per second and per evaluation, which are comparable.

    Each draw is summarised as by :func:`summarize` (``energy`` with
    ``energy_fn``, ``mean_activation``, optional ``coordinate`` and
    ``projection``); ESS and R-hat are ArviZ's rank-normalised estimates
    (Vehtari et al. 2021) over all chains, for every summary, and the table
    keeps the worst: the smallest ESS, the largest R-hat.

    Parameters
    ----------
    rng_key
        PRNG key (split into one key a sampler).
    samplers
        ``{name: spec}``: a :class:`SamplerSpec`, a bare ``SamplingAlgorithm``
        (= ``SamplerSpec(algorithm)``: vmapped chains, evaluations counted as
        documented there), or a :class:`NumPyroSpec` (NumPyro's ``MCMC``, e.g.
        :func:`discrete_hmc_gibbs_spec` as the off-the-shelf baseline for binary
        targets).
    initial_positions
        One position a chain on a leading chain axis, at least two chains (for
        R-hat). Floating-point arrays (0./1. for binary targets).
    params
        Parameters of the target, passed to every kernel's ``step`` (NumPyro
        kernels close over theirs) and to ``energy_fn``.
    n_steps
        Recorded transitions per chain (the budget).
    burn_in
        Transitions per chain run first and discarded; for NumPyro kernels this is
        ``num_warmup``, during which they also adapt (NUTS's step size). This
        project's kernels do not adapt: tune their step sizes beforehand.
    energy_fn
        ``energy_fn(params, x)`` of one configuration (scalar), for the
        ``energy`` summary (e.g. an RBM's free energy of the visible units).
    coordinates, projections, energy_name
        More summaries, as in :func:`summarize`.
    exact_moments
        ``{summary row: exact expectation}`` with rows as ``az.summary`` names
        them (``"energy"``, ``"mean_activation"``, ``"coordinate[3]"``...), e.g.
        from :func:`enumeration_moments` or :func:`quadrature_moments`. Adds the
        columns ``error_<row>`` (absolute error of the average over all chains
        and draws) and ``mcse_<row>`` (ArviZ's Monte Carlo standard error of that
        average, the scale the error should be compared with).
    return_inference_data
        Also return ``{name: InferenceData}`` of the summaries.

    Returns
    -------
    pandas.DataFrame
        One row a sampler, columns :data:`COMPARISON_COLUMNS` then the moment
        errors: ``n_chains``; ``n_draws`` (per chain, ``n_steps``);
        ``wall_time_s`` (seconds of the ``n_steps`` transitions of all chains
        together, compilation excluded); ``burn_in_time_s``; ``compile_time_s``;
        ``evaluations`` (energy/gradient evaluations of the recorded transitions,
        all chains); ``ess_bulk``, ``ess_tail`` (smallest over the summaries);
        ``ess_bulk_per_s``, ``ess_tail_per_s`` (ESS / ``wall_time_s``);
        ``ess_bulk_per_eval``, ``ess_tail_per_eval`` (ESS / ``evaluations``);
        ``r_hat`` (largest); ``acceptance_rate`` (mean Metropolis acceptance
        probability, NaN for samplers without an accept step: Gibbs, unadjusted
        Langevin); ``divergences`` (number of divergent transitions, NaN when the
        sampler does not report them). With ``return_inference_data``, the pair
        ``(table, {name: InferenceData})``.

    Notes
    -----
    Timing. Compilation is excluded: the burn-in loop and the sampling loop of
    every sampler (NumPyro's too, see :class:`NumPyroSpec`) are compiled ahead
    of time (``jax.jit(...).lower(...).compile()``, timed as
    ``compile_time_s``) and then each run once, so ``wall_time_s`` is pure
    execution. Samplers run one after another; their times are comparable only
    on an otherwise idle machine, and very short runs are dominated by noise.

    Evaluations count calls of the energy and calls of its value and gradient
    alike (a gradient costs a small multiple of an energy); see
    :class:`SamplerSpec` and :class:`NumPyroSpec` for the counts of each kernel.

    Examples
    --------
    >>> table = compare_samplers(
    ...     key, {"block Gibbs": SamplerSpec(rbm_gibbs.as_top_level_api(), batched=True),
    ...           "DiscreteHMCGibbs": discrete_hmc_gibbs_spec(bernoulli_rbm.free_energy, params, (D,))},
    ...     v0, params, n_steps=1000, burn_in=100, energy_fn=bernoulli_rbm.free_energy,
    ...     exact_moments=enumeration_moments(bernoulli_rbm.free_energy, params, D),
    ... )  # doctest: +SKIP
    >>> plot_comparison(table, "comparison.png")  # doctest: +SKIP
    """
    import pandas as pd

    az = _arviz()
    for name, value, low in (("n_steps", n_steps, 4), ("burn_in", burn_in, 0)):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if not samplers:
        raise ValueError("samplers is empty; give at least one {name: spec}")
    specs = {}
    for name, spec in samplers.items():
        if isinstance(spec, SamplingAlgorithm):
            spec = SamplerSpec(spec)
        if not isinstance(spec, SamplerSpec | NumPyroSpec):
            raise TypeError(
                f"sampler {name!r}: expected a SamplerSpec, a NumPyroSpec or a blackjax "
                f"SamplingAlgorithm; got {type(spec).__name__}"
            )
        specs[str(name)] = spec
    n_chains = _check_initial_positions(initial_positions)
    if n_chains < 2:
        raise ValueError(
            f"compare_samplers needs at least 2 chains (R-hat compares chains); got {n_chains}"
        )
    options = dict(
        energy_fn=energy_fn,
        coordinates=coordinates,
        projections=projections,
        energy_name=energy_name,
    )
    # the summaries of the initial positions name the table's rows: check exact_moments now
    probe = summarize(initial_positions, params=params, keep_full_state=False, **options)
    rows = _summary_rows(probe.posterior, dict(probe.coords))
    exact_moments = dict(exact_moments or {})
    unknown = [row for row in exact_moments if row not in rows]
    if unknown:
        raise ValueError(
            f"exact_moments has {unknown}, which are not summaries; the summaries are {rows}"
        )

    def record(states, info, params):
        return summarize(states, info, params=params, keep_full_state=False, **options)

    table, datasets = [], {}
    keys = jax.random.split(rng_key, len(specs))
    for key, (name, spec) in zip(keys, specs.items(), strict=True):
        if isinstance(spec, NumPyroSpec):
            run = _run_numpyro(key, spec, initial_positions, params, n_steps, burn_in, record)
        else:
            run = _run_spec(key, spec, initial_positions, params, n_steps, burn_in, record)
        datasets[name] = run.idata
        summary = az.summary(run.idata, kind="all", round_to="none")
        ess_bulk = float(summary["ess_bulk"].min())
        ess_tail = float(summary["ess_tail"].min())
        stats = getattr(run.idata, "sample_stats", None)
        stat_names = set(stats.data_vars) if stats is not None else set()
        acceptance = "acceptance_rate" if "acceptance_rate" in stat_names else None
        diverging = "diverging" if "diverging" in stat_names else None
        row = {
            "sampler": name,
            "n_chains": n_chains,
            "n_draws": n_steps,
            "wall_time_s": run.wall_time,
            "burn_in_time_s": run.burn_in_time,
            "compile_time_s": run.compile_time,
            "evaluations": run.evaluations,
            "ess_bulk": ess_bulk,
            "ess_tail": ess_tail,
            "ess_bulk_per_s": ess_bulk / run.wall_time,
            "ess_tail_per_s": ess_tail / run.wall_time,
            "ess_bulk_per_eval": ess_bulk / run.evaluations,
            "ess_tail_per_eval": ess_tail / run.evaluations,
            "r_hat": float(summary["r_hat"].max()),
            "acceptance_rate": (
                float(stats[acceptance].mean()) if acceptance is not None else math.nan
            ),
            "divergences": (
                float(np.sum(np.asarray(stats[diverging]))) if diverging is not None else math.nan
            ),
        }
        for moment, value in exact_moments.items():
            row[f"error_{moment}"] = abs(float(summary.loc[moment, "mean"]) - float(value))
            row[f"mcse_{moment}"] = float(summary.loc[moment, "mcse_mean"])
        table.append(row)
    table = pd.DataFrame(table)
    return (table, datasets) if return_inference_data else table


# --------------------------------------------------------------------------------------
# Exact moments
# --------------------------------------------------------------------------------------


def _vmapped(energy_fn: Callable) -> Callable:
    """``energy_fn`` over a batch of configurations, whether or not it broadcasts itself."""

    def batched(params, x):
        return jax.vmap(lambda one: energy_fn(params, one))(x)

    return batched


def enumeration_moments(
    energy_fn: Callable,
    params,
    n_units: int,
    *,
    spins: bool = False,
    energy_name: str = "energy",
    max_bits: int = 22,
) -> dict[str, float]:
    r"""Exact :math:`E[E(x)]` and :math:`E[\bar x]` of a binary model, by enumeration.

    All :math:`2^n` configurations with their exact probabilities
    (:func:`numpyro_ebm.evaluation.exact.log_probabilities_binary`, float64).

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` of one configuration (or broadcasting over a batch).
    params
        Parameters.
    n_units
        Number of binary units enumerated.
    spins
        Units in :math:`\{-1, +1\}` instead of :math:`\{0, 1\}`.
    energy_name
        Key of the energy moment (as in :func:`compare_samplers`).
    max_bits
        Largest ``n_units`` accepted.

    Returns
    -------
    dict
        ``{energy_name: E[E(x)], "mean_activation": E[mean_i x_i]}``, keyed like the
        summaries of :func:`summarize`, ready for ``exact_moments``.
    """
    from numpyro_ebm.evaluation import exact

    batched = _vmapped(energy_fn)
    states, log_probs = exact.log_probabilities_binary(
        batched, params, n_units, spins=spins, max_bits=max_bits
    )
    probs = np.exp(log_probs)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        energies = np.asarray(batched(p64, jnp.asarray(states)), np.float64)
    return {
        energy_name: float(probs @ energies),
        "mean_activation": float(probs @ states.mean(axis=1)),
    }


def quadrature_moments(
    energy_fn: Callable,
    params,
    bounds: Sequence[tuple[float, float]],
    *,
    n_points: int = 512,
    energy_name: str = "energy",
    boundary_tolerance: float | None = 1e-8,
) -> dict[str, float]:
    r"""Exact (to quadrature accuracy) :math:`E[E(x)]` and :math:`E[\bar x]` of a 1-D or 2-D density.

    Midpoint rule on a regular grid of ``n_points`` per dimension over the box
    ``bounds``, in float64: :math:`p_i \propto e^{-E(x_i)}` normalised over the
    grid. For a smooth density that has decayed at the edges the midpoint rule
    converges faster than any power of the spacing; for a density whose support
    is the box itself (a hard wall) pass that box.

    Parameters
    ----------
    energy_fn
        ``energy_fn(params, x)`` of one configuration ``x`` of shape ``(d,)``
        (or broadcasting over a batch); ``+inf`` outside the support is allowed.
    params
        Parameters.
    bounds
        ``[(low, high)]`` per dimension (one or two dimensions).
    n_points
        Grid points per dimension.
    energy_name
        Key of the energy moment.
    boundary_tolerance
        Raise if the probability of the outermost ring of grid cells exceeds it
        (the box cuts off mass), unless ``None``.

    Returns
    -------
    dict
        ``{energy_name: E[E(x)], "mean_activation": E[mean_i x_i]}``.
    """
    bounds = [(float(low), float(high)) for low, high in bounds]
    if not 1 <= len(bounds) <= 2:
        raise ValueError(f"quadrature needs 1 or 2 dimensions; got {len(bounds)} bounds")
    if any(not high > low for low, high in bounds):
        raise ValueError(f"every bound needs low < high; got {bounds}")
    axes = [low + (np.arange(n_points) + 0.5) * (high - low) / n_points for low, high in bounds]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(bounds))
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        energies = np.asarray(jax.jit(_vmapped(energy_fn))(p64, jnp.asarray(grid)), np.float64)
    if np.any(np.isnan(energies)):
        raise ValueError("the energy is NaN on the quadrature grid")
    finite = np.isfinite(energies)
    if not finite.any():
        raise ValueError("the energy is infinite everywhere on the quadrature grid")
    log_w = np.where(finite, -energies, -np.inf)
    weights = np.exp(log_w - log_w.max())
    weights /= weights.sum()
    if boundary_tolerance is not None:
        edge = np.zeros((n_points,) * len(bounds), bool)
        for axis in range(len(bounds)):
            index = [slice(None)] * len(bounds)
            for end in (0, -1):
                index[axis] = end
                edge[tuple(index)] = True
        mass = float(weights[edge.ravel()].sum())
        if mass > boundary_tolerance:
            raise ValueError(
                f"the outermost grid cells hold probability {mass:.2e} > "
                f"{boundary_tolerance:g}: widen the bounds {bounds} (or, for a density "
                "supported on exactly this box, pass boundary_tolerance=None)"
            )
    safe_energies = np.where(finite, energies, 0.0)
    return {
        energy_name: float(weights @ safe_energies),
        "mean_activation": float(weights @ grid.mean(axis=1)),
    }


# --------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


_PANELS = (
    ("ess_bulk_per_s", "bulk ESS / s", True),
    ("ess_tail_per_s", "tail ESS / s", True),
    ("ess_bulk_per_eval", "bulk ESS / evaluation", True),
    ("r_hat", "max R-hat", False),
    ("acceptance_rate", "acceptance rate", False),
)


def plot_comparison(table, path, *, title: str | None = None):
    r"""Bar charts of a :func:`compare_samplers` table, saved as a PNG (Agg backend).

    One panel a metric (bulk and tail ESS per second, bulk ESS per evaluation
    on log scales; R-hat with the 1.01 threshold; acceptance rate, unless no
    sampler has one), one bar a sampler, and one panel per moment with an exact
    answer: the absolute error, with a tick at two Monte Carlo standard errors
    (errors well beyond it are bias, not noise). Missing values (e.g. no
    acceptance rate for Gibbs) are marked "n/a".

    Parameters
    ----------
    table
        The ``pandas.DataFrame`` of :func:`compare_samplers`.
    path
        Output file (PNG).
    title
        Figure title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import pathlib

    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    names = [str(n) for n in table["sampler"]]
    moments = [c.removeprefix("error_") for c in table.columns if c.startswith("error_")]
    panels = [p for p in _PANELS if p[0] in table.columns and np.isfinite(table[p[0]]).any()] + [
        (f"error_{m}", f"|error| of E[{m}]", True) for m in moments
    ]
    n_cols = min(3, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(4.2 * n_cols, 0.35 * len(names) * n_rows + 1.6 * n_rows),
        squeeze=False,
    )
    y = np.arange(len(names))
    for ax, (column, label, log) in zip(axes.ravel(), panels, strict=False):
        values = table[column].to_numpy(np.float64)
        ok = np.isfinite(values) & ((values > 0) if log else True)
        ax.barh(y[ok], values[ok], color="C0" if not column.startswith("error_") else "C1")
        for i in np.flatnonzero(~ok):
            ax.text(0.02, y[i], "n/a", va="center", transform=ax.get_yaxis_transform())
        if column.startswith("error_"):
            mcse = table["mcse_" + column.removeprefix("error_")].to_numpy(np.float64)
            ax.plot(2 * mcse, y, "k|", markersize=14, label="2 MCSE")
            ax.legend(loc="best", fontsize="small", framealpha=0.6)
            shown = np.concatenate([values[ok], 2 * mcse[np.isfinite(mcse) & (mcse > 0)]])
            if shown.size:
                ax.set_xlim(shown.min() / 2, shown.max() * 2)
        if column == "r_hat":
            ax.axvline(1.01, color="k", linestyle="--", linewidth=1)
            finite = values[np.isfinite(values)]
            if finite.size:
                ax.set_xlim(min(0.99, finite.min() - 0.01), max(1.05, finite.max() + 0.01))
        if log and ok.any():
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(y, names)
        ax.set_ylim(len(names) - 0.5, -0.5)  # first sampler on top, every row shown
        ax.set_title(label, fontsize="medium")
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
