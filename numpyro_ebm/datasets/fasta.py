r"""Aligned protein sequences: FASTA to integer codes and back, and sequence reweighting.

A multiple sequence alignment (MSA) is a FASTA file whose sequences all have the
same length ``L``. :func:`load_fasta` reads one and encodes it as integer codes
``(n, L)`` over an alphabet (by default :data:`PROTEIN_ALPHABET`, the 20 amino
acids in alphabetical order of their one-letter codes followed by the gap ``-``,
the order of Tubiana et al.'s PGM: code 20 is the gap); the Potts models of
:mod:`numpyro_ebm.energies.potts_rbm` and :mod:`~numpyro_ebm.energies.potts` take
these codes (as integers, or in a float array as training data).
:func:`sequence_weights` computes the DCA reweighting
:math:`w_n = 1 / \#\{m : \mathrm{id}(v_n, v_m) > 0.8\}` in chunks, so that a
family of 46,000 sequences needs memory for one chunk of ``chunk_size x n``
identities, not ``n x n``. :func:`write_fasta` writes codes back (samples out).

Nothing here reads a file the caller did not name: the protein families of the
benchmarks are found through :data:`PROTEINS_ENV_VAR` or an argument.

References
----------
Morcos, F. et al. (2011). Direct-coupling analysis of residue coevolution captures
native contacts across many protein families. *PNAS* 108(49). (The 80% reweighting.)
Tubiana, J., Cocco, S. & Monasson, R. (2019). Learning protein constitutive motifs
from sequence data. *eLife* 8:e39397.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
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
]

PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY-"
"""The 20 amino acids and the gap (code 20), q = 21."""

PROTEINS_ENV_VAR = "NUMPYRO_EBM_PROTEINS"
"""Environment variable naming the directory of the protein families (benchmarks)."""


class FastaData(NamedTuple):
    """An encoded alignment.

    codes
        Integer codes, shape ``(n, L)``, int32.
    names
        The sequences' FASTA headers (without ``>``).
    alphabet
        The alphabet: code ``k`` is ``alphabet[k]``.
    """

    codes: np.ndarray
    names: list[str]
    alphabet: str

    @property
    def n_states(self) -> int:
        return len(self.alphabet)


def read_fasta(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Headers (without the leading ``>``s) and sequences of a FASTA file; a sequence may
    span several lines. Raises a ValueError naming the line for text before the first header."""
    names: list[str] = []
    chunks: list[list[str]] = []
    with open(path, encoding="ascii", errors="strict") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                names.append(line.lstrip(">").strip())
                chunks.append([])
            elif not chunks:
                raise ValueError(f"{path}: line {number} holds sequence data before any '>' header")
            else:
                chunks[-1].append(line)
    return names, ["".join(chunk) for chunk in chunks]


def encode_sequences(
    sequences: Sequence[str],
    alphabet: str = PROTEIN_ALPHABET,
    mapping: Mapping[str, int] | None = None,
    names: Sequence[str] | None = None,
    case_sensitive: bool = False,
) -> np.ndarray:
    """Integer codes ``(n, L)`` (int32) of aligned sequences.

    Parameters
    ----------
    sequences
        Strings of one length ``L``.
    alphabet
        Code ``k`` is the character ``alphabet[k]``.
    mapping
        Extra characters and their codes (e.g. ``{".": 20, "X": 20}``), taking
        precedence over ``alphabet``.
    names
        The sequences' names, used in error messages.
    case_sensitive
        If False (default) lower-case letters are read as upper case (insertions
        of an A2M alignment become ordinary residues; remove them first if they
        are not aligned columns).

    Raises
    ------
    ValueError
        For sequences of unequal length (naming the first that differs and both
        lengths), or characters outside the alphabet and the mapping (naming the
        sequence, the position and the character).
    """
    if len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet {alphabet!r} repeats a character")
    if not sequences:
        raise ValueError("no sequences to encode")
    names = list(names) if names is not None else [f"#{i}" for i in range(len(sequences))]
    length = len(sequences[0])
    for i, sequence in enumerate(sequences):
        if len(sequence) != length:
            raise ValueError(
                f"the sequences of an alignment must all have the same length; sequence {i} "
                f"({names[i]!r}) has {len(sequence)} characters but the first has {length}"
            )
    table = np.full(256, -1, np.int32)
    for code, char in enumerate(alphabet):
        table[ord(char)] = code
        if not case_sensitive:
            table[ord(char.lower())] = code
    for char, code in (mapping or {}).items():
        if not 0 <= code < len(alphabet):
            raise ValueError(f"mapping sends {char!r} to {code}, outside 0..{len(alphabet) - 1}")
        table[ord(char)] = code
    try:
        raw = np.frombuffer("".join(sequences).encode("ascii"), np.uint8)
    except UnicodeEncodeError as error:
        raise ValueError(f"the sequences hold a non-ASCII character: {error}") from None
    codes = table[raw].reshape(len(sequences), length)
    bad = codes < 0
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(
            f"sequence {i} ({names[i]!r}) has the character {sequences[i][j]!r} at position {j}, "
            f"outside the alphabet {alphabet!r}; {int(bad.sum())} such character(s) in all. "
            "Pass mapping={char: code} to read it as a state (e.g. a gap)."
        )
    return codes


