"""The local sweep runner: the shipped sweep files, and real sweeps over a stand-in program."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pada.sweep import SweepError, load_sweep, run_sweep
from pada.sweep.__main__ import main
from tests.conftest import REPO

SWEEPS = REPO / "sweeps"

# Stands in for `python -m pada`: reads key=value overrides like Hydra, writes metrics.json in
# hydra.run.dir, and fails for method=broken. The score depends on the parameters so a search has a signal.
STAND_IN = textwrap.dedent(
    """
    import json, pathlib, sys
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    run_dir = pathlib.Path(args.pop("hydra.run.dir"))
    print("stand-in running with", sorted(args.items()))
    if args.get("method") == "broken":
        sys.exit(3)
    score = {"sft": 0.30, "llm2llm": 0.33, "pada": 0.36}.get(args.get("method"), 0.2)
    score += 0.01 * int(args.get("seed", 0)) - abs(float(args.get("thr", 0.5)) - 0.5)
    status = "crashed" if args.get("method") == "half" else "finished"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps({
        "experiment": "scireason", "method": args.get("method"), "seed": int(args.get("seed", 0)),
        "status": status, "config_overrides": [f"{k}={v}" for k, v in args.items()],
        "rounds": [{"round": 0, "train_acc": score + 0.05, "val_acc": score, "teacher": {"calls": 3}}],
        "final": {"best_round": 0, "val_acc": score, "test_acc": score - 0.01, "teacher_calls": 3},
    }))
    """
)


def _sweep_file(tmp_path: Path, **overrides: object) -> Path:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    config = {
        "name": "tiny",
        "program": str(script),
        "method": "grid",
        "metric": {"name": "final/val_acc", "goal": "maximize"},
        "parameters": {"method": {"values": ["sft", "broken", "pada"]}, "seed": {"values": [0, 1]}},
        "command": ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
        **overrides,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_shipped_sweep_files_follow_the_wandb_schema() -> None:
    from wandb.sdk.launch.sweeps.utils import load_sweep_config

    for path in sorted(SWEEPS.glob("*.yaml")):
        config = load_sweep(path)  # W&B's jsonschema, via the sweeps package
        assert config == load_sweep_config(str(path))  # and wandb's own loader reads the same
        assert config["program"] == "pada"
        assert config["metric"] == {"name": "final/val_acc", "goal": "maximize"}
        assert "${args_no_hyphens}" in config["command"]


def test_grid_dry_run_lists_nine_distinct_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([str(SWEEPS / "method_comparison.yaml"), "--dry-run", "--out-dir", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)) == 9
    expected = {(m, s) for m in ("sft", "llm2llm", "pada") for s in (0, 1, 2)}
    seen = set()
    for line in lines:
        argv = line.split()
        assert argv[:4] == ["/usr/bin/env", sys.executable, "-m", "pada"]
        assert argv[4] == "experiment=scireason"
        assert argv[-1].startswith(f"hydra.run.dir={tmp_path.resolve()}/method_comparison/")
        seen.add((argv[5].removeprefix("method="), int(argv[6].removeprefix("seed="))))
    assert seen == expected
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


@pytest.mark.parametrize(
    ("name", "count", "experiment", "runs"),
    [
        ("method_comparison.yaml", None, "scireason", 9),
        ("quality_gate_search.yaml", 4, "scireason", 4),
        ("smoke_comparison.yaml", 3, "smoke", 3),
    ],
)
def test_shipped_sweep_commands_compose_with_pada_config(
    compose, name: str, count: int | None, experiment: str, runs: int
) -> None:
    result = run_sweep(SWEEPS / name, count=count, dry_run=True, echo=lambda _: None)
    assert len(result.runs) == runs
    for run in result.runs:
        overrides = run.command[run.command.index("pada") + 1 : -1]  # without hydra.run.dir
        cfg = compose(*overrides)
        assert cfg.experiment_name == experiment
        assert cfg.method.name == run.params["method"]
        if "quality_gate.judge_threshold" in run.params:
            assert 0.3 <= cfg.quality_gate.judge_threshold <= 0.9
            assert 0.85 <= cfg.quality_gate.dedup_threshold <= 0.98
            assert cfg.pattern_mining.k_max == run.params["pattern_mining.k_max"]


def test_grid_sweep_runs_every_point_and_records_failures(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_sweep(_sweep_file(tmp_path), out_root=out, quiet=True, echo=lambda _: None)
    assert result.dir is not None and result.dir.parent == out.resolve() / "tiny"
    log = json.loads((result.dir / "sweep.json").read_text())
    assert [r["status"] for r in log["runs"]] == [
        "finished",
        "finished",
        "failed",
        "failed",
        "finished",
        "finished",
    ]
    assert log["counts"] == {"finished": 4, "failed": 2, "killed": 0}
    failed = log["runs"][2]
    assert failed["params"] == {"method": "broken", "seed": 0}
    assert failed["exit_code"] == 3 and failed["metric"] is None
    ok = log["runs"][5]
    assert ok["params"] == {"method": "pada", "seed": 1}
    assert ok["metric"] == pytest.approx(0.37)
    assert log["best"]["name"] == ok["name"]
    run_dir = Path(ok["run_dir"])
    assert run_dir.parent == result.dir
    assert (run_dir / "metrics.json").is_file()
    assert "stand-in running with" in (run_dir / "console.log").read_text()


def test_count_limits_runs_and_status_other_than_finished_is_failed(tmp_path: Path) -> None:
    path = _sweep_file(tmp_path, parameters={"method": {"values": ["half", "sft", "pada"]}})
    result = run_sweep(path, count=2, out_root=tmp_path / "out", quiet=True, echo=lambda _: None)
    assert [(r.params["method"], r.status) for r in result.runs] == [("half", "failed"), ("sft", "finished")]
    assert "crashed" in (result.runs[0].error or "")


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_random_and_bayes_sweeps_run_under_numpy_2(tmp_path: Path, method: str) -> None:
    path = _sweep_file(
        tmp_path,
        method=method,
        run_cap=3,
        parameters={"method": {"value": "pada"}, "thr": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
    )
    result = run_sweep(path, out_root=tmp_path / "out", quiet=True, echo=lambda _: None)
    assert [r.status for r in result.runs] == ["finished"] * 3
    assert result.method_used == method and result.fallback is None
    assert len({r.params["thr"] for r in result.runs}) == 3
    assert all(isinstance(r.params["thr"], float) for r in result.runs)  # plain floats, not numpy


def test_bayes_failure_falls_back_to_random(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sweeps.bayes_search

    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("module 'numpy' has no attribute 'something_removed'")

    monkeypatch.setattr(sweeps.bayes_search, "bayes_search_next_runs", broken)
    path = _sweep_file(
        tmp_path, method="bayes", parameters={"thr": {"distribution": "uniform", "min": 0.0, "max": 1.0}}
    )
    result = run_sweep(path, count=2, out_root=tmp_path / "out", quiet=True, echo=lambda _: None)
    assert result.method_used == "random"
    assert "something_removed" in (result.fallback or "")
    log = json.loads((result.dir / "sweep.json").read_text())
    assert log["method"] == "bayes" and log["method_used"] == "random"


def test_endless_search_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    path = _sweep_file(tmp_path, method="random")
    with pytest.raises(SweepError, match="--count"):
        run_sweep(path, dry_run=True)
    flow = tmp_path / "flow.yaml"
    flow.write_text("method: grid\nparameters: {a: {values: [1]}}\ncommand: [${env}, ${program}]\n")
    with pytest.raises(SweepError, match="block list"):
        load_sweep(flow)
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: sideways\nparameters: {a: {values: [1]}}\n")
    with pytest.raises(SweepError, match="schema"):
        load_sweep(bad)


def test_cli_runs_a_sweep_end_to_end(tmp_path: Path) -> None:
    path = _sweep_file(tmp_path, parameters={"method": {"values": ["pada"]}, "seed": {"values": [0]}})
    res = subprocess.run(
        [sys.executable, "-m", "pada.sweep", str(path), "--out-dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    assert "stand-in running with" in res.stdout  # the run's own output is echoed
    assert "1 runs: 1 finished, 0 failed" in res.stdout
    assert len(list((tmp_path / "out" / "tiny").glob("*/sweep.json"))) == 1
