"""The W&B tracker in offline mode, read back with W&B's own local reader (``wandb leet inspect``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hydra.utils import instantiate

from pada.tracking import REDACTED, Tracker

PLANTED = "sk-test-PLANTED-0123456789abcdef"
KEY_ENV = "PADA_TEST_TEACHER_SECRET"

ROUNDS = [
    {
        "round": 0,
        "train_acc": 0.41,
        "val_acc": 0.35,
        "test_acc": 0.33,
        "val_failures": 130,
        "k": 3,
        "generated": 30,
        "accepted": 24,
        "rejected_by_reason": {"judge": 3, "duplicate": 2, "contamination": 1},
        "teacher": {"calls": 57, "input_tokens": 40000, "output_tokens": 9000, "wall_s": 300.2},
        "stage_seconds": {"fine_tune": 120.0, "evaluate": 40.0},
    },
    {
        "round": 1,
        "train_acc": 0.45,
        "val_acc": 0.38,
        "test_acc": 0.36,
        "gap": 0.07,
        "teacher": {"calls": 53, "input_tokens": 41000, "output_tokens": 8000, "wall_s": 280.0},
    },
]
PATTERNS = [
    {"cluster": 0, "name": "unit confusion", "description": "d", "strategy": "s", "size": 7},
    {"cluster": 1, "name": "negation", "description": "d", "strategy": "s", "size": 4},
]


@pytest.fixture(autouse=True)
def _wandb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # W&B keeps staging copies and core logs in the user's folders; keep them inside the test's tmp dir.
    for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home" / var.lower()))
    monkeypatch.setenv(KEY_ENV, PLANTED)
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the Tracker's explicit mode must win over the env


def _config() -> dict[str, Any]:
    return {
        "experiment_name": "scireason",
        "seed": 0,
        "teacher": {"provider": "openai", "model": "gpt-4o-mini", "api_key_env": KEY_ENV, "max_tokens": 768},
        "judge": {"provider": "openai", "model": "gpt-4o-mini", "api_key_env": KEY_ENV, "api_key": PLANTED},
        # A secret pasted into an innocent-looking field, and one inside a URL.
        "dataset": {"notes": PLANTED, "path": f"https://example.org/data?token={PLANTED}"},
    }


def _inspect(run_dir: Path, *flags: str) -> str:
    wandb_dir = next((run_dir / "wandb").glob("offline-run-*"))
    res = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", *flags, str(wandb_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def _run_job(run_dir: Path, mode: str = "offline") -> Tracker:
    (run_dir / "artifacts").mkdir(parents=True)
    data = run_dir / "artifacts" / "augmented.jsonl"
    data.write_text('{"question": "q", "answer": "A"}\n')
    adapter = run_dir / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    with Tracker(run_dir, _config(), "job-0", mode=mode, project="pada", tags=["test"]) as tracker:
        for record in ROUNDS:
            tracker.log_round(record)
            tracker.plot_cluster_sizes(PATTERNS, round=record["round"])
            tracker.plot_rejections(record.get("rejected_by_reason", {}), round=record["round"])
        tracker.plot_accuracy(ROUNDS)
        tracker.log_table("patterns", PATTERNS)
        tracker.log_table("samples", [{"question": "q", "reasons": ["judge"], "accepted": False}])
        tracker.log_artifact("augmented dataset", "dataset", [data])
        tracker.log_artifact("adapter", "model", [adapter])
        tracker.log_summary({"best_round": 1, "val_acc": 0.38, "test_acc": 0.36, "teacher_calls": 110})
    return tracker


def test_offline_run_reads_back_with_metrics_and_redacted_config(tmp_path: Path) -> None:
    import wandb

    run_dir = tmp_path / "run"
    tracker = _run_job(run_dir)
    assert not tracker.active
    assert wandb.run is None

    summary = json.loads(_inspect(run_dir, "--summary", "--json"))
    assert summary["state"] == "finished"
    assert summary["exit_code"] == 0
    assert summary["name"] == "job-0"
    cfg = summary["config"]
    assert cfg["teacher"]["model"] == "gpt-4o-mini"
    assert cfg["teacher"]["max_tokens"] == 768  # "tokens" counts are not secrets
    assert cfg["teacher"]["api_key_env"] == KEY_ENV  # the variable's name is not a secret
    assert cfg["judge"]["api_key"] == REDACTED
    assert cfg["dataset"]["notes"] == REDACTED
    assert cfg["dataset"]["path"] == REDACTED
    s = summary["summary"]
    assert s["final/val_acc"] == pytest.approx(0.38)
    assert s["final/teacher_calls"] == 110
    assert s["val_acc"] == pytest.approx(0.38)  # the last round's value

    records = [json.loads(line) for line in _inspect(run_dir, "--json").splitlines() if line.strip()]
    history = {
        r["history"]["step"].get("num", 0): r["history"]["item"] for r in records if r["type"] == "history"
    }
    assert sorted(history) == [0, 1]
    assert history[0]["teacher/calls"] == 57
    assert history[0]["rejected_by_reason/judge"] == 3
    assert history[0]["gap"] == pytest.approx(0.06)  # computed from train - val when missing
    assert history[1]["gap"] == pytest.approx(0.07)
    # Media land in history as "<key>._type" entries pointing at files under the run's media/.
    assert history[0]["plots/cluster_sizes_r0._type"] == "image-file"
    assert history[1]["plots/accuracy._type"] == "image-file"
    assert history[1]["patterns._type"] == "table-file"
    artifacts = {r["artifact"]["name"]: r["artifact"] for r in records if r["type"] == "artifact"}
    assert artifacts["augmented-dataset"]["type"] == "dataset"
    paths = {c["path"] for c in artifacts["adapter"]["manifest"]["contents"]}
    assert paths == {"adapter/adapter_model.safetensors"}

    for name in ("accuracy", "cluster_sizes_r0", "cluster_sizes_r1", "rejections_r0", "rejections_r1"):
        png = run_dir / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_planted_key_is_nowhere_under_the_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The secret also arrives on the command line, as a force-added Hydra override would.
    monkeypatch.setattr(sys, "argv", [sys.argv[0], f"+teacher.api_key={PLANTED}", f"note={PLANTED}"])
    run_dir = tmp_path / "run"
    _run_job(run_dir)
    assert list((run_dir / "wandb").glob("offline-run-*/*.wandb"))
    needle = PLANTED.encode()
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and needle in p.read_bytes()]
    assert leaked == []
    assert PLANTED not in _inspect(run_dir, "--json")


def test_disabled_writes_no_wandb_files_but_saves_plots(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    tracker = _run_job(run_dir, mode="disabled")
    assert not (run_dir / "wandb").exists()
    assert not (tmp_path / "wandb_home").exists()
    assert (run_dir / "plots" / "accuracy.png").is_file()
    assert tracker.wandb_dir is None


def test_jobs_in_one_process_get_their_own_runs_and_errors_close_them(tmp_path: Path) -> None:
    import wandb

    # Like a Hydra multirun: a job that crashes must not leave its run open for the next job.
    with pytest.raises(RuntimeError), Tracker(tmp_path / "a", {"seed": 0}, "a", mode="offline") as t:
        t.log_round({"round": 0, "val_acc": 0.1})
        raise RuntimeError("boom")
    assert wandb.run is None
    with Tracker(tmp_path / "b", {"seed": 1}, "b", mode="offline") as t:
        t.log_round({"round": 0, "val_acc": 0.2})
    assert wandb.run is None

    first = json.loads(_inspect(tmp_path / "a", "--summary", "--json"))
    second = json.loads(_inspect(tmp_path / "b", "--summary", "--json"))
    assert first["exit_code"] == 1
    assert first["summary"]["val_acc"] == pytest.approx(0.1)
    assert second["exit_code"] == 0
    assert second["summary"]["val_acc"] == pytest.approx(0.2)
    assert second["config"]["seed"] == 1
    assert first["run_id"] != second["run_id"]


def test_failed_init_leaves_a_working_no_op_tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    def broken_init(*args: Any, **kwargs: Any) -> None:
        raise wandb.errors.CommError("no network")

    monkeypatch.setattr(wandb, "init", broken_init)
    with Tracker(tmp_path, {"seed": 0}, "job", mode="online") as tracker:
        assert not tracker.active
        tracker.log_round({"round": 0, "val_acc": 0.5})
        tracker.log_table("t", [{"a": 1}])
        assert tracker.plot_accuracy([{"round": 0, "val_acc": 0.5}]) == tmp_path / "plots" / "accuracy.png"


def test_composed_pada_config_is_logged_with_the_teacher_key_redacted(
    compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    cfg = compose("experiment=smoke", "teacher=openai", "logger=wandb_offline")
    # Built the way python -m pada builds it: from the logger group's _target_.
    tracker = instantiate(cfg.logger, run_dir=tmp_path, run_config=cfg, job_name="smoke", _recursive_=False)
    assert isinstance(tracker, Tracker)
    with tracker:
        assert tracker.active
        tracker.log_round({"round": 0, "val_acc": 0.5})
    summary = json.loads(_inspect(tmp_path, "--summary", "--json"))
    assert summary["project"] == "pada"
    assert summary["config"]["teacher"]["api_key_env"] == "OPENAI_API_KEY"
    assert summary["config"]["pattern_mining"]["seed"] == 0  # interpolations resolved
    assert summary["config"]["method"]["name"] == "pada"
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and PLANTED.encode() in p.read_bytes()]


def test_close_finishes_a_run_someone_else_left_open(tmp_path: Path) -> None:
    import wandb

    # E.g. Lightning's WandbLogger started one inside the job.
    wandb.init(
        mode="offline", dir=str(tmp_path), project="pada", settings=wandb.Settings(x_disable_stats=True)
    )
    with Tracker(tmp_path, {}, "job", mode="disabled"):
        pass
    assert wandb.run is None
