"""The DSPy Signatures of pada's agents: each docstring is the instruction, each field a typed contract.

Multiple-choice and free-form tasks have signatures of their own (the ``FreeForm*`` ones speak of
worked solutions and final answers instead of options and letters); pattern summaries and strategies
are shared. Instructions are short on purpose: the embedded teacher reads prompts at ~120 tokens/s on
two cores, so every sentence costs time on every call. Outputs are flat strings where possible, which
a 1.5B model fills far more reliably than nested structures; the only nested output is the list of
generated items, whose pydantic model the parser validates item by item (see :mod:`pada.agents.parsing`).
"""

from __future__ import annotations

import re
from typing import Any

import dspy
from pydantic import BaseModel, Field, field_validator


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def first_int(value: Any) -> Any:
    """The first integer in a string (``"10 questions"`` -> 10); other values unchanged."""
    if isinstance(value, str) and (m := re.search(r"-?\d+", value)):
        return int(m.group(0))
    return value


class MCQuestion(BaseModel):
    """A multiple-choice question."""

    # The docstring goes into the prompt's JSON schema: keep it short. Fields are lenient (defaults,
    # coercion) so that one malformed item does not invalidate its siblings; to_mc_item() in
    # pada.agents.parsing then validates each item on its own. No rationale: the judge solves each
    # item itself, and ~20 tokens per item saved are ~2 s per item on two CPU cores.

    question: str = Field(default="", description="the question, self-contained")
    options: list[str] = Field(default_factory=list, description="an answer option, text only")
    answer: str = Field(default="", description="the letter of the correct option (A, B, C...)")

    _coerce_text = field_validator("question", "answer", mode="before")(_text)

    @field_validator("options", mode="before")
    @classmethod
    def _coerce_options(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [_text(v) for _, v in sorted(value.items())]
        if isinstance(value, str):
            return [p for p in value.split("\n") if p.strip()]
        if isinstance(value, list):
            return [_text(v) for v in value]
        return value


class SimilarQuestion(BaseModel):
    """A new multiple-choice question based on one numbered failed question."""

    # The number first: the model commits to the failure it answers before it writes the question.
    failure: int = Field(default=0, description="the number of the failed question it is based on")
    question: str = Field(default="", description="a new question about a different example")
    options: list[str] = Field(default_factory=list, description="a new answer option, text only")
    answer: str = Field(default="", description="the letter of the correct option (A, B, C...)")

    _coerce_text = field_validator("question", "answer", mode="before")(_text)
    _coerce_int = field_validator("failure", mode="before")(first_int)
    _coerce_options = field_validator("options", mode="before")(MCQuestion._coerce_options.__func__)


class FreeFormProblem(BaseModel):
    """A free-form problem with its worked solution and final answer."""

    # Declared in the order a careful solver writes them: the problem, the reasoning, then the answer
    # the reasoning arrives at (the compact adapter shows the fields in this order). Lenient like
    # MCQuestion; to_qa_item() in pada.agents.parsing validates each item on its own.

    question: str = Field(default="", description="the problem, self-contained")
    solution: str = Field(default="", description="the worked solution, step by step, without the answer")
    answer: str = Field(default="", description="the final answer only: a number or a short phrase")

    _coerce_text = field_validator("question", "solution", "answer", mode="before")(_text)


class SimilarProblem(BaseModel):
    """A new free-form problem based on one numbered failed problem."""

    failure: int = Field(default=0, description="the number of the failed problem it is based on")
    question: str = Field(default="", description="a new problem in a different situation")
    solution: str = Field(default="", description="the worked solution, step by step, without the answer")
    answer: str = Field(default="", description="the final answer only: a number or a short phrase")

    _coerce_text = field_validator("question", "solution", "answer", mode="before")(_text)
    _coerce_int = field_validator("failure", mode="before")(first_int)


class FailureAnalysis(BaseModel):
    """The diagnosis of one failure."""

    failure: int = Field(default=0, description="the failure's number, as given in the input")
    root_cause: str = ""
    error_scenario: str = ""
    missing_knowledge: str = ""

    _coerce_text = field_validator("root_cause", "error_scenario", "missing_knowledge", mode="before")(_text)
    _coerce_int = field_validator("failure", mode="before")(first_int)


class ErrorAnalysisSig(dspy.Signature):
    """Diagnose why a small student model answered this multiple-choice question wrongly.

    Speak in general terms: the kind of question and the skill involved; do not repeat the question.
    """

    task: str = dspy.InputField(desc="the task the student is trained on")
    question: str = dspy.InputField()
    options: str = dspy.InputField()
    student_answer: str = dspy.InputField()
    correct_answer: str = dspy.InputField()
    root_cause: str = dspy.OutputField(
        desc="why the student likely chose the wrong option (at most 20 words)"
    )
    error_scenario: str = dspy.OutputField(
        desc="the type of question and topic, e.g. 'questions about X that need Y'"
    )
    missing_knowledge: str = dspy.OutputField(
        desc="the fact, concept or skill the student lacked (a short phrase)"
    )


class BatchErrorAnalysisSig(dspy.Signature):
    """Diagnose why a small student model answered each numbered multiple-choice question wrongly.

    Speak in general terms: the kind of question and the skill involved; do not repeat the questions.
    """

    task: str = dspy.InputField(desc="the task the student is trained on")
    failures: str = dspy.InputField(desc="numbered failures: question, options, student's and correct answer")
    analyses: list[FailureAnalysis] = dspy.OutputField(desc="one analysis per failure, same numbers")


class FreeFormErrorAnalysisSig(dspy.Signature):
    """Diagnose where a small student model's worked answer to this problem went wrong.

    Compare its work with the reference. Speak in general terms: the kind of problem and the skill
    involved; do not repeat the problem.
    """

    task: str = dspy.InputField(desc="the task the student is trained on")
    question: str = dspy.InputField()
    reference_solution: str = dspy.InputField()
    correct_answer: str = dspy.InputField()
    student_work: str = dspy.InputField(desc="what the student wrote")
    student_answer: str = dspy.InputField(desc="the final answer read from the student's work")
    root_cause: str = dspy.OutputField(
        desc="the step where the student's reasoning went wrong, and why (at most 20 words)"
    )
    error_scenario: str = dspy.OutputField(
        desc="the type of problem and topic, e.g. 'problems about X that need Y'"
    )
    missing_knowledge: str = dspy.OutputField(
        desc="the fact, concept or skill the student lacked (a short phrase)"
    )


class FreeFormBatchErrorAnalysisSig(dspy.Signature):
    """Diagnose where a small student model's worked answer to each numbered problem went wrong.

    Compare its work with the reference. Speak in general terms: the kind of problem and the skill
    involved; do not repeat the problems.
    """

    task: str = dspy.InputField(desc="the task the student is trained on")
    failures: str = dspy.InputField(
        desc="numbered failures: problem, reference solution and answer, the student's work and answer"
    )
    analyses: list[FailureAnalysis] = dspy.OutputField(desc="one analysis per failure, same numbers")


class PatternSummarySig(dspy.Signature):
    """Name the failure pattern shared by these diagnoses of a student model's errors.

    Describe it in general terms, without any specific question.
    """

    task: str = dspy.InputField(desc="the task the student is trained on")
    analyses: str = dspy.InputField(desc="one diagnosis per line")
    name: str = dspy.OutputField(desc="a name giving the topic and skill (at most 8 words)")
    description: str = dspy.OutputField(
        desc="what the student gets wrong, on which topics, and why (at most 40 words)"
    )


class StrategyDraftSig(dspy.Signature):
    """Draft a data-augmentation strategy: new training questions that fix this failure pattern."""

    task: str = dspy.InputField(desc="the task the student is trained on")
    pattern: str = dspy.InputField(desc="the failure pattern")
    what_to_write: str = dspy.OutputField(
        desc="the topic and skill the new questions should test (one sentence)"
    )
    what_to_vary: str = dspy.OutputField(
        desc="what to vary between questions, e.g. objects or situations (a phrase)"
    )
    what_to_avoid: str = dspy.OutputField(desc="mistakes to avoid when writing them (a short phrase)")
    # A string on purpose: "10 questions" would fail an int field and waste the whole strategy.
    count: str = dspy.OutputField(desc="how many questions would cover the pattern (a number, 3 to 20)")


class TopicPlanSig(dspy.Signature):
    """List distinct, specific topics for new multiple-choice questions that follow the strategy.

    Each topic names a concrete object, organism, process or situation; no two topics alike.
    """

    task: str = dspy.InputField(desc="the task")
    strategy: str = dspy.InputField(desc="the failure pattern and the strategy to follow")
    n: int = dspy.InputField(desc="how many topics to list")
    topics: list[str] = dspy.OutputField(desc="a topic, a few words")


class PatternGuidedGenerationSig(dspy.Signature):
    """Write new, original multiple-choice questions about the focus topic that follow the strategy.

    The examples only show the format: write about other things. Never repeat a question listed under
    avoid. Each question has exactly one correct option.
    """

    task: str = dspy.InputField(desc="the task")
    strategy: str = dspy.InputField(desc="the failure pattern and the strategy to follow")
    examples: str = dspy.InputField(desc="training questions showing the style")
    focus: str = dspy.InputField(desc="the topic the new questions are about")
    avoid: str = dspy.InputField(desc="questions already written: write different ones")
    n: int = dspy.InputField(desc="how many questions to write")
    questions: list[MCQuestion] = dspy.OutputField(desc="the new questions")


class ErrorCorrectingGenerationSig(dspy.Signature):
    """Write new multiple-choice questions that exercise the skill this failed training question needs.

    Write different questions, not rewordings, and never repeat a question listed under avoid. Each
    question has exactly one correct option.
    """

    task: str = dspy.InputField(desc="the task")
    question: str = dspy.InputField()
    options: str = dspy.InputField()
    correct_answer: str = dspy.InputField()
    student_answer: str = dspy.InputField()
    avoid: str = dspy.InputField(desc="questions already written: write different ones")
    n: int = dspy.InputField(desc="how many questions to write")
    questions: list[MCQuestion] = dspy.OutputField(desc="the new questions")


class BatchErrorCorrectingGenerationSig(dspy.Signature):
    """For each numbered failure, write one new question on the same fact or skill, with a new example.

    Give it four new answer options of your own. Do not reuse the failed question's wording; never
    repeat a question listed under avoid. Each question has exactly one correct option.
    """

    task: str = dspy.InputField(desc="the task")
    failures: str = dspy.InputField(desc="numbered failed questions, their correct and the student's answer")
    avoid: str = dspy.InputField(desc="questions already written: write different ones")
    n: int = dspy.InputField(desc="how many questions to write: one per failed question")
    questions: list[SimilarQuestion] = dspy.OutputField(desc="one new question per failed question")


class FreeFormTopicPlanSig(dspy.Signature):
    """List distinct, specific topics for new problems that follow the strategy.

    Each topic names a concrete situation, object or quantity; no two topics alike.
    """

    task: str = dspy.InputField(desc="the task")
    strategy: str = dspy.InputField(desc="the failure pattern and the strategy to follow")
    n: int = dspy.InputField(desc="how many topics to list")
    topics: list[str] = dspy.OutputField(desc="a topic, a few words")


class FreeFormGenerationSig(dspy.Signature):
    """Write new, original problems about the focus topic that follow the strategy.

    The examples only show the format: write about other things. Never repeat a problem listed under
    avoid. Solve each problem step by step; its final answer must follow from the solution.
    """

    task: str = dspy.InputField(desc="the task")
    strategy: str = dspy.InputField(desc="the failure pattern and the strategy to follow")
    examples: str = dspy.InputField(desc="training problems with their solutions, showing the style")
    focus: str = dspy.InputField(desc="the topic the new problems are about")
    avoid: str = dspy.InputField(desc="problems already written: write different ones")
    n: int = dspy.InputField(desc="how many problems to write")
    problems: list[FreeFormProblem] = dspy.OutputField(desc="the new problems")


class FreeFormErrorCorrectingGenerationSig(dspy.Signature):
    """Write new problems that exercise the skill this failed training problem needs.

    Write different problems, not rewordings: change the situation and the numbers, and never repeat
    a problem listed under avoid. Solve each step by step; its final answer must follow from the solution.
    """

    task: str = dspy.InputField(desc="the task")
    question: str = dspy.InputField()
    reference_solution: str = dspy.InputField()
    correct_answer: str = dspy.InputField()
    student_answer: str = dspy.InputField()
    avoid: str = dspy.InputField(desc="problems already written: write different ones")
    n: int = dspy.InputField(desc="how many problems to write")
    problems: list[FreeFormProblem] = dspy.OutputField(desc="the new problems")


class FreeFormBatchErrorCorrectingGenerationSig(dspy.Signature):
    """For each numbered failure, write one new problem that needs the same skill, in a new situation.

    Use new numbers and do not reuse the failed problem's wording; never repeat a problem listed under
    avoid. Solve each step by step; its final answer must follow from the solution.
    """

    task: str = dspy.InputField(desc="the task")
    failures: str = dspy.InputField(desc="numbered failed problems, their correct and the student's answer")
    avoid: str = dspy.InputField(desc="problems already written: write different ones")
    n: int = dspy.InputField(desc="how many problems to write: one per failed problem")
    problems: list[SimilarProblem] = dspy.OutputField(desc="one new problem per failed problem")


class SolveSig(dspy.Signature):
    """Answer the multiple-choice question."""

    question: str = dspy.InputField()
    options: str = dspy.InputField()
    answer: str = dspy.OutputField(desc="the letter of the correct option only")


class JudgeSig(dspy.Signature):
    """Check a generated multiple-choice training question.

    The labelled answer must be correct and the only correct option; the question must fit the
    target, be clear and self-contained, and state nothing false.
    """

    question: str = dspy.InputField()
    options: str = dspy.InputField()
    labelled_answer: str = dspy.InputField()
    your_answer: str = dspy.InputField(desc="the option you chose when answering without the label")
    target: str = dspy.InputField(desc="the knowledge or skill the question should exercise")
    answer_correct: bool = dspy.OutputField(desc="the labelled answer is correct")
    answer_unique: bool = dspy.OutputField(desc="no other option is also correct")
    fits_target: bool = dspy.OutputField(desc="the question exercises that knowledge or skill")
    clear: bool = dspy.OutputField(desc="clear, self-contained and answerable")
    factual: bool = dspy.OutputField(desc="states no false facts")
    reasons: str = dspy.OutputField(desc="why, in at most 15 words")


class FreeFormJudgeSig(dspy.Signature):
    """Check a generated training problem and its worked solution.

    The solution must be correct and reach the labelled final answer; the problem must fit the target,
    be clear and self-contained, and state nothing false.
    """

    question: str = dspy.InputField()
    solution: str = dspy.InputField()
    labelled_answer: str = dspy.InputField()
    your_answer: str = dspy.InputField(desc="the final answer you reached when solving it without the label")
    target: str = dspy.InputField(desc="the knowledge or skill the problem should exercise")
    answer_correct: bool = dspy.OutputField(desc="the solution is correct and reaches the labelled answer")
    fits_target: bool = dspy.OutputField(desc="the problem exercises that knowledge or skill")
    clear: bool = dspy.OutputField(desc="clear, self-contained and answerable")
    factual: bool = dspy.OutputField(desc="states no false facts")
    reasons: str = dspy.OutputField(desc="why, in at most 15 words")
