"""``python -m pada.report <folder>``: compare the runs of a multirun or a sweep against plain fine-tuning.

Every run folder below ``<folder>`` (a Hydra multirun, a ``python -m pada.sweep`` folder, or any tree
of runs) holds a ``metrics.json``. Runs are grouped by method and by every other override that varies
between them, except the seed: the seeds of a group are its repetitions, averaged as mean ± standard
deviation. Runs whose status is not ``finished`` (and job folders without ``metrics.json``, killed
before the end) are listed as incomplete and left out of the averages.

Per-item test outcomes
    A run's reported round is ``final.best_round`` in ``metrics.json``. Its per-item test outcomes
    come from the run's ``outcomes.json`` (``ids.test`` and, for that round, a string of ``1``/``0``
    per id), else from ``round_<best>/evaluate/test_records.jsonl`` (``id`` and ``correct`` per line).
    A run with neither still counts in the mean ± std columns; it gets no interval and no paired
    difference.

Intervals (:mod:`pada.stats`)
    A group's test accuracy has a 95% percentile bootstrap interval over test items, stratified by
    run: each replicate resamples every run's test items with replacement and averages the per-run
    accuracies. Each group other than ``sft`` is compared with the ``sft`` group of the same settings
    on the same test items: runs are paired by seed, the per-seed difference is the mean over the
    shared test ids of ``correct_method - correct_sft``, and the pooled difference is the mean of the
    per-seed differences. Its interval resamples the items of each seed independently (the same items
    for both runs of a pair). A difference whose interval contains 0 is marked ``n.s.``. The random
    generator is ``numpy.random.default_rng(0)`` for every interval, with ``--boot`` replicates
    (10,000 by default), so a report is reproducible.

Which sft group
    A group is compared with the ``sft`` group whose settings agree with its own on every grouping
    key. A key the ``sft`` runs leave unset (an override only augmenting methods take) does not count
    against them; among several such ``sft`` groups the one that agrees on the most keys wins.

The last line printed
    ``efficacy: pada_minus_sft=... ci=[...,...] ceiling_minus_sft=... llm2llm_minus_sft=...
    generic_minus_sft=...``: the pooled paired differences of ``pada``, ``real_data_ceiling``,
    ``llm2llm`` and ``generic_synthetic`` against their ``sft`` group (``na`` without paired runs), and
    the interval of ``pada``'s. When a method has several groups, the line uses the one whose settings
    match the ``pada`` group's (the first ``pada`` group with a paired difference, in table order), so
    all numbers on the line compare like with like; a warning names the choice.

Writes ``report.md``, ``report.csv`` and ``report.png`` (test accuracy per group with its interval,
and each method's pooled difference against ``sft``) in ``<folder>``.
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
from pada.stats import (
    DEFAULT_BOOT,
    Interval,
    paired_difference,
    pooled_paired_difference,
    stratified_bootstrap,
)

METRICS = "metrics.json"
OUTCOMES = "outcomes.json"  # per-item correctness per round, written by the run
SWEEP_LOG = "sweep.json"  # written by python -m pada.sweep
BASELINE = "sft"
# Overrides that never define a group: the seed is what a group repeats over, and the rest are
# bookkeeping (where the run went, whether it resumed).
NOT_A_SETTING = {"seed", "resume", "dry_run"}
# Baselines first, then PaDA and its ablations, then the real-data ceiling; other methods follow
# alphabetically.
METHOD_ORDER = [
    "sft",
    "generic_synthetic",
    "llm2llm",
    "pada",
    "pada_no_val_patterns",
    "pada_no_train_errors",
    "pada_no_clustering",
    "pada_no_quality_gate",
    "real_data_ceiling",
]
# (column, key in metrics.json's "final" or derived from it, shown with std)
STATS = [
    ("test acc", "test_acc", True),
    ("val acc", "val_acc", True),
    ("val mine acc", "val_mine_acc", True),
    ("val select acc", "val_select_acc", True),
    ("gap (train − val)", "gap", True),
    ("train − test", "train_minus_test", True),
    ("accepted items", "synthetic_items", False),
    ("teacher calls", "teacher_calls", False),
    ("wall s", "wall_s", False),
]
# The validation parts; runs that record only the whole validation accuracy show it instead.
VAL_PARTS = ("val_mine_acc", "val_select_acc")
# (method, name on the efficacy line)
EFFICACY = [
    ("pada", "pada"),
    ("real_data_ceiling", "ceiling"),
    ("llm2llm", "llm2llm"),
    ("generic_synthetic", "generic"),
]
#: The methods PaDA is compared with directly (the question is whether targeting beats them).
RIVALS = [
    "llm2llm", "generic_synthetic", "real_data_ceiling", "pada_no_clustering", "pada_no_quality_gate",
    "pada_no_val_patterns", "pada_no_train_errors",
]  # fmt: skip
# Keys of a pattern_effects entry that are averaged over entries.
EFFECT_MEANS = [
    "own_acc_before",
    "own_acc_after",
    "near_select_acc_before",
    "near_select_acc_after",
    "near_test_acc_before",
    "near_test_acc_after",
    "near_k",
]
# Keys of a round's forgetting record that are summed over rounds and runs.
FORGETTING = ["test_items", "right_to_wrong", "wrong_to_right"]


@dataclass
class RunResult:
    """One run folder: its settings (overrides), final metrics and per-item test outcomes."""

    path: Path
    status: str
    settings: dict[str, str] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None
    # id -> correct for the reported round's test items; None when the run kept none.
    test_outcomes: dict[str, bool] | None = None
    # Where test_outcomes came from, or why there are none.
    outcome_source: str = ""


@dataclass
class SeedDifference:
    """One seed's paired difference: the method's run minus the sft run on their shared test items."""

    seed: int
    items: int
    interval: Interval
    method_run: Path
    sft_run: Path


@dataclass
class Paired:
    """A group's comparison with its sft group: per seed and pooled over seeds."""

    sft_row: int | None
    seeds: list[SeedDifference] = field(default_factory=list)
    pooled: Interval | None = None
    note: str = ""


