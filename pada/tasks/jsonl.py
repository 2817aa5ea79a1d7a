"""Load a user's task from a JSONL file.

The file format
---------------

One JSON object per line, UTF-8. Blank lines are skipped. Every other line must be a valid item:
nothing is silently dropped, and any problem raises :class:`~pada.tasks.errors.TaskDataError` naming
the file, the line number and the field.

Multiple choice (``dataset.kind=multiple_choice``, the default)::

    {"id": "q1", "question": "Capital of France?", "choices": ["Rome", "Paris", "Oslo"], "answer": "Paris"}

- ``id`` (optional): a unique string (an integer is accepted and turned into a string).
  Default: ``<file stem>-<line number>``.
- ``question`` (required): a non-empty string.
- ``choices`` (required): an array of 2 to 26 non-empty, distinct strings, in presentation order.
- ``answer`` (required): the correct choice, as one of: the exact text of a choice (``"Paris"``),
  its letter (``"B"``; ``A`` is the first choice), or its 0-based index (``1``).
- ``context`` (optional): a passage the question refers to (a string or ``null``).
- ``source`` (optional): where the item comes from (a string). Default: the file stem.
- ``meta`` (optional): an object of free-form provenance, kept with the item.
- ``kind`` (optional): if present, must equal the task kind (files written by pada carry it).

Free form (``dataset.kind=free_form``)::

    {"id": "m1", "question": "What is 7 * 6?", "answer": "42"}
    {"id": "m2", "question": "Tom has 3 bags of 4 apples. How many apples?",
     "solution": "Each bag holds 4 apples, so 3 bags hold 3 * 4 = 12.", "answer": 12}

- ``id``, ``question``, ``context``, ``source``, ``meta``, ``kind``: as above.
- ``answer`` (required): the reference final answer, a non-empty string (a number is accepted and
  turned into a string). A prediction is correct when its final answer equals it as a number
  (``1,000`` = ``1000``) or as text after normalization (letter case, punctuation, articles and
  spacing are ignored); see :mod:`pada.tasks.answers`.
- ``solution`` (optional): a worked solution, the reasoning that leads to the answer (a string or
  ``null``). With one, the student is trained to write the solution, then ``#### <answer>``.
- ``choices`` is not allowed.

Surrounding whitespace is stripped from ids, questions, choices, answers and contexts; an empty
``context`` is the same as none. Any other field is kept in the item's ``meta`` under its own name,
unless it looks like a misspelt known field (``contxt``), which is an error. A question and context
together may hold at most :data:`MAX_ITEM_CHARS` characters (far more than any student reads: prompts
are cut from the left to ``model.max_length`` tokens).

Real data is dirty
------------------

By default (``dataset.loader.invalid_items=error``) the first bad line stops the load. With ``skip``, each
bad line is left out and reported as a :class:`SkippedLine` (file, line, reason); the run lists them
in ``data/skipped.jsonl`` and counts them in its log, summary and metrics. File-level problems (no
file, not readable, no valid item at all) are errors either way.
"""

from __future__ import annotations

import codecs
import difflib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pada.tasks.errors import TaskDataError
from pada.tasks.schema import LETTERS, Item, MCItem, QAItem

KINDS = ("multiple_choice", "free_form")
#: What a bad line does: stop the load (``error``) or be left out and reported (``skip``).
INVALID_ITEMS = ("error", "skip")
#: The most characters a question and its context may hold together (1e5: about 25k tokens).
MAX_ITEM_CHARS = 100_000
_COMMON_FIELDS = ("id", "question", "answer", "context", "source", "meta", "kind")
_MC_FIELDS = (*_COMMON_FIELDS, "choices")
_FREE_FORM_FIELDS = (*_COMMON_FIELDS, "solution")


@dataclass(frozen=True)
class SkippedLine:
    """A line left out of a task file under ``dataset.loader.invalid_items=skip``."""

    file: str
    line: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def load_jsonl(path: str | Path, kind: str = "multiple_choice") -> list[Item]:
    """Load the items of a JSONL task file (the format is in this module's docstring).

    Args:
        path: The ``.jsonl`` file.
        kind: ``multiple_choice`` (items are :class:`MCItem`) or ``free_form`` (:class:`QAItem`).

    Returns:
        The items, in file order.

    Raises:
        TaskDataError: The file is missing, unreadable, not UTF-8, holds no items, or a line is not
            a valid item; the message names the file, the line and the field.
    """
    return read_jsonl_task(path, kind)[0]


