"""What a round of augmentation did to the student: per-pattern effects, forgetting, per-item outcomes.

After round ``t`` added items written for the patterns of round ``t - 1``, three questions can be
asked of the two rounds' evaluation records:

- *Did each strategy fix its pattern?* The pattern's own failures (the ``mine`` items in its cluster,
  all wrong before by construction) are scored again, and so are the ``select`` and test items nearest
  to the pattern: the items whose questions lie closest (cosine, by the run's embedder) to the centroid
  of the pattern's failed questions. The nearest items are found when the pattern is drawn, before any
  item is written for it, and stored in ``round_<t>/locate_patterns/near.json``.
- *What was forgotten?* Test items right before the round and wrong after it (and the reverse).
- *Which items, exactly?* ``outcomes.json`` keeps each round's right/wrong per test and validation
  item, compactly, for the paired statistics of :mod:`pada.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pada.tasks.schema import EvalRecord


def nearest_items(centroid: np.ndarray, vectors: np.ndarray, ids: Sequence[str], k: int) -> list[str]:
    """The ids of the ``k`` rows of ``vectors`` most similar to ``centroid`` (unit-norm rows), best first.

    Ties are broken by id, so the answer does not depend on the order of the rows.
    """
    if k <= 0 or not len(ids):
        return []
    scores = vectors @ centroid
    order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i]))
    return [ids[i] for i in order[:k]]


def centroid(vectors: np.ndarray) -> np.ndarray:
    """The unit-norm mean of unit-norm rows (the direction a cluster of texts points in)."""
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def _accuracy(records: Mapping[str, EvalRecord], ids: Sequence[str]) -> float | None:
    scored = [records[i].correct for i in ids if i in records]
    return round(sum(scored) / len(scored), 4) if scored else None


def pattern_effects(
    near: Mapping[str, Mapping[str, Any]],
    from_round: int,
    before: Mapping[str, Sequence[EvalRecord]],
    after: Mapping[str, Sequence[EvalRecord]],
) -> list[dict[str, Any]]:
    """Per pattern of round ``from_round``: accuracy on its own failures and nearest items, before and after.

    Args:
        near: ``near.json``: pattern id -> ``{"name", "own", "select", "test"}`` (id lists).
        from_round: The round whose patterns these are (``before`` is its evaluation).
        before: That round's records by split.
        after: The next round's records by split.

    Returns:
        One dict per pattern: ``pattern_id``, ``name``, ``from_round``, ``own_failures``,
        ``own_acc_before``, ``own_acc_after``, ``near_k``, ``near_select_acc_before`` / ``_after`` and
        ``near_test_acc_before`` / ``_after`` (``None`` where no item was scored).
    """
    by_split = {
        when: {name: {r.id: r for r in records[name]} for name in ("validation", "test") if name in records}
        for when, records in (("before", before), ("after", after))
    }
    rows = []
    for pattern_id, entry in near.items():
        own, select, test = (
            list(entry.get("own", [])),
            list(entry.get("select", [])),
            list(entry.get("test", [])),
        )
        row: dict[str, Any] = {
            "pattern_id": pattern_id,
            "name": entry.get("name", ""),
            "from_round": from_round,
            "own_failures": len(own),
            "near_k": max(len(select), len(test)),
        }
        for when in ("before", "after"):
            val, tst = by_split[when].get("validation", {}), by_split[when].get("test", {})
            row[f"own_acc_{when}"] = _accuracy(val, own)
            row[f"near_select_acc_{when}"] = _accuracy(val, select)
            row[f"near_test_acc_{when}"] = _accuracy(tst, test)
        rows.append(row)
    return rows


def summarize_effects(effects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Means over patterns (what W&B and the summary show): own accuracy after, near-item changes."""

    def mean(key: str) -> float | None:
        values = [e[key] for e in effects if e.get(key) is not None]
        return round(sum(values) / len(values), 4) if values else None

    def delta(prefix: str) -> float | None:
        a, b = mean(f"{prefix}_after"), mean(f"{prefix}_before")
        return None if a is None or b is None else round(a - b, 4)

    return {
        "patterns": len(effects),
        "own_acc_after": mean("own_acc_after"),
        "near_select_delta": delta("near_select_acc"),
        "near_test_delta": delta("near_test_acc"),
    }


def forgetting(before: Sequence[EvalRecord], after: Sequence[EvalRecord]) -> dict[str, int]:
    """Items right before and wrong after (forgotten), and the reverse, over the ids both score."""
    was = {r.id: r.correct for r in before}
    now = {r.id: r.correct for r in after}
    common = sorted(was.keys() & now.keys())
    return {
        "test_items": len(common),
        "right_to_wrong": sum(was[i] and not now[i] for i in common),
        "wrong_to_right": sum(now[i] and not was[i] for i in common),
    }


def outcomes_record(rounds: Sequence[tuple[int, Mapping[str, Sequence[EvalRecord]]]]) -> dict[str, Any]:
    """``outcomes.json``: sorted ids per split, and per round one ``"1"``/``"0"`` per id (right/wrong).

    Args:
        rounds: ``(round, records by split)`` for each evaluated round; test and validation are kept.
    """
    splits = ("test", "validation")
    ids: dict[str, list[str]] = {}
    out_rounds = []
    for t, records in rounds:
        row: dict[str, Any] = {"round": t}
        for name in splits:
            if name not in records:
                continue
            by_id = {r.id: r.correct for r in records[name]}
            ids.setdefault(name, sorted(by_id))
            row[name] = "".join("1" if by_id.get(i) else "0" for i in ids[name])
        out_rounds.append(row)
    return {"ids": ids, "rounds": out_rounds}
