"""``python -m pada.report`` over synthetic multirun and sweep folders (metrics.json fixtures)."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pada.report import build_report, find_runs, main
from tests.conftest import REPO


def _job(
    root: Path,
    name: str,
    method: str,
    seed: int,
    test_acc: float,
    *,
    experiment: str = "scireason",
    status: str = "finished",
    extra: tuple[str, ...] = (),
    hydra: bool = True,
) -> Path:
    """A job folder as Hydra and the orchestrator leave it."""
    run = root / name
    overrides = [f"experiment={experiment}", f"method={method}", f"seed={seed}", *extra]
    if hydra:
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    run.mkdir(parents=True, exist_ok=True)
    final = {
        "best_round": 1,
        "train_acc": test_acc + 0.1,
        "val_acc": test_acc + 0.02,
        "test_acc": test_acc,
        "gap": 0.08,
        "synthetic_items": 4 + seed,
        "teacher_calls": 100 + seed,
        "teacher_tokens": 9000,
        "wall_s": 1000.0 + 10 * seed,
    }
    augmented = {"generated": 3, "accepted": 2, "rejected_by_reason": {"judge": 1}, "k": 2}
    metrics = {
        "experiment": experiment,
        "method": method,
        "seed": seed,
        "status": status,
        "config_overrides": overrides,
        "rounds": [{"round": 0, "val_acc": final["val_acc"]} | ({} if method == "sft" else augmented)],
        "final": final,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    # Stage folders may hold files of the same name; they are not runs.
    (run / "round_0" / "evaluate").mkdir(parents=True)
    (run / "round_0" / "evaluate" / "metrics.json").write_text(
        json.dumps({"status": "finished", "method": "x"})
    )
    return run


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    root = tmp_path / "multirun" / "scireason" / "2026-01-01_00-00-00"
    accs = {"sft": [0.30, 0.32, 0.31], "llm2llm": [0.33, 0.34, 0.35], "pada": [0.36, 0.38, 0.37]}
    n = 0
    for method, values in accs.items():
        for seed, acc in enumerate(values):
            _job(root, f"{n}_method={method},seed={seed}", method, seed, acc)
            n += 1
    _job(root, f"{n}_method=pada,seed=3", "pada", 3, 0.99, status="crashed")
    (root / f"{n + 1}_method=pada,seed=4" / ".hydra").mkdir(parents=True)  # killed before metrics.json
    (root / f"{n + 1}_method=pada,seed=4" / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump(["method=pada", "seed=4"])
    )
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_groups_by_method_and_averages_over_seeds(multirun: Path) -> None:
    report = build_report(multirun)
    assert report.keys == ["method"]  # experiment and seed do not define groups here
    assert [r["method"] for r in report.rows] == ["sft", "llm2llm", "pada"]
    pada = report.rows[2]
    assert pada["n"] == 3  # the crashed and the killed run are not averaged
    assert pada["test_acc_mean"] == pytest.approx(0.37)
    assert pada["test_acc_std"] == pytest.approx(statistics.stdev([0.36, 0.38, 0.37]))
    assert pada["val_acc_mean"] == pytest.approx(0.39)
    assert pada["gap_mean"] == pytest.approx(0.08)
    assert pada["synthetic_items_mean"] == pytest.approx(5)
    assert pada["teacher_calls_mean"] == pytest.approx(101)
    assert pada["wall_s_mean"] == pytest.approx(1010)
    statuses = sorted(r.status for r in report.incomplete)
    assert statuses == ["crashed", "no metrics.json"]


def test_cli_prints_and_writes_md_csv_png(multirun: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "pada.report", str(multirun)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    assert "| pada | 3 | 0.370 ± 0.010 |" in res.stdout
    md = (multirun / "report.md").read_text()
    assert "| sft | 3 | 0.310 ± 0.010 |" in md
    assert "Incomplete runs (2" in md and "crashed" in md
    # Where the synthetic items went, per group: only the methods that generated any.
    augmentation = md.split("## Synthetic items")[1].split("## Incomplete")[0]
    assert "| pada | 9 | 6 | judge 3 | 2, 2, 2 |" in augmentation
    assert "| sft |" not in augmentation
    rows = list(csv.DictReader((multirun / "report.csv").open()))
    assert [r["method"] for r in rows] == ["sft", "llm2llm", "pada"]
    assert float(rows[1]["test_acc_mean"]) == pytest.approx(0.34)
    assert float(rows[1]["test_acc_std"]) == pytest.approx(0.01)
    assert (multirun / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_other_varying_overrides_split_groups(tmp_path: Path) -> None:
    for seed in (0, 1):
        for exp in ("scireason", "custom"):
            _job(tmp_path, f"{exp}-{seed}-a", "pada", seed, 0.4, experiment=exp, extra=("trainer.lr=1e-4",))
        _job(tmp_path, f"lr-{seed}", "pada", seed, 0.5, experiment="scireason", extra=("trainer.lr=5e-4",))
    report = build_report(tmp_path)
    assert report.keys == ["method", "experiment", "trainer.lr"]
    assert [(r["experiment"], r["trainer.lr"], r["n"]) for r in report.rows] == [
        ("custom", "1e-4", 2),
        ("scireason", "1e-4", 2),
        ("scireason", "5e-4", 2),
    ]
    assert report.rows[0]["test_acc_std"] == pytest.approx(0.0)


def test_sweep_folder_without_hydra_and_single_runs(tmp_path: Path) -> None:
    # A pada.sweep folder: overrides come from metrics.json, failed runs only from sweep.json.
    _job(tmp_path, "000_method-sft_seed-0", "sft", 0, 0.3, hydra=False, extra=("hydra.run.dir=/x",))
    _job(tmp_path, "001_method-pada_seed-0", "pada", 0, 0.4, hydra=False, extra=("hydra.run.dir=/y",))
    (tmp_path / "002_method-pada_seed-1").mkdir()
    runs = [
        {"name": "000_method-sft_seed-0", "params": {"method": "sft", "seed": 0}, "status": "finished"},
        {"name": "001_method-pada_seed-0", "params": {"method": "pada", "seed": 0}, "status": "finished"},
        {
            "name": "002_method-pada_seed-1",
            "params": {"method": "pada", "seed": 1},
            "status": "failed",
            "error": "exit code 3",
        },
    ]
    (tmp_path / "sweep.json").write_text(json.dumps({"runs": runs}))
    report = build_report(tmp_path)
    assert report.keys == ["method"]  # hydra.run.dir is not a setting
    assert [(r["method"], r["n"], r["test_acc_std"]) for r in report.rows] == [
        ("sft", 1, None),
        ("pada", 1, None),
    ]
    assert [(r.settings["method"], r.status) for r in report.incomplete] == [("pada", "failed (exit code 3)")]
    assert len(find_runs(tmp_path)) == 3


def test_empty_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "no run folders" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()


def test_a_resumed_runs_first_folder_is_not_counted(tmp_path: Path) -> None:
    # A run killed in its first Hydra folder and resumed in a second: one run, not two.
    _job(tmp_path, "0", "pada", 0, 0.4)
    first = tmp_path / "0_killed"
    (first / ".hydra").mkdir(parents=True)
    (first / "RESUMED_IN.txt").write_text(f"This run was resumed in {tmp_path / '0'}\n")
    runs = find_runs(tmp_path)
    assert [r.path.name for r in runs] == ["0"]
    assert build_report(tmp_path).incomplete == []
