r"""Conversion to ArviZ, split by job (old import path, kept for existing code).

- :mod:`~numpyro_ebm.diagnostics.summaries`: :func:`summarize`, :class:`ChainSummaries`,
  :data:`SAMPLE_STAT_NAMES`;
- :mod:`~numpyro_ebm.diagnostics.conversion`: :func:`to_inference_data`;
- :mod:`~numpyro_ebm.diagnostics.numpyro_mcmc`: :func:`from_numpyro`,
  :data:`NUMPYRO_EXTRA_FIELDS`.
"""

from numpyro_ebm.diagnostics.conversion import to_inference_data
from numpyro_ebm.diagnostics.numpyro_mcmc import NUMPYRO_EXTRA_FIELDS, from_numpyro
from numpyro_ebm.diagnostics.summaries import SAMPLE_STAT_NAMES, ChainSummaries, summarize

__all__ = [
    "ChainSummaries",
    "SAMPLE_STAT_NAMES",
    "NUMPYRO_EXTRA_FIELDS",
    "summarize",
    "to_inference_data",
    "from_numpyro",
]
