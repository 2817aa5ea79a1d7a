"""The embedded teacher on llama.cpp's own server: distinct items, scored options, a server that dies.

Run: ``pytest -m "slow and assets" tests/agents/test_local_teacher.py`` (about two minutes on 2 cores).
"""

from __future__ import annotations

import os
import signal

import pytest
from omegaconf import OmegaConf

from pada.agents import AgentSuite, GeneratedItem, Strategy
from pada.tasks.schema import MCItem, normalize_text
from pada.teacher.server import running_servers

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


#: The task as these tests tell it to the 1.5B teacher. Its yield of distinct valid items is sensitive
#: to this sentence: with scireason's run description (which names "the letter of the one correct
#: option") it wrote 2 of 4 asked items here, with this one 4 of 4.
TASK = "Multiple-choice science questions (grade school to high school); the student picks one option."
GENERATION = {"items_per_call": 2}


def local_cfg(concurrency: int = 2):
    return OmegaConf.create(
        {
            "_target_": "pada.teacher.providers.LocalServer",
            "model": "qwen2_5_coder_1_5b_instruct_gguf",
            "temperature": 0.8,
            "max_tokens": 512,
            "timeout_s": 600,
            "num_retries": 0,
            "concurrency": concurrency,
            "n_ctx": 2048,
            "n_threads": None,
            "cache": True,
        }
    )


def test_k_items_are_k_distinct_items_and_the_judge_scores_them(tmp_path):
    k = 4
    with AgentSuite.open(local_cfg(), run_dir=tmp_path, generation=GENERATION, task=TASK) as agents:
        [server] = running_servers()
        assert server.running and server.parallel == 2
        items = agents.generate_from_strategy(STRATEGY, [EXEMPLAR], n=k)
        known = GeneratedItem(EXEMPLAR, "", "pattern", "s", "states of matter", 1)
        verdicts = agents.judge([known, *items])
        usage = agents.usage.agents
    assert len(items) == k
    assert len({normalize_text(g.item.question) for g in items}) == k
    assert all(len(g.item.choices) >= 2 and g.item.source == "synthetic" for g in items)
    assert usage["pattern_generation"].calls >= k // 2 and usage["pattern_generation"].output_tokens > 0
    # One forward pass per item: the judge's probabilities over the options sum to one, and it
    # knows that liquid water turns into vapour by evaporation.
    assert usage["judge_solve"].calls == k + 1 and usage["judge_solve"].output_tokens <= k + 1
    for v in verdicts:
        assert v.probabilities and sum(v.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert verdicts[0].judge_answer == "B" and verdicts[0].score > 0.5 and verdicts[0].accepted
    assert not running_servers()  # pada stopped what it started
    assert (tmp_path / "teacher_cache").is_dir()


def test_a_killed_server_is_restarted_and_nothing_is_asked_twice(tmp_path):
    second_strategy = Strategy(**{**STRATEGY.to_dict(), "id": "strategy-pattern-1"})
    with AgentSuite.open(local_cfg(), run_dir=tmp_path, generation=GENERATION, task=TASK) as agents:
        [server] = running_servers()
        first = agents.generate_from_strategy(STRATEGY, [EXEMPLAR], n=2)
        os.kill(server.pid, signal.SIGKILL)
        # The next call finds the server dead, starts it again and goes on.
        second = agents.generate_from_strategy(second_strategy, [EXEMPLAR], n=2)
        assert server.restarts == 1 and server.running
    assert len(first) == len(second) == 2
    # What was answered before the kill is in the run's cache: asking it again costs no call.
    with AgentSuite.open(local_cfg(), run_dir=tmp_path, generation=GENERATION, task=TASK) as agents:
        again = agents.generate_from_strategy(STRATEGY, [EXEMPLAR], n=2)
        usage = agents.usage.agents["pattern_generation"]
    assert [g.item.question for g in again] == [g.item.question for g in first]
    assert usage.cache_hits == usage.calls > 0