@dataclass
class Report:
    """The grouped table, the runs left out of it, and the comparisons with sft."""

    keys: list[str]
    rows: list[dict[str, Any]]
    incomplete: list[RunResult]
    root: Path
    members: list[list[RunResult]] = field(default_factory=list)
    n_boot: int = DEFAULT_BOOT
    warnings: list[str] = field(default_factory=list)
    # Efficacy-line method -> the row index it reports (None: no paired runs).
    efficacy_rows: dict[str, int | None] = field(default_factory=dict)
    # (row index of another augmenting method, PaDA minus that method), in RIVALS order.
    rivals: list[tuple[int, Paired]] = field(default_factory=list)


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _seed(metrics: dict[str, Any] | None, overrides: Sequence[str]) -> int | None:
    value = (metrics or {}).get("seed")
    if _is_int(value):
        return value
    for item in overrides:
        key, sep, text = str(item).lstrip("+~").partition("=")
        if sep and key == "seed":
            try:
                return int(text)
            except ValueError:
                return None
    return None


def _outcomes_from_json(path: Path, best_round: int) -> dict[str, bool] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ids"), dict):
        return None
    ids = data["ids"].get("test")
    if not isinstance(ids, list) or not ids:
        return None
    for entry in data.get("rounds") or []:
        if isinstance(entry, dict) and _is_int(entry.get("round")) and entry["round"] == best_round:
            marks = entry.get("test")
            if isinstance(marks, str) and len(marks) == len(ids) and set(marks) <= {"0", "1"}:
                return {str(i): m == "1" for i, m in zip(ids, marks, strict=True)}
            return None
    return None


def _outcomes_from_records(path: Path) -> dict[str, bool] | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    outcomes: dict[str, bool] = {}
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(record, dict) or record.get("id") is None:
            return None
        correct = record.get("correct")
        if not isinstance(correct, bool | int) or correct not in (0, 1):
            return None
        outcomes[str(record["id"])] = bool(correct)
    return outcomes or None


def load_test_outcomes(run_dir: Path, best_round: Any) -> tuple[dict[str, bool] | None, str]:
    """Read a run's per-item test outcomes for its reported round.

    Args:
        run_dir: The run folder.
        best_round: ``final.best_round`` from its ``metrics.json``.

    Returns:
        ``(id -> correct, source)``: the outcomes from ``outcomes.json``, else from
        ``round_<best>/evaluate/test_records.jsonl``; ``(None, reason)`` when neither holds them.
    """
    if not _is_int(best_round):
        return None, "no best_round in metrics.json"
    found = _outcomes_from_json(run_dir / OUTCOMES, best_round)
    if found is not None:
        return found, OUTCOMES
    records = Path(f"round_{best_round}") / "evaluate" / "test_records.jsonl"
    found = _outcomes_from_records(run_dir / records)
    if found is not None:
        return found, str(records)
    return None, f"no test outcomes for round {best_round}"


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
    overrides = _overrides(run_dir, metrics)
    settings = _parse_overrides(overrides)
    if metrics:
        # What ran, as the run itself reports it (the method's name, the experiment's name).
        for key in ("method", "experiment"):
            if metrics.get(key) is not None:
                settings[key] = str(metrics[key])
    final = (metrics or {}).get("final") or {}
    final = final if isinstance(final, dict) else {}
    rounds = [r for r in (metrics or {}).get("rounds") or [] if isinstance(r, dict)]
    run = RunResult(run_dir, status, settings, final, rounds, seed=_seed(metrics, overrides))
    if status == "finished":
        run.test_outcomes, run.outcome_source = load_test_outcomes(run_dir, final.get("best_round"))
    return run


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
    final = run.final
    if key == "gap" and final.get("gap") is None:
        train, val = _num(final.get("train_acc")), _num(final.get("val_acc"))
        return train - val if train is not None and val is not None else None
    if key == "train_minus_test":
        train, test = _num(final.get("train_acc")), _num(final.get("test_acc"))
        return train - test if train is not None and test is not None else None
    if key in VAL_PARTS and _num(final.get(key)) is None:
        return _num(final.get("val_acc"))
    return _num(final.get(key))


