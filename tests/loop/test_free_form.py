"""The loop's side of free-form tasks: items back from their dicts, task descriptions, exemplars, the
controls, and the generate stage over scripted free-form agents and the real gate."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from pada.agents.suite import AgentSuite
from pada.config.schema import QualityGateConfig
from pada.loop.artifacts import RunFolder
from pada.loop.quality_gate import QualityGate
from pada.loop.recipe import PadaRecipe, _items_from_dicts, generic_strategy
from pada.mining.embedder import Embedder
from pada.tasks import DEFAULT_FREE_FORM_TASK, DEFAULT_TASK, Gsm8kTask
from pada.tasks.schema import EvalRecord, MCItem, QAItem
from tests.agents.conftest import ScriptedEngine, scripted_handle

from .test_quality_gate import bow_embed

TRAIN = [
    QAItem(f"gsm8k/{i}", f"A baker fills {i + 2} trays with 6 rolls each. How many rolls are baked?",
           str((i + 2) * 6), solution=f"{i + 2} x 6 = {(i + 2) * 6}.", source="gsm8k")
    for i in range(4)
]  # fmt: skip
RESERVE = [
    QAItem("gsm8k/r1", "How many legs do 3 spiders have?", "24", solution="3 x 8 = 24.", source="gsm8k")
]


def loader(name: str, kind: str) -> dict[str, Any]:
    """The ``dataset.loader`` of a task (a jsonl path is never read: only the description is used)."""
    if name == "gsm8k":
        return {"_target_": "pada.tasks.Gsm8kTask"}
    return {"_target_": "pada.tasks.JsonlTask", "path": "never-read.jsonl", "kind": kind}


def recipe_for(
    tmp_path: Path, name: str = "gsm8k", kind: str = "free_form", agents: Any = None, **method: Any
) -> PadaRecipe:
    cfg = OmegaConf.create(
        {
            "seed": 0,
            "dataset": {"name": name, "kind": kind, "loader": loader(name, kind)},
            "method": {"quality_gate": True, "augment_synthetic": False, **method},
            "generation": {"max_attempts": 2, "exemplars": 2, "items_per_call": 2, "budget": 2},
            "judge": {"concurrency": 2},
            "quality_gate": {"judge_threshold": 0.3},
        }
    )
    gate = QualityGate(QualityGateConfig(), bow_embed, TRAIN, [])
    return PadaRecipe(cfg, RunFolder(tmp_path), {"train": TRAIN, "validation": [], "test": []},
                      reserve=RESERVE, agents=lambda: nullcontext(agents), gate=gate)  # fmt: skip


def test_items_come_back_from_their_dicts_by_kind() -> None:
    qa = QAItem(
        "syn-1", "How many rolls?", "12", solution="2 x 6 = 12.", source="synthetic", meta={"round": 0}
    )
    bare = QAItem("syn-2", "Capital of Peru?", "Lima", source="synthetic")
    mc = MCItem("syn-3", "Which is a metal?", ("iron", "neon"), 0, source="synthetic")
    rows = json.loads(json.dumps([i.to_dict() for i in (qa, bare, mc)]))
    back = _items_from_dicts(rows)
    assert back == [qa, bare, mc]
    assert [type(i) for i in back] == [QAItem, QAItem, MCItem]
    assert back[0].solution == "2 x 6 = 12." and back[0].meta == {"round": 0} and back[1].solution is None
    assert back[2].choices == ("iron", "neon")


def test_task_descriptions_speak_of_the_tasks_kind(tmp_path: Path) -> None:
    assert recipe_for(tmp_path)._task_description() == Gsm8kTask.description
    assert "final answer as a number" in Gsm8kTask.description
    assert recipe_for(tmp_path, "jsonl")._task_description() == DEFAULT_FREE_FORM_TASK
    assert recipe_for(tmp_path, "jsonl", "multiple_choice")._task_description() == DEFAULT_TASK
    assert "option" not in DEFAULT_FREE_FORM_TASK and "letter" not in DEFAULT_FREE_FORM_TASK


def test_the_generic_strategy_of_a_free_form_task_names_no_options() -> None:
    free = generic_strategy(DEFAULT_FREE_FORM_TASK, free_form=True)
    assert "option" not in free.text().lower() and "problems" in free.what_to_write
    assert generic_strategy("task") == generic_strategy("task", free_form=False)
    assert "option" in generic_strategy("task").what_to_vary


def test_exemplars_and_the_real_data_control_take_items_of_the_tasks_kind(tmp_path: Path) -> None:
    recipe = recipe_for(tmp_path, augment_with="real")
    exemplars = recipe._exemplars(0)
    assert len(exemplars) == 2 and all(isinstance(e, QAItem) and e.solution for e in exemplars)
    added = recipe.add_real_items(0, [], 2)
    assert added.items == RESERVE and isinstance(added.items[0], QAItem)
    assert added.items[0].solution == "3 x 8 = 24."
    assert added.counts["accepted"] == 1


def scripted_agents(**engines: ScriptedEngine) -> AgentSuite:
    teacher = scripted_handle(engines.get("teacher") or ScriptedEngine())
    judge = scripted_handle(engines.get("judge") or ScriptedEngine(), role="judge")
    return AgentSuite(teacher, judge, generation={"items_per_call": 2}, task_kind="free_form")


def test_the_generic_control_writes_and_gates_free_form_items(tmp_path: Path) -> None:
    teacher = ScriptedEngine()
    recipe = recipe_for(tmp_path, agents=scripted_agents(teacher=teacher), augment_with="generic")
    strategy = generic_strategy(recipe._task_description(), free_form=True)

    samples, stats = recipe._generate_and_gate(0, [strategy], [1], 2, [], 0, path="generic")

    assert stats["accepted"]["generic"] == 2 and all(s["accepted"] for s in samples)
    assert all(s["verdict"]["score"] == 1.0 and s["item"]["kind"] == "free_form" for s in samples)
    items = _items_from_dicts([s["item"] for s in samples if s["accepted"]])
    assert all(isinstance(i, QAItem) and i.solution and i.answer for i in items)
    # The exemplars shown were training problems with their solutions.
    [user] = [u for a, _, u in teacher.requests if a == "free_pattern_generation"]
    assert "Solution: " in user and Gsm8kTask.description in user


def test_free_form_training_failures_are_augmented_and_judged(tmp_path: Path) -> None:
    recipe = recipe_for(tmp_path)
    # The judge solves the first problem it is shown (the scripted default) and gets the others wrong.
    judge = ScriptedEngine({"free_solve": lambda user, call: None if "number 0-0" in user else "#### 999"})
    agents = scripted_agents(judge=judge)
    agents.remember_solutions(TRAIN)
    recipe = recipe_for(tmp_path, agents=agents)
    failures = [
        EvalRecord(i.id, "train", i.question, [], "6", i.answer, False, output_text="6 rolls.\n#### 6")
        for i in TRAIN[:2]
    ]

    samples, stats = recipe._generate_and_gate(0, [], [], 0, failures, train_quota=2)

    rows = [(s["origin"], s["attempt"], s["accepted"], s["verdict"]["judge_answer"]) for s in samples]
    # Both failures in one call; half were accepted, so the second attempt asks two for the one missing:
    # the rejected failure again, and the accepted one for a second item.
    assert rows[:3] == [("gsm8k/0", 0, True, "3"), ("gsm8k/1", 0, False, "999"), ("gsm8k/1", 1, False, "999")]
    assert rows[3:] == [("gsm8k/0", 1, False, "999")]
    assert stats["accepted"]["train_error"] == 1 and stats["notes"]
    assert "judge: score 0.00 < 0.3: the judge, solving blind, reached '999'" in samples[1]["reasons"][0]
    assert all(s["path"] == "train_error" and s["item"]["kind"] == "free_form" for s in samples)
    assert all(s["item"]["solution"] for s in samples)


class BowEmbedder(Embedder):
    """The suite's embedder over the tests' bag-of-words embedding (no model to load)."""

    def encode(self, texts):
        return bow_embed(list(texts)) if texts else bow_embed(["x"])[:0]


def qa_eval(item: QAItem, split: str, correct: bool = False) -> EvalRecord:
    wrong = str(int(item.answer) + 1)
    return EvalRecord(
        item.id, split, item.question, [], item.answer if correct else wrong, item.answer, correct,
        output_text=f"I think it is {wrong}.\n#### {wrong}",
    )  # fmt: skip


def gsm_items(prefix: str, n: int, offset: int = 0) -> list[QAItem]:
    things = ["apples", "pens", "coins", "stamps", "shells", "cards", "beads", "nuts", "books", "cups"]
    out = []
    for i in range(n):
        a, b, thing = i + offset + 2, i + 3, things[i % 10]
        question = f"Lena buys {a} bags of {thing} with {b} in each bag. How many {thing} does she buy?"
        out.append(
            QAItem(f"{prefix}/{i}", question, str(a * b), solution=f"{a} x {b} = {a * b}.", source="gsm8k")
        )
    return out


#: Where each method's items may come from.
PATHS = {
    "pada": {"pattern", "train_error"},
    "llm2llm": {"train_error"},
    "pada_no_clustering": {"pattern", "train_error"},
    "pada_no_val_patterns": {"train_error"},
    "pada_no_train_errors": {"pattern"},
    "pada_no_quality_gate": {"pattern", "train_error"},
    "generic_synthetic": {"generic"},
}


@pytest.mark.parametrize("method", list(PATHS))
def test_a_round_of_augmentation_on_a_free_form_task(compose, tmp_path: Path, method: str) -> None:
    cfg = compose(
        "dataset=gsm8k", f"method={method}", "generation.budget=4", "generation.items_per_call=2",
        "pattern_mining.max_failures=4", "pattern_mining.k_max=2", "pattern_mining.near_k=2",
    )  # fmt: skip
    train, validation, test = gsm_items("train", 6), gsm_items("val", 6, 20), gsm_items("test", 4, 40)
    agents = AgentSuite(
        scripted_handle(ScriptedEngine()), scripted_handle(ScriptedEngine(), role="judge"),
        embedder=BowEmbedder(), pattern_mining=cfg.pattern_mining, generation=cfg.generation,
        task=Gsm8kTask.description, task_kind="free_form",
    )  # fmt: skip
    agents.remember_solutions([*train, *validation])
    gate = QualityGate(cfg.quality_gate, bow_embed, train, [*validation, *test])
    recipe = PadaRecipe(cfg, RunFolder(tmp_path), {"train": train, "validation": validation, "test": test},
                        agents=lambda: nullcontext(agents), gate=gate)  # fmt: skip
    records = {
        "train": [qa_eval(i, "train") for i in train],
        "validation": [qa_eval(i, "validation", correct=k % 3 == 0) for k, i in enumerate(validation)],
        "test": [qa_eval(i, "test") for i in test],
    }

    added = recipe.augment(0, records, [])
    accepted = added.items

    assert accepted and all(isinstance(i, QAItem) and i.solution and i.answer for i in accepted)
    assert added.counts["accepted"] == len(accepted) <= 4 and added.counts["budget"] == 4
    samples = [
        json.loads(line) for line in (tmp_path / "round_0/generate/samples.jsonl").read_text().splitlines()
    ]
    assert all(s["item"]["kind"] == "free_form" for s in samples)
    assert {s["path"] for s in samples} <= PATHS[method]
    if method == "pada_no_quality_gate":
        assert all(s["verdict"] is None for s in samples)  # no judge was asked
    else:
        assert all(s["verdict"] and s["verdict"]["judge_answer"] for s in samples if not s["reasons"])
    # Nothing the agents were sent mentions options or letters.
    prompts = "\n".join(str(m.get("content", "")) for _, messages in agents.prompts for m in messages)
    assert "multiple-choice" not in prompts.lower() and "Options:" not in prompts
