"""Quality control: the judge answers each generated item blind, in one forward pass, and scores it.

The blind answer is scored, not written: one call asks for a single token, the option letter, with
its log-probabilities (:mod:`pada.teacher.scoring`), and the judge's probability for the labelled
option becomes the verdict's score. An item is endorsed when the judge's own best option is the label;
the gate then also wants the score at or above ``quality_gate.judge_threshold``. An LM that returns no
log-probabilities (``<role>.logprobs: false``, or a provider that drops them) decodes a short blind
answer instead, whose score is 1 or 0.

Written checks (``quality_gate.judge_checks``) add a second call per item: the labelled answer is
correct (``answer_correct``) and the only correct option (``answer_unique``), the item exercises its
pattern or source error (``fits_target``), it is clear (``clear``) and it states nothing false
(``factual``). They are off by default: on the embedded teacher the calibration
(``python -m pada.calibrate``) found that they reject good items without catching mislabelled ones
that the scored solve lets through (docs/benchmarks.md).

A free-form item has no options to score: the judge solves it blind in one decoded call (a few lines
of reasoning and ``#### <answer>``, at temperature 0 and a small ``max_tokens``), its final answer is
read as a generated item's is (:func:`pada.agents.parsing.clean_final_answer`), and the item is endorsed when
that answer agrees with the item's (:func:`pada.tasks.answers.answers_match`): score 1, else 0. Its
written checks (``answer_correct``, ``fits_target``, ``clear``, ``factual``) read the worked solution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pada.agents.context import MAX_TOKENS, AgentContext, clip, letter_and_text
from pada.agents.modules import BatchOptionScorer, FreeFormSolver, OptionScorer, QualityJudge
from pada.agents.parsing import ParseError, clean_final_answer, format_options, parse_letter
from pada.agents.records import GeneratedItem, Verdict
from pada.tasks.answers import answers_match
from pada.tasks.schema import LETTERS, QAItem
from pada.teacher.scoring import best_option, numbered_option_probabilities, option_probabilities

CHECKS = ("answer_correct", "answer_unique", "fits_target", "clear", "factual")
#: The written checks of a free-form item (no options, so no uniqueness among them).
FREE_FORM_CHECKS = ("answer_correct", "fits_target", "clear", "factual")
REASONS = {
    "answer_matches": "the judge, answering blind, chose {judge} but the label is {label}",
    "answer_correct": "the labelled answer is not correct",
    "answer_unique": "another option is also correct",
    "fits_target": "the item does not exercise its pattern / source error",
    "clear": "the item is unclear or not self-contained",
    "factual": "the item states something false",
}

#: Why a free-form item's blind solve does not endorse it.
FREE_FORM_DISAGREES = "the judge, solving blind, reached {judge!r} but the reference answer is {label!r}"
FREE_FORM_NO_ANSWER = "the judge, solving blind, reached no final answer"
#: The free-form judge decodes greedily: its solve is a check, not a sample.
FREE_FORM_TEMPERATURE = 0.0

#: A blind solve: the judge's best letter and its probability for each option (``{}``: decoded).
Solve = tuple[str, dict[str, float]]


def _read_checks(pred: Any, names: Sequence[str]) -> tuple[dict[str, bool], str]:
    """The written checks of a prediction as booleans, and its reasons; a non-boolean is a parse error."""
    checks = {}
    for name in names:
        value = getattr(pred, name)
        if not isinstance(value, bool):
            raise ParseError(f"{name} is not a boolean: {value!r}")
        checks[name] = value
    return checks, str(pred.reasons or "").strip()


class Judge:
    """Scores items on the judge LM (and runs the written checks when asked to).

    Args:
        ctx: The suite's shared state.
        checks: Also ask for the written verdict (``quality_gate.judge_checks``).
        batch: Items scored per call (``quality_gate.judge_batch``): 1 is one forward pass per item;
            more answer several numbered questions in one call, one line each, and read each
            question's option probabilities at its answer token.
    """

    def __init__(self, ctx: AgentContext, checks: bool = False, batch: int = 1) -> None:
        self.ctx = ctx
        self.checks = checks
        self.batch = max(1, int(batch))
        self.module = QualityJudge()
        self.scorer = OptionScorer()
        self.batch_scorer = BatchOptionScorer()
        self.free_form_solver = FreeFormSolver()

    def __call__(self, items: Sequence[GeneratedItem]) -> list[Verdict]:
        """One verdict per item, in order (see :meth:`AgentSuite.judge`)."""
        free = [k for k, g in enumerate(items) if isinstance(g.item, QAItem)]
        if not free:
            return self._multiple_choice(items)
        # Each kind is judged its own way; the verdicts come back in the items' order.
        mc = [k for k, g in enumerate(items) if not isinstance(g.item, QAItem)]
        verdicts: dict[int, Verdict] = {}
        if mc:
            verdicts.update(zip(mc, self._multiple_choice([items[k] for k in mc]), strict=True))
        verdicts.update(zip(free, self._free_form([items[k] for k in free]), strict=True))
        return [verdicts[k] for k in range(len(items))]

    def _multiple_choice(self, items: Sequence[GeneratedItem]) -> list[Verdict]:
        runner = self.ctx.judge
        if self.batch > 1 and runner.handle.logprobs:
            chunks = [[g.item for g in items[i : i + self.batch]] for i in range(0, len(items), self.batch)]
            solves = [x for part in self.ctx.map(runner, self.solve_many, chunks) for x in part]
        else:
            solves = self.ctx.map(runner, self.solve, [g.item for g in items])
        if not self.checks:
            return [self._verdict(g, solve) for g, solve in zip(items, solves, strict=True)]
        return self.ctx.map(runner, lambda pair: self._check(*pair), list(zip(items, solves, strict=True)))

    def solve(self, item: Any) -> Solve:
        """The judge's blind answer to a multiple-choice item: ``(letter, {letter: probability})``.

        ``("", {})`` when it could not answer (recorded as a failure).
        """
        runner = self.ctx.judge
        n = len(item.choices)
        inputs = {"question": item.question, "options": format_options(item.choices)}
        if runner.handle.logprobs:

            def parse_scored(pred: Any) -> Solve:
                probs = option_probabilities(pred.logprobs, n)
                if probs is None:  # no log-probabilities came back: read the decoded letter
                    return LETTERS[parse_letter(pred.text, item.choices)], {}
                return best_option(probs)[0], probs

            outcome = runner.run("judge_solve", f"score/{item.id}", self.scorer, inputs, parse_scored)
        else:
            outcome = runner.run(
                "judge_solve",
                f"solve/{item.id}",
                self.module.solve,
                inputs,
                lambda p: (LETTERS[parse_letter(p.answer, item.choices)], {}),
                lm_kwargs=self.ctx.cap(runner, MAX_TOKENS["judge_solve"]),
            )
        self.ctx.record(outcome.failure)
        return outcome.value or ("", {})

    def solve_many(self, items: Sequence[Any]) -> list[Solve]:
        """Blind answers to several items in one call; an item the answer leaves out is asked alone."""
        if len(items) == 1:
            return [self.solve(items[0])]
        runner = self.ctx.judge
        inputs = {"questions": [(i.question, format_options(i.choices)) for i in items]}

        def parse(pred: Any) -> list[Solve | None]:
            probs = numbered_option_probabilities(pred.logprobs, [len(i.choices) for i in items])
            got: list[Solve | None] = [(best_option(p)[0], p) if p else None for p in probs]
            if not any(got):
                raise ParseError("no numbered answer with log-probabilities")
            return got

        outcome = runner.run(
            "judge_solve", "score/" + ",".join(i.id for i in items), self.batch_scorer, inputs, parse
        )
        self.ctx.record(outcome.failure)
        got = outcome.value or [None] * len(items)
        if outcome.ok and not all(got):
            self.ctx.usage.count("judge_solve", parse_failures=sum(g is None for g in got))
        return [g if g is not None else self.solve(i) for g, i in zip(got, items, strict=True)]

    def _free_form(self, items: Sequence[GeneratedItem]) -> list[Verdict]:
        runner = self.ctx.judge
        answers = self.ctx.map(runner, self.solve_free_form, [g.item for g in items])
        pairs = list(zip(items, answers, strict=True))
        if not self.checks:
            return [self._free_form_verdict(g, answer) for g, answer in pairs]
        return self.ctx.map(runner, lambda pair: self._check_free_form(*pair), pairs)

    def solve_free_form(self, item: QAItem) -> str:
        """The judge's blind final answer to a free-form item (``""`` if it reached none).

        One decoded call per item, cached like every other: the judge writes a few lines of reasoning
        and ``#### <answer>``; the answer is read as a generated item's is
        (:func:`pada.agents.parsing.clean_final_answer`: ``"#### 10 hours"`` and ``"#### 50 - 40 = 10"``
        read ``"10"``). A reply without one is a parse failure (retried; the runner samples its retries).
        """
        runner = self.ctx.judge
        question = item.question if not item.context else f"{item.context}\n{item.question}"

        def parse(pred: Any) -> str:
            answer = clean_final_answer(pred.text)
            if not answer:
                raise ParseError("no final answer in the judge's solution")
            return answer

        lm_kwargs = {
            **self.ctx.cap(runner, MAX_TOKENS["judge_solve_free_form"]),
            "temperature": FREE_FORM_TEMPERATURE,
        }
        outcome = runner.run(
            "judge_solve",
            f"solve_free_form/{item.id}",
            self.free_form_solver,
            {"question": question},
            parse,
            lm_kwargs=lm_kwargs,
        )
        self.ctx.record(outcome.failure)
        return outcome.value or ""

    @staticmethod
    def _free_form_verdict(
        g: GeneratedItem, answer: str, more: dict[str, bool] | None = None, said: str = ""
    ) -> Verdict:
        label = g.item.answer_text
        agrees = bool(answer) and answers_match(answer, label)
        checks: dict[str, bool] = {"answer_matches": agrees, **(more or {})}
        reasons = []
        if not agrees:
            reasons.append(
                FREE_FORM_DISAGREES.format(judge=clip(answer, 80), label=label)
                if answer
                else FREE_FORM_NO_ANSWER
            )
        reasons += [REASONS[k] for k, ok in (more or {}).items() if not ok]
        if said:
            reasons.append(said)
        return Verdict(
            item_id=g.id,
            accepted=all(checks.values()),
            score=1.0 if agrees else 0.0,
            reasons=reasons,
            judge_answer=answer,
            checks=checks,
            failed=not answer,
        )

    def _check_free_form(self, g: GeneratedItem, answer: str) -> Verdict:
        runner = self.ctx.judge
        item = g.item
        outcome = runner.run(
            "judge",
            f"check/{g.id}",
            self.module.check_free_form,
            {
                "question": item.question,
                "solution": getattr(item, "solution", None) or "(none given)",
                "labelled_answer": item.answer_text,
                "your_answer": answer or "(could not answer)",
                "target": g.target[:600],
            },
            lambda pred: _read_checks(pred, FREE_FORM_CHECKS),
            lm_kwargs=self.ctx.cap(runner, MAX_TOKENS["judge"]),
        )
        return self._with_checks(outcome, lambda *checks: self._free_form_verdict(g, answer, *checks))

    @staticmethod
    def _verdict(
        g: GeneratedItem, solve: Solve, more: dict[str, bool] | None = None, said: str = ""
    ) -> Verdict:
        blind, probs = solve
        label = g.item.answer_letter
        checks: dict[str, bool] = {"answer_matches": blind == label, **(more or {})}
        score = probs.get(label, 0.0) if probs else float(blind == label)
        reasons = [
            REASONS[k].format(judge=blind or "nothing", label=label) for k, ok in checks.items() if not ok
        ]
        if probs and not checks["answer_matches"]:
            reasons[0] += f" (p={probs.get(blind, 0.0):.2f}; the label's p={score:.2f})"
        if said:
            reasons.append(said)
        return Verdict(
            item_id=g.id,
            accepted=all(checks.values()),
            score=round(score, 4),
            reasons=reasons,
            judge_answer=blind,
            checks=checks,
            failed=not blind,
            probabilities={k: round(v, 4) for k, v in probs.items()},
        )

    def _check(self, g: GeneratedItem, solve: Solve) -> Verdict:
        runner = self.ctx.judge
        blind = solve[0]

        def parse(pred: Any) -> tuple[dict[str, bool], str]:
            return _read_checks(pred, CHECKS)

        outcome = runner.run(
            "judge",
            f"check/{g.id}",
            self.module.check,
            {
                "question": g.item.question,
                "options": format_options(g.item.choices),
                "labelled_answer": letter_and_text(g.item.answer_letter, g.item.choices),
                "your_answer": letter_and_text(blind, g.item.choices) if blind else "(could not answer)",
                "target": g.target[:600],
            },
            parse,
            lm_kwargs=self.ctx.cap(runner, MAX_TOKENS["judge"]),
        )
        return self._with_checks(outcome, lambda *checks: self._verdict(g, solve, *checks))

    def _with_checks(self, outcome: Any, verdict: Callable[..., Verdict]) -> Verdict:
        """The verdict with the judge's written checks, or a failed one when they could not be read."""
        self.ctx.record(outcome.failure)
        if outcome.value is None:
            error = outcome.failure.error if outcome.failure else "no answer"
            failed = verdict()
            failed.accepted, failed.failed = False, True
            failed.reasons.append(f"the judge's checks could not be parsed ({error})")
            return failed
        more, said = outcome.value
        return verdict(more, said)