def _order(value: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(value), "") if value in METHOD_ORDER else (len(METHOD_ORDER), value)


def _label(row: dict[str, Any], keys: Sequence[str]) -> str:
    return ", ".join(str(row[k]) if k == "method" else f"{k}={row[k]}" for k in keys)


def build_report(root: Path, n_boot: int = DEFAULT_BOOT) -> Report:
    """Group the finished runs below ``root``, compute each group's statistics and compare with sft.

    Args:
        root: A multirun, sweep or run folder.
        n_boot: Bootstrap replicates per interval.

    Returns:
        The report: one row per group (group keys, ``n``, ``<stat>_mean`` and ``<stat>_std``, the test
        accuracy interval ``test_acc_ci_low`` / ``test_acc_ci_high``, the pooled difference against sft
        ``diff_vs_sft`` with ``diff_vs_sft_low`` / ``diff_vs_sft_high`` and ``paired``, the budget and
        pattern-effect summaries), the members of each row, and warnings.
    """
    runs = find_runs(root)
    done = [r for r in runs if r.status == "finished"]
    incomplete = [r for r in runs if r.status != "finished"]
    names = sorted({k for r in done for k in r.settings} - {"method"})
    keys = ["method"] + [k for k in names if len({r.settings.get(k) for r in done}) > 1]
    groups: dict[tuple[str, ...], list[RunResult]] = {}
    for run in done:
        groups.setdefault(tuple(run.settings.get(k, "") for k in keys), []).append(run)
    report = Report(keys, [], incomplete, root, n_boot=n_boot)
    for group in sorted(groups, key=lambda g: [_order(v) for v in g]):
        members = groups[group]
        row: dict[str, Any] = dict(zip(keys, group, strict=True))
        row["n"] = len(members)
        for _, stat, _with_std in STATS:
            values = [v for r in members if (v := _final(r, stat)) is not None]
            row[f"{stat}_mean"] = statistics.fmean(values) if values else None
            # The sample std; undefined for one run, which must not read as "no spread".
            row[f"{stat}_std"] = statistics.stdev(values) if len(values) > 1 else None
        row["val_parts_fallback"] = sum(
            1
            for r in members
            if any(_num(r.final.get(k)) is None for k in VAL_PARTS)
            and _num(r.final.get("val_acc")) is not None
        )
        row.update(_test_interval(members, n_boot))
        row["augmentation"] = _augmentation(members)
        row.update(_budget(members))
        row["effects"] = pattern_effects_summary(members)
        for key, value in (row["effects"] or {}).items():
            row[f"effects_{key}"] = value
        report.rows.append(row)
        report.members.append(members)
        report.warnings += _outcome_warnings(members, _label(row, keys))
    _compare_with_sft(report)
    _choose_efficacy_rows(report)
    _compare_pada_with_rivals(report)
    report.warnings = list(dict.fromkeys(report.warnings))  # an sft group paired twice warns once
    return report


def _test_interval(runs: Sequence[RunResult], n_boot: int) -> dict[str, Any]:
    """Test accuracy over the runs that kept per-item outcomes, with its run-stratified interval."""
    strata = [[float(c) for c in r.test_outcomes.values()] for r in runs if r.test_outcomes]
    if not strata:
        return {"test_acc_ci_low": None, "test_acc_ci_high": None, "test_acc_ci_runs": 0}
    interval = stratified_bootstrap(strata, n_boot=n_boot, seed=0)
    return {
        "test_acc_ci_low": interval.low,
        "test_acc_ci_high": interval.high,
        "test_acc_ci_estimate": interval.estimate,
        "test_acc_ci_runs": len(strata),
    }


