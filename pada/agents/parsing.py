"""Turning what the teacher wrote into valid records, and rendering items into prompt text.

Small local models break formats in many small ways: options prefixed with ``A)``, the answer given as
``"B) photosynthesis"`` or as the option's text, a list written as one string, an index instead of a
letter; a free-form answer written as ``"#### 18"`` or ``"18 apples"``, a solution that repeats its
answer line. The parsers accept what is unambiguous and reject the rest with :class:`ParseError`,
which the agents count as a parse failure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pada.tasks.answers import as_number, extract_final_answer
from pada.tasks.schema import LETTERS, MCItem, QAItem, normalize_text
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


def format_problem(item: QAItem, with_answer: bool = True) -> str:
    """A free-form item as prompt text: question, worked solution (if any) and final answer.

    ``with_answer=False`` shows the question alone.
    """
    text = f"Question: {item.question}"
    if not with_answer:
        return text
    if item.solution:
        text += f"\nSolution: {item.solution}"
    return f"{text}\nAnswer: {item.answer}"


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


def _fields_and_question(raw: Any) -> tuple[dict[str, Any], str]:
    """A generated item's fields as a dict, and its question (a missing one is a :class:`ParseError`)."""
    d = raw.model_dump() if hasattr(raw, "model_dump") else dict(raw) if isinstance(raw, dict) else None
    if d is None:
        raise ParseError(f"an item must be an object, got {type(raw).__name__}")
    question = str(d.get("question") or "").strip()
    if len(question) < 5:
        raise ParseError("missing question")
    return d, question


# Where a question's own option list starts: " A. ", " (A) ", " A) " after the stem.
_INLINE_A = re.compile(r"\s\(?A[\).:]\s")


def _inline_options(question: str, letters: list[str]) -> tuple[str, list[str]]:
    """A question whose options are bare letters: its option texts, when the question lists them.

    A small model sometimes writes ``"question": "Which ...? A. Rose B. Banana C. Pineapple D. Cherry"``
    with ``"options": ["A", "B", "C", "D"]``; the texts are read back out of the question.

    Raises:
        ParseError: The question does not list one option for each letter. Options that are
            letters and nothing more (``"What is the correct answer for the following question?"``,
            written in a real run) are far more often such a slip than a question about letters.
    """
    m = _INLINE_A.search(question)
    start = m.start() if m else len(question)
    texts = [clean_option(o) for o in _as_list(question[start:].strip())]
    if len(texts) != len(letters) or not all(texts):
        raise ParseError(
            f"the options are bare letters and the question lists {len(texts)} options, not {len(letters)}"
        )
    return question[:start].strip(), texts


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
    d, question = _fields_and_question(raw)
    options = [clean_option(o) for o in _as_list(d.get("options") or d.get("choices") or [])]
    options = [o for o in options if o]
    if len(options) >= 2 and all(o == LETTERS[i] for i, o in enumerate(options)):
        question, options = _inline_options(question, options)
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


# "18 apples", "$4.50 each": a number followed by a few unit words (the reference is then the number).
_NUMBER_AND_UNITS = re.compile(r"^(-?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?%?)\s+[A-Za-z][A-Za-z ]{0,30}$")
_MARKER_LINE = re.compile(r"^\s*####")


def clean_final_answer(value: Any) -> str:
    """A generated final answer as a reference: the answer alone, a plain number when it states one.

    ``"#### 18"``, ``"The answer is 18."``, ``"$18"`` and ``"18 apples"`` all give ``"18"``, and
    ``"1,000"`` gives ``"1000"`` (GSM8K's own form); an answer written as its computation
    (``"50 - 5 = 45"``, ``"The change is $100 - $60 = $40"``) gives the number after its last ``=``;
    a text answer (``"Lima"``) is kept as written. ``""`` when nothing is left.
    """
    text = extract_final_answer(str(value if value is not None else "").strip(), "auto")
    if as_number(text) is None and "=" in text:
        result = text.rsplit("=", 1)[1].strip().rstrip(".").strip()
        if as_number(result) is not None or _NUMBER_AND_UNITS.match(result):
            text = result
    if as_number(text) is None and (m := _NUMBER_AND_UNITS.match(text)):
        text = m.group(1)
    if as_number(text) is not None:
        text = text.replace(",", "").replace("$", "")
    return text


def clean_solution(value: Any) -> str:
    """A generated worked solution without its final-answer line.

    The training format adds ``#### <answer>`` itself, so a solution that already ends in one (or in a
    line starting with the marker) would state its answer twice.
    """
    text = str(value if value is not None else "").strip()
    if "####" in text:
        text = text[: text.index("####")]
    lines = [line for line in text.splitlines() if not _MARKER_LINE.match(line)]
    return "\n".join(lines).strip()


def to_qa_item(
    raw: Any, item_id: str, meta: dict[str, Any] | None = None, worked: bool = True
) -> tuple[QAItem, str]:
    """Validate one generated free-form problem and build a :class:`QAItem` (``source="synthetic"``).

    Args:
        raw: A ``FreeFormProblem`` / ``SimilarProblem`` (or a dict with ``question``, ``solution``,
            ``answer``).
        item_id: The id to give the item.
        meta: Provenance to store in the item's ``meta``.
        worked: The task's items carry worked solutions: the solution is required and kept in the
            item. Otherwise it is optional and returned as the rationale (the item keeps the task's
            answer-only format).

    Returns:
        The item and the rationale (``""`` when the solution is in the item).

    Raises:
        ParseError: Missing question, missing final answer, or (``worked``) missing solution.
    """
    d, question = _fields_and_question(raw)
    answer = clean_final_answer(d.get("answer"))
    if not answer:
        raise ParseError("missing final answer")
    solution = clean_solution(d.get("solution") or d.get("rationale"))
    if worked and not solution:
        raise ParseError("missing solution")
    item = QAItem(
        id=item_id,
        question=question,
        answer=answer,
        solution=solution if worked else None,
        source="synthetic",
        meta=dict(meta or {}),
    )
    return item, "" if worked else solution


def nonempty(value: Any, name: str) -> str:
    """``value`` as a stripped string; a missing or empty field is a :class:`ParseError`."""
    text = str(value if value is not None else "").strip()
    if not text or text.lower() in ("none", "null", "n/a"):
        raise ParseError(f"empty field {name!r}")
    return text


def answer_indices(numbers: Sequence[Any], n: int) -> list[int]:
    """The 0-based input index each numbered answer to ``n`` inputs is for (-1: no usable number).

    Inputs are numbered from 1, but the embedded teacher often answers "failure": 0, 1, ...: read as
    1-based, every answer goes to the input before its own (gsm8k: all 24 verbatim copies of a failed
    problem were filed under a neighbour's id, past the copy check; scireason: half of the batched
    error analyses described the next failure's question). Numbers that include 0 and stay below
    ``n`` are read as 0-based. An index outside ``0..n-1`` is returned as it is, for the caller to skip.
    """
    ints = [x for x in numbers if isinstance(x, int)]
    shift = 0 if ints and 0 in ints and max(ints) < n else 1
    return [x - shift if isinstance(x, int) else -1 for x in numbers]
