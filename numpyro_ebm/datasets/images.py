r"""Image data: the embedded 8×8 digits, MNIST from a local file, and binarisation.

:func:`load_digits` needs no file (the digits are embedded in the package);
:func:`load_mnist` reads a local ``.npz`` or IDX directory and never downloads
(:func:`numpyro_ebm.datasets.downloads.download` is the opt-in helper).

References
----------
LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning
applied to document recognition. *Proc. IEEE* 86(11). (MNIST and the IDX format.)
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*. (Stochastically binarized MNIST.)
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zipfile
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "Split",
    "load_digits",
    "binarize_threshold",
    "binarize_stochastic",
    "MNIST_ENV_VAR",
    "MNIST_IDX_FILES",
    "MNIST_NPZ_URL",
    "MNIST_NPZ_SHA256",
    "load_mnist",
]


class Split(NamedTuple):
    """A train/test split of images (rows) and labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def binarize_threshold(x: np.ndarray, threshold: float) -> np.ndarray:
    """``1.0`` where ``x >= threshold``, else ``0.0`` (float32)."""
    return (np.asarray(x) >= threshold).astype(np.float32)


def binarize_stochastic(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``1.0`` with probability ``x`` (``x`` in ``[0, 1]``), as ``(rng.random(x.shape) < x)``.

    Draws exactly ``x.size`` uniforms from ``rng`` in C order, so applying it to
    the training set and then to the test set with one
    ``numpy.random.default_rng(0)`` reproduces the project's binarized-MNIST
    convention (:func:`load_mnist` does this for you). Returns float32.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"binarize_stochastic expects probabilities in [0, 1] as a float array; got dtype "
            f"{x.dtype}. Scale first (e.g. images / 255)."
        )
    if np.isnan(x).any() or (x.size and (x.min() < 0 or x.max() > 1)):
        raise ValueError(
            "binarize_stochastic expects probabilities in [0, 1]; found values outside"
        )
    return (rng.random(x.shape) < x).astype(np.float32)


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


#: Environment variable naming the MNIST file (or IDX directory) used when
#: :func:`load_mnist` gets no path.
MNIST_ENV_VAR = "NUMPYRO_EBM_MNIST"

#: The four original IDX files (each may also be gzipped, with a ``.gz`` suffix).
MNIST_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

#: The ``mnist.npz`` distributed by Keras (keys ``x_train``, ``y_train``,
#: ``x_test``, ``y_test``) and its published SHA-256, for :func:`download`.
MNIST_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_IMAGE_SHAPE = (28, 28)
# Rows of images binarized per step: bounds the float64 temporaries (the
# uniform stream is the same as one draw over the whole array, see load_mnist).
_BINARIZE_CHUNK_ROWS = 4096

_HOW_TO_POINT = (
    f"Pass the path of an .npz archive (keys x_train, y_train, x_test, y_test; uint8 "
    f"N×28×28 images) or of a directory holding the four IDX files "
    f"({', '.join(MNIST_IDX_FILES.values())}, optionally .gz), e.g. "
    f"load_mnist('/data/mnist.npz'), or set the environment variable {MNIST_ENV_VAR} to it "
    f"(export {MNIST_ENV_VAR}=/data/mnist.npz). With internet access, "
    f"numpyro_ebm.datasets.download(MNIST_NPZ_URL, destination, MNIST_NPZ_SHA256) fetches "
    f"and verifies a copy."
)


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    binarize: str | None = "stochastic",
    flatten: bool = True,
    threshold: float = 0.5,
    seed: int = 0,
) -> Split:
    """MNIST from a local file, scaled to ``[0, 1]`` and binarized by the project's convention.

    Never downloads (see :func:`download`).

    Parameters
    ----------
    path
        An ``.npz`` archive with uint8 arrays ``x_train`` (``N×28×28``),
        ``y_train`` (``N``), ``x_test``, ``y_test`` (the layout of Keras'
        ``mnist.npz``), or a directory with the four IDX files of
        :data:`MNIST_IDX_FILES` (each plain or ``.gz``; a plain file wins when
        both exist). Defaults to the environment variable ``NUMPYRO_EBM_MNIST``.
    binarize
        ``"stochastic"`` (default): the project's convention for binarized
        MNIST. With ``rng = numpy.random.default_rng(seed)``, the training images
        are binarized first, then the test images, each as
        ``(rng.random(x.shape) < x / 255)`` on the arrays with the shape they
        have in the file (``60000×28×28``, then ``10000×28×28``), in float64, so
        the result is bit-for-bit what someone following ``../shared/README.md``
        gets (the draws are made in row blocks to bound memory; the uniform
        stream is the same). ``"threshold"``: ``1.0`` where
        ``x / 255 >= threshold``. ``None``: the grey levels ``x / 255``.
    flatten
        Return images as rows of 784 pixels (default) or as ``N×28×28``.
    threshold
        Used by ``binarize="threshold"`` only.
    seed
        Seed of the stochastic binarization; the convention is 0.

    Returns
    -------
    Split
        float32 images and int64 labels.

    Raises
    ------
    FileNotFoundError
        No path given and ``NUMPYRO_EBM_MNIST`` unset, or the file is missing.
    ValueError
        The file is not a readable ``.npz``/IDX set, or its keys, shapes,
        dtypes or labels are wrong.
    """
    if binarize not in ("stochastic", "threshold", None):
        raise ValueError(f"binarize must be 'stochastic', 'threshold' or None; got {binarize!r}")
    path = _mnist_path(path)
    arrays = _read_mnist_dir(path) if path.is_dir() else _read_mnist_npz(path)
    for part in ("train", "test"):
        _check_mnist_part(arrays[f"x_{part}"], arrays[f"y_{part}"], part, path)

    rng = np.random.default_rng(seed) if binarize == "stochastic" else None
    images = {}
    for part in ("train", "test"):  # order matters: the training set draws first
        raw = arrays[f"x_{part}"]
        if binarize == "stochastic":
            x = _binarize_uint8_stochastic(raw, rng)
        elif binarize == "threshold":
            x = binarize_threshold(raw / 255.0, threshold)
        else:
            x = (raw / 255.0).astype(np.float32)
        images[part] = x.reshape(len(x), -1) if flatten else x
    return Split(
        images["train"],
        arrays["y_train"].astype(np.int64),
        images["test"],
        arrays["y_test"].astype(np.int64),
    )


