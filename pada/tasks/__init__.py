"""Tasks: loading items (built-in ``scireason`` and ``gsm8k``, or a user's JSONL), splitting them, item I/O.

A task is a class that ``dataset.loader`` names with ``_target_`` (:class:`SciReasonTask`,
:class:`Gsm8kTask`, :class:`JsonlTask`, or one's own with the :class:`Task` members), built by
:func:`build_task`. From a composed config, :func:`pada.data.prepare_splits` goes from the
``dataset`` group to the splits; this package has the parts it is made of.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pada.tasks.errors import TaskDataError
from pada.tasks.gsm8k import Gsm8kTask, load_gsm8k
from pada.tasks.io import read_records, write_items_jsonl, write_records
from pada.tasks.jsonl import (
    DEFAULT_DESCRIPTIONS,
    JsonlTask,
    SkippedLine,
    load_jsonl,
    parse_item,
)
from pada.tasks.schema import EvalRecord, Item, MCItem, QAItem, normalize_text
from pada.tasks.scireason import SCIREASON_SOURCES, SciReasonTask, load_scireason, source_counts
from pada.tasks.splits import Splits, split_items, split_key, split_manifest, write_manifest

#: The description of a task of one's own (``JsonlTask``), by its kind.
DEFAULT_TASK = DEFAULT_DESCRIPTIONS["multiple_choice"]
DEFAULT_FREE_FORM_TASK = DEFAULT_DESCRIPTIONS["free_form"]


@runtime_checkable
class Task(Protocol):
    """What ``dataset.loader`` builds: a task's kind, its one-sentence description, and its items.

    ``kind`` is ``multiple_choice`` or ``free_form``; ``description`` tells every agent what the
    student faces; ``load()`` returns the items and the lines it skipped (file, line, reason).
    """

    kind: str
    description: str

    def load(self) -> tuple[list[Item], list[SkippedLine]]:
        """The task's items and the lines skipped."""
        ...


__all__ = [
    "DEFAULT_DESCRIPTIONS",
    "DEFAULT_FREE_FORM_TASK",
    "DEFAULT_TASK",
    "SCIREASON_SOURCES",
    "EvalRecord",
    "Gsm8kTask",
    "Item",
    "JsonlTask",
    "MCItem",
    "QAItem",
    "SciReasonTask",
    "SkippedLine",
    "Splits",
    "Task",
    "TaskDataError",
    "build_task",
    "load_gsm8k",
    "load_jsonl",
    "load_scireason",
    "normalize_text",
    "parse_item",
    "read_records",
    "source_counts",
    "split_items",
    "split_key",
    "split_manifest",
    "write_items_jsonl",
    "write_manifest",
    "write_records",
]


def build_task(dataset: Any) -> Task:
    """The task a ``dataset`` node configures: ``dataset.loader`` built with ``hydra.utils.instantiate``.

    Building reads nothing; :meth:`Task.load` does. ``dataset`` may be a composed node, a
    :class:`~pada.config.schema.DatasetConfig` or a dict of some of its keys.

    Raises:
        TaskDataError: The loader cannot be built (a missing ``_target_``, an argument it does not
            take, a bad value), or its kind is not ``dataset.kind``.
    """
    from pada.config.build import build
    from pada.config.schema import DatasetConfig, typed

    dataset = typed(DatasetConfig, dataset)
    loader = dataset.loader
    task = build(loader, "dataset.loader", "pada.tasks.SciReasonTask", TaskDataError)
    if not isinstance(task, Task):
        raise TaskDataError(
            f"dataset.loader._target_={loader._target_!r}: not a task (it needs kind, description and load())"
        )
    if task.kind != dataset.kind:
        raise TaskDataError(
            f"dataset.kind={dataset.kind!r}: the task {dataset.name!r} is {task.kind} ({loader._target_})"
        )
    return task
