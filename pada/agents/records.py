"""What the agents produce: analyses, clusters, patterns, strategies, generated items and verdicts.

Every record is a plain dataclass with ``to_dict`` / ``from_dict`` so that each stage's output can be
written as JSON(L) into the run folder and read back on resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pada.io import JsonRecord
from pada.mining.kmeans import Cluster as Cluster  # re-exported: the records every stage writes
from pada.mining.kmeans import MiningResult as MiningResult
from pada.tasks.schema import Item, MCItem, QAItem
from pada.teacher.runner import AgentFailure as AgentFailure  # re-exported for the agents and the loop


@dataclass
class Analysis(JsonRecord):
    """The teacher's reading of one validation failure.

    Attributes:
        id: The failed item's id (one analysis per failure).
        root_cause: Why the student answered wrongly.
        error_scenario: The kind of question / situation in which the error happens.
        missing_knowledge: The knowledge or skill the student lacked.
        split: The split of the failed item (``validation`` for PaDA's pattern path).
    """

    id: str
    root_cause: str
    error_scenario: str
    missing_knowledge: str
    split: str = "validation"

    def text(self) -> str:
        """The text that is embedded for clustering (no question wording, only the diagnosis)."""
        return f"{self.error_scenario} {self.root_cause} Missing: {self.missing_knowledge}"


@dataclass
class Pattern(JsonRecord):
    """A named failure pattern summarizing one cluster.

    Attributes:
        id: ``pattern-<cluster id>``.
        name: A short name.
        description: What goes wrong, in general terms (never a validation question's wording).
        cluster_id: The cluster it summarizes.
        member_ids: The failed items behind it (provenance only; never shown to the generator).
    """

    id: str
    name: str
    description: str
    cluster_id: int
    member_ids: list[str] = field(default_factory=list)


@dataclass
class Strategy(JsonRecord):
    """A data-augmentation strategy for one pattern.

    Attributes:
        id: ``strategy-<pattern id>``.
        pattern_id: The pattern it targets.
        pattern: The pattern's name and description (what the generator is told to fix).
        what_to_write: The kind of items to write.
        what_to_vary: What to vary between items.
        what_to_avoid: What to avoid.
        count: How many items the teacher suggests (the orchestrator's budget decides).
    """

    id: str
    pattern_id: str
    pattern: str
    what_to_write: str
    what_to_vary: str
    what_to_avoid: str
    count: int = 0

    def text(self) -> str:
        """The strategy as the generator reads it."""
        return (
            f"Failure pattern: {self.pattern}\n"
            f"Write: {self.what_to_write}\n"
            f"Vary: {self.what_to_vary}\n"
            f"Avoid: {self.what_to_avoid}"
        )


@dataclass
class GeneratedItem:
    """A synthetic item (multiple choice or free form) with its provenance.

    Attributes:
        item: The item (``source="synthetic"``; ``meta`` repeats the provenance).
        rationale: The generator's short explanation of the answer (a free-form task without worked
            solutions keeps the generated solution here).
        path: ``pattern`` (validation-pattern path) or ``train_error`` (LLM2LLM path).
        origin: The strategy id (pattern path) or the training item's id (train-error path).
        target: What the item should exercise: the strategy text or the training error's description;
            the judge checks the item against it.
        rollout: The rollout id of the call that produced it.
    """

    item: Item
    rationale: str
    path: str
    origin: str
    target: str
    rollout: int = 0

    @property
    def id(self) -> str:
        """The item's id."""
        return self.item.id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "item": self.item.to_dict(),
            "rationale": self.rationale,
            "path": self.path,
            "origin": self.origin,
            "target": self.target,
            "rollout": self.rollout,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratedItem:
        """Inverse of :meth:`to_dict`."""
        it = dict(d["item"])
        kind = it.pop("kind", None)
        if kind == "free_form":
            item: Item = QAItem(**it)
        else:
            it["choices"] = tuple(it["choices"])
            item = MCItem(**it)
        return cls(
            item=item,
            rationale=d["rationale"],
            path=d["path"],
            origin=d["origin"],
            target=d["target"],
            rollout=int(d.get("rollout", 0)),
        )


@dataclass
class Verdict(JsonRecord):
    """The quality judge's decision on one generated item.

    Attributes:
        item_id: The judged item.
        accepted: Whether the judge endorses it: its own best option is the label, and every written
            check (``quality_gate.judge_checks``) passed. The gate also wants ``score`` at or above
            ``quality_gate.judge_threshold``.
        score: The probability the judge, answering blind, gives the labelled option (1 or 0 when it
            decoded its answer instead of scoring the options, and for a free-form item: 1 when the
            judge's final answer agrees with the reference).
        reasons: Why not (one line per failed check, plus the judge's own words).
        judge_answer: The letter the judge chose answering the item blind, or a free-form item's final
            answer as the judge reached it (``""`` if it could not).
        checks: The individual checks: ``answer_matches`` (blind answer = label) and, with written
            checks, ``answer_correct``, ``answer_unique``, ``fits_target``, ``clear``, ``factual``.
        failed: True when the judge's output could not be parsed (the item is then rejected).
        probabilities: The judge's probability for each option letter (empty when it decoded).
    """

    item_id: str
    accepted: bool
    score: float
    reasons: list[str]
    judge_answer: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    failed: bool = False
    probabilities: dict[str, float] = field(default_factory=dict)


R = TypeVar("R")
