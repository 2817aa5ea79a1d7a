"""Training data: items tokenized with the chat template, prompt masked, batched by similar length."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pada.tasks.schema import Item, MCItem
from pada.training.prompt import DEFAULT_MC_STYLE, IGNORE_INDEX, Encoded, encode_example

# Options that refer to other options ("all of the above", "both A and B") lose their meaning when the
# order changes: items with one keep their original order.
_POSITIONAL = re.compile(
    r"\b(all|none|both|neither)\s+of\s+(the\s+)?(above|these|those|them)\b|\b[A-E]\s+(and|or)\s+[A-E]\b",
    re.IGNORECASE,
)


def shuffle_options(item: Item, key: str) -> Item:
    """Return a multiple-choice item with its options in a random order seeded by ``key``.

    Training on several orders of the same options keeps the student from learning which letter is
    usually right in the training set (a prior that transfers badly: scireason's splits differ in their
    letter distribution) and makes it bind the letter to the option's content instead.

    Args:
        item: Any item; free-form items and items with positional options are returned unchanged.
        key: Seed of the permutation (e.g. ``"<seed>:<epoch>:<item id>"``).
    """
    if not isinstance(item, MCItem) or any(_POSITIONAL.search(c) for c in item.choices):
        return item
    order = list(range(len(item.choices)))
    random.Random(key).shuffle(order)
    return replace(item, choices=tuple(item.choices[i] for i in order), answer=order.index(item.answer))


class SFTDataset(Dataset):
    """Items encoded once for supervised fine-tuning (loss on the answer tokens only).

    Args:
        items: The items.
        tokenizer: The student's tokenizer.
        max_length: Maximum tokens per example.
        option_seed: If given, each multiple-choice item's options are shuffled with this seed (see
            :func:`shuffle_options`); ``None`` keeps the original order.
        style: The multiple-choice prompt format (``letter`` or ``cloze``, see :mod:`pada.training.prompt`).
    """

    def __init__(
        self,
        items: Sequence[Item],
        tokenizer: Any,
        max_length: int,
        option_seed: str | None = None,
        style: str = DEFAULT_MC_STYLE,
    ) -> None:
        if option_seed is not None:
            items = [shuffle_options(item, f"{option_seed}:{item.id}") for item in items]
        self.examples: list[Encoded] = [encode_example(item, tokenizer, max_length, style) for item in items]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Encoded:
        return self.examples[index]


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad token lists into ``input_ids``, ``attention_mask`` and ``position_ids``.

    Explicit position ids keep every token at the position it has unpadded, so a sequence's outputs do
    not depend on what it is batched with. Left padding puts every sequence's end at the right edge:
    the answer tokens (training) and the next-token position (scoring) are then the last columns.
    """
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        if s:
            input_ids[row, width - len(s) :] = torch.tensor(list(s))
            attention_mask[row, width - len(s) :] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}


class PadCollator:
    """Left-pads examples and records how many trailing positions carry the answer.

    The batch has ``input_ids``, ``attention_mask``, ``position_ids``, ``labels`` (``-100`` on padding
    and prompt) and ``answer_width``: the longest answer in the batch. The loss only needs logits for
    the last ``answer_width + 1`` positions, which skips the vocabulary projection on every prompt
    token (a fifth of SmolLM2's forward pass).
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[Encoded]) -> dict[str, Any]:
        """Collate ``examples`` into one left-padded batch."""
        batch: dict[str, Any] = left_pad([e.input_ids for e in examples], self.pad_token_id)
        width = batch["input_ids"].shape[1]
        labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
        for row, e in enumerate(examples):
            labels[row, width - len(e.labels) :] = torch.tensor(e.labels)
        batch["labels"] = labels
        batch["answer_width"] = max(len(e.input_ids) - e.prompt_len for e in examples)
        return batch


class LengthGroupedSampler(Sampler[int]):
    """Shuffled order in which neighbouring examples have similar lengths (less padding per batch).

    Each epoch: shuffle, cut into chunks of ``batch_size * chunk_batches`` examples, sort each chunk by
    length, cut into batches, shuffle the batches. Seeded by ``seed`` and the epoch, so reproducible.
    Under DDP Lightning wraps it so that each process takes every n-th index of this order.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int = 0, chunk_batches: int = 16
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.chunk = batch_size * chunk_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` next (Lightning calls this before each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        batches: list[list[int]] = []
        for start in range(0, len(order), self.chunk):
            chunk = sorted(order[start : start + self.chunk], key=lambda i: -self.lengths[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        for b in torch.randperm(len(batches), generator=g).tolist():
            yield from batches[b]


class SFTDataModule(L.LightningDataModule):
    """The training items of one fine-tuning round.

    Args:
        items: Training items (original plus accepted synthetic ones).
        tokenizer: The student's tokenizer (with a chat template and a pad token).
        max_length: Maximum tokens per example.
        batch_size: Examples per micro-batch (per device).
        seed: Seeds the shuffling, so a run is reproducible.
        num_workers: DataLoader workers (0: tokenization is done up front, batches are cheap).
        group_by_length: Batch examples of similar length together (less padding); plain shuffle if off.
        shuffle_options: Present each multiple-choice item's options in a new seeded order every epoch
            (letter style only: the cloze style does not show the options).
        style: The multiple-choice prompt format.
    """

    def __init__(
        self,
        items: Sequence[Item],
        tokenizer: Any,
        max_length: int,
        batch_size: int,
        seed: int = 0,
        num_workers: int = 0,
        group_by_length: bool = True,
        shuffle_options: bool = True,
        style: str = DEFAULT_MC_STYLE,
    ) -> None:
        super().__init__()
        if not items:
            raise ValueError("no training items")
        self.items = list(items)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.group_by_length = group_by_length
        self.style = style
        self.shuffle_options = shuffle_options and style == "letter"
        self.dataset: SFTDataset | None = None
        self._dataset_epoch: int | None = None

    def _epoch(self) -> int:
        trainer = getattr(self, "trainer", None)
        return int(trainer.current_epoch) if trainer is not None else 0

    def setup(self, stage: str | None = None) -> None:
        """Tokenize the items for the current epoch (option orders change from epoch to epoch)."""
        epoch = self._epoch() if self.shuffle_options else 0
        if self.dataset is None or epoch != self._dataset_epoch:
            option_seed = f"{self.seed}:{epoch}" if self.shuffle_options else None
            self.dataset = SFTDataset(self.items, self.tokenizer, self.max_length, option_seed, self.style)
            self._dataset_epoch = epoch

    def train_dataloader(self) -> DataLoader:
        """Batches in a seeded order; under DDP, Lightning splits the order between processes.

        Lightning calls this once per epoch (``reload_dataloaders_every_n_epochs=1``), so that each
        epoch gets its own option orders.
        """
        self.setup()
        collate = PadCollator(self.tokenizer.pad_token_id)
        if self.group_by_length:
            lengths = [len(e.input_ids) for e in self.dataset.examples]
            sampler = LengthGroupedSampler(lengths, self.batch_size, seed=self.seed)
            return DataLoader(
                self.dataset,
                batch_size=self.batch_size,
                sampler=sampler,
                collate_fn=collate,
                num_workers=self.num_workers,
            )
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.seed),
            collate_fn=collate,
            num_workers=self.num_workers,
        )

    def num_tokens(self) -> int:
        """Real (unpadded) tokens in one pass over the data."""
        self.setup()
        return sum(len(e.input_ids) for e in self.dataset.examples)
