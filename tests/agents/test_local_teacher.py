"""The embedded teacher through each local backend: K samples of one strategy are K distinct items.

Run: ``pytest -m "slow and assets" tests/agents/test_local_teacher.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from pada.agents import AgentSuite, Strategy, local_server
from pada.tasks.schema import MCItem, normalize_text

pytestmark = [pytest.mark.slow, pytest.mark.assets]

STRATEGY = Strategy(
    id="strategy-pattern-0",
    pattern_id="pattern-0",
    pattern="States of matter: the student confuses melting, freezing, evaporation and condensation.",
    what_to_write="Questions that name a change of state from an everyday observation.",
    what_to_vary="the substance and the situation",
    what_to_avoid="questions with two defensible answers",
)
EXEMPLAR = MCItem("train-1", "Which process turns liquid water into water vapor?",
                  ("freezing", "evaporation", "melting", "condensation"), 1)  # fmt: skip


def local_cfg(backend: str):
    return OmegaConf.create(
        {
            "provider": "local",
            "model": "qwen2_5_coder_1_5b_instruct_gguf",
            "backend": backend,
            "temperature": 0.8,
            "max_tokens": 256,
            "timeout_s": 600,
            "num_retries": 0,
            "concurrency": 1,
            "n_ctx": 2048,
            "n_threads": None,
            "cache": True,
        }
    )


@pytest.mark.parametrize("backend", ["server", "in_process", "batched"])
def test_k_samples_are_k_distinct_items(backend, tmp_path):
    pytest.importorskip("llama_cpp")
    k = 3
    with AgentSuite.open(local_cfg(backend), run_dir=tmp_path, generation={"items_per_call": 1}) as agents:
        items = agents.generate_from_strategy(STRATEGY, [EXEMPLAR], n=k)
        usage = agents.usage.agents["pattern_generation"]
        if backend == "server":
            [server] = list(local_server._RUNNING)
            assert server.running
    assert len(items) == k
    assert len({normalize_text(g.item.question) for g in items}) == k
    assert len({g.rollout for g in items}) == k  # one rollout per sample
    assert all(len(g.item.choices) >= 2 and g.item.source == "synthetic" for g in items)
    assert usage.calls >= k and usage.output_tokens > 0 and usage.input_tokens > 0
    assert not local_server._RUNNING  # pada stopped what it started
    assert (tmp_path / "teacher_cache").is_dir()
