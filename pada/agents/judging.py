"""Quality control: the judge answers each generated item blind, then checks it against six criteria.

Checks: the blind answer matches the label (``answer_matches``), the label is correct
(``answer_correct``) and the only correct option (``answer_unique``), the item exercises its pattern or
source error (``fits_target``), it is clear and self-contained (``clear``), and it states nothing false
(``factual``). The verdict accepts an item only when all pass; its score is the share that pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pada.agents.context import MAX_TOKENS, AgentContext, letter_and_text
from pada.agents.modules import QualityJudge
from pada.agents.parsing import ParseError, format_options, parse_letter
from pada.agents.records import GeneratedItem, Verdict
from pada.tasks.schema import LETTERS

CHECKS = ("answer_correct", "answer_unique", "fits_target", "clear", "factual")
REASONS = {
    "answer_matches": "the judge, answering blind, chose {judge} but the label is {label}",
    "answer_correct": "the labelled answer is not correct",
    "answer_unique": "another option is also correct",
    "fits_target": "the item does not exercise its pattern / source error",
    "clear": "the item is unclear or not self-contained",
    "factual": "the item states something false",
}


class Judge:
    """Runs :class:`~pada.agents.modules.QualityJudge` on the judge LM."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.module = QualityJudge()

    def __call__(self, items: Sequence[GeneratedItem]) -> list[Verdict]:
        """One verdict per item, in order (see :meth:`AgentSuite.judge`)."""
        runner = self.ctx.judge
        # All blind answers first, then all checks: consecutive calls share their prompt prefix.
        blind = self.ctx.map(runner, self._solve, items)
        return self.ctx.map(runner, lambda pair: self._check(*pair), list(zip(items, blind, strict=True)))

    def _solve(self, g: GeneratedItem) -> str:
        runner = self.ctx.judge
        outcome = runner.run(
            "judge_solve",
            f"solve/{g.id}",
            self.module.solve,
            {"question": g.item.question, "options": format_options(g.item.choices)},
            lambda p: LETTERS[parse_letter(p.answer, g.item.choices)],
            lm_kwargs=self.ctx.cap(runner, MAX_TOKENS["judge_solve"]),
        )
        self.ctx.record(outcome.failure)
        return outcome.value or ""

    def _check(self, g: GeneratedItem, blind: str) -> Verdict:
        runner = self.ctx.judge
        label = g.item.answer_letter

        def parse(pred: Any) -> tuple[dict[str, bool], str]:
            checks = {}
            for name in CHECKS:
                value = getattr(pred, name)
                if not isinstance(value, bool):
                    raise ParseError(f"{name} is not a boolean: {value!r}")
                checks[name] = value
            return checks, str(pred.reasons or "").strip()

        outcome = runner.run(
            "judge",
            f"check/{g.id}",
            self.module.check,
            {
                "question": g.item.question,
                "options": format_options(g.item.choices),
                "labelled_answer": letter_and_text(label, g.item.choices),
                "your_answer": letter_and_text(blind, g.item.choices) if blind else "(could not answer)",
                "target": g.target[:600],
            },
            parse,
            lm_kwargs=self.ctx.cap(runner, MAX_TOKENS["judge"]),
        )
        self.ctx.record(outcome.failure)
        checks: dict[str, bool] = {"answer_matches": blind == label}
        if outcome.value is None:
            error = outcome.failure.error if outcome.failure else "no answer"
            return Verdict(
                item_id=g.id,
                accepted=False,
                score=0.0,
                reasons=[f"the judge's checks could not be parsed ({error})"],
                judge_answer=blind,
                checks=checks,
                failed=True,
            )
        more, said = outcome.value
        checks.update(more)
        reasons = [
            REASONS[k].format(judge=blind or "nothing", label=label) for k, ok in checks.items() if not ok
        ]
        if said:
            reasons.append(said)
        return Verdict(
            item_id=g.id,
            accepted=all(checks.values()),
            score=sum(checks.values()) / len(checks),
            reasons=reasons,
            judge_answer=blind,
            checks=checks,
        )
