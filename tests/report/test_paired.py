"""pada.report's intervals, paired differences against sft, budget and pattern-effect tables.

Fixtures are tiny run folders (metrics.json + outcomes.json) whose answers are known by construction.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pada.report import build_report, efficacy_line, main, to_markdown

NUM = r"([+-]\d\.\d{4}|na)"
EFFICACY = re.compile(
    rf"^efficacy: pada_minus_sft=(?P<pada>{NUM}) ci=\[(?P<low>{NUM}),(?P<high>{NUM})\]"
    rf" ceiling_minus_sft=(?P<ceiling>{NUM}) llm2llm_minus_sft=(?P<llm2llm>{NUM})"
    rf" generic_minus_sft=(?P<generic>{NUM})$"
)


def _marks(n: int, right: set[int]) -> str:
    return "".join("1" if i in right else "0" for i in range(n))


def _run(
    root: Path,
    name: str,
    method: str,
    seed: int,
    marks: str | None,
    *,
    ids: list[str] | None = None,
    best_round: int = 1,
    rounds: list[dict[str, Any]] | None = None,
    final: dict[str, Any] | None = None,
    extra: tuple[str, ...] = (),
    records: bool = False,
) -> Path:
    """A finished run: metrics.json and, unless marks is None, its best round's test outcomes."""
    run = root / name
    run.mkdir(parents=True)
    ids = ids if ids is not None else [f"t{i:04d}" for i in range(len(marks or ""))]
    acc = marks.count("1") / len(marks) if marks else 0.5
    metrics = {
        "experiment": "scireason",
        "method": method,
        "seed": seed,
        "status": "finished",
        "config_overrides": [f"method={method}", f"seed={seed}", *extra],
        "rounds": rounds if rounds is not None else [{"round": 0}, {"round": 1}],
        "final": {"best_round": best_round, "train_acc": acc + 0.1, "val_acc": acc, "test_acc": acc}
        | (final or {}),
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    if marks is None:
        return run
    if records:  # an old run: only the evaluation records of the best round
        folder = run / f"round_{best_round}" / "evaluate"
        folder.mkdir(parents=True)
        pairs = zip(ids, marks, strict=True)
        lines = [json.dumps({"id": i, "correct": m == "1", "split": "test"}) for i, m in pairs]
        (folder / "test_records.jsonl").write_text("\n".join(lines) + "\n")
        return run
    wrong_round = "0" * len(marks)  # another round's outcomes, which must not be read
    outcomes = {
        "ids": {"test": ids, "validation": ["v0", "v1"]},
        "rounds": [
            {"round": r, "test": marks if r == best_round else wrong_round, "validation": "01"}
            for r in range(best_round + 2)
        ],
    }
    (run / "outcomes.json").write_text(json.dumps(outcomes))
    return run


N = 32
SFT_RIGHT = set(range(10))
EXTRA = {0: 4, 1: 8, 2: 12}  # pada is right on this many more items than sft, per seed


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """sft, pada (k more right items per seed), llm2llm (same outcomes as sft) over 3 seeds."""
    for seed, k in EXTRA.items():
        _run(tmp_path, f"sft-{seed}", "sft", seed, _marks(N, SFT_RIGHT))
        _run(tmp_path, f"pada-{seed}", "pada", seed, _marks(N, SFT_RIGHT | set(range(10, 10 + k))))
        _run(tmp_path, f"llm2llm-{seed}", "llm2llm", seed, _marks(N, SFT_RIGHT))
    return tmp_path


def _row(report: Any, method: str) -> dict[str, Any]:
    return next(r for r in report.rows if r["method"] == method)


def test_pooled_difference_is_exact_and_deterministic(sweep: Path) -> None:
    report = build_report(sweep, n_boot=2000)
    pada = _row(report, "pada")
    paired = pada["paired"]
    assert [s.seed for s in paired.seeds] == [0, 1, 2]
    assert [s.interval.estimate for s in paired.seeds] == [0.125, 0.25, 0.375]
    assert [s.items for s in paired.seeds] == [N, N, N]
    assert paired.pooled.estimate == 0.25
    assert paired.pooled.contains(0.25) and paired.pooled.excludes_zero
    assert pada["diff_vs_sft"] == 0.25 and pada["diff_vs_sft_contains_zero"] is False
    again = _row(build_report(sweep, n_boot=2000), "pada")["paired"]
    assert (again.pooled.low, again.pooled.high) == (paired.pooled.low, paired.pooled.high)
    assert [s.interval for s in again.seeds] == [s.interval for s in paired.seeds]


def test_test_accuracy_interval_is_stratified_by_run(sweep: Path) -> None:
    report = build_report(sweep, n_boot=2000)
    sft = _row(report, "sft")
    assert sft["test_acc_mean"] == pytest.approx(10 / 32)
    assert sft["test_acc_ci_runs"] == 3
    assert sft["test_acc_ci_low"] < 10 / 32 < sft["test_acc_ci_high"]
    assert sft["test_acc_std"] == pytest.approx(0.0)  # the std over seeds is kept beside it


def test_identical_outcomes_give_zero_marked_not_significant(sweep: Path) -> None:
    report = build_report(sweep, n_boot=500)
    llm2llm = _row(report, "llm2llm")
    assert llm2llm["diff_vs_sft"] == 0.0
    assert llm2llm["paired"].pooled.contains(0.0)
    assert llm2llm["diff_vs_sft_contains_zero"] is True
    md = to_markdown(report)
    pooled_rows = [line for line in md.splitlines() if line.startswith("| llm2llm |") and "pooled" in line]
    assert len(pooled_rows) == 1 and "n.s." in pooled_rows[0] and "interval contains 0" in pooled_rows[0]
    pada_pooled = next(line for line in md.splitlines() if line.startswith("| pada |") and "pooled" in line)
    assert "+0.2500" in pada_pooled and "n.s." not in pada_pooled


def test_swapped_items_give_zero_with_a_wide_interval(tmp_path: Path) -> None:
    # Right on 6 items sft gets wrong and wrong on 6 it gets right: no net difference.
    for seed in (0, 1):
        _run(tmp_path, f"sft-{seed}", "sft", seed, _marks(40, set(range(20))))
        _run(tmp_path, f"gen-{seed}", "generic_synthetic", seed, _marks(40, set(range(6, 26))))
    row = _row(build_report(tmp_path, n_boot=1000), "generic_synthetic")
    pooled = row["paired"].pooled
    assert pooled.estimate == 0.0
    assert pooled.low < 0.0 < pooled.high


def test_right_wherever_sft_is_wrong_excludes_zero(tmp_path: Path) -> None:
    n = 2000
    for seed in (0, 1):
        _run(tmp_path, f"sft-{seed}", "sft", seed, _marks(n, set(range(0, n, 2))))
        _run(tmp_path, f"ceiling-{seed}", "real_data_ceiling", seed, "1" * n)
    row = _row(build_report(tmp_path, n_boot=1000), "real_data_ceiling")
    assert row["diff_vs_sft"] == 0.5
    assert row["paired"].pooled.excludes_zero and row["diff_vs_sft_low"] > 0.45


def test_efficacy_line_is_the_last_line_and_has_na(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--boot", "300"]) == 0
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    match = EFFICACY.match(last)
    assert match, last
    assert match["pada"] == "+0.2500"
    assert float(match["low"]) < 0.25 < float(match["high"])
    assert match["llm2llm"] == "+0.0000"  # never -0.0000
    assert match["ceiling"] == "na" and match["generic"] == "na"
    assert "300 replicates" in (sweep / "report.md").read_text()
    rows = {r["method"]: r for r in csv.DictReader((sweep / "report.csv").open())}
    assert float(rows["pada"]["diff_vs_sft"]) == 0.25
    assert rows["pada"]["diff_vs_sft_seeds"] == "3"
    assert rows["sft"]["diff_vs_sft"] == ""
    assert float(rows["sft"]["test_acc_ci_low"]) < float(rows["sft"]["test_acc_ci_high"])
    assert (sweep / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_without_outcomes_everything_is_na_but_means_remain(tmp_path: Path) -> None:
    for seed in (0, 1):
        _run(tmp_path, f"sft-{seed}", "sft", seed, None)
        _run(tmp_path, f"pada-{seed}", "pada", seed, None)
    report = build_report(tmp_path, n_boot=100)
    line = efficacy_line(report)
    assert line == (
        "efficacy: pada_minus_sft=na ci=[na,na] ceiling_minus_sft=na llm2llm_minus_sft=na "
        "generic_minus_sft=na"
    )
    assert EFFICACY.match(line)
    md = to_markdown(report)
    assert "| pada | 2 | 0.500 ± 0.000 | – |" in md
    assert "no seed with per-item test outcomes" in md
    assert "2 of 2 runs have no per-item test outcomes" in md


def test_old_runs_fall_back_to_test_records(tmp_path: Path) -> None:
    _run(tmp_path, "sft-0", "sft", 0, _marks(20, {0, 1}), records=True)
    _run(tmp_path, "pada-0", "pada", 0, _marks(20, {0, 1, 2, 3, 4}), best_round=2)
    report = build_report(tmp_path, n_boot=200)
    assert _row(report, "pada")["diff_vs_sft"] == pytest.approx(3 / 20)
    assert report.members[0][0].outcome_source.endswith("test_records.jsonl")
    assert report.members[1][0].outcome_source == "outcomes.json"


def test_different_test_ids_use_the_intersection_and_warn(tmp_path: Path) -> None:
    ids = [f"t{i}" for i in range(10)]
    _run(tmp_path, "sft-0", "sft", 0, "1100000000", ids=ids)
    # pada lacks t0 and has an extra t99; it is right on t1..t4.
    _run(tmp_path, "pada-0", "pada", 0, "1111000000", ids=ids[1:] + ["t99"])
    report = build_report(tmp_path, n_boot=200)
    seed = _row(report, "pada")["paired"].seeds[0]
    assert seed.items == 9
    assert seed.interval.estimate == pytest.approx(3 / 9)  # t2, t3, t4 gained; t1 right in both
    assert any("test ids differ" in w and "9 shared" in w for w in report.warnings)


def test_a_seed_without_a_partner_is_named_under_the_group_that_has_it(tmp_path: Path) -> None:
    for seed in (0, 1):
        _run(tmp_path, f"sft-{seed}", "sft", seed, _marks(N, SFT_RIGHT))
    _run(tmp_path, "pada-0", "pada", 0, _marks(N, SFT_RIGHT))
    _run(tmp_path, "pada-2", "pada", 2, _marks(N, SFT_RIGHT))
    warnings = build_report(tmp_path, n_boot=200).warnings
    assert "sft: seeds [1] have no partner run in the pada group" in warnings
    assert "pada: seeds [2] have no partner run in the sft group" in warnings


def test_sft_group_with_matching_settings_is_used(tmp_path: Path) -> None:
    for seed in (0, 1):
        for exp, right in (("a", set(range(5))), ("b", set(range(10)))):
            _run(tmp_path, f"sft-{exp}-{seed}", "sft", seed, _marks(20, right), extra=(f"data.split={exp}",))
        _run(tmp_path, f"pada-{seed}", "pada", seed, _marks(20, set(range(12))), extra=("data.split=b",))
        # An override only pada takes does not keep it from its sft group.
        _run(
            tmp_path,
            f"pada-k-{seed}",
            "pada",
            seed,
            _marks(20, set(range(14))),
            extra=("data.split=b", "augment.k=8"),
        )
    report = build_report(tmp_path, n_boot=200)
    assert report.keys == ["method", "augment.k", "data.split"]
    pada = [r for r in report.rows if r["method"] == "pada"]
    assert [(r["augment.k"], r["diff_vs_sft"]) for r in pada] == [
        ("", pytest.approx(0.1)),
        ("8", pytest.approx(0.2)),
    ]
    for r in pada:
        assert report.rows[r["paired"].sft_row]["data.split"] == "b"
    assert efficacy_line(report).startswith("efficacy: pada_minus_sft=+0.1000 ")
    assert any("efficacy line: pada has 2 groups" in w for w in report.warnings)


def test_budget_filled_counts_augmenting_rounds(tmp_path: Path) -> None:
    rounds = [
        {"round": 0},  # the plain fine-tune: no budget, not counted
        {"round": 1, "budget": 10, "accepted": 10, "generated": 12},
        {"round": 2, "budget": 10, "accepted": 7, "generated": 9},
        {"round": 3, "budget": 5, "accepted": 6, "generated": 6},
    ]
    for seed in (0, 1):
        _run(tmp_path, f"sft-{seed}", "sft", seed, _marks(10, {0}))
        _run(tmp_path, f"pada-{seed}", "pada", seed, _marks(10, {0, 1}), rounds=rounds)
    report = build_report(tmp_path, n_boot=100)
    pada = _row(report, "pada")
    assert (pada["budget_filled"], pada["budget_rounds"]) == (4, 6)
    assert _row(report, "sft")["budget_rounds"] == 0
    section = to_markdown(report).split("## Synthetic items")[1]
    assert "| pada | 54 | 46 | – | – | 4/6 |" in section
    assert "| sft |" not in section


def test_pattern_effects_table_survives_missing_keys(tmp_path: Path) -> None:
    full = {
        "pattern_id": "p1",
        "name": "units",
        "from_round": 1,
        "own_failures": 6,
        "own_acc_after": 0.5,
        "near_select_acc_before": 0.4,
        "near_select_acc_after": 0.6,
        "near_test_acc_before": 0.3,
        "near_test_acc_after": 0.5,
        "near_k": 10,
    }
    sparse = {"pattern_id": "p2", "own_acc_after": 0.7}
    rounds = [
        {"round": 0},
        {
            "round": 1,
            "pattern_effects": [full, sparse, "junk"],
            "forgetting": {"test_items": 10, "right_to_wrong": 1},
        },
        {
            "round": 2,
            "pattern_effects": None,
            "forgetting": {"test_items": 10, "right_to_wrong": 2, "wrong_to_right": 3},
        },
    ]
    _run(tmp_path, "sft-0", "sft", 0, _marks(10, {0}))
    _run(tmp_path, "pada-0", "pada", 0, _marks(10, {0, 1}), rounds=rounds)
    _run(tmp_path, "llm2llm-0", "llm2llm", 0, _marks(10, {0}), rounds=[{"round": 1, "pattern_effects": [{}]}])
    report = build_report(tmp_path, n_boot=100)
    effects = _row(report, "pada")["effects"]
    assert effects["patterns"] == 2 and effects["own_failures"] == 6
    assert effects["own_acc_after"] == pytest.approx(0.6) and effects["own_acc_before"] is None
    assert effects["near_select_acc_before"] == pytest.approx(0.4)
    assert (effects["right_to_wrong"], effects["wrong_to_right"], effects["test_items"]) == (3, 3, 20)
    assert _row(report, "sft")["effects"] is None
    section = to_markdown(report).split("## Did the strategies fix their patterns?")[1]
    assert "| pada | 2 | 6 | – → 0.600 | 0.400 → 0.600 | 0.300 → 0.500 | 10.0 | 3 | 3 | 20 |" in section
    assert "| llm2llm | 1 | – | – | – | – | – | – | – | – |" in section
    assert "| sft |" not in section


def test_validation_parts_and_train_minus_test(tmp_path: Path) -> None:
    parts = {"val_mine_acc": 0.4, "val_select_acc": 0.6, "train_acc": 0.9, "test_acc": 0.5}
    _run(tmp_path, "pada-0", "pada", 0, None, final=parts)
    _run(tmp_path, "sft-0", "sft", 0, None, final={"train_acc": 0.8, "test_acc": 0.5, "val_acc": 0.45})
    report = build_report(tmp_path, n_boot=100)
    pada, sft = _row(report, "pada"), _row(report, "sft")
    assert (pada["val_mine_acc_mean"], pada["val_select_acc_mean"]) == (0.4, 0.6)
    assert pada["train_minus_test_mean"] == pytest.approx(0.4)
    assert (sft["val_mine_acc_mean"], sft["val_select_acc_mean"]) == (0.45, 0.45)  # val_acc stands in
    md = to_markdown(report)
    assert "0.450 †" in md and "val_acc) stands in" in md


def test_boot_flag_rejects_zero(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--boot", "0"])


def test_pada_is_compared_with_the_other_augmenting_methods(sweep: Path) -> None:
    report = build_report(sweep, n_boot=2000)
    [(index, paired)] = report.rivals  # llm2llm is the only other augmenting method in the sweep
    assert report.rows[index]["method"] == "llm2llm"
    # llm2llm has sft's outcomes, so PaDA minus llm2llm is PaDA minus sft, seed by seed.
    assert [s.interval.estimate for s in paired.seeds] == [0.125, 0.25, 0.375]
    assert paired.pooled.estimate == 0.25 and paired.pooled.excludes_zero
    md = to_markdown(report)
    assert "## PaDA against the other augmenting methods" in md
    assert "| llm2llm | 3 | 96 | +0.2500 |" in md