def _outcome_warnings(runs: Sequence[RunResult], label: str) -> list[str]:
    """Runs without per-item test outcomes, and outcomes that disagree with the reported accuracy."""
    out = []
    missing = sorted({r.outcome_source or "no test outcomes" for r in runs if not r.test_outcomes})
    if missing:
        count = sum(1 for r in runs if not r.test_outcomes)
        out.append(
            f"{label}: {count} of {len(runs)} runs have no per-item test outcomes ({'; '.join(missing)}); "
            "they get no interval or paired difference"
        )
    for run in runs:
        if not run.test_outcomes:
            continue
        acc = sum(run.test_outcomes.values()) / len(run.test_outcomes)
        reported = _num(run.final.get("test_acc"))
        if reported is not None and abs(acc - reported) > 1e-6:
            out.append(
                f"{label}: {run.path.name}: test accuracy from {run.outcome_source} ({acc:.4f}) differs "
                f"from metrics.json's test_acc ({reported:.4f})"
            )
    return out


def _matching_sft(report: Report, index: int) -> int | None:
    """The sft row to compare row ``index`` with (see the module docstring), or None."""
    row, others = report.rows[index], report.keys[1:]
    best, best_score = None, -1
    for i, cand in enumerate(report.rows):
        if cand["method"] != BASELINE or any(cand[k] not in ("", row[k]) for k in others):
            continue
        score = sum(cand[k] == row[k] for k in others)
        if score > best_score:
            best, best_score = i, score
    return best


def _by_seed(runs: Sequence[RunResult], label: str, warnings: list[str]) -> dict[int, RunResult]:
    out: dict[int, RunResult] = {}
    for run in runs:
        if run.seed is None:
            warnings.append(f"{label}: {run.path.name} has no seed and cannot be paired")
        elif run.seed in out:
            warnings.append(
                f"{label}: two runs with seed {run.seed}; pairing the first ({out[run.seed].path.name})"
            )
        else:
            out[run.seed] = run
    return out


def pair_groups(report: Report, index: int, other: int) -> Paired:
    """Row ``index``'s runs minus row ``other``'s, item by item on the test items of same-seed runs.

    Returns:
        The per-seed differences and their pooled mean (``None`` with a note when no seed pairs).
    """
    label, other_label = _label(report.rows[index], report.keys), _label(report.rows[other], report.keys)
    paired = Paired(other)
    mine = _by_seed(report.members[index], label, report.warnings)
    theirs = _by_seed(report.members[other], other_label, report.warnings)
    for have, lack, seeds in ((label, other_label, set(mine) - set(theirs)),
                              (other_label, label, set(theirs) - set(mine))):  # fmt: skip
        if seeds:
            report.warnings.append(f"{have}: seeds {sorted(seeds)} have no partner run in the {lack} group")
    pairs = []
    for seed in sorted(set(mine) & set(theirs)):
        a, b = mine[seed].test_outcomes, theirs[seed].test_outcomes
        if not a or not b:
            continue
        shared = sorted(a.keys() & b.keys())
        if a.keys() != b.keys():
            report.warnings.append(
                f"{label} seed {seed}: the test ids differ from the {other_label} run's "
                f"({len(a)} vs {len(b)}, {len(shared)} shared); the difference uses the shared ids"
            )
        if not shared:
            continue
        x = [float(a[i]) for i in shared]
        y = [float(b[i]) for i in shared]
        interval = paired_difference(x, y, n_boot=report.n_boot, seed=0)
        paired.seeds.append(SeedDifference(seed, len(shared), interval, mine[seed].path, theirs[seed].path))
        pairs.append((x, y))
    if not pairs:
        paired.note = "no seed with per-item test outcomes in both groups"
    else:
        paired.pooled = pooled_paired_difference(pairs, n_boot=report.n_boot, seed=0)
    return paired


def _compare_pada_with_rivals(report: Report) -> None:
    """PaDA's pooled paired difference against each other augmenting method of the same settings."""
    pada = report.efficacy_rows.get("pada")
    if pada is None:
        return
    reference = report.rows[pada]
    for method in RIVALS:
        found = [i for i, r in enumerate(report.rows) if r["method"] == method]
        if found:
            chosen = max(
                found, key=lambda i: (sum(report.rows[i][k] == reference[k] for k in report.keys[1:]), -i)
            )
            report.rivals.append((chosen, pair_groups(report, pada, chosen)))


