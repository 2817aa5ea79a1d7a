"""The whole loop on worked-answer tasks through the command line: GSM8K built in, and a user's file.

Tiny random student, the loopback fixture teacher (which speaks free-form prompts too), the real GSM8K
problems from the asset cache and the MiniLM embedder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pada.tasks import load_gsm8k
from pada.tasks.answers import answers_match, extract_final_answer
from tests.fixtures.teacher_server import serve
from tests.loop.test_run_end_to_end import read_jsonl, run_pada

pytestmark = pytest.mark.assets

#: Small splits and a short generation budget for the student's worked answers.
GSM8K = ("dataset=gsm8k", "dataset.train_size=40", "dataset.val_size=24", "dataset.test_size=16",
         "dataset.max_new_tokens=24", "model.max_length=256")  # fmt: skip


@pytest.fixture(scope="module")
def gsm8k_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("outputs") / "gsm8k"
    with serve() as teacher:
        run_pada(teacher.api_base, run, *GSM8K)
    return run


def test_every_stage_leaves_its_artifacts(gsm8k_run: Path) -> None:
    for stage in ("analyze_errors", "mine_patterns", "summarize_patterns", "draft_strategies", "generate"):
        assert (gsm8k_run / "round_0" / stage / "manifest.json").exists(), stage
    metrics = json.loads((gsm8k_run / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["final"]["synthetic_items"] == 4
    assert (gsm8k_run / "summary.md").read_text().startswith("# pada run: smoke / pada")


def test_student_records_keep_the_generated_work_and_its_final_answer(gsm8k_run: Path) -> None:
    records = read_jsonl(gsm8k_run / "round_0" / "evaluate" / "test_records.jsonl")
    assert len(records) == 16
    for r in records:
        assert r["choices"] == [] and r["output_text"] is not None and r["gold"]
        # The prediction is the final answer read from the generated work, and it is scored against
        # the reference as numbers (or normalized text), exactly as the rule says.
        assert r["prediction"] == extract_final_answer(r["output_text"], "auto")
        assert r["correct"] == answers_match(r["prediction"], r["gold"])


def test_accepted_items_are_worked_problems_with_verdicts(gsm8k_run: Path) -> None:
    samples = read_jsonl(gsm8k_run / "round_0" / "generate" / "samples.jsonl")
    accepted = [s for s in samples if s["accepted"]]
    assert len(accepted) == 4
    for s in accepted:
        item = s["item"]
        assert item["kind"] == "free_form" and item["solution"] and item["answer"]
        assert s["verdict"]["score"] == 1.0
    exported = read_jsonl(gsm8k_run / "export" / "augmented.jsonl")
    assert len(exported) == 4 and all(row["kind"] == "free_form" for row in exported)


def test_a_users_worked_answer_file_runs_the_whole_loop(tmp_path: Path) -> None:
    rows = [
        {
            "id": i.id.replace("gsm8k/", "mine-"),
            "question": i.question,
            "solution": i.solution,
            "answer": i.answer,
        }
        for i in load_gsm8k()[:120]
    ]
    # Real data is dirty: one line without its answer is skipped, listed and counted, not fatal.
    rows.insert(7, {"id": "mine-broken", "question": "How many apples are left?"})
    path = tmp_path / "my_task.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    run = tmp_path / "mine"
    with serve() as teacher:
        run_pada(teacher.api_base, run, "dataset=jsonl", "dataset.kind=free_form",
                 f"dataset.path={path}", "dataset.loader.invalid_items=skip", "dataset.max_new_tokens=24",
                 "model.max_length=256", "method=llm2llm")  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["final"]["synthetic_items"] == 4
    assert metrics["skipped_items"] == 1
    [skipped] = read_jsonl(run / "data" / "skipped.jsonl")
    assert (
        skipped["line"] == 8 and "answer" in skipped["reason"] and skipped["file"].endswith("my_task.jsonl")
    )
    assert "1 invalid line(s)" in (run / "summary.md").read_text()
    items = read_jsonl(run / "round_0" / "generate" / "accepted.jsonl")
    assert all(i["kind"] == "free_form" and i["solution"] for i in items)


def test_plain_fine_tuning_runs_on_a_worked_answer_task(tmp_path: Path) -> None:
    run = tmp_path / "sft"
    with serve() as teacher:
        run_pada(teacher.api_base, run, *GSM8K, "method=sft")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["final"]["synthetic_items"] == 0
    assert not (run / "round_0" / "generate").exists()  # sft asks the teacher for nothing
    records = read_jsonl(run / "round_0" / "evaluate" / "test_records.jsonl")
    assert len(records) == 16 and all(r["output_text"] is not None for r in records)
