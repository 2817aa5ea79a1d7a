"""Shared test setup: offline environment, the repo's conf/ folder, and a Hydra compose helper."""

from __future__ import annotations

import os
import sys
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


@pytest.fixture
def stand_in_llama_server(tmp_path: Path) -> Path:
    """An executable that takes llama-server's arguments and serves the fixture teacher.

    It lets the fast tests drive the real server lifecycle (start, health, kill, restart, stop) and the
    one OpenAI-compatible path without the 1.1 GB model.
    """
    script = tmp_path / "bin" / "llama-server"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{REPO}/tests/fixtures/teacher_server.py" "$@"\n')
    script.chmod(0o755)
    return script
