"""python -m pada.archive keeps the records of finished runs, and the report reads them back."""

from __future__ import annotations

import json
from pathlib import Path

from pada.archive import archive_name, main
from pada.report import build_report


def _run(folder: Path, method: str, seed: int, status: str = "finished") -> None:
    folder.mkdir(parents=True)
    metrics = {"method": method, "seed": seed, "experiment": "x", "status": status,
               "final": {"best_round": 0, "test_acc": 0.5}, "rounds": [{"round": 0}]}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    outcomes = {"ids": {"test": ["a", "b"]}, "rounds": [{"round": 0, "test": "10"}]}
    (folder / "outcomes.json").write_text(json.dumps(outcomes))
    (folder / "round_0" / "fine_tune" / "adapter").mkdir(parents=True)
    (folder / "round_0" / "fine_tune" / "adapter" / "adapter_model.safetensors").write_bytes(b"0" * 1000)
    (folder / "round_0" / "generate").mkdir(parents=True)
    (folder / "round_0" / "generate" / "samples.jsonl").write_text("{}\n")


def test_archive_keeps_records_not_weights(tmp_path: Path, capsys) -> None:
    _run(tmp_path / "multi" / "0_method=sft", "sft", 0)
    _run(tmp_path / "multi" / "1_method=pada", "pada", 0)
    _run(tmp_path / "multi" / "2_method=pada,seed=1", "pada", 1, status="running")
    dest = tmp_path / "results"
    assert main([str(tmp_path / "multi"), str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["pada_s0", "sft_s0"]
    kept = {str(p.relative_to(dest / "pada_s0")) for p in (dest / "pada_s0").rglob("*") if p.is_file()}
    assert kept == {"metrics.json", "outcomes.json", "round_0/generate/samples.jsonl"}
    assert "skipped" in capsys.readouterr().out
    report = build_report(dest, n_boot=100)
    assert [r["method"] for r in report.rows] == ["sft", "pada"]
    # Archiving again replaces, never duplicates.
    assert main([str(tmp_path / "multi"), str(dest)]) == 0
    assert len(list(dest.iterdir())) == 2


def test_archive_name_is_file_safe() -> None:
    assert archive_name({"method": "pada", "generation.budget": "50"}, 2) == "pada_s2_generation.budget=50"
    assert archive_name({"method": "sft", "x": "a/b c"}, None) == "sft_s?_x=a-b-c".replace("?", "-")
