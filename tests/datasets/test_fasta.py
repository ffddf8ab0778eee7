"""FASTA alignments: encoding, decoding, reweighting, and the errors that name the problem."""

import numpy as np
import pytest

from numpyro_ebm.datasets import fasta

SEQUENCES = ["ACD-", "ACDE", "WCDE", "YYYY", "ACD-"]


@pytest.fixture
def alignment(tmp_path):
    path = tmp_path / "tiny.fasta"
    body = "".join(f">s{i} description\n{s[:2]}\n{s[2:]}\n" for i, s in enumerate(SEQUENCES))
    path.write_text("\n" + body)
    return path


def test_load_encode_decode_round_trip(alignment, tmp_path):
    data = fasta.load_fasta(alignment)
    assert data.names == [f"s{i} description" for i in range(5)]
    assert data.codes.shape == (5, 4) and data.codes.dtype == np.int32
    assert data.n_states == 21
    np.testing.assert_array_equal(data.codes[0], [0, 1, 2, 20])  # A C D gap
    assert fasta.decode_sequences(data.codes) == SEQUENCES
    out = fasta.write_fasta(tmp_path / "out.fasta", data.codes.astype(np.float32))
    np.testing.assert_array_equal(fasta.load_fasta(out).codes, data.codes)
    lower = fasta.encode_sequences(["acd-"])
    np.testing.assert_array_equal(lower[0], data.codes[0])


def test_sequence_weights_count_neighbours_within_identity():
    codes = fasta.encode_sequences(SEQUENCES)
    # identity > 0.5: s0, s1 and s4 share >= 3 of 4 sites; s2 matches s1 at 3 sites
    weights = fasta.sequence_weights(codes, identity=0.5, chunk_size=2)
    brute = [
        1.0 / sum(np.mean(codes[n] == codes[m]) > 0.5 for m in range(len(codes)))
        for n in range(len(codes))
    ]
    np.testing.assert_allclose(weights, brute)
    np.testing.assert_allclose(weights, [1 / 3, 1 / 4, 1 / 2, 1, 1 / 3])
    np.testing.assert_allclose(fasta.sequence_weights(codes, identity=0.5), weights)


def test_unequal_lengths_are_named(tmp_path):
    path = tmp_path / "bad.fasta"
    path.write_text(">a\nACDE\n>b\nACD\n")
    with pytest.raises(
        ValueError, match="sequence 1 \\('b'\\) has 3 characters but the first has 4"
    ):
        fasta.load_fasta(path)


def test_characters_outside_the_alphabet_are_named():
    with pytest.raises(
        ValueError, match="sequence 1 \\('#1'\\) has the character 'B' at position 2"
    ):
        fasta.encode_sequences(["ACDE", "ACBE"])
    codes = fasta.encode_sequences(["ACDE", "AC.E"], mapping={".": 20})
    assert codes[1, 2] == 20
    with pytest.raises(ValueError, match="outside the alphabet 'AB'"):
        fasta.encode_sequences(["AC"], alphabet="AB")


def test_text_before_a_header_and_missing_directory(tmp_path, monkeypatch):
    path = tmp_path / "headless.fasta"
    path.write_text("ACDE\n>a\nACDE\n")
    with pytest.raises(ValueError, match="line 1 holds sequence data before any '>' header"):
        fasta.read_fasta(path)
    monkeypatch.delenv(fasta.PROTEINS_ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match=fasta.PROTEINS_ENV_VAR):
        fasta.proteins_directory()
    monkeypatch.setenv(fasta.PROTEINS_ENV_VAR, str(tmp_path))
    assert fasta.proteins_directory() == tmp_path
