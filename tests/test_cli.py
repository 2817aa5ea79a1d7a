"""The command line as a user meets it: help, printed config, and short errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def pada(*args: str, tmp: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pada", f"hydra.run.dir={tmp}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_the_groups(tmp_path: Path) -> None:
    res = pada("--help", tmp=tmp_path)
    assert res.returncode == 0
    for group in ("model:", "dataset:", "teacher:", "judge:", "embedder:", "pattern_mining:", "method:"):
        assert group in res.stdout


def test_cfg_job_prints_the_composed_config(tmp_path: Path) -> None:
    for spelling in ("+experiment=scireason", "experiment=scireason"):
        res = pada(spelling, "--cfg", "job", tmp=tmp_path)
        assert res.returncode == 0, res.stderr
        assert "experiment_name: scireason" in res.stdout


def test_negative_size_is_a_short_error(tmp_path: Path) -> None:
    res = pada("+experiment=smoke", "dataset.train_size=-5", tmp=tmp_path)
    assert res.returncode != 0
    assert "dataset.train_size" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_group_option_is_a_short_error(tmp_path: Path) -> None:
    res = pada("+experiment=smoke", "method=magic", tmp=tmp_path)
    assert res.returncode != 0
    assert "method/magic" in res.stderr and "pada" in res.stderr
    assert "Traceback" not in res.stderr


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    res = pada("+experiment=smoke", "trainer.lr=fast", tmp=tmp_path)
    assert res.returncode != 0
    assert "trainer.lr" in res.stderr
