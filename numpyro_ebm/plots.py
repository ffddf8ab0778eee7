"""Headless PNG plots: image grids (samples, filters), training curves, mixing of the chains.

Matplotlib is an optional dependency (``pip install numpyro_ebm[plot]``); it is
imported when a plot is made, with the non-interactive Agg backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["image_grid", "plot_filters", "plot_history", "plot_mixing"]

MIXING_KEYS = ("chain_rhat", "chain_ess_bulk", "chain_ess_tail")


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("plotting needs matplotlib: pip install 'numpyro_ebm[plot]'") from error
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, dpi: int = 80) -> Path:
    """Lay out ``fig``, write it to ``path`` (creating its folder) as a PNG, and close it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt  # loaded by _pyplot already

    plt.close(fig)
    return path


def image_grid(
    images,
    image_shape: tuple[int, int],
    path,
    *,
    title: str | None = None,
    columns: int | None = None,
    symmetric: bool = False,
) -> Path:
    """Save rows of ``images`` (shape ``(n, H*W)``) as a grid of ``H x W`` tiles.

    ``symmetric=True`` centres the colour map at zero (for weights).
    """
    plt = _pyplot()
    images = np.asarray(images, dtype=np.float64).reshape((-1,) + tuple(image_shape))
    n = images.shape[0]
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(1.1 * columns, 1.1 * rows + (0.4 if title else 0)), squeeze=False
    )
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            if symmetric:
                bound = float(np.max(np.abs(images[i]))) or 1.0
                ax.imshow(images[i], cmap="RdBu_r", vmin=-bound, vmax=bound)
            else:
                ax.imshow(images[i], cmap="gray_r", vmin=0.0, vmax=1.0)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_filters(
    W, image_shape: tuple[int, int], path, *, title: str = "filters (columns of W)"
) -> Path:
    """Each hidden unit's weights (a column of ``W``) as an image, red positive, blue negative."""
    return image_grid(np.asarray(W).T, image_shape, path, title=title, symmetric=True)


def plot_history(
    history: dict, path, keys: Sequence[str] | None = None, *, title: str = "training"
) -> Path:
    """One panel per recorded quantity against the epoch."""
    plt = _pyplot()
    keys = [k for k in (keys or history) if k != "epoch" and k in history]
    if not keys:
        raise ValueError("history has nothing to plot")
    epochs = history.get("epoch", list(range(1, len(history[keys[0]]) + 1)))
    # two panels a row, saved at 120 dpi: the figure stays readable scaled to a page column
    columns = min(2, len(keys))
    rows = math.ceil(len(keys) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys, strict=False):
        ax.plot(epochs, history[key], marker="." if len(epochs) < 60 else None)
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(keys) :]:
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, path, dpi=120)


def _finite_or_nan(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def plot_mixing(
    history: dict,
    path,
    *,
    rhat_threshold: float = 1.1,
    rhat_cap: float = 5.0,
    title: str = "mixing of the persistent chains (energies within each epoch)",
) -> Path:
    """R-hat and bulk/tail ESS of the persistent chains' energies, and the acceptance rate, per epoch.

    Reads the ``history`` of :func:`numpyro_ebm.learning.fit.fit` (keys
    ``chain_rhat``, ``chain_ess_bulk``, ``chain_ess_tail`` and, when the kernel
    reports one, ``acceptance_rate``). The R-hat panel draws ``rhat_threshold``
    (1.1 by default): epochs above it, with a falling ESS, are where the negative
    phase stopped mixing. Rank normalization keeps R-hat below about 2 for chains
    that move at all; values above ``rhat_cap`` (chains frozen in distinct states:
    huge or infinite) are marked with triangles at the top of the panel. NaN (rules without persistent
    chains, such as CD-k, or epochs of fewer than 4 minibatches) leaves a gap.

    Raises
    ------
    ValueError
        If the history has none of the chain diagnostics.
    """
    if not any(key in history for key in MIXING_KEYS):
        raise ValueError(
            "history has no chain diagnostics (chain_rhat, chain_ess_bulk, chain_ess_tail); "
            "train with fit(..., chain_diagnostics=True) and a rule with persistent chains"
        )
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    length = len(next(history[key] for key in MIXING_KEYS if key in history))
    epochs = np.asarray(history.get("epoch", range(1, length + 1)), dtype=np.float64)
    marker = "." if length < 60 else None
    panels = ["rhat", "ess"] + (["acceptance"] if "acceptance_rate" in history else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    axes = dict(zip(panels, axes[0], strict=True))

    ax = axes["rhat"]
    if "chain_rhat" in history:
        raw = np.asarray(history["chain_rhat"], dtype=np.float64)
        frozen = raw > rhat_cap  # False for NaN
        rhat = np.where(frozen, np.nan, _finite_or_nan(raw))
        ax.plot(epochs, rhat, marker=marker, label="R-hat")
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.axhline(rhat_threshold, color="tab:red", ls="--", lw=0.8, label=f"{rhat_threshold:g}")
        if frozen.any():
            top = max(np.nanmax(rhat) if np.isfinite(rhat).any() else 0.0, rhat_threshold)
            ax.plot(
                epochs[frozen],
                np.full(int(frozen.sum()), 1.05 * top),
                "^",
                color="tab:red",
                label=f"> {rhat_cap:g} (frozen)",
            )
        if np.isnan(raw).all():
            ax.text(
                0.5,
                0.5,
                "not available\n(no persistent chains)",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        ax.legend(fontsize="small")
    ax.set_title("rank-normalized split R-hat")

    ax = axes["ess"]
    plotted = False
    for key, label in (("chain_ess_bulk", "bulk ESS"), ("chain_ess_tail", "tail ESS")):
        if key in history:
            values = _finite_or_nan(history[key])
            ax.plot(epochs, values, marker=marker, label=label)
            plotted = plotted or bool(np.isfinite(values).any())
    if plotted:
        finite = np.concatenate(
            [
                _finite_or_nan(history[k])
                for k in ("chain_ess_bulk", "chain_ess_tail")
                if k in history
            ]
        )
        finite = finite[np.isfinite(finite) & (finite > 0)]
        if finite.size and finite.max() > 10 * finite.min():  # log scale for a collapse
            ax.set_yscale("log")
        ax.legend(fontsize="small")
    else:
        ax.text(
            0.5,
            0.5,
            "not available\n(no persistent chains)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_title("effective sample size (all chains)")

    if "acceptance" in axes:
        ax = axes["acceptance"]
        ax.plot(epochs, _finite_or_nan(history["acceptance_rate"]), marker=marker)
        ax.set_ylim(0.0, 1.05)
        ax.set_title("acceptance rate")
    for ax in axes.values():
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)
