"""The agents on free-form tasks, offline: analysis, both generators and the judge, with scripted answers.

A free-form failure is a worked answer whose final answer is wrong; a free-form item is a problem, its
worked solution and its final answer; the judge solves each item blind in one short decoded call.
"""

from __future__ import annotations

import json

import pytest

from pada.agents.context import MAX_TOKENS
from pada.agents.judging import FREE_FORM_NO_ANSWER
from pada.agents.records import GeneratedItem, Strategy
from pada.loop.quality_gate import judge_score
from pada.tasks.schema import EvalRecord, QAItem

from .conftest import (
    ScriptedEngine,
    field,
    qa_record,
    qa_train_item,
    scripted_handle,
    train_record,
    val_record,
)


def strategy() -> Strategy:
    return Strategy(
        "strategy-pattern-0",
        "pattern-0",
        "Two-step problems: stops after the first step",
        "problems that need a multiplication and then a subtraction",
        "the situation and the numbers",
        "one-step problems",
    )


def qa_train_failure(i: int) -> EvalRecord:
    item = qa_train_item(i)
    return EvalRecord(
        id=item.id,
        split="train",
        question=item.question,
        choices=[],
        prediction="6",
        gold=item.answer,
        correct=False,
        output_text="Each tray holds 6 rolls.\n#### 6",
    )


def problems(*rows: tuple[str, str, str]) -> str:
    return json.dumps({"problems": [{"question": q, "solution": s, "answer": a} for q, s, a in rows]})


# ---------------------------------------------------------------- error analysis


def test_free_form_analysis_shows_the_reference_and_the_students_work(engine, make_suite):
    suite = make_suite(engine, task_kind="free_form")
    suite.remember_solutions([QAItem("qa-validation-0", "q", "10", solution="3 x 4 = 12, and 12 - 2 = 10.")])
    [analysis] = suite.analyze_errors([qa_record(0)])
    assert analysis.id == "qa-validation-0" and analysis.missing_knowledge == "basic definitions"
    [(agent, system, user)] = engine.requests
    assert agent == "error_analysis" and "worked answer to this problem went wrong" in system
    assert field(user, "reference_solution") == "3 x 4 = 12, and 12 - 2 = 10."
    assert field(user, "correct_answer") == "10" and field(user, "student_answer") == "12"
    assert field(user, "student_work").endswith("#### 12")
    assert "options" not in user.lower() and "letter" not in system.lower()
    # The reference solution of a validation item is held out like its question.
    assert suite.ctx.guard.shared("so 3 x 4 = 12, and 12 - 2 = 10 marbles")


def test_short_worked_solutions_are_held_out_by_their_ngrams_only():
    from pada.agents.leakage import HeldOutGuard

    guard = HeldOutGuard(n=6)
    guard.add(["6 x 4 = 24."], passages=True)  # shorter than 6 words: skipped
    guard.add(["Each box holds 6 pens, so 4 boxes hold 24 pens in all."], passages=True)
    assert not guard.shared("Write problems whose answer is 24.")
    assert guard.shared("so 4 boxes hold 24 pens in all")
    guard.add(["6 x 4 = 24."])  # a question is matched whole, as before
    assert guard.shared("What is 6 x 4 = 24?")


def test_free_form_analysis_without_a_solution_or_an_answer(engine, make_suite):
    record = EvalRecord(
        "qa-1", "validation", "How many marbles are left?", [], "", "10", False, output_text=""
    )
    make_suite(engine, task_kind="free_form").analyze_errors([record])
    user = engine.requests[0][2]
    assert field(user, "reference_solution") == "(none given)"
    assert field(user, "student_work") == "(nothing)"
    assert field(user, "student_answer") == "(no final answer found)"


def test_batched_free_form_analysis(engine, make_suite):
    suite = make_suite(engine, pattern_mining={"analysis_batch_size": 3})
    analyses = suite.analyze_errors([qa_record(i) for i in range(3)])
    assert [a.missing_knowledge for a in analyses] == ["knowledge 1", "knowledge 2", "knowledge 3"]
    assert engine.calls == {"batch_analysis": 1}
    system, user = engine.requests[0][1:]
    failures = field(user, "failures")
    assert "each numbered problem went wrong" in system
    assert failures.count("Student's work:") == 3 and "Student's final answer: 12" in failures
    assert "Options" not in failures


