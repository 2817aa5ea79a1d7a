from __future__ import annotations

import pytest

from pada.tracking.redact import REDACTED, env_secrets, is_secret_name, redact, redact_argv


@pytest.mark.parametrize(
    "name", ["api_key", "apiKey", "hf_token", "secret", "db_password", "AWS_SECRET_ACCESS_KEY"]
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "input_tokens", "api_key_env", "k_max", "tokenizer", "model"])
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_by_name_shape_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "plain-looking-secret-value")
    cfg = {
        "judge": {"api_key_env": "MY_JUDGE_KEY", "api_key": None, "model": "m"},
        "teacher": {"api_key": "abc", "headers": ["Bearer abcdefghijklmnopqrstuvwxyz"]},
        "notes": "copied plain-looking-secret-value here",
        "aws": "AKIA" + "ABCDEFGHIJKLMNOP",  # built at run time: no key-shaped literal in git
        "n": 3,
    }
    out = redact(cfg, env_secrets(cfg))
    assert out["judge"] == {"api_key_env": "MY_JUDGE_KEY", "api_key": None, "model": "m"}
    assert out["teacher"] == {"api_key": REDACTED, "headers": [REDACTED]}
    assert out["notes"] == REDACTED
    assert out["aws"] == REDACTED
    assert out["n"] == 3
    assert cfg["teacher"]["api_key"] == "abc"  # the input is untouched


def test_redact_argv() -> None:
    argv = ["+teacher.api_key=xyz", "seed=1", "note=" + "sk-" + "abcdefghijklmnop1234", "--flag"]
    assert redact_argv(argv) == [f"+teacher.api_key={REDACTED}", "seed=1", f"note={REDACTED}", "--flag"]
