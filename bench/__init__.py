"""The benchmark scripts, run from the repository root as ``python -m bench.NAME``.

Each module is one benchmark with a ``main(argv=None)`` and the flags its docstring
lists; what they share lives in :mod:`bench._common` (timing, the machine line,
quadrature, the JSON summary) and :mod:`bench.recipes` (the MNIST scripts' optimizer
and parameter files). Importing this package loads nothing heavy (no JAX): the
fresh-process timings of ``bench.sklearn_digits`` start from it.
"""

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
"""The repository root: ``python -m bench.NAME`` runs here (subprocesses are started here)."""

RESULTS = Path(__file__).resolve().parent / "results"
"""Where the scripts write their JSON, parameters and figures unless told otherwise."""
