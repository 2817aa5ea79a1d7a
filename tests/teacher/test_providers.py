"""Providers: a class named by ``_target_`` says where the endpoint is; a wrong target is named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from pada.errors import ConfigError
from pada.teacher.lm import build_lm
from pada.teacher.providers import PROVIDERS, Endpoint, Provider, build_provider, provider_name
from tests.teacher.test_lm import lm_cfg


def test_every_shipped_provider_is_named_by_its_conf_option() -> None:
    for name, cls in PROVIDERS.items():
        assert cls.name == name and issubclass(cls, Provider)
        assert provider_name({"_target_": f"{cls.__module__}.{cls.__qualname__}"}) == name


def test_a_target_that_is_no_provider_is_named():
    for target in ("pada.teacher.providers.CarrierPigeon", "pada.mining.Embedder", "os.path"):
        with pytest.raises(ConfigError, match=r"judge\._target_.*LocalServer"):
            build_lm(lm_cfg(_target_=target), role="judge")


@dataclass
class Echo(Provider):
    """A provider of one's own: an OpenAI-compatible endpoint under a fixed LiteLLM prefix."""

    name: ClassVar[str] = "echo"
    seeded: ClassVar[bool] = True

    def endpoint(self, role, servers):
        return Endpoint(self.prefixed("hosted_vllm"), api_base=str(self.api_base))


def test_a_provider_of_ones_own_is_one_class_named_by_target():
    h = build_lm(lm_cfg(_target_=f"{__name__}.Echo", model="m"))
    assert h.lm.model == "hosted_vllm/m" and h.provider == "echo" and h.seeded
    assert h.lm.kwargs["api_base"] == "http://10.0.0.1:8000/v1" and "api_key" not in h.lm.kwargs
    assert not h.logprobs  # a provider says what its endpoint supports; the base class claims nothing
    built = build_provider(lm_cfg(_target_=f"{__name__}.Echo", concurrency=3))
    assert isinstance(built, Echo) and built.concurrency == 3 and built._target_ == f"{__name__}.Echo"
