"""Data generation: new items from a strategy (PaDA) or from a training failure (LLM2LLM).

Validation and test items never reach a generator: only the strategy (scrubbed of held-out sentences)
and training items travel. Items come back ``items_per_call`` per call; each call has its own rollout
and lists the questions already written as "avoid", and duplicates, copies of the examples and copies
of held-out questions are dropped, so asking for K items gives K distinct ones. A dropped copy of an
example joins the "avoid" list of the next call (a copy of held-out text never does). On the
training-error path one call takes up to ``items_per_call`` numbered failures and writes one item for
each (LLM2LLM's one similar item per failed seed, several seeds per call).

Free-form tasks get free-form items: a problem, its worked solution and its final answer, in the same
compact, schema-constrained form, with the same checks on the question text. The strategy path writes
the suite's task kind; the training-error path writes the kind of each failure. A free-form call asks
for fewer items when the teacher's ``max_tokens`` cannot hold ``items_per_call`` worked solutions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pada.agents.analysis import MAX_SOLUTION_CHARS, failure_inputs
from pada.agents.context import AgentContext, clip, is_free_form
from pada.agents.modules import (
    ErrorCorrectingGeneration,
    PatternGuidedGeneration,
)
from pada.agents.parsing import (
    ParseError,
    answer_indices,
    format_item,
    format_problem,
    to_mc_item,
    to_qa_item,
)
from pada.agents.records import GeneratedItem, Strategy
from pada.agents.signatures import first_int
from pada.config.schema import GenerationConfig, typed
from pada.overlap import COPY_N, COPY_SHARE, NgramIndex
from pada.tasks.schema import LETTERS, EvalRecord, Item, normalize_text

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Output tokens per call: a fixed part plus a share per item asked for.
TOKENS_BASE, TOKENS_PER_ITEM = 40, 150
#: The share of a free-form item: its problem, its worked solution and its answer.
TOKENS_PER_PROBLEM = 220
#: How many of the questions already written are listed as "avoid" (the most recent ones).
MAX_AVOID = 8
#: Exemplars shown per call, rotating through those given: a small teacher copies what it sees, and
#: a different pair per call is a cheap source of variety.
EXEMPLARS_PER_CALL = 2
#: Topics planned per strategy (one per generation call, reused in turn when calls outnumber them).
MIN_TOPICS, MAX_TOPICS, TOKENS_PER_TOPIC = 4, 12, 16
#: Temperature added per further call for the same request (up to MAX_TEMPERATURE): a small teacher
#: that keeps writing the same question at one temperature writes a new one a little hotter.
TEMPERATURE_STEP, MAX_TEMPERATURE = 0.1, 1.0

#: Why an item was dropped when it repeats held-out text (it must never reach a prompt, not even as "avoid").
HELD_OUT = "copies a held-out question"

#: Builds the final item from a parsed one, its rationale, the call's rollout and the call's inputs.
Make = Callable[[Item, str, int, dict[str, Any]], GeneratedItem]
#: Where a prediction holds its items and how one raw item becomes ``(item, rationale)``.
Reader = tuple[str, Callable[[Any], tuple[Item, str]]]
#: The multiple-choice reader: ``questions``, validated by :func:`~pada.agents.parsing.to_mc_item`.
MC_READER: Reader = ("questions", lambda raw: to_mc_item(raw, "pending"))


def free_form_reader(worked: bool) -> Reader:
    """The free-form reader: ``problems``, validated by :func:`~pada.agents.parsing.to_qa_item`."""
    return "problems", lambda raw: to_qa_item(raw, "pending", worked=worked)


def content_id(text: str) -> str:
    """A stable id from a question's normalized text (the same question gets the same id on resume)."""
    return "syn-" + hashlib.sha1(normalize_text(text).encode()).hexdigest()[:12]


def _option_text(record: EvalRecord, letter: str) -> str:
    """The text of the option ``letter`` names (the letter means nothing without the options)."""
    letter = (letter or "").strip().upper()[:1]
    if letter and letter in LETTERS[: len(record.choices)]:
        return record.choices[LETTERS.index(letter)]
    return letter or "(no answer)"