def _compare_with_sft(report: Report) -> None:
    """Fill each non-sft row's ``paired`` comparison and its ``diff_vs_sft*`` columns."""
    for index, row in enumerate(report.rows):
        row.update({"paired": None, "diff_vs_sft": None, "diff_vs_sft_low": None, "diff_vs_sft_high": None})
        row.update({"diff_vs_sft_seeds": 0, "diff_vs_sft_contains_zero": None})
        if row["method"] == BASELINE:
            continue
        sft = _matching_sft(report, index)
        if sft is None:
            row["paired"] = Paired(None, note=f"no {BASELINE} group with the same settings")
            continue
        paired = pair_groups(report, index, sft)
        row["paired"] = paired
        if paired.pooled is None:
            continue
        row["diff_vs_sft"] = paired.pooled.estimate
        row["diff_vs_sft_low"] = paired.pooled.low
        row["diff_vs_sft_high"] = paired.pooled.high
        row["diff_vs_sft_seeds"] = len(paired.seeds)
        row["diff_vs_sft_contains_zero"] = not paired.pooled.excludes_zero


def _choose_efficacy_rows(report: Report) -> None:
    """Pick the row each efficacy-line method reports: the one matching the pada group's settings."""
    others = report.keys[1:]

    def candidates(method: str) -> list[int]:
        return [
            i for i, r in enumerate(report.rows) if r["method"] == method and r["diff_vs_sft"] is not None
        ]

    pada = candidates("pada")
    reference = report.rows[pada[0]] if pada else None
    for method, _ in EFFICACY:
        found = candidates(method)
        if not found:
            report.efficacy_rows[method] = None
            continue
        chosen = found[0]
        if reference is not None:
            chosen = max(found, key=lambda i: (sum(report.rows[i][k] == reference[k] for k in others), -i))
        report.efficacy_rows[method] = chosen
        if len(found) > 1:
            report.warnings.append(
                f"efficacy line: {method} has {len(found)} groups with a paired difference; "
                f"it reports {_label(report.rows[chosen], report.keys)}"
            )


def _signed(value: float | None) -> str:
    if value is None:
        return "na"
    return f"{round(value, 4) + 0.0:+.4f}"  # + 0.0 turns -0.0 into 0.0


def efficacy_line(report: Report) -> str:
    """The one-line summary a script reads: each method's pooled paired difference against sft.

    Args:
        report: From :func:`build_report`.

    Returns:
        ``efficacy: pada_minus_sft=<d> ci=[<low>,<high>] ceiling_minus_sft=<d> llm2llm_minus_sft=<d>
        generic_minus_sft=<d>``, numbers as ``+0.0123`` and ``na`` where a method has no paired runs.
    """
    parts = []
    for method, name in EFFICACY:
        index = report.efficacy_rows.get(method)
        pooled = report.rows[index]["paired"].pooled if index is not None else None
        parts.append(f"{name}_minus_sft={_signed(pooled.estimate if pooled else None)}")
        if method == "pada":
            low, high = (pooled.low, pooled.high) if pooled else (None, None)
            parts.append(f"ci=[{_signed(low)},{_signed(high)}]")
    return "efficacy: " + " ".join(parts)


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


def _budget(runs: Sequence[RunResult]) -> dict[str, int]:
    """How many augmenting rounds (those with an int ``budget`` and ``accepted``) filled their budget."""
    asked = [r for run in runs for r in run.rounds if _is_int(r.get("budget")) and _is_int(r.get("accepted"))]
    return {"budget_rounds": len(asked), "budget_filled": sum(r["accepted"] >= r["budget"] for r in asked)}


def pattern_effects_summary(runs: Sequence[RunResult]) -> dict[str, float | int | None] | None:
    """Summarize the ``pattern_effects`` and ``forgetting`` records of a group's rounds.

    Args:
        runs: A group's runs.

    Returns:
        None when no round has either record; else ``patterns`` (entries counted), ``own_failures``
        (summed), the mean of each of :data:`EFFECT_MEANS` over the entries that carry it, and each of
        :data:`FORGETTING` summed over the rounds that carry it. A value no record carries is None.
    """
    entries: list[dict[str, Any]] = []
    forgetting: list[dict[str, Any]] = []
    for run in runs:
        for r in run.rounds:
            effects = r.get("pattern_effects")
            if isinstance(effects, list):
                entries += [e for e in effects if isinstance(e, dict)]
            if isinstance(r.get("forgetting"), dict):
                forgetting.append(r["forgetting"])
    if not entries and not forgetting:
        return None
    summary: dict[str, float | int | None] = {"patterns": len(entries)}
    failures = [e["own_failures"] for e in entries if _is_int(e.get("own_failures"))]
    summary["own_failures"] = sum(failures) if failures else None
    for key in EFFECT_MEANS:
        values = [v for e in entries if (v := _num(e.get(key))) is not None]
        summary[key] = statistics.fmean(values) if values else None
    for key in FORGETTING:
        counts = [f[key] for f in forgetting if _is_int(f.get(key))]
        summary[key] = sum(counts) if counts else None
    return summary


