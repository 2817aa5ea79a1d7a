from __future__ import annotations

import json
from pathlib import Path

import pytest

from pada.tasks import MCItem, QAItem, TaskDataError, load_jsonl


def _write(tmp_path: Path, lines: list[str | dict], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_MC = {
    "id": "q1",
    "question": "Capital of France?",
    "choices": ["Rome", "Paris", "Oslo"],
    "answer": "Paris",
}


def test_good_multiple_choice_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            GOOD_MC,
            "",
            {"question": "2 + 2 = ?", "choices": ["3", "4"], "answer": "B", "context": "arithmetic"},
            "   ",
            {
                "id": 7,
                "question": "Largest planet?",
                "choices": ["Mars", "Jupiter"],
                "answer": 1,
                "source": "x",
            },
            {"id": "q4", "question": "Pick C", "choices": ["a", "b", "c"], "answer": "C", "topic": "letters"},
        ],
    )
    items = load_jsonl(path)
    assert all(isinstance(it, MCItem) for it in items)
    assert [it.id for it in items] == ["q1", "data-3", "7", "q4"]
    assert [it.answer for it in items] == [1, 1, 1, 2]
    assert items[0].source == "data"  # default: the file stem
    assert items[1].context == "arithmetic"
    assert items[2].source == "x"
    assert items[3].meta == {"topic": "letters"}  # extra fields are kept, not dropped


def test_good_free_form_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            {"id": "m1", "question": "7 * 6?", "answer": "42"},
            {"question": "Capital of Peru?", "answer": " Lima "},
        ],
        name="qa.jsonl",
    )
    items = load_jsonl(path, kind="free_form")
    assert all(isinstance(it, QAItem) for it in items)
    assert items[0].answer == "42" and items[1].answer == "Lima" and items[1].id == "qa-2"
    assert not items[1].fail("lima.")


def test_a_worked_solution_is_read_when_present(tmp_path: Path) -> None:
    rows = [
        {"question": "3 bags of 4 apples?", "solution": " 3 * 4 = 12. ", "answer": 12},
        {"question": "7 * 6?", "solution": None, "answer": "42"},
        {"question": "9 - 2?", "solution": "  ", "answer": "7"},
    ]
    items = load_jsonl(_write(tmp_path, rows), kind="free_form")
    assert [it.solution for it in items] == ["3 * 4 = 12.", None, None]


def test_numeric_free_form_answer_is_text(tmp_path: Path) -> None:
    items = load_jsonl(_write(tmp_path, [{"question": "7 * 6?", "answer": 42}]), kind="free_form")
    assert items[0].answer == "42"


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD_MC).encode() + b"\r\n\r\n")
    assert load_jsonl(path)[0].id == "q1"