def free_form_seed_inputs(record: EvalRecord, solution: str | None) -> dict[str, str]:
    """A free-form training failure as the error-correcting prompt shows it.

    Its reference solution is shown: training data may reach a generator.
    """
    return {
        "question": record.question if not record.context else f"{record.context}\n{record.question}",
        "reference_solution": clip(solution, MAX_SOLUTION_CHARS) or "(none given)",
        "correct_answer": record.gold,
        "student_answer": record.prediction.strip() or "(no final answer)",
    }


def _hotter(base: float, step: int) -> float:
    """The temperature of the ``step``-th further call for the same request (see TEMPERATURE_STEP)."""
    return min(max(base, MAX_TEMPERATURE), base + TEMPERATURE_STEP * step)


def _is_copy(question: str, sources: Sequence[str]) -> bool:
    index = NgramIndex(COPY_N)
    index.extend(sources)
    return index.largest_share_of_one(question) >= COPY_SHARE


class Generator:
    """Runs the two generation agents.

    Args:
        ctx: The suite's shared state.
        generation: The ``generation`` config (``items_per_call``, ``max_attempts``).
    """

    def __init__(self, ctx: AgentContext, generation: GenerationConfig | None = None) -> None:
        self.ctx = ctx
        self.cfg = typed(GenerationConfig, generation)
        self.pattern_module = PatternGuidedGeneration()
        self.error_module = ErrorCorrectingGeneration()
        self.free_form_pattern_module = PatternGuidedGeneration(free_form=True)
        self.free_form_error_module = ErrorCorrectingGeneration(free_form=True)
        self._seen: set[str] = set()
        self._calls: dict[str, int] = {}  # calls made per key: asking again continues with new rollouts
        self._topics: dict[tuple[str, str], list[str]] = {}  # topic plan per (strategy id, strategy text)
        self._lock = threading.Lock()

    def per_call(self, free_form: bool = False) -> int:
        """Items asked for per call: ``items_per_call``.

        Free-form items ask for fewer when the teacher's ``max_tokens`` cannot hold that many worked
        solutions.
        """
        per_call = max(1, int(self.cfg.items_per_call))
        if not free_form:
            return per_call
        limit = self.ctx.teacher.handle.lm.kwargs.get("max_tokens")
        if not limit:
            return per_call
        return max(1, min(per_call, (int(limit) - TOKENS_BASE) // TOKENS_PER_PROBLEM))

    def from_strategy(
        self, strategy: Strategy, exemplars: Sequence[Item], n: int, path: str = "pattern"
    ) -> list[GeneratedItem]:
        """Items that follow a strategy (see :meth:`AgentSuite.generate_from_strategy`)."""
        guard = self.ctx.guard
        free = self.ctx.free_form
        # An exemplar that is (nearly) a held-out item is dropped; one that merely shares a phrase is kept.
        safe = [e for e in exemplars if guard.max_share(e.question) < 0.5]
        if len(safe) < len(exemplars):
            log.warning(
                "generation: dropped %d exemplars that overlap held-out items", len(exemplars) - len(safe)
            )
        text = "\n".join(guard.scrub(line) for line in strategy.text().splitlines())

        per_call = self.per_call(free)
        module = self.free_form_pattern_module if free else self.pattern_module
        calls = -(-n // per_call) + int(self.cfg.max_attempts)
        topics = self._plan(strategy.id, text, calls, module)
        # Free-form items follow the task's format: a worked solution when its items have one.
        worked = any(getattr(e, "solution", None) for e in safe) if safe else True
        show = format_problem if free else format_item

        def inputs(call: int) -> dict[str, Any]:
            # A different topic and a different pair of exemplars per call.
            k = min(EXEMPLARS_PER_CALL, len(safe))
            shown = [safe[(call * k + i) % len(safe)] for i in range(k)]
            examples = "\n\n".join(show(e) for e in shown) or "(none)"
            focus = topics[call % len(topics)] if topics else ""
            return {"task": self.ctx.task, "strategy": text, "examples": examples, "focus": focus}

        skill = guard.scrub(strategy.what_to_write) or strategy.pattern

        def target(call_inputs: dict[str, Any]) -> str:
            # What the judge checks the item against: the strategy's skill and the call's topic.
            focus = call_inputs.get("focus")
            return f"{skill} (topic: {focus})" if focus else skill

        meta = {"path": path, "origin": strategy.id, "pattern_id": strategy.pattern_id}
        return self._generate(
            "pattern_generation",
            f"gen/{strategy.id}",
            module,
            inputs,
            n,
            self._maker(path, strategy.id, target, meta),
            [e.question for e in safe],
            free_form_reader(worked) if free else MC_READER,
        )

    def _plan(self, strategy_id: str, strategy: str, n: int, module: Any = None) -> list[str]:
        """Distinct topics for a strategy's calls, planned once per strategy (``[]`` if none)."""
        with self._lock:
            if (strategy_id, strategy) in self._topics:
                return self._topics[strategy_id, strategy]
        ctx = self.ctx
        n = max(MIN_TOPICS, min(n, MAX_TOPICS))

        def parse(pred: Any) -> list[str]:
            raw = [str(t) for t in pred.topics or []]
            if len(raw) < n:
                # A small model often packs its list into one string: "heat, light, sound and motion".
                raw = [part for t in raw for part in re.split(r",|;|\n|\band\b", t)]
            topics: dict[str, str] = {}
            for t in raw:
                t = ctx.guard.scrub(t).strip(" -*.:\n")
                if t and normalize_text(t) and normalize_text(t) not in topics:
                    topics[normalize_text(t)] = t[:80]
            if len(topics) < 2:
                raise ParseError(f"{len(topics)} distinct topics; at least 2 are needed")
            return list(topics.values())[:n]

        outcome = ctx.teacher.run(
            "topic_plan",
            f"topics/{strategy_id}",
            (module or self.pattern_module).plan,
            {"task": ctx.task, "strategy": strategy, "n": n},
            parse,
            lm_kwargs=ctx.cap(ctx.teacher, TOKENS_BASE + TOKENS_PER_TOPIC * n),
        )
        ctx.record(outcome.failure)
        topics = outcome.value or []
        with self._lock:
            self._topics[strategy_id, strategy] = topics
        return topics

    def from_train_error(self, record: EvalRecord, n: int) -> list[GeneratedItem]:
        """Items exercising a training failure's skill (see :meth:`AgentSuite.generate_from_train_error`)."""
        if record.split != "train":  # validation and test items never reach a generator
            raise ValueError(
                f"generate_from_train_error takes training failures only, got split={record.split!r}"
            )
        target = f"the same knowledge as this training question: {record.question}"
        make = self._maker(
            "train_error", record.id, lambda _: target, {"path": "train_error", "origin": record.id}
        )
        if is_free_form(record):
            solution = self.ctx.solutions.get(record.id)
            fixed = {"task": self.ctx.task, **free_form_seed_inputs(record, solution)}
            module: Any = self.free_form_error_module
            reader = free_form_reader(worked=bool(solution))
        else:
            fixed = {"task": self.ctx.task, **failure_inputs(record)}
            module, reader = self.error_module, MC_READER
        return self._generate(
            "error_generation",
            f"train/{record.id}",
            module,
            lambda call: fixed,
            n,
            make,
            [record.question],
            reader,
        )

    def from_train_errors(self, records: Sequence[EvalRecord]) -> list[GeneratedItem]:
        """One new item for each training failure, all in one call (see :meth:`from_train_error`).

        The answer's items name the failure they are based on; an item without a valid number goes to
        the first failure still without one. Failures left without an item are simply missing from
        the result (the loop asks them again).
        """
        for r in records:
            if r.split != "train":  # validation and test items never reach a generator
                raise ValueError(
                    f"generate_from_train_errors takes training failures only, got split={r.split!r}"
                )
        if len(records) <= 1:
            return [g for r in records for g in self.from_train_error(r, 1)]
        free = [r for r in records if is_free_form(r)]
        if free and len(free) < len(records):  # one kind per call
            return self.from_train_errors([r for r in records if not is_free_form(r)]) + (
                self.from_train_errors(free)
            )
        fit = self.per_call(free_form=True)
        if free and len(records) > fit:  # as many worked solutions per call as max_tokens holds
            chunks = [records[i : i + fit] for i in range(0, len(records), fit)]
            return [g for chunk in chunks for g in self.from_train_errors(chunk)]
        ctx = self.ctx
        agent = "error_generation"
        key = "train/" + ",".join(r.id for r in records)
        with self._lock:
            call = self._calls.get(key, 0)
            self._calls[key] = call + 1
        if free:
            failures = "\n\n".join(
                f"Failure {i}:\nProblem: {failure_inputs(r)['question']}\n"
                f"Correct answer: {r.gold}\n"
                f"The student answered: {r.prediction.strip() or '(no final answer)'}"
                for i, r in enumerate(records, start=1)
            )
            field, convert = free_form_reader(worked=any(r.id in ctx.solutions for r in records))
            module: Any = self.free_form_error_module.batch
            tokens = TOKENS_PER_PROBLEM
        else:
            # The options are not shown: a small teacher shown them copies them into its new item
            # (even into the item of another failure), which the gate then rejects as a near duplicate.
            failures = "\n\n".join(
                f"Failure {i}:\nQuestion: {failure_inputs(r)['question']}\n"
                f"Correct answer: {_option_text(r, r.gold)}\n"
                f"The student answered: {_option_text(r, r.prediction)}"
                for i, r in enumerate(records, start=1)
            )
            field, convert = MC_READER
            module, tokens = self.error_module.batch, TOKENS_PER_ITEM

        def parse(pred: Any) -> list[tuple[Any, Item, str]]:
            return self._valid_items(
                agent,
                getattr(pred, field),
                len(records) + 2,
                lambda raw: (first_int(getattr(raw, "failure", 0)), *convert(raw)),
            )

        avoid = "\n".join(f"- {r.question[:120]}" for r in records)
        lm_kwargs = ctx.cap(ctx.teacher, TOKENS_BASE + tokens * len(records))
        base = ctx.teacher.handle.lm.kwargs.get("temperature") or 0.0
        if base > 0 and call:
            lm_kwargs["temperature"] = _hotter(base, call)
        outcome = ctx.teacher.run(
            agent,
            f"{key}/call{call}",
            module,
            # The failed questions themselves are what a small teacher repeats most: list them as "avoid".
            {"task": ctx.task, "failures": failures, "avoid": avoid, "n": len(records)},
            parse,
            lm_kwargs=lm_kwargs,
        )
        ctx.record(outcome.failure)
        owner: dict[int, tuple[Item, str]] = {}
        loose: list[tuple[Item, str]] = []
        answers = outcome.value or []
        indices = answer_indices([number for number, _, _ in answers], len(records))
        for i, (_, item, rationale) in zip(indices, answers, strict=True):
            if 0 <= i < len(records) and i not in owner:
                owner[i] = (item, rationale)
            else:
                loose.append((item, rationale))
        for i in range(len(records)):
            if i not in owner and loose:
                owner[i] = loose.pop(0)
        out = []
        # A copy of any failure shown in the call is dropped here, not only of the item's own failure,
        # so that an item filed under the wrong failure cannot carry a copy past this check to the gate.
        shown = [r.question for r in records]
        for i in sorted(owner):
            record, (item, rationale) = records[i], owner[i]
            if self._drop(agent, item, shown):
                continue
            target = f"the same knowledge as this training question: {record.question}"
            make = self._maker(
                "train_error", record.id, lambda _, t=target: t, {"path": "train_error", "origin": record.id}
            )
            out.append(make(item, rationale, outcome.rollout, {}))
        return out

    @staticmethod
    def _maker(path: str, origin: str, target: Callable[[dict[str, Any]], str], meta: dict[str, Any]) -> Make:
        def make(item: Item, rationale: str, rollout: int, call_inputs: dict[str, Any]) -> GeneratedItem:
            extra = {"focus": call_inputs["focus"]} if call_inputs.get("focus") else {}
            # Either kind: the parsed item with its content id and provenance.
            final = dataclasses.replace(
                item,
                id=content_id(item.question),
                source="synthetic",
                meta={**meta, **extra, "rollout": rollout, "rationale": rationale},
            )
            return GeneratedItem(final, rationale, path, origin, target(call_inputs), rollout)

        return make

    def _valid_items(self, agent: str, raws: Any, limit: int, convert: Callable[[Any], T]) -> list[T]:
        """Each of the first ``limit`` raw items that converts; one malformed item does not cost its siblings.

        Raises:
            ParseError: Not one item converted (the call is retried).
        """
        items, bad = [], 0
        for raw in list(raws or [])[:limit]:
            try:
                items.append(convert(raw))
            except ParseError:
                bad += 1
        if bad:
            self.ctx.usage.count(agent, parse_failures=bad)
        if not items:
            raise ParseError("no valid item in the answer")
        return items

    def _drop(self, agent: str, item: Item, sources: Sequence[str]) -> str | None:
        """Why ``item`` is dropped before the gate (counted and logged), or ``None`` to keep it."""
        why = self._why_not_new(item, sources)
        if why:
            self.ctx.usage.count(agent, dropped=1)
            log.debug("%s: dropped %r: %s", agent, item.question[:60], why)
        return why

    def _why_not_new(self, item: Item, sources: Sequence[str]) -> str | None:
        if self.ctx.guard.max_share(item.question) >= COPY_SHARE:
            return HELD_OUT
        if _is_copy(item.question, sources):
            return "copies an example"
        norm = normalize_text(item.question)
        with self._lock:
            if norm in self._seen:
                return "duplicate"
            self._seen.add(norm)
        return None

    def _generate(
        self,
        agent: str,
        key: str,
        module: Any,
        inputs: Callable[[int], dict[str, Any]],
        n: int,
        make: Make,
        sources: Sequence[str],
        reader: Reader = MC_READER,
    ) -> list[GeneratedItem]:
        ctx = self.ctx
        field, convert = reader
        free = reader is not MC_READER
        per_call = self.per_call(free)
        per_item = TOKENS_PER_PROBLEM if free else TOKENS_PER_ITEM
        # Enough calls for n items, plus a few spare for answers that were all duplicates or malformed.
        max_calls = -(-n // per_call) + int(self.cfg.max_attempts)
        out: list[GeneratedItem] = []
        dropped: list[str] = []  # copies and duplicates the teacher wrote: the next call avoids them
        with self._lock:
            first = self._calls.get(key, 0)
            self._calls[key] = first + max_calls
        # A second request with the same key (the same strategy asked again) continues the numbering:
        # new rollouts, not cached repeats. A resumed process numbers from 0 again and so replays the
        # cached calls of the first run instead of paying for them twice.
        # Calls go out in waves of up to the teacher's concurrency (each on its own topic and pair of
        # exemplars), so a served teacher's slots stay busy; a wave avoids what earlier waves wrote.
        width = max(1, int(getattr(ctx.teacher.handle, "concurrency", 1)))
        base = ctx.teacher.handle.lm.kwargs.get("temperature") or 0.0
        call, wave = first, 0
        while len(out) < n and call < first + max_calls:
            missing = n - len(out)
            wants = []
            while missing > 0 and len(wants) < width and call + len(wants) < first + max_calls:
                wants.append(min(per_call, missing))
                missing -= wants[-1]
            written = [g.item.question for g in out] + dropped
            avoid = "\n".join(f"- {q[:120]}" for q in written[-MAX_AVOID:])
            lm_kwargs: dict[str, Any] = {}
            if base > 0 and wave:
                lm_kwargs["temperature"] = _hotter(base, wave)
            calls = [(call + i, want) for i, want in enumerate(wants)]

            def one(spec: tuple[int, int], avoid: str = avoid, lm_kwargs: dict[str, Any] = lm_kwargs) -> Any:
                number, want = spec

                def parse(pred: Any) -> list[tuple[Item, str]]:
                    return self._valid_items(agent, getattr(pred, field), want + 2, convert)

                call_inputs = inputs(number)
                outcome = ctx.teacher.run(
                    agent,
                    f"{key}/call{number}",
                    module,
                    {**call_inputs, "avoid": avoid, "n": want},
                    parse,
                    lm_kwargs={**ctx.cap(ctx.teacher, TOKENS_BASE + per_item * want), **lm_kwargs},
                )
                return outcome, call_inputs

            # In call order, whatever order they finish in: the result does not depend on timing.
            for outcome, call_inputs in ctx.map(ctx.teacher, one, calls):
                ctx.record(outcome.failure)
                for item, rationale in outcome.value or []:
                    if len(out) >= n:
                        break
                    why = self._drop(agent, item, sources)
                    if why:
                        if why != HELD_OUT:
                            dropped.append(item.question)
                        continue
                    out.append(make(item, rationale, outcome.rollout, call_inputs))
            call += len(calls)
            wave += 1
        if len(out) < n:
            log.info("%s %s: %d of %d items after %d calls", agent, key, len(out), n, max_calls)
        return out
