"""Error analysis: the teacher's diagnosis of each validation failure, one or several per call.

A multiple-choice failure is shown with its options, the student's letter and the correct one; a
free-form failure with the reference solution (when the item has one) and answer, the student's
generated work and the final answer read from it. Batches hold failures of one kind.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from pada.agents.context import MAX_TOKENS, AgentContext, clip, is_free_form, letter_and_text
from pada.agents.modules import ErrorAnalysis
from pada.agents.parsing import ParseError, answer_indices, format_options, nonempty
from pada.agents.records import Analysis
from pada.agents.signatures import first_int
from pada.config.schema import PatternMiningConfig, typed
from pada.tasks.schema import EvalRecord

log = logging.getLogger(__name__)

AGENT = "error_analysis"
#: Characters of a free-form failure's reference solution and of the student's work that are shown.
MAX_SOLUTION_CHARS, MAX_WORK_CHARS = 1200, 1200


def failure_inputs(r: EvalRecord) -> dict[str, str]:
    """A failure as the analysis and error-correcting prompts show it."""
    return {
        "question": r.question if not r.context else f"{r.context}\n{r.question}",
        "options": format_options(r.choices),
        "student_answer": letter_and_text(r.prediction, r.choices),
        "correct_answer": letter_and_text(r.gold, r.choices),
    }


def free_form_failure_inputs(r: EvalRecord, solution: str | None = None) -> dict[str, str]:
    """A free-form failure as the analysis prompts show it.

    Args:
        r: The failure's evaluation record (``output_text`` is the student's work, ``prediction``
            the final answer read from it, ``gold`` the reference answer).
        solution: The item's worked solution, if it has one.
    """
    return {
        "question": r.question if not r.context else f"{r.context}\n{r.question}",
        "reference_solution": clip(solution, MAX_SOLUTION_CHARS) or "(none given)",
        "correct_answer": r.gold,
        "student_work": clip(r.output_text, MAX_WORK_CHARS) or "(nothing)",
        "student_answer": r.prediction.strip() or "(no final answer found)",
    }


class ErrorAnalyst:
    """Runs :class:`~pada.agents.modules.ErrorAnalysis` over failures, robustly.

    Args:
        ctx: The suite's shared state.
        pattern_mining: The ``pattern_mining`` config (``max_failures``, ``analysis_batch_size``).
    """

    def __init__(self, ctx: AgentContext, pattern_mining: PatternMiningConfig | None = None) -> None:
        self.ctx = ctx
        self.cfg = typed(PatternMiningConfig, pattern_mining)
        self.module = ErrorAnalysis()

    def __call__(self, records: Sequence[EvalRecord]) -> list[Analysis]:
        """Analyse the failed records (see :meth:`AgentSuite.analyze_errors`)."""
        ctx = self.ctx
        failed = [r for r in records if not r.correct]
        limit = int(self.cfg.max_failures or 0)
        if limit and len(failed) > limit:
            failed = sorted(random.Random(ctx.seed).sample(failed, limit), key=lambda r: r.id)
        ctx.guard.add(r.question for r in failed if r.split != "train")
        # A reference solution shown to the analyst is held-out text too: it must not reach a pattern.
        ctx.guard.add(
            (ctx.solutions[r.id] for r in failed if r.split != "train" and r.id in ctx.solutions),
            passages=True,
        )
        size = max(1, int(self.cfg.analysis_batch_size))
        # A batch holds failures of one kind (one task has one kind: then these are plain chunks).
        batches = [
            group[i : i + size]
            for group in ([r for r in failed if not is_free_form(r)], [r for r in failed if is_free_form(r)])
            for i in range(0, len(group), size)
        ]
        out = [a for group in ctx.map(ctx.teacher, self._batch, batches) for a in group]
        log.info("error analysis: %d of %d failures analysed", len(out), len(failed))
        return out

    def _batch(self, batch: list[EvalRecord]) -> list[Analysis]:
        if len(batch) == 1:
            return self._one(batch[0])

        def parse(pred: Any) -> list[Analysis]:
            got: dict[int, Analysis] = {}
            answers = list(pred.analyses or [])
            indices = answer_indices([first_int(a.failure) for a in answers], len(batch))
            for i, a in zip(indices, answers, strict=True):
                if 0 <= i < len(batch) and i not in got:
                    try:
                        got[i] = _analysis(batch[i], a.root_cause, a.error_scenario, a.missing_knowledge)
                    except ParseError:
                        continue
            if not got:
                raise ParseError("no usable analysis in the batch")
            return [got[i] for i in sorted(got)]

        outcome = self.ctx.teacher.run(
            AGENT,
            "batch/" + ",".join(r.id for r in batch),
            self.module,
            {"task": self.ctx.task, "failures": [self._inputs(r) for r in batch]},
            parse,
            lm_kwargs=self.ctx.cap(self.ctx.teacher, MAX_TOKENS[AGENT] * len(batch)),
        )
        self.ctx.record(outcome.failure)
        done = list(outcome.value or [])
        have = {a.id for a in done}
        missing = [r for r in batch if r.id not in have]
        if missing and outcome.ok:
            self.ctx.usage.count(AGENT, parse_failures=len(missing))
        # Whatever a batched answer left out gets a call of its own.
        for r in missing:
            done.extend(self._one(r))
        order = {r.id: i for i, r in enumerate(batch)}
        return sorted(done, key=lambda a: order[a.id])

    def _one(self, r: EvalRecord) -> list[Analysis]:
        outcome = self.ctx.teacher.run(
            AGENT,
            f"one/{r.id}",
            self.module,
            {"task": self.ctx.task, "failures": [self._inputs(r)]},
            lambda p: _analysis(r, p.root_cause, p.error_scenario, p.missing_knowledge),
            lm_kwargs=self.ctx.cap(self.ctx.teacher, MAX_TOKENS[AGENT]),
        )
        self.ctx.record(outcome.failure)
        return [outcome.value] if outcome.value is not None else []

    def _inputs(self, r: EvalRecord) -> dict[str, str]:
        if is_free_form(r):
            return free_form_failure_inputs(r, self.ctx.solutions.get(r.id))
        return failure_inputs(r)


def _analysis(r: EvalRecord, root: Any, scenario: Any, missing: Any) -> Analysis:
    return Analysis(
        id=r.id,
        root_cause=nonempty(root, "root_cause"),
        error_scenario=nonempty(scenario, "error_scenario"),
        missing_knowledge=nonempty(missing, "missing_knowledge"),
        split=r.split,
    )
