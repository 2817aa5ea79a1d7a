from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from pada.config.schema import ModelConfig, TrainerConfig, typed
from pada.errors import ConfigError
from pada.training.models import PretrainedStudent, TinyRandomStudent, build_student

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
    student = build_student(cfg)
    assert isinstance(student, TinyRandomStudent if name == "tiny_random" else PretrainedStudent)
    assert cfg.lora.r > 0 and cfg.lora.target_modules


@pytest.mark.parametrize("name", ["cpu", "gpu", "ddp", "ddp_cpu"])
def test_trainer_configs_match_schema(name):
    cfg = _load("trainer", name, TrainerConfig)
    assert cfg.scheduler in {"cosine", "linear", "constant"}
    assert cfg.precision == ("32-true" if cfg.accelerator == "cpu" else "bf16-mixed")
    if name.startswith("ddp"):
        assert cfg.strategy == "ddp"


def test_llama_is_a_hub_model():
    student = build_student(_load("model", "llama3_2_1b_instruct", ModelConfig))
    assert (student.source, student.path) == ("hub", "meta-llama/Llama-3.2-1B-Instruct")


def test_configs_compose_with_hydra(compose):
    cfg = compose("model=tiny_random", "trainer=ddp_cpu")
    assert isinstance(build_student(cfg.model), TinyRandomStudent) and cfg.trainer.devices == 2


@dataclass
class Echo:
    """A student loader of one's own: any class with load(), tokenizer() and describe()."""

    width: int = 1

    def describe(self) -> str:
        return f"echo {self.width}"


def test_a_student_loader_is_named_by_target_and_a_bad_one_by_its_key(compose):
    cfg = compose("model=tiny_random", f"model.loader._target_={__name__}.Echo", "~model.loader.seed",
                  "+model.loader.width=3")  # fmt: skip
    assert build_student(cfg.model).describe() == "echo 3"
    with pytest.raises(ConfigError, match=r"model\.loader\.source.*asset, hub, local"):
        build_student(typed(ModelConfig, {"name": "m", "loader": {
            "_target_": "pada.training.models.PretrainedStudent", "path": "x", "source": "ftp",
        }}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"model\.loader.*width"):
        build_student(typed(ModelConfig, {"name": "m", "loader": {
            "_target_": "pada.training.models.TinyRandomStudent", "width": 2}}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"model\.loader\.path` is missing"):
        build_student(compose("model.loader.path=???").model)
    with pytest.raises(ConfigError, match=r"model\.loader\._target_"):
        build_student(typed(ModelConfig, {"name": "m"}))
