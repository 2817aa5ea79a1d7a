from pathlib import Path

import pytest
from omegaconf import OmegaConf

from pada.config.schema import ModelConfig, TrainerConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


def _load(group, name, schema):
    raw = OmegaConf.load(CONF / group / f"{name}.yaml")
    raw.pop("defaults", None)
    return OmegaConf.merge(OmegaConf.structured(schema), raw)  # raises on unknown keys / bad types


@pytest.mark.parametrize(
    "name", ["smollm2_135m", "qwen2_5_coder_0_5b", "llama3_2_1b_instruct", "tiny_random"]
)
def test_model_configs_match_schema(name):
    cfg = _load("model", name, ModelConfig)
    assert cfg.name == name
    assert cfg.source in {"asset", "hub", "local", "tiny_random"}
    assert cfg.lora.r > 0 and cfg.lora.target_modules


@pytest.mark.parametrize("name", ["cpu", "gpu", "ddp", "ddp_cpu"])
def test_trainer_configs_match_schema(name):
    cfg = _load("trainer", name, TrainerConfig)
    assert cfg.scheduler in {"cosine", "linear", "constant"}
    assert cfg.precision == ("32-true" if cfg.accelerator == "cpu" else "bf16-mixed")
    if name.startswith("ddp"):
        assert cfg.strategy == "ddp"


def test_llama_is_a_hub_model():
    assert _load("model", "llama3_2_1b_instruct", ModelConfig).path == "meta-llama/Llama-3.2-1B-Instruct"


def test_configs_compose_with_hydra(compose):
    cfg = compose("model=tiny_random", "trainer=ddp_cpu")
    assert cfg.model.source == "tiny_random" and cfg.trainer.devices == 2
