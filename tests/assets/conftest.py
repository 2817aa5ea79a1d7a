"""Fixtures for the asset-store tests: fake wheels on a fake index, and a store pointed at them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.assets.fakes import FakeIndex, fake_assets, write_fake_index


def pytest_configure(config: pytest.Config) -> None:
    # pyproject registers it too; registering here keeps `-m assets` warning-free if it moves.
    config.addinivalue_line("markers", "assets: needs the embedded assets (fetched into PADA_CACHE_DIR)")


@pytest.fixture
def index(tmp_path: Path) -> FakeIndex:
    """A folder of fake wheels plus a downloader that serves them (and counts its calls)."""
    return write_fake_index(tmp_path / "index")


@pytest.fixture
def store(tmp_path: Path, index: FakeIndex):
    """A store over the fake registry, caching into tmp_path/cache."""
    from pada.assets.store import Store

    return Store(tmp_path / "cache", fake_assets(), downloader=index.downloader, converter=index.converter)
