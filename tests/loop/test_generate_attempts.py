"""The generate stage's attempts: what is asked again when the quality gate rejects an item."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from omegaconf import OmegaConf

from pada.agents.records import GeneratedItem
from pada.config.schema import QualityGateConfig
from pada.loop.artifacts import RunFolder
from pada.loop.quality_gate import QualityGate
from pada.loop.recipe import PadaRecipe
from pada.tasks.schema import EvalRecord, MCItem

from .test_quality_gate import bow_embed

COLORS = ("red", "blue", "green", "yellow")
TRAIN = [
    MCItem("train/sky", "What color is a clear daytime sky on Earth?", COLORS, 1, source="arc_easy"),
    MCItem("train/grass", "What color is healthy grass in the summer?", COLORS, 2, source="arc_easy"),
]


NEW = [
    "Which color do ripe bananas turn?",
    "What color is fresh snow under a bright noon sun?",
    "Which color are most fire trucks painted?",
]


def recipe_with(cfg, tmp_path: Path, agents) -> PadaRecipe:
    """A recipe over TRAIN whose agents are ``agents`` and whose gate checks against TRAIN."""
    gate = QualityGate(QualityGateConfig(), bow_embed, TRAIN, [])
    splits = {"train": TRAIN, "validation": [], "test": []}
    return PadaRecipe(cfg, RunFolder(tmp_path), splits, agents=lambda: nullcontext(agents), gate=gate)


def failure(item: MCItem) -> EvalRecord:
    return EvalRecord(item.id, "train", item.question, list(item.choices), "A", "B", False)


class TrainErrorAgents:
    """The generation agents' interface: the first item for the sky question repeats it verbatim."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.failures: list = []  # calls that failed outright (none here)

    def generate_from_train_error(self, record: EvalRecord, n: int = 1) -> list[GeneratedItem]:
        self.asked.append(record.id)
        if record.id == "train/sky" and self.asked.count(record.id) == 1:
            question = record.question  # an exact duplicate: the gate rejects it
        else:
            question = NEW[len(self.asked) - 2]
        item = MCItem(f"syn-{len(self.asked)}", question, COLORS, 1, source="synthetic")
        return [GeneratedItem(item, "why", "train_error", record.id, "target")]

    def generate_from_train_errors(self, records: list[EvalRecord]) -> list[GeneratedItem]:
        return [g for r in records for g in self.generate_from_train_error(r)]

    def in_parallel(self, tasks):
        return [x for task in tasks for x in task()]


def test_a_training_failure_whose_item_was_rejected_is_asked_again(tmp_path: Path) -> None:
    generation = {"max_attempts": 3, "exemplars": 0, "items_per_call": 5}
    cfg = OmegaConf.create({"seed": 0, "method": {"quality_gate": False}, "generation": generation})
    agents = TrainErrorAgents()
    recipe = recipe_with(cfg, tmp_path, agents)

    samples, stats = recipe._generate_and_gate(0, [], [], 0, [failure(i) for i in TRAIN], train_quota=2)

    # The rejected failure first; half the first attempt was accepted, so two are asked for one missing.
    assert agents.asked == ["train/sky", "train/grass", "train/sky", "train/grass"]
    assert stats["accepted"]["train_error"] == 2 and not stats["notes"]
    assert [(s["origin"], s["attempt"], s["accepted"]) for s in samples] == [
        ("train/sky", 0, False),
        ("train/grass", 0, True),
        ("train/sky", 1, True),
        ("train/grass", 1, False),
    ]
    assert samples[-1]["reasons"] == ["budget: the path's quota was already filled"]
    assert any(r.startswith("duplicate") for r in samples[0]["reasons"])


class FreshAgents(TrainErrorAgents):
    """Every call writes a new question of its own."""

    WORDS = ("lemons", "coal", "rubies", "leaves", "clouds", "oranges", "grapes", "ink")

    def generate_from_train_error(self, record: EvalRecord, n: int = 1) -> list[GeneratedItem]:
        self.asked.append(record.id)
        question = f"What color are {self.WORDS[len(self.asked) - 1]} usually seen as?"
        item = MCItem(f"syn-{len(self.asked)}", question, COLORS, 1, source="synthetic")
        return [GeneratedItem(item, "why", "train_error", record.id, "target")]


def test_fewer_failures_than_the_quota_seed_a_second_item_each(tmp_path: Path) -> None:
    generation = {"max_attempts": 3, "exemplars": 0, "items_per_call": 5}
    cfg = OmegaConf.create({"seed": 0, "method": {"quality_gate": False}, "generation": generation})
    agents = FreshAgents()
    recipe = recipe_with(cfg, tmp_path, agents)

    samples, stats = recipe._generate_and_gate(0, [], [], 0, [failure(i) for i in TRAIN], train_quota=3)

    # Two failures, a quota of three: the first attempt asks each once, the second asks one again.
    assert agents.asked == ["train/sky", "train/grass", "train/sky"]
    assert stats["accepted"]["train_error"] == 3 and all(s["accepted"] for s in samples)


def test_later_attempts_ask_for_what_the_yield_so_far_says_is_needed() -> None:
    from pada.loop.budget import items_to_ask

    assert items_to_ask(25, accepted=0, asked=0) == 25  # the first attempt asks for what is missing
    assert items_to_ask(10, accepted=20, asked=40) == 20  # half were accepted: ask twice as many
    assert items_to_ask(10, accepted=0, asked=30) == 40  # nothing accepted: at most 4x
    assert items_to_ask(3, accepted=9, asked=9) == 3


def test_surplus_items_are_not_judged_once_the_quota_has_passed(tmp_path: Path) -> None:
    from pada.agents.records import Verdict

    cfg = OmegaConf.create(
        {"method": {}, "judge": {"concurrency": 1}, "quality_gate": {"judge_threshold": 0.3}}
    )
    judged: list[list[str]] = []

    class Judge:
        def judge(self, items):
            judged.append([g.id for g in items])
            # Every other item fails the judge.
            return [Verdict(g.id, g.id.endswith(("0", "2", "4", "6")), 0.9, []) for g in items]

    recipe = recipe_with(cfg, tmp_path, Judge())
    batch = [
        GeneratedItem(MCItem(f"g{i}", f"Question {i}?", COLORS, 1), "", "pattern", "s", "t") for i in range(8)
    ]
    verdicts = recipe._judge_until_full(batch, {"pattern": 2, "train_error": 0})
    # Waves of two: g0 passes, g1 fails, then g2 passes and the path has what it needs.
    assert judged == [["g0", "g1"], ["g2"]] and set(verdicts) == {"g0", "g1", "g2"}
