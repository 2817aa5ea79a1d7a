"""``python -m pada.calibrate``: the gate's acceptance of true-label and corrupted-label items."""

from __future__ import annotations

import json
import random

import pytest

from pada.calibrate import acceptance, corrupt, main
from pada.tasks.schema import MCItem
from tests.fixtures.teacher_server import serve


def test_corrupt_marks_another_option_and_keeps_the_rest():
    item = MCItem("t/1", "Which gas do plants take in?", ("oxygen", "carbon dioxide", "argon"), 1)
    rng = random.Random(0)
    for _ in range(20):
        bad = corrupt(item, rng)
        assert bad.answer != item.answer and 0 <= bad.answer < 3
        assert (bad.id, bad.question, bad.choices) == (item.id, item.question, item.choices)


def test_acceptance_counts_endorsed_scores_at_or_above_the_threshold():
    rows = [{"score": s} for s in (0.0, 0.2, 0.5, 0.9)]  # 0.0: the judge's best option was another
    assert acceptance(rows, 0.0) == 0.75
    assert acceptance(rows, 0.5) == 0.5
    assert acceptance(rows, 0.95) == 0.0
    assert acceptance([], 0.5) == 0.0


@pytest.mark.assets  # the real scireason data
def test_calibration_over_http_pays_one_call_per_item(tmp_path, capsys):
    with serve() as teacher:
        code = main(["--n", "12", "--thresholds", "0.5,0.9", "--out", str(tmp_path), "experiment=smoke",
                     "teacher=openai_compatible", f"teacher.api_base={teacher.api_base}",
                     "teacher.model=teacher", "teacher.num_retries=0"])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("calibration: n=12 threshold=0.3 accept_true=")  # the configured one
    # The blind solve does not see the label: the corrupted version is served from the cache.
    assert lines[-1].endswith("judge_calls=12") and len(teacher.calls) == 12
    [result] = [json.loads(p.read_text()) for p in tmp_path.glob("*/calibration.json")]
    # The fixture judge answers A to items it did not write: acceptance = share labelled A, and a
    # corrupted label is never the true one.
    true_a = sum(r["label"] == "A" for r in result["rows"]["true"]) / 12
    assert [r["threshold"] for r in result["table"]] == [0.3, 0.5, 0.9]
    assert result["table"][0]["accept_true"] == pytest.approx(true_a)
    for t, c in zip(result["rows"]["true"], result["rows"]["corrupt"], strict=True):
        assert t["id"] == c["id"] and t["label"] != c["label"] and t["judge"] == c["judge"] == "A"
