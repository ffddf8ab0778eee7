r"""Summaries and chain output as ArviZ data: :func:`to_inference_data`.

Lays :class:`~numpyro_ebm.diagnostics.summaries.ChainSummaries` out as ArviZ groups
(``posterior``, ``sample_stats`` and the full ``state``), the one path shared with
:func:`~numpyro_ebm.diagnostics.numpyro_mcmc.from_numpyro`. The container is ArviZ's
own: ``InferenceData`` on ArviZ 0.23, ``xarray.DataTree`` on ArviZ 1.x
(:mod:`numpyro_ebm._arviz` holds the difference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np

from numpyro_ebm import _arviz
from numpyro_ebm.diagnostics.summaries import ChainSummaries, field_names, summarize

# summary_datasets is public for numpyro_mcmc (the shared path) but not part of the API
__all__ = ["to_inference_data"]


# --------------------------------------------------------------------------------------
# ArviZ containers
# --------------------------------------------------------------------------------------


def _arrange(array, chain_axis) -> np.ndarray:
    """To numpy with the chain axis first: ``(chain, draw, ...)``."""
    array = np.asarray(jax.device_get(array))
    if chain_axis is None:
        return array[None]
    if chain_axis == 1:
        return np.swapaxes(array, 0, 1)
    return array


def _step_size_stat(step_size, n_chains: int, n_draws: int) -> np.ndarray:
    value = np.asarray(jax.device_get(step_size))
    if value.ndim == 0:
        return np.full((n_chains, n_draws), value)
    if value.shape == (n_chains,):
        return np.broadcast_to(value[:, None], (n_chains, n_draws)).copy()
    raise ValueError(
        f"step_size must be a scalar or have one value per chain, shape ({n_chains},); "
        f"got shape {value.shape}"
    )


def _datasets(summaries: ChainSummaries, chain_axis, step_size=None):
    import xarray as xr

    origin = _arviz.arviz().rcParams["data.index_origin"]
    arranged = {
        group: {name: _arrange(a, chain_axis) for name, a in getattr(summaries, group).items()}
        for group in ("posterior", "sample_stats", "state")
    }
    first = next(iter(arranged["posterior"].values()))
    n_chains, n_draws = first.shape[:2]
    if step_size is not None:
        arranged["sample_stats"]["step_size"] = _step_size_stat(step_size, n_chains, n_draws)
    labels = dict(summaries.coords)
    extra_dims = {(group, name): d for group, name, d in summaries.dims}
    datasets = {}
    for group, arrays in arranged.items():
        if not arrays:
            continue
        order = [n for g, n, _ in summaries.dims if g == group and n in arrays]
        order += [n for n in arrays if n not in order]
        data_vars, coords = (
            {},
            {
                "chain": np.arange(origin, origin + n_chains),
                "draw": np.arange(origin, origin + n_draws),
            },
        )
        for name in order:
            array = arrays[name]
            var_dims = extra_dims.get((group, name), ())
            if array.shape[:2] != (n_chains, n_draws) or array.ndim != 2 + len(var_dims):
                raise ValueError(
                    f"{group} variable {name!r} has shape {array.shape}; expected "
                    f"({n_chains}, {n_draws}) followed by {len(var_dims)} dimension(s)"
                )
            for dim, length in zip(var_dims, array.shape[2:], strict=True):
                coords.setdefault(dim, np.asarray(labels.get(dim, range(length))))
            data_vars[name] = (("chain", "draw") + tuple(var_dims), array)
        datasets[group] = xr.Dataset(
            data_vars, coords=coords, attrs=_arviz.make_attrs("numpyro_ebm")
        )
    return datasets


def summary_datasets(
    states,
    infos,
    *,
    chain_axis,
    step_size=None,
    groups=("posterior", "sample_stats", "state"),
    **options,
) -> dict:
    """The one path from chain output to ArviZ groups, shared by :func:`to_inference_data`
    and :func:`from_numpyro`: :func:`summarize` with ``options`` (unless ``states`` is
    already a :class:`ChainSummaries`), then the ``(chain, draw, ...)`` xarray datasets
    of ``groups``."""
    if isinstance(states, ChainSummaries):
        given = {"infos": infos, **options}
        extra = [
            name
            for name in ("infos", "energy_fn", "position", "coordinates", "projections")
            if given.get(name) is not None
        ]
        if extra:
            raise TypeError(
                f"states is already a ChainSummaries; {', '.join(extra)} cannot be applied "
                "again (pass them to summarize / the record of run_chains)"
            )
        summaries = states
    else:
        summaries = summarize(states, infos, batch_ndim=1 if chain_axis is None else 2, **options)
    if not summaries.posterior:
        raise ValueError("there is nothing to put in the posterior group")
    if step_size is not None and "step_size" in summaries.sample_stats:
        raise ValueError("the sample stats already hold a step_size; do not pass step_size again")
    summaries = ChainSummaries(
        *(
            getattr(summaries, g) if g in groups else {}
            for g in ("posterior", "sample_stats", "state")
        ),
        summaries.dims,
        summaries.coords,
    )
    return _datasets(summaries, chain_axis, step_size)


def _is_run_chains_output(states) -> bool:
    """A plain ``(state NamedTuple, info NamedTuple/dict/None)`` pair, as :func:`run_chains` returns."""
    return (
        type(states) is tuple
        and len(states) == 2
        and bool(field_names(states[0]))
        and (states[1] is None or bool(field_names(states[1])) or isinstance(states[1], Mapping))
    )


def _unpack_run_chains_output(states, infos):
    """Accept ``to_inference_data(run_chains(...))``: split the pair into states and infos."""
    if not _is_run_chains_output(states):
        return states, infos
    if infos is not None:
        raise TypeError(
            "states is a (states, infos) pair, as run_chains returns, and infos was also given; "
            "pass either to_inference_data(states, infos) or to_inference_data(run_chains(...))"
        )
    return states


def to_inference_data(
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
    chain_axis: int | None = 1,
):
    r"""Chains of any kernel as ArviZ data (``InferenceData`` on ArviZ 0.23, ``DataTree`` on 1.x).

    Parameters
    ----------
    states
        Stacked states (a state NamedTuple such as
        :class:`~numpyro_ebm.kernels.rbm_gibbs.RBMGibbsState` or BlackJAX's
        ``HMCState``; or the positions themselves), laid out as ``chain_axis``
        says. The ``(states, infos)`` pair that :func:`run_chains` returns may be
        passed as it is (then ``infos`` must be None). Or a :class:`ChainSummaries` already computed (e.g. by
        :func:`run_chains` with ``record=partial(summarize, ...)``); then no
        other summary argument may be given.
    infos
        Stacked infos (``HMCInfo``, ``NUTSInfo``, ``MALAInfo``, ``RWInfo``, this
        project's infos...) or None.
    energy_fn, params, position, coordinates, projections, keep_full_state, energy_name
        What to summarise; see :func:`summarize`.
    step_size
        The sampler's step size, a scalar or one value per chain; sample stat
        ``step_size``.
    chain_axis
        ``1`` (default): arrays are ``(draw, chain, ...)``, the layout of a
        ``lax.scan`` over steps of vmapped or batched chains (and of
        :func:`run_chains`). ``0``: ``(chain, draw, ...)``. ``None``: a single
        chain, ``(draw, ...)``.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        ArviZ's native container (:class:`arviz.InferenceData` on ArviZ 0.23,
        :class:`xarray.DataTree` on ArviZ 1.x) with the groups ``posterior``
        (the summaries only), ``sample_stats`` and, with ``keep_full_state``,
        ``state`` (the full position), dimensions ``(chain, draw, ...)``.
        ``idata.posterior``, ``idata.state["position"]``, ``az.summary``,
        ``az.rhat``, ``az.ess`` and ``az.extract`` read both alike.

    Notes
    -----
    ``az.summary(idata)``, ``az.plot_trace(idata)`` and ``az.plot_rank(idata)``
    read the ``posterior`` group only, so they show the summaries however large
    the state is (on ArviZ 1.x, ``az.plot_trace_dist`` is 0.23's
    ``az.plot_trace``). The full position is ``idata.state["position"]``; per-unit
    diagnostics with ``az.summary(idata, group="state")`` (or ``az.ess``,
    ``az.rhat`` on ``idata.state``). The arrays are built directly with xarray,
    so there is no "more chains than draws" warning for many short chains.

    Examples
    --------
    >>> states, infos = run_chains(key, rbm_gibbs.as_top_level_api(), v0, params, 1000)  # doctest: +SKIP
    >>> idata = to_inference_data(states, infos, energy_fn=bernoulli_rbm.free_energy,
    ...                           params=params, projections=pcs)  # doctest: +SKIP
    >>> az.summary(idata)  # doctest: +SKIP
    >>> idata.state["position"].sel(chain=0)  # doctest: +SKIP
    """
    if chain_axis not in (0, 1, None):
        raise ValueError(
            f"chain_axis must be 0 ((chain, draw, ...)), 1 ((draw, chain, ...)) or None "
            f"(one chain, (draw, ...)); got {chain_axis!r}"
        )
    states, infos = _unpack_run_chains_output(states, infos)
    datasets = summary_datasets(
        states,
        infos,
        chain_axis=chain_axis,
        step_size=step_size,
        energy_fn=energy_fn,
        params=params,
        position=position,
        coordinates=coordinates,
        projections=projections,
        keep_full_state=keep_full_state,
        energy_name=energy_name,
    )
    return _arviz.from_datasets(datasets)
