"""The whole-run leakage check: no training item a run produced may repeat a held-out question.

The quality gate decontaminates each synthetic item as it is generated, against a *share* of n-grams
and an embedding threshold. This check looks at the outcome instead: after the run, every item of the
augmented training data is compared with every validation and test question, and any single shared
word n-gram, or a question that is the same after normalization, is reported. It is deliberately
stricter than the gate (one shared n-gram is enough) and independent of it (no embedder, no judge),
so a bug or a loose threshold in the gate cannot hide a leak.

Texts are compared after :func:`pada.tasks.schema.normalize_text` (case, punctuation, articles and
spacing do not matter). Duplicates are judged as the splits judge them, by
:func:`pada.tasks.splits.split_key` (the question, plus its context if any).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pada.config.schema import QualityGateConfig
from pada.io import read_jsonl, write_json
from pada.overlap import NgramIndex
from pada.tasks.splits import split_key

log = logging.getLogger(__name__)

#: The report's file name, in the run folder.
LEAKAGE_FILE = "leakage.json"


class Questioned(Protocol):
    """What the check reads of an item: its id, question and optional context (any task item)."""

    @property
    def id(self) -> str:
        """The item's id."""
        ...

    @property
    def question(self) -> str:
        """The question text."""
        ...

    @property
    def context(self) -> str | None:
        """The passage the question refers to, if any."""
        ...


@dataclass(frozen=True)
class _Row:
    """An item read back from a JSONL file: only what the check needs."""

    id: str
    question: str
    context: str | None = None


@dataclass(frozen=True)
class Leak:
    """One training item that repeats held-out text.

    Attributes:
        train_id: The training item's id.
        eval_id: The held-out item it matches (for n-grams: the one sharing the most).
        eval_split: ``validation`` or ``test``.
        kind: ``duplicate`` (same normalized question and context) or ``ngram``.
        ngram: One shared n-gram, as normalized words (``None`` for a duplicate).
        shared_ngrams: How many n-grams the two questions share (0 for a duplicate).
    """

    train_id: str
    eval_id: str
    eval_split: str
    kind: Literal["duplicate", "ngram"]
    ngram: str | None = None
    shared_ngrams: int = 0

    def describe(self, n: int) -> str:
        """One line for logs and ``summary.md``."""
        if self.kind == "duplicate":
            return f"{self.train_id} duplicates {self.eval_split} item {self.eval_id}"
        return (
            f"{self.train_id} shares {self.shared_ngrams} {n}-gram(s) with {self.eval_split} item "
            f'{self.eval_id}, e.g. "{self.ngram}"'
        )


@dataclass
class LeakageReport:
    """The outcome of :func:`find_leaks`.

    Attributes:
        n: The n-gram length used.
        checked: How many training items were checked.
        eval_items: How many held-out items they were checked against, by split.
        leaks: One entry per leaking training item, in the order the items were given.
    """

    n: int
    checked: int
    eval_items: dict[str, int]
    leaks: list[Leak] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Whether no training item repeats held-out text."""
        return not self.leaks

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``leakage.json``: counts first, then each leak."""
        return {
            "clean": self.clean,
            "n": self.n,
            "checked": self.checked,
            "eval_items": self.eval_items,
            "leaked_items": len(self.leaks),
            "duplicates": sum(leak.kind == "duplicate" for leak in self.leaks),
            "ngram_overlaps": sum(leak.kind == "ngram" for leak in self.leaks),
            "leaked_ids": [leak.train_id for leak in self.leaks],
            "leaks": [asdict(leak) for leak in self.leaks],
        }


def find_leaks(
    training: Iterable[Questioned],
    evaluation: Mapping[str, Sequence[Questioned]],
    n: int = QualityGateConfig.decontam_ngram,
) -> LeakageReport:
    """Report every training item that duplicates a held-out question or shares a word n-gram with one.

    Args:
        training: The training items to check (a run's augmented data).
        evaluation: Held-out items by split name (``validation``, ``test``).
        n: The n-gram length in words; by default the gate's (``quality_gate.decontam_ngram``).
            Questions shorter than ``n`` words can only match as duplicates.

    Returns:
        The report; ``report.clean`` is true when nothing leaked.

    Raises:
        ValueError: ``n`` is smaller than 1.
    """
    if n < 1:
        raise ValueError(f"n-gram length must be at least 1, got {n}")
    held_out = [(split, item) for split, items in evaluation.items() for item in items]
    keys: dict[str, int] = {}
    index = NgramIndex(n, whole_if_short=False)
    for idx, (_, item) in enumerate(held_out):
        keys.setdefault(split_key(item), idx)
        index.add(item.question)

    report = LeakageReport(n=n, checked=0, eval_items={s: len(items) for s, items in evaluation.items()})
    for item in training:
        report.checked += 1
        dup = keys.get(split_key(item))
        if dup is not None:
            split, match = held_out[dup]
            report.leaks.append(Leak(item.id, match.id, split, "duplicate"))
            continue
        shared = index.shared(item.question)
        if shared:
            # The held-out item sharing the most n-grams; the earliest among ties, for stable reports.
            idx = max(shared, key=lambda i: (len(shared[i]), -i))
            split, match = held_out[idx]
            report.leaks.append(
                Leak(item.id, match.id, split, "ngram", " ".join(shared[idx][0]), len(shared[idx]))
            )
    return report


def check_augmented(
    dataset: Path, evaluation: Mapping[str, Sequence[Questioned]], n: int, out: Path
) -> LeakageReport:
    """Check a run's exported augmented data, write ``leakage.json`` and log the outcome.

    Leaks are recorded and logged as warnings, never dropped or repaired here: the data and the model
    trained on it already exist, and a person should see what leaked and decide.

    Args:
        dataset: The run's ``export/augmented.jsonl``.
        evaluation: Held-out items by split name.
        n: The n-gram length in words.
        out: The run folder (``leakage.json`` is written there).

    Returns:
        The report.
    """
    rows = read_jsonl(dataset) if dataset.exists() else []
    items = [_Row(str(r["id"]), r["question"], r.get("context")) for r in rows]
    report = find_leaks(items, evaluation, n)
    write_json(out / LEAKAGE_FILE, report.to_dict())
    if report.clean:
        log.info("leakage check: no augmented item of %d repeats validation/test text", report.checked)
    else:
        log.warning(
            "LEAKAGE: %d of %d augmented training items repeat validation/test text (see %s)",
            len(report.leaks),
            report.checked,
            out / LEAKAGE_FILE,
        )
        for leak in report.leaks:
            log.warning("LEAKAGE: %s", leak.describe(report.n))
    return report
