r"""Where the training state lives on a device mesh: :class:`TrainingLayout` for ``fit(..., mesh=)``.

:func:`~numpyro_ebm.learning.fit.fit` with a :class:`jax.sharding.Mesh` places

- the **persistent chains** of the rule (every leaf under a state field named
  ``chains``, as in :class:`~numpyro_ebm.learning.contrastive_divergence.PCDState`,
  ``FPCDState``, the closed-form RBM rules, ``dbm_pcd`` and ``copies_rbm_pcd``,
  also inside the centered and sparsity wrappers; and the replay buffer, field
  ``buffer``) split along their chain dimension over the mesh axis ``chain``:
  the leading one, unless a state declares another (``chain_dims``, see
  :func:`numpyro_ebm.sharding.chain_dims`). Parallel-tempering states
  (:mod:`~numpyro_ebm.learning.tempered`) are ``(n_replicas, n_chains, ...)``
  and declare dimension 1, so each chain's ladder stays on one device and
  the swaps do not communicate; a rule state of your own can declare which of
  its fields hold chains and along which dimension, with no field named
  ``chains``;
- each **minibatch** split along its examples over the mesh axis ``data``; the
  gradient is a mean over the batch (and over the chains), so XLA reduces it
  across both axes with an all-reduce;
- the **parameters** and the optimizer state replicated, except leaves the user
  already placed with a :class:`~jax.sharding.NamedSharding` on the same mesh
  (a weight matrix split over a ``model`` axis keeps that layout, and Optax's
  moment estimates, built with ``zeros_like``, follow it);
- the training data replicated (each epoch shuffles it with one permutation).

The compiled epoch is the same function as without a mesh; a sharding
constraint keeps the state's layout from one epoch to the next. Random numbers
are drawn by global chain index, so the run does not depend on the number of
devices (see :mod:`numpyro_ebm.sharding`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from numpyro_ebm import sharding

__all__ = ["CHAIN_FIELDS", "TrainingLayout", "chain_leaf_dims", "chain_leaf_mask"]

CHAIN_FIELDS = ("chains", "buffer")
"""Rule-state fields whose leaves have a leading chain dimension split over the ``chain`` axis."""


def chain_leaf_dims(tree):
    """The chain dimension of every leaf (an int, or None for leaves that are not chains).

    Leaves below a field named in :data:`CHAIN_FIELDS` have dimension 0 unless a
    state declares otherwise; any state may declare chain dimensions for its
    fields (:func:`numpyro_ebm.sharding.chain_dims`).
    """
    return sharding.chain_dims(tree, default=None, fields=CHAIN_FIELDS)


def chain_leaf_mask(tree):
    """A pytree of booleans: True for the leaves :func:`chain_leaf_dims` gives a dimension."""
    treedef = jax.tree.structure(tree)
    dims = treedef.flatten_up_to(chain_leaf_dims(tree))
    return treedef.unflatten([d is not None for d in dims])


class TrainingLayout(NamedTuple):
    """Mesh, axes, and the sharding of every leaf of the training state."""

    mesh: Any
    chain_axis: str | None
    data_axis: str | None

    @classmethod
    def create(cls, mesh, chain_axis, data_axis, batch_size: int, state_shapes) -> TrainingLayout:
        """Validate the mesh against the batch size and the chains (shapes only, nothing compiled).

        ``state_shapes`` is the training state as ``jax.ShapeDtypeStruct`` leaves
        (``jax.eval_shape`` of its construction).
        """
        mesh = sharding.check_mesh(mesh)
        chain = sharding.resolve_axis(mesh, chain_axis, sharding.CHAIN_AXIS, "chain_axis")
        data = sharding.resolve_axis(mesh, data_axis, sharding.DATA_AXIS, "data_axis")
        if chain is None and data is None:
            raise ValueError(
                f"the mesh has neither a {sharding.CHAIN_AXIS!r} nor a {sharding.DATA_AXIS!r} axis "
                f"(its axes are {tuple(mesh.axis_names)}); name the axes with chain_axis=... "
                "and/or data_axis=..."
            )
        sharding.check_divisible(batch_size, mesh, data, "batch_size")
        leaves, treedef = jax.tree.flatten(state_shapes)
        dims = treedef.flatten_up_to(chain_leaf_dims(state_shapes))
        counts = {
            int(leaf.shape[dim])
            for leaf, dim in zip(leaves, dims, strict=True)
            if dim is not None and len(leaf.shape) > dim
        }
        for count in sorted(counts):
            sharding.check_divisible(count, mesh, chain, "the number of persistent chains")
        return cls(mesh, chain, data)

    def place_params(self, params):
        """Parameters replicated, unless already placed on this mesh (e.g. over a ``model`` axis)."""
        return sharding.put_replicated(params, self.mesh)

    def place_state(self, state):
        """Chains split over the chain axis (when there is one), everything else replicated or kept."""
        leaves, treedef = jax.tree.flatten(state)
        dims = treedef.flatten_up_to(chain_leaf_dims(state))
        whole = sharding.replicated(self.mesh)

        def place(x, dim):
            if dim is not None and self.chain_axis is not None and np.ndim(x) > dim:
                return sharding.put(x, sharding.chain_sharding(self.mesh, self.chain_axis, dim))
            current = getattr(x, "sharding", None)
            if isinstance(current, sharding.NamedSharding) and sharding.same_devices(
                current.mesh, self.mesh
            ):
                return sharding.put(x, sharding.NamedSharding(self.mesh, current.spec))
            return sharding.put(x, whole)

        return treedef.unflatten([place(x, d) for x, d in zip(leaves, dims, strict=True)])

    def place_data(self, data):
        """The training data, replicated on every device."""
        return sharding.put(data, sharding.replicated(self.mesh))

    def shardings(self, state):
        """The sharding of every leaf of a placed state."""
        return jax.tree.map(lambda x: x.sharding, state)

    def constrain_batch(self, batch):
        """Inside the compiled epoch: one minibatch ``(batch, ...)`` split over ``data``."""
        if self.data_axis is None:
            return batch
        return jax.lax.with_sharding_constraint(
            batch, sharding.chain_sharding(self.mesh, self.data_axis, dim=0)
        )
