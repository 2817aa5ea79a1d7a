"""``metrics.json`` and ``summary.md``: a run's numbers for machines and for people.

``metrics.json`` is the contract with :mod:`pada.report` and :mod:`pada.sweep`; ``summary.md`` is
what a person opens first. Both are rewritten after every round, so a run killed half way still says
how far it got.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pada.io import atomic_write_text, write_json
from pada.provenance import describe

if TYPE_CHECKING:
    from pada.loop.leakage import LeakageReport


def _selection_acc(r: dict[str, Any]) -> float:
    # The select part of validation when it is split off (older runs: all of validation).
    return r["val_select_acc"] if r.get("val_select_acc") is not None else r["val_acc"]


def best_round(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The round with the highest accuracy on the select part of validation (the earliest among ties)."""
    evaluated = [r for r in rounds if r.get("val_acc") is not None]
    return max(evaluated, key=lambda r: (_selection_acc(r), -r["round"])) if evaluated else None


def final_metrics(rounds: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """The reported result: the best round on validation, scored on test, plus whole-run costs."""
    best = best_round(rounds) or {}
    teacher = [r.get("teacher", {}) for r in rounds]
    return {
        "best_round": best.get("round"),
        "train_acc": best.get("train_acc"),
        "val_acc": best.get("val_acc"),
        "val_mine_acc": best.get("val_mine_acc"),
        "val_select_acc": best.get("val_select_acc"),
        "test_acc": best.get("test_acc"),
        "gap": best.get("gap"),
        "base_val_acc": rounds[0].get("base_val_acc") if rounds else None,
        "synthetic_items": sum(r.get("accepted", 0) for r in rounds),
        "teacher_calls": sum(t.get("calls", 0) for t in teacher),
        "teacher_tokens": sum(t.get("input_tokens", 0) + t.get("output_tokens", 0) for t in teacher),
        "wall_s": round(wall_s, 1),
    }


def write_metrics(
    path: Path, header: dict[str, Any], rounds: list[dict[str, Any]], final: dict[str, Any]
) -> None:
    """Write ``metrics.json`` (see :mod:`pada.report` for its readers)."""
    write_json(path, {**header, "rounds": rounds, "final": final})


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _leakage_lines(report: LeakageReport) -> list[str]:
    if report.clean:
        return [
            f"None of the {report.checked} augmented training items repeats validation or test text "
            f"(no shared {report.n}-gram, no duplicate question). Details: `leakage.json`."
        ]
    return [
        f"**{len(report.leaks)} of {report.checked} augmented training items repeat validation or test "
        f"text** (a duplicate question or a shared {report.n}-gram). They were kept, not dropped: see "
        "`leakage.json`.",
        "",
        *[f"- {leak.describe(report.n)}" for leak in report.leaks],
    ]


def _effect_lines(rounds: list[dict[str, Any]]) -> list[str]:
    """The "did each strategy fix its pattern?" table and the forgetting counts, where known."""
    lines: list[str] = []
    effects = [e for r in rounds for e in r.get("pattern_effects") or []]
    if effects:
        lines += [
            "",
            "## Did each strategy fix its pattern?",
            "",
            "Accuracy in the next round on the pattern's own failures (all wrong when it was drawn) and "
            "on the `select` and test items nearest to it (by the embedder), before -> after.",
            "",
            "| round | pattern | own failures right after | nearest select | nearest test |",
            "|---|---|---|---|---|",
        ]
        for e in effects:
            lines.append(
                f"| {e['from_round']} -> {e['from_round'] + 1} | {str(e.get('name', ''))[:60]} | "
                f"{_pct(e.get('own_acc_after'))} of {e.get('own_failures', 0)} | "
                f"{_pct(e.get('near_select_acc_before'))} -> {_pct(e.get('near_select_acc_after'))} | "
                f"{_pct(e.get('near_test_acc_before'))} -> {_pct(e.get('near_test_acc_after'))} |"
            )
    moved = [r for r in rounds if r.get("forgetting")]
    if moved:
        lines += ["", "## Forgetting (test items)", ""]
        for r in moved:
            f = r["forgetting"]
            lines.append(
                f"- round {r['round'] - 1} -> {r['round']}: {f['right_to_wrong']} of {f['test_items']} "
                f"right before and wrong after; {f['wrong_to_right']} wrong before and right after"
            )
    return lines


def write_summary(
    path: Path,
    header: dict[str, Any],
    rounds: list[dict[str, Any]],
    final: dict[str, Any],
    notes: list[str],
    leakage: LeakageReport | None = None,
) -> None:
    """Write ``summary.md``: the result, each round's numbers and stage times, and what the agents found.

    Args:
        path: Where to write.
        header: The run's identity and status (``experiment``, ``method``, ``seed``, ``status``).
        rounds: Per-round metrics.
        final: :func:`final_metrics`' record.
        notes: What the loop wants a reader to know (early stops, unmet quotas).
        leakage: The whole-run leakage check, once the run is finished; a leak is flagged at the top.
    """
    lines = [
        f"# pada run: {header['experiment']} / {header['method']} / seed {header['seed']}",
        "",
    ]
    if leakage is not None and not leakage.clean:
        lines += [
            f"> **WARNING: leakage.** {len(leakage.leaks)} augmented training item(s) repeat validation "
            "or test text, so validation and test accuracy may be inflated. See the leakage section "
            "and `leakage.json`.",
            "",
        ]
    lines += [
        f"Status: **{header['status']}**. Best round on validation: {final.get('best_round')}, "
        f"test accuracy {_pct(final.get('test_acc'))} (validation {_pct(final.get('val_acc'))}, "
        f"generalization gap {_pct(final.get('gap'))}). Synthetic items accepted: "
        f"{final.get('synthetic_items', 0)}. Teacher calls: {final.get('teacher_calls', 0)}, "
        f"tokens: {final.get('teacher_tokens', 0)}. Wall time: {final.get('wall_s', 0):.0f} s.",
        "",
    ]
    if header.get("runtime"):
        lines += [f"Ran on: {describe(header['runtime'])} (details under `runtime` in `metrics.json`).", ""]
    if header.get("skipped_items"):
        lines += [
            f"Data: {header['skipped_items']} invalid line(s) of the task file were skipped "
            "(`dataset.loader.invalid_items=skip`); each is listed with its file, line and reason in "
            "`data/skipped.jsonl`.",
            "",
        ]
    attempt = final.get("attempt") or {}
    if attempt.get("number", 1) > 1:
        where = (
            f"resumed from `{attempt['resumed_from']}`"
            if attempt.get("resumed_from")
            else "in this run folder"
        )
        before = attempt.get("stages_finished_before")
        reused = (
            "no stage had finished before, so nothing was reused"
            if before == 0
            else f"{before} stage(s) had finished before and were not rerun"
            if before
            else "finished stages were not rerun"
        )
        lines += [
            f"Attempt {attempt['number']}, {where}: {reused}. This attempt paid for "
            f"{attempt.get('teacher_calls_paid', 0)} teacher calls and served "
            f"{attempt.get('teacher_cache_hits', 0)} from the run's cache.",
            "",
        ]
    lines += [
        "## Rounds",
        "",
        "Validation is mined for patterns on its `mine` part and chooses the round on its `select` part "
        "(the same items when `dataset.select_size=0`).",
        "",
        "| round | train | validation (mine / select) | test | gap | mine failures | K | generated | "
        "accepted / budget | calls |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        budget = f" / {r['budget']}" if r.get("budget") is not None else ""
        lines.append(
            f"| {r['round']} | {_pct(r.get('train_acc'))} | {_pct(r.get('val_acc'))} "
            f"({_pct(r.get('val_mine_acc'))} / {_pct(r.get('val_select_acc'))}) | "
            f"{_pct(r.get('test_acc'))} | {_pct(r.get('gap'))} | {r.get('val_failures', '-')} | "
            f"{r.get('k', '-')} | {r.get('generated', '-')} | {r.get('accepted', '-')}{budget} | "
            f"{r.get('teacher', {}).get('calls', '-')} |"
        )
    lines += _effect_lines(rounds)
    lines += ["", "## Time per stage (seconds)", ""]
    for r in rounds:
        stages = r.get("stage_seconds", {})
        if stages:
            lines.append(f"- round {r['round']}: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    rejections = {}
    for r in rounds:
        for reason, n in r.get("rejected_by_reason", {}).items():
            rejections[reason] = rejections.get(reason, 0) + n
    if rejections:
        lines += ["", "## Rejected synthetic items by reason", ""]
        lines += [f"- {reason}: {n}" for reason, n in sorted(rejections.items())]
    if leakage is not None:
        lines += ["", "## Leakage check", "", *_leakage_lines(leakage)]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += [
        "",
        "Artifacts: `round_<t>/<stage>/` (each with a `manifest.json`), `data/split_manifest.json`, "
        "`export/augmented.jsonl`, `metrics.json`" + (", `leakage.json`." if leakage is not None else "."),
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
