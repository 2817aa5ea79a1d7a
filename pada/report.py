"""``python -m pada.report <folder>``: one table comparing the runs of a multirun or a sweep.

Every run folder below ``<folder>`` (a Hydra multirun, a ``python -m pada.sweep`` folder, or any tree
of runs) holds a ``metrics.json``. Runs are grouped by method and by every other override that varies
between them, except the seed: the seeds of a group are its repetitions, averaged as mean ± standard
deviation. Runs whose status is not ``finished`` (and job folders without ``metrics.json``, killed
before the end) are listed as incomplete and left out of the averages.

Writes ``report.md``, ``report.csv`` and ``report.png`` (test accuracy per group, with std error bars) in
``<folder>``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pada.loop.artifacts import RESUMED_MARKER

METRICS = "metrics.json"
SWEEP_LOG = "sweep.json"  # written by python -m pada.sweep
# Overrides that never define a group: the seed is what a group repeats over, and the rest are
# bookkeeping (where the run went, whether it resumed).
NOT_A_SETTING = {"seed", "resume", "dry_run"}
# Baselines first, then PaDA and its ablations; other methods follow alphabetically.
METHOD_ORDER = [
    "sft",
    "llm2llm",
    "pada",
    "pada_no_val_patterns",
    "pada_no_train_errors",
    "pada_no_clustering",
    "pada_no_quality_gate",
]
# (column, key in metrics.json's "final", shown with std)
STATS = [
    ("test acc", "test_acc", True),
    ("val acc", "val_acc", True),
    ("gap", "gap", True),
    ("accepted items", "synthetic_items", False),
    ("teacher calls", "teacher_calls", False),
    ("wall s", "wall_s", False),
]


@dataclass
class RunResult:
    """One run folder: its settings (overrides) and final metrics."""

    path: Path
    status: str
    settings: dict[str, str] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    """The grouped table and the runs left out of it."""

    keys: list[str]
    rows: list[dict[str, Any]]
    incomplete: list[RunResult]
    root: Path


def _parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    settings = {}
    for item in overrides:
        key, sep, value = str(item).lstrip("+~").partition("=")
        if sep and not key.startswith("hydra.") and key not in NOT_A_SETTING:
            settings[key] = value
    return settings


def _overrides(run_dir: Path, metrics: dict[str, Any] | None) -> list[str]:
    # Hydra's record of the command line is the most faithful; metrics.json repeats it otherwise.
    path = run_dir / ".hydra" / "overrides.yaml"
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(loaded, list):
                return [str(o) for o in loaded]
        except yaml.YAMLError:
            pass
    return [str(o) for o in (metrics or {}).get("config_overrides") or []]


def _load_run(run_dir: Path) -> RunResult:
    path = run_dir / METRICS
    metrics: dict[str, Any] | None = None
    if not path.is_file():
        status = f"no {METRICS}"
    else:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            metrics = loaded if isinstance(loaded, dict) else None
            status = str(metrics.get("status", "unknown")) if metrics else f"unreadable {METRICS}"
        except (OSError, json.JSONDecodeError):
            status = f"unreadable {METRICS}"
    settings = _parse_overrides(_overrides(run_dir, metrics))
    if metrics:
        # What ran, as the run itself reports it (the method's name, the experiment's name).
        for key in ("method", "experiment"):
            if metrics.get(key) is not None:
                settings[key] = str(metrics[key])
    final = (metrics or {}).get("final") or {}
    rounds = [r for r in (metrics or {}).get("rounds") or [] if isinstance(r, dict)]
    return RunResult(run_dir, status, settings, final if isinstance(final, dict) else {}, rounds)


def find_runs(root: Path) -> list[RunResult]:
    """Find the run folders below ``root``: folders with a ``metrics.json`` or a Hydra ``.hydra/``.

    A run folder's own subfolders are not searched (a stage may write files of the same name), nor are
    W&B's ``wandb/`` folders, nor the first folder of a resumed run (its ``RESUMED_IN.txt`` points to
    the folder that holds its work now, which is counted instead).

    Args:
        root: A multirun, sweep or run folder.

    Returns:
        The runs, in path order.
    """
    runs = []
    sweep_logs = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if RESUMED_MARKER in filenames:  # its work moved to the folder that resumed it
            dirnames[:] = []
            continue
        if METRICS in filenames or ".hydra" in dirnames:
            runs.append(_load_run(here))
            dirnames[:] = []
            continue
        if SWEEP_LOG in filenames:
            sweep_logs.append(here / SWEEP_LOG)
        dirnames[:] = sorted(d for d in dirnames if d != "wandb" and not d.startswith("."))
    found = {r.path.resolve() for r in runs}
    for log in sweep_logs:
        runs.extend(r for r in _sweep_failures(log) if r.path.resolve() not in found)
    return sorted(runs, key=lambda r: _natural(str(r.path)))


def _natural(text: str) -> list[Any]:
    # Hydra numbers jobs 0, 1, ..., 10: "10_..." belongs after "9_...".
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _sweep_failures(path: Path) -> list[RunResult]:
    # A sweep run that died before Hydra made its folder leaves no trace but its line in sweep.json.
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    out = []
    for run in log.get("runs") or []:
        if not isinstance(run, dict) or run.get("status") == "finished" or not run.get("name"):
            continue
        params = run.get("params") or {}
        settings = _parse_overrides([f"{k}={v}" for k, v in params.items()])
        status = str(run.get("status")) + (f" ({run['error']})" if run.get("error") else "")
        # Located by name next to sweep.json, so a moved or copied sweep folder still matches.
        out.append(RunResult(path.parent / str(run["name"]), status, settings))
    return out


def _final(run: RunResult, key: str) -> float | None:
    value = run.final.get(key)
    if key == "gap" and value is None:
        train, val = run.final.get("train_acc"), run.final.get("val_acc")
        if isinstance(train, int | float) and isinstance(val, int | float):
            value = train - val
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _order(value: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(value), "") if value in METHOD_ORDER else (len(METHOD_ORDER), value)


def build_report(root: Path) -> Report:
    """Group the finished runs below ``root`` and compute each group's statistics.

    Args:
        root: A multirun, sweep or run folder.

    Returns:
        The report: one row per group (group keys, ``n``, ``<stat>_mean`` and ``<stat>_std``).
    """
    runs = find_runs(root)
    done = [r for r in runs if r.status == "finished"]
    incomplete = [r for r in runs if r.status != "finished"]
    names = sorted({k for r in done for k in r.settings} - {"method"})
    keys = ["method"] + [k for k in names if len({r.settings.get(k) for r in done}) > 1]
    groups: dict[tuple[str, ...], list[RunResult]] = {}
    for run in done:
        groups.setdefault(tuple(run.settings.get(k, "") for k in keys), []).append(run)
    rows = []
    for group in sorted(groups, key=lambda g: [_order(v) for v in g]):
        members = groups[group]
        row: dict[str, Any] = dict(zip(keys, group, strict=True))
        row["n"] = len(members)
        for _, stat, _with_std in STATS:
            values = [v for r in members if (v := _final(r, stat)) is not None]
            row[f"{stat}_mean"] = statistics.fmean(values) if values else None
            # The sample std; undefined for one run, which must not read as "no spread".
            row[f"{stat}_std"] = statistics.stdev(values) if len(values) > 1 else None
        row["augmentation"] = _augmentation(members)
        rows.append(row)
    return Report(keys, rows, incomplete, root)


def _augmentation(runs: Sequence[RunResult]) -> dict[str, Any]:
    """What a group's rounds generated, accepted and rejected (summed over its runs), and their K."""
    totals: dict[str, Any] = {"generated": 0, "accepted": 0, "rejected_by_reason": {}, "k": []}
    for run in runs:
        for r in run.rounds:
            for key in ("generated", "accepted"):
                totals[key] += int(r.get(key) or 0)
            for reason, n in (r.get("rejected_by_reason") or {}).items():
                totals["rejected_by_reason"][reason] = totals["rejected_by_reason"].get(reason, 0) + int(n)
            if isinstance(r.get("k"), int):
                totals["k"].append(r["k"])
    return totals


