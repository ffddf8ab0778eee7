"""numpyro_ebm: energy-based models and RBMs for NumPyro, BlackJAX, Optax and ArviZ.

Sign convention, used everywhere: an energy ``E(params, x)`` defines
``p(x) = exp(-E(x)) / Z``. BlackJAX receives the log density ``-E``; NumPyro's
``potential_fn`` receives ``E``. Only :mod:`numpyro_ebm.potentials` converts
between them.

Data flow (each module imports only from those to its left):
energies -> potentials -> kernels -> learning -> evaluation / diagnostics.
"""

from numpyro_ebm import (
    datasets,
    diagnostics,
    energies,
    evaluation,
    infer,
    kernels,
    learning,
    potentials,
    sharding,
)

__version__ = "0.1.0"
__all__ = [
    "datasets",
    "energies",
    "potentials",
    "kernels",
    "learning",
    "evaluation",
    "diagnostics",
    "infer",
    "sharding",
    "__version__",
]
