"""Teacher and judge configs: they compose, and each provider becomes the right dspy.LM."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import dspy
import pytest
from omegaconf import OmegaConf

from pada.config.schema import LMConfig
from pada.errors import ConfigError
from pada.teacher.lm import build_lm, dspy_cache_at, open_lms
from pada.teacher.providers import LOCAL_KEY, PROVIDERS, provider_name
from pada.teacher.server import LlamaServer, LlamaServerError, find_binary, llama_env, running_servers


def container(node):
    return OmegaConf.to_container(node, resolve=True)


@pytest.mark.parametrize("teacher", PROVIDERS)
def test_every_teacher_composes_and_the_judge_follows_it(compose, teacher):
    extra = ["teacher.api_base=http://h:1/v1", "teacher.model=m"] if teacher == "openai_compatible" else []
    cfg = compose(f"teacher={teacher}", *extra)
    assert provider_name(cfg.teacher) == teacher
    assert container(cfg.judge) == container(cfg.teacher)  # judge: teacher by default


def test_judge_overrides_do_not_touch_the_teacher(compose):
    cfg = compose("judge.temperature=0.0", "teacher.max_tokens=300")
    assert cfg.teacher.temperature == 0.7 and cfg.judge.temperature == 0.0
    assert cfg.judge.max_tokens == 300  # still follows the teacher elsewhere


@pytest.mark.parametrize("judge", PROVIDERS)
def test_a_different_judge_is_one_line(compose, judge):
    extra = ["judge.api_base=http://h:1/v1", "judge.model=m"] if judge == "openai_compatible" else []
    cfg = compose(f"judge={judge}", *extra)
    assert provider_name(cfg.judge) == judge and provider_name(cfg.teacher) == "local"
    for key in ("temperature", "max_tokens", "timeout_s", "num_retries", "concurrency", "cache"):
        assert key in cfg.judge


def lm_cfg(provider="openai_compatible", **kw):
    base = dict(
        _target_=PROVIDERS[provider].__module__ + "." + PROVIDERS[provider].__qualname__,
        model="llama-3-70b",
        api_base="http://10.0.0.1:8000/v1",
        api_key_env="MY_KEY",
        temperature=0.3,
        max_tokens=256,
        timeout_s=30.0,
        num_retries=4,
        concurrency=5,
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


def test_budgets_and_adapter_are_optional_keys():
    h = build_lm(lm_cfg(max_calls=10, max_total_tokens=5000, adapter="chat", max_attempts=2))
    assert (h.budget.max_calls, h.budget.max_tokens, h.max_attempts) == (10, 5000, 2)
    assert isinstance(h.make_adapter(), dspy.ChatAdapter)
    with pytest.raises(ConfigError, match="adapter"):
        build_lm(lm_cfg(adapter="xml")).make_adapter()


def local_cfg(gguf, binary, **kw):
    return lm_cfg(provider="local", model=str(gguf), api_base=None, api_key_env=None,
                  server_binary=str(binary), **kw)  # fmt: skip


def test_local_teacher_and_judge_share_one_server(tmp_path, stand_in_llama_server):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    local = local_cfg(gguf, stand_in_llama_server, cache=True)
    judge = local_cfg(gguf, stand_in_llama_server, temperature=0.0)
    with open_lms(local, judge, run_dir=tmp_path) as lms:
        [server] = running_servers()
        assert server.running and server.parallel == 5  # one slot per call in flight
        assert lms.teacher.server is lms.judge.server is server
        assert lms.teacher.lm.kwargs["api_base"] == lms.judge.lm.kwargs["api_base"] == server.api_base
        assert lms.teacher.lm.model == "openai/teacher" and lms.judge.lm.kwargs["temperature"] == 0.0
        assert lms.teacher.logprobs  # llama-server returns log-probabilities
        assert dspy.cache.disk_cache.directory == str(tmp_path / "teacher_cache")
        # A real HTTP round trip through the one OpenAI-compatible path.
        assert lms.teacher.lm(messages=[{"role": "user", "content": "hi"}], max_tokens=8)
        pid = server.pid
    assert not running_servers() and not server.running  # pada stops what it started
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert "127.0.0.1" in (tmp_path / "teacher_server.log").read_text()  # the server's output is kept


def test_local_teacher_missing_gguf(tmp_path):
    cfg = lm_cfg(provider="local", model=str(tmp_path / "missing.gguf"), api_base=None)
    with pytest.raises(ConfigError, match="no such GGUF"), open_lms(cfg):
        pass


def test_server_refuses_a_missing_model(tmp_path, stand_in_llama_server):
    with pytest.raises(LlamaServerError, match="does not exist"):
        LlamaServer(tmp_path / "nope.gguf", binary=stand_in_llama_server).start()


def test_a_wrong_binary_is_named(tmp_path, monkeypatch):
    with pytest.raises(LlamaServerError, match="server_binary"):
        find_binary(tmp_path / "no-such-llama-server")
    monkeypatch.setenv("PADA_LLAMA_SERVER", str(tmp_path / "nope"))
    with pytest.raises(LlamaServerError, match="PADA_LLAMA_SERVER"):
        find_binary()


def test_no_binary_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv("PADA_LLAMA_SERVER", raising=False)
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LlamaServerError, match="make setup"):
        find_binary()


def test_server_command_is_loopback_only_with_slots(tmp_path, stand_in_llama_server):
    server = LlamaServer(tmp_path / "m.gguf", parallel=4, n_ctx=2048, n_threads=3,
                         binary=stand_in_llama_server, extra_args=["--flash-attn", "on"])  # fmt: skip
    cmd = server.command(8123)
    assert cmd[0] == str(stand_in_llama_server)
    arg = {k: v for k, v in zip(cmd[1:], cmd[2:], strict=False) if k.startswith("--")}
    assert arg["--host"] == "127.0.0.1" and arg["--port"] == "8123" and arg["--threads"] == "3"
    assert arg["--parallel"] == "4" and arg["--ctx-size"] == str(4 * 2048)  # n_ctx per slot
    assert "--cache-reuse" in cmd and cmd[-2:] == ["--flash-attn", "on"]


def test_a_dead_server_is_started_again_on_its_port(tmp_path, stand_in_llama_server):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with LlamaServer(gguf, binary=stand_in_llama_server, log_path=tmp_path / "log") as server:
        port, pid = server.port, server.pid
        assert not server.ensure_running()  # alive: nothing to do
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while server.running and time.time() < deadline:
            time.sleep(0.05)
        assert server.ensure_running() and server.restarts == 1
        assert server.port == port and server.pid != pid and server.running
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            assert resp.status == 200
    assert not server.ensure_running()  # stopped on purpose: not restarted


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


def test_a_partial_config_takes_the_schema_defaults_and_an_unknown_key_is_named(monkeypatch):
    monkeypatch.setenv("MY_KEY", "k")
    handle = build_lm({"_target_": "pada.teacher.providers.OpenAICompatible", "api_base": "http://h:1/v1",
                       "model": "m"})  # fmt: skip
    assert handle.max_attempts == LMConfig.max_attempts and handle.adapter == LMConfig.adapter
    with pytest.raises(Exception, match="max_attempt"):
        build_lm({"_target_": "pada.teacher.providers.OpenAI", "max_attempt": 2})


def test_llama_processes_wait_passively(monkeypatch, tmp_path):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert llama_env()["OMP_WAIT_POLICY"] == "PASSIVE"
    assert llama_env()["GOMP_SPINCOUNT"] == "1000"  # a short spin first (it overrides the policy's 0)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert llama_env()["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's choice wins


@pytest.mark.parametrize("json_schema", [True, False])
def test_answers_are_constrained_by_the_servers_json_schema(json_schema):
    from pada.agents import AgentSuite, Strategy
    from pada.tasks.schema import MCItem
    from tests.fixtures.teacher_server import serve

    strategy = Strategy(id="s", pattern_id="p", pattern="states of matter", what_to_write="questions",
                        what_to_vary="objects", what_to_avoid="ambiguity")  # fmt: skip
    exemplar = MCItem("t/1", "Which process turns liquid water into vapor?", ("melting", "boiling"), 1)
    with serve() as teacher:
        cfg = lm_cfg(api_base=teacher.api_base, json_schema=json_schema, concurrency=1)
        with AgentSuite.open(cfg, generation={"items_per_call": 2}) as agents:
            assert len(agents.generate_from_strategy(strategy, [exemplar], n=2)) == 2
    formats = [c.get("response_format") for c in teacher.calls]
    if not json_schema:
        assert formats == [None] * len(formats)
        return
    schema = formats[-1]["json_schema"]["schema"]  # the generation call (the first plans topics)
    assert formats[-1]["type"] == "json_schema" and list(schema["properties"]) == ["questions"]
    item = schema["$defs"]["MCQuestion"]
    assert list(item["properties"]) == ["question", "options", "answer"]  # the prompt's order
