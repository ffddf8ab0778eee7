r"""Mixing of persistent training chains: R-hat and ESS of their energy traces.

:func:`chain_energy_diagnostics` is what :func:`numpyro_ebm.learning.fit`
records every epoch (history keys :data:`CHAIN_DIAGNOSTICS`);
:func:`numpyro_ebm.plots.plot_mixing` draws them over training. The
implementation sits in ``numpyro_ebm._mixing``, a module left of every layer,
so that the training loop can use it without importing diagnostics (see
``docs/architecture.md``).
"""

from numpyro_ebm._mixing import CHAIN_DIAGNOSTICS, chain_energy_diagnostics

__all__ = ["chain_energy_diagnostics", "CHAIN_DIAGNOSTICS"]
