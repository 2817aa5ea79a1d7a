"""What every agent step shares within one suite: runners, usage, the held-out guard, failures, the task."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pada.agents.leakage import HeldOutGuard
from pada.agents.records import AgentFailure
from pada.tasks.schema import LETTERS, EvalRecord
from pada.teacher.runner import AgentRunner
from pada.teacher.usage import UsageMeter

T = TypeVar("T")
U = TypeVar("U")

#: Output-token caps per call, below the LM's own ``max_tokens``: a small model that rambles is cut
#: early instead of spending seconds per extra sentence (generation scales with items per call).
MAX_TOKENS = {
    "error_analysis": 200,
    "pattern_summary": 160,
    "strategy_draft": 200,
    "judge_solve": 24,
    # The free-form judge decodes a short solution: a few lines of reasoning and "#### <answer>".
    # 384, not 192: at 192 two thirds of the blind solves of real GSM8K problems were cut before
    # their answer, and recall rose from 0.267 to 0.433 at 384 (docs/benchmarks.md).
    "judge_solve_free_form": 384,
    "judge": 160,
}
#: Task kinds (``dataset.kind``).
MULTIPLE_CHOICE, FREE_FORM = "multiple_choice", "free_form"


@dataclass
class AgentContext:
    """Shared state of the agent steps of one :class:`~pada.agents.suite.AgentSuite`.

    Attributes:
        teacher: Runs the teacher's calls.
        judge: Runs the judge's calls (the teacher's runner when the teacher judges).
        usage: Per-agent usage and budgets.
        guard: Held-out (validation and test) text that must not reach a generator.
        task: One sentence describing the task.
        seed: The run's seed.
        failures: Units of work given up on.
        kind: The task's kind, ``multiple_choice`` or ``free_form``: what the strategy path writes
            (failures and items carry their own kind elsewhere).
        solutions: Worked solutions of task items by id, shown with their failures (an
            :class:`~pada.tasks.schema.EvalRecord` does not carry its item's solution).
    """

    teacher: AgentRunner
    judge: AgentRunner
    usage: UsageMeter
    guard: HeldOutGuard
    task: str
    seed: int = 0
    failures: list[AgentFailure] = field(default_factory=list)
    kind: str = MULTIPLE_CHOICE
    solutions: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def free_form(self) -> bool:
        """Whether the task is free form (the strategy path writes problems with worked solutions)."""
        return self.kind == FREE_FORM

    def record(self, failure: AgentFailure | None) -> None:
        """Remember a unit of work given up on (``None`` is ignored)."""
        if failure is not None:
            with self._lock:
                self.failures.append(failure)

    def map(self, runner: AgentRunner, fn: Callable[[T], U], xs: Sequence[T]) -> list[U]:
        """``[fn(x) for x in xs]`` with up to the LM's ``concurrency`` calls at once, order kept.

        One worker runs calls in sequence, which also lets a local llama.cpp server reuse the prompt
        prefix that consecutive calls of one agent share.
        """
        workers = min(runner.handle.concurrency, len(xs))
        if workers <= 1:
            return [fn(x) for x in xs]
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            results = list(pool.map(fn, xs))
        except BaseException:
            # Ctrl-C (or an error) stops the run now: calls not started are dropped, and the calls in
            # flight end when the run's teacher server is stopped, instead of being waited for.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results

    @staticmethod
    def cap(runner: AgentRunner, tokens: int) -> dict[str, Any]:
        """LM settings for one call: ``max_tokens`` = the smaller of ``tokens`` and the LM's own limit."""
        configured = runner.handle.lm.kwargs.get("max_tokens") or tokens
        return {"max_tokens": min(int(configured), int(tokens))}


def letter_and_text(letter: str, choices: Sequence[str]) -> str:
    """``"B. respiration"`` for letter ``B``; the letter alone when it names no option."""
    letter = (letter or "").strip().upper()[:1]
    if letter and letter in LETTERS[: len(choices)]:
        return f"{letter}. {choices[LETTERS.index(letter)]}"
    return letter or "(no answer)"


def is_free_form(record: EvalRecord) -> bool:
    """Whether an evaluation record is of a free-form item (multiple-choice records list their options)."""
    return not record.choices


def clip(text: str | None, limit: int) -> str:
    """``text`` stripped and cut to ``limit`` characters (marked with an ellipsis when cut)."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
