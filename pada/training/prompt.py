"""One prompt format for training and scoring, so the two can never drift apart.

A multiple-choice item becomes a single user turn (optional context, the question, lettered options and
an instruction); the assistant's answer is the option letter alone. Training and letter scoring both
encode the prompt and the answer *separately* and concatenate token ids, so the letter token that the
loss trains is exactly the token whose log-probability evaluation reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pada.tasks.schema import LETTERS, Item, MCItem

MC_INSTRUCTION = "Answer with the letter of the correct option."
QA_INSTRUCTION = "Answer with a short phrase or number only."


def user_message(item: Item) -> str:
    """Write the user turn's text for an item.

    Args:
        item: A multiple-choice or free-form item.

    Returns:
        Context (if any), question, lettered options (multiple choice) and the instruction.
    """
    parts: list[str] = []
    if item.context:
        parts.append(item.context.strip())
    parts.append(item.question.strip())
    if isinstance(item, MCItem):
        parts.append(format_options(item))
        parts.append(MC_INSTRUCTION)
    else:
        parts.append(QA_INSTRUCTION)
    return "\n\n".join(parts)


def format_options(item: MCItem) -> str:
    """List the options one per line as ``A. text``."""
    return "\n".join(
        f"{letter}. {choice.strip()}" for letter, choice in zip(item.letters, item.choices, strict=True)
    )


def answer_text(item: Item) -> str:
    """Return the assistant's target answer: ``B. <option text>``, or the reference answer.

    The letter comes first, so scoring reads it as the answer's first token. The option's text after
    it is trained too (symbol-content binding, Xue et al., ACL 2024): a 135M student trained on the
    letter alone only learned the training set's letter frequencies, never which option is right.
    """
    if isinstance(item, MCItem):
        return f"{item.answer_letter}. {item.answer_text.strip()}"
    return item.answer.strip()


def messages(item: Item) -> list[dict[str, str]]:
    """Return the chat messages that make up an item's prompt (no assistant turn)."""
    return [{"role": "user", "content": user_message(item)}]


def prompt_text(item: Item, tokenizer: Any) -> str:
    """Render the item with the chat template, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template(messages(item), tokenize=False, add_generation_prompt=True)


def _answer_suffix(item: Item, tokenizer: Any, prompt: str) -> str:
    """Return the answer plus the template's end-of-turn marker, as the template renders them.

    Rendering the full conversation and cutting the prompt off keeps whatever end-of-turn token the
    model family uses (``<|im_end|>``, ``<|eot_id|>``...). Trailing whitespace is dropped: it carries no
    signal and would dilute the answer's loss.
    """
    answer = answer_text(item)
    full = tokenizer.apply_chat_template(
        [*messages(item), {"role": "assistant", "content": answer}], tokenize=False
    )
    if full.startswith(prompt) and full[len(prompt) :].lstrip().startswith(answer):
        return full[len(prompt) :].rstrip()
    # A template that rewrites history (e.g. strips reasoning) does not extend the prompt: fall back.
    return answer + (tokenizer.eos_token or "")


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` with no special tokens added (the chat template already has them)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(item: Item, tokenizer: Any, max_length: int | None = None) -> list[int]:
    """Token ids of the item's prompt, truncated from the left to ``max_length`` if given."""
    ids = encode_text(tokenizer, prompt_text(item, tokenizer))
    if max_length is not None and len(ids) > max_length:
        # The question and options sit at the end of the prompt; the header is the cheapest to lose.
        ids = ids[-max_length:]
    return ids


@dataclass(frozen=True)
class Encoded:
    """A tokenized training example.

    Attributes:
        input_ids: Prompt ids followed by answer ids.
        labels: ``-100`` on every prompt token, the token id on every answer token.
        prompt_len: Number of prompt tokens (the masked prefix).
    """

    input_ids: list[int]
    labels: list[int]
    prompt_len: int


IGNORE_INDEX = -100


def encode_example(item: Item, tokenizer: Any, max_length: int) -> Encoded:
    """Tokenize an item for supervised fine-tuning with the prompt masked out of the loss.

    Args:
        item: The item to encode.
        tokenizer: A tokenizer with a chat template.
        max_length: Maximum total length; the prompt is truncated from the left to make room.

    Returns:
        The encoded example; its loss covers the answer and the end-of-turn marker only.
    """
    prompt = prompt_text(item, tokenizer)
    suffix = _answer_suffix(item, tokenizer, prompt)
    if isinstance(item, MCItem) and suffix.startswith(item.answer_letter):
        # The letter on its own, so it is the very token letter scoring reads (no merge with ". ").
        answer_ids = encode_text(tokenizer, item.answer_letter) + encode_text(tokenizer, suffix[1:])
    else:
        answer_ids = encode_text(tokenizer, suffix)
    answer_ids = answer_ids[: max(1, max_length // 2)]
    prompt_ids = encode_text(tokenizer, prompt)
    budget = max_length - len(answer_ids)
    if len(prompt_ids) > budget:
        prompt_ids = prompt_ids[-budget:] if budget > 0 else []
    return Encoded(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
        prompt_len=len(prompt_ids),
    )


def letter_token_ids(tokenizer: Any, n: int) -> list[int]:
    """Return the token id of each option letter ``A``, ``B``, ... as the answer's first token.

    Uses the same encoding as :func:`encode_example` (answer encoded on its own), so the scored token is
    the trained token.

    Raises:
        ValueError: If a letter is not a single token for this tokenizer.
    """
    ids = []
    for letter in LETTERS[:n]:
        toks = encode_text(tokenizer, letter)
        if len(toks) != 1:
            raise ValueError(f"option letter {letter!r} is {len(toks)} tokens for this tokenizer; expected 1")
        ids.append(toks[0])
    return ids


__all__ = [
    "IGNORE_INDEX",
    "MC_INSTRUCTION",
    "QA_INSTRUCTION",
    "Encoded",
    "answer_text",
    "encode_example",
    "encode_prompt",
    "encode_text",
    "letter_token_ids",
    "messages",
    "prompt_text",
    "user_message",
]
