"""``python -m pada.sweep sweeps/X.yaml [--count N] [--dry-run]``: a W&B sweep file, run locally.

The same file works with a W&B server (``wandb sweep sweeps/X.yaml`` then ``wandb agent ID``); this
entry point needs none: W&B's own search algorithms suggest the runs, each run is a subprocess, and
``sweep.json`` in the sweep folder records them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pada.errors import PadaError
from pada.sweep.runner import SWEEP_LOG, run_sweep


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the sweep, print a summary; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m pada.sweep",
        description="Run a W&B sweep file locally, without a W&B server (grid, random or bayes).",
    )
    parser.add_argument("sweep_file", type=Path, help="a W&B sweep YAML, e.g. sweeps/method_comparison.yaml")
    parser.add_argument(
        "--count", type=int, default=None, help="run at most N runs (like wandb agent --count)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the commands that would run, run nothing"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("outputs/sweeps"),
        help="sweeps go to OUT_DIR/<name>/<timestamp>/",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not echo the runs' output (kept in console.log)"
    )
    args = parser.parse_args(argv)
    if args.count is not None and args.count < 1:
        parser.error("--count must be >= 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        result = run_sweep(args.sweep_file, args.count, args.dry_run, args.out_dir, args.quiet)
    except PadaError as err:
        print(f"pada.sweep: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pada.sweep: interrupted; sweep.json records the runs so far.", file=sys.stderr)
        return 130

    if args.dry_run:
        print(f"# {len(result.runs)} runs ({result.method_used} search); nothing was run.", file=sys.stderr)
        return 0
    counts = {s: sum(r.status == s for r in result.runs) for s in ("finished", "failed")}
    print(f"[pada.sweep] {len(result.runs)} runs: {counts['finished']} finished, {counts['failed']} failed")
    if result.fallback:
        print(f"[pada.sweep] bayes fell back to random search: {result.fallback}")
    best = result.best()
    if best is not None:
        print(f"[pada.sweep] best: {best.name} {result.metric_name}={best.metric:.4g}")
    print(f"[pada.sweep] log: {result.dir / SWEEP_LOG}; table: python -m pada.report {result.dir}")
    # Failed runs do not stop a sweep, but a sweep where nothing finished should fail a script.
    return 1 if result.runs and counts["finished"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