def _binarize_uint8_stochastic(raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # rng.random fills in C order, one double per element, so consecutive row
    # blocks consume the stream exactly as rng.random(raw.shape) does.
    out = np.empty(raw.shape, dtype=np.float32)
    for start in range(0, len(raw), _BINARIZE_CHUNK_ROWS):
        block = raw[start : start + _BINARIZE_CHUNK_ROWS] / 255.0
        out[start : start + len(block)] = rng.random(block.shape) < block
    return out


def _mnist_path(path) -> Path:
    if path is None:
        path = os.environ.get(MNIST_ENV_VAR)
        if not path:
            raise FileNotFoundError(
                f"load_mnist needs a local copy of MNIST: no path was given and the "
                f"environment variable {MNIST_ENV_VAR} is not set. {_HOW_TO_POINT}"
            )
        source = f" (from the environment variable {MNIST_ENV_VAR})"
    else:
        source = ""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"MNIST file {str(path)!r}{source} does not exist. {_HOW_TO_POINT}")
    return path


def _read_mnist_npz(path: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is neither an .npz archive nor a directory of IDX files. {_HOW_TO_POINT}"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in MNIST_IDX_FILES if k not in archive.files]
            if missing:
                raise ValueError(
                    f"{str(path)!r} lacks the key(s) {missing}; an MNIST .npz needs x_train, "
                    f"y_train, x_test, y_test and has {sorted(archive.files)}"
                )
            return {k: archive[k] for k in MNIST_IDX_FILES}
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"could not read the .npz archive {str(path)!r}: {err}") from err


def _read_mnist_dir(path: Path) -> dict[str, np.ndarray]:
    files = {}
    for key, name in MNIST_IDX_FILES.items():
        candidates = [path / name, path / f"{name}.gz"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"the MNIST directory {str(path)!r} has no {name} (nor {name}.gz); it needs "
                f"all four IDX files. {_HOW_TO_POINT}"
            )
        files[key] = found
    return {
        key: _read_idx(file, ndim=3 if key.startswith("x") else 1) for key, file in files.items()
    }


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (LeCun's format, optionally gzipped)."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"could not read the IDX file {str(path)!r}: {err}") from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"{str(path)!r} is not an IDX file of unsigned bytes: it must start with the magic "
            f"number 0x0000080{ndim}; starts with 0x{data[:4].hex()}"
        )
    if data[3] != ndim:
        raise ValueError(f"the IDX file {str(path)!r} has {data[3]} dimension(s); expected {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"the IDX file {str(path)!r} is truncated inside its header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    count = math.prod(dims)
    if len(data) - header != count:
        raise ValueError(
            f"the IDX file {str(path)!r} declares shape {dims} ({count} bytes of data) but "
            f"holds {len(data) - header} bytes of data: truncated or corrupted"
        )
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=header).reshape(dims)


def _check_mnist_part(x: np.ndarray, y: np.ndarray, part: str, path: Path):
    where = f"in {str(path)!r}"
    if x.dtype != np.uint8:
        raise ValueError(f"x_{part} {where} must be uint8 grey levels 0..255; got dtype {x.dtype}")
    if x.ndim != 3 or x.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(
            f"x_{part} {where} must have shape (N, 28, 28) (images as in the original files); "
            f"got {x.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise ValueError(
            f"y_{part} {where} must be a 1-D integer array of labels; got dtype {y.dtype}, "
            f"shape {y.shape}"
        )
    if len(y) != len(x):
        raise ValueError(f"{where}: x_{part} has {len(x)} images but y_{part} has {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(
            f"y_{part} {where} must hold digit labels 0..9; found {y.min()}..{y.max()}"
        )
