"""Turning what the teacher wrote into valid records, and rendering items into prompt text.

Small local models break formats in many small ways: options prefixed with ``A)``, the answer given as
``"B) photosynthesis"`` or as the option's text, a list written as one string, an index instead of a
letter. The parsers accept what is unambiguous and reject the rest with :class:`ParseError`, which
the agents count as a parse failure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pada.tasks.schema import LETTERS, MCItem, normalize_text
from pada.teacher.runner import ParseError as ParseError  # re-exported: the agents raise it from here

# "A) x", "(b) x", "C. x", "D: x", "E - x", "<A> x", "[B] x"; not "U.S. Navy" or "A cat".
_OPTION_PREFIX = re.compile(r"^\s*(?:[\(\[<][A-Za-z][\)\]>]\s*|[A-Za-z][\).:]\s+|[A-Za-z]\s+-\s+)")
_LETTER = re.compile(
    r"^\s*(?:option\s+|answer\s*:?\s*)?[\(\[<]?([A-Za-z])[\)\]>]?(?:\s*[\).:]|\s*$|\s+)", re.IGNORECASE
)


def format_options(choices: Sequence[str]) -> str:
    """The option block every prompt uses: one ``A. text`` line per option."""
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def format_item(item: MCItem, with_answer: bool = True) -> str:
    """An item as prompt text: question, options and (optionally) the answer letter."""
    text = f"Question: {item.question}\n{format_options(item.choices)}"
    return f"{text}\nAnswer: {item.answer_letter}" if with_answer else text


def clean_option(text: Any) -> str:
    """An option without a leading ``A)`` / ``(b)`` / ``C.`` label."""
    return _OPTION_PREFIX.sub("", str(text)).strip()


def parse_letter(answer: Any, choices: Sequence[str]) -> int:
    """The option index an answer names: a letter (``B``, ``(b)``, ``B) text``), an option, or an index.

    Raises:
        ParseError: The answer names no option, or is ambiguous.
    """
    n = len(choices)
    if isinstance(answer, bool):
        raise ParseError(f"answer {answer!r} is not an option")
    if isinstance(answer, int):
        # Models that write an index almost always count from 0 in JSON; 1-based only past the end.
        if 0 <= answer < n:
            return answer
        raise ParseError(f"answer index {answer} out of range for {n} options")
    text = str(answer or "").strip()
    if not text:
        raise ParseError("empty answer")
    norm = normalize_text(clean_option(text))
    matches = [i for i, c in enumerate(choices) if normalize_text(c) == norm and norm]
    if len(matches) == 1 and len(text) > 2:
        return matches[0]
    m = _LETTER.match(text)
    if m:
        idx = LETTERS.index(m.group(1).upper())
        if idx < n:
            return idx
    if text.isdigit() and 1 <= int(text) <= n:
        return int(text) - 1
    if len(matches) == 1:
        return matches[0]
    raise ParseError(f"answer {text[:40]!r} names none of the {n} options")


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    if isinstance(value, dict):  # {"A": "...", "B": "..."}
        return [str(v) for _, v in sorted(value.items())]
    if isinstance(value, str):
        parts = [p for p in re.split(r"\n|;|\s(?=\(?[B-Z][\).:]\s)", value) if p.strip()]
        return parts
    raise ParseError(f"options must be a list, got {type(value).__name__}")


def to_mc_item(raw: Any, item_id: str, meta: dict[str, Any] | None = None) -> tuple[MCItem, str]:
    """Validate one generated question and build an :class:`MCItem` (``source="synthetic"``).

    Args:
        raw: An ``MCQuestion`` (or a dict with ``question``, ``options``, ``answer``, ``rationale``).
        item_id: The id to give the item.
        meta: Provenance to store in the item's ``meta``.

    Returns:
        The item and the rationale.

    Raises:
        ParseError: Missing question, fewer than two distinct options, an answer that names no option.
    """
    d = raw.model_dump() if hasattr(raw, "model_dump") else dict(raw) if isinstance(raw, dict) else None
    if d is None:
        raise ParseError(f"an item must be an object, got {type(raw).__name__}")
    question = str(d.get("question") or "").strip()
    if len(question) < 5:
        raise ParseError("missing question")
    options = [clean_option(o) for o in _as_list(d.get("options") or d.get("choices") or [])]
    options = [o for o in options if o]
    if len(options) < 2:
        raise ParseError(f"needs at least 2 options, got {len(options)}")
    if len(options) > len(LETTERS):
        raise ParseError(f"at most {len(LETTERS)} options")
    if len({normalize_text(o) for o in options}) != len(options):
        raise ParseError("duplicate options")
    answer = parse_letter(d.get("answer"), options)
    rationale = str(d.get("rationale") or "").strip()
    item = MCItem(
        id=item_id,
        question=question,
        choices=tuple(options),
        answer=answer,
        source="synthetic",
        meta=dict(meta or {}),
    )
    return item, rationale


def nonempty(value: Any, name: str) -> str:
    """``value`` as a stripped string; a missing or empty field is a :class:`ParseError`."""
    text = str(value if value is not None else "").strip()
    if not text or text.lower() in ("none", "null", "n/a"):
        raise ParseError(f"empty field {name!r}")
    return text
