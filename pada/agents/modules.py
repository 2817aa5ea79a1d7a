"""The agents as DSPy Modules: each builds its predictors in ``__init__`` and does its work in ``forward``.

Plain :class:`dspy.Predict` throughout, not ``ChainOfThought``: on the embedded teacher every output
token costs ~30 ms, and the signatures already ask for the reasoning that matters as output fields.
The modules know nothing of retries, budgets or files; :class:`pada.agents.suite.AgentSuite` drives
them through :class:`pada.teacher.runner.AgentRunner`.
"""

from __future__ import annotations

from typing import Any

import dspy

from pada.agents.signatures import (
    BatchErrorAnalysisSig,
    BatchErrorCorrectingGenerationSig,
    ErrorAnalysisSig,
    ErrorCorrectingGenerationSig,
    FreeFormBatchErrorAnalysisSig,
    FreeFormBatchErrorCorrectingGenerationSig,
    FreeFormErrorAnalysisSig,
    FreeFormErrorCorrectingGenerationSig,
    FreeFormGenerationSig,
    FreeFormJudgeSig,
    FreeFormTopicPlanSig,
    JudgeSig,
    PatternGuidedGenerationSig,
    PatternSummarySig,
    SolveSig,
    StrategyDraftSig,
    TopicPlanSig,
)
from pada.teacher.scoring import TOP_LOGPROBS, one_token_call


class ErrorAnalysis(dspy.Module):
    """Root cause, error scenario and missing knowledge of validation failures (one or a batch per call).

    Multiple-choice failures show the options and the letters; free-form failures (recognised by their
    ``student_work``) show the reference solution and answer, and the student's work and final answer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.single = dspy.Predict(ErrorAnalysisSig)
        self.batch = dspy.Predict(BatchErrorAnalysisSig)
        self.single_free_form = dspy.Predict(FreeFormErrorAnalysisSig)
        self.batch_free_form = dspy.Predict(FreeFormBatchErrorAnalysisSig)

    def forward(self, task: str, failures: list[dict[str, str]]) -> dspy.Prediction:
        """Analyse failures of one kind.

        Multiple-choice dicts have ``question``, ``options``, ``student_answer``, ``correct_answer``;
        free-form dicts have ``question``, ``reference_solution``, ``correct_answer``, ``student_work``,
        ``student_answer``. One failure uses the flat single-failure signature, which small models
        fill most reliably; several use the batched one (``analyses``, numbered from 1).
        """
        if "student_work" in failures[0]:
            return self._free_form(task, failures)
        if len(failures) == 1:
            return self.single(task=task, **failures[0])
        text = "\n\n".join(
            f"Failure {i}:\nQuestion: {f['question']}\nOptions:\n{f['options']}\n"
            f"Student answered: {f['student_answer']}\nCorrect: {f['correct_answer']}"
            for i, f in enumerate(failures, start=1)
        )
        return self.batch(task=task, failures=text)

    def _free_form(self, task: str, failures: list[dict[str, str]]) -> dspy.Prediction:
        if len(failures) == 1:
            return self.single_free_form(task=task, **failures[0])
        text = "\n\n".join(
            f"Failure {i}:\nProblem: {f['question']}\nReference solution: {f['reference_solution']}\n"
            f"Correct answer: {f['correct_answer']}\nStudent's work: {f['student_work']}\n"
            f"Student's final answer: {f['student_answer']}"
            for i, f in enumerate(failures, start=1)
        )
        return self.batch_free_form(task=task, failures=text)


class PatternSummary(dspy.Module):
    """A named failure pattern with a description, from one cluster of analyses."""

    def __init__(self) -> None:
        super().__init__()
        self.summarize = dspy.Predict(PatternSummarySig)

    def forward(self, task: str, analyses: list[str]) -> dspy.Prediction:
        """Summarize the cluster's analyses (one text each)."""
        return self.summarize(task=task, analyses="\n".join(f"- {a}" for a in analyses))


class StrategyDraft(dspy.Module):
    """A data-augmentation strategy (what to write, vary, avoid; how many) for one failure pattern."""

    def __init__(self) -> None:
        super().__init__()
        self.draft = dspy.Predict(StrategyDraftSig)

    def forward(self, task: str, pattern: str) -> dspy.Prediction:
        """Draft a strategy for ``pattern`` (its name and description)."""
        return self.draft(task=task, pattern=pattern)


class PatternGuidedGeneration(dspy.Module):
    """New items that follow a strategy, with training items as style exemplars.

    ``plan`` lists distinct topics for a strategy once; each generation call then writes about one of
    them. A small teacher asked the same thing twice writes the same question twice; asked about a
    different topic each time, it writes different ones.

    Args:
        free_form: Write free-form problems with worked solutions (output ``problems``) instead of
            multiple-choice questions (output ``questions``).
    """

    def __init__(self, free_form: bool = False) -> None:
        super().__init__()
        self.free_form = free_form
        self.plan = dspy.Predict(FreeFormTopicPlanSig if free_form else TopicPlanSig)
        self.generate = dspy.Predict(FreeFormGenerationSig if free_form else PatternGuidedGenerationSig)

    def forward(
        self, task: str, strategy: str, examples: str, focus: str, avoid: str, n: int
    ) -> dspy.Prediction:
        """Write ``n`` items about ``focus``; ``avoid`` lists questions already written."""
        return self.generate(
            task=task,
            strategy=strategy,
            examples=examples,
            focus=focus or "(any topic the strategy covers)",
            avoid=avoid or "(none)",
            n=n,
        )


