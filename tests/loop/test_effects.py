"""What a round did: nearest items, per-pattern effects, forgetting and the outcomes record."""

from __future__ import annotations

import numpy as np

from pada.loop.effects import (
    centroid,
    forgetting,
    nearest_items,
    outcomes_record,
    pattern_effects,
    summarize_effects,
)
from pada.tasks.schema import EvalRecord


def _rec(id_: str, split: str, correct: bool) -> EvalRecord:
    return EvalRecord(id_, split, "q?", ["a", "b"], "A" if correct else "B", "A", correct)


def test_nearest_items_best_first_ties_by_id() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    assert nearest_items(np.array([1.0, 0.0]), vectors, ["d", "b", "a", "c"], 3) == ["a", "d", "c"]
    assert nearest_items(np.array([1.0, 0.0]), vectors, ["d", "b", "a", "c"], 0) == []


def test_centroid_is_unit_norm() -> None:
    c = centroid(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert np.allclose(c, [2**-0.5, 2**-0.5])


def test_pattern_effects_score_own_and_nearest_items_before_and_after() -> None:
    near = {"pattern-0": {"name": "units", "own": ["v1", "v2"], "select": ["v3", "v4"], "test": ["t1", "t2"]}}
    before = {
        "validation": [_rec("v1", "validation", False), _rec("v2", "validation", False),
                       _rec("v3", "validation", True), _rec("v4", "validation", False)],
        "test": [_rec("t1", "test", False), _rec("t2", "test", False)],
    }  # fmt: skip
    after = {
        "validation": [_rec("v1", "validation", True), _rec("v2", "validation", False),
                       _rec("v3", "validation", True), _rec("v4", "validation", True)],
        "test": [_rec("t1", "test", True), _rec("t2", "test", False)],
    }  # fmt: skip
    [e] = pattern_effects(near, 0, before, after)
    assert e["own_failures"] == 2 and e["own_acc_before"] == 0.0 and e["own_acc_after"] == 0.5
    assert (e["near_select_acc_before"], e["near_select_acc_after"]) == (0.5, 1.0)
    assert (e["near_test_acc_before"], e["near_test_acc_after"]) == (0.0, 0.5)
    assert summarize_effects([e]) == {
        "patterns": 1, "own_acc_after": 0.5, "near_select_delta": 0.5, "near_test_delta": 0.5,
    }  # fmt: skip
    assert summarize_effects([])["own_acc_after"] is None


def test_forgetting_counts_both_directions_over_common_ids() -> None:
    before = [
        _rec("a", "test", True),
        _rec("b", "test", True),
        _rec("c", "test", False),
        _rec("x", "test", True),
    ]
    after = [_rec("a", "test", False), _rec("b", "test", True), _rec("c", "test", True)]
    assert forgetting(before, after) == {"test_items": 3, "right_to_wrong": 1, "wrong_to_right": 1}


def test_outcomes_record_orders_by_id() -> None:
    r0 = {"test": [_rec("b", "test", True), _rec("a", "test", False)], "train": [_rec("z", "train", True)]}
    r1 = {"test": [_rec("a", "test", True), _rec("b", "test", True)]}
    out = outcomes_record([(0, r0), (1, r1)])
    assert out == {
        "ids": {"test": ["a", "b"]},
        "rounds": [{"round": 0, "test": "01"}, {"round": 1, "test": "11"}],
    }
