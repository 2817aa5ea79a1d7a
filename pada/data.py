"""Turn the ``dataset`` config into the splits a run works on, and record them."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from pada.tasks import build_task
from pada.tasks.splits import Splits, split_items, write_manifest


def _size(value: float) -> int | float:
    # Whole numbers are counts (or -1); anything else is a fraction in (0, 1).
    return int(value) if float(value).is_integer() else float(value)


def prepare_splits(dataset: DictConfig, out_dir: Path) -> Splits:
    """Load the task, split it, and write ``data/split_manifest.json`` under ``out_dir``.

    Args:
        dataset: The ``dataset`` config group.
        out_dir: The run folder.

    Returns:
        The splits: train, validation (with its ``mine`` / ``select`` parts) and test, and the
        reserve of items no split took.
    """
    items = build_task(
        dataset.name,
        kind=dataset.kind,
        path=dataset.path,
        sources=list(dataset.sources) or None,
    )
    splits = split_items(
        items,
        train_size=_size(dataset.train_size),
        val_size=_size(dataset.val_size),
        test_size=_size(dataset.test_size),
        seed=dataset.seed,
        stratify=dataset.stratify,
        select_size=_size(dataset.select_size),
    )
    write_manifest(splits, out_dir / "data" / "split_manifest.json")
    return splits