def _fmt(mean: float | None, std: float | None, digits: int) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def to_markdown(report: Report) -> str:
    """Render the report as Markdown: the grouped table, then the incomplete runs."""
    head = [*report.keys, "runs"] + [f"{c} (mean ± std)" if s else f"{c} (mean)" for c, _, s in STATS]
    lines = [
        f"# pada report: {report.root}",
        "",
        "Finished runs grouped by method and every varying override except the seed; "
        "mean ± sample std over a group's runs (no ± for a single run).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for row in report.rows:
        cells = [str(row[k]) for k in report.keys] + [str(row["n"])]
        for _, stat, with_std in STATS:
            digits = 3 if with_std else 1
            cells.append(_fmt(row[f"{stat}_mean"], row[f"{stat}_std"] if with_std else None, digits))
        lines.append("| " + " | ".join(cells) + " |")
    if not report.rows:
        lines.append("| " + " | ".join("–" for _ in head) + " |")
    augmented = [r for r in report.rows if r["augmentation"]["generated"]]
    if augmented:
        lines += ["", "## Synthetic items (summed over each group's runs and rounds)", ""]
        aug_head = [*report.keys, "generated", "accepted", "rejected by reason", "K per round"]
        lines += ["| " + " | ".join(aug_head) + " |", "|" + "|".join("---" for _ in aug_head) + "|"]
        for row in augmented:
            aug = row["augmentation"]
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(aug["rejected_by_reason"].items())) or "–"
            ks = ", ".join(map(str, aug["k"])) or "–"
            counts = [str(aug["generated"]), str(aug["accepted"]), reasons, ks]
            cells = [str(row[k]) for k in report.keys] + counts
            lines.append("| " + " | ".join(cells) + " |")
    if report.incomplete:
        lines += ["", f"## Incomplete runs ({len(report.incomplete)}, not averaged)", ""]
        lines += ["| run folder | method | status |", "|---|---|---|"]
        for run in report.incomplete:
            rel = os.path.relpath(run.path, report.root)
            lines.append(f"| {rel} | {run.settings.get('method', '?')} | {run.status} |")
    return "\n".join(lines) + "\n"


