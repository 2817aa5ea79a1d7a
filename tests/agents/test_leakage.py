"""No validation or test question text reaches a generation prompt, even when the teacher quotes it.

The scripted teacher is adversarial: its analyses, pattern summaries and strategies copy the validation
question they read. Every prompt sent during generation is captured and compared with the held-out
questions by normalized word n-grams.
"""

from __future__ import annotations

import json

import numpy as np

from pada.agents.leakage import HeldOutGuard
from pada.overlap import ngrams
from pada.tasks.schema import MCItem

from .conftest import ScriptedEngine, field, train_item

VAL_QUESTIONS = [
    "Which organelle converts the chemical energy of glucose into ATP inside animal muscle cells?",
    "What happens to the boiling point of water when it is carried up a high mountain in Nepal?",
    "Why does a metal spoon left in hot soup become warm faster than a wooden spoon does?",
]
TEST_QUESTIONS = ["How many chambers does the heart of a healthy adult crocodile have in total?"]


def leaky_script() -> dict:
    def analysis(user, call):
        q = field(user, "question")
        return json.dumps(
            {
                "root_cause": f"The student misread the question '{q}' and guessed.",
                "error_scenario": f"Questions like: {q}",
                "missing_knowledge": "how energy moves",
            }
        )

    def summary(user, call):
        quoted = field(user, "analyses").split("Questions like: ")[1].split(" Cause:")[0]
        return json.dumps(
            {"name": "Energy transfer", "description": f"Fails on {quoted} Also confuses heat and work."}
        )

    def strategy(user, call):
        quoted = VAL_QUESTIONS[1] + " " + TEST_QUESTIONS[0]
        return json.dumps(
            {
                "what_to_write": f"Questions about energy. For example: {quoted}",
                "what_to_vary": "the materials",
                "what_to_avoid": "trick wording",
                "count": 5,
            }
        )

    return {"error_analysis": analysis, "pattern_summary": summary, "strategy_draft": strategy}


def records():
    from .conftest import val_record

    return [val_record(i, q) for i, q in enumerate(VAL_QUESTIONS)]


def test_no_held_out_text_in_generation_prompts(make_suite):
    engine = ScriptedEngine(leaky_script())
    suite = make_suite(
        engine, embedder=lambda t: np.ones((len(t), 2)), pattern_mining={"min_failures_to_cluster": 9}
    )
    suite.hold_out(TEST_QUESTIONS)
    analyses = suite.analyze_errors(records())
    # The analyses do quote validation questions (they may: they are not generation prompts) ...
    assert any(VAL_QUESTIONS[0] in a.error_scenario for a in analyses)
    mining = suite.mine_patterns(analyses)
    patterns = suite.summarize_patterns(mining, analyses)
    strategies = suite.draft_strategies(patterns)
    # ... but patterns and strategies have been scrubbed.
    assert "Also confuses heat and work." in patterns[0].description
    assert "Questions about energy." in strategies[0].what_to_write
    # An exemplar that is (accidentally) a validation item is dropped too.
    leaked_exemplar = MCItem("dup", VAL_QUESTIONS[2], ("conducts heat", "is heavier"), 0)
    n_before = len(engine.requests)
    items = suite.generate_from_strategy(strategies[0], [train_item(0), leaked_exemplar], n=4)
    items += suite.generate_from_train_error(
        records()[0].__class__(
            **{**records()[0].to_dict(), "split": "train", "question": train_item(1).question}
        ),
        n=1,
    )
    assert len(items) == 5
    generation_prompts = [f"{s}\n{u}" for _, s, u in engine.requests[n_before:]]
    generation_agents = ("topic_plan", "pattern_generation", "error_generation")
    assert generation_prompts and all(a in generation_agents for a, _, _ in engine.requests[n_before:])

    for n in (5, 8):
        guard = HeldOutGuard(n=n)
        guard.add(VAL_QUESTIONS + TEST_QUESTIONS)
        for prompt in generation_prompts:
            assert not guard.shared(prompt), f"a held-out {n}-gram reached a generation prompt:\n{prompt}"
            assert guard.max_share(prompt) == 0.0
    # The training exemplar itself did reach the prompt (style examples are allowed).
    assert any("example number 0 of a lever" in p for p in generation_prompts)


def test_prompts_are_captured_when_asked(make_suite):
    suite = make_suite(ScriptedEngine(), keep_prompts=True)
    suite.analyze_errors(records()[:1])
    [(agent, messages)] = suite.prompts
    assert agent == "error_analysis" and VAL_QUESTIONS[0] in messages[-1]["content"]


def test_guard_scrub_and_share():
    guard = HeldOutGuard(n=5)
    guard.add([VAL_QUESTIONS[0], "Short one?"])
    text = f"Keep this sentence. {VAL_QUESTIONS[0]} Keep that one too!"
    assert guard.scrub(text) == "Keep this sentence. Keep that one too!"
    assert guard.max_share(VAL_QUESTIONS[0].upper()) == 1.0  # normalized: case and punctuation ignored
    assert guard.shared("is this a short one, then")
    assert not guard.shared("Which organelle makes proteins?")
    assert 0 < guard.max_share("the chemical energy of glucose into ATP") < 0.5
    assert ngrams("The cat sat.", 5) == {("cat", "sat")}
