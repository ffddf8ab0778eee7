r"""The opt-in, checksummed download-and-cache helper: :func:`download`."""

from __future__ import annotations

import hashlib
import os
import urllib.request
import uuid
from pathlib import Path

__all__ = ["ChecksumError", "download"]


class ChecksumError(ValueError):
    """A downloaded or cached file does not have the expected SHA-256."""


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    destination: str | os.PathLike,
    sha256: str,
    *,
    overwrite: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``destination`` once, verifying its SHA-256.

    Opt-in only: nothing in the library calls it. Any URL :mod:`urllib.request`
    opens works, including ``file://``.

    - If ``destination`` exists and its SHA-256 matches, it is returned without
      any download.
    - If it exists with another checksum, a :class:`ChecksumError` is raised
      unless ``overwrite=True`` (then it is replaced by a fresh download; with
      ``overwrite=True`` the download always happens).
    - The data are streamed to a temporary file next to ``destination``, hashed,
      and moved into place with :func:`os.replace` only when the checksum
      matches, so ``destination`` is never left partial. On a mismatch or any
      error the temporary file is removed, and an existing ``destination`` is
      left as it was.

    Parameters
    ----------
    url
        Source URL.
    destination
        File to write (parent directories are created; ``~`` is expanded).
    sha256
        Expected SHA-256 as 64 hexadecimal digits.
    overwrite
        Download even if ``destination`` exists.
    timeout
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    ChecksumError
        The downloaded data (or, without ``overwrite``, the existing file) do
        not have the expected checksum.
    OSError
        The download failed (:class:`urllib.error.URLError` is an OSError).
    """
    expected = str(sha256).strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"sha256 must be 64 hexadecimal digits; got {sha256!r}")
    destination = Path(destination).expanduser()
    if destination.is_dir():
        raise IsADirectoryError(f"destination {str(destination)!r} is a directory; name a file")
    if destination.exists() and not overwrite:
        actual = _sha256_of(destination)
        if actual == expected:
            return destination
        raise ChecksumError(
            f"{str(destination)!r} already exists but its SHA-256 is {actual}, not the expected "
            f"{expected}; delete it or pass overwrite=True to replace it with a fresh download "
            f"of {url}"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.part")
    try:
        digest = hashlib.sha256()
        with (
            urllib.request.urlopen(url, timeout=timeout) as response,
            open(temporary, "xb") as out,
        ):
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumError(
                f"the data downloaded from {url} have SHA-256 {actual}, not the expected "
                f"{expected}; nothing was written to {str(destination)!r}. The file at the URL "
                "changed or the transfer was corrupted."
            )
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return destination
