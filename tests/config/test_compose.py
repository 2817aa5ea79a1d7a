"""Every shipped config composes, passes validation, and resolves."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from pada.config import validate
from tests.conftest import CONF

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
GROUP_OPTIONS = sorted(
    (group.name, p.stem)
    for group in CONF.iterdir()
    if group.is_dir() and group.name != "experiment"
    for p in group.glob("*.yaml")
)
# Options that need values only a user can supply (an endpoint) or a key in the environment.
NEEDS_USER_INPUT = {"openai_compatible", "openai", "anthropic", "jsonl"}


def test_there_are_experiments() -> None:
    assert {"scireason", "smoke"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_validates(compose, experiment: str) -> None:
    cfg = compose(f"experiment={experiment}")
    OmegaConf.resolve(cfg)
    validate(cfg)
    assert cfg.experiment_name == experiment


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_group_option_composes(compose, group: str, option: str) -> None:
    cfg = compose(f"{group}={option}")
    if option.startswith("base_"):
        return  # the bare schemas leave required values missing on purpose
    if option not in NEEDS_USER_INPUT:
        OmegaConf.resolve(cfg)
        validate(cfg)


def test_judge_defaults_to_the_teacher(compose) -> None:
    cfg = compose("teacher=bedrock")
    assert cfg.judge._target_ == "pada.teacher.providers.Bedrock"
    cfg = compose("judge=bedrock")
    assert cfg.teacher._target_ == "pada.teacher.providers.LocalServer"
    assert cfg.judge._target_ == "pada.teacher.providers.Bedrock"


def test_methods_differ_only_in_their_switches(compose) -> None:
    llm2llm = compose("method=llm2llm").method
    assert not llm2llm.use_val_patterns and llm2llm.use_train_errors and not llm2llm.augment_synthetic
    sft = compose("method=sft").method
    assert not sft.use_val_patterns and not sft.use_train_errors
    assert compose("method=pada_no_clustering").method.cluster is False
    assert compose("method=pada_no_quality_gate").method.quality_gate is False
    assert {compose(f"method={m}").method.augment_with for m in ("pada", "llm2llm", "sft")} == {"targeted"}
    assert compose("method=real_data_ceiling").method.augment_with == "real"
    assert compose("method=generic_synthetic").method.augment_with == "generic"