class ErrorCorrectingGeneration(dspy.Module):
    """New items exercising the skill behind training failures (the LLM2LLM path).

    ``forward`` writes ``n`` items for one failure; ``batch`` writes one item for each of several
    numbered failures in one call.

    Args:
        free_form: Write free-form problems with worked solutions, each failure shown with its
            ``reference_solution``, instead of multiple-choice questions shown with their ``options``.
    """

    def __init__(self, free_form: bool = False) -> None:
        super().__init__()
        self.free_form = free_form
        self.generate = dspy.Predict(
            FreeFormErrorCorrectingGenerationSig if free_form else ErrorCorrectingGenerationSig
        )
        self.batch = dspy.Predict(
            FreeFormBatchErrorCorrectingGenerationSig if free_form else BatchErrorCorrectingGenerationSig
        )

    def forward(self, *, avoid: str, **failure: Any) -> dspy.Prediction:
        """Write ``n`` items similar in skill to the failed training question.

        ``failure`` holds the signature's other inputs: ``task``, ``question``, ``options`` (or
        ``reference_solution``), ``correct_answer``, ``student_answer`` and ``n``.
        """
        return self.generate(**failure, avoid=avoid or "(none)")


class OptionScorer(dspy.Module):
    """The judge's blind solve as one forward pass: one answer token and its log-probabilities.

    No Signature and no adapter: the answer is a single letter, so the prompt asks for exactly that,
    and the option probabilities come from the alternatives at that token
    (:func:`pada.teacher.scoring.option_probabilities`). The call goes through the configured
    ``dspy.LM`` like every other (its cache, history and usage accounting included).
    """

    INSTRUCTION = "Answer the multiple-choice question with the letter of the correct option only."

    def forward(self, question: str, options: str) -> dspy.Prediction:
        """Score the options of one question; ``text`` is the decoded token, ``logprobs`` its alternatives."""
        lm = dspy.settings.lm
        messages = [
            {"role": "system", "content": self.INSTRUCTION},
            {"role": "user", "content": f"Question: {question}\nOptions:\n{options}\nAnswer:"},
        ]
        with one_token_call():
            [out] = lm(messages=messages, max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS)
        if isinstance(out, str):
            return dspy.Prediction(text=out, logprobs=None)
        return dspy.Prediction(text=out.get("text") or "", logprobs=out.get("logprobs"))


class BatchOptionScorer(dspy.Module):
    """Several blind solves in one call: one line ``k. <letter>`` per numbered question.

    The option probabilities of question *k* come from the alternatives at its answer token
    (:func:`pada.teacher.scoring.numbered_option_probabilities`); the answers are a few tokens each.
    """

    INSTRUCTION = (
        "Answer each numbered multiple-choice question with the letter of its correct option. "
        "Reply with one line per question: its number, a period and the letter, nothing else."
    )

    def forward(self, questions: list[tuple[str, str]]) -> dspy.Prediction:
        """Score ``(question, options)`` pairs; ``text`` is the decoded answer, ``logprobs`` its tokens."""
        lm = dspy.settings.lm
        body = "\n\n".join(
            f"{k}. Question: {q}\nOptions:\n{o}" for k, (q, o) in enumerate(questions, start=1)
        )
        messages = [
            {"role": "system", "content": self.INSTRUCTION},
            {"role": "user", "content": f"{body}\n\nAnswers:"},
        ]
        tokens = 6 * len(questions) + 4  # "12. B\n" is about four tokens
        [out] = lm(messages=messages, max_tokens=tokens, logprobs=True, top_logprobs=TOP_LOGPROBS)
        if isinstance(out, str):
            return dspy.Prediction(text=out, logprobs=None)
        return dspy.Prediction(text=out.get("text") or "", logprobs=out.get("logprobs"))


class FreeFormSolver(dspy.Module):
    """The judge's blind solve of a free-form problem: a few lines of reasoning and a final answer.

    There are no options to score, so the answer is decoded. No Signature: the reply is plain text
    whose last line is ``#### <answer>`` (the marker the student is trained on), read by
    :func:`pada.tasks.answers.extract_final_answer`. The caller caps its length and sets its
    temperature; the call goes through the configured ``dspy.LM`` (cache, history, usage).
    """

    INSTRUCTION = (
        "Solve the problem. Reason briefly, in a few short lines, then give the final answer "
        "on its own last line as: #### <answer>"
    )

    def forward(self, question: str) -> dspy.Prediction:
        """Solve one problem; ``text`` is the judge's reply."""
        lm = dspy.settings.lm
        # Every call carries a rollout id (it keys the cache); at temperature 0 DSPy warns that the id
        # changes no sample, which is what a greedy solve wants. The LM is this call's own copy.
        if hasattr(lm, "_warned_zero_temp_rollout"):
            lm._warned_zero_temp_rollout = True
        messages = [
            {"role": "system", "content": self.INSTRUCTION},
            {"role": "user", "content": f"Problem: {question}\nSolution:"},
        ]
        [out] = lm(messages=messages)
        text = out if isinstance(out, str) else out.get("text") or ""
        return dspy.Prediction(text=text)


class QualityJudge(dspy.Module):
    """Answers an item blind, then checks its label, uniqueness, fit, clarity and facts.

    ``check_free_form`` is the written check of a free-form problem and its worked solution.
    """

    def __init__(self) -> None:
        super().__init__()
        self.solve = dspy.Predict(SolveSig)
        self.check = dspy.Predict(JudgeSig)
        self.check_free_form = dspy.Predict(FreeFormJudgeSig)

    def forward(self, question: str, options: str, labelled_answer: str, target: str) -> dspy.Prediction:
        """Both steps in one go (the suite runs them as two robust calls to count failures apart)."""
        blind = self.solve(question=question, options=options)
        checks = self.check(
            question=question,
            options=options,
            labelled_answer=labelled_answer,
            your_answer=str(blind.answer),
            target=target,
        )
        return dspy.Prediction(your_answer=blind.answer, **dict(checks.items()))