def read_jsonl_task(
    path: str | Path, kind: str = "multiple_choice", invalid_items: str = "error"
) -> tuple[list[Item], list[SkippedLine]]:
    """Load a JSONL task file, stopping at the first bad line or skipping each one.

    Args:
        path: The ``.jsonl`` file.
        kind: ``multiple_choice`` or ``free_form``.
        invalid_items: ``error`` (a bad line raises) or ``skip`` (it is left out and reported).

    Returns:
        The items in file order, and the skipped lines (always empty with ``error``).

    Raises:
        TaskDataError: As :func:`load_jsonl`; with ``skip``, only for file-level problems.
    """
    if invalid_items not in INVALID_ITEMS:
        raise TaskDataError(
            f"dataset.loader.invalid_items={invalid_items!r}: expected one of {', '.join(INVALID_ITEMS)}"
        )
    if kind not in KINDS:
        raise TaskDataError(f"unknown task kind {kind!r}: expected one of {', '.join(KINDS)}")
    path = Path(path)
    data = read_bytes(path)
    items: list[Item] = []
    skipped: list[SkippedLine] = []
    first_line_of_id: dict[str, int] = {}
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        try:
            item = _line_item(raw, lineno, path, kind, first_line_of_id)
        except TaskDataError as err:
            if invalid_items == "error":
                hint = "; dataset.loader.invalid_items=skip leaves such lines out and lists them"
                raise TaskDataError(f"{err}{hint}") from None
            skipped.append(SkippedLine(str(path), lineno, str(err).removeprefix(f"{path} line {lineno}: ")))
            continue
        if item is not None:
            first_line_of_id[item.id] = lineno
            items.append(item)
    if not items:
        if skipped:
            raise TaskDataError(
                f"{path}: no valid items: all {len(skipped)} non-blank lines are invalid "
                f"(line {skipped[0].line}: {skipped[0].reason})"
            )
        raise TaskDataError(f"{path}: no items (the file is empty or holds only blank lines)")
    return items, skipped


#: What the agents are told about a task of one's own without a ``description``, by its kind.
DEFAULT_DESCRIPTIONS = {
    "multiple_choice": "Multiple-choice questions; the student picks the letter of the one correct option.",
    "free_form": "Free-form questions; the student writes its reasoning, then a short final answer.",
}


