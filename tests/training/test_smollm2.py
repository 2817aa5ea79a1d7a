"""The real embedded student: a short LoRA round changes its answers; scoring agrees with the reference."""

import pytest
import torch

from pada.config.schema import TrainerConfig
from pada.tasks.schema import MCItem
from pada.training.evaluate import evaluate_items, load_for_eval, score_options
from pada.training.fine_tune import fine_tune

from .test_evaluate import slow_option_scores

pytestmark = [pytest.mark.slow, pytest.mark.assets]

ITEMS = [
    MCItem(
        id="s1",
        question="What gas do plants take in for photosynthesis?",
        choices=("oxygen", "carbon dioxide", "helium", "neon"),
        answer=1,
    ),
    MCItem(
        id="s2",
        question="Which planet is closest to the Sun?",
        choices=("Mercury", "Venus", "Earth", "Mars"),
        answer=0,
    ),
    MCItem(
        id="s3",
        question="What is the freezing point of water in Celsius?",
        choices=("10", "100", "-10", "0"),
        answer=3,
    ),
    MCItem(
        id="s4",
        question="Which organ pumps blood through the body?",
        choices=("lung", "liver", "heart", "kidney"),
        answer=2,
    ),
]


@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_smollm2_scoring_matches_reference(style, smollm2_cfg):
    model, tok = load_for_eval(smollm2_cfg, device="cpu")
    fast = score_options(model, tok, ITEMS, style=style, batch_size=4)
    for item, scores in zip(ITEMS, fast, strict=True):
        assert scores == pytest.approx(slow_option_scores(model, tok, item, style), abs=1e-3)


def test_smollm2_short_round_changes_predictions(tmp_path, smollm2_cfg):
    torch.set_num_threads(2)
    trainer = TrainerConfig(max_epochs=1, batch_size=4, lr=1e-3)
    adapter = fine_tune(smollm2_cfg, trainer, ITEMS, tmp_path / "adapter", seed=0)
    base, tok = load_for_eval(smollm2_cfg, device="cpu")
    tuned, _ = load_for_eval(smollm2_cfg, adapter, device="cpu")
    base_probs = [r.option_probs for r in evaluate_items(base, tok, ITEMS, "train")]
    tuned_probs = [r.option_probs for r in evaluate_items(tuned, tok, ITEMS, "train")]
    assert base_probs != tuned_probs
