"""Final answers in worked solutions: each rule, malformed and missing answers, numeric agreement."""

from __future__ import annotations

import pytest

from pada.tasks.answers import answers_match, as_number, extract_final_answer
from pada.tasks.schema import QAItem

WORKED = "She sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18 a day.\n#### 18"


@pytest.mark.parametrize(
    ("text", "rule", "expected"),
    [
        (WORKED, "auto", "18"),
        (WORKED, "hash", "18"),
        ("#### 3\nmore work\n#### 1,000.", "hash", "1,000"),  # the last marker, tidied
        ("So 5 + 7 = 12. The answer is 12 apples.", "auto", "12"),
        ("Final answer: Lima.", "answer_is", "Lima"),
        ("First 3, then 4, so 7 in all\nthat is it", "auto", "7"),  # several lines: the last number
        ("Paris.\nbecause", "first_line", "Paris"),
        ("Answer: **42**", "auto", "42"),
        ("there are -3.5 degrees", "last_number", "-3.5"),
    ],
)
def test_rules(text: str, rule: str, expected: str) -> None:
    assert extract_final_answer(text, rule) == expected


@pytest.mark.parametrize("rule", ["hash", "answer_is", "last_number"])
def test_a_missing_final_answer_is_empty_and_matches_nothing(rule: str) -> None:
    answer = extract_final_answer("I am not sure how to do this.", rule)
    assert answer == ""
    assert not answers_match(answer, "18") and not answers_match(answer, "")


def test_malformed_marker_and_unknown_rule() -> None:
    assert extract_final_answer("#### \n", "hash") == ""
    with pytest.raises(ValueError, match="unknown final-answer rule"):
        extract_final_answer("x", "magic")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("1,000", "1000", True), ("$18", "18", True), ("18.0", "18", True), ("50%", "50", True),
     ("3/4", "0.75", True), ("18", "19", False), ("The Eiffel Tower", "eiffel tower", True),
     ("Paris", "Lyon", False)],
)  # fmt: skip
def test_answers_match_as_numbers_or_text(a: str, b: str, same: bool) -> None:
    assert answers_match(a, b) is same


def test_as_number_refuses_words() -> None:
    assert as_number("twelve") is None and as_number("12 apples") is None and as_number("-.5") == -0.5


def test_free_form_items_compare_final_answers() -> None:
    item = QAItem("q", "How many?", "1000", solution="Ten hundreds.")
    assert not item.fail("1,000") and item.fail("999")
    assert item.to_dict()["solution"] == "Ten hundreds."
    assert "solution" not in QAItem("q", "How many?", "1").to_dict()
