"""Write items and evaluation records as JSONL (through :mod:`pada.io`), and read records back.

Items are written in the schema that :func:`pada.tasks.jsonl.load_jsonl` reads, so an exported
(for example augmented) dataset is itself a valid ``jsonl`` task. Writes are atomic: a reader, or a
run resumed after a crash, never sees a half-written file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

from pada.io import write_jsonl
from pada.tasks.errors import TaskDataError
from pada.tasks.schema import EvalRecord, Item


def write_items_jsonl(items: Iterable[Item], path: str | Path) -> Path:
    """Write items one JSON object per line, readable again with :func:`~pada.tasks.jsonl.load_jsonl`.

    Args:
        items: Multiple-choice or free-form items (their ``meta`` must be JSON-serializable).
        path: The destination file.

    Returns:
        The destination path.
    """
    return write_jsonl(path, (item.to_dict() for item in items))


def write_records(records: Iterable[EvalRecord], path: str | Path) -> Path:
    """Write evaluation records one JSON object per line.

    Args:
        records: The records.
        path: The destination file.

    Returns:
        The destination path.
    """
    return write_jsonl(path, (record.to_dict() for record in records))


_RECORD_FIELDS = {f.name: f for f in dataclasses.fields(EvalRecord)}
_RECORD_REQUIRED = [
    name
    for name, f in _RECORD_FIELDS.items()
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
]


def read_records(path: str | Path) -> list[EvalRecord]:
    """Read evaluation records written by :func:`write_records`.

    Args:
        path: The JSONL file.

    Returns:
        The records, in file order.

    Raises:
        TaskDataError: The file is missing or a line is not a valid record (file and line named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskDataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise TaskDataError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    records: list[EvalRecord] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path} line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskDataError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise TaskDataError(f"{where}: expected a JSON object")
        missing = [name for name in _RECORD_REQUIRED if name not in obj]
        if missing:
            raise TaskDataError(f'{where}: missing required field "{missing[0]}"')
        unknown = sorted(set(obj) - set(_RECORD_FIELDS))
        if unknown:
            raise TaskDataError(f'{where}: unknown field "{unknown[0]}"')
        records.append(EvalRecord.from_dict(obj))
    return records
