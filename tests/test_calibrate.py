"""``python -m pada.calibrate``: the gate's acceptance of true-label and corrupted-label items."""

from __future__ import annotations

import json
import random

import pytest

from pada.calibrate import acceptance, corrupt, main
from pada.tasks.answers import answers_match
from pada.tasks.schema import MCItem, QAItem
from tests.fixtures.teacher_server import serve


def test_corrupt_marks_another_option_and_keeps_the_rest():
    item = MCItem("t/1", "Which gas do plants take in?", ("oxygen", "carbon dioxide", "argon"), 1)
    rng = random.Random(0)
    for _ in range(20):
        bad = corrupt(item, rng)
        assert bad.answer != item.answer and 0 <= bad.answer < 3
        assert (bad.id, bad.question, bad.choices) == (item.id, item.question, item.choices)


def test_corrupt_gives_a_free_form_item_a_wrong_final_answer():
    rng = random.Random(0)
    whole = QAItem("t/2", "How many legs do 3 cats have?", "12", solution="3 x 4 = 12.")
    half = QAItem("t/3", "Half of 3?", "1.5")
    word = QAItem("t/4", "Capital of Peru?", "Lima")
    others = [word, QAItem("t/5", "Capital of Chile?", "Santiago"), QAItem("t/6", "Same?", "lima")]
    for _ in range(20):
        for item in (whole, half, word):
            bad = corrupt(item, rng, others)
            assert not answers_match(bad.answer, item.answer), (item.answer, bad.answer)
            assert (bad.id, bad.question, bad.solution) == (item.id, item.question, item.solution)
    assert corrupt(word, rng, others).answer == "Santiago"  # "lima" agrees with "Lima": never chosen
    with pytest.raises(ValueError, match="no other answer"):
        corrupt(word, rng, [word])


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


@pytest.mark.assets  # the real GSM8K data
def test_free_form_calibration_solves_blind_once_per_item(tmp_path, capsys):
    with serve() as teacher:
        code = main(["--n", "8", "--thresholds", "0.5", "--out", str(tmp_path), "experiment=smoke",
                     "dataset=gsm8k", "teacher=openai_compatible", f"teacher.api_base={teacher.api_base}",
                     "teacher.model=teacher", "teacher.num_retries=0"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("judge_calls=8")
    assert len(teacher.calls) == 8  # the corrupted version's blind solve is a cache hit
    [result] = [json.loads(p.read_text()) for p in tmp_path.glob("*/calibration.json")]
    for t, c in zip(result["rows"]["true"], result["rows"]["corrupt"], strict=True):
        assert t["id"] == c["id"] and t["judge"] == c["judge"]  # the same blind answer
        assert not answers_match(t["label"], c["label"])  # a wrong final answer was marked
