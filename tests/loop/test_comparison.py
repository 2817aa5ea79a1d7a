"""The comparison's parts through the command line: the split of validation, the two controls, the
per-pattern effects and forgetting, and the per-item outcomes the report pairs on.

Tiny random student, the loopback fixture teacher, the real scireason data and MiniLM embedder (the
same set-up as test_run_end_to_end.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.teacher_server import serve
from tests.loop.test_run_end_to_end import read_jsonl, run_pada

pytestmark = pytest.mark.assets

#: 40 validation items, 20 of which choose the round; the other 20 are mined.
SPLIT = ("dataset.val_size=40", "dataset.select_size=20")


def _manifest(run: Path) -> dict:
    return json.loads((run / "data" / "split_manifest.json").read_text())


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("outputs") / "pada2"
    with serve() as teacher:
        run_pada(teacher.api_base, run, *SPLIT, "method.rounds=2", "method.patience=2")
    return run


def test_patterns_are_mined_on_the_mine_part_only(two_rounds: Path) -> None:
    parts = _manifest(two_rounds)["validation_parts"]
    mine, select = set(parts["mine"]["ids"]), set(parts["select"]["ids"])
    assert len(mine) == len(select) == 20 and not mine & select
    assert mine | select == set(_manifest(two_rounds)["splits"]["validation"]["ids"])
    for t in (0, 1):
        analysed = {
            a["id"] for a in read_jsonl(two_rounds / f"round_{t}" / "analyze_errors" / "analyses.jsonl")
        }
        assert analysed and analysed <= mine


def test_the_round_is_chosen_on_the_select_part(two_rounds: Path) -> None:
    metrics = _metrics(two_rounds)
    select = set(_manifest(two_rounds)["validation_parts"]["select"]["ids"])
    for r in metrics["rounds"]:
        records = read_jsonl(two_rounds / f"round_{r['round']}" / "evaluate" / "validation_records.jsonl")
        chosen = [x["correct"] for x in records if x["id"] in select]
        assert r["val_select_acc"] == pytest.approx(sum(chosen) / len(chosen))
        assert r["val_failures"] == sum(not x["correct"] for x in records if x["id"] not in select)
    best = max(metrics["rounds"], key=lambda r: (r["val_select_acc"], -r["round"]))
    assert metrics["final"]["best_round"] == best["round"]
    assert metrics["final"]["val_select_acc"] == best["val_select_acc"]


def test_pattern_effects_and_forgetting_are_recorded(two_rounds: Path) -> None:
    metrics = _metrics(two_rounds)
    assert "pattern_effects" not in metrics["rounds"][0]
    r1 = metrics["rounds"][1]
    near = json.loads((two_rounds / "round_0" / "locate_patterns" / "near.json").read_text())
    assert near and len(r1["pattern_effects"]) == len(near)
    select = set(_manifest(two_rounds)["validation_parts"]["select"]["ids"])
    for effect in r1["pattern_effects"]:
        entry = near[effect["pattern_id"]]
        assert effect["own_failures"] == len(entry["own"]) and effect["own_acc_before"] == 0.0
        assert set(entry["select"]) <= select and len(entry["test"]) == 20  # near_k, capped by nothing
        assert 0.0 <= effect["own_acc_after"] <= 1.0
    before = {x["id"]: x["correct"] for x in read_jsonl(two_rounds / "round_0/evaluate/test_records.jsonl")}
    after = {x["id"]: x["correct"] for x in read_jsonl(two_rounds / "round_1/evaluate/test_records.jsonl")}
    assert r1["forgetting"] == {
        "test_items": len(before),
        "right_to_wrong": sum(before[i] and not after[i] for i in before),
        "wrong_to_right": sum(after[i] and not before[i] for i in before),
    }
    summary = (two_rounds / "summary.md").read_text()
    assert "Did each strategy fix its pattern?" in summary and "Forgetting (test items)" in summary


def test_outcomes_match_the_records(two_rounds: Path) -> None:
    outcomes = json.loads((two_rounds / "outcomes.json").read_text())
    assert [r["round"] for r in outcomes["rounds"]] == [0, 1, 2]
    for r in outcomes["rounds"]:
        for split in ("test", "validation"):
            records = read_jsonl(two_rounds / f"round_{r['round']}" / "evaluate" / f"{split}_records.jsonl")
            by_id = {x["id"]: x["correct"] for x in records}
            assert outcomes["ids"][split] == sorted(by_id)
            assert r[split] == "".join("1" if by_id[i] else "0" for i in outcomes["ids"][split])


def test_real_data_control_adds_reserve_items_without_the_teacher(tmp_path: Path) -> None:
    run = tmp_path / "ceiling"
    with serve() as teacher:
        run_pada(teacher.api_base, run, "method=real_data_ceiling")
    assert teacher.calls == []
    metrics = _metrics(run)
    assert metrics["final"]["synthetic_items"] == 4 and metrics["rounds"][0]["budget"] == 4
    added = read_jsonl(run / "round_0" / "generate" / "accepted.jsonl")
    in_splits = {i for s in _manifest(run)["splits"].values() for i in s["ids"]}
    assert len(added) == 4 and not {a["id"] for a in added} & in_splits
    assert all(a["source"] != "synthetic" for a in added)
    assert {s["path"] for s in read_jsonl(run / "round_0" / "generate" / "samples.jsonl")} == {"real"}
    assert len(metrics["rounds"]) == 2 and "forgetting" in metrics["rounds"][1]


def test_generic_control_writes_from_the_task_alone(tmp_path: Path) -> None:
    run = tmp_path / "generic"
    with serve() as teacher:
        run_pada(teacher.api_base, run, "method=generic_synthetic")
    assert not (run / "round_0" / "analyze_errors").exists()
    samples = read_jsonl(run / "round_0" / "generate" / "samples.jsonl")
    assert samples and {s["path"] for s in samples} == {"generic"}
    assert all(s["origin"] == "strategy-generic" for s in samples)
    assert _metrics(run)["final"]["synthetic_items"] == 4
    prompts = teacher.prompts()
    # No failure reached the teacher: no analysis call, no error-correcting call.
    assert not any("exercise the skill" in p for p in prompts)
    assert any("Write new" in p for p in prompts)
