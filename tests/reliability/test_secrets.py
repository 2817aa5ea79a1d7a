"""A planted API key never lands anywhere under the run folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fixtures.teacher_server import serve
from tests.loop.test_run_end_to_end import pada_args

pytestmark = pytest.mark.assets

PLANTED = "sk-test-PLANTED-0123456789abcdef0123"


def test_planted_key_is_nowhere_in_the_run_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "secret"
    env = {**os.environ, "PADA_TEST_TEACHER_KEY": PLANTED, "WANDB_MODE": "offline"}
    with serve() as teacher:
        args = pada_args(teacher.api_base, run_dir, "teacher.api_key_env=PADA_TEST_TEACHER_KEY")
        args = [a for a in args if a != "logger=none"] + ["logger=wandb_offline"]
        res = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert PLANTED not in res.stdout and PLANTED not in res.stderr
    assert (run_dir / "wandb").is_dir(), "the W&B offline run is part of what is checked"
    needle = PLANTED.encode()
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and needle in p.read_bytes()]
    assert leaks == []
    # The key did reach the teacher, so the check is not vacuous.
    assert teacher.calls and all(a == f"Bearer {PLANTED}" for a in teacher.auth)
