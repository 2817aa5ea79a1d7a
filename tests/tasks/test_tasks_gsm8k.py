"""GSM8K from the asset cache: worked solutions, final answers, deterministic disjoint splits."""

from __future__ import annotations

import pytest

from pada.tasks import Gsm8kTask, build_task, split_items
from pada.tasks.gsm8k import solution_and_answer

pytestmark = pytest.mark.assets


def test_solution_and_answer_strip_calculator_notes() -> None:
    worked = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 1,018"
    assert solution_and_answer(worked) == (
        "Janet sells 16 - 3 - 4 = 9 duck eggs.\nShe makes 9 * 2 = $18.",
        "1018",
    )
    with pytest.raises(ValueError):
        solution_and_answer("no marker here")


def test_the_wheel_holds_1319_worked_problems() -> None:
    items, skipped = Gsm8kTask().load()
    assert not skipped and len(items) == 1319 and len({i.id for i in items}) == 1319
    first = next(i for i in items if i.id == "gsm8k/0")
    assert first.answer == "18" and "<<" not in (first.solution or "") and first.solution.endswith("market.")
    assert all(i.solution and i.answer for i in items)
    splits = split_items(items, 400, 200, 400, seed=0)
    assert {len(splits.train), len(splits.validation), len(splits.test)} == {400, 200}
    assert not {i.id for i in splits.train} & {i.id for i in splits.test}


def test_gsm8k_is_free_form_only() -> None:
    from pada.tasks import TaskDataError

    with pytest.raises(TaskDataError, match="free_form"):
        build_task({"name": "gsm8k", "loader": {"_target_": "pada.tasks.Gsm8kTask"}})
