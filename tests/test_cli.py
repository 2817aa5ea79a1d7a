"""The command line as a user meets it: help, printed config, and short errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def pada(*args: str, tmp: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pada", f"hydra.run.dir={tmp}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_the_groups(tmp_path: Path) -> None:
    res = pada("--help", tmp=tmp_path)
    assert res.returncode == 0
    for group in ("model:", "dataset:", "teacher:", "judge:", "embedder:", "pattern_mining:", "method:"):
        assert group in res.stdout


def test_cfg_job_prints_the_composed_config(tmp_path: Path) -> None:
    for spelling in ("+experiment=scireason", "experiment=scireason"):
        res = pada(spelling, "--cfg", "job", tmp=tmp_path)
        assert res.returncode == 0, res.stderr
        assert "experiment_name: scireason" in res.stdout


def test_negative_size_is_a_short_error(tmp_path: Path) -> None:
    res = pada("+experiment=smoke", "dataset.train_size=-5", tmp=tmp_path)
    assert res.returncode != 0
    assert "dataset.train_size" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_group_option_is_a_short_error(tmp_path: Path) -> None:
    res = pada("+experiment=smoke", "method=magic", tmp=tmp_path)
    assert res.returncode != 0
    assert "method/magic" in res.stderr and "pada" in res.stderr
    assert "Traceback" not in res.stderr


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    res = pada("+experiment=smoke", "trainer.lr=fast", tmp=tmp_path)
    assert res.returncode != 0
    assert "trainer.lr" in res.stderr


BAD_FILES = {
    "bad_json": (
        b'{"question": "Q?", "choices": ["a", "b"], "answer": "a"}\n{"question": "R?", \n',
        "line 2",
    ),
    "missing_field": (b'{"question": "Q?", "answer": "a"}\n', '"choices"'),
    "wrong_type": (b'{"question": "Q?", "choices": "a, b", "answer": "a"}\n', '"choices"'),
    "empty": (b"", "no items"),
    "duplicate_ids": (
        b'{"id": "x", "question": "Q?", "choices": ["a", "b"], "answer": "a"}\n'
        b'{"id": "x", "question": "R?", "choices": ["a", "b"], "answer": "b"}\n',
        "line 2",
    ),
    "answer_not_a_choice": (
        b'{"question": "Q?", "choices": ["Rome", "Oslo"], "answer": "Paris"}\n',
        '"answer"',
    ),
    "not_utf8": (b'{"question": "Q\xff?", "choices": ["a", "b"], "answer": "a"}\n', "line 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_jsonl_is_a_short_error_naming_file_and_line(tmp_path: Path, case: str) -> None:
    content, where = BAD_FILES[case]
    data = tmp_path / f"{case}.jsonl"
    data.write_bytes(content)
    res = pada("dataset=jsonl", f"dataset.loader.path={data}", tmp=tmp_path / "run")
    assert res.returncode != 0
    assert f"{case}.jsonl" in res.stderr and where in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 3


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["pattern_mining.k_min=5", "pattern_mining.k_max=2"], "pattern_mining.k_max"),
        (["quality_gate.judge_threshold=1.5"], "quality_gate.judge_threshold"),
        (["generation.budget=-3"], "generation.budget"),
        (["teacher=openai"], "OPENAI_API_KEY"),
    ],
)
def test_invalid_config_is_a_short_error(tmp_path: Path, overrides: list[str], key: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    res = subprocess.run(
        [sys.executable, "-m", "pada", f"hydra.run.dir={tmp_path}", "+experiment=smoke", *overrides],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert res.returncode != 0
    assert key in res.stderr and "Traceback" not in res.stderr
