"""A scripted teacher for offline agent tests: a DSPy engine that answers by agent, from a script.

Each agent is recognised from the output keys its prompt asks for. A script maps an agent to a list
of raw answers (strings, used in order, the last one repeated) or to a function of the user message.
Every request is kept, so tests can read exactly what reached the LM.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import dspy
import pytest
from dspy.lm15 import Message, Request, Response, TextPart, TokenLogprob, TopLogprob, Usage

from pada.agents.suite import AgentSuite
from pada.tasks.schema import EvalRecord, MCItem, QAItem
from pada.teacher.lm import LMHandle
from pada.teacher.usage import Budget

# Output keys that identify each agent's prompt (checked in this order). The free-form agents share
# the analysis, pattern, strategy, topic and judge-check keys with the multiple-choice ones.
AGENT_KEYS = [
    ("free_solve", "#### <answer>"),
    ("score", "with the letter of the correct option only"),
    ("judge", '"answer_correct"'),
    ("batch_analysis", '"analyses"'),
    ("error_analysis", '"root_cause"'),
    ("pattern_summary", '"description"'),
    ("strategy_draft", '"what_to_write"'),
    ("free_error_generation", "[[ ## reference_solution ## ]]"),
    ("free_batch_error_generation", "numbered failed problems"),
    ("error_generation", "[[ ## student_answer ## ]]"),
    ("batch_error_generation", "numbered failed questions"),
    ("topic_plan", '"topics"'),
    ("free_pattern_generation", '"problems"'),
    ("pattern_generation", '"questions"'),
    ("solve", '"answer"'),
]


def agent_of(system: str, user: str) -> str:
    for agent, key in AGENT_KEYS:
        if key in system or key in user:
            return agent
    raise AssertionError(f"unrecognised prompt: {system[:200]}")


def field(user: str, name: str) -> str:
    """The value of input field ``name`` in a user message."""
    marker = f"[[ ## {name} ## ]]\n"
    start = user.index(marker) + len(marker)
    ends = [e for e in (user.find("\n\n[[ ## ", start), user.find("\n\nRespond", start)) if e >= 0]
    return user[start : min(ends) if ends else None].strip()


def default_answer(agent: str, user: str, call: int) -> str:
    """Well-formed answers for every agent; generated questions differ per call."""
    if agent == "error_analysis":
        return json.dumps(
            {
                "root_cause": "The student confused related concepts.",
                "error_scenario": "Questions that require applying a definition.",
                "missing_knowledge": "basic definitions",
            }
        )
    if agent == "batch_analysis":
        n = field(user, "failures").count("Failure ")
        return json.dumps(
            {
                "analyses": [
                    {
                        "failure": i,
                        "root_cause": f"cause {i}",
                        "error_scenario": f"scenario {i}",
                        "missing_knowledge": f"knowledge {i}",
                    }
                    for i in range(1, n + 1)
                ]
            }
        )
    if agent == "pattern_summary":
        return json.dumps({"name": "Confusing definitions", "description": "The student mixes up terms."})
    if agent == "strategy_draft":
        return json.dumps(
            {
                "what_to_write": "Questions that test definitions.",
                "what_to_vary": "The objects and contexts.",
                "what_to_avoid": "Trick wording.",
                "count": "6 questions",
            }
        )
    if agent == "score":
        return "B"
    if agent in ("pattern_generation", "error_generation", "batch_error_generation"):
        n = int(field(user, "n"))
        items = [
            {
                "question": f"Synthetic question number {call}-{i} about unit {call * 10 + i}?",
                "options": ["alpha", "beta", "gamma", "delta"],
                "answer": "B",
                "rationale": "Because beta.",
            }
            for i in range(n)
        ]
        return json.dumps({"questions": items})
    if agent in ("free_pattern_generation", "free_error_generation", "free_batch_error_generation"):
        n = int(field(user, "n"))
        items = [
            {
                "question": f"Synthetic problem number {call}-{i}: what is 3 plus {call * 10 + i}?",
                "solution": f"Add 3 to {call * 10 + i}: 3 + {call * 10 + i} = {call * 10 + i + 3}.",
                "answer": str(call * 10 + i + 3),
            }
            for i in range(n)
        ]
        return json.dumps({"problems": items})
    if agent == "free_solve":
        # Solves the default problems above ("what is 3 plus K?"); anything else gets 0.
        m = re.search(r"what is (\d+) plus (\d+)", user)
        total = int(m.group(1)) + int(m.group(2)) if m else 0
        return f"Add the two numbers.\n#### {total}"
    if agent == "topic_plan":
        n = int(field(user, "n"))
        return json.dumps({"topics": [f"topic {call}-{i}" for i in range(n)]})
    if agent == "solve":
        return json.dumps({"answer": "B"})
    if agent == "judge":
        return json.dumps(
            {
                "answer_correct": True,
                "answer_unique": True,
                "fits_target": True,
                "clear": True,
                "factual": True,
                "reasons": "Looks fine.",
            }
        )
    raise AssertionError(agent)


Script = dict[str, list[str] | Callable[[str, int], str]]


class ScriptedEngine:
    """A DSPy engine that answers from a script (see the module docstring)."""

    def __init__(self, script: Script | None = None, tokens: tuple[int, int] = (100, 20)) -> None:
        self.script = dict(script or {})
        self.tokens = tokens
        self.requests: list[tuple[str, str, str]] = []  # (agent, system, user)
        self.seeds: list[int | None] = []  # each request's seed: the rollout as the provider sees it
        self.calls: dict[str, int] = {}

    def complete(self, request: Request) -> Response:
        system = (
            request.system
            if isinstance(request.system, str)
            else "".join(p.text for p in request.system or ())
        )
        user = request.messages[-1].text or ""
        agent = agent_of(system, user)
        call = self.calls.get(agent, 0)
        self.calls[agent] = call + 1
        self.requests.append((agent, system, user))
        self.seeds.append(request.config.seed)
        answers = self.script.get(agent)
        if callable(answers):
            text = answers(user, call)
        elif answers:
            text = answers[min(call, len(answers) - 1)]
        else:
            text = None
        if text is None:
            text = default_answer(agent, user, call)
        finish = "length" if text.endswith("<truncated>") else "stop"
        text = text.removesuffix("<truncated>")
        logprobs = None
        if request.config.logprobs and agent == "score" and not text.startswith("nologprobs:"):
            # The scripted judge is sure of its letter: p = 0.95, the rest shared by the others.
            top = [TopLogprob(token=text, logprob=math.log(0.95), bytes=None, token_id=None)] + [
                TopLogprob(token=other, logprob=math.log(0.05 / 3), bytes=None, token_id=None)
                for other in "ABCD"
                if other != text
            ]
            logprobs = [TokenLogprob(token=text, logprob=math.log(0.95), bytes=None, token_id=None, top=top)]
        text = text.removeprefix("nologprobs:")
        return Response(
            id=None,
            model="scripted",
            message=Message.assistant([TextPart(text)]),
            finish_reason=finish,
            usage=Usage(input_tokens=self.tokens[0], output_tokens=self.tokens[1]),
            logprobs=logprobs,
        )

    def prompts(self, *agents: str) -> list[str]:
        """All prompt texts (system + user) sent for the given agents."""
        return [f"{s}\n{u}" for a, s, u in self.requests if not agents or a in agents]


def scripted_handle(
    engine: ScriptedEngine,
    role: str = "teacher",
    cache: bool = False,
    budget: Budget | None = None,
    max_attempts: int = 3,
    adapter: str = "json",
    temperature: float = 0.7,
) -> LMHandle:
    lm = dspy.LM(
        f"scripted/{role}", engine=engine, cache=cache, temperature=temperature, max_tokens=600, num_retries=0
    )
    return LMHandle(
        role=role,
        lm=lm,
        provider="scripted",
        budget=budget or Budget(),
        adapter=adapter,
        max_attempts=max_attempts,
    )


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


#: The scripted engines answer one failure per analysis call, every failure analysed, and three items per
#: generation call; a test's own ``pattern_mining`` / ``generation`` keys override these.
SCRIPTED_PATTERN_MINING = {"analysis_batch_size": 1, "max_failures": 0}
SCRIPTED_GENERATION = {"items_per_call": 3}


@pytest.fixture
def make_suite():
    """Build an AgentSuite over scripted engines: ``make_suite(engine, judge_engine=None, **kwargs)``."""

    def _make(
        engine: ScriptedEngine,
        judge_engine: ScriptedEngine | None = None,
        embedder: Any = None,
        budget: Budget | None = None,
        max_attempts: int = 3,
        adapter: str = "json",
        cache: bool = False,
        **kwargs: Any,
    ) -> AgentSuite:
        teacher = scripted_handle(
            engine, cache=cache, budget=budget, max_attempts=max_attempts, adapter=adapter
        )
        judge = (
            scripted_handle(judge_engine, role="judge", adapter=adapter, max_attempts=max_attempts)
            if judge_engine
            else None
        )
        kwargs["pattern_mining"] = {**SCRIPTED_PATTERN_MINING, **(kwargs.get("pattern_mining") or {})}
        kwargs["generation"] = {**SCRIPTED_GENERATION, **(kwargs.get("generation") or {})}
        return AgentSuite(teacher, judge, embedder=embedder, **kwargs)

    return _make


def val_record(i: int, question: str | None = None) -> EvalRecord:
    return EvalRecord(
        id=f"val-{i}",
        split="validation",
        question=question or f"Which planet in the solar system is number {i} counting outward from the sun?",
        choices=["Mercury", "Venus", "Earth", "Mars"],
        prediction="A",
        gold="C",
        correct=False,
    )


def train_item(i: int) -> MCItem:
    return MCItem(
        id=f"train-{i}",
        question=f"Which simple machine is example number {i} of a lever used in everyday kitchens?",
        choices=("seesaw", "ramp", "pulley", "screw"),
        answer=0,
        source="arc_easy",
    )


def qa_train_item(i: int, solution: bool = True) -> QAItem:
    return QAItem(
        id=f"qa-train-{i}",
        question=f"A baker fills {i + 2} trays with 6 rolls each. How many rolls does the baker bake?",
        answer=str((i + 2) * 6),
        solution=f"Each tray holds 6 rolls, so {i + 2} trays hold {i + 2} x 6 = {(i + 2) * 6} rolls."
        if solution
        else None,
        source="gsm8k",
    )


def qa_record(i: int, split: str = "validation") -> EvalRecord:
    """A free-form failure: the student's worked answer ends in a wrong final answer."""
    return EvalRecord(
        id=f"qa-{split}-{i}",
        split=split,
        question=f"Sam has {i + 3} bags with 4 marbles in each and gives away 2. How many marbles are left?",
        choices=[],
        prediction=str((i + 3) * 4),
        gold=str((i + 3) * 4 - 2),
        correct=False,
        output_text=f"{i + 3} bags of 4 marbles is {(i + 3) * 4} marbles.\n#### {(i + 3) * 4}",
    )


def train_record(i: int) -> EvalRecord:
    it = train_item(i)
    return EvalRecord(
        id=it.id,
        split="train",
        question=it.question,
        choices=list(it.choices),
        prediction="B",
        gold="A",
        correct=False,
    )
