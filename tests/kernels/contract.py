"""The contract every kernel in numpyro_ebm must satisfy (cf. Optax's shared tests).

A kernel module registers itself by adding ``tests/kernels/specs_<name>.py``
with a module-level ``SPECS`` list of :class:`KernelSpec`. ``test_contract.py``
collects them all and checks, for each:

- ``step`` compiles under ``jax.jit`` and returns a state of the same structure,
  shapes and dtypes as the one it was given;
- the same key gives the same result (purity);
- ``vmap`` over chains (init and step) works and chains differ;
- changing the parameter values does not retrace the jitted step;
- float64 positions and parameters stay float64 (under ``jax.enable_x64``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """How to run one kernel in the contract suite.

    Attributes
    ----------
    name
        Test id.
    make_algorithm
        ``() -> SamplingAlgorithm`` whose ``init(position, params)`` and
        ``step(rng_key, state, params)`` follow the project's contract.
    make_params
        ``(dtype, variant) -> params`` pytree; ``variant`` 0 and 1 give different
        values of the same structure (used for the no-retrace check).
    make_position
        ``(dtype) -> position`` for a single chain (no chain dimension).
    get_position
        ``state -> position`` pytree.
    supports_float64
        Whether the float64 check applies.
    """

    name: str
    make_algorithm: Callable[[], Any]
    make_params: Callable[[Any, int], Any]
    make_position: Callable[[Any], Any]
    get_position: Callable[[Any], Any]
    supports_float64: bool = True
