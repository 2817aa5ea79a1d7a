"""The whole-run leakage check on small handmade items."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pada.io import write_jsonl
from pada.loop.leakage import LEAKAGE_FILE, check_augmented, find_leaks
from pada.loop.summary import write_summary
from pada.tasks.schema import MCItem, QAItem


def mc(id_: str, question: str, context: str | None = None) -> MCItem:
    return MCItem(id_, question, ("yes", "no"), 0, context=context)


EVALUATION = {
    "validation": [
        mc(
            "v1",
            "Which gas do green plants take in through their leaves to make sugar during photosynthesis?",
        ),
        mc("v2", "What is the boiling point of water at sea level?"),
    ],
    "test": [
        mc("t1", "Why does a metal spoon feel colder than a wooden spoon at the same room temperature?"),
        mc("t2", "What is the main idea of the passage?", context="Bees pollinate flowers."),
    ],
}

CLEAN = [
    mc("aug-0", "Which organ pumps blood through the human body?"),
    mc("aug-1", "What force pulls objects toward the center of the Earth?"),
    mc("aug-2", "Which planet in our solar system is closest to the Sun?"),
]


def test_clean_data_has_no_leaks() -> None:
    report = find_leaks(CLEAN, EVALUATION)
    assert report.clean and report.leaks == []
    assert report.checked == 3 and report.eval_items == {"validation": 2, "test": 2}
    assert report.to_dict()["leaked_items"] == 0


def test_a_copied_question_is_found_with_its_id() -> None:
    copied = mc("aug-copy", EVALUATION["test"][0].question)
    report = find_leaks([*CLEAN, copied], EVALUATION)
    assert [(leak.train_id, leak.eval_id, leak.eval_split, leak.kind) for leak in report.leaks] == [
        ("aug-copy", "t1", "test", "duplicate")
    ]


def test_a_planted_13_gram_inside_a_longer_question_is_found() -> None:
    # 13 consecutive words of v1, between other words: not a duplicate, but a leak.
    planted = "gas do green plants take in through their leaves to make sugar during"
    assert len(planted.split()) == 13
    item = mc("aug-13", f"Scientists in a lab ask what {planted} winter months, and how is it stored?")
    report = find_leaks([*CLEAN, item], EVALUATION, n=13)
    assert len(report.leaks) == 1
    leak = report.leaks[0]
    assert (leak.train_id, leak.eval_id, leak.eval_split, leak.kind) == (
        "aug-13",
        "v1",
        "validation",
        "ngram",
    )
    assert leak.ngram == planted and leak.shared_ngrams == 1
    # The default n (the gate's 8) finds it too: the 13 shared words hold 6 shared 8-grams.
    assert find_leaks([item], EVALUATION).leaks[0].shared_ngrams == 6


def test_a_shorter_overlap_than_n_is_not_a_leak() -> None:
    # 7 words of t1 in a new question: below the 8-gram bar.
    item = mc("aug-7", "In a cold kitchen a metal spoon feel colder than expected; why?")
    assert find_leaks([item], EVALUATION, n=8).clean


@pytest.mark.parametrize(
    "question",
    [
        "WHAT IS THE BOILING POINT OF WATER AT SEA LEVEL?",
        "  what is the boiling   point of water at sea level  ",
        "What is the boiling-point of water, at sea level!",
        "What is boiling point of water at a sea level?",  # articles do not count
    ],
)
def test_a_normalized_duplicate_is_found(question: str) -> None:
    report = find_leaks([mc("aug-dup", question)], EVALUATION)
    assert [(leak.train_id, leak.eval_id, leak.kind) for leak in report.leaks] == [
        ("aug-dup", "v2", "duplicate")
    ]


def test_duplicates_are_judged_with_their_context_like_the_splits() -> None:
    # The same templated question over another passage is a different item (see splits.split_key).
    other = mc("aug-p", "What is the main idea of the passage?", context="Volcanoes erupt lava.")
    same = mc("aug-q", "What is the main idea of the passage?", context="Bees pollinate flowers.")
    report = find_leaks([other, same], EVALUATION)
    assert [(leak.train_id, leak.eval_id) for leak in report.leaks] == [("aug-q", "t2")]


def test_free_form_items_are_checked_too() -> None:
    item = QAItem("aug-qa", "What is the boiling point of water at sea level?", "100 C")
    assert find_leaks([item], EVALUATION).leaks[0].eval_id == "v2"


def test_n_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        find_leaks(CLEAN, EVALUATION, n=0)


def test_check_augmented_writes_leakage_json_and_warns(tmp_path: Path, caplog) -> None:
    dataset = tmp_path / "export" / "augmented.jsonl"
    leaked = mc("aug-copy", EVALUATION["validation"][1].question)
    write_jsonl(dataset, [i.to_dict() for i in [*CLEAN, leaked]])
    with caplog.at_level(logging.WARNING, logger="pada"):
        report = check_augmented(dataset, EVALUATION, 8, tmp_path)
    data = json.loads((tmp_path / LEAKAGE_FILE).read_text())
    assert data["clean"] is False and data["checked"] == 4 and data["leaked_items"] == 1
    assert data["duplicates"] == 1 and data["ngram_overlaps"] == 0
    assert data["leaked_ids"] == ["aug-copy"] and data["leaks"][0]["eval_id"] == "v2"
    assert "LEAKAGE" in caplog.text and "aug-copy" in caplog.text
    # Nothing is dropped from the data.
    assert len(dataset.read_text().splitlines()) == 4

    header = {"experiment": "x", "method": "pada", "seed": 0, "status": "finished"}
    write_summary(tmp_path / "summary.md", header, [], {}, [], report)
    summary = (tmp_path / "summary.md").read_text()
    assert "WARNING: leakage" in summary and "aug-copy duplicates validation item v2" in summary


def test_check_augmented_on_clean_or_missing_data(tmp_path: Path) -> None:
    report = check_augmented(tmp_path / "missing.jsonl", EVALUATION, 8, tmp_path)
    assert report.clean and report.checked == 0
    assert json.loads((tmp_path / LEAKAGE_FILE).read_text())["leaked_items"] == 0
    header = {"experiment": "x", "method": "sft", "seed": 0, "status": "finished"}
    write_summary(tmp_path / "summary.md", header, [], {}, [], report)
    summary = (tmp_path / "summary.md").read_text()
    assert "WARNING" not in summary and "## Leakage check" in summary
