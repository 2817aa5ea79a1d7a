"""Evaluate the student: scoring for multiple choice, greedy generation for free form.

Multiple choice, no sampling and no parsing, in the format the student was trained in
(:mod:`pada.training.prompt`):

- ``letter``: one batched forward pass over the prompts; each option's score is the log-probability
  of its letter as the answer's first token.
- ``cloze``: one batched forward pass over the prompts, then one over every option's answer tokens
  (reusing the prompts' key/value cache); each option's score is its answer's mean token
  log-probability.

Both read exactly the tokens that training puts the loss on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from pada.config.schema import ModelConfig, TrainerConfig
from pada.io import write_json
from pada.tasks.answers import extract_final_answer
from pada.tasks.io import write_records
from pada.tasks.schema import EvalRecord, Item, MCItem, QAItem
from pada.training.data import left_pad
from pada.training.prompt import DEFAULT_MC_STYLE, check_style, encode_answer, encode_prompt, letter_token_ids


def model_device(model: torch.nn.Module) -> torch.device:
    """Return the device of the model's first parameter."""
    return next(model.parameters()).device


def _batches_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Index batches of similar lengths (longest first), so little compute goes to padding."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def letter_logprobs(
    model: Any,
    tokenizer: Any,
    items: Sequence[MCItem],
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[list[float]]:
    """Log-probability of each option's letter as the answer's first token, for every item.

    Args:
        model: A causal LM (a ``PeftModel`` or a plain ``transformers`` model), in eval mode.
        tokenizer: Its tokenizer (chat template, pad token).
        items: Multiple-choice items.
        batch_size: Prompts per forward pass.
        max_length: Prompts are truncated from the left to this many tokens.

    Returns:
        One list per item, one log-probability (over the whole vocabulary) per option.
    """
    if not items:
        return []
    device = model_device(model)
    letters = torch.tensor(letter_token_ids(tokenizer, max(len(it.choices) for it in items)), device=device)
    prompts = [encode_prompt(item, tokenizer, max_length, style="letter") for item in items]
    out: list[list[float]] = [[] for _ in items]
    for batch in _batches_by_length([len(p) for p in prompts], batch_size):
        inputs = {
            k: v.to(device) for k, v in left_pad([prompts[i] for i in batch], tokenizer.pad_token_id).items()
        }
        # Only the last position's logits are needed: skips the vocabulary projection everywhere else.
        logits = model(**inputs, logits_to_keep=1).logits[:, -1, :].float()
        scores = torch.log_softmax(logits, dim=-1)[:, letters].cpu()
        for row, i in enumerate(batch):
            out[i] = scores[row, : len(items[i].choices)].tolist()
    return out


