"""Invalid values are rejected with a message naming the key."""

from __future__ import annotations

import pytest

from pada.config import validate
from pada.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("dataset.train_size=-5", "dataset.train_size"),
        ("dataset.val_size=2.5", "dataset.val_size"),
        ("pattern_mining.k_min=9", "pattern_mining.k_max"),
        ("quality_gate.judge_threshold=1.5", "quality_gate.judge_threshold"),
        ("quality_gate.dedup_threshold=-0.1", "quality_gate.dedup_threshold"),
        ("generation.budget=-1", "generation.budget"),
        ("generation.val_share=2", "generation.val_share"),
        ("trainer.lr=0", "trainer.lr"),
        ("trainer.scheduler=step", "trainer.scheduler"),
        ("model.mc_style=essay", "model.mc_style"),
        ("model.loader.source=ftp", "model.loader.source"),
        ("model.attn_implementation=fastest", "model.attn_implementation"),
        ("logger.mode=maybe", "logger.mode"),
        ("teacher._target_=pada.teacher.providers.Cohere", "teacher._target_"),
        ("teacher._target_=pada.mining.Embedder", "teacher._target_"),
        ("method.rounds=0", "method.rounds"),
        ("method.augment_with=more", "method.augment_with"),
        ("dataset.select_size=-1", "dataset.select_size"),
        ("pattern_mining.near_k=-3", "pattern_mining.near_k"),
        (
            "dataset=jsonl dataset.loader.path=x.jsonl dataset.loader.invalid_items=maybe",
            "dataset.loader.invalid_items",
        ),
        ("+dataset.loader.colour=red", "dataset.loader"),
        ("teacher.api_base=notaurl", "teacher.api_base"),
        ("judge.api_base=ftp://x", "judge.api_base"),
        ("+trainer.lightning.max_epochs=3", "trainer.lightning.max_epochs"),
        ("~trainer.lightning._target_", "trainer.lightning._target_"),
    ],
)
def test_bad_value_names_its_key(compose, override: str, key: str) -> None:
    cfg = compose(*override.split())
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(cfg)


def test_sizes_accept_counts_rest_and_fractions(compose) -> None:
    validate(compose("dataset.train_size=0.5", "dataset.val_size=100", "dataset.test_size=-1"))


def test_controls_need_no_training_error_or_pattern_path(compose, monkeypatch) -> None:
    validate(compose("method=real_data_ceiling"))
    validate(compose("method=generic_synthetic"))
    # The real-data control never calls the teacher, so a missing API key does not stop it.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    validate(compose("method=real_data_ceiling", "teacher=openai"))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        validate(compose("method=generic_synthetic", "teacher=openai"))


def test_teacher_without_key_is_named(compose, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = compose("teacher=openai")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        validate(cfg)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    validate(compose("teacher=openai"))
