from __future__ import annotations

import json
from pathlib import Path

import pytest

from pada.tasks import KNOWN_TASKS, TaskDataError, build_task


def _file(tmp_path: Path, n: int = 12) -> Path:
    path = tmp_path / "mine.jsonl"
    rows = [{"question": f"Question {i}?", "choices": ["yes", "no"], "answer": i % 2} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_build_jsonl(tmp_path: Path) -> None:
    items = build_task("jsonl", path=_file(tmp_path))
    assert len(items) == 12 and items[0].source == "mine"


def test_unknown_task_lists_known_ones() -> None:
    with pytest.raises(TaskDataError) as err:
        build_task("sciqa")
    assert all(name in str(err.value) for name in KNOWN_TASKS)


def test_jsonl_needs_path_and_rejects_sources(tmp_path: Path) -> None:
    with pytest.raises(TaskDataError, match="dataset.path"):
        build_task("jsonl")
    with pytest.raises(TaskDataError, match="dataset.sources"):
        build_task("jsonl", path=_file(tmp_path), sources=["sciq"])


def test_scireason_is_multiple_choice_only() -> None:
    with pytest.raises(TaskDataError, match="multiple_choice"):
        build_task("scireason", kind="free_form")


def test_splits_from_the_dataset_config(tmp_path: Path) -> None:
    from pada.config.schema import DatasetConfig
    from pada.data import prepare_splits

    cfg = DatasetConfig(name="jsonl", path=str(_file(tmp_path)), train_size=6, val_size=3, test_size=-1)
    splits = prepare_splits(cfg)
    assert [len(p) for p in splits.as_dict().values()] == [6, 3, 3]
    assert not list(tmp_path.glob("data"))  # no run folder: nothing written
    prepare_splits(cfg, tmp_path)
    assert (tmp_path / "data" / "split_manifest.json").exists()
