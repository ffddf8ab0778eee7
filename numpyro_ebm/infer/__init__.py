"""NumPyro inference for energy-based models, mirroring ``numpyro.infer``.

- :mod:`contrastive`: :class:`ContrastiveDivergence`, SVI's shape with CD's gradient: learns
  the ``numpyro.param`` sites of a model with unnormalized terms by (persistent) CD;
- :mod:`exchange`: :class:`Exchange`, an ``MCMCKernel`` for posteriors over energy
  parameters (the exchange algorithm), with the auxiliary draws of :mod:`auxiliary`
  (exact enumeration, exact coupling from the past, approximate double MH).
"""

from numpyro_ebm.infer import auxiliary, contrastive, exchange
from numpyro_ebm.infer.auxiliary import (
    AUXILIARY_METHODS,
    cftp_draw,
    double_mh_draw,
    element_energy,
    enumerate_draw,
    monotone_violation,
)
from numpyro_ebm.infer.contrastive import ContrastiveDivergence, ContrastiveDivergenceRunResult
from numpyro_ebm.infer.exchange import Exchange, ExchangeState
from numpyro_ebm.infer.sample import sample
from numpyro_ebm.infer.sample import to_inference_data as sample_to_inference_data

__all__ = [
    "contrastive",
    "ContrastiveDivergence",
    "ContrastiveDivergenceRunResult",
    "sample",
    "sample_to_inference_data",
    "auxiliary",
    "exchange",
    "AUXILIARY_METHODS",
    "element_energy",
    "enumerate_draw",
    "cftp_draw",
    "double_mh_draw",
    "monotone_violation",
    "Exchange",
    "ExchangeState",
]
