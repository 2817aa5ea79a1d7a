"""`python -m pada +experiment=smoke` end to end with the real embedded models and data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.assets, pytest.mark.slow]


def test_smoke_experiment_runs_one_augmentation_round(tmp_path: Path) -> None:
    run_dir = tmp_path / "smoke"
    res = subprocess.run(
        [sys.executable, "-m", "pada", "+experiment=smoke", f"hydra.run.dir={run_dir}"],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    assert len(metrics["rounds"]) == 2  # fine-tune, augment, fine-tune again
    r0 = metrics["rounds"][0]
    assert r0["val_failures"] > 0 and r0["generated"] > 0
    assert r0["requested"] == r0["accepted"] + r0["rejected"] + r0["failed"]
    assert r0["teacher"]["calls"] > 0 and r0["teacher"]["input_tokens"] > 0
    for stage in ("fine_tune", "evaluate", "analyze_errors", "mine_patterns", "draft_strategies", "generate"):
        assert stage in r0["stage_seconds"]
    summary = (run_dir / "summary.md").read_text()
    assert "Time per stage" in summary
    assert list((run_dir / "wandb").glob("offline-run-*")), "no offline W&B run"
    assert (run_dir / "export" / "augmented.jsonl").exists()
    assert (run_dir / "export" / "merged" / "config.json").exists()


def test_gsm8k_runs_the_loop_with_the_real_teacher_on_a_few_problems(tmp_path: Path) -> None:
    run_dir = tmp_path / "gsm8k"
    small = [
        "dataset.train_size=24", "dataset.val_size=16", "dataset.test_size=8", "dataset.max_new_tokens=64",
        "pattern_mining.max_failures=3", "pattern_mining.min_failures_to_cluster=3", "pattern_mining.k_max=2",
        "generation.budget=2", "generation.max_train_errors=4", "export_merged=false",
    ]  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-m", "pada", "+experiment=gsm8k", *small, f"hydra.run.dir={run_dir}"],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and len(metrics["rounds"]) == 2
    r0 = metrics["rounds"][0]
    assert r0["generated"] > 0 and r0["teacher"]["calls"] > 0
    samples = [
        json.loads(line) for line in (run_dir / "round_0/generate/samples.jsonl").read_text().splitlines()
    ]
    assert all(s["item"]["kind"] == "free_form" and s["item"]["answer"] for s in samples)
    # The judge solved each judged problem blind and wrote its final answer down.
    judged = [s for s in samples if s["verdict"]]
    assert judged and all(s["verdict"]["score"] in (0.0, 1.0) for s in judged)
    records = (run_dir / "round_0/evaluate/test_records.jsonl").read_text().splitlines()
    assert len(records) == 8 and all(json.loads(r)["output_text"] is not None for r in records)