def write_csv(report: Report, path: Path) -> Path:
    """Write one row per group (group keys, ``n``, means and stds) as CSV; return ``path``."""
    columns = [*report.keys, "n"] + [f"{s}_{p}" for _, s, _ in STATS for p in ("mean", "std")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in report.rows:
            writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return path


def plot(report: Report, path: Path) -> Path | None:
    """Draw test accuracy per group as bars with std error bars; return ``path`` (None if no data)."""
    rows = [r for r in report.rows if r["test_acc_mean"] is not None]
    if not rows:
        return None
    from pada.tracking.plots import new_figure, save

    labels = [
        ", ".join(str(r[k]) if k == "method" else f"{k}={r[k]}" for k in report.keys) + f"\n(n={r['n']})"
        for r in rows
    ]
    fig = new_figure(max(5.0, 1.1 * len(rows) + 2), 4.5)
    ax = fig.add_subplot()
    errors = [r["test_acc_std"] or 0.0 for r in rows]
    ax.bar(range(len(rows)), [r["test_acc_mean"] for r in rows], yerr=errors, capsize=4, color="tab:blue")
    rotate = len(rows) > 3 or max(map(len, labels)) > 20
    ax.set_xticks(range(len(rows)), labels, rotation=25 if rotate else 0, ha="right" if rotate else "center")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy per method (mean ± std over runs)")
    return save(fig, path)


def write_report(report: Report) -> dict[str, Path]:
    """Save ``report.md``, ``report.csv`` and ``report.png`` in the report's folder.

    Args:
        report: From :func:`build_report`.

    Returns:
        The paths written by kind (``png`` is absent when no run has a test accuracy).
    """
    paths = {"md": report.root / "report.md", "csv": report.root / "report.csv"}
    paths["md"].write_text(to_markdown(report), encoding="utf-8")
    write_csv(report, paths["csv"])
    png = plot(report, report.root / "report.png")
    if png is not None:
        paths["png"] = png
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the table and write the report files; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m pada.report",
        description="Compare the runs of a multirun or sweep folder: mean ± std per method and setting.",
    )
    parser.add_argument(
        "folder", type=Path, help="e.g. outputs/multirun/scireason/<date> or outputs/sweeps/<name>/<date>"
    )
    args = parser.parse_args(argv)
    root: Path = args.folder
    if not root.is_dir():
        print(f"pada.report: error: {root} is not a folder", file=sys.stderr)
        return 2
    report = build_report(root)
    if not report.rows and not report.incomplete:
        print(f"pada.report: error: no run folders ({METRICS} or .hydra/) below {root}", file=sys.stderr)
        return 2
    paths = write_report(report)
    print(to_markdown(report))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
