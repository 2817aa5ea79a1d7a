"""The agents end to end on real assets: SmolLM2 failures -> analyses -> patterns -> items -> verdicts.

The embedded teacher (Qwen2.5-Coder-1.5B on llama.cpp, started and stopped by pada) analyses 20 real
validation failures of the zero-shot SmolLM2-135M student on scireason; all-mpnet-base-v2 embeds the
analyses; k-means picks K by the elbow; each cluster gets a pattern and a strategy; the teacher writes
at least 20 items, which the judge scores blind. Artifacts go to a tmp folder; wall time and
teacher usage per agent are printed (``pytest -s`` shows them).

Run: ``pytest -m "slow and assets" tests/agents/test_end_to_end.py -s`` (a few minutes on 2 cores).
Set ``PADA_E2E_TEACHER_CACHE=/some/dir`` to keep the teacher's answers between runs while developing.
"""

from __future__ import annotations

import json
import math
import os
import time

import pytest
from omegaconf import open_dict

from pada.agents import AgentSuite
from pada.agents.leakage import HeldOutGuard
from pada.io import write_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.assets]

N_FAILURES = 20
N_ITEMS = 26  # at least 20 are required; the spare absorb strategies whose repeats the generator drops
TASK = "Multiple-choice science questions (grade school to high school); the student picks one option."


@pytest.fixture(scope="module")
def student_records(tmp_path_factory):
    """Zero-shot SmolLM2 on scireason: validation failures, training failures, train and test items."""
    from hydra import compose, initialize_config_dir

    from pada.config import register
    from pada.data import prepare_splits
    from pada.training.evaluate import evaluate_items, load_for_eval

    from ..conftest import CONF

    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "dataset.train_size=60",
                "dataset.val_size=40",
                "dataset.test_size=40",
                "embedder=all_mpnet_base_v2",
                "pattern_mining.k_min=1",
                "pattern_mining.k_max=5",
                "generation.items_per_call=4",
                # The 1.5B teacher often repeats a question it already wrote, or writes an item with
                # duplicate options; both are dropped, so allow spare calls for them (paid for only when
                # needed). Six were too few once in CI: 20 calls gave 23 malformed items and 19 items.
                "generation.max_attempts=10",
                "teacher.max_tokens=768",
            ],
        )
    cache = os.environ.get("PADA_E2E_TEACHER_CACHE")
    if cache:  # development: keep the teacher's answers between runs (the timing is then not cold)
        with open_dict(cfg.teacher):
            cfg.teacher.cache_dir = cache
    splits = prepare_splits(cfg.dataset)
    model, tokenizer = load_for_eval(cfg.model, device="cpu")
    val = evaluate_items(model, tokenizer, splits.validation, "validation", batch_size=8)
    train = evaluate_items(model, tokenizer, splits.train[:12], "train", batch_size=8)
    del model
    return cfg, splits, val, train


