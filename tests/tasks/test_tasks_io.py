from __future__ import annotations

import json
from pathlib import Path

import pytest

from pada.tasks import (
    EvalRecord,
    MCItem,
    QAItem,
    TaskDataError,
    load_jsonl,
    read_records,
    write_items_jsonl,
    write_records,
)


def test_multiple_choice_round_trip(tmp_path: Path) -> None:
    items = [
        MCItem("a/1", "Which gas do plants take in?", ("oxygen", "carbon dioxide"), 1, source="arc_easy"),
        MCItem(
            "syn-1",
            "Caf\u00e9 question with context?",
            ("x", "y", "z"),
            2,
            context="A passage.",
            source="synthetic",
            meta={"pattern": 3, "strategy": "contrast", "verdict": {"ok": True}},
        ),
    ]
    path = write_items_jsonl(items, tmp_path / "out" / "aug.jsonl")
    back = load_jsonl(path)
    assert back == items
    assert [it.meta for it in back] == [it.meta for it in items]
    assert "Caf\u00e9" in path.read_text(encoding="utf-8")  # readable, not \u-escaped


def test_free_form_round_trip(tmp_path: Path) -> None:
    items = [
        QAItem("m1", "7 * 6?", "42", source="gsm"),
        QAItem("m2", "Capital of Peru?", "Lima", context="geo"),
    ]
    back = load_jsonl(write_items_jsonl(items, tmp_path / "qa.jsonl"), kind="free_form")
    assert back == items


def test_kind_mismatch_on_read_back(tmp_path: Path) -> None:
    path = write_items_jsonl([QAItem("m1", "7 * 6?", "42")], tmp_path / "qa.jsonl")
    with pytest.raises(TaskDataError, match='field "kind"'):
        load_jsonl(path, kind="multiple_choice")


def test_records_round_trip(tmp_path: Path) -> None:
    records = [
        EvalRecord(
            "a/1", "validation", "q?", ["x", "y"], "B", "A", False, option_probs=[0.4, 0.6], source="sciq"
        ),
        EvalRecord("m1", "test", "7 * 6?", [], "42", "42", True, output_text="It is 42."),
    ]
    path = write_records(records, tmp_path / "errors.jsonl")
    assert read_records(path) == records
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write leaves no temporary file


def test_records_errors_name_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = EvalRecord("a", "test", "q", ["x", "y"], "A", "A", True).to_dict()
    bad = {k: v for k, v in good.items() if k != "gold"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(TaskDataError, match=r'r\.jsonl line 2: missing required field "gold"'):
        read_records(path)
    path.write_text(json.dumps({**good, "extra": 1}) + "\n")
    with pytest.raises(TaskDataError, match=r'line 1: unknown field "extra"'):
        read_records(path)
