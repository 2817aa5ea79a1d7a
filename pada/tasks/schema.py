"""The shapes of task items and evaluation records that every stage of pada agrees on.

Items are immutable; a task is a list of items of one kind. Evaluation records are what the
student's evaluation writes and what the teacher's agents later read.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pada.io import JsonRecord

LETTERS = string.ascii_uppercase
TaskKind = Literal["multiple_choice", "free_form"]


def normalize_text(text: str) -> str:
    """Normalize text for comparison: NFKC, lower case, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class MCItem:
    """A multiple-choice question with exactly one correct option.

    Attributes:
        id: Unique id within the task (stable across runs).
        question: The question text.
        choices: The option texts, in presentation order.
        answer: Index of the correct option in ``choices``.
        context: Optional passage the question refers to.
        source: Where the item came from (``arc_easy``, ``sciq``, ``synthetic``, a file name...).
        meta: Free-form provenance (for synthetic items: pattern, strategy, verdict...).
    """

    id: str
    question: str
    choices: tuple[str, ...]
    answer: int
    context: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    kind: TaskKind = field(default="multiple_choice", init=False)

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"item {self.id!r}: needs at least 2 choices, got {len(self.choices)}")
        if len(self.choices) > len(LETTERS):
            raise ValueError(f"item {self.id!r}: at most {len(LETTERS)} choices")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"item {self.id!r}: answer index {self.answer} out of range")

    @property
    def letters(self) -> tuple[str, ...]:
        """The option labels, ``A``, ``B``, ... one per choice."""
        return tuple(LETTERS[: len(self.choices)])

    @property
    def answer_letter(self) -> str:
        """The label of the correct option."""
        return LETTERS[self.answer]

    @property
    def answer_text(self) -> str:
        """The text of the correct option."""
        return self.choices[self.answer]

    def fail(self, prediction: str) -> bool:
        """Whether ``prediction`` (an option letter) is wrong for this item."""
        return prediction.strip().upper() != self.answer_letter

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``jsonl`` loader's schema)."""
        d = asdict(self)
        d["choices"] = list(self.choices)
        return d


@dataclass(frozen=True)
class QAItem:
    """A free-form question with a reference final answer and, optionally, a worked solution.

    ``solution`` is the reasoning that leads to ``answer`` (without the answer line); the student is
    trained to write it and then the final answer. A prediction is right when its final answer agrees
    with ``answer`` as a number or as normalized text (:func:`pada.tasks.answers.answers_match`).
    """

    id: str
    question: str
    answer: str
    context: str | None = None
    source: str = ""
    solution: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    kind: TaskKind = field(default="free_form", init=False)

    @property
    def answer_text(self) -> str:
        """The reference answer."""
        return self.answer

    def fail(self, prediction: str) -> bool:
        """Whether the predicted final answer disagrees with the reference (as a number or as text)."""
        from pada.tasks.answers import answers_match

        return not answers_match(prediction, self.answer)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``jsonl`` loader's schema); ``solution`` only when there is one."""
        d = asdict(self)
        if d["solution"] is None:
            del d["solution"]
        return d


Item = MCItem | QAItem


@dataclass
class EvalRecord(JsonRecord):
    """One evaluated item: what the student answered and whether it was right.

    Attributes:
        id: The item's id.
        split: ``train``, ``validation`` or ``test``.
        question: The question text (agents read it; it never reaches a generation prompt for
            validation or test items).
        choices: Option texts (empty for free-form items).
        prediction: The student's answer: an option letter, or the extracted free-form answer.
        gold: The correct letter, or the reference answer.
        correct: Whether ``prediction`` is right by the item's ``fail()`` criterion.
        option_probs: Per-option probabilities (multiple choice), renormalized over the options.
        output_text: The raw generated text (free form).
        context: The item's context passage, if any.
        source: The item's source.
    """

    id: str
    split: str
    question: str
    choices: list[str]
    prediction: str
    gold: str
    correct: bool
    option_probs: list[float] | None = None
    output_text: str | None = None
    context: str | None = None
    source: str = ""
