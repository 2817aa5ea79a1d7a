"""The whole loop through the command line: tiny student, fixture teacher over real HTTP, real embedder.

These runs take well under a minute each: the student is the tiny random Llama and the teacher is the
loopback fixture server (tests/fixtures/teacher_server.py); data, splits, clustering, the quality gate,
resume and export are the real code paths.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pada.tasks.schema import normalize_text
from tests.conftest import REPO
from tests.fixtures.teacher_server import TeacherServer, serve

pytestmark = pytest.mark.assets  # the real scireason data and MiniLM embedder


#: The loop tests' own budgets, pinned here so that retuning the smoke experiment leaves them alone:
#: 8 failures (enough for the elbow) analysed one per call, K up to 3, 4 accepted items split between
#: the two paths.
LOOP_BUDGETS = (
    "pattern_mining.max_failures=8", "pattern_mining.analysis_batch_size=1", "pattern_mining.k_max=3",
    "generation.budget=4", "generation.items_per_call=2", "generation.max_train_errors=4",
)  # fmt: skip


def pada_args(api_base: str, run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "pada", "+experiment=smoke", "model=tiny_random", *LOOP_BUDGETS,
        "teacher=openai_compatible", f"teacher.api_base={api_base}", "teacher.model=teacher",
        "teacher.num_retries=0", "logger=none", "export_merged=false", f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


def run_pada(api_base: str, run_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        pada_args(api_base, run_dir, *extra), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def held_out_questions(run_dir: Path) -> list[str]:
    evaluated = run_dir / "round_0" / "evaluate"
    return [
        r["question"]
        for split in ("validation", "test")
        for r in read_jsonl(evaluated / f"{split}_records.jsonl")
    ]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, TeacherServer]:
    run_dir = tmp_path_factory.mktemp("outputs") / "smoke" / "run"
    with serve() as teacher:
        run_pada(teacher.api_base, run_dir)
    return run_dir, teacher


def test_every_stage_leaves_its_artifacts(finished_run) -> None:
    run_dir, _ = finished_run
    for stage in ("fine_tune", "evaluate", "analyze_errors", "mine_patterns", "summarize_patterns",
                  "draft_strategies", "generate"):  # fmt: skip
        manifest = json.loads((run_dir / "round_0" / stage / "manifest.json").read_text())
        assert manifest["stage"] == stage and manifest["seconds"] >= 0
    assert (run_dir / "round_0" / "fine_tune" / "adapter" / "adapter_model.safetensors").exists()
    assert (run_dir / "round_0" / "mine_patterns" / "elbow.png").exists()
    assert (run_dir / "round_1" / "evaluate" / "validation_records.jsonl").exists()
    assert (run_dir / "summary.md").read_text().startswith("# pada run: smoke / pada / seed 0")


def test_metrics_add_up(finished_run) -> None:
    run_dir, _ = finished_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    # What it ran on, so a difference across machines can be told from a difference in code.
    assert metrics["runtime"]["cpu_count"] >= 1 and metrics["runtime"]["versions"]["torch"]
    assert "Ran on: " in (run_dir / "summary.md").read_text()
    r0 = metrics["rounds"][0]
    samples = read_jsonl(run_dir / "round_0" / "generate" / "samples.jsonl")
    accepted = [s for s in samples if s["accepted"]]
    assert r0["generated"] == len(samples) and r0["accepted"] == len(accepted)
    # Every rejected sample has reasons, every accepted one has none.
    assert all(s["reasons"] for s in samples if not s["accepted"])
    assert all(not s["reasons"] for s in accepted)
    # The budget is met exactly, and the ids are unique.
    assert len(accepted) == 4
    assert len({s["id"] for s in samples}) == len(samples)
    assert metrics["final"]["synthetic_items"] == 4
    assert r0["gap"] == pytest.approx(r0["train_acc"] - r0["val_acc"])


def test_export_carries_provenance(finished_run) -> None:
    run_dir, _ = finished_run
    rows = read_jsonl(run_dir / "export" / "augmented.jsonl")
    assert len(rows) == 4
    for row in rows:
        assert row["meta"]["path"] in ("pattern", "train_error")
        assert row["meta"]["verdict"]["score"] >= 0.5  # the smoke experiment's judge_threshold
        assert row["meta"]["origin"]
    assert (run_dir / "export" / "adapter" / "adapter_model.safetensors").exists()


def test_whole_run_leakage_check_is_recorded_and_clean(finished_run) -> None:
    run_dir, _ = finished_run
    leakage = json.loads((run_dir / "leakage.json").read_text())
    assert leakage["checked"] == 4 and leakage["n"] == 8
    assert leakage["eval_items"] == {"validation": 32, "test": 32}
    assert leakage["clean"] and leakage["leaked_items"] == 0 and leakage["leaks"] == []
    assert json.loads((run_dir / "metrics.json").read_text())["final"]["leaked_items"] == 0
    assert "## Leakage check" in (run_dir / "summary.md").read_text()


def test_no_held_out_text_reaches_a_generation_prompt(finished_run) -> None:
    run_dir, teacher = finished_run
    generation_prompts = [
        normalize_text(p) for p in teacher.prompts() if "Write new" in p or "exercise the skill" in p
    ]
    assert generation_prompts, "the run made no generation calls"
    for question in held_out_questions(run_dir):
        q = normalize_text(question)
        words = q.split()
        # Any 8-word window of a held-out question in a prompt counts as a leak.
        windows = {" ".join(words[i : i + 8]) for i in range(max(1, len(words) - 7))}
        for prompt in generation_prompts:
            assert not any(w in prompt for w in windows if len(w.split()) >= 6), question


def test_sft_makes_no_teacher_calls(tmp_path: Path) -> None:
    with serve() as teacher:
        run_pada(teacher.api_base, tmp_path / "sft", "method=sft")
    assert teacher.calls == []
    metrics = json.loads((tmp_path / "sft" / "metrics.json").read_text())
    assert len(metrics["rounds"]) == 1 and metrics["final"]["synthetic_items"] == 0


def _judging(teacher: TeacherServer, run: Path) -> bool:
    return any("with the letter of the correct option only" in p for p in teacher.prompts())


KILL_POINTS = {
    # name: (when to kill, a stage that must not be finished yet)
    # The run folder and its state exist, but no stage has finished: the data are being split or the
    # first adapter trained.
    "before_any_stage": (
        lambda teacher, run: (
            (run / "run_state.json").exists() and not list(run.glob("round_*/*/manifest.json"))
        ),
        ("round_0", "fine_tune"),
    ),
    "fine_tuning": (lambda teacher, run: (run / "round_1" / "fine_tune").exists(), ("round_1", "fine_tune")),
    # The first chunk of analyses (4 calls, all in flight at once) is done, the second is in flight
    # (its answers are held back for a few seconds, see SLOW_CALLS).
    "analysis": (lambda teacher, run: len(teacher.calls) >= 6, ("round_0", "analyze_errors")),
    "generation": (
        lambda teacher, run: (
            (run / "round_0" / "draft_strategies" / "manifest.json").exists()
            and any("Write new" in p for p in teacher.prompts())
        ),
        ("round_0", "generate"),
    ),
    "gating": (_judging, ("round_0", "generate")),
}


#: Kill points whose window is short on the fast fixture teacher: these calls answer after a delay
#: (the same answers, only later), so the run is still inside the stage when it is killed.
SLOW_CALLS = {"analysis": range(5, 9)}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_killed_run_resumes_without_paying_twice(tmp_path: Path, finished_run, point: str) -> None:
    """SIGKILL at a point of the run, then the same command: finished stages are not redone."""
    reference_dir, reference_teacher = finished_run
    when, (unfinished_round, unfinished_stage) = KILL_POINTS[point]
    outputs = tmp_path / "outputs" / "smoke"
    first = outputs / "first"
    slow = TeacherServer(faults={n: "timeout" for n in SLOW_CALLS.get(point, ())}, delay_s=3.0)
    with serve(slow) as teacher:
        proc = subprocess.Popen(pada_args(teacher.api_base, first), cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.time() + 300
        while not when(teacher, first) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before the kill point"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not (first / unfinished_round / unfinished_stage / "manifest.json").exists()
        calls_before = len(teacher.calls)
        done_before = {
            f"{p.parts[-3]}/{p.parts[-2]}": p.read_text() for p in first.glob("round_*/*/manifest.json")
        }

        run_pada(teacher.api_base, outputs / "second")
        calls_on_resume = len(teacher.calls) - calls_before

    second = outputs / "second"
    assert (first / "RESUMED_IN.txt").exists()
    state = json.loads((second / "run_state.json").read_text())
    assert state["status"] == "finished" and state["attempts"] == 2
    # Stages finished before the kill were not redone: their manifests are the first attempt's.
    for stage, manifest in done_before.items():
        assert (second / stage / "manifest.json").read_text() == manifest, stage
    # The teacher was paid only for unfinished work: at most the calls in flight (the fixture
    # teacher's concurrency, 4) are asked again.
    reference_calls = len(reference_teacher.calls)
    assert calls_before + calls_on_resume <= reference_calls + 4
    if calls_before:
        assert calls_on_resume < reference_calls
    # The outcome matches the uninterrupted run (everything here is deterministic).
    for name in ("samples.jsonl", "accepted.jsonl"):
        got = read_jsonl(second / "round_0" / "generate" / name)
        ref = read_jsonl(reference_dir / "round_0" / "generate" / name)
        ids = [r["id"] for r in got]
        assert ids == [r["id"] for r in ref] and len(set(ids)) == len(ids)
    final = json.loads((second / "metrics.json").read_text())["final"]
    ref_final = json.loads((reference_dir / "metrics.json").read_text())["final"]
    for key in ("val_acc", "test_acc", "synthetic_items"):
        assert final[key] == ref_final[key], key
    # ...and reports what the whole run cost, not only the resumed attempt: the finished stages keep
    # their usage in their manifests; the stage that was cut counts its calls again (cached or not).
    assert final["teacher_calls"] == ref_final["teacher_calls"]
    # The resumed attempt reports what it paid for: exactly the calls the teacher saw after the kill.
    assert final["attempt"]["number"] == 2 and final["attempt"]["resumed_from"] == str(first)
    assert final["attempt"]["teacher_calls_paid"] == calls_on_resume
    summary = (second / "summary.md").read_text()
    assert f"This attempt paid for {calls_on_resume} teacher calls" in summary and "resumed from `" in summary
    # What was reused is said as it was: a count of finished stages, or that none had finished.
    assert final["attempt"]["stages_finished_before"] == len(done_before)
    if not done_before:
        reused = "no stage had finished before, so nothing was reused"
        assert f"Attempt 2, resumed from `{first}`: {reused}" in summary
    assert "`None`" not in summary