def _fmt(mean: float | None, std: float | None, digits: int) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _num_cell(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _interval_cell(low: float | None, high: float | None, digits: int = 3, signed: bool = False) -> str:
    if low is None or high is None:
        return "–"
    spec = f"+.{digits}f" if signed else f".{digits}f"
    return f"[{low:{spec}}, {high:{spec}}]"


def _verdict(interval: Interval) -> str:
    return "interval excludes 0" if interval.excludes_zero else "**n.s.** (interval contains 0)"


def _table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def _method_table(report: Report) -> list[str]:
    head = [*report.keys, "runs"]
    for column, stat, with_std in STATS:
        head.append(f"{column} (mean ± std)" if with_std else f"{column} (mean)")
        if stat == "test_acc":
            head.append("test acc 95% interval")
    body = []
    for row in report.rows:
        cells = [str(row[k]) for k in report.keys] + [str(row["n"])]
        for _, stat, with_std in STATS:
            digits = 3 if with_std else 1
            cell = _fmt(row[f"{stat}_mean"], row[f"{stat}_std"] if with_std else None, digits)
            if stat in VAL_PARTS and row["val_parts_fallback"] and cell != "–":
                cell += " †"
            cells.append(cell)
            if stat == "test_acc":
                interval = _interval_cell(row["test_acc_ci_low"], row["test_acc_ci_high"])
                if interval != "–" and row["test_acc_ci_runs"] < row["n"]:
                    interval += f" ({row['test_acc_ci_runs']} of {row['n']} runs)"
                cells.append(interval)
        body.append(cells)
    if not report.rows:
        body.append(["–" for _ in head])
    lines = _table(head, body)
    if any(r["val_parts_fallback"] for r in report.rows):
        lines += [
            "",
            "† Some runs of the group record no separate validation parts (val_mine_acc, "
            "val_select_acc); their whole validation accuracy (val_acc) stands in.",
        ]
    return lines


def _paired_table(report: Report) -> list[str]:
    rows = [(i, r) for i, r in enumerate(report.rows) if r["method"] != BASELINE]
    if not rows:
        return []
    lines = [
        "",
        f"## Paired difference against {BASELINE} (same test items, runs paired by seed)",
        "",
        f"Difference = mean over the shared test items of correct(method) − correct({BASELINE}). "
        "The pooled row is the mean of the per-seed differences.",
        "",
    ]
    head = [*report.keys, "vs", "seed", "test items", "difference", "95% interval", "verdict"]
    body = []
    for _, row in rows:
        keys = [str(row[k]) for k in report.keys]
        paired: Paired = row["paired"]
        against = _label(report.rows[paired.sft_row], report.keys) if paired.sft_row is not None else "–"
        if paired.pooled is None:
            body.append([*keys, against, "–", "–", "–", "–", paired.note or "–"])
            continue
        for s in paired.seeds:
            iv = s.interval
            cells = [
                str(s.seed),
                str(s.items),
                _signed(iv.estimate),
                _interval_cell(iv.low, iv.high, 4, True),
            ]
            body.append([*keys, against, *cells, _verdict(iv)])
        pooled = paired.pooled
        items = str(sum(s.items for s in paired.seeds))
        cells = [f"pooled ({len(paired.seeds)} seeds)", items, _signed(pooled.estimate)]
        cells.append(_interval_cell(pooled.low, pooled.high, 4, True))
        body.append([*keys, against, *cells, _verdict(pooled)])
    lines += _table(head, body)
    lines += ["", "`" + efficacy_line(report) + "`"]
    return lines


def _rivals_table(report: Report) -> list[str]:
    if not report.rivals:
        return []
    lines = [
        "",
        "## PaDA against the other augmenting methods (same test items, runs paired by seed)",
        "",
        "Difference = mean over the shared test items of correct(pada) − correct(method), pooled over "
        "the seeds both have; positive: PaDA answered more test items right.",
        "",
    ]
    head = ["method", "seeds", "test items", "pada − method", "95% interval", "verdict"]
    body = []
    for index, paired in report.rivals:
        label = _label(report.rows[index], report.keys)
        if paired.pooled is None:
            body.append([label, "0", "–", "–", "–", paired.note or "–"])
            continue
        iv = paired.pooled
        items = str(sum(s.items for s in paired.seeds))
        interval = _interval_cell(iv.low, iv.high, 4, True)
        body.append([label, str(len(paired.seeds)), items, _signed(iv.estimate), interval, _verdict(iv)])
    return lines + _table(head, body)


def _augmentation_table(report: Report) -> list[str]:
    augmented = [r for r in report.rows if r["augmentation"]["generated"] or r["budget_rounds"]]
    if not augmented:
        return []
    lines = ["", "## Synthetic items (summed over each group's runs and rounds)", ""]
    head = [*report.keys, "generated", "accepted", "rejected by reason", "K per round", "budget filled"]
    body = []
    for row in augmented:
        aug = row["augmentation"]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(aug["rejected_by_reason"].items())) or "–"
        ks = ", ".join(map(str, aug["k"])) or "–"
        filled = f"{row['budget_filled']}/{row['budget_rounds']}" if row["budget_rounds"] else "–"
        counts = [str(aug["generated"]), str(aug["accepted"]), reasons, ks, filled]
        body.append([str(row[k]) for k in report.keys] + counts)
    lines += _table(head, body)
    lines += [
        "",
        "Budget filled: augmenting rounds whose accepted items reached the budget they asked for, "
        "out of all augmenting rounds of the group's runs.",
    ]
    return lines