@dataclass
class JsonlTask:
    """A task of one's own, a JSONL file, as ``dataset.loader`` builds it (``pada.tasks.JsonlTask``).

    Args:
        path: The ``.jsonl`` file (the format is in this module's docstring).
        kind: ``multiple_choice`` or ``free_form``.
        invalid_items: ``error`` (a bad line stops the load) or ``skip`` (it is left out and returned).
        description: The sentence that tells the agents what the task is (``None``: its kind's).

    Raises:
        TaskDataError: No path, or an unknown kind or ``invalid_items``.
    """

    path: str | None = None
    kind: str = "multiple_choice"
    invalid_items: str = "error"
    description: str | None = None

    def __post_init__(self) -> None:
        if not self.path:
            raise TaskDataError("dataset.path: the jsonl task needs the path of a .jsonl file")
        if self.kind not in KINDS:
            raise TaskDataError(f"dataset.kind={self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.invalid_items not in INVALID_ITEMS:
            expected = ", ".join(INVALID_ITEMS)
            raise TaskDataError(
                f"dataset.loader.invalid_items={self.invalid_items!r}: expected one of {expected}"
            )
        if self.description is None:
            self.description = DEFAULT_DESCRIPTIONS[self.kind]

    def load(self) -> tuple[list[Item], list[SkippedLine]]:
        """The file's items and the lines skipped (see :func:`read_jsonl_task`)."""
        return read_jsonl_task(str(self.path), self.kind, self.invalid_items)


def read_bytes(path: Path) -> bytes:
    """A JSONL file's bytes, without a leading byte-order mark; a file that cannot be read is named."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TaskDataError(f"{path}: no such file") from None
    except OSError as exc:
        raise TaskDataError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    # Editors on Windows often prepend a byte-order mark; it is not part of the first JSON object.
    return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data


def json_object(raw: bytes, where: str) -> dict[str, Any] | None:
    """The JSON object on one line of a JSONL file (``None`` for a blank line).

    Raises:
        TaskDataError: The line is not UTF-8, not JSON, or not an object; the message starts with
            ``where`` (the file and line).
    """
    # Decode line by line (not the whole file) so that the error can name the bad line.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskDataError(
            f"{where}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
            "save the file as UTF-8"
        ) from None
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskDataError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise TaskDataError(f"{where}: expected a JSON object, got {_json_type(obj)}")
    return obj


def _line_item(
    raw: bytes, lineno: int, path: Path, kind: str, first_line_of_id: dict[str, int]
) -> Item | None:
    """The item on one line (``None`` for a blank line); a bad line raises naming file and line."""
    where = f"{path} line {lineno}"
    obj = json_object(raw, where)
    if obj is None:
        return None
    default_id = f"{path.stem}-{lineno}"
    item = parse_item(obj, kind, where=where, default_id=default_id, default_source=path.stem)
    if item.id in first_line_of_id:
        raise TaskDataError(
            f'{where}: field "id": duplicate id {_show(item.id)} '
            f"(already used on line {first_line_of_id[item.id]})"
        )
    return item


def parse_item(
    obj: dict[str, Any],
    kind: str,
    *,
    where: str = "item",
    default_id: str | None = None,
    default_source: str = "",
) -> Item:
    """Validate one decoded JSON object and build the item it describes.

    Exposed so that other readers (generated samples, for instance) apply the same rules as files.

    Args:
        obj: The decoded object.
        kind: ``multiple_choice`` or ``free_form``.
        where: How error messages name the object's location (``data.jsonl line 7``).
        default_id: The id used when the object has none; ``None`` makes ``id`` required.
        default_source: The source used when the object has none.

    Returns:
        An :class:`MCItem` or a :class:`QAItem`.

    Raises:
        TaskDataError: A field is missing, has the wrong type, or is inconsistent.
    """
    if kind not in KINDS:
        raise TaskDataError(f"unknown task kind {kind!r}: expected one of {', '.join(KINDS)}")
    known = _MC_FIELDS if kind == "multiple_choice" else _FREE_FORM_FIELDS

    if "kind" in obj and obj["kind"] != kind:
        raise TaskDataError(
            f'{where}: field "kind": {_show(obj["kind"])} does not match the task kind "{kind}"'
        )
    if kind == "free_form" and "choices" in obj:
        raise TaskDataError(
            f'{where}: field "choices": free-form items have no choices; '
            "load a multiple-choice file with kind multiple_choice"
        )

    extras: dict[str, Any] = {}
    for key, value in obj.items():
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        if close:
            raise TaskDataError(f'{where}: unknown field "{key}" (did you mean "{close[0]}"?)')
        extras[key] = value

    if "id" in obj:
        item_id = _require_id(obj["id"], where)
    elif default_id is not None:
        item_id = default_id
    else:
        raise TaskDataError(f'{where}: missing required field "id"')
    question = _require_text(obj, "question", where)
    context = _optional_text(obj, "context", where)
    size = len(question) + len(context or "")
    if size > MAX_ITEM_CHARS:
        raise TaskDataError(
            f'{where}: field "question": {size:,} characters with its context, more than the limit of '
            f"{MAX_ITEM_CHARS:,} (a student reads only the last model.max_length tokens of a prompt)"
        )
    # An explicit "" is kept (pada writes items with no source that way); only a missing source defaults.
    source = default_source if obj.get("source") is None else (_optional_text(obj, "source", where) or "")

    meta = obj.get("meta")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise TaskDataError(f'{where}: field "meta": expected an object, got {_json_type(meta)}')
    clash = sorted(set(extras) & set(meta))
    if clash:
        raise TaskDataError(f'{where}: field "{clash[0]}" appears both at top level and in "meta"')
    meta = {**extras, **meta}

    if kind == "free_form":
        return QAItem(
            id=item_id,
            question=question,
            answer=_free_form_answer(obj, where),
            context=context,
            source=source,
            solution=_optional_text(obj, "solution", where),
            meta=meta,
        )

    choices = _require_choices(obj, where)
    return MCItem(
        id=item_id,
        question=question,
        choices=choices,
        answer=_resolve_answer(obj, choices, where),
        context=context,
        source=source,
        meta=meta,
    )


def _require_id(value: Any, where: str) -> str:
    # Integer ids are common in exported datasets; they are unambiguous as strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise TaskDataError(f'{where}: field "id": expected a string, got {_json_type(value)}')
    if not value.strip():
        raise TaskDataError(f'{where}: field "id": must not be empty')
    return value.strip()


def _require_text(obj: dict[str, Any], name: str, where: str) -> str:
    if name not in obj:
        raise TaskDataError(f'{where}: missing required field "{name}"')
    value = obj[name]
    if not isinstance(value, str):
        raise TaskDataError(f'{where}: field "{name}": expected a string, got {_json_type(value)}')
    if not value.strip():
        raise TaskDataError(f'{where}: field "{name}": must not be empty')
    return value.strip()


def _optional_text(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TaskDataError(f'{where}: field "{name}": expected a string or null, got {_json_type(value)}')
    return value.strip() or None


def _require_choices(obj: dict[str, Any], where: str) -> tuple[str, ...]:
    if "choices" not in obj:
        raise TaskDataError(f'{where}: missing required field "choices"')
    value = obj["choices"]
    if not isinstance(value, list):
        raise TaskDataError(
            f'{where}: field "choices": expected an array of strings, got {_json_type(value)}'
        )
    if len(value) < 2:
        raise TaskDataError(f'{where}: field "choices": needs at least 2 choices, got {len(value)}')
    if len(value) > len(LETTERS):
        raise TaskDataError(f'{where}: field "choices": at most {len(LETTERS)} choices, got {len(value)}')
    choices: list[str] = []
    for i, choice in enumerate(value):
        if not isinstance(choice, str):
            raise TaskDataError(
                f'{where}: field "choices": choice {i} ({LETTERS[i]}) must be a string, '
                f"got {_json_type(choice)}"
            )
        if not choice.strip():
            raise TaskDataError(f'{where}: field "choices": choice {i} ({LETTERS[i]}) is empty')
        # Two identical options make "the answer" ambiguous and the item unlearnable.
        if choice.strip() in choices:
            j = choices.index(choice.strip())
            raise TaskDataError(
                f'{where}: field "choices": choice {i} ({LETTERS[i]}) repeats choice {j} ({LETTERS[j]}) '
                f"{_show(choice.strip())}"
            )
        choices.append(choice.strip())
    return tuple(choices)


def _resolve_answer(obj: dict[str, Any], choices: tuple[str, ...], where: str) -> int:
    if "answer" not in obj:
        raise TaskDataError(f'{where}: missing required field "answer"')
    value = obj["answer"]
    n = len(choices)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < n:
            return value
        raise TaskDataError(
            f'{where}: field "answer": index {value} is out of range for {n} choices '
            f"(indices count from 0, so 0..{n - 1})"
        )
    if not isinstance(value, str):
        raise TaskDataError(
            f'{where}: field "answer": expected the text of a choice, its letter, or its 0-based index, '
            f"got {_json_type(value)}"
        )
    answer = value.strip()
    by_text = choices.index(answer) if answer in choices else None
    by_letter = LETTERS.index(answer) if len(answer) == 1 and answer in LETTERS[:n] else None
    if by_text is not None:
        # A choice that is itself a letter ("A") at another position would make the answer mean two things.
        if by_letter is not None and by_letter != by_text:
            raise TaskDataError(
                f'{where}: field "answer": {_show(answer)} is ambiguous: it is the text of choice '
                f"{LETTERS[by_text]} and also the letter of choice {answer}; give the 0-based index instead"
            )
        return by_text
    if by_letter is not None:
        return by_letter
    hint = ""
    folded = [c for c in choices if c.casefold() == answer.casefold()]
    if folded:
        hint = f" (choice {_show(folded[0])} differs only in letter case)"
    elif len(answer) == 1 and answer in LETTERS:
        hint = f" (and {answer} is not a valid letter for {n} choices: A..{LETTERS[n - 1]})"
    shown = "[" + ", ".join(_show(c) for c in choices) + "]"
    raise TaskDataError(f'{where}: field "answer": {_show(answer)} is not among the choices {shown}{hint}')


def _free_form_answer(obj: dict[str, Any], where: str) -> str:
    if "answer" not in obj:
        raise TaskDataError(f'{where}: missing required field "answer"')
    value = obj["answer"]
    # Numeric reference answers (GSM8K-style) are natural to write unquoted.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise TaskDataError(f'{where}: field "answer": expected a string, got {_json_type(value)}')
    if not value.strip():
        raise TaskDataError(f'{where}: field "answer": must not be empty')
    return value.strip()


def _json_type(value: Any) -> str:
    """Name a decoded JSON value's type the way a JSON user would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any, limit: int = 80) -> str:
    """Render a value as JSON, shortened so that error messages stay one readable line."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 4] + '..."'