def test_a_batch_holds_failures_of_one_kind(engine, make_suite):
    suite = make_suite(engine, pattern_mining={"analysis_batch_size": 4})
    records = [val_record(0), qa_record(0), val_record(1), qa_record(1)]
    analyses = suite.analyze_errors(records)
    assert len(analyses) == 4
    batches = [field(user, "failures") for agent, _, user in engine.requests]
    assert len(batches) == 2
    assert "Options:" in batches[0] and "Student's work" not in batches[0]
    assert "Student's work" in batches[1] and "Options:" not in batches[1]


# ---------------------------------------------------------------- generation


def test_free_form_items_from_a_strategy(engine, make_suite):
    suite = make_suite(engine, task_kind="free_form", generation={"items_per_call": 2})
    items = suite.generate_from_strategy(strategy(), [qa_train_item(0), qa_train_item(1)], n=3)
    assert len(items) == 3 and len({g.id for g in items}) == 3
    g = items[0]
    assert isinstance(g.item, QAItem) and g.item.source == "synthetic" and g.item.kind == "free_form"
    assert g.item.answer == "3" and g.item.solution == "Add 3 to 0: 3 + 0 = 3." and g.rationale == ""
    assert (
        g.path == "pattern" and g.origin == "strategy-pattern-0" and g.item.meta["pattern_id"] == "pattern-0"
    )
    assert g.item.id.startswith("syn-")
    assert engine.calls["free_pattern_generation"] == 2  # 2 + 1 items
    system, user = next((s, u) for a, s, u in engine.requests if a == "free_pattern_generation")
    # The exemplars are training problems with their worked solutions; nothing about options.
    assert "Solution: Each tray holds 6 rolls, so 2 trays hold 2 x 6 = 12 rolls." in field(user, "examples")
    assert '"solution"' in system and "option" not in system.lower()
    topics = next(s for a, s, _ in engine.requests if a == "topic_plan")
    assert "new problems" in topics and "multiple-choice" not in topics


@pytest.mark.parametrize(
    "answer, valid, bad",
    [
        # one good item; one without a final answer; one without a solution
        (
            problems(
                (
                    "Ana has 3 boxes of 5 pens and loses 2. How many pens are left?",
                    "3 x 5 = 15; 15 - 2 = 13.",
                    "13",
                ),
                ("Ben buys 4 packs of 6 cards. How many cards?", "4 x 6 = 24.", ""),
                ("Cy has 2 bags of 7 nuts. How many nuts?", "", "14"),
            ),
            1,
            2,
        ),
        # the answer written with its marker or its unit, and a solution that repeats the answer line
        (
            problems(
                ("Dee reads 9 pages a day for 4 days. How many pages?", "9 x 4 = 36.\n#### 36", "#### 36"),
                ("Eli walks 3 km a day for 5 days. How far?", "3 x 5 = 15.", "15 km"),
            ),
            2,
            0,
        ),
    ],
)
def test_free_form_generation_validates_each_item(make_suite, answer, valid, bad):
    engine = ScriptedEngine({"free_pattern_generation": [answer]})
    suite = make_suite(engine, task_kind="free_form", generation={"items_per_call": 3, "max_attempts": 0})
    suite.ctx.teacher.handle.lm.kwargs["max_tokens"] = 2000  # room for three worked solutions in one call
    items = suite.generate_from_strategy(strategy(), [qa_train_item(0)], n=3)
    assert len(items) == valid and engine.calls["free_pattern_generation"] == 1
    for g in items:
        assert g.item.solution and "####" not in g.item.solution
        assert g.item.answer and g.item.answer.replace(".", "").isdigit()
    assert suite.usage.agents["pattern_generation"].parse_failures == bad