def _arrow(before: Any, after: Any) -> str:
    if before is None and after is None:
        return "–"
    return f"{_num_cell(before)} → {_num_cell(after)}"


def _effects_table(report: Report) -> list[str]:
    rows = [r for r in report.rows if r["effects"]]
    if not rows:
        return []
    lines = [
        "",
        "## Did the strategies fix their patterns?",
        "",
        "Over every round's pattern_effects of a group's runs: patterns = entries counted; own failures = "
        "the patterns' own failing items (summed); own acc = accuracy on those items before → after the "
        "round that targeted them (means); near select / near test = accuracy on the validation-select and "
        "test items nearest each pattern, before → after (means). Forgetting: test items that went "
        "right → wrong and wrong → right, as each round records them, summed over rounds.",
        "",
    ]
    head = [*report.keys, "patterns", "own failures", "own acc", "near select acc", "near test acc"]
    head += ["near k (mean)", "test right → wrong", "test wrong → right", "test items compared"]
    body = []
    for row in rows:
        e = row["effects"]
        cells = [str(e["patterns"]), _num_cell(e["own_failures"])]
        cells.append(_arrow(e["own_acc_before"], e["own_acc_after"]))
        cells.append(_arrow(e["near_select_acc_before"], e["near_select_acc_after"]))
        cells.append(_arrow(e["near_test_acc_before"], e["near_test_acc_after"]))
        cells.append(_num_cell(e["near_k"], 1))
        cells += [_num_cell(e[k]) for k in ("right_to_wrong", "wrong_to_right", "test_items")]
        body.append([str(row[k]) for k in report.keys] + cells)
    return lines + _table(head, body)


def to_markdown(report: Report) -> str:
    """Render the report as Markdown: the tables, the warnings, then the incomplete runs."""
    lines = [
        f"# pada report: {report.root}",
        "",
        "Finished runs grouped by method and every varying override except the seed; "
        "mean ± sample std over a group's runs (no ± for a single run).",
        "",
        f"Intervals are 95% percentile bootstrap intervals ({report.n_boot} replicates, fixed seed 0) over "
        "test items: each replicate draws every run's test items again with replacement, separately per "
        f"run, and averages the per-run results. A difference against {BASELINE} is taken item by item "
        "on the same test items of the two runs with the same seed, and the same draw of items is used for "
        "both runs.",
        "",
        *_method_table(report),
        *_paired_table(report),
        *_rivals_table(report),
        *_augmentation_table(report),
        *_effects_table(report),
    ]
    if report.warnings:
        lines += ["", f"## Warnings ({len(report.warnings)})", ""]
        lines += [f"- {w}" for w in report.warnings]
    if report.incomplete:
        lines += ["", f"## Incomplete runs ({len(report.incomplete)}, not averaged)", ""]
        lines += ["| run folder | method | status |", "|---|---|---|"]
        for run in report.incomplete:
            rel = os.path.relpath(run.path, report.root)
            lines.append(f"| {rel} | {run.settings.get('method', '?')} | {run.status} |")
    return "\n".join(lines) + "\n"


CSV_EXTRA = [
    "test_acc_ci_low",
    "test_acc_ci_high",
    "test_acc_ci_runs",
    "diff_vs_sft",
    "diff_vs_sft_low",
    "diff_vs_sft_high",
    "diff_vs_sft_seeds",
    "diff_vs_sft_contains_zero",
    "budget_filled",
    "budget_rounds",
    "effects_patterns",
    "effects_own_failures",
    *(f"effects_{k}" for k in EFFECT_MEANS),
    *(f"effects_{k}" for k in FORGETTING),
]


