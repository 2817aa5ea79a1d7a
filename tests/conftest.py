"""Shared test setup: offline environment, the repo's conf/ folder, and a Hydra compose helper."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pada import offline

offline.apply()  # the product's own offline environment, before any hub library is imported
os.environ.setdefault("WANDB_MODE", "disabled")  # tests that want a real (offline) W&B run set it

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


@pytest.fixture(scope="session")
def conf_dir() -> Path:
    return CONF


@pytest.fixture
def compose() -> Iterator:
    """Compose pada's config with overrides, as ``python -m pada`` would (minus the run folder)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from pada.config import register

    register()

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))

    yield _compose
