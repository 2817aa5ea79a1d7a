"""From the ``dataset`` config to the splits a run works on, recorded in the run folder."""

from __future__ import annotations

import logging
from pathlib import Path

from pada.config.schema import DatasetConfig
from pada.io import write_jsonl
from pada.tasks import build_task
from pada.tasks.errors import TaskDataError
from pada.tasks.splits import SIZE_KEYS, Splits, split_items, write_manifest

log = logging.getLogger(__name__)
#: About how many characters a token of English text holds (to warn about prompts the student cuts).
CHARS_PER_TOKEN = 4


def _size(value: float) -> int | float:
    # Whole numbers are counts (or -1); anything else is a fraction in (0, 1).
    return int(value) if float(value).is_integer() else float(value)


def prepare_splits(
    dataset: DatasetConfig, out_dir: Path | None = None, max_length: int | None = None
) -> Splits:
    """Load the task, split it, and (given a run folder) write ``data/split_manifest.json`` there.

    With ``dataset.loader.invalid_items=skip`` the bad lines of a JSONL file are left out and listed in
    ``data/skipped.jsonl`` (file, line, reason); ``params["skipped_items"]`` counts them.

    Args:
        dataset: The ``dataset`` config group.
        out_dir: The run folder; ``None`` writes nothing (a bench script, a notebook).
        max_length: The student's ``model.max_length``; items longer than it holds are warned about.

    Returns:
        The splits: train, validation (with its ``mine`` / ``select`` parts) and test, and the
        reserve of items no split took.

    Raises:
        TaskDataError: Bad data, impossible sizes, or an empty train, validation or test split.
    """
    items, skipped = build_task(dataset).load()
    if skipped and out_dir is not None:
        write_jsonl(out_dir / "data" / "skipped.jsonl", [s.to_dict() for s in skipped])
        log.warning(
            "dataset: skipped %d invalid line(s) of %s (dataset.loader.invalid_items=skip), kept %d "
            "items; the list is in %s",
            len(skipped), skipped[0].file, len(items), out_dir / "data" / "skipped.jsonl",
        )  # fmt: skip
    splits = split_items(
        items,
        train_size=_size(dataset.train_size),
        val_size=_size(dataset.val_size),
        test_size=_size(dataset.test_size),
        seed=dataset.seed,
        stratify=dataset.stratify,
        select_size=_size(dataset.select_size),
    )
    empty = [name for name, part in splits.as_dict().items() if not part]
    if empty:
        sizes = ", ".join(f"{name} {len(part)}" for name, part in splits.as_dict().items())
        raise TaskDataError(
            f"{SIZE_KEYS[empty[0]]}: the {empty[0]} split is empty ({sizes}, from {len(items)} items): "
            "a run fine-tunes on train, mines validation failures and reports on test, so each needs "
            "items; use more data or other sizes"
        )
    splits.params["skipped_items"] = len(skipped)
    if max_length:
        _warn_long(items, max_length)
    if out_dir is not None:
        write_manifest(splits, out_dir / "data" / "split_manifest.json")
    return splits


def _warn_long(items: list, max_length: int) -> None:
    limit = max_length * CHARS_PER_TOKEN
    long = [i for i in items if len(i.question) + len(i.context or "") > limit]
    if long:
        log.warning(
            "dataset: %d item(s) are longer than the student reads (model.max_length=%d tokens, about "
            "%d characters; the longest, %s, has %d): prompts are cut from the left, so the student "
            "sees only their end",
            len(long), max_length, limit, long[0].id,
            max(len(i.question) + len(i.context or "") for i in long),
        )  # fmt: skip
