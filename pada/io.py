"""Reading and writing pada's files: JSON and JSONL, written atomically, and the records they hold.

Every file a run writes goes through :func:`atomic_write_text` (a temporary file in the same folder,
then a rename), so a reader, or a run resumed after a crash, never sees half a file. Text is UTF-8
and JSON keeps non-ASCII characters as they are, so artifacts in any language stay readable.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import TypeAdapter


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename; missing folders are made.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (values JSON cannot hold are written as strings)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Atomically write one JSON object per line."""
    return atomic_write_text(
        path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    )


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read one JSON object per line (blank lines are skipped)."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@functools.cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


class JsonRecord:
    """``to_dict`` / ``from_dict`` for a dataclass record, done by pydantic from its type hints.

    ``to_dict`` gives the fields as plain Python values (nested records as dicts), ready for
    :func:`write_json`; ``from_dict`` validates a dict read back (types are checked and coerced the
    way pydantic does, keys the record does not have are ignored) and builds the record.
    """

    def to_dict(self) -> dict[str, Any]:
        """The record as a dict of plain values."""
        return _adapter(type(self)).dump_python(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """The record a dict from :meth:`to_dict` describes."""
        return _adapter(cls).validate_python(d)
