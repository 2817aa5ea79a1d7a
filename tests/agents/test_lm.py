"""Teacher and judge configs: they compose, and each provider becomes the right dspy.LM."""

from __future__ import annotations

import dspy
import pytest
from omegaconf import OmegaConf

from pada.agents import lm as lm_mod
from pada.agents.lm import LOCAL_KEY, build_lm, dspy_cache_at, open_lms
from pada.agents.local_server import LocalServer, LocalServerError, free_port
from pada.errors import ConfigError

PROVIDERS = ["local", "openai_compatible", "openai", "anthropic", "bedrock"]


def container(node):
    return OmegaConf.to_container(node, resolve=True)


@pytest.mark.parametrize("teacher", PROVIDERS)
def test_every_teacher_composes_and_the_judge_follows_it(compose, teacher):
    extra = ["teacher.api_base=http://h:1/v1", "teacher.model=m"] if teacher == "openai_compatible" else []
    cfg = compose(f"teacher={teacher}", *extra)
    assert cfg.teacher.provider == teacher
    assert container(cfg.judge) == container(cfg.teacher)  # judge: teacher by default


def test_judge_overrides_do_not_touch_the_teacher(compose):
    cfg = compose("judge.temperature=0.0", "teacher.max_tokens=300")
    assert cfg.teacher.temperature == 0.7 and cfg.judge.temperature == 0.0
    assert cfg.judge.max_tokens == 300  # still follows the teacher elsewhere


@pytest.mark.parametrize("judge", PROVIDERS)
def test_a_different_judge_is_one_line(compose, judge):
    extra = ["judge.api_base=http://h:1/v1", "judge.model=m"] if judge == "openai_compatible" else []
    cfg = compose(f"judge={judge}", *extra)
    assert cfg.judge.provider == judge and cfg.teacher.provider == "local"
    for key in ("temperature", "max_tokens", "timeout_s", "num_retries", "concurrency", "cache"):
        assert key in cfg.judge


def lm_cfg(**kw):
    base = dict(
        provider="openai_compatible",
        model="llama-3-70b",
        api_base="http://10.0.0.1:8000/v1",
        api_key_env="MY_KEY",
        temperature=0.3,
        max_tokens=256,
        timeout_s=30.0,
        num_retries=4,
        concurrency=5,
        backend="server",
        n_ctx=4096,
        n_threads=None,
        cache=False,
    )
    return OmegaConf.create({**base, **kw})


