from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pada.tasks import KNOWN_TASKS, TaskDataError, build_task, load_splits, load_task


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


@dataclass
class _DatasetCfg:
    name: str = "jsonl"
    kind: str = "multiple_choice"
    path: str | None = None
    sources: list[str] = field(default_factory=list)
    train_size: float = 6
    val_size: float = 3
    test_size: float = -1
    seed: int = 0


def test_load_task_and_splits_from_config_objects(tmp_path: Path) -> None:
    path = str(_file(tmp_path))
    assert len(load_task({"name": "jsonl", "path": path})) == 12
    assert len(load_task({"dataset": {"name": "jsonl", "path": path}})) == 12
    splits = load_splits(_DatasetCfg(path=path))
    assert [len(p) for p in splits.as_dict().values()] == [6, 3, 3]


def test_load_task_from_omegaconf(tmp_path: Path) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.structured({"dataset": _DatasetCfg(path=str(_file(tmp_path)))})
    splits = load_splits(cfg)
    assert [len(p) for p in splits.as_dict().values()] == [6, 3, 3]


def test_missing_name() -> None:
    with pytest.raises(TaskDataError, match="dataset.name"):
        load_task({"kind": "multiple_choice"})