def decode_sequences(codes, alphabet: str = PROTEIN_ALPHABET) -> list[str]:
    """Strings of integer codes ``(n, L)`` (ints, or floats holding integers)."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (n, L); got {codes.shape}")
    if (codes < 0).any() or (codes >= len(alphabet)).any() or (codes != np.round(codes)).any():
        raise ValueError(f"codes must be integers in 0..{len(alphabet) - 1}")
    letters = np.frombuffer(alphabet.encode("ascii"), np.uint8)[codes.astype(np.int64)]
    return [row.tobytes().decode("ascii") for row in letters]


def load_fasta(
    path: str | os.PathLike,
    alphabet: str = PROTEIN_ALPHABET,
    mapping: Mapping[str, int] | None = None,
    case_sensitive: bool = False,
) -> FastaData:
    """Read and encode an aligned FASTA file (see :func:`encode_sequences` for the errors)."""
    names, sequences = read_fasta(path)
    if not sequences:
        raise ValueError(f"{path} holds no sequence")
    codes = encode_sequences(sequences, alphabet, mapping, names, case_sensitive)
    return FastaData(codes, names, alphabet)


def write_fasta(
    path: str | os.PathLike,
    codes,
    alphabet: str = PROTEIN_ALPHABET,
    names: Sequence[str] | None = None,
) -> Path:
    """Write codes ``(n, L)`` as FASTA, one line per sequence (headers ``names`` or ``S1..Sn``)."""
    sequences = decode_sequences(codes, alphabet)
    names = list(names) if names is not None else [f"S{i + 1}" for i in range(len(sequences))]
    if len(names) != len(sequences):
        raise ValueError(f"{len(names)} names for {len(sequences)} sequences")
    path = Path(path)
    path.write_text("".join(f">{n}\n{s}\n" for n, s in zip(names, sequences, strict=True)))
    return path


@jax.jit
def _neighbour_counts(chunk, everything, min_matches):
    """Sequences of ``everything`` with more than ``min_matches`` identical sites, per row
    of ``chunk`` (one-hot float rows; the match counts are exact small integers)."""
    matches = chunk @ everything.T
    return jnp.sum(matches > min_matches, axis=1, dtype=jnp.int32)


def sequence_weights(
    codes, identity: float = 0.8, chunk_size: int = 1024, n_states: int | None = None
) -> np.ndarray:
    r"""DCA weights :math:`w_n = 1 / \#\{m : \mathrm{id}(v_n, v_m) > \text{identity}\}`.

    :math:`\mathrm{id}` is the fraction of identical sites (gaps included); every
    sequence counts itself, so :math:`0 < w_n \le 1` and :math:`\sum_n w_n` is the
    effective number of sequences. Computed ``chunk_size`` rows at a time as one
    matmul of one-hot rows per chunk (float32; the counts are exact), so memory is
    ``chunk_size x n`` and the time that of ``n^2 L q`` multiply-adds (about a
    minute for 46,000 sequences of length 27 on two cores).

    Returns
    -------
    float64 numpy array ``(n,)``.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (n, L); got {codes.shape}")
    if not 0.0 <= identity < 1.0:
        raise ValueError(f"identity must lie in [0, 1); got {identity}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive; got {chunk_size}")
    n, length = codes.shape
    q = int(codes.max()) + 1 if n_states is None else int(n_states)
    one_hot = jax.nn.one_hot(jnp.asarray(codes, jnp.int32), q, dtype=jnp.float32).reshape(n, -1)
    min_matches = jnp.asarray(identity * length, jnp.float32)
    counts = np.empty(n, np.int64)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        chunk = one_hot[start:stop]
        if stop - start < chunk_size and n > chunk_size:  # pad the last chunk: one compile
            chunk = jnp.pad(chunk, ((0, chunk_size - (stop - start)), (0, 0)))
        counts[start:stop] = np.asarray(_neighbour_counts(chunk, one_hot, min_matches))[
            : stop - start
        ]
    return 1.0 / counts


def proteins_directory(directory: str | os.PathLike | None = None) -> Path:
    """The directory of the protein families: ``directory`` or ``$NUMPYRO_EBM_PROTEINS``.

    Raises a FileNotFoundError naming both when neither gives an existing directory.
    """
    chosen = directory if directory is not None else os.environ.get(PROTEINS_ENV_VAR)
    if chosen is None:
        raise FileNotFoundError(
            f"no protein data directory: pass one or set {PROTEINS_ENV_VAR} to the folder "
            "holding Lattice_Proteins_MSA.fasta, WW_domain_MSA.fasta, ..."
        )
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"protein data directory {str(path)!r} does not exist")
    return path