def test_agents_end_to_end(student_records, tmp_path):
    cfg, splits, val_records, train_records = student_records
    failures = [r for r in val_records if not r.correct][:N_FAILURES]
    assert len(failures) == N_FAILURES, "zero-shot SmolLM2 should fail at least 20 of 40 validation items"
    train_failures = [r for r in train_records if not r.correct][:2]
    exemplars = list(splits.train[20:23])
    held_out = [it.question for it in (*splits.validation, *splits.test)]

    start = time.perf_counter()
    with AgentSuite.open(
        cfg.teacher,
        None,  # the judge is the teacher (judge: teacher)
        cfg.embedder,
        cfg.pattern_mining,
        cfg.generation,
        run_dir=tmp_path,
        task=TASK,
        seed=0,
        keep_prompts=True,
    ) as agents:
        agents.hold_out(held_out)
        t = {"start": time.perf_counter()}
        analyses = agents.analyze_errors(failures)
        t["analyze"] = time.perf_counter()
        mining = agents.mine_patterns(analyses, out_dir=tmp_path / "mining")
        patterns = agents.summarize_patterns(mining, analyses)
        strategies = agents.draft_strategies(patterns)
        t["patterns"] = time.perf_counter()
        per_strategy = math.ceil((N_ITEMS - len(train_failures)) / len(strategies))
        items = []
        for s in strategies:
            items += agents.generate_from_strategy(s, exemplars, n=per_strategy)
        items += agents.generate_from_train_errors(train_failures)
        t["generate"] = time.perf_counter()
        verdicts = agents.judge(items)
        t["judge"] = time.perf_counter()
        prompts = agents.prompts
        usage = agents.usage
        failures_log = agents.failures
    wall = time.perf_counter() - start

    write_jsonl(tmp_path / "analyses.jsonl", [r.to_dict() for r in analyses])
    write_jsonl(tmp_path / "patterns.jsonl", [r.to_dict() for r in patterns])
    write_jsonl(tmp_path / "strategies.jsonl", [r.to_dict() for r in strategies])
    write_jsonl(tmp_path / "generated.jsonl", [r.to_dict() for r in items])
    write_jsonl(tmp_path / "verdicts.jsonl", [r.to_dict() for r in verdicts])
    write_jsonl(tmp_path / "agent_failures.jsonl", [r.to_dict() for r in failures_log])
    (tmp_path / "usage.json").write_text(json.dumps(usage.to_dict(), indent=2))

    print(f"\nagents end to end: {wall:.0f} s wall; artifacts in {tmp_path}")
    stages = {
        "analyse": t["analyze"] - t["start"],
        "mine+patterns+strategies": t["patterns"] - t["analyze"],
        "generate": t["generate"] - t["patterns"],
        "judge": t["judge"] - t["generate"],
    }
    print("stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()))
    accepted = sum(v.accepted for v in verdicts)
    print(
        f"K={mining.k} ({mining.method}: {mining.reason}); {len(items)} items; {accepted} accepted by judge"
    )
    print(usage.table())

    # Analyses for at least 90% of the failures; the rest recorded as failures.
    assert len(analyses) >= 0.9 * N_FAILURES
    assert len(analyses) + sum(f.agent == "error_analysis" for f in failures_log) >= N_FAILURES
    # K by the elbow, with its plot.
    assert mining.method == "elbow" and mining.k >= 1
    assert (tmp_path / "mining" / "elbow.png").stat().st_size > 1000
    assert json.loads((tmp_path / "mining" / "clusters.json").read_text())["k"] == mining.k
    # A pattern and a strategy per cluster.
    assert len(patterns) == len(strategies) == len(mining.clusters) == mining.k
    assert all(p.name and p.description for p in patterns)
    assert all(s.what_to_write for s in strategies)
    # At least 20 items, each with a verdict and reasons.
    assert len(items) >= 20
    assert len({g.item.question for g in items}) == len(items)
    assert len(verdicts) == len(items)
    assert all(v.reasons or v.accepted for v in verdicts)
    # The judge scored every item in one forward pass each: option probabilities that sum to one.
    assert usage.agents["judge_solve"].calls == len(items)
    assert all(abs(sum(v.probabilities.values()) - 1) < 1e-3 for v in verdicts if not v.failed)
    saved = [json.loads(line) for line in (tmp_path / "verdicts.jsonl").read_text().splitlines()]
    assert [v["item_id"] for v in saved] == [g.id for g in items]
    # No validation or test question reached a generation prompt.
    guard = HeldOutGuard(n=8)
    guard.add(held_out)
    generation_agents = ("topic_plan", "pattern_generation", "error_generation")
    gen_prompts = [m for agent, msgs in prompts if agent in generation_agents for m in msgs]
    assert gen_prompts
    worst = max(guard.max_share(m["content"]) for m in gen_prompts)
    assert worst < 0.5, f"a generation prompt holds {worst:.0%} of a held-out question's 8-grams"
    # Usage was recorded for every agent that ran.
    for agent in (
        "error_analysis",
        "pattern_summary",
        "strategy_draft",
        "topic_plan",
        "pattern_generation",
        "judge_solve",
    ):
        a = usage.agents[agent]
        assert a.calls > 0 and (a.output_tokens > 0 or a.cache_hits == a.calls)
