"""A run against a misbehaving teacher over real HTTP completes, with every failure counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.teacher_server import TeacherServer, serve
from tests.loop.test_run_end_to_end import read_jsonl, run_pada

pytestmark = pytest.mark.assets


def test_run_survives_every_kind_of_teacher_fault(tmp_path: Path) -> None:
    faults = TeacherServer(
        every={
            "nofields": 4,
            "429": 5,
            "truncated": 6,
            "500": 7,
            "malformed": 9,
            "injection": 11,
            "timeout": 13,
        },
        delay_s=4.0,
    )
    run_dir = tmp_path / "faulty"
    with serve(faults) as teacher:
        run_pada(teacher.api_base, run_dir, "teacher.timeout_s=2", "teacher.num_retries=1")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    r0 = metrics["rounds"][0]
    # Nothing is lost or counted twice: every requested item was accepted, rejected or failed.
    assert r0["requested"] == r0["accepted"] + r0["rejected"] + r0["failed"]
    samples = read_jsonl(run_dir / "round_0" / "generate" / "samples.jsonl")
    assert len({s["id"] for s in samples}) == len(samples)
    accepted = read_jsonl(run_dir / "round_0" / "generate" / "accepted.jsonl")
    assert len(accepted) == r0["accepted"] <= 4
    # Items that carry instructions for the pipeline never get in.
    assert not any("Ignore all previous instructions" in a["question"] for a in accepted)
    # Failures were met, retried a bounded number of times, and recorded with their cause.
    usage = json.loads((run_dir / "teacher_usage.json").read_text())["total"]
    assert usage["parse_failures"] + usage["lm_errors"] > 0
    assert usage["retries"] > 0
    failures = read_jsonl(run_dir / "round_0" / "generate" / "agent_failures.jsonl")
    assert all(f["error"] and f["attempts"] >= 1 for f in failures)
    assert len(teacher.calls) < 400  # bounded: no retry storm
