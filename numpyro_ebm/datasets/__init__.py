r"""Data for the examples, tests and benchmarks.

**Embedded (no download).**

- :func:`load_digits`: the 1,797 8×8 handwritten digits of the UCI "Optical
  Recognition of Handwritten Digits" set (as distributed with scikit-learn,
  CC BY 4.0), embedded in the package so the demo and tests need no network.

**Toy densities from the course material** (Hinton, CSC2535 lecture 3b), each a
sampler together with its exact log density, so a benchmark can compute true
log-likelihoods and a test can integrate them by quadrature:

- :func:`four_squares`: uniform inside four squares ("a simple 2-D dataset: the
  true data is uniformly distributed within the 4 squares");
- :func:`clusters_grid`: a grid of small isotropic Gaussian clusters with one
  cluster missing ("15 axis-aligned uni-gauss experts fitted to 24 clusters (one
  cluster is missing from the grid)"; the product of experts fills the hole in);
- :func:`gaussian_mixture_1d` and :func:`gaussian_mixture_2d` (by default a
  ring of eight Gaussians).

Convention for the samplers: pure functions ``f(rng_key, n, *, <geometry>)``
of a JAX PRNG key (:func:`jax.random.key`; legacy ``PRNGKey`` arrays work too),
returning a float array of shape ``(n, D)`` (``D = 1`` for the 1-D mixture, so
every sample set is a batch of ``D``-vectors like the library's energies expect).
The same key and arguments give the same samples. The geometry arguments are
static Python numbers or sequences (validated eagerly); to ``jit`` a sampler,
mark ``n`` and the geometry static. Every ``*_log_density(x, ...)`` takes ``x``
of shape ``(*batch, D)`` and returns the normalised log density, shape
``(*batch,)``, in the dtype of ``x``; pass it the same geometry arguments as
the sampler.

**MNIST from a local file.** :func:`load_mnist` reads an ``.npz`` archive
(keys ``x_train``, ``y_train``, ``x_test``, ``y_test``) or a directory holding
the four original IDX files, and binarizes by the project's convention
(see :func:`load_mnist`). It never downloads. :func:`download` is an opt-in
download-and-cache helper with SHA-256 verification, e.g.

>>> path = download(MNIST_NPZ_URL, "~/.cache/numpyro_ebm/mnist.npz", MNIST_NPZ_SHA256)  # doctest: +SKIP
>>> split = load_mnist(path)  # doctest: +SKIP

**Aligned protein sequences.** :func:`load_fasta` reads a FASTA alignment into
integer codes over :data:`PROTEIN_ALPHABET`, :func:`sequence_weights` gives the DCA
weights (1 / number of sequences within 80% identity), :func:`write_fasta` writes
sampled codes back.

Modules: :mod:`~numpyro_ebm.datasets.toy` (toy densities),
:mod:`~numpyro_ebm.datasets.fasta` (protein alignments),
:mod:`~numpyro_ebm.datasets.images` (digits, MNIST, binarisation),
:mod:`~numpyro_ebm.datasets.downloads` (the checksummed download helper).
Every public name is importable from :mod:`numpyro_ebm.datasets` itself.

References
----------
Hinton, G. E. CSC2535 lecture 3b: products of experts, uni-gauss experts and
contrastive divergence (course notes; the 4-squares data and the 24-cluster
grid, whose figures fix neither the sizes nor the missing cell: the defaults
here are our documented choice).
Hinton, G. E. (2002). Training products of experts by minimizing contrastive
divergence. *Neural Computation* 14(8).
LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning
applied to document recognition. *Proc. IEEE* 86(11). (MNIST and the IDX format.)
Salakhutdinov, R. & Murray, I. (2008). On the quantitative analysis of deep
belief networks. *ICML*. (Stochastically binarized MNIST.)
"""

from numpyro_ebm.datasets import downloads, fasta, images, toy
from numpyro_ebm.datasets.downloads import ChecksumError, download
from numpyro_ebm.datasets.fasta import (
    PROTEIN_ALPHABET,
    PROTEINS_ENV_VAR,
    FastaData,
    decode_sequences,
    encode_sequences,
    load_fasta,
    proteins_directory,
    read_fasta,
    sequence_weights,
    write_fasta,
)
from numpyro_ebm.datasets.images import (
    MNIST_ENV_VAR,
    MNIST_IDX_FILES,
    MNIST_NPZ_SHA256,
    MNIST_NPZ_URL,
    Split,
    binarize_stochastic,
    binarize_threshold,
    load_digits,
    load_mnist,
)
from numpyro_ebm.datasets.toy import (
    MIXTURE_1D_MEANS,
    MIXTURE_1D_STDS,
    MIXTURE_1D_WEIGHTS,
    ClustersGrid,
    FourSquares,
    clusters_grid,
    clusters_grid_cell,
    clusters_grid_geometry,
    clusters_grid_log_density,
    four_squares,
    four_squares_geometry,
    four_squares_log_density,
    four_squares_mask,
    gaussian_mixture_1d,
    gaussian_mixture_1d_log_density,
    gaussian_mixture_2d,
    gaussian_mixture_2d_log_density,
    ring_means,
)

__all__ = [
    "Split",
    "load_digits",
    "binarize_threshold",
    "binarize_stochastic",
    # toy densities
    "FourSquares",
    "four_squares",
    "four_squares_geometry",
    "four_squares_mask",
    "four_squares_log_density",
    "ClustersGrid",
    "clusters_grid",
    "clusters_grid_geometry",
    "clusters_grid_cell",
    "clusters_grid_log_density",
    "MIXTURE_1D_MEANS",
    "MIXTURE_1D_STDS",
    "MIXTURE_1D_WEIGHTS",
    "gaussian_mixture_1d",
    "gaussian_mixture_1d_log_density",
    "ring_means",
    "gaussian_mixture_2d",
    "gaussian_mixture_2d_log_density",
    # MNIST
    "MNIST_ENV_VAR",
    "MNIST_IDX_FILES",
    "MNIST_NPZ_URL",
    "MNIST_NPZ_SHA256",
    "load_mnist",
    "ChecksumError",
    "download",
    "toy",
    "images",
    "downloads",
    # aligned protein sequences
    "PROTEIN_ALPHABET",
    "PROTEINS_ENV_VAR",
    "FastaData",
    "read_fasta",
    "encode_sequences",
    "decode_sequences",
    "load_fasta",
    "write_fasta",
    "sequence_weights",
    "proteins_directory",
    "fasta",
]
