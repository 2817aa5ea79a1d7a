import pytest

from pada.tasks.schema import MCItem, QAItem
from pada.training.data import PadCollator, SFTDataset
from pada.training.models import build_tiny_tokenizer
from pada.training.prompt import (
    IGNORE_INDEX,
    MC_INSTRUCTION,
    encode_answer,
    encode_example,
    encode_prompt,
    letter_token_ids,
    prompt_text,
    user_message,
)

from .conftest import make_items


def test_letter_style_lists_lettered_options_and_instruction():
    item = MCItem(
        id="1", question="What is H2O?", choices=("water", "salt", "air"), answer=0, context="Chemistry."
    )
    text = user_message(item, "letter")
    assert text.startswith("Chemistry.")
    assert "What is H2O?" in text
    assert "A. water\nB. salt\nC. air" in text
    assert text.endswith(MC_INSTRUCTION)


def test_cloze_style_shows_the_question_only():
    item = MCItem(id="1", question="What is H2O?", choices=("water", "salt", "air"), answer=0)
    text = user_message(item, "cloze")
    assert "What is H2O?" in text and "salt" not in text and MC_INSTRUCTION not in text


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="style"):
        user_message(make_items(1)[0], "guess")


@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_labels_mask_exactly_the_prompt(style):
    tok = build_tiny_tokenizer()
    for item in make_items(6):
        enc = encode_example(item, tok, max_length=96, style=style)
        prompt = encode_prompt(item, tok, style=style)
        assert enc.input_ids[: len(prompt)] == prompt
        assert enc.prompt_len == len(prompt)
        assert enc.labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
        answer = enc.labels[len(prompt) :]
        assert IGNORE_INDEX not in answer
        assert answer == enc.input_ids[len(prompt) :] == encode_answer(item, tok, style)
        assert answer[-1] == tok.eos_token_id
        if style == "letter":  # the letter, as its own token, then the end-of-turn token
            assert answer[0] == letter_token_ids(tok, 4)[item.answer]
            assert tok.decode(answer) == item.answer_letter + tok.eos_token
        else:  # the option's text, then the end-of-turn token
            assert tok.decode(answer) == item.answer_text + tok.eos_token


def test_collator_left_pads_with_masked_labels():
    tok = build_tiny_tokenizer()
    items = [
        MCItem(id=str(i), question="Why? " * (i + 1), choices=("a", "bbb bb"), answer=i % 2) for i in range(3)
    ]
    examples = list(SFTDataset(items, tok, 96, style="cloze"))
    batch = PadCollator(tok.pad_token_id)(examples)
    width = batch["input_ids"].shape[1]
    for row, e in enumerate(examples):
        pad = width - len(e.input_ids)
        assert batch["attention_mask"][row, :pad].sum() == 0
        assert batch["attention_mask"][row, pad:].all()
        assert batch["labels"][row, : pad + e.prompt_len].eq(IGNORE_INDEX).all()
        assert batch["labels"][row, pad + e.prompt_len :].tolist() == e.labels[e.prompt_len :]
        assert batch["position_ids"][row, pad:].tolist() == list(range(len(e.input_ids)))
    assert batch["answer_width"] == max(len(e.input_ids) - e.prompt_len for e in examples)


@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_truncation_keeps_answer_and_drops_prompt_head(style):
    tok = build_tiny_tokenizer()
    item = MCItem(id="x", question="long " * 200, choices=("a", "b"), answer=1)
    enc = encode_example(item, tok, max_length=40, style=style)
    assert len(enc.input_ids) == 40
    assert enc.labels[enc.prompt_len :] == encode_answer(item, tok, style)
    assert prompt_text(item, tok, style).endswith("<|assistant|>\n")


def test_free_form_answer_is_the_reference_text():
    tok = build_tiny_tokenizer()
    item = QAItem(id="q", question="What is 2 + 3?", answer="5")
    enc = encode_example(item, tok, max_length=96)
    assert tok.decode(enc.labels[enc.prompt_len :]) == "5" + tok.eos_token


def test_a_worked_item_trains_its_solution_then_the_marked_answer():
    tok = build_tiny_tokenizer()
    item = QAItem(id="q", question="Tom has 3 bags of 4 apples. How many?", answer="12",
                  solution="3 bags of 4 is 3 * 4 = 12.")  # fmt: skip
    enc = encode_example(item, tok, max_length=256)
    assert tok.decode(enc.labels[enc.prompt_len :]) == "3 bags of 4 is 3 * 4 = 12.\n#### 12" + tok.eos_token
    assert "step by step" in prompt_text(item, tok) and "short phrase" not in prompt_text(item, tok)
