"""Fixtures for the training tests: the tiny random student, a few items, one trained adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from pada.config.schema import LoraConfig, ModelConfig, TrainerConfig
from pada.tasks.schema import MCItem

COLORS = ("red", "blue", "green", "yellow")


def make_items(n: int = 16, prefix: str = "q") -> list[MCItem]:
    """Small multiple-choice items whose answer follows from the question (learnable by a tiny model)."""
    return [
        MCItem(
            id=f"{prefix}{i}",
            question=f"Which colour is {COLORS[i % 4]}? (item {i})",
            choices=COLORS,
            answer=i % 4,
            source="unit",
        )
        for i in range(n)
    ]


@pytest.fixture
def items() -> list[MCItem]:
    return make_items()


@pytest.fixture(scope="session")
def tiny_model_cfg() -> ModelConfig:
    return ModelConfig(
        name="tiny_random",
        loader={"_target_": "pada.training.models.TinyRandomStudent"},
        max_length=96,
        lora=LoraConfig(r=4, alpha=8, dropout=0.1),
    )


@pytest.fixture(scope="session")
def tiny_trainer_cfg() -> TrainerConfig:
    return TrainerConfig(max_epochs=2, batch_size=4, eval_batch_size=8, lr=2e-2, warmup_ratio=0.1)


@pytest.fixture(scope="session")
def trained_adapter(tmp_path_factory, tiny_model_cfg, tiny_trainer_cfg) -> Path:
    """One adapter trained on the tiny model, shared by the tests that only read it."""
    from pada.training.fine_tune import fine_tune

    out = tmp_path_factory.mktemp("adapter")
    return fine_tune(tiny_model_cfg, tiny_trainer_cfg, make_items(), out, seed=0)


def smollm2_dir() -> str | None:
    """The converted SmolLM2 folder: from pada.assets if it can give it, else /tmp/smollm2_hf, else None."""
    try:
        from pada.assets import resolve_model_path

        return str(resolve_model_path("asset", "smollm2_135m"))
    except Exception:
        pass
    fallback = Path("/tmp/smollm2_hf")
    return str(fallback) if (fallback / "config.json").exists() else None


@pytest.fixture(scope="session")
def smollm2_cfg() -> ModelConfig:
    folder = smollm2_dir()
    if folder is None:
        pytest.skip("SmolLM2 asset not available (pada.assets or /tmp/smollm2_hf)")
    loader = {"_target_": "pada.training.models.PretrainedStudent", "source": "local", "path": folder}
    return ModelConfig(name="smollm2_135m", loader=loader, max_length=384)
