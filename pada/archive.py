"""``python -m pada.archive <runs> <dest>``: keep the records of finished runs, without their weights.

A run folder holds adapters, checkpoints and W&B files that run to megabytes; what a report and a
reader need is small: the metrics, the per-item outcomes, the summary, the config, the split manifest,
and what the agents concluded and generated. This copies those files of every finished run below
``<runs>`` into ``<dest>/<method>_s<seed>`` (plus the other overrides, when there are any), so that a
results folder can live in git and ``python -m pada.report <dest>`` regenerates every table from it.
A run already archived is replaced; unfinished runs are skipped and listed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from pada.report import NOT_A_SETTING, find_runs

#: The files kept, as globs relative to the run folder.
KEEP = (
    "metrics.json",
    "outcomes.json",
    "summary.md",
    "config.yaml",
    "plan.json",
    "leakage.json",
    "teacher_usage.json",
    ".hydra/overrides.yaml",
    "data/split_manifest.json",
    "round_*/analyze_errors/analyses.jsonl",
    "round_*/mine_patterns/mining.json",
    "round_*/summarize_patterns/patterns.json",
    "round_*/draft_strategies/patterns_with_strategies.json",
    "round_*/locate_patterns/near.json",
    "round_*/generate/stats.json",
    "round_*/generate/samples.jsonl",
    "round_*/evaluate/accuracy.json",
)


def archive_name(settings: dict[str, str], seed: int | None) -> str:
    """The folder name of an archived run: method, seed, then any other override (file-name safe)."""
    parts = [settings.get("method", "run"), f"s{seed}" if seed is not None else "s?"]
    for key in sorted(settings):
        if key not in ("method", "experiment") and key not in NOT_A_SETTING:
            parts.append(f"{key}={settings[key]}")
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", "_".join(parts))


def archive_runs(root: Path, dest: Path) -> tuple[list[Path], list[Path]]:
    """Copy the records of every finished run below ``root`` into ``dest``.

    Args:
        root: A run, multirun or sweep folder.
        dest: The results folder (created if missing).

    Returns:
        The archived folders, and the run folders skipped because they had not finished.
    """
    written, skipped = [], []
    for run in find_runs(root):
        if run.status != "finished":
            skipped.append(run.path)
            continue
        target = dest / archive_name(run.settings, run.seed)
        if target.exists():
            shutil.rmtree(target)
        for pattern in KEEP:
            for src in sorted(run.path.glob(pattern)):
                out = target / src.relative_to(run.path)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, out)
        written.append(target)
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pada.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="a run, multirun or sweep folder")
    parser.add_argument("dest", type=Path, help="e.g. docs/results/runs/scireason_lowdata")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        print(f"pada.archive: error: {args.runs} is not a folder", file=sys.stderr)
        return 2
    written, skipped = archive_runs(args.runs, args.dest)
    for path in written:
        print(f"archived {path}")
    for path in skipped:
        print(f"skipped {path} (not finished)")
    if not written:
        print(f"pada.archive: error: no finished run below {args.runs}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