def test_openai_compatible(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-123")
    h = build_lm(lm_cfg())
    assert h.lm.model == "openai/llama-3-70b"
    assert h.lm.kwargs["api_base"] == "http://10.0.0.1:8000/v1" and h.lm.kwargs["api_key"] == "sk-123"
    assert h.lm.kwargs["temperature"] == 0.3 and h.lm.kwargs["max_tokens"] == 256
    assert h.lm.kwargs["timeout"] == 30.0 and h.lm.num_retries == 4 and h.lm.cache is False
    assert h.concurrency == 5 and h.seeded


def test_openai_compatible_without_key_uses_a_placeholder(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    assert build_lm(lm_cfg()).lm.kwargs["api_key"] == LOCAL_KEY


def test_openai_compatible_needs_api_base():
    with pytest.raises(ConfigError, match="api_base"):
        build_lm(lm_cfg(api_base=None))


@pytest.mark.parametrize("provider, prefix", [("openai", "openai/"), ("anthropic", "anthropic/")])
def test_keyed_providers_read_the_environment_only(monkeypatch, provider, prefix):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_KEY"):
        build_lm(lm_cfg(provider=provider, model="x-model", api_base=None))
    monkeypatch.setenv("MY_KEY", "secret")
    h = build_lm(lm_cfg(provider=provider, model="x-model", api_base=None))
    assert h.lm.model == f"{prefix}x-model" and h.lm.kwargs["api_key"] == "secret"
    assert h.seeded == (provider == "openai")  # Anthropic takes no seed


def test_bedrock_uses_the_aws_environment():
    h = build_lm(lm_cfg(provider="bedrock", model="anthropic.claude-v2", api_base=None, api_key_env="AWS_X"))
    assert h.lm.model == "bedrock/anthropic.claude-v2" and "api_key" not in h.lm.kwargs


def test_unknown_provider():
    with pytest.raises(ConfigError, match="provider"):
        build_lm(lm_cfg(provider="carrier_pigeon"))


def test_budgets_and_adapter_are_optional_keys():
    h = build_lm(lm_cfg(max_calls=10, max_total_tokens=5000, adapter="chat", max_attempts=2))
    assert (h.budget.max_calls, h.budget.max_tokens, h.max_attempts) == (10, 5000, 2)
    assert isinstance(h.make_adapter(), dspy.ChatAdapter)
    with pytest.raises(ConfigError, match="adapter"):
        build_lm(lm_cfg(adapter="xml")).make_adapter()


class FakeServer:
    started: list[FakeServer] = []

    def __init__(self, path, **kw):
        self.path, self.kw, self.stopped = path, kw, False
        self.api_base = f"http://127.0.0.1:{free_port()}/v1"

    def __enter__(self):
        FakeServer.started.append(self)
        return self

    def __exit__(self, *exc):
        self.stopped = True


def test_local_teacher_and_judge_share_one_server(monkeypatch, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr("pada.agents.local_server.LocalServer", FakeServer)
    FakeServer.started = []
    local = lm_cfg(provider="local", model=str(gguf), api_base=None, api_key_env=None, cache=True)
    judge = lm_cfg(provider="local", model=str(gguf), api_base=None, api_key_env=None, temperature=0.0)
    with open_lms(local, judge, run_dir=tmp_path) as lms:
        [server] = FakeServer.started
        assert lms.teacher.lm.kwargs["api_base"] == lms.judge.lm.kwargs["api_base"] == server.api_base
        assert lms.teacher.lm.model == "openai/teacher" and lms.judge.lm.kwargs["temperature"] == 0.0
        assert dspy.cache.disk_cache.directory == str(tmp_path / "teacher_cache")
    assert server.stopped  # pada stops what it started


def test_local_in_process_backend(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    cfg = lm_cfg(provider="local", model=str(gguf), api_base=None, api_key_env=None, backend="in_process")
    with open_lms(cfg) as lms:
        engine = lms.teacher.lm.engine
        assert engine.model_path == str(gguf) and engine._llama is None  # loaded lazily, on first call
        assert lms.judge.lm is lms.teacher.lm


def test_local_batched_backend(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    cfg = lm_cfg(provider="local", model=str(gguf), api_base=None, api_key_env=None, backend="batched",
                 concurrency=3)  # fmt: skip
    with open_lms(cfg) as lms:
        engine = lms.teacher.lm.engine
        assert engine.model_path == str(gguf) and engine._thread is None  # started on the first call
        assert engine.parallel == 3 == lms.teacher.concurrency  # one slot per call in flight
        assert lms.judge.lm is lms.teacher.lm


def test_local_teacher_missing_gguf(tmp_path):
    cfg = lm_cfg(provider="local", model=str(tmp_path / "missing.gguf"), api_base=None)
    with pytest.raises(ConfigError, match="no such GGUF"), open_lms(cfg):
        pass


def test_local_server_refuses_a_missing_file(tmp_path):
    pytest.importorskip("llama_cpp")
    with pytest.raises(LocalServerError, match="does not exist"):
        LocalServer(tmp_path / "nope.gguf").start()


def test_local_server_command_is_loopback_only(tmp_path):
    cmd = LocalServer(tmp_path / "m.gguf", n_ctx=2048, n_threads=3).command(8123)
    assert cmd[1:3] == ["-m", "llama_cpp.server"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "8123"
    assert cmd[cmd.index("--n_threads") + 1] == "3" and cmd[cmd.index("--n_ctx") + 1] == "2048"


def test_cache_location_is_restored(tmp_path):
    before = dspy.cache
    with dspy_cache_at(tmp_path / "c"):
        assert dspy.cache is not before and (tmp_path / "c").is_dir()
    assert dspy.cache is before
    with dspy_cache_at(None):
        assert not dspy.cache.enable_disk_cache


def test_cache_dir_key_moves_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "k")
    cfg = lm_cfg(cache_dir=str(tmp_path / "elsewhere"))
    with open_lms(cfg, run_dir=tmp_path / "run"):
        assert dspy.cache.disk_cache.directory == str(tmp_path / "elsewhere")


def test_get_tolerates_missing_keys():
    assert lm_mod._get(OmegaConf.create({"a": 1}), "b", 3) == 3
    assert lm_mod._get({"a": None}, "a", 3) == 3


def test_llama_processes_wait_passively(monkeypatch):
    from pada.agents.local_server import llama_env

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert llama_env()["OMP_WAIT_POLICY"] == "PASSIVE"
    assert llama_env()["GOMP_SPINCOUNT"] == "1000"  # a short spin first (it overrides the policy's 0)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert llama_env()["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's choice wins
