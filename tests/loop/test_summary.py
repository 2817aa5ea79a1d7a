"""summary.md says what a person needs first: the result, the data that was skipped, what was resumed."""

from __future__ import annotations

from pathlib import Path

from pada.loop.summary import best_round, write_summary

HEADER = {"experiment": "x", "method": "pada", "seed": 0, "status": "finished"}
ROUND = {"round": 0, "train_acc": 0.5, "val_acc": 0.4, "test_acc": 0.3, "gap": 0.1}


def _summary(tmp_path: Path, header: dict | None = None, **final: object) -> str:
    write_summary(tmp_path / "summary.md", header or HEADER, [ROUND], {"best_round": 0, **final}, [])
    return (tmp_path / "summary.md").read_text()


def test_a_second_start_that_reused_nothing_says_so(tmp_path: Path) -> None:
    text = _summary(tmp_path, attempt={"number": 2, "resumed_from": None, "stages_finished_before": 0})
    assert "Attempt 2, in this run folder: no stage had finished before, so nothing was reused." in text
    assert "None" not in text


def test_a_resume_names_its_source_and_what_it_reused(tmp_path: Path) -> None:
    attempt = {"number": 3, "resumed_from": "outputs/x/old", "stages_finished_before": 5,
               "teacher_calls_paid": 2, "teacher_cache_hits": 7}  # fmt: skip
    text = _summary(tmp_path, attempt=attempt)
    assert (
        "Attempt 3, resumed from `outputs/x/old`: 5 stage(s) had finished before and were not rerun." in text
    )
    assert "paid for 2 teacher calls and served 7" in text


def test_skipped_lines_are_counted(tmp_path: Path) -> None:
    assert "3 invalid line(s)" in _summary(tmp_path, {**HEADER, "skipped_items": 3})
    assert "invalid line" not in _summary(tmp_path, {**HEADER, "skipped_items": 0})


def test_best_round_uses_the_select_part_when_there_is_one() -> None:
    rounds = [
        {"round": 0, "val_acc": 0.50, "val_select_acc": 0.40},
        {"round": 1, "val_acc": 0.45, "val_select_acc": 0.42},
    ]
    assert best_round(rounds)["round"] == 1
    assert best_round([{"round": 0, "val_acc": 0.5}, {"round": 1, "val_acc": 0.4}])["round"] == 0
