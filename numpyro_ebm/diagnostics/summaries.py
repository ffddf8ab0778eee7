r"""Chain output as named per-draw summaries: :func:`summarize`, :class:`ChainSummaries`.

The first of the three steps from chains to ArviZ: states and infos (this project's,
BlackJAX's, NumPyro's) become named per-draw summaries and ArviZ sample stats, in
memory independent of the state's dimension when only the summaries are kept.
:mod:`~numpyro_ebm.diagnostics.conversion` lays them out as ArviZ groups and
:mod:`~numpyro_ebm.diagnostics.numpyro_mcmc` does the same for a NumPyro ``MCMC``.
See :mod:`numpyro_ebm.diagnostics` for the groups and names.
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

from numpyro_ebm import _checks, potentials

# field_names is public for the sibling modules (conversion) but not part of the API
__all__ = ["ChainSummaries", "SAMPLE_STAT_NAMES", "summarize"]

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


def field_names(tree) -> tuple[str, ...]:
    """The field names of a NamedTuple state or info; ``()`` for anything else."""
    fields = getattr(tree, "_fields", None)
    return tuple(fields) if fields is not None else ()


def _default_position(state):
    """``state.position`` or ``state.visible`` (by name); a bare array or dict is the position."""
    fields = field_names(state)
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
    if field_names(info):
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

    has_logdensity = "logdensity" in field_names(states)
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
