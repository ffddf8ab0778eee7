r"""A NumPyro ``MCMC`` run as ArviZ data with this project's summaries: :func:`from_numpyro`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from numpyro_ebm import _arviz
from numpyro_ebm.diagnostics.conversion import summary_datasets

__all__ = ["NUMPYRO_EXTRA_FIELDS", "from_numpyro"]

NUMPYRO_EXTRA_FIELDS = (
    "potential_energy",
    "energy",
    "diverging",
    "accept_prob",
    "num_steps",
    "adapt_state.step_size",
)
"""``extra_fields`` for ``MCMC.run`` with NumPyro's ``HMC``/``NUTS`` so that
``az.from_numpyro`` (and :func:`from_numpyro`) fill ``lp``, ``energy`` (needed by
``az.plot_energy``), ``diverging``, ``acceptance_rate``, ``n_steps``,
``tree_depth`` and ``step_size``."""


def from_numpyro(
    mcmc,
    *,
    site: str | None = None,
    energy_fn: Callable | None = None,
    params=None,
    coordinates: Sequence | Mapping | None = None,
    projections=None,
    keep_full_state: bool = True,
    energy_name: str = "free_energy",
    **kwargs,
):
    r"""``az.from_numpyro(mcmc, **kwargs)`` with the state site replaced by its summaries.

    Parameters
    ----------
    mcmc
        A NumPyro ``MCMC`` that has run. Run it with
        ``extra_fields=NUMPYRO_EXTRA_FIELDS`` to get ``lp``, ``energy`` (for
        ``az.plot_energy``), ``diverging``, ``acceptance_rate``, ``n_steps``,
        ``tree_depth`` and ``step_size`` in ``sample_stats``.
    site
        The sample site holding the state (needed when there are several). For
        ``MCMC(NUTS(potential_fn=...))`` name it with
        :func:`numpyro_ebm.potentials.potential_fn` ``(..., site=...)`` and
        ``init_params={site: x0}``; unnamed (non-dict) samples are summarised as
        a whole. Integer (discrete) values are cast to floats for the summaries.
    energy_fn, params, coordinates, projections, energy_name
        As in :func:`summarize`; ``energy_fn`` sees the value of ``site``.
    keep_full_state
        Move the state site (ArviZ's name and dimensions) to the ``state``
        group; without it the site is dropped.
    **kwargs
        Passed to :func:`arviz.from_numpyro` (``coords``, ``dims``, ...).

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        ArviZ's conversion (``InferenceData`` on 0.23, ``DataTree`` on 1.x), whose ``posterior`` holds the summaries followed by
        the model's other sample sites (the state site is not there: it is in
        ``state``, e.g. ``idata.state["x"]``).
    """
    import xarray as xr

    idata = _arviz.from_numpyro(mcmc, **kwargs)
    posterior = _arviz.group(idata, "posterior")
    samples = mcmc.get_samples(group_by_chain=True)
    if isinstance(samples, dict):
        if site is None:
            if len(samples) != 1:
                raise ValueError(
                    f"the run has several sample sites {sorted(samples)}; pass site=<name> "
                    "of the one holding the state"
                )
            site = next(iter(samples))
        if site not in samples:
            raise ValueError(f"no sample site {site!r}; the sites are {sorted(samples)}")
        state, state_vars = samples[site], [site]
    else:
        if site is not None:
            raise ValueError("site= needs samples named by site (a dict); these are not")
        state = samples
        state_vars = [name for name in posterior.data_vars if name.startswith("Param:")]
    new = summary_datasets(
        state,
        None,
        chain_axis=0,
        groups=("posterior",),
        energy_fn=energy_fn,
        params=params,
        coordinates=coordinates,
        projections=projections,
        keep_full_state=False,
        energy_name=energy_name,
    )
    others = {name: var for name, var in posterior.data_vars.items() if name not in state_vars}
    _arviz.set_group(
        idata,
        "posterior",
        xr.Dataset({**new["posterior"].data_vars, **others}, attrs=dict(posterior.attrs)),
    )
    if keep_full_state:
        state_group = xr.Dataset(
            {name: posterior[name] for name in state_vars}, attrs=dict(posterior.attrs)
        )
        _arviz.set_group(idata, "state", state_group)
    return idata
