"""Run a W&B sweep file locally, one subprocess per run, without a W&B server.

The loop is ``wandb agent``'s: ask the search algorithm for the next run, expand the sweep's command,
run it, report the run's state and summary metrics back, repeat. What W&B's backend would learn from the
run's logged summary is read here from the run's ``metrics.json`` (the orchestrator writes it in every
run folder); ``hydra.run.dir=<sweep folder>/<run name>`` is appended to each command so the runner knows
where that folder is.

Everything lands in ``<out_root>/<sweep name>/<timestamp>/``: one folder per run, and ``sweep.json``
(rewritten after each run) with every run's parameters, command, status and metric.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pada.io import write_json
from pada.sweep.command import (
    args_summary,
    expand_command,
    format_command,
    hydra_run_dir_override,
    uses_args_json_file,
)
from pada.sweep.search import Search, SweepError, load_sweep
from pada.tracking.tracker import flatten

SWEEP_LOG = "sweep.json"
METRICS = "metrics.json"
CONSOLE_LOG = "console.log"


@dataclass
class RunRecord:
    """One run of a sweep, as recorded in ``sweep.json``."""

    name: str
    params: dict[str, Any]
    command: list[str]
    run_dir: str
    status: str = "planned"  # planned (dry run), finished, failed or killed
    exit_code: int | None = None
    metric: float | None = None
    wall_s: float | None = None
    error: str | None = None


@dataclass
class SweepResult:
    """A sweep's runs and where they are."""

    name: str
    file: str
    method: str
    method_used: str
    metric_name: str | None
    goal: str
    dir: Path | None
    started_at: str
    runs: list[RunRecord] = field(default_factory=list)
    fallback: str | None = None
    finished_at: str | None = None

    def best(self) -> RunRecord | None:
        """Return the finished run with the best metric (per the sweep's goal), if any."""
        scored = [r for r in self.runs if r.status == "finished" and r.metric is not None]
        if not scored:
            return None
        pick = min if self.goal == "minimize" else max
        return pick(scored, key=lambda r: r.metric)  # type: ignore[arg-type, return-value]

    def to_json(self) -> dict[str, Any]:
        """Return the ``sweep.json`` record."""
        best = self.best()
        return {
            "sweep": self.name,
            "file": self.file,
            "method": self.method,
            "method_used": self.method_used,
            "fallback": self.fallback,
            "metric": {"name": self.metric_name, "goal": self.goal},
            "dir": str(self.dir) if self.dir else None,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": {s: sum(r.status == s for r in self.runs) for s in ("finished", "failed", "killed")},
            "best": asdict(best) if best else None,
            "runs": [asdict(r) for r in self.runs],
        }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:  # NaN != NaN
        return float(value)
    return None


def _limit(config: dict[str, Any], count: int | None) -> int | None:
    caps = [c for c in (count, config.get("run_cap")) if c is not None]
    if caps:
        return min(caps)
    if config["method"] != "grid":
        # wandb agent would draw random / bayes runs forever; a local runner needs an end.
        raise SweepError(
            f"a {config['method']} sweep has no end: pass --count N or set run_cap in the sweep file"
        )
    return None


def _new_sweep_dir(parent: Path, stamp: str) -> Path:
    path = parent / stamp
    n = 1
    while path.exists():  # two sweeps started in the same second
        n += 1
        path = parent / f"{stamp}_{n}"
    path.mkdir(parents=True)
    return path


