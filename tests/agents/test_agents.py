"""Every agent, offline, with scripted answers: well-formed, malformed, truncated and wrongly typed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pada.agents.records import Analysis, Cluster, GeneratedItem, MiningResult, Pattern, Strategy
from pada.tasks.schema import MCItem
from pada.teacher.usage import Budget, TeacherBudgetExceeded

from .conftest import ScriptedEngine, field, train_item, train_record, val_record

GOOD_ANALYSIS = json.dumps({"root_cause": "rc", "error_scenario": "sc", "missing_knowledge": "mk"})


def fake_embed(texts):
    # Two obvious groups: texts mentioning "orbit" and the rest.
    return np.array([[1.0, 0.0] if "orbit" in t else [0.0, 1.0] for t in texts], dtype=np.float32)


# ---------------------------------------------------------------- error analysis


def test_error_analysis_one_per_failure(engine, make_suite):
    suite = make_suite(engine)
    records = [val_record(i) for i in range(3)]
    records.append(val_record(9).__class__(**{**val_record(9).to_dict(), "correct": True}))
    analyses = suite.analyze_errors(records)
    assert [a.id for a in analyses] == ["val-0", "val-1", "val-2"]  # the correct record is ignored
    assert analyses[0].root_cause == "The student confused related concepts."
    assert suite.usage.agents["error_analysis"].calls == 3
    assert suite.failures == []


@pytest.mark.parametrize(
    "bad",
    [
        "I think the student was confused.",  # prose, no JSON
        '{"root_cause": "rc", "error_scenario": "sc"',  # truncated: a field is missing
        '{"root_cause": "rc", "error_scenario": "", "missing_knowledge": "mk"}',  # empty field
        '{"root_cause": ["a"], "error_scenario": 3, "missing_knowledge": null}',  # wrong types
    ],
)
def test_error_analysis_retries_bad_answers(make_suite, bad):
    engine = ScriptedEngine({"error_analysis": [bad, GOOD_ANALYSIS]})
    suite = make_suite(engine)
    [analysis] = suite.analyze_errors([val_record(0)])
    assert analysis.missing_knowledge == "mk"
    usage = suite.usage.agents["error_analysis"]
    assert usage.parse_failures == 1 and usage.retries == 1 and usage.calls == 2


def test_error_analysis_gives_up_and_goes_on(make_suite):
    # The first failure never gets a usable answer; the second does. The run goes on.
    def script(user, call):
        return "garbage <truncated>" if "number 0 " in user else GOOD_ANALYSIS

    engine = ScriptedEngine({"error_analysis": script})
    suite = make_suite(engine, max_attempts=2)
    analyses = suite.analyze_errors([val_record(0), val_record(1)])
    assert [a.id for a in analyses] == ["val-1"]
    [failure] = suite.failures
    assert failure.agent == "error_analysis" and failure.attempts == 2 and "val-0" in failure.key
    assert suite.usage.agents["error_analysis"].failed == 1
    assert suite.usage.agents["error_analysis"].parse_failures == 2


def test_retries_use_new_rollouts(make_suite):
    engine = ScriptedEngine({"error_analysis": ["nope", "nope", GOOD_ANALYSIS]})
    suite = make_suite(engine)
    suite.analyze_errors([val_record(0)])
    assert len(set(engine.seeds)) == 3  # each try reached the provider with its own seed


def test_batched_analysis_and_fallback_for_missing(make_suite):
    # The batch answer covers failures 1 and 3 only; failure 2 is retried on its own.
    batch = json.dumps(
        {
            "analyses": [
                {"failure": 1, "root_cause": "a", "error_scenario": "b", "missing_knowledge": "c"},
                {"failure": "3", "root_cause": "d", "error_scenario": "e", "missing_knowledge": "f"},
            ]
        }
    )
    engine = ScriptedEngine({"batch_analysis": [batch]})
    suite = make_suite(engine, pattern_mining={"analysis_batch_size": 3})
    analyses = suite.analyze_errors([val_record(i) for i in range(3)])
    assert [a.id for a in analyses] == ["val-0", "val-1", "val-2"]
    assert [a.missing_knowledge for a in analyses] == ["c", "basic definitions", "f"]
    assert engine.calls == {"batch_analysis": 1, "error_analysis": 1}
    assert suite.usage.agents["error_analysis"].parse_failures == 1


def test_batched_analyses_numbered_from_zero_keep_their_failures(make_suite):
    """The teacher numbers its analyses 0 and 1 for Failures 1 and 2: each goes to its own failure."""
    rows = [{"failure": n, "root_cause": r, "error_scenario": "s", "missing_knowledge": k}
            for n, r, k in ((0, "a", "first"), (1, "b", "second"))]  # fmt: skip
    engine = ScriptedEngine({"batch_analysis": [json.dumps({"analyses": rows})]})
    suite = make_suite(engine, pattern_mining={"analysis_batch_size": 2})
    analyses = suite.analyze_errors([val_record(i) for i in range(2)])
    assert [(a.id, a.missing_knowledge) for a in analyses] == [("val-0", "first"), ("val-1", "second")]
    assert engine.calls == {"batch_analysis": 1}


def test_max_failures_subsamples(engine, make_suite):
    suite = make_suite(engine, pattern_mining={"max_failures": 4}, seed=3)
    analyses = suite.analyze_errors([val_record(i) for i in range(10)])
    assert len(analyses) == 4
    again = make_suite(ScriptedEngine(), pattern_mining={"max_failures": 4}, seed=3)
    assert [a.id for a in again.analyze_errors([val_record(i) for i in range(10)])] == [
        a.id for a in analyses
    ]


# ---------------------------------------------------------------- patterns and strategies


def analyses_for_two_groups() -> list[Analysis]:
    out = []
    for i in range(6):
        kind = "orbit" if i < 3 else "cells"
        out.append(Analysis(f"val-{i}", f"cause {kind}", f"scenario {kind}", f"knowledge of {kind}"))
    return out


def test_mine_summarize_and_draft(engine, make_suite, tmp_path):
    suite = make_suite(engine, embedder=fake_embed, pattern_mining={"k_min": 1, "k_max": 4, "seed": 0})
    analyses = analyses_for_two_groups()
    mining = suite.mine_patterns(analyses, out_dir=tmp_path)
    assert mining.k == 2 and mining.method == "elbow"
    assert sorted(sorted(c.member_ids) for c in mining.clusters) == [
        ["val-0", "val-1", "val-2"],
        ["val-3", "val-4", "val-5"],
    ]
    assert (tmp_path / "elbow.png").stat().st_size > 1000
    patterns = suite.summarize_patterns(mining, analyses)
    assert [p.id for p in patterns] == ["pattern-0", "pattern-1"]
    assert patterns[0].name == "Confusing definitions"
    strategies = suite.draft_strategies(patterns)
    assert [s.pattern_id for s in strategies] == ["pattern-0", "pattern-1"]
    assert strategies[0].count == 6  # "6 questions" -> 6
    assert "Confusing definitions" in strategies[0].text()


def test_unparseable_summary_and_strategy_fall_back(make_suite):
    engine = ScriptedEngine({"pattern_summary": ["{}"], "strategy_draft": ['{"count": "many"}']})
    suite = make_suite(engine, max_attempts=2)
    analyses = analyses_for_two_groups()
    mining = MiningResult(clusters=[Cluster(0, [a.id for a in analyses])], k=1, method="single")
    [pattern] = suite.summarize_patterns(mining, analyses)
    assert pattern.id == "pattern-0" and pattern.name  # built from the analyses
    [strategy] = suite.draft_strategies([pattern])
    assert strategy.pattern_id == "pattern-0" and strategy.what_to_write
    assert {f.agent for f in suite.failures} == {"pattern_summary", "strategy_draft"}
    assert suite.usage.agents["pattern_summary"].parse_failures == 2


def test_strategy_count_wrong_type_is_advisory(make_suite):
    answer = json.dumps({"what_to_write": "w", "what_to_vary": "v", "what_to_avoid": "a", "count": "a dozen"})
    suite = make_suite(ScriptedEngine({"strategy_draft": [answer]}))
    [strategy] = suite.draft_strategies([Pattern("pattern-0", "n", "d", 0)])
    assert strategy.count == 0 and strategy.what_to_write == "w"


# ---------------------------------------------------------------- generation


def strategy() -> Strategy:
    return Strategy("strategy-pattern-0", "pattern-0", "Confusing definitions: mixes terms", "w", "v", "a")


def test_generate_from_strategy_k_distinct(engine, make_suite):
    suite = make_suite(engine, generation={"items_per_call": 3})
    items = suite.generate_from_strategy(strategy(), [train_item(i) for i in range(3)], n=7)
    assert len(items) == 7
    assert len({normalize(g.item.question) for g in items}) == 7
    assert len({g.id for g in items}) == 7
    g = items[0]
    assert isinstance(g.item, MCItem) and g.item.source == "synthetic" and g.item.answer_letter == "B"
    assert g.path == "pattern" and g.origin == "strategy-pattern-0"
    assert g.item.meta["pattern_id"] == "pattern-0" and g.item.meta["rationale"] == ""  # compact schema
    # The judge will check the item against the strategy's skill and the call's topic.
    assert g.target == "w (topic: topic 0-0)" and g.item.meta["focus"] == "topic 0-0"
    assert engine.calls["pattern_generation"] == 3  # 3 + 3 + 1
    # Topics were planned once; each call had its own rollout (seed) and topic, and listed the questions
    # already written.
    assert engine.calls["topic_plan"] == 1
    requests = zip(engine.requests, engine.seeds, strict=True)
    calls = [(seed, user) for (agent, _, user), seed in requests if agent == "pattern_generation"]
    assert len({seed for seed, _ in calls}) == 3
    assert [field(user, "focus") for _, user in calls] == ["topic 0-0", "topic 0-1", "topic 0-2"]
    assert "Synthetic question number 0-0" in calls[1][1]


def test_k_samples_are_distinct_even_if_the_teacher_repeats_itself(make_suite):
    same = json.dumps(
        {"questions": [{"question": "What is the same question?", "options": ["a", "b"], "answer": "A"}]}
    )

    def script(user, call):
        # Repeats itself on the first calls, then (as a new rollout would) writes something new.
        q = "What is the same question?" if call < 3 else f"What is new question {call}?"
        return (
            json.dumps({"questions": [{"question": q, "options": ["a", "b"], "answer": "A"}]})
            if call
            else same
        )

    suite = make_suite(ScriptedEngine({"pattern_generation": script}), generation={"items_per_call": 1})
    items = suite.generate_from_strategy(strategy(), [], n=3)
    assert len({g.item.question for g in items}) == len(items) == 3


@pytest.mark.parametrize(
    "answer, valid",
    [
        # one good item, one with a single option, one whose answer names no option
        (
            {
                "questions": [
                    {"question": "Which gas do plants take in?", "options": ["O2", "CO2"], "answer": "B"},
                    {"question": "Which is a metal?", "options": ["iron"], "answer": "A"},
                    {"question": "Which is a noble gas?", "options": ["neon", "iron"], "answer": "E"},
                ]
            },
            1,
        ),
        # wrong types: options as one string, answer as the option text, numbers as strings
        (
            {
                "questions": [
                    {
                        "question": "Which is liquid at room temperature?",
                        "options": "A) mercury\nB) iron",
                        "answer": "mercury",
                    }
                ]
            },
            1,
        ),
        # labelled options and an answer with its text
        (
            {
                "questions": [
                    {
                        "question": "What do bees make?",
                        "options": ["A. honey", "B. silk", "C. wax paper"],
                        "answer": "A) honey",
                    }
                ]
            },
            1,
        ),
    ],
)
def test_generation_validates_each_item(make_suite, answer, valid):
    engine = ScriptedEngine({"pattern_generation": [json.dumps(answer)]})
    suite = make_suite(engine, generation={"items_per_call": 3})
    items = suite.generate_from_strategy(strategy(), [], n=valid)
    assert len(items) == valid
    for g in items:
        assert len(g.item.choices) >= 2 and 0 <= g.item.answer < len(g.item.choices)
        assert not g.item.choices[0].startswith(("A)", "A."))


def test_generation_truncated_answer_keeps_complete_items(make_suite):
    full = {
        "questions": [
            {
                "question": "What is the closest star to Earth?",
                "options": ["the Sun", "Sirius"],
                "answer": "A",
            },
            {"question": "What is the largest planet?", "options": ["Jupiter", "Mars"], "answer": "A"},
        ]
    }
    truncated = json.dumps(full)[:-40] + "<truncated>"  # the second item loses its answer
    engine = ScriptedEngine({"pattern_generation": [truncated]})
    suite = make_suite(engine, generation={"items_per_call": 2, "max_attempts": 0})
    items = suite.generate_from_strategy(strategy(), [], n=2)
    assert [g.item.question for g in items][0] == "What is the closest star to Earth?"
    assert suite.usage.agents["pattern_generation"].parse_failures >= 1


def test_generation_all_malformed_is_recorded_not_raised(make_suite):
    engine = ScriptedEngine(
        {"pattern_generation": ['{"questions": "none"}', "no json at all", '{"questions": []}']}
    )
    suite = make_suite(engine, generation={"items_per_call": 2, "max_attempts": 1}, max_attempts=3)
    assert suite.generate_from_strategy(strategy(), [], n=2) == []
    assert suite.failures and suite.failures[0].agent == "pattern_generation"
    assert suite.usage.agents["pattern_generation"].parse_failures >= 3


def test_generate_from_train_error(engine, make_suite):
    suite = make_suite(engine)
    items = suite.generate_from_train_error(train_record(0), n=2)
    assert len(items) == 2
    assert all(g.path == "train_error" and g.origin == "train-0" for g in items)
    user = engine.requests[0][2]
    assert "example number 0 of a lever" in user and "seesaw" in user  # the training item is shown


def test_generate_from_train_error_refuses_validation(engine, make_suite):
    with pytest.raises(ValueError, match="training failures only"):
        make_suite(engine).generate_from_train_error(val_record(0), n=1)


def test_generation_drops_copies_of_exemplars(make_suite):
    ex = train_item(0)
    copy = {"questions": [{"question": ex.question, "options": list(ex.choices), "answer": "A"}]}
    wedge = "Which tool is a wedge used to split wood?"
    fresh = {"questions": [{"question": wedge, "options": ["axe", "rope"], "answer": "A"}]}
    engine = ScriptedEngine({"pattern_generation": [json.dumps(copy), json.dumps(fresh)]})
    items = make_suite(engine, generation={"items_per_call": 1}).generate_from_strategy(strategy(), [ex], n=1)
    assert [g.item.question for g in items] == ["Which tool is a wedge used to split wood?"]


# ---------------------------------------------------------------- judge


def generated(question="Which planet is known as the red planet?", answer=1) -> GeneratedItem:
    item = MCItem("syn-1", question, ("Venus", "Mars", "Jupiter"), answer, source="synthetic")
    return GeneratedItem(item, "Mars looks red.", "pattern", "strategy-pattern-0", "planets")


def test_judge_scores_the_options_blind_in_one_call_each(make_suite):
    judge = ScriptedEngine({"score": ["B", "A"]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    good, bad = suite.judge([generated(), generated("Which planet has rings we can see?", answer=1)])
    assert good.accepted and good.judge_answer == "B" and good.checks == {"answer_matches": True}
    others = len(generated().item.choices) - 1
    assert good.score == pytest.approx(0.95 / (0.95 + 0.05 / 3 * others), abs=1e-3)
    assert sum(good.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert not bad.accepted and bad.judge_answer == "A" and not bad.failed
    assert 0 < bad.score < 0.05  # its probability for the label B
    assert any("chose A but the label is B" in r for r in bad.reasons)
    # One forward pass per item on the judge LM, not the teacher; the prompt carries no label.
    assert judge.calls == {"score": 2}
    prompt = judge.prompts("score")[0]
    assert "labelled" not in prompt and "Mars looks red" not in prompt and "Answer:" in prompt


def test_judge_reads_the_decoded_letter_when_no_logprobs_come_back(make_suite):
    judge = ScriptedEngine({"score": ["nologprobs:B"]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    [verdict] = suite.judge([generated()])
    assert verdict.accepted and verdict.score == 1.0 and verdict.probabilities == {}


def test_judge_without_logprobs_decodes_a_blind_answer(make_suite):
    judge = ScriptedEngine({"solve": [json.dumps({"answer": "B"})]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge)
    suite.ctx.judge.handle.logprobs = False
    [verdict] = suite.judge([generated()])
    assert verdict.accepted and verdict.score == 1.0 and set(judge.calls) == {"solve"}


def test_judge_written_checks(make_suite):
    judge = ScriptedEngine(
        {
            "score": ["B", "A"],
            "judge": [
                None,
                json.dumps(
                    {
                        "answer_correct": False,
                        "answer_unique": "yes",
                        "fits_target": True,
                        "clear": "true",
                        "factual": True,
                        "reasons": "The label is wrong.",
                    }
                ),
            ],
        }
    )
    suite = make_suite(ScriptedEngine(), judge_engine=judge, judge_checks=True)
    good, bad = suite.judge([generated(), generated("Which planet has rings we can see?", answer=1)])
    assert good.accepted and good.judge_answer == "B" and good.checks["answer_matches"]
    assert not bad.accepted and bad.judge_answer == "A"
    assert bad.checks == {
        "answer_matches": False,
        "answer_correct": False,
        "answer_unique": True,
        "fits_target": True,
        "clear": True,
        "factual": True,
    }
    assert (
        any("chose A but the label is B" in r for r in bad.reasons) and "The label is wrong." in bad.reasons
    )
    assert set(judge.calls) == {"score", "judge"}


@pytest.mark.parametrize(
    "bad",
    [
        '{"answer_correct": "maybe", "answer_unique": true, "fits_target": true, "clear": true,'
        ' "factual": true, "reasons": "x"}',
        '{"answer_correct": true, "answer_unique": true',
        "The item is fine.",
    ],
)
def test_judge_unparseable_checks_are_a_failed_rejection(make_suite, bad):
    judge = ScriptedEngine({"judge": [bad]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge, max_attempts=2, judge_checks=True)
    [verdict] = suite.judge([generated()])
    assert verdict.failed and not verdict.accepted and verdict.reasons
    assert suite.usage.agents["judge"].parse_failures == 2


def test_judge_blind_answer_unparseable(make_suite):
    judge = ScriptedEngine({"score": ["nologprobs:Z"]})
    suite = make_suite(ScriptedEngine(), judge_engine=judge, max_attempts=2)
    [verdict] = suite.judge([generated()])
    assert not verdict.accepted and verdict.judge_answer == "" and not verdict.checks["answer_matches"]
    assert verdict.failed and suite.usage.agents["judge_solve"].parse_failures == 2


# ---------------------------------------------------------------- budgets and usage


def test_budget_stops_the_run(make_suite):
    suite = make_suite(ScriptedEngine(), budget=Budget(max_calls=2))
    with pytest.raises(TeacherBudgetExceeded, match="max_calls"):
        suite.analyze_errors([val_record(i) for i in range(5)])
    assert suite.usage.roles["teacher"].calls == 2


def test_token_budget(make_suite):
    suite = make_suite(ScriptedEngine(tokens=(400, 100)), budget=Budget(max_tokens=1000))
    with pytest.raises(TeacherBudgetExceeded, match="tokens"):
        suite.analyze_errors([val_record(i) for i in range(5)])


def test_usage_tokens_and_cache_hits(make_suite):
    import dspy

    from pada.teacher.lm import dspy_cache_at

    with dspy_cache_at(None):
        dspy.cache.reset_memory_cache()
        engine = ScriptedEngine(tokens=(120, 30))
        suite = make_suite(engine, cache=True)
        suite.analyze_errors([val_record(0), val_record(1)])
        # A resumed run makes the same requests (same rollouts): served from the cache.
        again = make_suite(engine, cache=True)
        again.analyze_errors([val_record(0), val_record(1)])
    first, second = suite.usage.agents["error_analysis"], again.usage.agents["error_analysis"]
    assert (first.calls, first.input_tokens, first.output_tokens, first.cache_hits) == (2, 240, 60, 0)
    assert (second.calls, second.input_tokens, second.cache_hits) == (2, 0, 2)
    assert engine.calls["error_analysis"] == 2
    assert "error_analysis" in suite.usage.table()


def normalize(text: str) -> str:
    from pada.tasks.schema import normalize_text

    return normalize_text(text)


def test_asking_again_gives_new_items_even_with_the_cache_on(make_suite):
    import dspy

    from pada.teacher.lm import dspy_cache_at

    with dspy_cache_at(None):
        dspy.cache.reset_memory_cache()
        engine = ScriptedEngine()
        suite = make_suite(engine, cache=True, generation={"items_per_call": 2})
        first = suite.generate_from_strategy(strategy(), [], n=2)
        second = suite.generate_from_strategy(strategy(), [], n=2)
        assert len(first) == len(second) == 2
        assert not {g.id for g in first} & {g.id for g in second}
        # A resumed run (a new suite, same requests) is served from the cache.
        calls = engine.calls["pattern_generation"]
        again = make_suite(engine, cache=True, generation={"items_per_call": 2})
        replay = again.generate_from_strategy(strategy(), [], n=2)
        assert [g.id for g in replay] == [g.id for g in first]
        assert engine.calls["pattern_generation"] == calls
        assert again.usage.agents["pattern_generation"].cache_hits == 1


@pytest.mark.parametrize(
    "plan, expected",
    [
        (["heat", "light", "sound"], ["heat", "light", "sound"]),
        (
            ["radiant energy, thermal energy; renewable sources and tides"],
            ["radiant energy", "thermal energy", "renewable sources", "tides"],
        ),  # fmt: skip
        (["Heat.", "heat", "- light"], ["Heat", "light"]),
    ],
)
def test_topic_plan_is_parsed_leniently(make_suite, plan, expected):
    engine = ScriptedEngine({"topic_plan": [json.dumps({"topics": plan})]})
    suite = make_suite(engine, generation={"items_per_call": 1})
    suite.generate_from_strategy(strategy(), [], n=len(expected))
    focuses = [field(u, "focus") for a, _, u in engine.requests if a == "pattern_generation"]
    assert focuses == expected


def test_unusable_topic_plan_means_no_focus(make_suite):
    engine = ScriptedEngine({"topic_plan": ['{"topics": ["only one"]}']})
    suite = make_suite(engine, generation={"items_per_call": 2}, max_attempts=2)
    items = suite.generate_from_strategy(strategy(), [], n=2)
    assert len(items) == 2 and suite.failures[0].agent == "topic_plan"
    assert "(any topic the strategy covers)" in engine.prompts("pattern_generation")[0]


def test_a_copy_of_the_failed_question_is_dropped_and_avoided_next(make_suite):
    record = train_record(0)
    copy = {"questions": [{"question": record.question, "options": list(record.choices), "answer": "A"}]}
    new = {
        "questions": [
            {"question": "Which tool uses a pivot?", "options": ["scissors", "rope"], "answer": "A"}
        ]
    }
    engine = ScriptedEngine({"error_generation": [json.dumps(copy), json.dumps(new)]})
    items = make_suite(engine, generation={"items_per_call": 1}).generate_from_train_error(record, n=1)
    assert [g.item.question for g in items] == ["Which tool uses a pivot?"]
    asks = [user for agent, _, user in engine.requests if agent == "error_generation"]
    assert field(asks[0], "avoid") == "(none)"
    assert record.question in field(asks[1], "avoid")  # the copy it wrote is listed, to write another
