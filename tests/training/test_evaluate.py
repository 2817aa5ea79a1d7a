import json

import pytest
import torch

from pada.tasks.answers import extract_final_answer
from pada.tasks.schema import EvalRecord, MCItem, QAItem
from pada.training.evaluate import (
    accuracy,
    evaluate_items,
    evaluate_splits,
    load_for_eval,
    score_options,
)
from pada.training.prompt import encode_example, encode_prompt

from .conftest import make_items


def slow_option_scores(model, tok, item, style):
    """Reference: one unbatched forward per option over prompt + answer, read token by token.

    letter: the letter's log-probability; cloze: the answer tokens' mean log-probability.
    """
    out = []
    for k in range(len(item.choices)):
        as_k = MCItem(
            id=item.id, question=item.question, choices=item.choices, answer=k, context=item.context
        )
        enc = encode_example(as_k, tok, max_length=10_000, style=style)
        n = 1 if style == "letter" else len(enc.input_ids) - enc.prompt_len
        ids = torch.tensor([enc.input_ids[: enc.prompt_len + n]], device=next(model.parameters()).device)
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        scores = [logprobs[enc.prompt_len + j - 1, ids[0, enc.prompt_len + j]].item() for j in range(n)]
        out.append(sum(scores) / n)
    return out


def varied_items():
    """Different prompt lengths, option counts and option lengths, so every batch is padded."""
    return [
        MCItem(
            id=str(i),
            question="Why is it so? " * (1 + i % 5),
            choices=("a", "bb bb", "the moon", "d", "a long answer here")[: 2 + i % 4],
            answer=0,
        )
        for i in range(9)
    ]


@pytest.mark.parametrize("style", ["letter", "cloze"])
@pytest.mark.parametrize("adapter", [False, True])
def test_batched_scoring_matches_slow_reference(style, adapter, trained_adapter, tiny_model_cfg):
    model, tok = load_for_eval(tiny_model_cfg, trained_adapter if adapter else None, device="cpu")
    items = varied_items()
    fast = score_options(model, tok, items, style=style, batch_size=4)
    for item, scores in zip(items, fast, strict=True):
        ref = slow_option_scores(model, tok, item, style)
        assert scores == pytest.approx(ref, abs=1e-4)
        assert scores.index(max(scores)) == ref.index(max(ref))


def test_records_have_one_row_per_item_in_order(trained_adapter, tiny_model_cfg):
    model, tok = load_for_eval(tiny_model_cfg, trained_adapter, device="cpu")
    items = make_items(7)
    recs = evaluate_items(model, tok, items, "validation", batch_size=3)
    assert [r.id for r in recs] == [it.id for it in items]
    for r, it in zip(recs, items, strict=True):
        assert isinstance(r, EvalRecord) and r.split == "validation"
        assert r.gold == it.answer_letter and r.prediction in it.letters
        assert r.correct == (r.prediction == r.gold)
        assert sum(r.option_probs) == pytest.approx(1.0, abs=1e-5)
        assert r.prediction == it.letters[r.option_probs.index(max(r.option_probs))]
    assert accuracy(recs) == sum(r.correct for r in recs) / 7


def test_evaluation_uses_the_models_trained_style(tiny_model_cfg):
    model, tok = load_for_eval(tiny_model_cfg, None, device="cpu")
    items = varied_items()
    model.pada_mc_style = "letter"
    as_letter = [r.option_probs for r in evaluate_items(model, tok, items, "test")]
    model.pada_mc_style = "cloze"
    as_cloze = [r.option_probs for r in evaluate_items(model, tok, items, "test")]
    assert as_letter == [r.option_probs for r in evaluate_items(model, tok, items, "test", style="letter")]
    assert as_letter != as_cloze


def test_free_form_items_are_generated_and_extracted(tiny_model_cfg):
    model, tok = load_for_eval(tiny_model_cfg, None, device="cpu")
    items = [QAItem(id=f"f{i}", question="What is 2 + 3? " * (i + 1), answer="5") for i in range(3)]
    recs = evaluate_items(model, tok, [*items, *make_items(2)], "test", batch_size=2, max_new_tokens=5)
    assert [r.id for r in recs] == ["f0", "f1", "f2", "q0", "q1"]
    for r in recs[:3]:
        assert r.output_text is not None and r.option_probs is None and r.choices == []
        assert r.correct == (r.prediction == "5")


def test_extract_answer():
    assert extract_final_answer("\n Answer: Paris.\nmore", "first_line") == "Paris"
    assert extract_final_answer("The answer is 42") == "42"
    assert extract_final_answer("") == ""


def test_evaluate_splits_writes_records_and_accuracy(tmp_path, tiny_model_cfg):
    from pada.tasks.io import read_records

    model, tok = load_for_eval(tiny_model_cfg, None, device="cpu")
    scores = evaluate_splits(model, tok, {"train": make_items(4), "validation": make_items(3, "v")}, tmp_path)
    assert set(scores) == {"train", "validation"}
    assert json.loads((tmp_path / "accuracy.json").read_text()) == scores
    assert len(read_records(tmp_path / "validation_records.jsonl")) == 3


@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_prompt_truncation_is_shared(style, tiny_model_cfg):
    model, tok = load_for_eval(tiny_model_cfg, None, device="cpu")
    item = MCItem(id="long", question="word " * 300, choices=("a", "b"), answer=0)
    assert len(encode_prompt(item, tok, 50, style=style)) == 50
    assert len(score_options(model, tok, [item], style=style, max_length=50)[0]) == 2