def read_metrics(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """Read a run's ``metrics.json``.

    Args:
        run_dir: The run folder.

    Returns:
        The metrics (or None) and, when they could not be read, why.
    """
    path = run_dir / METRICS
    if not path.is_file():
        return None, f"no {METRICS} in {run_dir}"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        return None, f"unreadable {path}: {err}"
    if not isinstance(metrics, dict):
        return None, f"{path} is not a JSON object"
    return metrics, None


def _execute(argv: list[str], run_dir: Path, env: dict[str, str], quiet: bool) -> tuple[int, float]:
    start = time.monotonic()
    with open(run_dir / CONSOLE_LOG, "w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env
        )
        try:
            assert proc.stdout is not None
            # Tee: the user watches the run, and its folder keeps the output.
            for line in proc.stdout:
                log_file.write(line)
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            code = proc.wait()
        except BaseException:
            # Ctrl-C reaches the child too (same process group); give it time to stop cleanly.
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    return code, time.monotonic() - start


def run_sweep(
    sweep_file: Path,
    count: int | None = None,
    dry_run: bool = False,
    out_root: Path = Path("outputs/sweeps"),
    quiet: bool = False,
    echo: Callable[[str], None] = print,
) -> SweepResult:
    """Run (or, with ``dry_run``, list) the runs of a W&B sweep file locally.

    Args:
        sweep_file: A W&B sweep YAML (``method``, ``metric``, ``parameters``, ``program``, ``command``).
        count: Run at most this many runs (like ``wandb agent --count``).
        dry_run: Only print the commands that would run; nothing is executed or written.
        out_root: Sweeps go to ``<out_root>/<sweep name>/<timestamp>/``.
        quiet: Do not echo the runs' own output (it is still saved as ``console.log`` in each run folder).
        echo: Where progress lines go.

    Returns:
        The sweep's runs with their status and metric.

    Raises:
        SweepError: The sweep file is invalid, never ends, or the search algorithm fails.
    """
    sweep_file = Path(sweep_file)
    config = load_sweep(sweep_file)
    search = Search(config)
    limit = _limit(config, count)
    metric = config.get("metric") or {}
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(config.get("name") or sweep_file.stem))
    now = datetime.now()
    stamp = now.strftime("%Y-%m-%d_%H-%M-%S")
    parent = Path(out_root).resolve() / name
    sweep_dir = parent / stamp if dry_run else _new_sweep_dir(parent, stamp)
    result = SweepResult(
        name=name,
        file=str(sweep_file),
        method=search.method,
        method_used=search.method,
        metric_name=metric.get("name"),
        goal=metric.get("goal", "maximize"),
        dir=None if dry_run else sweep_dir,
        started_at=now.isoformat(timespec="seconds"),
    )
    env = dict(os.environ)
    # Groups the sweep's W&B runs (wandb.init reads it when the job sets no group) unless the user chose.
    env.setdefault("WANDB_RUN_GROUP", f"{name}-{stamp}")
    env["PYTHONUNBUFFERED"] = "1"  # the runs' output is piped; without this it arrives in blocks
    algo_runs: list[Any] = []
    constant = {k for k, spec in config["parameters"].items() if isinstance(spec, dict) and "value" in spec}

    def save() -> None:
        result.method_used, result.fallback = search.method_used, search.fallback
        if not dry_run:
            write_json(sweep_dir / SWEEP_LOG, result.to_json())

    while limit is None or len(result.runs) < limit:
        params = search.suggest(algo_runs)
        if params is None:
            break  # the grid is exhausted
        # Constant parameters (`value:`) would only lengthen every folder name.
        label = args_summary({k: v for k, v in params.items() if k not in constant})
        run_name = f"{len(result.runs):03d}_{label}".rstrip("_")
        run_dir = sweep_dir / run_name
        args_file = run_dir / "sweep_args.json" if uses_args_json_file(config) else None
        argv = [*expand_command(config, params, args_file), hydra_run_dir_override(run_dir)]
        record = RunRecord(name=run_name, params=params, command=argv, run_dir=str(run_dir))
        result.runs.append(record)
        if dry_run:
            echo(format_command(argv))
            # Pending runs: a grid moves on, and bayes treats them as running.
            algo_runs.append(search.new_run(run_name, params, "pending"))
            continue

        run_dir.mkdir(parents=True)
        if args_file is not None:
            args_file.write_text(json.dumps(params), encoding="utf-8")
        total = "" if limit is None else f"/{limit}"
        echo(f"[pada.sweep] run {len(result.runs)}{total}: {run_name}\n  {format_command(argv)}")
        save()
        summary: dict[str, Any] = {}
        history: list[dict[str, Any]] = []
        try:
            record.exit_code, record.wall_s = _execute(argv, run_dir, env, quiet)
        except OSError as err:  # the program does not exist or cannot run
            record.status, record.error = "failed", f"{type(err).__name__}: {err}"
        except BaseException:
            record.status, record.error = "killed", "interrupted"
            result.finished_at = datetime.now().isoformat(timespec="seconds")
            save()
            raise
        else:
            metrics, error = read_metrics(run_dir)
            if metrics is not None:
                summary = flatten({k: v for k, v in metrics.items() if k != "rounds"})
                history = [flatten(r) for r in metrics.get("rounds") or [] if isinstance(r, dict)]
            status = (metrics or {}).get("status", "finished")
            if record.exit_code != 0:
                record.status, record.error = "failed", f"exit code {record.exit_code}"
            elif metrics is None:
                record.status, record.error = "failed", error
            elif status != "finished":
                record.status, record.error = "failed", f"metrics.json status is {status!r}"
            else:
                record.status = "finished"
            if record.status == "finished" and result.metric_name:
                record.metric = _number(summary.get(result.metric_name))
                if record.metric is None:
                    record.error = f"metric {result.metric_name} not in {METRICS}"
        algo_runs.append(search.new_run(run_name, params, record.status, summary, history))
        shown = f" {result.metric_name}={record.metric:.4g}" if record.metric is not None else ""
        wall = f" ({record.wall_s:.1f} s)" if record.wall_s is not None else ""
        reason = f": {record.error}" if record.error else ""
        echo(f"[pada.sweep] {run_name}: {record.status}{shown}{wall}{reason}")
        save()

    result.finished_at = datetime.now().isoformat(timespec="seconds")
    save()
    return result