@torch.inference_mode()
def option_logprobs(
    model: Any,
    tokenizer: Any,
    items: Sequence[MCItem],
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[list[float]]:
    """Mean log-probability of each option's text as the answer (cloze style), for every item.

    The prompts go through the model once; their key/value cache is repeated once per option and the
    options' answer tokens go through in a second batched pass, so an option costs its own few tokens,
    not another copy of the prompt.

    Args:
        model: A causal LM in eval mode.
        tokenizer: Its tokenizer.
        items: Multiple-choice items.
        batch_size: Items per forward pass (the option pass holds ``batch_size`` x options rows).
        max_length: Prompts are truncated from the left to this many tokens.

    Returns:
        One list per item, one mean token log-probability per option (answer text + end-of-turn).
    """
    if not items:
        return []
    device = model_device(model)
    pad = tokenizer.pad_token_id
    prompts = [encode_prompt(item, tokenizer, max_length, style="cloze") for item in items]
    answers = [
        [encode_answer(item, tokenizer, "cloze", k) for k in range(len(item.choices))] for item in items
    ]
    out: list[list[float]] = [[] for _ in items]
    for batch in _batches_by_length([len(p) for p in prompts], batch_size):
        inputs = {k: v.to(device) for k, v in left_pad([prompts[i] for i in batch], pad).items()}
        first = model(**inputs, use_cache=True, logits_to_keep=1)
        first_lp = torch.log_softmax(first.logits[:, -1, :].float(), dim=-1)
        n_opt = max(len(answers[i]) for i in batch)
        # Row r * n_opt + k continues prompt r with option k's answer (missing options: one pad token).
        rows = [answers[i][k] if k < len(answers[i]) else [pad] for i in batch for k in range(n_opt)]
        width = max(len(a) for a in rows)
        cont = torch.full((len(rows), max(1, width - 1)), pad, dtype=torch.long)
        cont_mask = torch.zeros_like(cont)
        for r, a in enumerate(rows):
            cont[r, : len(a) - 1] = torch.tensor(a[:-1], dtype=torch.long)
            cont_mask[r, : len(a) - 1] = 1
        prompt_mask = inputs["attention_mask"].repeat_interleave(n_opt, dim=0)
        positions = (
            inputs["position_ids"][:, -1:].repeat_interleave(n_opt, dim=0)
            + 1
            + torch.arange(cont.shape[1], device=device)
        )
        cache = first.past_key_values
        cache.batch_repeat_interleave(n_opt)
        logits = model(
            input_ids=cont.to(device),
            attention_mask=torch.cat([prompt_mask, cont_mask.to(device)], dim=1),
            position_ids=positions,
            past_key_values=cache,
            use_cache=False,
        ).logits
        cont_lp = torch.log_softmax(logits.float(), dim=-1)
        for row, i in enumerate(batch):
            for k, a in enumerate(answers[i]):
                r = row * n_opt + k
                total = first_lp[row, a[0]].item()
                if len(a) > 1:
                    targets = torch.tensor(a[1:], device=device)
                    total += cont_lp[r, : len(a) - 1].gather(-1, targets[:, None]).sum().item()
                out[i].append(total / len(a))
    return out


def score_options(
    model: Any,
    tokenizer: Any,
    items: Sequence[MCItem],
    style: str | None = None,
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[list[float]]:
    """Score every option of every item in the format the model was trained in.

    Args:
        model: The student.
        tokenizer: Its tokenizer.
        items: Multiple-choice items.
        style: ``letter`` or ``cloze``; default: the model's ``pada_mc_style`` attribute (set by
            :func:`load_for_eval` and :func:`~pada.training.fine_tune.train_adapter`), else the default.
        batch_size: Items per forward pass.
        max_length: Prompt truncation.

    Returns:
        Per item, one score per option (higher is better).
    """
    style = check_style(style or getattr(model, "pada_mc_style", DEFAULT_MC_STYLE))
    scorer = letter_logprobs if style == "letter" else option_logprobs
    return scorer(model, tokenizer, items, batch_size, max_length)


@torch.inference_mode()
def generate_answers(
    model: Any,
    tokenizer: Any,
    items: Sequence[Item],
    batch_size: int = 16,
    max_length: int | None = None,
    max_new_tokens: int = 32,
) -> list[str]:
    """Batched greedy generation of each item's answer turn (decoded, special tokens dropped)."""
    if not items:
        return []
    device = model_device(model)
    prompts = [encode_prompt(item, tokenizer, max_length) for item in items]
    texts = [""] * len(items)
    for batch in _batches_by_length([len(p) for p in prompts], batch_size):
        inputs = {
            k: v.to(device) for k, v in left_pad([prompts[i] for i in batch], tokenizer.pad_token_id).items()
        }
        inputs.pop("position_ids")  # generate derives them from the attention mask
        width = inputs["input_ids"].shape[1]
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        for row, i in enumerate(batch):
            texts[i] = tokenizer.decode(output[row, width:], skip_special_tokens=True)
    return texts


def _softmax(xs: Sequence[float]) -> list[float]:
    t = torch.softmax(torch.tensor(xs, dtype=torch.float64), dim=0)
    return [round(float(p), 6) for p in t]


def evaluate_items(
    model: Any,
    tokenizer: Any,
    items: Sequence[Item],
    split: str,
    batch_size: int = 16,
    max_length: int | None = None,
    max_new_tokens: int = 32,
    style: str | None = None,
    final_answer: str = "auto",
) -> list[EvalRecord]:
    """Evaluate the student on items and return one record per item, in the items' order.

    Args:
        model: The student (base or with its adapter), in eval mode.
        tokenizer: Its tokenizer.
        items: Multiple-choice and/or free-form items.
        split: ``train``, ``validation`` or ``test`` (stored in each record).
        batch_size: Items per forward pass / generation batch.
        max_length: Prompt truncation (the model config's ``max_length``).
        max_new_tokens: Generation budget for free-form items.
        final_answer: How a free-form item's final answer is found in the generated text
            (:func:`pada.tasks.answers.extract_final_answer`'s rules).
        style: Multiple-choice format (``letter`` / ``cloze``); default: the one the model was trained
            in (see :func:`score_options`).

    Returns:
        Records with the prediction, gold answer, correctness and option probabilities (renormalized
        over the options) or the generated text.
    """
    was_training = model.training
    model.eval()
    mc_idx = [i for i, it in enumerate(items) if isinstance(it, MCItem)]
    qa_idx = [i for i, it in enumerate(items) if isinstance(it, QAItem)]
    records: list[EvalRecord | None] = [None] * len(items)

    mc_scores = score_options(model, tokenizer, [items[i] for i in mc_idx], style, batch_size, max_length)
    for i, scores in zip(mc_idx, mc_scores, strict=True):
        item: MCItem = items[i]
        best = max(range(len(scores)), key=scores.__getitem__)
        prediction = item.letters[best]
        records[i] = EvalRecord(
            id=item.id,
            split=split,
            question=item.question,
            choices=list(item.choices),
            prediction=prediction,
            gold=item.answer_letter,
            correct=not item.fail(prediction),
            option_probs=_softmax(scores),
            context=item.context,
            source=item.source,
        )

    qa_texts = generate_answers(
        model, tokenizer, [items[i] for i in qa_idx], batch_size, max_length, max_new_tokens
    )
    for i, text in zip(qa_idx, qa_texts, strict=True):
        item = items[i]
        prediction = extract_final_answer(text, final_answer)
        records[i] = EvalRecord(
            id=item.id,
            split=split,
            question=item.question,
            choices=[],
            prediction=prediction,
            gold=item.answer,
            correct=not item.fail(prediction),
            output_text=text,
            context=item.context,
            source=item.source,
        )
    model.train(was_training)
    return [r for r in records if r is not None]


def accuracy(records: Sequence[EvalRecord]) -> float:
    """Share of records that are correct (0.0 for no records)."""
    return sum(r.correct for r in records) / len(records) if records else 0.0


def evaluate_splits(
    model: Any,
    tokenizer: Any,
    splits: Mapping[str, Sequence[Item]],
    out_dir: str | Path,
    batch_size: int = 16,
    max_length: int | None = None,
    max_new_tokens: int = 32,
    final_answer: str = "auto",
) -> dict[str, float]:
    """Evaluate several splits, writing ``<split>_records.jsonl`` and ``accuracy.json`` to ``out_dir``.

    ``max_new_tokens`` and ``final_answer`` apply to free-form items (see :func:`evaluate_items`).

    Returns:
        Accuracy per split.
    """
    out_dir = Path(out_dir)
    scores: dict[str, float] = {}
    for split, items in splits.items():
        records = evaluate_items(
            model, tokenizer, items, split, batch_size=batch_size, max_length=max_length,
            max_new_tokens=max_new_tokens, final_answer=final_answer,
        )  # fmt: skip
        write_records(records, out_dir / f"{split}_records.jsonl")
        scores[split] = accuracy(records)
    write_json(out_dir / "accuracy.json", scores)
    return scores


def load_for_eval(
    model_cfg: ModelConfig, adapter_dir: str | Path | None = None, device: str | None = None
) -> tuple[Any, Any]:
    """Load the base student, with ``adapter_dir``'s adapter on top if given, ready for evaluation.

    Args:
        model_cfg: The student's ``ModelConfig``.
        adapter_dir: An adapter folder written by :func:`pada.training.fine_tune.fine_tune`, or
            ``None`` for the base model.
        device: ``cpu`` or ``cuda``; defaults to a GPU when there is one.

    Returns:
        ``(model, tokenizer)`` in eval mode. The adapter is not merged, so the model computes exactly
        what was trained.
    """
    from pada.training.models import load_base, mc_style

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_base(model_cfg, accelerator="gpu" if device.startswith("cuda") else "cpu")
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.pada_mc_style = mc_style(model_cfg)
    return model.to(device).eval(), tokenizer


def eval_batch_size(trainer_cfg: TrainerConfig) -> int:
    """Return the evaluation batch size a ``TrainerConfig`` asks for."""
    return int(trainer_cfg.eval_batch_size)
