"""Deterministic, leakage-free train / validation / test splits, and a manifest that pins them.

PaDA mines failure patterns on the validation split and must never train on, or generate from,
validation or test questions. So the splits are disjoint not only by id but by question: items whose
normalized question (and context) is the same are kept together in one split.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pada.io import write_json
from pada.tasks.errors import TaskDataError
from pada.tasks.schema import Item, normalize_text

SPLIT_NAMES = ("train", "validation", "test")
# The config keys that users set; errors name them so the fix is obvious.
SIZE_KEYS = {"train": "dataset.train_size", "validation": "dataset.val_size", "test": "dataset.test_size"}
SELECT_KEY = "dataset.select_size"
# Test first, then validation, then train: changing the training budget never changes the held-out sets.
_FILL_ORDER = ("test", "validation", "train")


@dataclass
class Splits:
    """The three splits of a task.

    Attributes:
        train: Items the student is fine-tuned on (and whose errors seed LLM2LLM-style augmentation).
        validation: Items whose errors PaDA mines for patterns; never shown to a generator.
        test: Held-out items for the final report.
        params: How the splits were made (seed, requested and resolved sizes, stratification).
        reserve: The items no split took, in the seeded order (question groups never straddle a
            split and the reserve): real data that a control method may add in place of synthetic items.
        select: The ids of the validation items kept for choosing the round (best round, early
            stopping); the rest of validation is mined for failure patterns. Empty: all of validation
            does both.
    """

    train: list[Item]
    validation: list[Item]
    test: list[Item]
    params: dict[str, Any] = field(default_factory=dict)
    reserve: list[Item] = field(default_factory=list)
    select: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, list[Item]]:
        """Return the splits by name, in the order train, validation, test."""
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def validation_part(self, part: str) -> list[Item]:
        """The ``mine`` or ``select`` part of validation (all of it for both when it is not split)."""
        if not self.select:
            return list(self.validation)
        if part == "select":
            return [i for i in self.validation if i.id in self.select]
        if part == "mine":
            return [i for i in self.validation if i.id not in self.select]
        raise ValueError(f"unknown validation part {part!r}; expected 'mine' or 'select'")


def split_key(item: Item) -> str:
    """Return the text that must not occur in two splits: the normalized question (+ context).

    Context is part of the key because the same templated question ("What is the main idea?") over
    different passages is a different item; the same question over the same passage is not.
    """
    key = normalize_text(item.question) or item.question
    if item.context:
        key += "\x00" + (normalize_text(item.context) or item.context)
    return key


def resolve_size(value: Any, key: str, total: int) -> int | None:
    """Turn one configured split size into an item count.

    Args:
        value: An int count ``>= 0``; ``-1`` for all remaining items; or a float fraction in (0, 1)
            of ``total``. Integral floats (``400.0``, as typed configs deliver them) are counts.
        key: The config key, for error messages.
        total: The number of available items.

    Returns:
        The count, or ``None`` for "all remaining".

    Raises:
        TaskDataError: The value is not a valid size.
    """
    expected = "expected a count >= 0, -1 (all remaining) or a fraction in (0, 1)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TaskDataError(f"{key}={value!r}: {expected}")
    if value == -1:
        return None
    if isinstance(value, float) and 0 < value < 1:
        # The small epsilon keeps 0.29 * 100 = 28.999999999999996 from flooring to 28.
        return math.floor(value * total + 1e-9)
    if value >= 0 and float(value).is_integer():
        return int(value)
    raise TaskDataError(f"{key}={value!r}: {expected}")


def split_items(
    items: Sequence[Item],
    train_size: float,
    val_size: float,
    test_size: float,
    seed: int,
    *,
    stratify: bool = True,
    select_size: float = 0,
) -> Splits:
    """Split items into disjoint train / validation / test lists, deterministically.

    The result depends only on the set of items (not their order), the sizes and the seed. Items are
    grouped by :func:`split_key`; a group goes entirely into one split. With ``stratify`` each source's
    groups are shuffled separately and interleaved in proportion, so every split gets about the same
    mix of sources as the whole task (a no-op for a single-source task).

    Args:
        items: The task's items; ids must be unique.
        train_size: Train count, ``-1`` for the rest, or a fraction in (0, 1) of all items.
        val_size: Validation size, same forms.
        test_size: Test size, same forms.
        seed: Seed of the shuffle.
        stratify: Keep the source mix proportional in each split.
        select_size: How much of validation is kept for choosing the round (a count or a fraction in
            (0, 1) of validation); the rest is mined for patterns. ``0``: validation is not split.

    Returns:
        The splits; items unused by fixed sizes form the reserve.

    Raises:
        TaskDataError: Duplicate ids, an invalid size, more than one ``-1``, sizes that add up to more
            items than there are, or a size that the question groups make impossible to meet exactly.
    """
    total = len(items)
    requested = {"train": train_size, "validation": val_size, "test": test_size}
    counts = {name: resolve_size(value, SIZE_KEYS[name], total) for name, value in requested.items()}
    rest = [name for name, count in counts.items() if count is None]
    if len(rest) > 1:
        keys = " and ".join(SIZE_KEYS[n] for n in rest)
        raise TaskDataError(f"only one split size may be -1 (all remaining), got -1 for {keys}")
    fixed = sum(count for count in counts.values() if count is not None)
    if fixed > total:
        parts = " + ".join(
            f"{SIZE_KEYS[n]}={_fmt(requested[n], counts[n])}" for n in SPLIT_NAMES if counts[n]
        )
        raise TaskDataError(
            f"the splits ask for {fixed} items ({parts}) but only {total} are available; lower the sizes "
            "or use fractions / -1"
        )
    if rest:
        counts[rest[0]] = total - fixed

    by_id: dict[str, Item] = {}
    for item in items:
        if item.id in by_id:
            raise TaskDataError(f"duplicate item id {item.id!r}: ids must be unique to split a task")
        by_id[item.id] = item

    groups = _groups(items)
    order = _ordered_groups(groups, seed, stratify)

    chosen: dict[str, list[Item]] = {}
    remaining = order
    for name in _FILL_ORDER:
        target = counts[name]
        assert target is not None
        taken: list[Item] = []
        left: list[list[Item]] = []
        for group in remaining:
            if len(taken) + len(group) <= target:
                taken.extend(group)
            else:
                left.append(group)
        if len(taken) != target:
            biggest = max(len(g) for g in order)
            raise TaskDataError(
                f"{SIZE_KEYS[name]}: cannot take exactly {target} items: items that share a question are "
                f"kept in one split (the largest group has {biggest} items) and only {len(taken)} fit; "
                "change the size slightly"
            )
        chosen[name] = taken
        remaining = left

    select = _select_part(chosen["validation"], select_size, seed, stratify)
    params = {
        "seed": seed,
        "stratify": stratify,
        "requested": {**requested, "select": select_size} if select else requested,
        "sizes": {name: len(chosen[name]) for name in SPLIT_NAMES},
        "available": total,
        "reserve": sum(len(g) for g in remaining),
    }
    if select:
        params["validation_parts"] = {"mine": len(chosen["validation"]) - len(select), "select": len(select)}
    return Splits(
        train=chosen["train"],
        validation=chosen["validation"],
        test=chosen["test"],
        params=params,
        reserve=[item for group in remaining for item in group],
        select=frozenset(select),
    )


def _select_part(validation: list[Item], size: Any, seed: int, stratify: bool) -> list[str]:
    """The ids of the validation items that choose the round; question groups stay whole."""
    count = resolve_size(size, SELECT_KEY, len(validation))
    if not count:
        return []
    if count >= len(validation):
        raise TaskDataError(
            f"{SELECT_KEY}={size!r}: leaves no validation items to mine patterns from "
            f"(validation has {len(validation)}); use a smaller count or a fraction in (0, 1)"
        )
    taken: list[str] = []
    # Its own seeded order, so the part does not depend on how validation was drawn from the pool.
    for group in _ordered_groups(_groups(validation), seed + 104729, stratify):
        if len(taken) + len(group) <= count:
            taken += [item.id for item in group]
    if len(taken) != count:
        raise TaskDataError(
            f"{SELECT_KEY}={size!r}: cannot take exactly {count} validation items (items that share a "
            f"question stay together; only {len(taken)} fit); change the size slightly"
        )
    return sorted(taken)


def _fmt(value: Any, count: int | None) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{value!r}"
    return f"{value!r} (= {count} items)"


def _groups(items: Sequence[Item]) -> list[list[Item]]:
    """Items grouped by split key, each group sorted by id, groups sorted by their first id."""
    by_key: dict[str, list[Item]] = {}
    for item in items:
        by_key.setdefault(split_key(item), []).append(item)
    groups = [sorted(g, key=lambda it: it.id) for g in by_key.values()]
    # Sorting first makes the result independent of the input order.
    return sorted(groups, key=lambda g: g[0].id)


def _ordered_groups(groups: list[list[Item]], seed: int, stratify: bool) -> list[list[Item]]:
    rng = random.Random(seed)
    if not stratify:
        order = list(groups)
        rng.shuffle(order)
        return order
    by_source: dict[str, list[list[Item]]] = {}
    for group in groups:
        by_source.setdefault(group[0].source, []).append(group)
    keyed: list[tuple[float, int, list[Item]]] = []
    for rank, source in enumerate(sorted(by_source)):
        members = by_source[source]
        rng.shuffle(members)
        # Position j of n sits at (j + 0.5) / n: merging by that key spreads each source evenly, so any
        # contiguous run of the merged order (one split) holds the sources in proportion.
        keyed.extend(((j + 0.5) / len(members), rank, g) for j, g in enumerate(members))
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [g for _, _, g in keyed]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _content_line(item: Item) -> str:
    d = item.to_dict()
    d.pop("meta", None)  # provenance is not content; the schema excludes it from equality too
    return json.dumps(d, sort_keys=True, ensure_ascii=False)


def split_manifest(splits: Splits) -> dict[str, Any]:
    """Describe the splits so that a run can prove which items it used.

    Args:
        splits: The splits.

    Returns:
        ``{"sha256", "params", "splits": {name: {"size", "sha256", "content_sha256", "sources",
        "ids"}}}``: ``sha256`` of a split hashes its sorted ids joined by newlines;
        ``content_sha256`` also covers each item's text, choices and answer (it changes when the
        data changes under the same ids); the top-level ``sha256`` hashes the three split hashes.
    """
    out: dict[str, Any] = {}
    for name, items in splits.as_dict().items():
        ordered = sorted(items, key=lambda it: it.id)
        ids = [it.id for it in ordered]
        out[name] = {
            "size": len(items),
            "sha256": _sha256("\n".join(ids)),
            "content_sha256": _sha256("\n".join(_content_line(it) for it in ordered)),
            "sources": dict(sorted(Counter(it.source for it in items).items())),
            "ids": ids,
        }
    overall = _sha256("\n".join(f"{name}:{out[name]['sha256']}" for name in SPLIT_NAMES))
    manifest: dict[str, Any] = {"sha256": overall, "params": splits.params, "splits": out}
    if splits.select:
        # Which validation items mine patterns and which choose the round (both: all, when absent).
        mine = sorted(i.id for i in splits.validation if i.id not in splits.select)
        select = sorted(splits.select)
        manifest["validation_parts"] = {
            "mine": {"size": len(mine), "sha256": _sha256("\n".join(mine)), "ids": mine},
            "select": {"size": len(select), "sha256": _sha256("\n".join(select)), "ids": select},
        }
    return manifest


def write_manifest(splits: Splits, path: str | Path) -> dict[str, Any]:
    """Write :func:`split_manifest` as indented JSON (atomically).

    Args:
        splits: The splits.
        path: The destination file; parent folders are created.

    Returns:
        The manifest that was written.
    """
    manifest = split_manifest(splits)
    write_json(path, manifest)
    return manifest
