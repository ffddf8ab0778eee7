r"""Conversion to ArviZ: chain output (this project's, BlackJAX's, NumPyro's) as ArviZ data.

:func:`summarize` turns states and infos into :class:`ChainSummaries` (named
per-draw summaries and ArviZ sample stats); :func:`to_inference_data` and
:func:`from_numpyro` lay them out as ArviZ groups through one shared path. See
:mod:`numpyro_ebm.diagnostics` for the groups and names. The container is
ArviZ's own: ``InferenceData`` on ArviZ 0.23, ``xarray.DataTree`` on ArviZ 1.x
(:mod:`numpyro_ebm._arviz` holds the difference).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from numpyro_ebm import _arviz, _checks, potentials

__all__ = [
    "ChainSummaries",
    "SAMPLE_STAT_NAMES",
    "NUMPYRO_EXTRA_FIELDS",
    "summarize",
    "to_inference_data",
    "from_numpyro",
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
the position's cached ``logdensity`` (a state field) becomes ``lp``. An info
NamedTuple may give some fields extra dimensions in a class attribute
``sample_stat_dims``, pairs ``(field, dim_names)`` (e.g.
:class:`~numpyro_ebm.kernels.parallel_tempering.PTInfo`: the swap acceptance of
each adjacent pair of replicas has dimension ``ladder_pair``)."""

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
    elif isinstance(coordinates, str | bytes | bool | int | float | np.generic) or not hasattr(
        coordinates, "__iter__"
    ):
        raise TypeError(
            "coordinates must be a sequence of flat indices or multi-index tuples (e.g. "
            "[0, 11] or [(0, 1)]) or a mapping {name: index}; got "
            f"{type(coordinates).__name__} {coordinates!r}"
        )
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
    energy_name: str = "free_energy",
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
        conditional probabilities) are skipped, unless the info's class declares
        their extra dimensions in ``sample_stat_dims`` (pairs ``(field,
        dim_names)``, e.g. parallel tempering's per-pair swap acceptance).
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
        Name of the energy variable (default ``"free_energy"``: not ``"energy"``,
        which is the name of HMC's Hamiltonian in ``sample_stats``; it holds whatever
        ``energy_fn`` computes, an RBM's free energy or a model's energy).
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
    # an info NamedTuple may declare extra dimensions of some fields (per pair of
    # replicas, per replica, ...) in a class attribute ``sample_stat_dims``
    extra_dims = dict(getattr(type(infos), "sample_stat_dims", ()) or ())
    stat_dims: dict[str, tuple[str, ...]] = {}
    for field, value in _named_items(infos):
        field_dims = tuple(extra_dims.get(field, ()))
        if (
            not _is_array(value)
            or tuple(value.shape[:batch_ndim]) != batch_shape
            or value.ndim != batch_ndim + len(field_dims)
        ):
            continue
        name = SAMPLE_STAT_NAMES.get(field, field)
        if name in sample_stats:
            continue
        sample_stats[name] = value.astype(bool) if name == "diverging" else value
        stat_dims[name] = field_dims
    if step_size is not None:
        sample_stats["step_size"] = jnp.broadcast_to(jnp.asarray(step_size), batch_shape)
    dims.extend(("sample_stats", name, stat_dims.get(name, ())) for name in sample_stats)
    return ChainSummaries(posterior, sample_stats, state, tuple(dims), tuple(coords))


# --------------------------------------------------------------------------------------
# ArviZ containers
# --------------------------------------------------------------------------------------


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

    origin = _arviz.arviz().rcParams["data.index_origin"]
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
        datasets[group] = xr.Dataset(
            data_vars, coords=coords, attrs=_arviz.make_attrs("numpyro_ebm")
        )
    return datasets


def _summary_datasets(
    states,
    infos,
    *,
    chain_axis,
    step_size=None,
    groups=("posterior", "sample_stats", "state"),
    **options,
) -> dict:
    """The one path from chain output to ArviZ groups, shared by :func:`to_inference_data`
    and :func:`from_numpyro`: :func:`summarize` with ``options`` (unless ``states`` is
    already a :class:`ChainSummaries`), then the ``(chain, draw, ...)`` xarray datasets
    of ``groups``."""
    if isinstance(states, ChainSummaries):
        given = {"infos": infos, **options}
        extra = [
            name
            for name in ("infos", "energy_fn", "position", "coordinates", "projections")
            if given.get(name) is not None
        ]
        if extra:
            raise TypeError(
                f"states is already a ChainSummaries; {', '.join(extra)} cannot be applied "
                "again (pass them to summarize / the record of run_chains)"
            )
        summaries = states
    else:
        summaries = summarize(states, infos, batch_ndim=1 if chain_axis is None else 2, **options)
    if not summaries.posterior:
        raise ValueError("there is nothing to put in the posterior group")
    if step_size is not None and "step_size" in summaries.sample_stats:
        raise ValueError("the sample stats already hold a step_size; do not pass step_size again")
    summaries = ChainSummaries(
        *(
            getattr(summaries, g) if g in groups else {}
            for g in ("posterior", "sample_stats", "state")
        ),
        summaries.dims,
        summaries.coords,
    )
    return _datasets(summaries, chain_axis, step_size)


def _is_run_chains_output(states) -> bool:
    """A plain ``(state NamedTuple, info NamedTuple/dict/None)`` pair, as :func:`run_chains` returns."""
    return (
        type(states) is tuple
        and len(states) == 2
        and bool(_fields(states[0]))
        and (states[1] is None or bool(_fields(states[1])) or isinstance(states[1], Mapping))
    )


def _unpack_run_chains_output(states, infos):
    """Accept ``to_inference_data(run_chains(...))``: split the pair into states and infos."""
    if not _is_run_chains_output(states):
        return states, infos
    if infos is not None:
        raise TypeError(
            "states is a (states, infos) pair, as run_chains returns, and infos was also given; "
            "pass either to_inference_data(states, infos) or to_inference_data(run_chains(...))"
        )
    return states


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
    energy_name: str = "free_energy",
    chain_axis: int | None = 1,
):
    r"""Chains of any kernel as ArviZ data (``InferenceData`` on ArviZ 0.23, ``DataTree`` on 1.x).

    Parameters
    ----------
    states
        Stacked states (a state NamedTuple such as
        :class:`~numpyro_ebm.kernels.rbm_gibbs.RBMGibbsState` or BlackJAX's
        ``HMCState``; or the positions themselves), laid out as ``chain_axis``
        says. The ``(states, infos)`` pair that :func:`run_chains` returns may be
        passed as it is (then ``infos`` must be None). Or a :class:`ChainSummaries` already computed (e.g. by
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
    arviz.InferenceData or xarray.DataTree
        ArviZ's native container (:class:`arviz.InferenceData` on ArviZ 0.23,
        :class:`xarray.DataTree` on ArviZ 1.x) with the groups ``posterior``
        (the summaries only), ``sample_stats`` and, with ``keep_full_state``,
        ``state`` (the full position), dimensions ``(chain, draw, ...)``.
        ``idata.posterior``, ``idata.state["position"]``, ``az.summary``,
        ``az.rhat``, ``az.ess`` and ``az.extract`` read both alike.

    Notes
    -----
    ``az.summary(idata)``, ``az.plot_trace(idata)`` and ``az.plot_rank(idata)``
    read the ``posterior`` group only, so they show the summaries however large
    the state is (on ArviZ 1.x, ``az.plot_trace_dist`` is 0.23's
    ``az.plot_trace``). The full position is ``idata.state["position"]``; per-unit
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
    states, infos = _unpack_run_chains_output(states, infos)
    datasets = _summary_datasets(
        states,
        infos,
        chain_axis=chain_axis,
        step_size=step_size,
        energy_fn=energy_fn,
        params=params,
        position=position,
        coordinates=coordinates,
        projections=projections,
        keep_full_state=keep_full_state,
        energy_name=energy_name,
    )
    return _arviz.from_datasets(datasets)


def from_numpyro(
    mcmc,
    *,
    site: str | None = None,
    energy_fn: Callable | None = None,
    params=None,
    coordinates: Sequence | Mapping | None = None,
    projections=None,
    keep_full_state: bool = True,
    energy_name: str = "free_energy",
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
    arviz.InferenceData or xarray.DataTree
        ArviZ's conversion (``InferenceData`` on 0.23, ``DataTree`` on 1.x), whose ``posterior`` holds the summaries followed by
        the model's other sample sites (the state site is not there: it is in
        ``state``, e.g. ``idata.state["x"]``).
    """
    import xarray as xr

    idata = _arviz.from_numpyro(mcmc, **kwargs)
    posterior = _arviz.group(idata, "posterior")
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
        state_vars = [name for name in posterior.data_vars if name.startswith("Param:")]
    new = _summary_datasets(
        state,
        None,
        chain_axis=0,
        groups=("posterior",),
        energy_fn=energy_fn,
        params=params,
        coordinates=coordinates,
        projections=projections,
        keep_full_state=False,
        energy_name=energy_name,
    )
    others = {name: var for name, var in posterior.data_vars.items() if name not in state_vars}
    _arviz.set_group(
        idata,
        "posterior",
        xr.Dataset({**new["posterior"].data_vars, **others}, attrs=dict(posterior.attrs)),
    )
    if keep_full_state:
        state_group = xr.Dataset(
            {name: posterior[name] for name in state_vars}, attrs=dict(posterior.attrs)
        )
        _arviz.set_group(idata, "state", state_group)
    return idata