def test_free_form_generation_malformed_answers_are_recorded_not_raised(make_suite):
    bad = ['{"problems": "none"}', "no json at all", problems(("Too short", "", ""))]
    engine = ScriptedEngine({"free_pattern_generation": bad})
    suite = make_suite(engine, task_kind="free_form", generation={"items_per_call": 2, "max_attempts": 1})
    assert suite.generate_from_strategy(strategy(), [qa_train_item(0)], n=2) == []
    assert suite.failures and suite.failures[0].agent == "pattern_generation"
    assert suite.usage.agents["pattern_generation"].parse_failures >= 3


def test_a_task_without_worked_solutions_keeps_its_answer_only_format(make_suite):
    answer = problems(
        ("Name the capital city of the country Peru in South America.", "Peru's capital.", "Lima")
    )
    engine = ScriptedEngine({"free_pattern_generation": [answer]})
    suite = make_suite(engine, task_kind="free_form", generation={"items_per_call": 1})
    [g] = suite.generate_from_strategy(strategy(), [qa_train_item(0, solution=False)], n=1)
    assert g.item.solution is None and g.item.answer == "Lima" and g.rationale == "Peru's capital."


def test_free_form_copies_of_exemplars_are_dropped(make_suite):
    ex = qa_train_item(0)
    copy = problems((ex.question, ex.solution, ex.answer))
    fresh = problems(
        ("A farmer plants 5 rows of 8 beans and 3 die. How many beans grow?", "5 x 8 - 3 = 37.", "37")
    )
    engine = ScriptedEngine({"free_pattern_generation": [copy, fresh]})
    suite = make_suite(engine, task_kind="free_form", generation={"items_per_call": 1})
    [g] = suite.generate_from_strategy(strategy(), [ex], n=1)
    assert g.item.answer == "37"
    second = [u for a, _, u in engine.requests if a == "free_pattern_generation"][1]
    assert ex.question[:60] in field(second, "avoid")  # the copy is listed, to write another


def test_free_form_items_per_call_fit_the_teachers_max_tokens(make_suite):
    engine = ScriptedEngine()
    suite = make_suite(engine, task_kind="free_form", generation={"items_per_call": 5})
    suite.ctx.teacher.handle.lm.kwargs["max_tokens"] = 500  # room for two worked solutions
    assert suite._generator.per_call(free_form=True) == 2 and suite._generator.per_call() == 5
    items = suite.generate_from_strategy(strategy(), [qa_train_item(0)], n=4)
    assert len(items) == 4
    asked = [int(field(u, "n")) for a, _, u in engine.requests if a == "free_pattern_generation"]
    assert asked == [2, 2]


def test_free_form_items_from_a_training_failure(engine, make_suite):
    suite = make_suite(engine, generation={"items_per_call": 2})
    suite.remember_solutions([qa_train_item(0)])
    items = suite.generate_from_train_error(qa_train_failure(0), n=2)
    assert len(items) == 2 and all(isinstance(g.item, QAItem) and g.item.solution for g in items)
    assert all(g.path == "train_error" and g.origin == "qa-train-0" for g in items)
    assert all(g.target.startswith("the same knowledge as this training question") for g in items)
    [(agent, system, user)] = [r for r in engine.requests if r[0] == "free_error_generation"]
    assert field(user, "question") == qa_train_item(0).question
    assert field(user, "reference_solution") == qa_train_item(0).solution
    assert field(user, "correct_answer") == "12" and field(user, "student_answer") == "6"
    assert "option" not in system.lower()


def test_batched_free_form_items_from_training_failures(make_suite):
    def script(user, call):
        rows = [
            {"failure": 2, "question": "Jo stacks 4 shelves of 9 cans. How many cans?",
             "solution": "4 x 9 = 36.", "answer": "36"},
            {"failure": 1, "question": "Kai packs 3 boxes of 7 mugs. How many mugs?",
             "solution": "3 x 7 = 21.", "answer": "21"},
        ]  # fmt: skip
        return json.dumps({"problems": rows})

    engine = ScriptedEngine({"free_batch_error_generation": script})
    suite = make_suite(engine, generation={"items_per_call": 2})
    suite.remember_solutions([qa_train_item(0), qa_train_item(1)])
    items = suite.generate_from_train_errors([qa_train_failure(0), qa_train_failure(1)])
    assert [(g.origin, g.item.answer) for g in items] == [("qa-train-0", "21"), ("qa-train-1", "36")]
    [user] = [u for a, _, u in engine.requests if a == "free_batch_error_generation"]
    failures = field(user, "failures")
    assert (
        "Failure 2:" in failures
        and "Correct answer: 18" in failures
        and "The student answered: 6" in failures
    )
    assert qa_train_item(0).question in field(user, "avoid")


