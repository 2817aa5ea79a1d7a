"""One prompt format for training and scoring, so the two can never drift apart.

Two formats for multiple-choice items (``style``):

- ``letter``: the user turn holds the question, the lettered options and an instruction; the
  assistant's answer is the option letter. Scoring reads the letter's log-probability.
- ``cloze``: the user turn holds the question only; the assistant's answer is the option's text.
  Scoring reads each option's log-likelihood as the answer (ranked classification).

A free-form item is the question, and its answer is the reference text, in both styles; an item with a
worked solution asks for the reasoning and ends its answer with ``#### <final answer>``.
Training and scoring encode the prompt and the answer *separately* and concatenate token ids, so the
tokens that the loss trains are exactly the tokens whose log-probabilities evaluation reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pada.tasks.schema import LETTERS, Item, MCItem, QAItem

MC_INSTRUCTION = "Answer with the letter of the correct option."
QA_INSTRUCTION = "Answer with a short phrase or number only."
WORKED_INSTRUCTION = "Solve it step by step, then give the final answer on its own line as: #### <answer>"
#: The marker before a worked solution's final answer (GSM8K's own; ``pada.tasks.answers``' ``hash`` rule).
FINAL_MARKER = "####"
MC_STYLES = ("letter", "cloze")
# The embedded 135M student cannot learn letter answers at a CPU budget (docs/benchmarks.md): cloze it is.
DEFAULT_MC_STYLE = "cloze"
IGNORE_INDEX = -100


def check_style(style: str) -> str:
    """Return ``style`` if it is a known multiple-choice format, else raise ``ValueError``."""
    if style not in MC_STYLES:
        raise ValueError(f"unknown multiple-choice style {style!r}; use one of {MC_STYLES}")
    return style


def format_options(item: MCItem) -> str:
    """List the options one per line as ``A. text``."""
    return "\n".join(
        f"{letter}. {choice.strip()}" for letter, choice in zip(item.letters, item.choices, strict=True)
    )


def user_message(item: Item, style: str = DEFAULT_MC_STYLE) -> str:
    """Write the user turn's text for an item.

    Args:
        item: A multiple-choice or free-form item.
        style: ``letter`` (options listed, answer with a letter) or ``cloze`` (question only).

    Returns:
        Context (if any), question, and for the letter style the lettered options, then the instruction.
    """
    parts: list[str] = []
    if item.context:
        parts.append(item.context.strip())
    parts.append(item.question.strip())
    if isinstance(item, MCItem) and check_style(style) == "letter":
        parts.append(format_options(item))
        parts.append(MC_INSTRUCTION)
    elif isinstance(item, QAItem) and item.solution:
        parts.append(WORKED_INSTRUCTION)
    else:
        parts.append(QA_INSTRUCTION)
    return "\n\n".join(parts)


def answer_text(item: Item, style: str = DEFAULT_MC_STYLE, option: int | None = None) -> str:
    """Return the assistant's answer: the letter (``letter``), an option's text (``cloze``), or the reference.

    Args:
        item: The item.
        style: The multiple-choice format.
        option: Which option to answer with (default: the correct one).
    """
    if isinstance(item, MCItem):
        k = item.answer if option is None else option
        return LETTERS[k] if check_style(style) == "letter" else item.choices[k].strip()
    if item.solution:
        return f"{item.solution.strip()}\n{FINAL_MARKER} {item.answer.strip()}"
    return item.answer.strip()


def messages(item: Item, style: str = DEFAULT_MC_STYLE) -> list[dict[str, str]]:
    """Return the chat messages that make up an item's prompt (no assistant turn)."""
    return [{"role": "user", "content": user_message(item, style)}]


def prompt_text(item: Item, tokenizer: Any, style: str = DEFAULT_MC_STYLE) -> str:
    """Render the item with the chat template, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template(messages(item, style), tokenize=False, add_generation_prompt=True)


def _answer_suffix(item: Item, tokenizer: Any, prompt: str, answer: str, style: str) -> str:
    """Return the answer plus the template's end-of-turn marker, as the template renders them.

    Rendering the full conversation and cutting the prompt off keeps whatever end-of-turn token the
    model family uses (``<|im_end|>``, ``<|eot_id|>``...). Trailing whitespace is dropped: it carries no
    signal and would dilute the answer's loss.
    """
    full = tokenizer.apply_chat_template(
        [*messages(item, style), {"role": "assistant", "content": answer}], tokenize=False
    )
    if full.startswith(prompt) and full[len(prompt) :].lstrip().startswith(answer):
        return full[len(prompt) :].rstrip()
    # A template that rewrites history (e.g. strips reasoning) does not extend the prompt: fall back.
    return answer + (tokenizer.eos_token or "")


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` with no special tokens added (the chat template already has them)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(
    item: Item, tokenizer: Any, max_length: int | None = None, style: str = DEFAULT_MC_STYLE
) -> list[int]:
    """Token ids of the item's prompt, truncated from the left to ``max_length`` if given."""
    ids = encode_text(tokenizer, prompt_text(item, tokenizer, style))
    if max_length is not None and len(ids) > max_length:
        # The question (and options) sit at the end of the prompt; the header is the cheapest to lose.
        ids = ids[-max_length:]
    return ids


def encode_answer(
    item: Item, tokenizer: Any, style: str = DEFAULT_MC_STYLE, option: int | None = None
) -> list[int]:
    """Token ids of an answer turn (answer + end-of-turn), as training sees them and scoring reads them.

    In the letter style the letter is encoded on its own, so it is exactly the token that letter
    scoring reads, whatever the tokenizer would merge it with.
    """
    answer = answer_text(item, style, option)
    suffix = _answer_suffix(item, tokenizer, prompt_text(item, tokenizer, style), answer, style)
    if isinstance(item, MCItem) and style == "letter" and suffix.startswith(answer):
        return encode_text(tokenizer, answer) + encode_text(tokenizer, suffix[len(answer) :])
    return encode_text(tokenizer, suffix)


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


def encode_example(item: Item, tokenizer: Any, max_length: int, style: str = DEFAULT_MC_STYLE) -> Encoded:
    """Tokenize an item for supervised fine-tuning with the prompt masked out of the loss.

    Args:
        item: The item to encode.
        tokenizer: A tokenizer with a chat template.
        max_length: Maximum total length; the prompt is truncated from the left to make room.
        style: The multiple-choice format (``letter`` or ``cloze``).

    Returns:
        The encoded example; its loss covers the answer and the end-of-turn marker only.
    """
    answer_ids = encode_answer(item, tokenizer, style)[: max(1, max_length // 2)]
    prompt_ids = encode_prompt(item, tokenizer, style=style)
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