BAD_MC = [
    # (lines, expected message fragments)
    (
        [GOOD_MC, '{"id": "q2", "question": "x?", "choices": ["a", "b"] "answer": "a"}'],
        ["line 2", "invalid JSON", "column"],
    ),
    ([GOOD_MC, "[1, 2]"], ["line 2", "expected a JSON object", "array"]),
    ([{"id": "a", "choices": ["x", "y"], "answer": "x"}], ["line 1", 'missing required field "question"']),
    ([{"id": "a", "question": "q?", "answer": "x"}], ["line 1", 'missing required field "choices"']),
    ([{"id": "a", "question": "q?", "choices": ["x", "y"]}], ["line 1", 'missing required field "answer"']),
    ([{"id": "a", "question": 5, "choices": ["x", "y"], "answer": "x"}], ['field "question"', "a number"]),
    ([{"id": "a", "question": "q?", "choices": "x, y", "answer": "x"}], ['field "choices"', "a string"]),
    ([{"id": "a", "question": "q?", "choices": ["x", 3], "answer": "x"}], ['field "choices"', "choice 1"]),
    ([{"id": "a", "question": "q?", "choices": ["x", " "], "answer": "x"}], ['field "choices"', "empty"]),
    ([{"id": "a", "question": "q?", "choices": ["x", "x"], "answer": "x"}], ['field "choices"', "repeats"]),
    ([{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": True}], ['field "answer"', "a boolean"]),
    ([{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": 2}], ['field "answer"', "out of range"]),
    ([{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "C"}], ['field "answer"', "not among"]),
    ([{"id": "a", "question": "q?", "choices": ["B", "A"], "answer": "A"}], ['field "answer"', "ambiguous"]),
    ([{"id": [1], "question": "q?", "choices": ["x", "y"], "answer": "x"}], ['field "id"', "an array"]),
    (
        [{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "x", "context": 3}],
        ['field "context"'],
    ),
    ([{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "x", "meta": []}], ['field "meta"']),
    (
        [{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "x", "contxt": "p"}],
        ['"contxt"', "context"],
    ),
    (
        [{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": "x", "kind": "free_form"}],
        ['field "kind"'],
    ),
]


@pytest.mark.parametrize(("lines", "fragments"), BAD_MC)
def test_bad_multiple_choice_lines(tmp_path: Path, lines: list, fragments: list[str]) -> None:
    path = _write(tmp_path, lines)
    with pytest.raises(TaskDataError) as err:
        load_jsonl(path)
    message = str(err.value)
    assert "data.jsonl" in message
    assert "line " in message
    for fragment in fragments:
        assert fragment in message, message


def test_answer_not_among_choices_message(tmp_path: Path) -> None:
    item = {"id": "x", "question": "Capital of Italy?", "choices": ["Rome", "Oslo"], "answer": "Paris"}
    path = _write(tmp_path, [GOOD_MC, {**GOOD_MC, "id": "q2"}, "", "", "", "", item])
    with pytest.raises(TaskDataError) as err:
        load_jsonl(path)
    message, hint = str(err.value).split("; ")
    assert message.endswith(
        'data.jsonl line 7: field "answer": "Paris" is not among the choices ["Rome", "Oslo"]'
    )
    assert hint == "dataset.loader.invalid_items=skip leaves such lines out and lists them"


def test_answer_case_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"question": "q?", "choices": ["Rome", "Paris"], "answer": "paris"}])
    with pytest.raises(TaskDataError, match="differs only in letter case"):
        load_jsonl(path)


def test_fewer_than_two_choices(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"id": "a", "question": "q?", "choices": ["x"], "answer": "x"}])
    with pytest.raises(TaskDataError, match=r'data\.jsonl line 1: field "choices": needs at least 2'):
        load_jsonl(path)


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD_MC, {**GOOD_MC, "id": "q2"}, {**GOOD_MC, "question": "Other?"}])
    with pytest.raises(TaskDataError) as err:
        load_jsonl(path)
    message = str(err.value)
    assert (
        "data.jsonl line 3" in message
        and "line 1" in message
        and '"q1"' in message
        and 'field "id"' in message
    )


def test_default_id_colliding_with_explicit_id(tmp_path: Path) -> None:
    path = _write(tmp_path, [{**GOOD_MC, "id": "data-2"}, {k: v for k, v in GOOD_MC.items() if k != "id"}])
    with pytest.raises(TaskDataError, match="duplicate id"):
        load_jsonl(path)


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    bad = (
        json.dumps({**GOOD_MC, "id": "q2", "question": "Caf\u00e9?"})
        .replace("\\u00e9", "\xe9")
        .encode("latin-1")
    )
    path.write_bytes(json.dumps(GOOD_MC).encode() + b"\n" + bad + b"\n")
    with pytest.raises(TaskDataError, match=r"data\.jsonl line 2: not valid UTF-8"):
        load_jsonl(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(content)
    with pytest.raises(TaskDataError, match=r"data\.jsonl: no items"):
        load_jsonl(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaskDataError, match="no such file"):
        load_jsonl(tmp_path / "nope.jsonl")


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(TaskDataError, match="unknown task kind"):
        load_jsonl(_write(tmp_path, [GOOD_MC]), kind="mc")


BAD_QA = [
    ([{"id": "a", "question": "q?"}], ['missing required field "answer"']),
    ([{"id": "a", "question": "q?", "answer": ["x"]}], ['field "answer"', "an array"]),
    ([{"id": "a", "question": "q?", "answer": "  "}], ['field "answer"', "empty"]),
    ([{"id": "a", "question": "", "answer": "x"}], ['field "question"', "empty"]),
    ([{"id": "a", "question": "q?", "answer": "x", "solution": ["step"]}], ['field "solution"', "an array"]),
    (
        [{"id": "a", "question": "q?", "answer": "x", "choices": ["x", "y"]}],
        ['field "choices"', "multiple_choice"],
    ),
]


@pytest.mark.parametrize(("lines", "fragments"), BAD_QA)
def test_bad_free_form_lines(tmp_path: Path, lines: list, fragments: list[str]) -> None:
    with pytest.raises(TaskDataError) as err:
        load_jsonl(_write(tmp_path, lines), kind="free_form")
    message = str(err.value)
    assert "data.jsonl line 1" in message
    for fragment in fragments:
        assert fragment in message, message


def test_task_data_error_is_value_error() -> None:
    assert issubclass(TaskDataError, ValueError)


def test_skip_leaves_out_and_lists_every_bad_line(tmp_path: Path) -> None:
    from pada.tasks.jsonl import read_jsonl_task

    repeated = {"question": "Which is a metal?", "choices": ["iron", "wood", "iron"], "answer": "iron"}
    path = _write(tmp_path, [GOOD_MC, repeated, "{not json", {**GOOD_MC, "id": "q2"}, {**GOOD_MC}])
    items, skipped = read_jsonl_task(path, invalid_items="skip")
    assert [i.id for i in items] == ["q1", "q2"]
    assert [(s.line, s.file) for s in skipped] == [(2, str(path)), (3, str(path)), (5, str(path))]
    assert "repeats choice 0" in skipped[0].reason and "invalid JSON" in skipped[1].reason
    assert "duplicate id" in skipped[2].reason
    # The default still stops at the first bad line, naming it.
    with pytest.raises(TaskDataError, match="line 2"):
        read_jsonl_task(path)
    with pytest.raises(TaskDataError, match="line 2"):
        load_jsonl(path)


def test_skip_with_no_valid_line_is_an_error(tmp_path: Path) -> None:
    from pada.tasks.jsonl import read_jsonl_task

    path = _write(tmp_path, ["{bad", "[1, 2]"])
    with pytest.raises(TaskDataError, match="no valid items: all 2"):
        read_jsonl_task(path, invalid_items="skip")
    with pytest.raises(TaskDataError, match="invalid_items"):
        read_jsonl_task(path, invalid_items="maybe")


def test_a_huge_question_is_refused_with_the_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, [{**GOOD_MC, "question": "why? " * 240_000}])
    with pytest.raises(TaskDataError, match=r"line 1: field \"question\": 1,199,999 characters.*100,000"):
        load_jsonl(path)