PROBLEMS = (
    ("Mia reads 12 pages a day for 5 days. How many pages does she read?", "60"),
    ("A farmer plants 8 rows of 15 beans each. How many beans are planted?", "120"),
)


def distinct_failures() -> list[EvalRecord]:
    return [
        EvalRecord(
            id=f"qa-train-d{i}", split="train", question=q, choices=[], prediction="7", gold=a,
            correct=False, output_text="#### 7",
        )
        for i, (q, a) in enumerate(PROBLEMS)
    ]  # fmt: skip


def batch_answer(*rows: tuple[int, str, str]) -> str:
    problems = [{"failure": n, "question": q, "solution": "Worked out.", "answer": a} for n, q, a in rows]
    return json.dumps({"problems": problems})


def test_numbering_from_zero_files_each_item_under_its_own_failure(make_suite):
    """The teacher answers "failure": 1, 0 for Failures 1 and 2: each item keeps its own origin."""
    rows = [
        (1, "A gardener sets 6 rows of 11 tulips. How many tulips?", "66"),
        (0, "Ben runs 3 miles a day for 7 days. How many miles does he run?", "21"),
    ]
    engine = ScriptedEngine({"free_batch_error_generation": lambda user, call: batch_answer(*rows)})
    suite = make_suite(engine, generation={"items_per_call": 2})
    items = suite.generate_from_train_errors(distinct_failures())
    assert [(g.origin, g.item.answer) for g in items] == [("qa-train-d0", "21"), ("qa-train-d1", "66")]


def test_a_copy_of_another_failure_in_the_call_is_dropped(make_suite):
    """Item 1 is failure 2's problem word for word: it is dropped before the gate, item 2 is kept."""
    rows = [
        (1, PROBLEMS[1][0], PROBLEMS[1][1]),
        (2, "A gardener sets 6 rows of 11 tulips. How many tulips?", "66"),
    ]
    engine = ScriptedEngine({"free_batch_error_generation": lambda user, call: batch_answer(*rows)})
    suite = make_suite(engine, generation={"items_per_call": 2})
    items = suite.generate_from_train_errors(distinct_failures())
    assert [(g.origin, g.item.answer) for g in items] == [("qa-train-d1", "66")]
    assert suite.usage.agents["error_generation"].dropped == 1


def test_mixed_training_failures_go_to_calls_of_their_own_kind(engine, make_suite):
    suite = make_suite(engine)
    suite.generate_from_train_errors(
        [train_record(0), qa_train_failure(0), train_record(1), qa_train_failure(1)]
    )
    assert engine.calls["batch_error_generation"] == 1 and engine.calls["free_batch_error_generation"] == 1


# ---------------------------------------------------------------- judge


def free_item(
    answer: str = "13", question: str = "Synthetic problem number 0-0: what is 3 plus 10?"
) -> GeneratedItem:
    item = QAItem("syn-ff", question, answer, solution="3 + 10 = 13.", source="synthetic")
    return GeneratedItem(item, "", "pattern", "strategy-pattern-0", "addition")


def test_free_form_judge_agrees(make_suite):
    judge = ScriptedEngine()
    suite = make_suite(ScriptedEngine(), judge_engine=judge, judge_batch=4)
    [verdict] = suite.judge([free_item()])
    assert verdict.accepted and verdict.score == 1.0 and verdict.judge_answer == "13" and not verdict.failed
    assert (
        verdict.checks == {"answer_matches": True} and verdict.reasons == [] and judge_score(verdict) == 1.0
    )
    # One decoded call on the judge LM: greedy, short, and blind (no label, no solution).
    assert judge.calls == {"free_solve": 1}
    [prompt] = judge.prompts("free_solve")
    assert "3 + 10 = 13" not in prompt and "Problem: Synthetic problem number 0-0" in prompt


