"""Parsers for what a small teacher writes, the compact adapter, and record round-trips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import dspy
import pytest

from pada.agents.adapters import CompactJSONAdapter
from pada.agents.parsing import (
    ParseError,
    clean_final_answer,
    clean_option,
    format_item,
    format_problem,
    parse_letter,
    to_mc_item,
    to_qa_item,
)
from pada.agents.records import (
    AgentFailure,
    Analysis,
    Cluster,
    GeneratedItem,
    MiningResult,
    Pattern,
    Strategy,
    Verdict,
)
from pada.agents.signatures import (
    FreeFormGenerationSig,
    FreeFormProblem,
    JudgeSig,
    MCQuestion,
    PatternGuidedGenerationSig,
)
from pada.io import read_jsonl, write_jsonl
from pada.tasks.schema import MCItem, QAItem

CHOICES = ["photosynthesis", "respiration", "digestion"]


@pytest.mark.parametrize(
    "answer, index",
    [
        ("B", 1),
        ("b", 1),
        ("(C)", 2),
        ("<C>", 2),
        ("[b]", 1),
        ("C)", 2),
        ("Answer: A", 0),
        ("Option B", 1),
        ("B) respiration", 1),
        ("respiration", 1),
        ("A. Photosynthesis.", 0),
        ("2", 1),
        (0, 0),
    ],
)
def test_parse_letter(answer, index):
    assert parse_letter(answer, CHOICES) == index


@pytest.mark.parametrize("answer", ["", "D", "Z", "fermentation", None, True, 7, "Because plants"])
def test_parse_letter_rejects(answer):
    with pytest.raises(ParseError):
        parse_letter(answer, CHOICES)


def test_clean_option():
    raw = [
        "A) iron",
        "(b) neon",
        "C. gold",
        "D - tin",
        "<A> Ice",
        "[B]salt",
        "E: lead",
        "Apple pie",
        "U.S. Navy",
    ]
    clean = ["iron", "neon", "gold", "tin", "Ice", "salt", "lead", "Apple pie", "U.S. Navy"]
    assert [clean_option(o) for o in raw] == clean


def test_to_mc_item_from_lenient_model():
    raw = MCQuestion.model_validate(
        {
            "question": "Which is a noble gas?",
            "options": {"A": "neon", "B": "iron"},
            "answer": 1,
            "rationale": 5,  # not in the compact schema: ignored
        }
    )
    item, rationale = to_mc_item(raw, "syn-1", {"path": "pattern"})
    assert item.choices == ("neon", "iron") and item.answer_letter == "A" and rationale == ""
    # A plain dict may still carry one.
    assert to_mc_item({"question": "Which is a noble gas?", "options": ["neon", "iron"], "answer": "A",
                       "rationale": "full shell"}, "syn-2")[1] == "full shell"  # fmt: skip
    assert item.source == "synthetic" and item.meta == {"path": "pattern"}


def test_to_mc_item_reads_options_written_into_the_question():
    # As the 1.5B teacher wrote it in a real run: the texts in the question, bare letters as options.
    raw = {
        "question": "Which type of plant has its seeds enclosed in a fruit? "
        "A. Rose B. Banana C. Pineapple D. Cherry",
        "options": ["A", "B", "C", "D"],
        "answer": "D",
    }
    item, _ = to_mc_item(raw, "syn-1")
    assert item.question == "Which type of plant has its seeds enclosed in a fruit?"
    assert item.choices == ("Rose", "Banana", "Pineapple", "Cherry") and item.answer_letter == "D"
    # Letters with no texts anywhere are refused (a real run wrote this one).
    bare = {"question": "What is the correct answer for the following question?", "options": ["A", "B"]}
    with pytest.raises(ParseError, match="lists 0 options, not 2"):
        to_mc_item({**bare, "answer": "B"}, "syn-2")


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"question": "", "options": ["a", "b"], "answer": "A"}, "question"),
        ({"question": "Which? A. Bar B. Line", "options": ["A", "B", "C"], "answer": "A"}, "bare letters"),
        ({"question": "Which one?", "options": ["a"], "answer": "A"}, "at least 2"),
        ({"question": "Which one?", "options": ["a", "  "], "answer": "A"}, "at least 2"),
        ({"question": "Which one?", "options": ["same", "Same"], "answer": "A"}, "duplicate"),
        ({"question": "Which one?", "options": ["a", "b"], "answer": "C"}, "none of"),
        ({"question": "Which one?", "options": 5, "answer": "A"}, "list"),
        ("not an object", "object"),
    ],
)
def test_to_mc_item_rejects(raw, message):
    with pytest.raises(ParseError, match=message):
        to_mc_item(raw, "x")


def test_format_item():
    item = MCItem("i", "Why?", ("a", "b"), 1)
    assert format_item(item) == "Question: Why?\nA. a\nB. b\nAnswer: B"
    assert "Answer" not in format_item(item, with_answer=False)


def test_to_qa_item_from_a_free_form_problem():
    raw = FreeFormProblem.model_validate(
        {"question": "Ana has 3 boxes of 5 pens. How many pens?", "solution": "3 x 5 = 15.\n#### 15",
         "answer": 15}
    )  # fmt: skip
    item, rationale = to_qa_item(raw, "syn-1", {"path": "pattern"})
    assert isinstance(item, QAItem) and item.kind == "free_form" and item.source == "synthetic"
    assert (item.question, item.solution, item.answer, rationale) == (
        "Ana has 3 boxes of 5 pens. How many pens?", "3 x 5 = 15.", "15", ""
    )  # fmt: skip
    assert item.meta == {"path": "pattern"}
    # A task without worked solutions: the solution is optional and kept as the rationale.
    item, rationale = to_qa_item({"question": "Capital of Peru?", "answer": "Lima"}, "syn-2", worked=False)
    assert item.solution is None and item.answer == "Lima" and rationale == ""
    item, rationale = to_qa_item(
        {"question": "Capital of Peru?", "solution": "It is Lima.", "answer": "Lima"}, "syn-3", worked=False
    )
    assert item.solution is None and rationale == "It is Lima."


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"question": "", "solution": "1 + 1 = 2.", "answer": "2"}, "question"),
        ({"question": "What is 1 + 1?", "solution": "1 + 1 = 2.", "answer": ""}, "final answer"),
        ({"question": "What is 1 + 1?", "solution": "1 + 1 = 2.", "answer": "####"}, "final answer"),
        ({"question": "What is 1 + 1?", "solution": "1 + 1 = 2."}, "final answer"),
        ({"question": "What is 1 + 1?", "solution": "", "answer": "2"}, "solution"),
        ({"question": "What is 1 + 1?", "solution": "#### 2", "answer": "2"}, "solution"),
        (["What is 1 + 1?", "2"], "object"),
    ],
)
def test_to_qa_item_rejects(raw, message):
    with pytest.raises(ParseError, match=message):
        to_qa_item(raw, "x")


@pytest.mark.parametrize(
    "raw, answer",
    [
        ("18", "18"),
        ("#### 18", "18"),
        ("The answer is 18.", "18"),
        ("18 apples", "18"),
        ("$1,200", "1200"),
        ("1,000 dollars", "1000"),
        ("-3/4", "-3/4"),
        ("50%", "50%"),
        ("Lima", "Lima"),
        ("Step one.\n5 + 3 = 8\n#### 8", "8"),
        ("50 - 5 = 45", "45"),  # an answer written as its computation: the result
        ("The change you will get is $100 - $60 = $40", "40"),
        ("300 + 100 x 5 = 450 widgets", "450"),
        ("x = y", "x = y"),  # no number after the "=": kept as written
        (None, ""),
        ("", ""),
    ],
)
def test_clean_final_answer(raw, answer):
    assert clean_final_answer(raw) == answer


def test_format_problem():
    item = QAItem("q", "How many pens?", "15", solution="3 x 5 = 15.")
    assert format_problem(item) == "Question: How many pens?\nSolution: 3 x 5 = 15.\nAnswer: 15"
    assert format_problem(item, with_answer=False) == "Question: How many pens?"
    assert (
        format_problem(QAItem("q", "Capital of Peru?", "Lima")) == "Question: Capital of Peru?\nAnswer: Lima"
    )


def test_compact_adapter_shows_free_form_problems_in_order():
    inputs = {"task": "t", "strategy": "s", "examples": "e", "focus": "f", "avoid": "", "n": 2}
    system = CompactJSONAdapter().format(FreeFormGenerationSig, [], inputs)[0]["content"]
    example = system[system.index("Outputs will be one JSON object") :]
    assert example.index('"question"') < example.index('"solution"') < example.index('"answer"')
    assert '"options"' not in example and "multiple-choice" not in system


def test_free_form_generated_items_round_trip(tmp_path):
    item = QAItem("syn-2", "How many?", "4", solution="2 + 2 = 4.", source="synthetic", meta={"path": "p"})
    path = write_jsonl(
        tmp_path / "items.jsonl", [GeneratedItem(item, "", "train_error", "train-1", "t", 7).to_dict()]
    )
    [back] = [GeneratedItem.from_dict(d) for d in read_jsonl(path)]
    assert back.item == item and isinstance(back.item, QAItem) and back.item.solution == "2 + 2 = 4."
    assert back.item.meta == {"path": "p"} and back.rollout == 7


def test_compact_adapter_shows_an_ordered_example_and_parses_json():
    adapter = CompactJSONAdapter()
    inputs = {"task": "t", "strategy": "s", "examples": "e", "avoid": "", "n": 2}
    messages = adapter.format(PatternGuidedGenerationSig, [], inputs)
    system = messages[0]["content"]
    example = system[system.index("Outputs will be one JSON object") :]
    assert example.index('"question"') < example.index('"options"') < example.index('"answer"')
    assert '"$defs"' not in system  # no JSON schema
    judge_system = adapter.format(JudgeSig, [], {k: "x" for k in JudgeSig.input_fields})[0]["content"]
    assert '"answer_correct": true' not in judge_system  # no all-true example to copy
    fenced = (
        '```json\n{"answer_correct": "yes", "answer_unique": true, "fits_target": true, "clear": 1,'
        ' "factual": "false", "reasons": "ok"}\n```'
    )
    parsed = adapter.parse(JudgeSig, fenced)
    assert parsed["answer_correct"] is True and parsed["factual"] is False and parsed["clear"] is True
    with pytest.raises(dspy.utils.exceptions.AdapterParseError):
        adapter.parse(JudgeSig, '{"answer_correct": true}')


def test_records_round_trip(tmp_path):
    item = MCItem("syn-1", "Q?", ("a", "b"), 1, source="synthetic", meta={"path": "pattern"})
    records = {
        Analysis: [Analysis("v1", "rc", "sc", "mk")],
        Pattern: [Pattern("pattern-0", "n", "d", 0, ["v1"])],
        Strategy: [Strategy("strategy-pattern-0", "pattern-0", "p", "w", "v", "a", 3)],
        GeneratedItem: [GeneratedItem(item, "r", "pattern", "strategy-pattern-0", "t", 42)],
        Verdict: [Verdict("syn-1", False, 0.5, ["x"], "A", {"answer_matches": False}, False)],
        AgentFailure: [AgentFailure("judge", "check/syn-1", "ParseError: x", 3)],
        Cluster: [Cluster(0, ["v1", "v2"])],
    }
    for cls, rows in records.items():
        path = write_jsonl(tmp_path / f"{cls.__name__}.jsonl", [r.to_dict() for r in rows])
        back = [cls.from_dict(d) for d in read_jsonl(path)]
        assert [r.to_dict() for r in back] == [r.to_dict() for r in rows]
        json.dumps([r.to_dict() for r in rows])
    back = GeneratedItem.from_dict(read_jsonl(tmp_path / "GeneratedItem.jsonl")[0])
    assert back.item == item and back.item.meta == {"path": "pattern"}
    mining = MiningResult([Cluster(0, ["v1"])], 1, "elbow", {1: 2.5, 2: 1.0}, "why", "p.png")
    assert MiningResult.from_dict(json.loads(json.dumps(mining.to_dict()))) == mining


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_server_child_dies_with_pada():
    # A stand-in for the server, started the way LlamaServer starts it; its parent is then killed hard.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "from pada.teacher.server import _die_with_parent\n"
         "p = subprocess.Popen(['sleep', '60'], preexec_fn=_die_with_parent)\n"
         "print(p.pid, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        # A killed child stays a zombie of init until reaped; /proc tells a zombie from a live one.
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().split()[2] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the server child outlived its parent")
