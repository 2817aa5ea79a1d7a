"""From the dataset config to the splits a run uses: skipped lines, empty splits, long items."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pada.config.schema import DatasetConfig, typed
from pada.data import prepare_splits
from pada.tasks import TaskDataError


def _dataset(path: Path, **sizes: object) -> DatasetConfig:
    loader = {"_target_": "pada.tasks.JsonlTask", "path": str(path)}
    if "invalid_items" in sizes:
        loader["invalid_items"] = sizes.pop("invalid_items")
    return typed(DatasetConfig, {"name": "jsonl", "loader": loader, "train_size": 0.6, "val_size": 0.2,
                                 "test_size": -1, **sizes})  # fmt: skip


def _file(tmp_path: Path, n: int, bad: int = 0, question: str = "Question {i} about science?") -> Path:
    rows = [json.dumps({"id": f"q{i}", "question": question.format(i=i), "choices": ["yes", "no"],
                        "answer": i % 2}) for i in range(n)]  # fmt: skip
    rows += [json.dumps({"id": f"bad{i}", "question": "Which?", "choices": ["same", "same"], "answer": 0})
             for i in range(bad)]  # fmt: skip
    path = tmp_path / "task.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_skipped_lines_are_listed_in_the_run_folder(tmp_path: Path) -> None:
    splits = prepare_splits(_dataset(_file(tmp_path, 20, bad=3), invalid_items="skip"), tmp_path / "run")
    listed = [
        json.loads(line) for line in (tmp_path / "run" / "data" / "skipped.jsonl").read_text().splitlines()
    ]
    assert [row["line"] for row in listed] == [21, 22, 23] and all(
        "repeats" in row["reason"] for row in listed
    )
    assert splits.params["skipped_items"] == 3
    manifest = json.loads((tmp_path / "run" / "data" / "split_manifest.json").read_text())
    assert manifest["params"]["skipped_items"] == 3
    with pytest.raises(TaskDataError, match="line 21"):
        prepare_splits(_dataset(_file(tmp_path, 20, bad=3)), tmp_path / "run2")


def test_a_three_item_file_stops_naming_the_split_sizes(tmp_path: Path) -> None:
    with pytest.raises(TaskDataError, match=r"validation split is empty \(train 1, validation 0, test 2"):
        prepare_splits(_dataset(_file(tmp_path, 3)), tmp_path / "run")


def test_items_longer_than_the_student_reads_are_warned_about(tmp_path: Path, caplog) -> None:
    path = _file(tmp_path, 10, question="A long question {i} " + "with many words " * 200)
    with caplog.at_level(logging.WARNING, logger="pada.data"):
        prepare_splits(_dataset(path), tmp_path / "run", max_length=384)
    assert "10 item(s) are longer than the student reads (model.max_length=384" in caplog.text
