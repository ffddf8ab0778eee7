"""Data the library ships or can read, with no download.

- :func:`load_digits`: the 1,797 8×8 handwritten digits of the UCI "Optical
  Recognition of Handwritten Digits" set (as distributed with scikit-learn,
  CC BY 4.0), embedded in the package so the demo and tests need no network.
"""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["Split", "load_digits", "binarize_threshold"]


class Split(NamedTuple):
    """A train/test split of images (rows) and labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def binarize_threshold(x: np.ndarray, threshold: float) -> np.ndarray:
    """``1.0`` where ``x >= threshold``, else ``0.0`` (float32)."""
    return (np.asarray(x) >= threshold).astype(np.float32)


def load_digits(
    binarize: bool = True, threshold: int = 8, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    """The embedded 8×8 digits, flattened to 64 columns.

    Parameters
    ----------
    binarize
        If true, pixels (0..16 ink levels) become ``1.0`` where ``>= threshold``;
        otherwise they are scaled to ``[0, 1]``.
    threshold
        Ink level at which a pixel counts as on.
    test_fraction
        Fraction of images held out, chosen by a permutation from ``seed``.
    seed
        Seed of :func:`numpy.random.default_rng` for the split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    with resources.files("numpyro_ebm.data").joinpath("digits8x8.npz").open("rb") as f:
        with np.load(f) as archive:
            images = archive["images"].reshape(-1, 64)
            labels = archive["labels"].astype(np.int64)
    x = binarize_threshold(images, threshold) if binarize else (images / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return Split(x[train], labels[train], x[test], labels[test])
