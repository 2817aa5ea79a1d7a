"""The run folder's stage manifests: what a finished stage records for a later attempt."""

from __future__ import annotations

from pathlib import Path

from pada.io import read_json, write_json
from pada.loop.artifacts import MANIFEST, RunFolder


def test_a_rounds_teacher_usage_is_the_sum_of_its_finished_stages(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.mark_done(0, "fine_tune", {"lr": 1}, {}, 3.0, {"calls": 0, "input_tokens": 0})
    analysis = {"calls": 3, "input_tokens": 1400, "wall_s": 29.5}
    folder.mark_done(0, "analyze_errors", {"n": 3}, {}, 30.0, analysis)
    folder.mark_done(0, "generate", {"n": 2}, {}, 90.0, {"calls": 9, "input_tokens": 5000, "wall_s": 88.0})
    folder.mark_done(1, "analyze_errors", {"n": 3}, {}, 30.0, {"calls": 5, "input_tokens": 99})

    assert folder.stage_teacher(0) == {"calls": 12, "input_tokens": 6400, "wall_s": 117.5}
    assert folder.stage_teacher(1) == {"calls": 5, "input_tokens": 99}
    assert folder.stage_teacher(2) == {}
    manifest = read_json(tmp_path / "round_0" / "generate" / MANIFEST)
    assert manifest["teacher"]["calls"] == 9 and manifest["seconds"] == 90.0


def test_a_manifest_from_before_usage_was_recorded_counts_as_none(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    write_json(folder.stage_dir(0, "generate") / MANIFEST, {"stage": "generate", "round": 0, "seconds": 1.0})
    folder.mark_done(0, "analyze_errors", {}, {}, 1.0, {"calls": 2})

    assert folder.stage_teacher(0) == {"calls": 2}
    assert folder.stage_seconds(0) == {"analyze_errors": 1.0, "generate": 1.0}


def test_round_folders_and_attempt_ids(tmp_path) -> None:
    from pada.loop.artifacts import attempt_id, base_id

    folder = RunFolder(tmp_path)
    for t in (2, 0, 10):
        folder.stage_dir(t, "generate")
    (tmp_path / "round_notes").mkdir()  # not a round
    assert folder.rounds() == [0, 2, 10]
    assert folder.round_dir(2) == tmp_path / "round_2"
    assert attempt_id("strategy-pattern-0", 0) == "strategy-pattern-0"
    assert base_id(attempt_id("strategy-pattern-0", 3)) == "strategy-pattern-0"
