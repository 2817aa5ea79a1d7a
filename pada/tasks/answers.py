"""Final answers of worked solutions: where the answer is in a text, and when two answers agree.

A free-form item may carry a worked solution that ends in its final answer. The student (and the
judge) write such solutions too, so the final answer has to be found in generated text. The rules,
chosen by ``dataset.final_answer``:

- ``hash``: the text after the last ``####`` marker (GSM8K's own format: ``... #### 42``);
- ``answer_is``: the text after the last "the answer is" / "answer:" (case-insensitive);
- ``last_number``: the last number in the text;
- ``first_line``: the first non-empty line, minus an "Answer:" prefix (short answers);
- ``auto`` (the default): ``hash`` if the marker is there, else ``answer_is`` if that phrase is there,
  else the last number when the text has one and more than one line, else ``first_line``.

A rule that finds nothing gives ``""``, which matches no reference. Two answers agree when both read
as numbers and are equal (``1,000`` = ``1000`` = ``1000.0``; ``$18`` = ``18``; ``50%`` = ``50``), or
else when their texts are equal after :func:`pada.tasks.schema.normalize_text`.
"""

from __future__ import annotations

import re
from fractions import Fraction

RULES = ("auto", "hash", "answer_is", "last_number", "first_line")

_HASH = re.compile(r"####[ \t]*(.*)")
_ANSWER_IS = re.compile(
    r"(?:the (?:final )?answer is|final answer\s*[:\-]|answer\s*[:\-])\s*(.+)", re.IGNORECASE
)
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?%?|-?\$?\.\d+%?")
_PREFIX = re.compile(r"^\s*(?:final answer|the answer is|answer)\s*[:\-]?\s*", re.IGNORECASE)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return _PREFIX.sub("", line.strip())
    return ""


def _after_last(pattern: re.Pattern[str], text: str) -> str | None:
    found = list(pattern.finditer(text))
    return found[-1].group(1).strip() if found else None


def _last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return found[-1] if found else None


def _tidy(answer: str) -> str:
    # "18." at the end of a sentence, "**18**" in markdown, a trailing unit word kept as is.
    return answer.strip().strip("*").strip().rstrip(".").strip()


def extract_final_answer(text: str, rule: str = "auto") -> str:
    """The final answer in a worked solution or a short answer, by ``rule`` (module docstring).

    Raises:
        ValueError: An unknown rule.
    """
    if rule not in RULES:
        raise ValueError(f"unknown final-answer rule {rule!r}; expected one of {', '.join(RULES)}")
    text = text or ""
    if rule == "first_line":
        return _tidy(_first_line(text))
    if rule == "last_number":
        return _tidy(_last_number(text) or "")
    if rule in ("hash", "auto"):
        found = _after_last(_HASH, text)
        if found is not None or rule == "hash":
            return _tidy(found or "")
    found = _after_last(_ANSWER_IS, text)
    if found is not None or rule == "answer_is":
        found = found or ""
        # "The answer is 18 dollars." keeps the number when the phrase leads with one.
        number = _NUMBER.match(found.strip())
        return _tidy(number.group(0) if number else found)
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and _last_number(text):
        return _tidy(_last_number(text) or "")
    return _tidy(_first_line(text))


def as_number(text: str) -> Fraction | None:
    """The number a short answer states (``"1,000"``, ``"$18.50"``, ``"-3/4"``, ``"50%"``), or ``None``."""
    t = text.strip().replace(",", "").replace("$", "").rstrip("%").strip()
    if not re.fullmatch(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+)?", t):
        return None
    try:
        return Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None


def answers_match(prediction: str, reference: str) -> bool:
    """Whether a predicted final answer agrees with the reference (as numbers, or as normalized text)."""
    from pada.tasks.schema import normalize_text

    a, b = as_number(prediction), as_number(reference)
    if a is not None and b is not None:
        return a == b
    return bool(normalize_text(prediction)) and normalize_text(prediction) == normalize_text(reference)
