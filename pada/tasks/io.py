"""Write items and evaluation records as JSONL, and read records back.

Items are written in the schema that :func:`pada.tasks.jsonl.load_jsonl` reads, so an exported
(for example augmented) dataset is itself a valid ``jsonl`` task. Writes are atomic: a reader, or a
run resumed after a crash, never sees a half-written file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pada.tasks.errors import TaskDataError
from pada.tasks.schema import EvalRecord, Item


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Args:
        path: The destination; missing parent folders are created.
        text: The content, written as UTF-8.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _jsonl(rows: Iterable[dict[str, Any]]) -> str:
    # ensure_ascii=False keeps non-English text readable in the artifacts people inspect.
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_items_jsonl(items: Iterable[Item], path: str | Path) -> Path:
    """Write items one JSON object per line, readable again with :func:`~pada.tasks.jsonl.load_jsonl`.

    Args:
        items: Multiple-choice or free-form items (their ``meta`` must be JSON-serializable).
        path: The destination file.

    Returns:
        The destination path.
    """
    return atomic_write_text(path, _jsonl(item.to_dict() for item in items))


def write_records(records: Iterable[EvalRecord], path: str | Path) -> Path:
    """Write evaluation records one JSON object per line.

    Args:
        records: The records.
        path: The destination file.

    Returns:
        The destination path.
    """
    return atomic_write_text(path, _jsonl(record.to_dict() for record in records))


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
