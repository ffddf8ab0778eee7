r"""Device meshes for chains, annealing runs and minibatches (``jax.sharding``).

Everything the library runs in parallel is independent along one leading axis:
the chains of :func:`~numpyro_ebm.diagnostics.run_chains`, the persistent
chains of a learning rule, the runs of AIS/RAISE, the examples of a minibatch.
With a :class:`jax.sharding.Mesh` those axes are split over devices by JAX's
own partitioner: the functions that take ``mesh=`` place their inputs with a
:class:`jax.sharding.NamedSharding` (chains over the ``chain`` axis,
minibatches over the ``data`` axis, parameters replicated) and the same
jitted code runs on every shard; XLA inserts the collectives (the mean of the
gradient over a minibatch split across devices is an all-reduce). Without a
mesh nothing here is called and the code is what it was.

Why the numbers do not depend on the device count. Every random draw of the
library is a function of the PRNG key and of the global index of the chain
(or run, or example) it belongs to, never of the device holding it:

- kernels that take the chain axis themselves (RBM, DBM, lattice Gibbs, AIS)
  draw the Bernoulli of flat position ``i`` from the Threefry block with
  counter ``i`` (:mod:`numpyro_ebm.kernels._bernoulli`), and ``i`` is the
  global position;
- vmapped kernels get one key a chain from ``jax.random.split(key, n_chains)``
  (:func:`chain_keys`), whose ``i``-th key depends on ``key`` and ``i`` alone.

JAX's ``jax_threefry_partitionable`` (on by default since JAX 0.5) makes
both computable shard by shard without communication. Sums over the
sharded axis (mean gradients, log-mean-exp of AIS weights) are reduced in a
different order on different device counts and may differ in the last bits.

Which axis is the chain axis. By default the leading one. A state whose
chains sit on another axis says so with a ``chain_dims`` mapping from its field
names to the dimension of that field's leaves that indexes the chains (``None``:
not per chain, replicated), as a class attribute or, when it depends on the
instance, a property; :func:`chain_dims` reads the declarations of a pytree and
:func:`put_chains` / :func:`constrain_chains` accept its result as ``dim``. The
declaration describes the state as its kernel builds it for a batch of chains;
a batch made with ``jax.vmap`` over chains has the chain axis first on every
leaf and is placed with ``dim=0`` whatever the declaration
(:func:`~numpyro_ebm.diagnostics.run_chains` with ``batched=False``).

Composition with tempering. The tempering kernels stack replicas first,
``(n_replicas, n_chains, ...)``;
:class:`~numpyro_ebm.kernels.parallel_tempering.PTState` declares its chain axis
(1 for the replicas' states, 0 for the round trips, none for the step count),
so ``run_chains``, ``compare_samplers`` and ``fit`` split the chains and keep
each chain's whole temperature ladder on one device: replica swaps, which pair
neighbouring temperatures of the same chain, need no communication (the ladder
itself, a parameter, is replicated). ``put_chains(state, mesh, "replica",
dim=0)`` over a mesh axis of its own splits the ladder instead, and a swap then
exchanges data between devices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jax.tree_util import DictKey, GetAttrKey

try:  # JAX >= 0.7 exports shard_map at the top level
    from jax import shard_map
except ImportError:  # pragma: no cover - older JAX
    from jax.experimental.shard_map import shard_map

__all__ = [
    "CHAIN_AXIS",
    "DATA_AXIS",
    "MODEL_AXIS",
    "Mesh",
    "NamedSharding",
    "PartitionSpec",
    "shard_map",
    "check_mesh",
    "same_devices",
    "resolve_axis",
    "check_divisible",
    "validate_chain_mesh",
    "chain_sharding",
    "replicated",
    "sharding_for",
    "put",
    "chain_dims",
    "chain_count",
    "put_chains",
    "constrain_chains",
    "put_replicated",
    "chain_keys",
    "to_host",
    "make_mesh",
]

CHAIN_AXIS = "chain"
"""Mesh axis over which independent chains, AIS runs and tempering chains are split."""
DATA_AXIS = "data"
"""Mesh axis over which the examples of a minibatch are split in :func:`~numpyro_ebm.learning.fit.fit`."""
MODEL_AXIS = "model"
"""Conventional mesh axis for sharding a large weight matrix (the user's choice; see docs/scaling.md)."""


def make_mesh(n_devices: int | None = None, axis_names: Sequence[str] = (CHAIN_AXIS,)) -> Mesh:
    """A mesh of the first ``n_devices`` devices (all by default) with one axis (or a square-ish grid).

    For one axis this is ``Mesh(jax.devices()[:n_devices], axis_names)``; with
    several names the devices are reshaped to ``(n_devices // rest, *rest)``
    where every axis after the first has size 1 unless a shape is built by hand
    (``jax.make_mesh`` or ``Mesh(np.array(devices).reshape(...), names)``).
    """
    devices = jax.devices()
    n_devices = len(devices) if n_devices is None else n_devices
    if not isinstance(n_devices, int) or not 1 <= n_devices <= len(devices):
        raise ValueError(f"n_devices must be an integer in [1, {len(devices)}]; got {n_devices!r}")
    shape = (n_devices,) + (1,) * (len(axis_names) - 1)
    return Mesh(np.array(devices[:n_devices]).reshape(shape), tuple(axis_names))


def check_mesh(mesh, name: str = "mesh") -> Mesh:
    """Return ``mesh`` after checking it is a :class:`jax.sharding.Mesh`, with automatic axes.

    The library lets XLA's partitioner place intermediate values (axis type
    ``Auto``, the type of ``Mesh(devices, names)``). ``jax.make_mesh`` builds
    ``Explicit`` axes by default, under which every operation on a sharded
    array must state its output sharding; such a mesh is used as the same
    devices and names with ``Auto`` axes.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{name} must be a jax.sharding.Mesh; got {type(mesh).__name__}")
    auto = jax.sharding.AxisType.Auto
    if any(axis_type != auto for axis_type in mesh.axis_types):
        mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(auto,) * len(mesh.axis_names))
    return mesh


def same_devices(first: Mesh, second: Mesh) -> bool:
    """Whether two meshes have the same devices in the same places under the same axis names."""
    return first.axis_names == second.axis_names and np.array_equal(
        first.device_ids, second.device_ids
    )


def resolve_axis(mesh: Mesh, axis: str | None, default: str, argument: str) -> str | None:
    """The mesh axis to use: ``axis`` if given (it must exist), else ``default`` if the mesh has it.

    Raises
    ------
    ValueError
        If ``axis`` names no axis of ``mesh`` (the message lists the mesh's axes).
    """
    if axis is None:
        return default if default in mesh.axis_names else None
    if axis not in mesh.axis_names:
        raise ValueError(
            f"{argument}={axis!r} is not an axis of the mesh; its axes are {tuple(mesh.axis_names)}"
        )
    return axis


def check_divisible(count: int, mesh: Mesh, axis: str | None, what: str) -> None:
    """Raise ``ValueError`` unless ``count`` splits evenly over the mesh axis ``axis``."""
    if axis is None:
        return
    size = mesh.shape[axis]
    if count % size:
        raise ValueError(
            f"{what} ({count}) is not divisible by the size {size} of mesh axis {axis!r}: "
            f"every device must hold the same number; use a multiple of {size}"
        )


def validate_chain_mesh(mesh, axis: str | None, count: int, what: str) -> tuple[Mesh, str]:
    """Check ``mesh``; return it (see :func:`check_mesh`) and the axis ``count`` items are split over.

    ``axis`` defaults to ``"chain"``, which the mesh must then have. Raises a
    ``TypeError`` for a non-mesh and a ``ValueError`` for an unknown axis or a
    count not divisible by the axis size, before the caller compiles anything.
    """
    mesh = check_mesh(mesh)
    resolved = resolve_axis(mesh, axis, CHAIN_AXIS, "chain_axis")
    if resolved is None:
        raise ValueError(
            f"the mesh has no axis named {CHAIN_AXIS!r} (its axes are {tuple(mesh.axis_names)}); "
            "name the axis to split over with chain_axis=..."
        )
    check_divisible(count, mesh, resolved, what)
    return mesh, resolved


def chain_sharding(mesh: Mesh, axis: str | None = CHAIN_AXIS, dim: int = 0) -> NamedSharding:
    """Sharding splitting array dimension ``dim`` over mesh axis ``axis`` (replicated if None)."""
    return NamedSharding(mesh, PartitionSpec(*([None] * dim), axis))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding holding a full copy on every device of ``mesh`` (parameters)."""
    return NamedSharding(mesh, PartitionSpec())


def sharding_for(mesh: Mesh, *axes: str | None) -> NamedSharding:
    """``NamedSharding(mesh, PartitionSpec(*axes))``: dimension ``i`` over mesh axis ``axes[i]``."""
    return NamedSharding(mesh, PartitionSpec(*axes))


def put(x, sharding: NamedSharding):
    """Place ``x`` with ``sharding``; works across processes when every process has all of ``x``.

    On one process this is :func:`jax.device_put`. When the mesh spans several
    processes (``jax.distributed``), a host value (NumPy array, or a JAX array
    of this process) is cut with :func:`jax.make_array_from_callback`, each
    process supplying the shards of its own devices, so every process must pass
    the same value (the same data, the same seed).
    """
    if sharding.is_fully_addressable or (isinstance(x, jax.Array) and not x.is_fully_addressable):
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


_UNSET = object()


def _field_name(key):
    if isinstance(key, GetAttrKey):
        return key.name
    if isinstance(key, DictKey):
        return key.key
    return None


def _declared_dims(node) -> Mapping:
    """The ``chain_dims`` declaration of a pytree node (``{}`` if none), checked."""
    declared = getattr(node, "chain_dims", None)
    if declared is None:
        return {}
    name = type(node).__name__
    if not isinstance(declared, Mapping):
        raise TypeError(
            f"{name}.chain_dims must be a mapping from field names to a dimension (int) or None; "
            f"got {type(declared).__name__}"
        )
    fields = getattr(node, "_fields", None) or (node.keys() if isinstance(node, Mapping) else ())
    for field, dim in declared.items():
        if field not in fields:
            raise ValueError(
                f"{name}.chain_dims names {field!r}, which is not a field of {name} "
                f"(its fields are {tuple(fields)})"
            )
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 0):
            raise TypeError(
                f"{name}.chain_dims[{field!r}] must be a non-negative int or None; got {dim!r}"
            )
    return declared


def _collect_dims(node, forced, default, fields, out: list) -> None:
    count = len(jax.tree.leaves(node))
    if count == 0:
        return
    if forced is not _UNSET:
        out.extend([forced] * count)
        return
    children = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
    if len(children) == 1 and children[0][0] == ():  # node is a leaf
        out.append(default)
        return
    declared = _declared_dims(node)
    for path, child in children:
        name = _field_name(path[0])
        if name in declared:
            _collect_dims(child, declared[name], default, fields, out)
        else:
            _collect_dims(child, _UNSET, 0 if name in fields else default, fields, out)


def chain_dims(tree, default: int | None = 0, *, fields: Sequence[str] = ()):
    """The chain dimension of every leaf of ``tree``, from the nodes' ``chain_dims`` declarations.

    A pytree node (a NamedTuple state, say) may carry ``chain_dims``, a mapping
    from some of its field names to the dimension that indexes the chains in
    every leaf below that field, or ``None`` for leaves that are not per chain
    (a step size, a temperature ladder): they are replicated. A declaration
    covers everything below the field it names, and an outer declaration takes
    precedence over inner ones; fields it does not name are searched further.
    Leaves no declaration covers get ``default``, or ``0`` below a field whose
    name is in ``fields`` (the naming convention of the learning rules,
    :data:`numpyro_ebm.learning.layout.CHAIN_FIELDS`).

    Returns
    -------
    dims
        A pytree of ``tree``'s structure whose leaves are ints or ``None``, to pass as
        ``dim`` to :func:`put_chains` and :func:`constrain_chains`.

    Examples
    --------
    >>> class Ladder(NamedTuple):  # doctest: +SKIP
    ...     position: jax.Array  # (n_replicas, n_chains, D)
    ...     betas: jax.Array  # (n_replicas,)
    ...     chain_dims = {"position": 1, "betas": None}
    """
    leaves, treedef = jax.tree.flatten(tree)
    out: list = []
    _collect_dims(tree, _UNSET, default, tuple(fields), out)
    assert len(out) == len(leaves)
    return treedef.unflatten(out)


def _leaf_dims(tree, dim) -> tuple[list, object, list]:
    """Leaves, treedef and one dimension (int or None) per leaf: ``dim`` an int or a pytree."""
    leaves, treedef = jax.tree.flatten(tree)
    if dim is None or isinstance(dim, int):
        return leaves, treedef, [dim] * len(leaves)
    return leaves, treedef, list(treedef.flatten_up_to(dim))


def chain_count(tree, dim=None) -> int | None:
    """The number of chains along the chain dimensions (``dim``, default :func:`chain_dims` with
    ``default=None``) of ``tree``'s leaves; ``None`` if no leaf has one.

    Raises
    ------
    ValueError
        If the leaves disagree (the message lists the lengths found).
    """
    dim = chain_dims(tree, default=None) if dim is None else dim
    leaves, _, dims = _leaf_dims(tree, dim)
    counts = {int(np.shape(x)[d]) for x, d in zip(leaves, dims, strict=True) if _splits(x, d, None)}
    if len(counts) > 1:
        raise ValueError(
            "the leaves of the state disagree on the number of chains along their declared chain "
            f"dimensions: {sorted(counts)}; check the state's chain_dims"
        )
    return counts.pop() if counts else None


def _splits(x, dim, count: int | None) -> bool:
    shape = np.shape(x)
    return dim is not None and len(shape) > dim and (count is None or shape[dim] == count)


def put_chains(tree, mesh: Mesh, axis: str | None = CHAIN_AXIS, dim=0, count=None):
    """Place every leaf of ``tree`` with dimension ``dim`` (the chain axis) split over ``axis``.

    ``dim`` is one dimension for every leaf, or a pytree of them (ints or
    ``None``), e.g. :func:`chain_dims` of ``tree``. Leaves without that
    dimension (a shared step size), with ``dim`` ``None``, or, when ``count`` is
    given, whose dimension ``dim`` is not ``count`` long, are replicated.
    """
    whole = replicated(mesh)
    leaves, treedef, dims = _leaf_dims(tree, dim)
    return treedef.unflatten(
        [
            put(x, chain_sharding(mesh, axis, d) if _splits(x, d, count) else whole)
            for x, d in zip(leaves, dims, strict=True)
        ]
    )


def constrain_chains(tree, mesh: Mesh, axis: str | None = CHAIN_AXIS, dim=0, count=None):
    """Inside ``jit``: ask that leaves with dimension ``dim`` (of length ``count``) stay split.

    :func:`jax.lax.with_sharding_constraint` on the leaves :func:`put_chains`
    would split (``dim`` as there); other leaves are left to XLA's sharding
    propagation.
    """
    leaves, treedef, dims = _leaf_dims(tree, dim)
    return treedef.unflatten(
        [
            jax.lax.with_sharding_constraint(x, chain_sharding(mesh, axis, d))
            if _splits(x, d, count)
            else x
            for x, d in zip(leaves, dims, strict=True)
        ]
    )


def put_replicated(tree, mesh: Mesh):
    """Place every leaf of ``tree`` replicated over ``mesh``, keeping leaves already sharded on it.

    A leaf that already carries a :class:`~jax.sharding.NamedSharding` on
    ``mesh`` (for example a weight matrix the user split over a ``model`` axis)
    keeps its layout; everything else gets a full copy on every device.
    """
    whole = replicated(mesh)

    def place(x):
        current = getattr(x, "sharding", None)
        if isinstance(current, NamedSharding) and same_devices(current.mesh, mesh):
            return put(x, NamedSharding(mesh, current.spec))
        return put(x, whole)

    return jax.tree.map(place, tree)


def chain_keys(rng_key, n_chains: int):
    """One key a chain: ``jax.random.split(rng_key, n_chains)``.

    The key of chain ``i`` is a function of ``rng_key`` and ``i`` only (Threefry
    in counter mode), so it does not change with the number of devices the
    chains are split over; under ``jit`` with a sharded consumer each device
    computes only its own chains' keys.
    """
    return jax.random.split(rng_key, n_chains)


def to_host(tree):
    """Every leaf as a NumPy array on this host, gathering shards of other processes if needed.

    Used to write checkpoints and to compute host-side diagnostics of sharded
    state; fine at the sizes of chains and parameters (a 784 x 500 float32
    matrix is 1.6 MB).
    """

    def gather(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(gather, tree)