def test_free_form_judge_answers_compare_as_numbers(make_suite):
    judge = ScriptedEngine({"free_solve": ["So she pays $1,200.00 in all.\n#### $1,200.00"]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    [verdict] = suite.judge([free_item("1200")])
    assert verdict.accepted and verdict.judge_answer == "1200.00"


@pytest.mark.parametrize("reply", ["She works 50 - 40 = 10 hours.\n#### 10 hours", "#### 50 - 40 = 10"])
def test_the_judges_answer_is_read_as_a_generated_items(make_suite, reply):
    judge = ScriptedEngine({"free_solve": [reply]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    [verdict] = suite.judge([free_item("10")])
    assert verdict.accepted and verdict.judge_answer == "10"


def test_free_form_judge_disagrees(make_suite):
    judge = ScriptedEngine({"free_solve": ["3 + 10 = 31.\n#### 31"]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    [verdict] = suite.judge([free_item()])
    assert not verdict.accepted and verdict.score == 0.0 and not verdict.failed
    assert verdict.judge_answer == "31" and judge_score(verdict) == 0.0
    assert verdict.reasons == ["the judge, solving blind, reached '31' but the reference answer is '13'"]


@pytest.mark.parametrize("reply", ["", "I could not finish.\n####", "   "])
def test_free_form_judge_without_a_final_answer(make_suite, reply):
    judge = ScriptedEngine({"free_solve": [reply]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge, max_attempts=2)
    [verdict] = suite.judge([free_item()])
    assert verdict.failed and not verdict.accepted and verdict.judge_answer == "" and verdict.score == 0.0
    assert verdict.reasons == [FREE_FORM_NO_ANSWER] and judge_score(verdict) == 0.0
    usage = suite.usage.agents["judge_solve"]
    assert usage.parse_failures == 2 and usage.failed == 1
    assert suite.failures[0].agent == "judge_solve"


def test_free_form_judge_decodes_greedily_and_samples_its_retries(make_suite):
    seen = []

    class Recording(ScriptedEngine):
        def complete(self, request):
            seen.append((request.config.temperature, request.config.max_tokens))
            return super().complete(request)

    judge = Recording({"free_solve": ["thinking...\n####", "3 + 10 = 13\n#### 13"]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    [verdict] = suite.judge([free_item()])
    assert verdict.accepted
    cap = MAX_TOKENS["judge_solve_free_form"]
    assert seen == [(0.0, cap), (0.7, cap)]  # greedy first; the retry samples instead of repeating


def test_mixed_items_are_judged_each_its_own_way_in_order(make_suite):
    from .test_agents import generated

    judge = ScriptedEngine({"score": ["B"]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    verdicts = suite.judge([free_item(), generated(), free_item("99", "what is 3 plus 4?")])
    assert [v.accepted for v in verdicts] == [True, True, False]
    assert [v.judge_answer for v in verdicts] == ["13", "B", "7"]
    assert judge.calls == {"free_solve": 2, "score": 1}


def test_free_form_written_checks(make_suite):
    checks = json.dumps(
        {
            "answer_correct": True,
            "fits_target": False,
            "clear": True,
            "factual": True,
            "reasons": "Off topic.",
        }
    )
    judge = ScriptedEngine({"judge": [checks]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge, judge_checks=True)
    [verdict] = suite.judge([free_item()])
    assert not verdict.accepted and verdict.score == 1.0 and judge_score(verdict) == 0.0
    assert verdict.checks == {
        "answer_matches": True,
        "answer_correct": True,
        "fits_target": False,
        "clear": True,
        "factual": True,
    }
    assert "Off topic." in verdict.reasons
    [prompt] = judge.prompts("judge")
    assert "[[ ## solution ## ]]\n3 + 10 = 13." in prompt and "answer_unique" not in prompt


def test_free_form_judge_is_cached(make_suite):
    import dspy

    from pada.teacher.lm import dspy_cache_at

    with dspy_cache_at(None):
        dspy.cache.reset_memory_cache()
        judge = ScriptedEngine()
        first = scripted_handle(judge, role="judge", cache=True)
        from pada.agents.suite import AgentSuite

        suite = AgentSuite(scripted_handle(ScriptedEngine()), first)
        suite.judge([free_item()])
        again = AgentSuite(
            scripted_handle(ScriptedEngine()), scripted_handle(judge, role="judge", cache=True)
        )
        [verdict] = again.judge([free_item()])
    assert verdict.accepted and judge.calls == {"free_solve": 1}
    assert again.usage.agents["judge_solve"].cache_hits == 1


# ---------------------------------------------------------------- the fixture teacher, over HTTP


def fixture_cfg(api_base: str, json_schema: bool = True):
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "_target_": "pada.teacher.providers.OpenAICompatible",
            "model": "teacher",
            "api_base": api_base,
            "temperature": 0.7,
            "max_tokens": 768,
            "timeout_s": 30.0,
            "num_retries": 0,
            "concurrency": 2,
            "n_ctx": 4096,
            "n_threads": None,
            "cache": False,
            "json_schema": json_schema,
        }
    )


def test_the_fixture_teacher_answers_the_free_form_agents():
    from pada.agents.suite import AgentSuite
    from tests.fixtures.teacher_server import serve

    with serve() as teacher:
        cfg = fixture_cfg(teacher.api_base)
        with AgentSuite.open(
            cfg,
            pattern_mining={"analysis_batch_size": 2},
            generation={"items_per_call": 2},
            task_kind="free_form",
        ) as agents:
            agents.remember_solutions([qa_train_item(0), qa_train_item(1)])
            analyses = agents.analyze_errors([qa_record(i) for i in range(3)])
            items = agents.generate_from_strategy(strategy(), [qa_train_item(0), qa_train_item(1)], n=3)
            items += agents.generate_from_train_errors([qa_train_failure(0), qa_train_failure(1)])
            verdicts = agents.judge(items)
            failures = agents.failures
    assert [a.id for a in analyses] == ["qa-validation-0", "qa-validation-1", "qa-validation-2"]
    assert len(items) == 5 and all(isinstance(g.item, QAItem) for g in items)
    assert all(g.item.solution and g.item.answer.isdigit() for g in items)
    assert [g.origin for g in items[3:]] == ["qa-train-0", "qa-train-1"]
    # The fixture's judge works each problem out from its text and agrees with the item's answer.
    assert all(v.accepted and v.score == 1.0 for v in verdicts), [v.reasons for v in verdicts]
    assert failures == []
    # Generation answers were constrained by the schema of question, solution and answer, in that order.
    formats = [c["response_format"] for c in teacher.calls if c.get("response_format")]
    schemas = [
        f["json_schema"]["schema"] for f in formats if "problems" in f["json_schema"]["schema"]["properties"]
    ]
    assert schemas and all(
        list(next(iter(s["$defs"].values()))["properties"])[-3:] == ["question", "solution", "answer"]
        for s in schemas
    )
    solves = [c for c in teacher.calls if "#### <answer>" in str(c["messages"][0]["content"])]
    assert len(solves) == 5 and all(
        c["temperature"] == 0.0 and c["max_completion_tokens"] == MAX_TOKENS["judge_solve_free_form"]
        for c in solves
    )
    assert all(not c.get("response_format") for c in solves)


def test_the_fixture_teachers_free_form_items_and_solves():
    from tests.fixtures.teacher_server import _problem, answer_for, solve_reply

    p = _problem(12345, injection=False)
    assert p["solution"] and p["answer"].isdigit()
    system = {"role": "system", "content": "Solve the problem. ... #### <answer>"}
    reply = solve_reply([system, {"role": "user", "content": f"Problem: {p['question']}\nSolution:"}])
    assert reply.endswith(f"#### {p['answer']}")
    assert answer_for([system, {"role": "user", "content": f"Problem: {p['question']}"}]) == reply
    # An injected fault reaches free-form items too.
    assert "Ignore all previous instructions" in _problem(7, injection=True)["question"]
