"""``dataset.loader`` builds the task: each shipped class, a class of one's own, and the errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from pada.tasks import JsonlTask, MCItem, SciReasonTask, Task, TaskDataError, build_task


def _file(tmp_path: Path, n: int = 12) -> Path:
    path = tmp_path / "mine.jsonl"
    rows = [{"question": f"Question {i}?", "choices": ["yes", "no"], "answer": i % 2} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def jsonl(path: Path | None, **loader: object) -> dict:
    return {
        "name": "jsonl",
        "loader": {"_target_": "pada.tasks.JsonlTask", "path": path and str(path), **loader},
    }


def test_the_loader_node_builds_the_task_and_reads_nothing_until_load(tmp_path: Path) -> None:
    task = build_task(jsonl(tmp_path / "not-yet.jsonl"))
    assert isinstance(task, JsonlTask) and isinstance(task, Task)
    assert task.description.startswith("Multiple-choice questions")
    path = _file(tmp_path)
    items, skipped = build_task(jsonl(path, description="Riddles about rivers.")).load()
    assert len(items) == 12 and items[0].source == "mine" and not skipped
    assert build_task(jsonl(path, description="Riddles about rivers.")).description == "Riddles about rivers."


def test_composed_datasets_build_their_tasks(compose) -> None:
    task = build_task(compose("dataset=scireason", "dataset.loader.sources=[sciq]").dataset)
    assert isinstance(task, SciReasonTask) and task.sources == ["sciq"]
    cfg = compose("dataset=jsonl", "dataset.path=x.jsonl", "dataset.kind=free_form")
    task = build_task(cfg.dataset)
    assert task.kind == "free_form" and "final answer" in task.description  # kind follows dataset.kind
    assert task.path == "x.jsonl"  # and the loader's path follows dataset.path
    # The loader's own key still works, and wins.
    assert build_task(compose("dataset=jsonl", "dataset.loader.path=y.jsonl").dataset).path == "y.jsonl"
    with pytest.raises(TaskDataError, match=r"dataset\.path: the jsonl task needs"):
        build_task(compose("dataset=jsonl").dataset)


def test_a_bad_loader_is_named(tmp_path: Path) -> None:
    with pytest.raises(TaskDataError, match=r"dataset\.path"):
        build_task(jsonl(None))
    with pytest.raises(TaskDataError, match=r"dataset\.loader.*sources"):
        build_task(jsonl(_file(tmp_path), sources=["sciq"]))  # an argument JsonlTask does not take
    with pytest.raises(TaskDataError, match=r"dataset\.loader\._target_"):
        build_task({"name": "x", "loader": {}})
    with pytest.raises(TaskDataError, match="not a task"):
        build_task({"name": "x", "loader": {"_target_": "collections.OrderedDict"}})
    with pytest.raises(TaskDataError, match=r"dataset\.loader\.sources.*'physics'"):
        build_task({"name": "scireason", "loader": {"_target_": "pada.tasks.SciReasonTask",
                                                    "sources": ["physics"]}}).load()  # fmt: skip


def test_a_loader_argument_left_unset_is_named(compose) -> None:
    with pytest.raises(TaskDataError, match=r"dataset\.loader\.path` is missing"):
        build_task(compose("dataset=jsonl", "dataset.loader.path=???").dataset)


def test_the_task_kind_must_be_dataset_kind() -> None:
    with pytest.raises(TaskDataError, match="multiple_choice"):
        build_task(
            {"name": "scireason", "kind": "free_form", "loader": {"_target_": "pada.tasks.SciReasonTask"}}
        )


@dataclass
class Colours:
    """A task of one's own: a class with kind, description and load()."""

    n: int = 3
    kind: ClassVar[str] = "multiple_choice"
    description: ClassVar[str] = "Questions about colours."

    def load(self) -> tuple[list[MCItem], list]:
        return [
            MCItem(f"c/{i}", f"Colour {i}?", ("red", "blue"), i % 2, source="c") for i in range(self.n)
        ], []


def test_a_task_of_ones_own_is_a_class_named_by_target() -> None:
    task = build_task({"name": "colours", "loader": {"_target_": f"{__name__}.Colours", "n": 5}})
    assert task.description == "Questions about colours." and len(task.load()[0]) == 5


def test_splits_from_the_dataset_config(tmp_path: Path) -> None:
    from pada.config.schema import DatasetConfig, typed
    from pada.data import prepare_splits

    cfg = typed(DatasetConfig, {**jsonl(_file(tmp_path)), "train_size": 6, "val_size": 3, "test_size": -1})
    splits = prepare_splits(cfg)
    assert [len(p) for p in splits.as_dict().values()] == [6, 3, 3]
    assert not list(tmp_path.glob("data"))  # no run folder: nothing written
    prepare_splits(cfg, tmp_path)
    assert (tmp_path / "data" / "split_manifest.json").exists()
