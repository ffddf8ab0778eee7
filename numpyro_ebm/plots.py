"""Headless PNG plots: image grids (samples, filters) and training curves.

Matplotlib is an optional dependency (``pip install numpyro_ebm[plot]``); it is
imported when a plot is made, with the non-interactive Agg backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["image_grid", "plot_filters", "plot_history"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("plotting needs matplotlib: pip install 'numpyro_ebm[plot]'") from error
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


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
    columns = min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys, strict=False):
        ax.plot(epochs, history[key], marker="." if len(epochs) < 60 else None)
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(keys) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
