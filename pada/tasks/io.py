"""Write items and evaluation records as JSONL (through :mod:`pada.io`), and read records back.

Items are written in the schema that :func:`pada.tasks.jsonl.load_jsonl` reads, so an exported
(for example augmented) dataset is itself a valid ``jsonl`` task. Writes are atomic: a reader, or a
run resumed after a crash, never sees a half-written file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from pada.io import write_jsonl
from pada.tasks.errors import TaskDataError
from pada.tasks.jsonl import json_object, read_bytes
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
    records: list[EvalRecord] = []
    for lineno, raw in enumerate(read_bytes(path).split(b"\n"), start=1):
        where = f"{path} line {lineno}"
        obj = json_object(raw, where)
        if obj is None:
            continue
        missing = [name for name in _RECORD_REQUIRED if name not in obj]
        if missing:
            raise TaskDataError(f'{where}: missing required field "{missing[0]}"')
        unknown = sorted(set(obj) - set(_RECORD_FIELDS))
        if unknown:
            raise TaskDataError(f'{where}: unknown field "{unknown[0]}"')
        records.append(EvalRecord.from_dict(obj))
    return records
