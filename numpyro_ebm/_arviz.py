"""The one place that knows which ArviZ line is installed.

Two lines are supported, chosen by the interpreter (see ``pyproject.toml``):

- ArviZ 0.23 (Python 3.11): chains become an :class:`arviz.InferenceData`;
- ArviZ 1.x (Python >= 3.12; the ``arviz-base``, ``arviz-stats`` and
  ``arviz-plots`` packages behind the ``arviz`` namespace): chains become the
  native :class:`xarray.DataTree`, one child node a group.

Both hold the same groups (``posterior``, ``sample_stats``, ``state``) of
:class:`xarray.Dataset`-like nodes with ``(chain, draw, ...)`` dimensions, and
``az.summary``, ``az.rhat``, ``az.ess``, ``az.extract`` and ``az.from_netcdf``
take either with the same arguments. What differs is small and lives here:
how a container is built from datasets, how a group is read, replaced, added
and listed, and what an ArviZ plot returns (axes on 0.23, a ``PlotCollection``
on 1.x). The rest of the library calls these functions and never branches on
the version.

ArviZ is imported on first use: importing it takes a second or two.

References
----------
Kumar, R., Carroll, C., Hartikainen, A. & Martin, O. (2019). ArviZ a unified
library for exploratory analysis of Bayesian models in Python. *JOSS* 4(33).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping

__all__ = [
    "arviz",
    "is_datatree_line",
    "container_type",
    "make_attrs",
    "from_datasets",
    "from_numpyro",
    "group_names",
    "group",
    "set_group",
    "summary",
    "rhat",
    "ess",
    "plot",
]

# Tail ESS is the smaller of the ESS of the 5% and 95% quantiles (Vehtari et al.
# 2021), which is ArviZ 0.23's fixed choice. ArviZ 1.x takes the quantiles from
# ``stats.ci_prob`` (default 0.89, i.e. 11% and 89%) in ``az.summary`` and
# requires them for arrays; giving it 5% and 95% makes both lines agree.
_TAIL_PROBS = (0.05, 0.95)

# ArviZ 0.23 name -> ArviZ 1.x name, where the function was renamed. 0.23's
# ``plot_trace`` draws a density and a trace per variable; on 1.x that is
# ``plot_trace_dist`` (1.x's ``plot_trace`` draws the traces only).
_PLOT_NAMES_1X = {"plot_trace": "plot_trace_dist"}


_REFACTOR_NOTICE = r"\s*ArviZ is undergoing a major refactor"
"""The start of ArviZ 0.23's once-a-day ``FutureWarning`` at import: it is about ArviZ's
own future API, which this module already covers, and a user of numpyro_ebm can do
nothing about it. Only that warning is silenced, only while this module imports ArviZ."""


@functools.cache
def arviz():
    """The ``arviz`` module (imported on first call)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_REFACTOR_NOTICE, category=FutureWarning)
        import arviz as az

    return az


@functools.cache
def is_datatree_line() -> bool:
    """True on ArviZ 1.x (``DataTree``), False on the 0.x line (``InferenceData``)."""
    return int(arviz().__version__.split(".")[0]) >= 1


def container_type() -> type:
    """:class:`xarray.DataTree` on ArviZ 1.x, :class:`arviz.InferenceData` on 0.23."""
    if is_datatree_line():
        import xarray as xr

        return xr.DataTree
    return arviz().InferenceData


def make_attrs(inference_library: str) -> dict:
    """Attributes of a group, under the installed line's own keys."""
    az = arviz()
    created_at = datetime.datetime.now(datetime.UTC).isoformat()
    if is_datatree_line():
        return {
            "created_at": created_at,
            "creation_library": "ArviZ",
            "creation_library_version": az.__version__,
            "creation_library_language": "Python",
            "inference_library": inference_library,
        }
    return {
        "created_at": created_at,
        "arviz_version": az.__version__,
        "inference_library": inference_library,
    }


def from_datasets(groups: Mapping):
    """``{group name: xarray.Dataset}`` as the installed line's container, groups in order."""
    if is_datatree_line():
        import xarray as xr

        return xr.DataTree.from_dict(dict(groups))
    return arviz().InferenceData(**groups)


def from_numpyro(mcmc, **kwargs):
    """``az.from_numpyro(mcmc, **kwargs)``: ``InferenceData`` on 0.23, ``DataTree`` on 1.x."""
    return arviz().from_numpyro(mcmc, **kwargs)


def group_names(data) -> list[str]:
    """Names of the groups of ``data`` in order, e.g. ``["posterior", "sample_stats", "state"]``."""
    if is_datatree_line():
        return list(data.children)
    return list(data.groups())


def group(data, name: str):
    """Group ``name`` of ``data`` as an :class:`xarray.Dataset`, or None if there is none."""
    if name not in group_names(data):
        return None
    if is_datatree_line():
        return data[name].to_dataset()
    return getattr(data, name)


def set_group(data, name: str, dataset) -> None:
    """Replace group ``name`` of ``data`` by ``dataset``, or add it (after the others), in place."""
    if is_datatree_line():
        import xarray as xr

        data[name] = xr.DataTree(dataset)
    elif name in data.groups():
        setattr(data, name, dataset)
    else:
        data.add_groups({name: dataset})


def summary(data, **kwargs):
    """``az.summary(data, kind="all", round_to="none", **kwargs)``, the same columns on both lines.

    Columns used by this library: ``mean``, ``mcse_mean``, ``ess_bulk``,
    ``ess_tail`` (5% and 95% quantiles on both lines), ``r_hat``. The
    credible-interval columns differ (0.23: ``hdi_3%``, ``hdi_97%``; 1.x:
    ``eti95_lb``, ``eti95_ub``).
    """
    az = arviz()
    kwargs = {"kind": "all", "round_to": "none", **kwargs}
    if is_datatree_line():
        # 1.x's tail ESS uses the quantiles ci_prob and 1 - ci_prob
        with az.rc_context({"stats.ci_prob": _TAIL_PROBS[1]}):
            return az.summary(data, **kwargs)
    return az.summary(data, **kwargs)


def rhat(chains) -> float:
    """Rank-normalized split R-hat of a ``(chain, draw)`` array (Vehtari et al. 2021)."""
    return float(arviz().rhat(chains, method="rank"))


def ess(chains, method: str) -> float:
    """``"bulk"`` or ``"tail"`` ESS of a ``(chain, draw)`` array, summed over the chains."""
    if method not in ("bulk", "tail"):
        raise ValueError(f"method must be 'bulk' or 'tail'; got {method!r}")
    kwargs = {"prob": _TAIL_PROBS} if method == "tail" and is_datatree_line() else {}
    return float(arviz().ess(chains, method=method, **kwargs))


def plot(name: str, data, **kwargs):
    """Draw ArviZ plot ``name`` (0.23's name, e.g. ``"plot_trace"``) and return its figure.

    On 1.x the function of the same purpose is called (``plot_trace`` becomes
    ``plot_trace_dist``) with the matplotlib backend; both lines give a
    :class:`matplotlib.figure.Figure`, which the caller saves and closes.
    """
    az = arviz()
    if is_datatree_line():
        collection = getattr(az, _PLOT_NAMES_1X.get(name, name))(
            data, backend="matplotlib", **kwargs
        )
        return collection.viz["figure"].item()
    import numpy as np

    axes = getattr(az, name)(data, **kwargs)
    return np.ravel(axes)[0].get_figure()