def write_csv(report: Report, path: Path) -> Path:
    """Write one row per group (keys, ``n``, means, stds, intervals, sft differences) as CSV.

    Args:
        report: From :func:`build_report`.
        path: Where to write.

    Returns:
        ``path``.
    """
    columns = [*report.keys, "n"] + [f"{s}_{p}" for _, s, _ in STATS for p in ("mean", "std")] + CSV_EXTRA
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in report.rows:
            writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return path


def plot(report: Report, path: Path) -> Path | None:
    """Draw test accuracy per group with its 95% interval and, below, each pooled difference vs sft.

    Args:
        report: From :func:`build_report`.
        path: Where to write the PNG.

    Returns:
        ``path``, or None when no group has a test accuracy.
    """
    rows = [r for r in report.rows if r["test_acc_mean"] is not None]
    if not rows:
        return None
    from pada.tracking.plots import new_figure, save

    def labels(selected: Sequence[dict[str, Any]]) -> list[str]:
        return [_label(r, report.keys) + f"\n(n={r['n']})" for r in selected]

    def ticks(ax: Any, names: list[str]) -> None:
        rotate = len(names) > 3 or max(map(len, names)) > 20
        ax.set_xticks(
            range(len(names)), names, rotation=25 if rotate else 0, ha="right" if rotate else "center"
        )

    diffs = [r for r in report.rows if r["diff_vs_sft"] is not None]
    width = max(5.0, 1.1 * max(len(rows), len(diffs)) + 2)
    fig = new_figure(width, 8.5 if diffs else 4.5)
    ax = fig.add_subplot(2, 1, 1) if diffs else fig.add_subplot()
    means = [r["test_acc_mean"] for r in rows]
    # Asymmetric bars from the interval; a group without per-item outcomes gets none.
    below = [
        max(0.0, m - r["test_acc_ci_low"]) if r["test_acc_ci_low"] is not None else 0.0
        for m, r in zip(means, rows, strict=True)
    ]
    above = [
        max(0.0, r["test_acc_ci_high"] - m) if r["test_acc_ci_high"] is not None else 0.0
        for m, r in zip(means, rows, strict=True)
    ]
    ax.bar(range(len(rows)), means, yerr=[below, above], capsize=4, color="tab:blue")
    ticks(ax, labels(rows))
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy\n(mean over seeds; 95% bootstrap interval over test items)", fontsize=10)
    if diffs:
        ax2 = fig.add_subplot(2, 1, 2)
        for x, r in enumerate(diffs):
            d = r["diff_vs_sft"]
            color = "tab:gray" if r["diff_vs_sft_contains_zero"] else "tab:green"
            err = [[d - r["diff_vs_sft_low"]], [r["diff_vs_sft_high"] - d]]
            ax2.errorbar([x], [d], yerr=err, fmt="o", capsize=5, color=color)
            if r["diff_vs_sft_contains_zero"]:
                ax2.annotate(
                    "n.s.", (x, r["diff_vs_sft_high"]), textcoords="offset points", xytext=(0, 4), ha="center"
                )
        ax2.axhline(0.0, color="black", linewidth=0.8)
        ticks(ax2, [_label(r, report.keys) + f"\n({r['diff_vs_sft_seeds']} seeds paired)" for r in diffs])
        ax2.set_xlim(-0.5, len(diffs) - 0.5)
        ax2.set_ylabel(f"test accuracy − {BASELINE}")
        title = f"Paired difference against {BASELINE}\n(pooled over seeds; 95% interval; grey: n.s.)"
        ax2.set_title(title, fontsize=10)
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the tables, write the report files, and end with the efficacy line."""
    parser = argparse.ArgumentParser(
        prog="python -m pada.report",
        description="Compare the runs of a multirun or sweep folder: mean ± std and 95% intervals "
        "per method and setting, and each method's paired difference against sft.",
    )
    parser.add_argument(
        "folder", type=Path, help="e.g. outputs/multirun/scireason/<date> or outputs/sweeps/<name>/<date>"
    )
    parser.add_argument(
        "--boot",
        type=_positive,
        default=DEFAULT_BOOT,
        metavar="N",
        help=f"bootstrap replicates per interval (default {DEFAULT_BOOT})",
    )
    args = parser.parse_args(argv)
    root: Path = args.folder
    if not root.is_dir():
        print(f"pada.report: error: {root} is not a folder", file=sys.stderr)
        return 2
    report = build_report(root, n_boot=args.boot)
    if not report.rows and not report.incomplete:
        print(f"pada.report: error: no run folders ({METRICS} or .hydra/) below {root}", file=sys.stderr)
        return 2
    paths = write_report(report)
    print(to_markdown(report))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    print(efficacy_line(report))  # the last line, for scripts
    return 0


if __name__ == "__main__":
    sys.exit(main())
